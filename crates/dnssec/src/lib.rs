//! DNSSEC validation primitives (RFC 4033, 4034, 4035, 5155, 6840, 8624/9904,
//! 9276, 9905): pure functions a validator is built from. No I/O, no clock
//! (the time is always a parameter), and bounded work per validation.
//!
//! - [`rdata`]: typed views of DNSKEY, DS, RRSIG, NSEC, NSEC3, NSEC3PARAM
//!   data, type bit maps and the key tag.
//! - [`canonical`]: the canonical form and order of an RRset and the data
//!   an RRSIG signs, including wildcard owners.
//! - [`verify`]: signature verification ([`verify_rrset`],
//!   [`verify_signed_rrset`]) with the validity period in serial arithmetic,
//!   TTL capping and errors that map to Extended DNS Errors (RFC 8914).
//! - [`ds`]: DS digests (SHA-1, SHA-256, SHA-384) and [`ds_matches`].
//! - [`nsec`] and [`nsec3`]: proofs of nonexistence, returning [`Denial`].
//! - [`budget`]: the [`Budget`] against KeyTrap-class attacks.
//! - [`anchors`]: the built-in root trust anchors and trust-anchor files.
//! - [`legacy`]: DSA and short RSA keys, retired forms verified only when
//!   the [`AlgorithmPolicy`] asks for them.
//! - [`rollover`]: RFC 5011 automated updates of trust anchors: the key
//!   states, their transitions, the refresh timers and the state file text.
//!
//! # Limitations
//! - No chain-of-trust state machine, no fetching and no caching here: the
//!   resolver drives those and calls into this crate.
//! - Ed448 (algorithm 16) is unsupported (see [`verify`]); RSA/SHA-1 (5, 7)
//!   only when the [`AlgorithmPolicy`] allows it.

#![warn(missing_docs)]

pub mod anchors;
pub mod budget;
pub mod canonical;
pub mod denial;
pub mod ds;
pub mod legacy;
pub mod nsec;
pub mod nsec3;
pub mod rdata;
pub mod rollover;
pub mod verify;

pub use anchors::{AnchorError, AnchorKey, TrustAnchor, builtin_root_anchors, parse_trust_anchors};
pub use budget::{Budget, Exhausted, Limits};
pub use canonical::CanonicalError;
pub use denial::{BogusReason, Denial, DenialKind, InsecureReason};
pub use ds::{DigestError, compute_digest, ds_matches, preferred_digests};
pub use rdata::{
    Algorithm, DigestType, Dnskey, Ds, Nsec, Nsec3, Nsec3Param, RdataError, Rrsig, TypeBitmap,
    compute_key_tag,
};
pub use verify::{
    AlgorithmPolicy, KeyMismatch, Verified, VerifyError, capped_ttl, verify_revocation,
    verify_rrset, verify_rrset_with_policy, verify_signed_rrset,
};
