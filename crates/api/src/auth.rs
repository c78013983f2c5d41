//! Bearer-token authentication (RFC 6750) and scopes.
//!
//! A request carries `Authorization: Bearer TOKEN`. Tokens are compared in
//! constant time (`subtle`), against every configured token without an early
//! exit, so the time taken reveals neither which token nor how much of one
//! matched (only, at most, the lengths). A read token allows `GET` and
//! `HEAD`; an admin token allows everything.
//!
//! With no token configured, requests from loopback peers are treated as
//! admin when the configuration allows it, and everyone else is refused.
//! Limitation: tokens are fixed for the life of the listener; the binary
//! restarts the listener to change them.

use std::net::IpAddr;

use subtle::ConstantTimeEq;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Reading: `GET` and `HEAD`.
    Read,
    /// Everything, including changes.
    Admin,
}

/// How a request stands with respect to authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Authentication {
    /// Granted with this scope.
    Granted(Scope),
    /// No `Authorization: Bearer` header (and no loopback exemption).
    Missing,
    /// A bearer token that matches no configured token, or a malformed header.
    Invalid,
}

/// The configured tokens.
#[derive(Clone)]
pub(crate) struct TokenTable {
    tokens: Vec<(Vec<u8>, Scope)>,
    open_on_loopback: bool,
}

impl std::fmt::Debug for TokenTable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenTable")
            .field("tokens", &self.tokens.len())
            .field("open_on_loopback", &self.open_on_loopback)
            .finish()
    }
}

impl TokenTable {
    pub(crate) fn new(tokens: &[(String, Scope)], open_on_loopback: bool) -> TokenTable {
        TokenTable {
            tokens: tokens
                .iter()
                .map(|(token, scope)| (token.as_bytes().to_vec(), *scope))
                .collect(),
            open_on_loopback,
        }
    }

    /// Decides on a request from `peer` with this `Authorization` header value.
    pub(crate) fn authenticate(
        &self,
        peer: IpAddr,
        authorization: Option<&[u8]>,
    ) -> Authentication {
        if self.tokens.is_empty() {
            return if self.open_on_loopback && peer.to_canonical().is_loopback() {
                Authentication::Granted(Scope::Admin)
            } else {
                Authentication::Missing
            };
        }
        let Some(header) = authorization else {
            return Authentication::Missing;
        };
        let Some(presented) = bearer_token(header) else {
            return Authentication::Invalid;
        };
        let mut granted: Option<Scope> = None;
        for (token, scope) in &self.tokens {
            let equal: bool = token.as_slice().ct_eq(presented).into();
            if equal {
                granted = granted.max(Some(*scope));
            }
        }
        match granted {
            Some(scope) => Authentication::Granted(scope),
            None => Authentication::Invalid,
        }
    }
}

/// The token of a `Bearer` credential (the scheme is case-insensitive).
fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    let (scheme, rest) = header.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn tokens_and_scopes() {
        let table = TokenTable::new(
            &[
                ("reader".to_owned(), Scope::Read),
                ("boss".to_owned(), Scope::Admin),
            ],
            true,
        );
        assert_eq!(
            table.authenticate(OTHER, Some(b"Bearer reader")),
            Authentication::Granted(Scope::Read)
        );
        assert_eq!(
            table.authenticate(OTHER, Some(b"bearer  boss ")),
            Authentication::Granted(Scope::Admin)
        );
        assert_eq!(
            table.authenticate(OTHER, Some(b"Bearer bos")),
            Authentication::Invalid
        );
        assert_eq!(
            table.authenticate(OTHER, Some(b"Basic Ym9zcw==")),
            Authentication::Invalid
        );
        assert_eq!(
            table.authenticate(OTHER, Some(b"Bearer")),
            Authentication::Invalid
        );
        assert_eq!(
            table.authenticate(OTHER, Some(b"Bearerboss")),
            Authentication::Invalid
        );
        // Tokens configured: loopback needs one too.
        assert_eq!(table.authenticate(LOOPBACK, None), Authentication::Missing);
    }

    #[test]
    fn no_tokens_means_loopback_only() {
        let open = TokenTable::new(&[], true);
        assert_eq!(
            open.authenticate(LOOPBACK, None),
            Authentication::Granted(Scope::Admin)
        );
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(
            open.authenticate(mapped, None),
            Authentication::Granted(Scope::Admin)
        );
        assert_eq!(open.authenticate(OTHER, None), Authentication::Missing);
        let closed = TokenTable::new(&[], false);
        assert_eq!(closed.authenticate(LOOPBACK, None), Authentication::Missing);
    }
}
