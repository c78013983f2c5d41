//! RRSIG verification (RFC 4034 §3, RFC 4035 §5.3) with the algorithms of
//! RFC 8624 as kept by RFC 9904's registry, and RFC 9905 for SHA-1.
//!
//! | number | algorithm | here |
//! |---|---|---|
//! | 3, 6 | DSA/SHA-1 | verified (by [`crate::legacy`]) only if [`AlgorithmPolicy::validate_legacy`] and [`AlgorithmPolicy::validate_sha1`] are set (RFC 8624 §3.1: must not be validated) |
//! | 5, 7 | RSA/SHA-1 | verified only if [`AlgorithmPolicy::validate_sha1`] is set; by default unsupported (RFC 9905 §2: implementations must be able to, operators must treat them as unsupported) |
//! | 8 | RSA/SHA-256 | yes, keys of 1024 to 8192 bits |
//! | 10 | RSA/SHA-512 | yes, keys of 1024 to 8192 bits |
//! | 13 | ECDSA P-256/SHA-256 | yes |
//! | 14 | ECDSA P-384/SHA-384 | yes |
//! | 15 | Ed25519 | yes |
//! | 16 | Ed448 | unsupported: no released, permissively licensed pure-Rust Ed448 verifier exists (only pre-releases); a zone signed with it alone is insecure (RFC 6840 §5.2) |
//!
//! The validity period uses serial number arithmetic (RFC 4034 §3.1.5,
//! RFC 1982): the window runs forward from the inception to the expiration,
//! so times wrap correctly in 2106. `now` is always a parameter.
//!
//! [`verify_rrset`] checks one RRSIG with one key. [`verify_signed_rrset`]
//! takes the RRSIGs and the DNSKEY RRset of the signer, tries the candidate
//! keys within a [`Budget`], and returns the first success.
//!
//! # Limitations
//! - The caller must have authenticated the DNSKEYs it passes (DS or trust
//!   anchor); this module only checks signatures.
//! - RSA keys above 8192 bits are refused (the crypto library's limit);
//!   keys of 512 to 1023 bits are verified only under
//!   [`AlgorithmPolicy::validate_legacy`], shorter ones never.

use crate::budget::{Budget, Exhausted};
use crate::canonical::{CanonicalError, signed_data};
use crate::legacy::{MIN_LEGACY_RSA_BITS, RsaDigest, verify_dsa, verify_rsa_pkcs1};
use crate::rdata::{Algorithm, DNSKEY_PROTOCOL, Dnskey, Rrsig};
use hanse_wire::{RType, Record};
use ring::signature;

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 1024;

/// Which optional algorithms a validator accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AlgorithmPolicy {
    /// Verify RSA/SHA-1 (algorithms 5 and 7). Off by default: RFC 9905 §2
    /// tells operators to treat them as unsupported (the zone is insecure).
    pub validate_sha1: bool,
    /// Verify what RFC 8624 retired but older zones and test corpora use:
    /// DSA (algorithms 3 and 6, also needing `validate_sha1`) and RSA keys
    /// of 512 to 1023 bits. Off by default.
    pub validate_legacy: bool,
}

impl AlgorithmPolicy {
    /// Whether signatures of `algorithm` are verified under this policy.
    pub fn supports(&self, algorithm: Algorithm) -> bool {
        match algorithm {
            Algorithm::RSASHA1 | Algorithm::RSASHA1_NSEC3_SHA1 => self.validate_sha1,
            Algorithm::DSA | Algorithm::DSA_NSEC3_SHA1 => {
                self.validate_sha1 && self.validate_legacy
            }
            Algorithm::RSASHA256
            | Algorithm::RSASHA512
            | Algorithm::ECDSAP256SHA256
            | Algorithm::ECDSAP384SHA384
            | Algorithm::ED25519 => true,
            _ => false,
        }
    }
}

/// How an RRSIG and a DNSKEY fail to belong together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMismatch {
    /// The key tags differ.
    KeyTag,
    /// The algorithms differ.
    Algorithm,
    /// The key is not a zone key, has a protocol other than 3, or is revoked.
    NotUsable,
    /// The signer is not the DNSKEY owner, or not an ancestor of the RRset owner.
    Signer,
}

/// Why an RRset is not proven authentic by an RRSIG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The algorithm is not implemented or not allowed by the policy.
    #[error("unsupported algorithm {}", .0.0)]
    UnsupportedAlgorithm(Algorithm),
    /// The RRSIG does not belong to the key (or the zone) given.
    #[error("RRSIG and DNSKEY do not match: {0:?}")]
    KeyMismatch(KeyMismatch),
    /// The validity period has ended.
    #[error("signature expired at {expiration} (now {now})")]
    Expired {
        /// The RRSIG expiration.
        expiration: u32,
        /// The time of the check.
        now: u32,
    },
    /// The validity period has not begun.
    #[error("signature not valid before {inception} (now {now})")]
    NotYetValid {
        /// The RRSIG inception.
        inception: u32,
        /// The time of the check.
        now: u32,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The public key is malformed for its algorithm.
    #[error("malformed public key")]
    BadKey,
    /// An RSA key shorter than [`MIN_RSA_BITS`].
    #[error("RSA key of {bits} bits is too short")]
    KeyTooShort {
        /// The modulus length.
        bits: usize,
    },
    /// The RRset cannot be put in canonical form for this RRSIG.
    #[error("RRset unusable for this RRSIG: {0}")]
    BadRrset(#[from] CanonicalError),
    /// No RRSIG covers the RRset.
    #[error("no RRSIG covers the RRset")]
    RrsigMissing,
    /// No DNSKEY of the signer matches any RRSIG.
    #[error("no DNSKEY matches the RRSIGs")]
    DnskeyMissing,
    /// The validation's allowance ran out before a signature verified.
    #[error("validation budget exhausted: {0}")]
    Budget(#[from] Exhausted),
}

impl VerifyError {
    /// The Extended DNS Error (RFC 8914 §4) that reports this failure:
    /// 1 Unsupported DNSKEY Algorithm, 6 DNSSEC Bogus, 7 Signature Expired,
    /// 8 Signature Not Yet Valid, 9 DNSKEY Missing, 10 RRSIGs Missing.
    pub fn extended_error_code(&self) -> u16 {
        match self {
            VerifyError::UnsupportedAlgorithm(_) => 1,
            VerifyError::Expired { .. } => 7,
            VerifyError::NotYetValid { .. } => 8,
            VerifyError::DnskeyMissing | VerifyError::KeyMismatch(_) => 9,
            VerifyError::RrsigMissing => 10,
            _ => 6,
        }
    }

    /// How telling the error is when several RRSIGs failed: the most telling
    /// one is reported.
    fn rank(&self) -> u8 {
        match self {
            VerifyError::Budget(_) => 9,
            VerifyError::BadSignature => 8,
            VerifyError::Expired { .. } | VerifyError::NotYetValid { .. } => 7,
            VerifyError::BadKey | VerifyError::KeyTooShort { .. } => 6,
            VerifyError::BadRrset(_) => 5,
            VerifyError::KeyMismatch(_) | VerifyError::DnskeyMissing => 4,
            VerifyError::UnsupportedAlgorithm(_) => 3,
            VerifyError::RrsigMissing => 1,
        }
    }
}

/// Whether `now` lies in the validity period of `rrsig`, in serial number
/// arithmetic (RFC 4034 §3.1.5, RFC 1982).
pub fn check_validity_period(rrsig: &Rrsig, now: u32) -> Result<(), VerifyError> {
    let span = rrsig.expiration.wrapping_sub(rrsig.inception);
    let offset = now.wrapping_sub(rrsig.inception);
    if span >= 0x8000_0000 {
        // Expiration before inception: the signature is valid at no time.
        return Err(VerifyError::Expired {
            expiration: rrsig.expiration,
            now,
        });
    }
    if offset <= span {
        Ok(())
    } else if offset >= 0x8000_0000 {
        Err(VerifyError::NotYetValid {
            inception: rrsig.inception,
            now,
        })
    } else {
        Err(VerifyError::Expired {
            expiration: rrsig.expiration,
            now,
        })
    }
}

/// The TTL a validated RRset may be cached with (RFC 4035 §5.3.3): no more
/// than its TTL as received, the original TTL, the RRSIG's TTL, or the time
/// left until the signature expires.
pub fn capped_ttl(rrset_ttl: u32, rrsig_ttl: u32, rrsig: &Rrsig, now: u32) -> u32 {
    let left = rrsig.expiration.wrapping_sub(now);
    let left = if left >= 0x8000_0000 { 0 } else { left };
    rrset_ttl.min(rrsig.original_ttl).min(rrsig_ttl).min(left)
}

/// Verifies that `rrsig`, made by `key`, signs `rrset` at time `now`, with
/// the default [`AlgorithmPolicy`].
///
/// `key` must come from the DNSKEY RRset of the signer's name; the caller
/// checks that owner (see [`verify_signed_rrset`], which does).
pub fn verify_rrset(
    rrset: &[Record],
    rrsig: &Rrsig,
    key: &Dnskey,
    now: u32,
) -> Result<(), VerifyError> {
    verify_rrset_with_policy(rrset, rrsig, key, now, &AlgorithmPolicy::default())
}

/// [`verify_rrset`] under a given policy.
pub fn verify_rrset_with_policy(
    rrset: &[Record],
    rrsig: &Rrsig,
    key: &Dnskey,
    now: u32,
    policy: &AlgorithmPolicy,
) -> Result<(), VerifyError> {
    check_pairing(rrsig, key, false)?;
    let data = check_without_crypto(rrset, rrsig, now, policy)?;
    verify_signature(key, &data, &rrsig.signature, policy)
}

/// What [`verify_signed_rrset`] proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key tag of the DNSKEY that verified.
    pub key_tag: u16,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The TTL the RRset may be cached with ([`capped_ttl`]).
    pub ttl: u32,
}

/// Verifies an RRset with any of its RRSIGs and any key of the signer's
/// DNSKEY RRset, within `budget`.
///
/// `rrsigs` may hold RRSIGs of other owners and types (they are skipped);
/// `dnskeys` is the DNSKEY RRset of the signer. For each RRSIG at most
/// [`Limits::max_keys_per_tag`](crate::Limits) keys with its tag and
/// algorithm are tried, and every verification is charged to `budget`:
/// a crafted set of colliding keys and signatures stops at the budget with
/// [`VerifyError::Budget`].
pub fn verify_signed_rrset(
    rrset: &[Record],
    rrsigs: &[Record],
    dnskeys: &[Record],
    now: u32,
    policy: &AlgorithmPolicy,
    budget: &mut Budget,
) -> Result<Verified, VerifyError> {
    verify_with_keys(rrset, rrsigs, dnskeys, now, policy, budget, false)
}

/// Like [`verify_signed_rrset`], but keys with the REVOKE flag may verify
/// too: RFC 5011 §2.1 asks that a revoked key has signed the DNSKEY RRset
/// that carries it before the revocation is believed. Only for that check.
pub fn verify_revocation(
    rrset: &[Record],
    rrsigs: &[Record],
    revoked_key: &Record,
    now: u32,
    policy: &AlgorithmPolicy,
    budget: &mut Budget,
) -> Result<Verified, VerifyError> {
    verify_with_keys(
        rrset,
        rrsigs,
        std::slice::from_ref(revoked_key),
        now,
        policy,
        budget,
        true,
    )
}

fn verify_with_keys(
    rrset: &[Record],
    rrsigs: &[Record],
    dnskeys: &[Record],
    now: u32,
    policy: &AlgorithmPolicy,
    budget: &mut Budget,
    revoked_allowed: bool,
) -> Result<Verified, VerifyError> {
    let first = rrset.first().ok_or(CanonicalError::Empty)?;
    let keys: Vec<(&Record, Dnskey)> = dnskeys
        .iter()
        .filter_map(|record| Some((record, Dnskey::from_record(record).ok()?)))
        .collect();
    let mut worst: Option<VerifyError> = None;
    let mut note = |error: VerifyError| {
        if worst.is_none_or(|before| error.rank() > before.rank()) {
            worst = Some(error);
        }
    };
    let covering = rrsigs.iter().filter(|record| {
        record.rtype == RType::RRSIG && record.name == first.name && record.class == first.class
    });
    for record in covering {
        let Ok(rrsig) = Rrsig::from_record(record) else {
            note(VerifyError::BadSignature);
            continue;
        };
        if rrsig.type_covered != first.rtype {
            continue;
        }
        let data = match check_without_crypto(rrset, &rrsig, now, policy) {
            Ok(data) => data,
            Err(error) => {
                note(error);
                continue;
            }
        };
        let candidates = keys.iter().filter(|(key_record, key)| {
            key_record.name == rrsig.signer_name
                && check_pairing(&rrsig, key, revoked_allowed).is_ok()
        });
        let mut tried = 0;
        for (_, key) in candidates {
            if tried >= budget.limits().max_keys_per_tag {
                break;
            }
            tried += 1;
            budget.charge_verification()?;
            match verify_signature(key, &data, &rrsig.signature, policy) {
                Ok(()) => {
                    return Ok(Verified {
                        key_tag: key.key_tag(),
                        algorithm: key.algorithm,
                        ttl: capped_ttl(first.ttl, record.ttl, &rrsig, now),
                    });
                }
                Err(error) => note(error),
            }
        }
        if tried == 0 {
            note(VerifyError::DnskeyMissing);
        }
    }
    Err(worst.unwrap_or(VerifyError::RrsigMissing))
}

/// Checks that `key` is the key `rrsig` names and may verify signatures.
fn check_pairing(rrsig: &Rrsig, key: &Dnskey, revoked_allowed: bool) -> Result<(), VerifyError> {
    if rrsig.key_tag != key.key_tag() {
        return Err(VerifyError::KeyMismatch(KeyMismatch::KeyTag));
    }
    if rrsig.algorithm != key.algorithm {
        return Err(VerifyError::KeyMismatch(KeyMismatch::Algorithm));
    }
    if !key.is_zone_key()
        || key.protocol != DNSKEY_PROTOCOL
        || (key.is_revoked() && !revoked_allowed)
    {
        return Err(VerifyError::KeyMismatch(KeyMismatch::NotUsable));
    }
    Ok(())
}

/// Every check but the signature itself; returns the signed data.
fn check_without_crypto(
    rrset: &[Record],
    rrsig: &Rrsig,
    now: u32,
    policy: &AlgorithmPolicy,
) -> Result<Vec<u8>, VerifyError> {
    if !policy.supports(rrsig.algorithm) {
        return Err(VerifyError::UnsupportedAlgorithm(rrsig.algorithm));
    }
    let owner = &rrset.first().ok_or(CanonicalError::Empty)?.name;
    if !owner.is_subdomain_of(&rrsig.signer_name) {
        return Err(VerifyError::KeyMismatch(KeyMismatch::Signer));
    }
    check_validity_period(rrsig, now)?;
    Ok(signed_data(rrset, rrsig)?)
}

/// The public-key operation.
fn verify_signature(
    key: &Dnskey,
    data: &[u8],
    signature_bytes: &[u8],
    policy: &AlgorithmPolicy,
) -> Result<(), VerifyError> {
    let key_bytes = &key.public_key[..];
    let rsa = |parameters, digest| RsaCheck {
        parameters,
        digest,
        short_keys: policy.validate_legacy,
    };
    let outcome = match key.algorithm {
        Algorithm::RSASHA1 | Algorithm::RSASHA1_NSEC3_SHA1 => verify_rsa(
            &rsa(
                &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                RsaDigest::Sha1,
            ),
            key_bytes,
            data,
            signature_bytes,
        )?,
        Algorithm::RSASHA256 => verify_rsa(
            &rsa(
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                RsaDigest::Sha256,
            ),
            key_bytes,
            data,
            signature_bytes,
        )?,
        Algorithm::RSASHA512 => verify_rsa(
            &rsa(
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
                RsaDigest::Sha512,
            ),
            key_bytes,
            data,
            signature_bytes,
        )?,
        Algorithm::DSA | Algorithm::DSA_NSEC3_SHA1 if policy.validate_legacy => {
            return verify_dsa(key_bytes, data, signature_bytes);
        }
        Algorithm::ECDSAP256SHA256 => verify_ecdsa(
            &signature::ECDSA_P256_SHA256_FIXED,
            64,
            key_bytes,
            data,
            signature_bytes,
        )?,
        Algorithm::ECDSAP384SHA384 => verify_ecdsa(
            &signature::ECDSA_P384_SHA384_FIXED,
            96,
            key_bytes,
            data,
            signature_bytes,
        )?,
        Algorithm::ED25519 => {
            if key_bytes.len() != 32 {
                return Err(VerifyError::BadKey);
            }
            signature::UnparsedPublicKey::new(&signature::ED25519, key_bytes)
                .verify(data, signature_bytes)
        }
        other => return Err(VerifyError::UnsupportedAlgorithm(other)),
    };
    outcome.map_err(|_| VerifyError::BadSignature)
}

fn verify_ecdsa(
    algorithm: &'static signature::EcdsaVerificationAlgorithm,
    length: usize,
    key: &[u8],
    data: &[u8],
    signature_bytes: &[u8],
) -> Result<Result<(), ring::error::Unspecified>, VerifyError> {
    // RFC 6605 §4: the key is X | Y; the library wants the uncompressed point.
    if key.len() != length {
        return Err(VerifyError::BadKey);
    }
    let mut point = Vec::with_capacity(1 + length);
    point.push(4);
    point.extend_from_slice(key);
    Ok(signature::UnparsedPublicKey::new(algorithm, &point).verify(data, signature_bytes))
}

/// How to check an RSA signature: the library's parameters, the digest for
/// short keys, and whether short keys are verified at all.
struct RsaCheck {
    parameters: &'static signature::RsaParameters,
    digest: RsaDigest,
    short_keys: bool,
}

fn verify_rsa(
    check: &RsaCheck,
    key: &[u8],
    data: &[u8],
    signature_bytes: &[u8],
) -> Result<Result<(), ring::error::Unspecified>, VerifyError> {
    let (exponent, modulus) = split_rsa_key(key)?;
    let bits = bit_length(modulus);
    if bits < MIN_RSA_BITS {
        if check.short_keys && bits >= MIN_LEGACY_RSA_BITS {
            return Ok(
                verify_rsa_pkcs1(check.digest, exponent, modulus, data, signature_bytes)
                    .map_err(|_| ring::error::Unspecified),
            );
        }
        return Err(VerifyError::KeyTooShort { bits });
    }
    if bits > 8192 || exponent.is_empty() {
        return Err(VerifyError::BadKey);
    }
    let components = signature::RsaPublicKeyComponents {
        n: modulus,
        e: exponent,
    };
    Ok(components.verify(check.parameters, data, signature_bytes))
}

/// Splits an RSA public key (RFC 3110 §2) into exponent and modulus, both
/// without leading zero octets.
fn split_rsa_key(key: &[u8]) -> Result<(&[u8], &[u8]), VerifyError> {
    let (&first, rest) = key.split_first().ok_or(VerifyError::BadKey)?;
    let (length, rest) = if first == 0 {
        let bytes = rest.get(..2).ok_or(VerifyError::BadKey)?;
        (
            usize::from(u16::from_be_bytes([bytes[0], bytes[1]])),
            &rest[2..],
        )
    } else {
        (usize::from(first), rest)
    };
    if length == 0 || rest.len() <= length {
        return Err(VerifyError::BadKey);
    }
    let (exponent, modulus) = rest.split_at(length);
    Ok((strip_zeros(exponent), strip_zeros(modulus)))
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn bit_length(number: &[u8]) -> usize {
    match number.first() {
        None => 0,
        Some(&first) => (number.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::Name;

    fn rrsig(inception: u32, expiration: u32) -> Rrsig {
        Rrsig {
            type_covered: RType::A,
            algorithm: Algorithm::ED25519,
            labels: 1,
            original_ttl: 300,
            expiration,
            inception,
            key_tag: 1,
            signer_name: Name::root(),
            signature: Box::new([]),
        }
    }

    #[test]
    fn validity_period_uses_serial_arithmetic() {
        let sig = rrsig(1000, 2000);
        assert!(check_validity_period(&sig, 1000).is_ok());
        assert!(check_validity_period(&sig, 2000).is_ok());
        assert!(matches!(
            check_validity_period(&sig, 2001),
            Err(VerifyError::Expired { .. })
        ));
        assert!(matches!(
            check_validity_period(&sig, 999),
            Err(VerifyError::NotYetValid { .. })
        ));
        // A window across the 2^32 wrap (the year 2106).
        let wrapping = rrsig(u32::MAX - 10, 10);
        assert!(check_validity_period(&wrapping, 5).is_ok());
        assert!(check_validity_period(&wrapping, u32::MAX).is_ok());
        assert!(matches!(
            check_validity_period(&wrapping, 11),
            Err(VerifyError::Expired { .. })
        ));
        assert!(matches!(
            check_validity_period(&wrapping, u32::MAX - 11),
            Err(VerifyError::NotYetValid { .. })
        ));
        // Expiration before inception: never valid.
        assert!(check_validity_period(&rrsig(2000, 1000), 1500).is_err());
    }

    #[test]
    fn ttl_is_capped() {
        let sig = rrsig(1000, 2000);
        assert_eq!(capped_ttl(3600, 3600, &sig, 1000), 300);
        assert_eq!(capped_ttl(3600, 3600, &sig, 1900), 100);
        assert_eq!(capped_ttl(60, 3600, &sig, 1000), 60);
        assert_eq!(capped_ttl(3600, 3600, &sig, 2500), 0);
    }

    #[test]
    fn rsa_keys_are_split_and_measured() {
        assert_eq!(
            split_rsa_key(&[1, 3, 0, 0xff]).unwrap(),
            (&[3u8][..], &[0xffu8][..])
        );
        assert_eq!(
            split_rsa_key(&[0, 0, 1, 3, 0x80]).unwrap(),
            (&[3u8][..], &[0x80u8][..])
        );
        assert!(split_rsa_key(&[]).is_err());
        assert!(split_rsa_key(&[3, 1, 0, 1]).is_err());
        assert!(split_rsa_key(&[0, 0]).is_err());
        assert_eq!(bit_length(&[0x01, 0]), 9);
        let short = [&[1u8, 3][..], &[0xff; 64]].concat();
        let key = Dnskey::parse(&[&[1u8, 0, 3, 8][..], &short].concat()).unwrap();
        assert_eq!(
            verify_signature(&key, b"data", &[0; 64], &AlgorithmPolicy::default()),
            Err(VerifyError::KeyTooShort { bits: 512 })
        );
    }

    #[test]
    fn policy_gates_sha1_and_ed448() {
        let default = AlgorithmPolicy::default();
        assert!(!default.supports(Algorithm::RSASHA1));
        assert!(!default.supports(Algorithm::ED448));
        assert!(default.supports(Algorithm::ED25519));
        let permissive = AlgorithmPolicy {
            validate_sha1: true,
            ..AlgorithmPolicy::default()
        };
        assert!(permissive.supports(Algorithm::RSASHA1_NSEC3_SHA1));
        assert!(!permissive.supports(Algorithm::DSA));
        let legacy = AlgorithmPolicy {
            validate_sha1: true,
            validate_legacy: true,
        };
        assert!(legacy.supports(Algorithm::DSA));
        assert!(legacy.supports(Algorithm::DSA_NSEC3_SHA1));
    }
}
