//! The outcome of a proof of nonexistence, shared by the NSEC
//! ([`crate::nsec`]) and NSEC3 ([`crate::nsec3`]) checks.
//!
//! A proof is a value, never an error: [`Denial::Proven`] (the answer is
//! secure), [`Denial::OptOut`] (an NSEC3 opt-out span leaves room for an
//! unsigned delegation: the answer is insecure, RFC 5155 §9.2),
//! [`Denial::Insecure`] (the records cannot be used, and the rules say to
//! treat the answer as insecure), [`Denial::Bogus`] (the proof fails).
//!
//! The functions that produce it assume the NSEC/NSEC3 records given were
//! already authenticated (their RRSIGs verified by the caller).

use hanse_wire::Name;
use std::fmt;

/// What a successful proof shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    /// The name does not exist, nor a wildcard that could produce it (NXDOMAIN).
    NameError,
    /// The name exists without the type asked (NODATA).
    NoData,
    /// The name is an empty non-terminal: it has no records but names below it.
    EmptyNonTerminal,
    /// The name is covered by a wildcard that lacks the type asked.
    WildcardNoData,
    /// No closer name exists than the wildcard that produced a positive answer.
    WildcardAnswer,
}

/// Why the records say the answer must be treated as insecure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsecureReason {
    /// NSEC3 iterations above the limit of RFC 9276 §3.2 (150 here).
    TooManyIterations(u16),
    /// Only NSEC3 records of unknown hash algorithms (RFC 5155 §8.1).
    UnknownHashAlgorithm,
}

/// Why a proof fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BogusReason {
    /// No usable NSEC/NSEC3 record of the zone.
    NoRecords,
    /// The name asked is outside the zone of the records.
    OutsideZone,
    /// A record proves the name exists where its nonexistence was to be proven.
    NameExists,
    /// No record covers the name (or the next closer name).
    NotCovered,
    /// No record matches the name for a NODATA proof.
    NoMatchingRecord,
    /// The type asked exists at the name.
    TypeExists,
    /// A CNAME exists at the name.
    CnameExists,
    /// The wildcard at the closest encloser exists.
    WildcardExists,
    /// Nothing proves the wildcard at the closest encloser absent.
    WildcardNotDenied,
    /// No closest encloser can be proven (NSEC3).
    NoClosestEncloser,
    /// The record is from a delegation point (NS without SOA) or a DNAME above
    /// the name, so it says nothing about names below it (RFC 6840 §4.1).
    FromDelegation,
    /// A DS NODATA proof from the child's apex instead of the parent side.
    FromChildApex,
    /// The answer was not produced by a wildcard (RRSIG labels field).
    NotWildcard,
    /// The NSEC3 hash allowance of the [`Budget`](crate::Budget) ran out.
    BudgetExhausted,
}

/// The outcome of a proof of nonexistence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Proven: the answer is secure.
    Proven {
        /// What was proven.
        kind: DenialKind,
        /// The closest encloser, where the proof established one.
        closest_encloser: Option<Name>,
    },
    /// The next closer name lies in an opt-out span: the answer is insecure.
    OptOut {
        /// The closest encloser.
        closest_encloser: Name,
    },
    /// The records must be treated as insecure.
    Insecure(InsecureReason),
    /// The proof fails.
    Bogus(BogusReason),
}

impl Denial {
    /// Whether the proof succeeded with a secure result.
    pub fn is_proven(&self) -> bool {
        matches!(self, Denial::Proven { .. })
    }

    pub(crate) fn proven(kind: DenialKind, closest_encloser: Option<Name>) -> Denial {
        Denial::Proven {
            kind,
            closest_encloser,
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Proven {
                kind,
                closest_encloser: Some(encloser),
            } => write!(f, "proven {kind:?} (closest encloser {encloser})"),
            Denial::Proven { kind, .. } => write!(f, "proven {kind:?}"),
            Denial::OptOut { closest_encloser } => {
                write!(f, "opt-out span below {closest_encloser}: insecure")
            }
            Denial::Insecure(reason) => write!(f, "insecure: {reason:?}"),
            Denial::Bogus(reason) => write!(f, "bogus: {reason:?}"),
        }
    }
}

/// The longest common ancestor of two names (by labels from the right).
pub(crate) fn common_ancestor(left: &Name, right: &Name) -> Name {
    let left_labels: Vec<&[u8]> = left.labels().collect();
    let right_labels: Vec<&[u8]> = right.labels().collect();
    let shared = left_labels
        .iter()
        .rev()
        .zip(right_labels.iter().rev())
        .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
        .count();
    left.suffix(shared)
}
