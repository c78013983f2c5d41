//! Proofs of nonexistence with NSEC (RFC 4035 §5.4, RFC 4034 §4, with the
//! clarifications of RFC 6840 §4 and §5.1).
//!
//! - [`prove_nxdomain`]: an NSEC covers the name, and an NSEC covers the
//!   wildcard at the closest encloser (derived from the covering NSEC's
//!   owner and next names).
//! - [`prove_nodata`]: an NSEC matching the name lacks the type and CNAME;
//!   or the name is an empty non-terminal (a covering NSEC whose next name
//!   lies below it); or a wildcard at the closest encloser lacks the type.
//! - [`prove_wildcard_answer`]: for an answer expanded from a wildcard, an
//!   NSEC covers the next closer name, so no closer match exists.
//!
//! An NSEC at a delegation point (NS without SOA) or at a DNAME proves
//! nothing about names below its owner (RFC 6840 §4.1); such a record
//! makes the proof bogus. For DS, a matching NSEC must come from the
//! parent side (no SOA bit).
//!
//! # Limitations
//! - The records must already be authenticated and belong to `zone`;
//!   records outside `zone` or with malformed data are ignored.
//! - Work is linear in the number of records given.

use crate::denial::{BogusReason, Denial, DenialKind, common_ancestor};
use crate::rdata::Nsec;
use hanse_wire::{Name, RType, Record};

/// The usable NSEC records of `zone` among `records`.
fn collect(zone: &Name, records: &[Record]) -> Vec<(Name, Nsec)> {
    records
        .iter()
        .filter(|record| record.rtype == RType::NSEC && record.name.is_subdomain_of(zone))
        .filter_map(|record| Some((record.name.clone(), Nsec::from_record(record).ok()?)))
        .collect()
}

/// Whether the NSEC at `owner` covers `name`: `name` sorts strictly between
/// the owner and the next name (the last NSEC wraps to the apex).
fn covers(owner: &Name, nsec: &Nsec, name: &Name) -> bool {
    let next = &nsec.next_name;
    if owner < next {
        owner < name && name < next
    } else {
        owner < name || name < next
    }
}

/// Whether an NSEC at `owner` cannot speak for `name` because `owner` is a
/// delegation point or DNAME above it (RFC 6840 §4.1).
fn is_ancestor_cut(owner: &Name, nsec: &Nsec, name: &Name) -> bool {
    if owner == name || !name.is_subdomain_of(owner) {
        return false;
    }
    let delegation = nsec.types.contains(RType::NS) && !nsec.types.contains(RType::SOA);
    delegation || nsec.types.contains(RType::DNAME)
}

/// Finds the NSEC covering `name`. `Err` when a record matches it, or when
/// the only covering record is an ancestor cut.
fn find_covering<'a>(
    nsecs: &'a [(Name, Nsec)],
    name: &Name,
) -> Result<&'a (Name, Nsec), BogusReason> {
    if nsecs.iter().any(|(owner, _)| owner == name) {
        return Err(BogusReason::NameExists);
    }
    let mut cut = false;
    for entry in nsecs {
        let (owner, nsec) = entry;
        if covers(owner, nsec, name) {
            if is_ancestor_cut(owner, nsec, name) {
                cut = true;
                continue;
            }
            return Ok(entry);
        }
    }
    Err(if cut {
        BogusReason::FromDelegation
    } else {
        BogusReason::NotCovered
    })
}

/// The closest encloser of `name` that a covering NSEC implies: the longer of
/// the common ancestors of `name` with the NSEC's owner and next names.
fn closest_encloser(owner: &Name, nsec: &Nsec, name: &Name) -> Name {
    let by_owner = common_ancestor(name, owner);
    let by_next = common_ancestor(name, &nsec.next_name);
    if by_owner.label_count() >= by_next.label_count() {
        by_owner
    } else {
        by_next
    }
}

fn wildcard_of(encloser: &Name) -> Option<Name> {
    encloser.prepend(b"*").ok()
}

/// Proves that `qname` does not exist in `zone` (NXDOMAIN).
pub fn prove_nxdomain(qname: &Name, zone: &Name, records: &[Record]) -> Denial {
    if !qname.is_subdomain_of(zone) {
        return Denial::Bogus(BogusReason::OutsideZone);
    }
    let nsecs = collect(zone, records);
    if nsecs.is_empty() {
        return Denial::Bogus(BogusReason::NoRecords);
    }
    let (owner, nsec) = match find_covering(&nsecs, qname) {
        Ok(entry) => entry,
        Err(reason) => return Denial::Bogus(reason),
    };
    let encloser = closest_encloser(owner, nsec, qname);
    if !encloser.is_subdomain_of(zone) {
        return Denial::Bogus(BogusReason::OutsideZone);
    }
    let Some(wildcard) = wildcard_of(&encloser) else {
        return Denial::Bogus(BogusReason::WildcardNotDenied);
    };
    match find_covering(&nsecs, &wildcard) {
        Ok(_) => Denial::proven(DenialKind::NameError, Some(encloser)),
        Err(BogusReason::NameExists) => Denial::Bogus(BogusReason::WildcardExists),
        Err(_) => Denial::Bogus(BogusReason::WildcardNotDenied),
    }
}

/// Checks a matching NSEC for a NODATA answer to `qtype`.
fn check_types(nsec: &Nsec, qtype: RType) -> Result<(), BogusReason> {
    if nsec.types.contains(qtype) {
        return Err(BogusReason::TypeExists);
    }
    if nsec.types.contains(RType::CNAME) {
        return Err(BogusReason::CnameExists);
    }
    let delegation = nsec.types.contains(RType::NS) && !nsec.types.contains(RType::SOA);
    if qtype == RType::DS {
        if nsec.types.contains(RType::SOA) {
            // The child's apex NSEC cannot deny the parent's DS (RFC 6840 §4.4).
            return Err(BogusReason::FromChildApex);
        }
    } else if delegation {
        // The parent's NSEC at a cut says nothing about the child's types.
        return Err(BogusReason::FromDelegation);
    }
    Ok(())
}

/// Proves that `qname` exists in `zone` without `qtype` (NODATA), as a
/// plain name, an empty non-terminal, or through a wildcard.
pub fn prove_nodata(qname: &Name, qtype: RType, zone: &Name, records: &[Record]) -> Denial {
    if !qname.is_subdomain_of(zone) {
        return Denial::Bogus(BogusReason::OutsideZone);
    }
    let nsecs = collect(zone, records);
    if nsecs.is_empty() {
        return Denial::Bogus(BogusReason::NoRecords);
    }
    if let Some((_, nsec)) = nsecs.iter().find(|(owner, _)| owner == qname) {
        return match check_types(nsec, qtype) {
            Ok(()) => Denial::proven(DenialKind::NoData, None),
            Err(reason) => Denial::Bogus(reason),
        };
    }
    let (owner, nsec) = match find_covering(&nsecs, qname) {
        Ok(entry) => entry,
        Err(reason) => return Denial::Bogus(reason),
    };
    // An empty non-terminal: the next name lies below the name asked.
    if nsec.next_name != *qname && nsec.next_name.is_subdomain_of(qname) {
        return Denial::proven(DenialKind::EmptyNonTerminal, None);
    }
    // Otherwise a wildcard at the closest encloser must match, without the type.
    let encloser = closest_encloser(owner, nsec, qname);
    let Some(wildcard) = wildcard_of(&encloser) else {
        return Denial::Bogus(BogusReason::NoMatchingRecord);
    };
    match nsecs.iter().find(|(owner, _)| *owner == wildcard) {
        Some((_, wildcard_nsec)) => match check_types(wildcard_nsec, qtype) {
            Ok(()) => Denial::proven(DenialKind::WildcardNoData, Some(encloser)),
            Err(reason) => Denial::Bogus(reason),
        },
        None => Denial::Bogus(BogusReason::NoMatchingRecord),
    }
}

/// Proves that an answer for `qname`, signed with RRSIG labels field
/// `labels` (so expanded from `*.` plus the rightmost `labels` labels),
/// had no closer match: the next closer name does not exist.
pub fn prove_wildcard_answer(qname: &Name, labels: u8, zone: &Name, records: &[Record]) -> Denial {
    if !qname.is_subdomain_of(zone) {
        return Denial::Bogus(BogusReason::OutsideZone);
    }
    let labels = usize::from(labels);
    if labels >= qname.label_count() {
        return Denial::Bogus(BogusReason::NotWildcard);
    }
    let encloser = qname.suffix(labels);
    if !encloser.is_subdomain_of(zone) {
        return Denial::Bogus(BogusReason::OutsideZone);
    }
    let next_closer = qname.suffix(labels + 1);
    let nsecs = collect(zone, records);
    if nsecs.is_empty() {
        return Denial::Bogus(BogusReason::NoRecords);
    }
    match find_covering(&nsecs, &next_closer) {
        Ok(_) => Denial::proven(DenialKind::WildcardAnswer, Some(encloser)),
        Err(reason) => Denial::Bogus(reason),
    }
}
