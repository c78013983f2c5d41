//! The credibility ranking of cached data (RFC 2181 §5.4.1).
//!
//! # Limitations
//! - Only the five ranks an iterative resolver produces; zone data and glue
//!   of a primary zone are not ranked. The DNSSEC status ([`Security`]) is
//!   kept beside the rank, not in it.

/// How far cached data can be trusted, by the section and message it came
/// from (RFC 2181 §5.4.1). Ordered from least to most trustworthy, so
/// `a < b` means `b` may replace `a` in the cache.
///
/// RFC 2181 §5.4.1 also says that data of the two lowest ranks should never be
/// returned as an answer to a client: the cache stores the rank with the RRset
/// ([`crate::CachedRrset::trust`]) so the resolver can follow that rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trust {
    /// From the additional section of a response, e.g. glue addresses.
    Additional,
    /// NS records from the authority section of a non-authoritative
    /// response: a referral.
    AuthorityReferral,
    /// From the answer section of a response without the AA bit, e.g. from a
    /// forwarder.
    AnswerNonAuthoritative,
    /// From the authority section of an authoritative (AA) response.
    AuthorityAuthoritative,
    /// From the answer section of an authoritative (AA) response.
    AnswerAuthoritative,
}

/// The DNSSEC security status of cached data (RFC 4035 §4.3): whether a
/// validator proved it authentic. A validator stores it with the data; a
/// resolver that does not validate leaves every entry `Indeterminate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Security {
    /// Validation failed: the data must not be served as authentic, nor at
    /// all to a client that did not set CD.
    Bogus,
    /// Not validated (validation off, or no trust anchor above it).
    #[default]
    Indeterminate,
    /// Proven to come from an unsigned zone (an insecure delegation, a
    /// negative trust anchor, or only unsupported algorithms).
    Insecure,
    /// Validated through a chain of trust from a trust anchor.
    Secure,
}

/// The DNSSEC status to store with an entry, and for bogus data the
/// Extended DNS Error (RFC 8914) INFO-CODE that said why, so that an answer
/// from the cache reports the same reason as the validation did.
///
/// A [`Security`] converts into it without a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Validation {
    /// The status.
    pub security: Security,
    /// The INFO-CODE of the failure, for [`Security::Bogus`]. Codes above
    /// [`Validation::MAX_STORED_CODE`] are not stored (read back as `None`).
    pub extended_error: Option<u16>,
}

impl Validation {
    /// The largest INFO-CODE an entry keeps (five bits of the entry's DNSSEC byte).
    pub const MAX_STORED_CODE: u16 = 30;

    /// The bits 3 to 7 of an entry's DNSSEC byte: the INFO-CODE plus one, 0 for none.
    pub(crate) fn error_bits(self) -> u8 {
        match self.extended_error {
            Some(code) if code <= Validation::MAX_STORED_CODE => ((code + 1) as u8) << 3,
            _ => 0,
        }
    }

    /// The INFO-CODE of the bits [`Validation::error_bits`] wrote.
    pub(crate) fn error_of_bits(byte: u8) -> Option<u16> {
        match byte >> 3 {
            0 => None,
            stored => Some(u16::from(stored) - 1),
        }
    }
}

impl From<Security> for Validation {
    fn from(security: Security) -> Validation {
        Validation {
            security,
            extended_error: None,
        }
    }
}

impl Security {
    /// The number stored in a cache entry.
    pub(crate) fn code(self) -> u8 {
        match self {
            Security::Indeterminate => 0,
            Security::Insecure => 1,
            Security::Bogus => 2,
            Security::Secure => 3,
        }
    }

    /// The status of a number from [`Security::code`].
    pub(crate) fn from_code(code: u8) -> Security {
        match code & 3 {
            1 => Security::Insecure,
            2 => Security::Bogus,
            3 => Security::Secure,
            _ => Security::Indeterminate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Trust;

    #[test]
    fn ranks_follow_rfc_2181() {
        let ranks = [
            Trust::Additional,
            Trust::AuthorityReferral,
            Trust::AnswerNonAuthoritative,
            Trust::AuthorityAuthoritative,
            Trust::AnswerAuthoritative,
        ];
        for pair in ranks.windows(2) {
            assert!(pair[0] < pair[1], "{:?} < {:?}", pair[0], pair[1]);
        }
    }
}
