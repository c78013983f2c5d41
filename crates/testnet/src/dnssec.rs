//! The DNSSEC records an authoritative test server adds to an answer when
//! the query sets DO (RFC 3225): the RRSIGs covering the RRsets it returns,
//! the DS RRset (or the proof of its absence) of a referral, and the NSEC
//! or NSEC3 records that deny a name, a type or a closer match than a
//! wildcard.
//!
//! Implements the server side of RFC 4035 §3.1 (RRSIG, NSEC, DS in
//! responses) and RFC 5155 §7.2 (closest encloser proofs with NSEC3). The
//! zones are signed beforehand (for example by ldns-signzone); nothing here
//! signs.
//!
//! # Limitations
//! - The denial chain of a zone is whatever NSEC or NSEC3 records it holds;
//!   the NSEC3 parameters are those of its first NSEC3 record.
//! - An unsigned delegation in an NSEC3 zone with opt-out gets no proof
//!   when no NSEC3 record matches the delegation name.
//! - Records missing from the zone (no RRSIG, no NSEC) are simply left out:
//!   broken zones give broken answers, on purpose.

use crate::zone::Zone;
use hanse_resolve::hanse_dnssec::Nsec3;
use hanse_resolve::hanse_dnssec::nsec3::{decode_base32hex, hash_name};
use hanse_wire::{Name, RType, Record};

/// The RRSIGs at `node` covering `rtype`, with owners rewritten to `owner`
/// (which differs from `node` for an expanded wildcard).
pub(crate) fn signatures(zone: &Zone, node: &Name, owner: &Name, rtype: RType) -> Vec<Record> {
    zone.records_at(node)
        .filter(|record| {
            record.rtype == RType::RRSIG
                && record.data.len() >= 2
                && record.data[..2] == rtype.0.to_be_bytes()
        })
        .map(|record| Record {
            name: owner.clone(),
            ..record.clone()
        })
        .collect()
}

/// `records` followed by the RRSIGs of each of their RRsets that `zone`
/// holds; `sources` maps the owner of an expanded wildcard to the wildcard
/// node whose signatures apply.
pub(crate) fn sign_section(
    zone: &Zone,
    records: &[Record],
    sources: &[(Name, Name)],
) -> Vec<Record> {
    let mut signed: Vec<Record> = records.to_vec();
    let mut done: Vec<(&Name, RType)> = Vec::new();
    for record in records {
        if record.rtype == RType::RRSIG || done.contains(&(&record.name, record.rtype)) {
            continue;
        }
        done.push((&record.name, record.rtype));
        let node = sources
            .iter()
            .find(|(owner, _)| *owner == record.name)
            .map_or(&record.name, |(_, node)| node);
        signed.extend(signatures(zone, node, &record.name, record.rtype));
    }
    signed
}

/// The records of a referral to `cut`: its signed DS RRset, or the signed
/// NSEC or NSEC3 record that proves there is none.
pub(crate) fn delegation(zone: &Zone, cut: &Name) -> Vec<Record> {
    let ds = zone.rrset(cut, RType::DS);
    if !ds.is_empty() {
        let mut records = ds;
        records.extend(signatures(zone, cut, cut, RType::DS));
        return records;
    }
    let mut proof = Proof::default();
    match Chain::of(zone) {
        Chain::Nsec => proof.add_nsec(zone, cut),
        Chain::Nsec3(parameters) => proof.add_nsec3(zone, &parameters, cut, Match::Exact),
        Chain::None => {}
    }
    proof.finish(zone)
}

/// The denial records of an NXDOMAIN answer for `name`.
pub(crate) fn deny_name(zone: &Zone, name: &Name) -> Vec<Record> {
    let encloser = closest_encloser(zone, name);
    let wildcard = encloser.prepend(b"*").ok();
    let mut proof = Proof::default();
    match Chain::of(zone) {
        Chain::Nsec => {
            proof.add_nsec(zone, name);
            if let Some(wildcard) = &wildcard {
                proof.add_nsec(zone, wildcard);
            }
        }
        Chain::Nsec3(parameters) => {
            proof.add_nsec3(zone, &parameters, &encloser, Match::Exact);
            let next_closer = name.suffix(encloser.label_count() + 1);
            proof.add_nsec3(zone, &parameters, &next_closer, Match::Cover);
            if let Some(wildcard) = &wildcard {
                proof.add_nsec3(zone, &parameters, wildcard, Match::Cover);
            }
        }
        Chain::None => {}
    }
    proof.finish(zone)
}

/// The denial records of a NODATA answer for `name`, found at `node` (a
/// wildcard when it differs from `name`).
pub(crate) fn deny_type(zone: &Zone, name: &Name, node: &Name) -> Vec<Record> {
    let mut proof = Proof::default();
    match Chain::of(zone) {
        Chain::Nsec => {
            proof.add_nsec(zone, node);
            if node != name {
                proof.add_nsec(zone, name);
            }
        }
        Chain::Nsec3(parameters) => {
            proof.add_nsec3(zone, &parameters, node, Match::Exact);
            if node != name {
                add_next_closer(zone, &parameters, name, node, &mut proof);
            }
        }
        Chain::None => {}
    }
    proof.finish(zone)
}

/// The records that prove no closer match than the wildcard `node` exists
/// for `name` (RFC 4035 §3.1.3.3, RFC 5155 §7.2.6).
pub(crate) fn deny_closer_match(zone: &Zone, name: &Name, node: &Name) -> Vec<Record> {
    let mut proof = Proof::default();
    match Chain::of(zone) {
        Chain::Nsec => proof.add_nsec(zone, name),
        Chain::Nsec3(parameters) => add_next_closer(zone, &parameters, name, node, &mut proof),
        Chain::None => {}
    }
    proof.finish(zone)
}

/// The NSEC3 record covering the next closer name of `name` below the
/// closest encloser, the parent of the wildcard `node`.
fn add_next_closer(zone: &Zone, parameters: &Nsec3, name: &Name, node: &Name, proof: &mut Proof) {
    let encloser_labels = node.label_count().saturating_sub(1);
    if name.label_count() > encloser_labels {
        let next_closer = name.suffix(encloser_labels + 1);
        proof.add_nsec3(zone, parameters, &next_closer, Match::Cover);
    }
}

/// The longest ancestor of `name` that exists in `zone` (RFC 4592 §3.3.1).
fn closest_encloser(zone: &Zone, name: &Name) -> Name {
    let origin_labels = zone.origin().label_count();
    (origin_labels..name.label_count())
        .rev()
        .map(|count| name.suffix(count))
        .find(|ancestor| zone.name_exists(ancestor))
        .unwrap_or_else(|| zone.origin().clone())
}

/// The kind of denial chain a zone holds.
enum Chain {
    Nsec,
    Nsec3(Nsec3),
    None,
}

impl Chain {
    fn of(zone: &Zone) -> Chain {
        if zone
            .records()
            .iter()
            .any(|record| record.rtype == RType::NSEC)
        {
            return Chain::Nsec;
        }
        zone.records()
            .iter()
            .filter(|record| record.rtype == RType::NSEC3)
            .find_map(|record| Nsec3::parse(&record.data).ok())
            .map_or(Chain::None, Chain::Nsec3)
    }
}

/// Whether an NSEC3 record must match a name's hash or cover it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Match {
    Exact,
    Cover,
}

/// The denial records chosen so far, without duplicates.
#[derive(Default)]
struct Proof {
    records: Vec<Record>,
}

impl Proof {
    fn push(&mut self, record: &Record) {
        if !self.records.contains(record) {
            self.records.push(record.clone());
        }
    }

    /// The NSEC record owned by `name`, or else the one covering it.
    fn add_nsec(&mut self, zone: &Zone, name: &Name) {
        let chain: Vec<&Record> = zone
            .records()
            .iter()
            .filter(|record| record.rtype == RType::NSEC)
            .collect();
        if let Some(matching) = chain.iter().find(|record| record.name == *name) {
            self.push(matching);
            return;
        }
        let covering = chain.iter().find(|record| {
            let Ok(next) = Name::from_wire(&record.data[..wire_name_length(&record.data)]) else {
                return false;
            };
            if record.name < next {
                record.name < *name && *name < next
            } else {
                // The last NSEC of the chain points back to the apex.
                record.name < *name
            }
        });
        if let Some(covering) = covering {
            self.push(covering);
        }
    }

    /// The NSEC3 record whose owner hash matches, or whose span covers,
    /// the hash of `name`.
    fn add_nsec3(&mut self, zone: &Zone, parameters: &Nsec3, name: &Name, wanted: Match) {
        let hash = hash_name(name, &parameters.salt, parameters.iterations);
        let found = zone
            .records()
            .iter()
            .filter(|record| record.rtype == RType::NSEC3)
            .find(|record| {
                let (Some(owner), Ok(nsec3)) = (owner_hash(record), Nsec3::parse(&record.data))
                else {
                    return false;
                };
                let next: &[u8] = &nsec3.next_hashed_owner;
                match wanted {
                    Match::Exact => owner == hash,
                    Match::Cover if owner.as_slice() < next => {
                        owner.as_slice() < hash.as_slice() && hash.as_slice() < next
                    }
                    Match::Cover => owner.as_slice() < hash.as_slice() || hash.as_slice() < next,
                }
            });
        if let Some(found) = found {
            self.push(found);
        }
    }

    /// The chosen records, each followed by its RRSIGs.
    fn finish(self, zone: &Zone) -> Vec<Record> {
        let mut records = Vec::new();
        for record in self.records {
            let signatures = signatures(zone, &record.name, &record.name, record.rtype);
            records.push(record);
            records.extend(signatures);
        }
        records
    }
}

/// The hash in the first label of an NSEC3 owner name.
fn owner_hash(record: &Record) -> Option<Vec<u8>> {
    decode_base32hex(record.name.first_label()?)
}

/// The length of the uncompressed name at the start of `data` (the whole
/// of `data` if the name does not end).
fn wire_name_length(data: &[u8]) -> usize {
    let mut position = 0;
    while let Some(&length) = data.get(position) {
        position += 1 + usize::from(length);
        if length == 0 {
            return position.min(data.len());
        }
    }
    data.len()
}
