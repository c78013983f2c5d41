//! Delegation Signer digests (RFC 4034 §5.1.4; SHA-256 RFC 4509, SHA-384
//! RFC 6605) and matching a DS record to a DNSKEY.
//!
//! Digest types: 2 (SHA-256) and 4 (SHA-384) are supported; 1 (SHA-1) is
//! supported too, because RFC 8624 §3.3 (unchanged by RFC 9904) says
//! validators MUST validate SHA-1 DS records; [`preferred_digests`] applies
//! the downgrade rule of RFC 4509 §3 (ignore SHA-1 DS records when a
//! stronger digest of a supported type is present). RFC 9905 makes DS
//! records of the SHA-1 *signature* algorithms (5, 7) insecure; that is the
//! algorithm policy's business ([`AlgorithmPolicy`](crate::AlgorithmPolicy)).
//!
//! # Limitations
//! - GOST (3) is not supported.

use crate::rdata::{DigestType, Dnskey, Ds};
use hanse_wire::Name;
use ring::digest;

/// Why a DS digest could not be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// A digest type this crate does not implement.
    #[error("unsupported DS digest type {}", .0.0)]
    UnsupportedDigestType(DigestType),
}

/// Whether a digest type is implemented.
pub fn is_supported_digest(digest_type: DigestType) -> bool {
    matches!(
        digest_type,
        DigestType::SHA1 | DigestType::SHA256 | DigestType::SHA384
    )
}

/// The DS digest of `dnskey` owned by `owner`: the hash of the canonical
/// owner name followed by the DNSKEY record data.
pub fn compute_digest(
    digest_type: DigestType,
    owner: &Name,
    dnskey: &Dnskey,
) -> Result<Vec<u8>, DigestError> {
    let algorithm = match digest_type {
        DigestType::SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        DigestType::SHA256 => &digest::SHA256,
        DigestType::SHA384 => &digest::SHA384,
        other => return Err(DigestError::UnsupportedDigestType(other)),
    };
    let mut context = digest::Context::new(algorithm);
    context.update(owner.to_lowercase().as_wire());
    context.update(dnskey.rdata());
    Ok(context.finish().as_ref().to_vec())
}

/// Whether `ds` refers to `dnskey` at `owner`: same key tag and algorithm,
/// a zone key, and the digest matches.
pub fn ds_matches(ds: &Ds, dnskey: &Dnskey, owner: &Name) -> Result<bool, DigestError> {
    if !is_supported_digest(ds.digest_type) {
        return Err(DigestError::UnsupportedDigestType(ds.digest_type));
    }
    if ds.key_tag != dnskey.key_tag() || ds.algorithm != dnskey.algorithm || !dnskey.is_zone_key() {
        return Ok(false);
    }
    let computed = compute_digest(ds.digest_type, owner, dnskey)?;
    Ok(computed.as_slice() == &*ds.digest)
}

/// The DS records to use from a DS RRset: those of a supported digest type,
/// without the SHA-1 ones when a SHA-256 or SHA-384 one is present
/// (RFC 4509 §3).
pub fn preferred_digests(ds_set: &[Ds]) -> Vec<&Ds> {
    let supported = ds_set
        .iter()
        .filter(|ds| is_supported_digest(ds.digest_type));
    let strong = ds_set
        .iter()
        .any(|ds| matches!(ds.digest_type, DigestType::SHA256 | DigestType::SHA384));
    supported
        .filter(|ds| !(strong && ds.digest_type == DigestType::SHA1))
        .collect()
}
