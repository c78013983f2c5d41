//! The zones an authoritative test server serves: an origin and its records,
//! loaded from master-file text (RFC 1035 §5) through `hanse-zone`.
//!
//! # Limitations
//! - No check that the zone has exactly one SOA at its apex or that every
//!   record lies inside the zone: tests may want broken zones on purpose.
//! - Lookups scan the record list; test zones are small.

use hanse_wire::{Name, RType, Record};
use std::fmt;

/// The TTL of records whose master file gives none and has no `$TTL`.
pub const DEFAULT_TTL: u32 = 3600;

/// Why a zone could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneLoadError {
    /// The origin is not a valid domain name.
    Origin(String),
    /// The master file has a syntax error.
    Syntax {
        /// The line of the error, from 1.
        line: usize,
        /// The column of the error, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for ZoneLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneLoadError::Origin(origin) => write!(f, "bad zone origin {origin:?}"),
            ZoneLoadError::Syntax {
                line,
                column,
                message,
            } => {
                write!(f, "line {line}, column {column}: {message}")
            }
        }
    }
}

impl std::error::Error for ZoneLoadError {}

/// One zone: its origin (apex) and all records it holds, glue and records
/// below zone cuts included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    origin: Name,
    records: Vec<Record>,
}

impl Zone {
    /// Parses master-file text for the zone at `origin` (`"."`, `"example.com."`).
    pub fn parse(origin: &str, text: &str) -> Result<Zone, ZoneLoadError> {
        let origin =
            Name::from_ascii(origin).map_err(|_| ZoneLoadError::Origin(origin.to_owned()))?;
        let records = hanse_zone::parse_zone(text, &origin, DEFAULT_TTL).map_err(|error| {
            ZoneLoadError::Syntax {
                line: error.line,
                column: error.column,
                message: error.message,
            }
        })?;
        Ok(Zone { origin, records })
    }

    /// A zone from records built by hand.
    pub fn from_records(origin: Name, records: Vec<Record>) -> Zone {
        Zone { origin, records }
    }

    /// The apex of the zone.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// All records of the zone.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The SOA record at the apex, if the zone has one.
    pub fn soa(&self) -> Option<&Record> {
        self.records
            .iter()
            .find(|record| record.rtype == RType::SOA && record.name == self.origin)
    }

    /// The records owned by `name`.
    pub(crate) fn records_at<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a Record> {
        self.records
            .iter()
            .filter(move |record| record.name == *name)
    }

    /// The records owned by `name` of type `rtype`.
    pub(crate) fn rrset(&self, name: &Name, rtype: RType) -> Vec<Record> {
        self.records_at(name)
            .filter(|record| record.rtype == rtype)
            .cloned()
            .collect()
    }

    /// Whether `name` exists in the zone: it owns records or is an empty
    /// non-terminal above names that do (RFC 9499).
    pub(crate) fn name_exists(&self, name: &Name) -> bool {
        self.records
            .iter()
            .any(|record| record.name.is_subdomain_of(name))
    }
}
