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

#[cfg(test)]
mod tests {
    use crate::answer::{answer_query, answer_question};
    use crate::zone::Zone;
    use hanse_resolve::hanse_dnssec::nsec3::{encode_base32hex, hash_name};
    use hanse_wire::{Class, Name, RType, Rcode, Record};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn record(owner: &str, rtype: RType, data: Vec<u8>) -> Record {
        Record {
            name: name(owner),
            rtype,
            class: Class::IN,
            ttl: 300,
            data: data.into(),
        }
    }

    /// A stand-in signature: only the covered type is real.
    fn rrsig(owner: &str, covered: RType) -> Record {
        let mut data = covered.0.to_be_bytes().to_vec();
        data.extend_from_slice(&[13, 2, 0, 0, 1, 44]);
        data.extend_from_slice(owner.as_bytes());
        record(owner, RType::RRSIG, data)
    }

    fn nsec(owner: &str, next: &str) -> Record {
        let mut data = name(next).as_wire().to_vec();
        data.extend_from_slice(&[0, 1, 0x40]);
        record(owner, RType::NSEC, data)
    }

    fn soa(owner: &str) -> Record {
        let mut data = name("ns.example.").as_wire().to_vec();
        data.extend_from_slice(name("admin.example.").as_wire());
        for field in [1u32, 7200, 900, 1_209_600, 60] {
            data.extend_from_slice(&field.to_be_bytes());
        }
        record(owner, RType::SOA, data)
    }

    fn a(owner: &str) -> Record {
        record(owner, RType::A, vec![192, 0, 2, 1])
    }

    fn ns(owner: &str, target: &str) -> Record {
        record(owner, RType::NS, name(target).as_wire().to_vec())
    }

    /// `example.` signed with NSEC: `www`, a wildcard below `wild`, a
    /// signed delegation `signed` and an unsigned one `plain`.
    fn nsec_zone() -> Zone {
        let mut records = vec![
            soa("example."),
            rrsig("example.", RType::SOA),
            a("www.example."),
            rrsig("www.example.", RType::A),
            a("*.wild.example."),
            rrsig("*.wild.example.", RType::A),
            ns("signed.example.", "ns.signed.example."),
            record("signed.example.", RType::DS, vec![1, 2, 13, 2, 9]),
            rrsig("signed.example.", RType::DS),
            ns("plain.example.", "ns.plain.example."),
        ];
        let chain = [
            "example.",
            "plain.example.",
            "signed.example.",
            "*.wild.example.",
            "www.example.",
        ];
        for (index, owner) in chain.iter().enumerate() {
            let next = chain[(index + 1) % chain.len()];
            records.push(nsec(owner, next));
            records.push(rrsig(owner, RType::NSEC));
        }
        Zone::from_records(name("example."), records)
    }

    fn count(records: &[Record], rtype: RType) -> usize {
        records
            .iter()
            .filter(|record| record.rtype == rtype)
            .count()
    }

    #[test]
    fn answers_carry_signatures_only_with_do() {
        let zones = [nsec_zone()];
        let plain = answer_question(&zones, &name("www.example."), RType::A);
        assert_eq!(plain.answers, vec![a("www.example.")]);
        let signed = answer_query(&zones, &name("www.example."), RType::A, true);
        assert_eq!(
            signed.answers,
            vec![a("www.example."), rrsig("www.example.", RType::A)]
        );
    }

    #[test]
    fn ds_comes_from_the_parent_side_and_referrals_carry_it() {
        let zones = [nsec_zone()];
        let ds = answer_query(&zones, &name("signed.example."), RType::DS, true);
        assert!(ds.authoritative);
        assert_eq!(count(&ds.answers, RType::DS), 1);
        assert_eq!(count(&ds.answers, RType::RRSIG), 1);
        let referral = answer_query(&zones, &name("www.signed.example."), RType::A, true);
        assert!(referral.is_referral());
        assert_eq!(count(&referral.authorities, RType::DS), 1);
        assert_eq!(count(&referral.authorities, RType::RRSIG), 1);
        // An unsigned delegation: the NSEC at the cut denies the DS.
        let referral = answer_query(&zones, &name("www.plain.example."), RType::A, true);
        assert!(referral.is_referral());
        assert_eq!(count(&referral.authorities, RType::DS), 0);
        let nsec: Vec<&Record> = referral
            .authorities
            .iter()
            .filter(|record| record.rtype == RType::NSEC)
            .collect();
        assert_eq!(nsec.len(), 1);
        assert_eq!(nsec[0].name, name("plain.example."));
        // A DS query for a missing DS is NODATA from the parent.
        let missing = answer_query(&zones, &name("plain.example."), RType::DS, true);
        assert!(missing.authoritative);
        assert!(missing.answers.is_empty());
        assert_eq!(count(&missing.authorities, RType::NSEC), 1);
    }

    #[test]
    fn nxdomain_proves_the_name_and_the_wildcard_absent() {
        let zones = [nsec_zone()];
        let answer = answer_query(&zones, &name("zzz.example."), RType::A, true);
        assert_eq!(answer.rcode, Rcode::NXDOMAIN);
        // The SOA and its RRSIG, then the last NSEC (covers zzz, wraps) and
        // the apex NSEC (covers *.example.), each with its RRSIG.
        let owners: Vec<(Name, RType)> = answer
            .authorities
            .iter()
            .map(|record| (record.name.clone(), record.rtype))
            .collect();
        assert_eq!(
            owners,
            vec![
                (name("example."), RType::SOA),
                (name("example."), RType::RRSIG),
                (name("www.example."), RType::NSEC),
                (name("www.example."), RType::RRSIG),
                (name("example."), RType::NSEC),
                (name("example."), RType::RRSIG),
            ]
        );
    }

    #[test]
    fn wildcard_answers_are_signed_by_the_source_and_deny_a_closer_match() {
        let zones = [nsec_zone()];
        let answer = answer_query(&zones, &name("host.wild.example."), RType::A, true);
        assert_eq!(answer.rcode, Rcode::NOERROR);
        assert_eq!(answer.answers[0], a("host.wild.example."));
        let signature = &answer.answers[1];
        assert_eq!(signature.rtype, RType::RRSIG);
        assert_eq!(signature.name, name("host.wild.example."));
        assert!(signature.data.ends_with(b"*.wild.example."));
        assert_eq!(answer.authorities, {
            let mut proof = vec![nsec("*.wild.example.", "www.example.")];
            proof.push(rrsig("*.wild.example.", RType::NSEC));
            proof
        });
    }

    #[test]
    fn nsec3_nxdomain_has_the_closest_encloser_proof() {
        let origin = name("example.");
        let hashes: Vec<[u8; 20]> = ["example.", "www.example."]
            .iter()
            .map(|owner| hash_name(&name(owner), &[], 0))
            .collect();
        let mut sorted = hashes.clone();
        sorted.sort();
        let mut records = vec![
            soa("example."),
            rrsig("example.", RType::SOA),
            a("www.example."),
        ];
        for (index, hash) in sorted.iter().enumerate() {
            let next = sorted[(index + 1) % sorted.len()];
            let owner = format!("{}.example.", encode_base32hex(hash));
            let mut data = vec![1, 0, 0, 0, 0, 20];
            data.extend_from_slice(&next);
            data.extend_from_slice(&[0, 1, 0x40]);
            records.push(record(&owner, RType::NSEC3, data));
            records.push(rrsig(&owner, RType::NSEC3));
        }
        let zones = [Zone::from_records(origin, records)];
        let answer = answer_query(&zones, &name("missing.example."), RType::A, true);
        assert_eq!(answer.rcode, Rcode::NXDOMAIN);
        let nsec3: Vec<&Record> = answer
            .authorities
            .iter()
            .filter(|record| record.rtype == RType::NSEC3)
            .collect();
        // The apex matches; with two records in the chain each name is
        // covered by one of them, so both appear.
        let apex = format!("{}.example.", encode_base32hex(&hashes[0]));
        assert!(nsec3.iter().any(|record| record.name == name(&apex)));
        assert_eq!(nsec3.len(), 2);
        assert_eq!(count(&answer.authorities, RType::RRSIG), 3);
    }
}
