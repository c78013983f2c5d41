//! Trust anchors: the built-in root anchors and a parser for trust-anchor
//! files (DS or DNSKEY records in master-file format, RFC 1035 §5).
//!
//! The built-in anchors are the DS records of the root key-signing keys that
//! IANA publishes in `root-anchors.xml` (RFC 9718): KSK-2017 (key tag 20326)
//! and KSK-2024 (key tag 38696), both RSA/SHA-256 with SHA-256 digests.
//!
//! # Limitations
//! - No RFC 5011 rollover state here (see [`crate::rollover`]); the file is
//!   read as it is.
//! - Validity dates from `root-anchors.xml` are not kept.

use crate::ds::ds_matches;
use crate::rdata::{Dnskey, Ds, RdataError};
use hanse_wire::{Name, RType};

/// The root anchors in master-file form.
const ROOT_ANCHORS: &str = "\
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
";

/// One trust anchor: a DS or a DNSKEY for a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The zone the anchor is for.
    pub owner: Name,
    /// The anchor itself.
    pub key: AnchorKey,
}

/// The form of a trust anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorKey {
    /// A digest of the key (the usual form).
    Ds(Ds),
    /// The key itself.
    Dnskey(Dnskey),
}

impl TrustAnchor {
    /// Whether `dnskey`, owned by `owner`, is this anchor's key.
    pub fn matches(&self, owner: &Name, dnskey: &Dnskey) -> bool {
        if *owner != self.owner {
            return false;
        }
        match &self.key {
            AnchorKey::Ds(ds) => ds_matches(ds, dnskey, owner).unwrap_or(false),
            AnchorKey::Dnskey(key) => key.rdata() == dnskey.rdata(),
        }
    }

    /// The key tag the anchor names.
    pub fn key_tag(&self) -> u16 {
        match &self.key {
            AnchorKey::Ds(ds) => ds.key_tag,
            AnchorKey::Dnskey(key) => key.key_tag(),
        }
    }
}

/// Why a trust-anchor file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// The master file does not parse.
    #[error("trust anchors: {0}")]
    Zone(#[from] hanse_zone::ZoneError),
    /// A record other than DS or DNSKEY.
    #[error("trust anchors: record {index} for {owner} is {rtype}, not DS or DNSKEY")]
    WrongType {
        /// The record's position in the file, from 1.
        index: usize,
        /// Its owner.
        owner: Name,
        /// Its type.
        rtype: RType,
    },
    /// A DS or DNSKEY with malformed data.
    #[error("trust anchors: record {index} for {owner}: {error}")]
    BadData {
        /// The record's position in the file, from 1.
        index: usize,
        /// Its owner.
        owner: Name,
        /// What is wrong.
        error: RdataError,
    },
    /// A DNSKEY without the zone key flag, which can anchor nothing.
    #[error("trust anchors: the DNSKEY for {owner} (key tag {key_tag}) is not a zone key")]
    NotZoneKey {
        /// Its owner.
        owner: Name,
        /// Its key tag.
        key_tag: u16,
    },
    /// The file holds no anchor.
    #[error("trust anchors: no DS or DNSKEY record")]
    Empty,
}

/// The built-in root trust anchors (KSK-2017 and KSK-2024).
pub fn builtin_root_anchors() -> Vec<TrustAnchor> {
    // The constant text is tested to parse; an error here would be a build defect.
    parse_trust_anchors(ROOT_ANCHORS).unwrap_or_default()
}

/// Reads a trust-anchor file: DS or DNSKEY records in master-file format
/// (owner names relative to the root unless `$ORIGIN` says otherwise).
pub fn parse_trust_anchors(text: &str) -> Result<Vec<TrustAnchor>, AnchorError> {
    let records = hanse_zone::parse_zone(text, &Name::root(), 0)?;
    let mut anchors = Vec::with_capacity(records.len());
    for (index, record) in records.into_iter().enumerate() {
        let index = index + 1;
        let bad = |error| AnchorError::BadData {
            index,
            owner: record.name.clone(),
            error,
        };
        let key = match record.rtype {
            RType::DS => AnchorKey::Ds(Ds::parse(&record.data).map_err(bad)?),
            RType::DNSKEY => {
                let key = Dnskey::parse(&record.data).map_err(bad)?;
                if !key.is_zone_key() {
                    return Err(AnchorError::NotZoneKey {
                        owner: record.name,
                        key_tag: key.key_tag(),
                    });
                }
                AnchorKey::Dnskey(key)
            }
            rtype => {
                return Err(AnchorError::WrongType {
                    index,
                    owner: record.name,
                    rtype,
                });
            }
        };
        anchors.push(TrustAnchor {
            owner: record.name,
            key,
        });
    }
    if anchors.is_empty() {
        return Err(AnchorError::Empty);
    }
    Ok(anchors)
}
