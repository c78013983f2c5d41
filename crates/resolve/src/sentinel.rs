//! The trust-anchor sentinel of RFC 8509: a validating resolver tells
//! which root keys it trusts through the answers to specially named A and
//! AAAA questions, so that the rollover of the root key can be measured.
//!
//! A question for A or AAAA whose first label is
//! `root-key-sentinel-is-ta-<key tag>` or `root-key-sentinel-not-ta-<key tag>`
//! (the key tag as five decimal digits) and whose answer validated as
//! secure is answered with SERVFAIL when the claim is false: "is-ta" of a
//! key tag that is not among the root's trust anchors, "not-ta" of one that
//! is (RFC 8509 §3.2). A client that set CD gets the answer as it is, since
//! the SERVFAIL is carried as a bogus status (`Resolution::for_client`).
//!
//! # Limitations
//! - The trusted keys are the root trust anchors in force: those of RFC
//!   5011 automated updates once set, else the configured ones.
//! - The SERVFAIL is counted as a bogus answer in the DNSSEC statistics.

use crate::outcome::{ExtendedError, Resolution};
use hanse_cache::Security;
use hanse_dnssec::TrustAnchor;
use hanse_wire::{Name, RType, Rcode};
use std::sync::Arc;

const IS_TRUST_ANCHOR_PREFIX: &[u8] = b"root-key-sentinel-is-ta-";
const NOT_TRUST_ANCHOR_PREFIX: &[u8] = b"root-key-sentinel-not-ta-";

/// What a sentinel label claims about a root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// `root-key-sentinel-is-ta-<key tag>`.
    IsTrustAnchor(u16),
    /// `root-key-sentinel-not-ta-<key tag>`.
    NotTrustAnchor(u16),
}

/// The claim of `name`'s first label, if it is a sentinel label
/// (compared without regard to case).
fn claim_of(name: &Name) -> Option<Claim> {
    let label = name.first_label()?.to_ascii_lowercase();
    let (digits, is_claim) = if let Some(rest) = label.strip_prefix(IS_TRUST_ANCHOR_PREFIX) {
        (rest, true)
    } else {
        (label.strip_prefix(NOT_TRUST_ANCHOR_PREFIX)?, false)
    };
    if digits.len() != 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let key_tag = digits
        .iter()
        .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
    let key_tag = u16::try_from(key_tag).ok()?;
    Some(if is_claim {
        Claim::IsTrustAnchor(key_tag)
    } else {
        Claim::NotTrustAnchor(key_tag)
    })
}

/// The Extended DNS Error of a false sentinel claim (RFC 8914 §4.1, Other).
const FALSE_CLAIM: ExtendedError = ExtendedError {
    code: 0,
    text: "trust-anchor sentinel (RFC 8509): the key tag claim is false",
};

/// Applies the sentinel to the `resolution` of `name`/`rtype`: a false
/// claim in a secure answer becomes a bogus status, which clients without
/// CD get as SERVFAIL.
pub(crate) fn apply_sentinel(
    name: &Name,
    rtype: RType,
    anchors: impl FnOnce() -> Arc<Vec<TrustAnchor>>,
    mut resolution: Resolution,
) -> Resolution {
    if !matches!(rtype, RType::A | RType::AAAA)
        || resolution.security != Security::Secure
        || resolution.rcode != Rcode::NOERROR
    {
        return resolution;
    }
    let Some(claim) = claim_of(name) else {
        return resolution;
    };
    let anchors = anchors();
    let trusted = |key_tag: u16| {
        anchors
            .iter()
            .any(|anchor| anchor.owner.is_root() && anchor.key_tag() == key_tag)
    };
    let claim_holds = match claim {
        Claim::IsTrustAnchor(key_tag) => trusted(key_tag),
        Claim::NotTrustAnchor(key_tag) => !trusted(key_tag),
    };
    if !claim_holds {
        resolution.security = Security::Bogus;
        resolution.extended_error = Some(FALSE_CLAIM);
    }
    resolution
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DnssecConfig;
    use hanse_dnssec::parse_trust_anchors;
    use hanse_wire::{Class, Record};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn secure_answer(owner: &Name) -> Resolution {
        Resolution {
            rcode: Rcode::NOERROR,
            answers: vec![Record {
                name: owner.clone(),
                rtype: RType::A,
                class: Class::IN,
                ttl: 60,
                data: vec![192, 0, 2, 1].into(),
            }],
            authorities: Vec::new(),
            extended_error: None,
            security: Security::Secure,
        }
    }

    #[test]
    fn sentinel_labels_are_read() {
        assert_eq!(
            claim_of(&name("root-key-sentinel-is-ta-20326.example.")),
            Some(Claim::IsTrustAnchor(20326))
        );
        assert_eq!(
            claim_of(&name("ROOT-KEY-SENTINEL-NOT-TA-00042.example.")),
            Some(Claim::NotTrustAnchor(42))
        );
        for text in [
            "root-key-sentinel-is-ta-2032.example.",
            "root-key-sentinel-is-ta-203266.example.",
            "root-key-sentinel-is-ta-70000.example.",
            "root-key-sentinel-is-ta-2032a.example.",
            "x.root-key-sentinel-is-ta-20326.example.",
            "www.example.",
            ".",
        ] {
            assert_eq!(claim_of(&name(text)), None, "{text}");
        }
    }

    fn anchors_of(dnssec: &DnssecConfig) -> impl FnOnce() -> Arc<Vec<TrustAnchor>> + '_ {
        || Arc::new(dnssec.trust_anchors.clone())
    }

    #[test]
    fn false_claims_in_secure_answers_become_bogus() {
        let anchors = parse_trust_anchors(
            ". IN DS 48409 8 2 3D63A0C25BCE86621DE63636F11B35B908EFE8E9381E0E3E9DEFD89EA952C27D\n\
             example. IN DS 4759 8 2 3384CAE149834F17054DD9150E8C33D3979C4092F5C1B8D35E17A3C36A83810F\n",
        )
        .unwrap();
        let dnssec = DnssecConfig::with_anchors(anchors);
        let outcome = |text: &str, rtype: RType| {
            let owner = name(text);
            apply_sentinel(&owner, rtype, anchors_of(&dnssec), secure_answer(&owner)).security
        };
        assert_eq!(
            outcome("root-key-sentinel-is-ta-48409.test.", RType::A),
            Security::Secure
        );
        assert_eq!(
            outcome("root-key-sentinel-not-ta-48409.test.", RType::A),
            Security::Bogus
        );
        assert_eq!(
            outcome("root-key-sentinel-is-ta-00000.test.", RType::AAAA),
            Security::Bogus
        );
        assert_eq!(
            outcome("root-key-sentinel-not-ta-00000.test.", RType::A),
            Security::Secure
        );
        // Only root anchors count.
        assert_eq!(
            outcome("root-key-sentinel-is-ta-04759.test.", RType::A),
            Security::Bogus
        );
        // Other types, and answers that are not secure, are left alone.
        assert_eq!(
            outcome("root-key-sentinel-not-ta-48409.test.", RType::TXT),
            Security::Secure
        );
        let owner = name("root-key-sentinel-not-ta-48409.test.");
        let mut insecure = secure_answer(&owner);
        insecure.security = Security::Insecure;
        assert_eq!(
            apply_sentinel(&owner, RType::A, anchors_of(&dnssec), insecure).security,
            Security::Insecure
        );
    }
}
