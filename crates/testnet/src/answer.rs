//! The authoritative answer to one question from the zones a server serves,
//! independent of any transport.
//!
//! Implements the server algorithm of RFC 1034 §4.3.2: the closest enclosing
//! zone is chosen; below a zone cut the answer is a referral (NS RRset in the
//! authority section, AA clear, glue for nameserver names in the delegated zone
//! or in any zone this server serves); an exact match answers with AA set; a
//! CNAME is answered and followed while its target stays in the same zone;
//! DNAME substitution synthesises a CNAME (RFC 6672 §3.2); wildcards are
//! expanded (RFC 4592 §3.3); NXDOMAIN and NODATA, empty non-terminals
//! included, carry the zone's SOA with TTL min(SOA TTL, MINIMUM) (RFC 2308 §3).
//!
//! # Limitations
//! - DNSSEC records (with DO, see [`answer_query`]) come from zones signed
//!   beforehand; a DS query is answered from the parent side of a cut when
//!   this server serves the parent (RFC 4035 §3.1.4.1), else from the child.
//! - Glue is every A and AAAA record owned by a nameserver name in any zone
//!   this server serves, whether or not that name is below the zone cut.
//! - Only class IN is served.

use crate::dnssec;
use crate::zone::Zone;
use hanse_wire::{Name, RType, Rcode, Record};

/// How many CNAME or DNAME steps one answer follows inside a zone.
pub const MAX_CHAIN_STEPS: usize = 8;

/// YXDOMAIN (RFC 2136), the response code for a DNAME substitution whose
/// result would be too long (RFC 6672 §2.2).
pub const YXDOMAIN: Rcode = Rcode(6);

/// What the server answers, before it is put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The response code.
    pub rcode: Rcode,
    /// The AA flag.
    pub authoritative: bool,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section.
    pub authorities: Vec<Record>,
    /// The additional section.
    pub additionals: Vec<Record>,
}

impl Answer {
    /// An empty answer with `rcode` and AA clear.
    pub fn with_rcode(rcode: Rcode) -> Answer {
        Answer {
            rcode,
            authoritative: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }

    /// Whether this is a referral: no answer, AA clear, NS records in the
    /// authority section.
    pub fn is_referral(&self) -> bool {
        !self.authoritative
            && self.answers.is_empty()
            && self
                .authorities
                .iter()
                .any(|record| record.rtype == RType::NS)
    }
}

/// What one zone holds for one name and type.
enum Lookup {
    /// The name is at or below a zone cut: the NS RRset at the cut.
    Referral(Vec<Record>),
    /// A DNAME at an ancestor of the name, and the synthesised CNAME (or the
    /// error that the substituted name is too long).
    Dname(Record, Option<Record>),
    /// A CNAME at the name (possibly synthesised from a wildcard), and the
    /// node it came from.
    Cname(Record, Name),
    /// The RRset asked for, and the node it came from (a wildcard when it
    /// differs from the name).
    Data(Vec<Record>, Name),
    /// The name exists without data of this type; the node that says so.
    NoData(Name),
    /// The name does not exist.
    NxDomain,
}

/// Answers `name`/`rtype` from `zones` as an authoritative server would,
/// without DNSSEC records.
pub fn answer_question(zones: &[Zone], name: &Name, rtype: RType) -> Answer {
    answer_query(zones, name, rtype, false)
}

/// Answers `name`/`rtype` from `zones` as an authoritative server would;
/// with `dnssec_ok` (the query's DO bit) the answer carries the RRSIGs,
/// DS records and NSEC or NSEC3 proofs the zone holds (RFC 4035 §3.1).
pub fn answer_query(zones: &[Zone], name: &Name, rtype: RType, dnssec_ok: bool) -> Answer {
    let Some(zone) = zone_for(zones, name, rtype) else {
        return Answer::with_rcode(Rcode::REFUSED);
    };
    let mut answer = Answer::with_rcode(Rcode::NOERROR);
    answer.authoritative = true;
    // Owners of expanded wildcards and the wildcard nodes they came from.
    let mut sources: Vec<(Name, Name)> = Vec::new();
    let mut proofs: Vec<Record> = Vec::new();
    let mut current = name.clone();
    let mut visited = vec![current.clone()];
    for step in 0..=MAX_CHAIN_STEPS {
        let next = match lookup(zone, &current, rtype) {
            Lookup::Referral(cut) => {
                if step == 0 {
                    answer.authoritative = false;
                }
                answer.additionals = glue(zones, &cut);
                if dnssec_ok && let Some(first) = cut.first() {
                    proofs = dnssec::delegation(zone, &first.name);
                }
                answer.authorities = cut;
                break;
            }
            Lookup::Dname(dname, synthesised) => {
                answer.answers.push(dname);
                let Some(cname) = synthesised else {
                    answer.rcode = YXDOMAIN;
                    break;
                };
                let target = cname.target_name();
                answer.answers.push(cname);
                target
            }
            Lookup::Cname(cname, node) => {
                if dnssec_ok && node != cname.name {
                    proofs.extend(dnssec::deny_closer_match(zone, &current, &node));
                    sources.push((cname.name.clone(), node));
                }
                let target = cname.target_name();
                answer.answers.push(cname);
                target
            }
            Lookup::Data(records, node) => {
                if dnssec_ok && node != current {
                    proofs.extend(dnssec::deny_closer_match(zone, &current, &node));
                    sources.push((current.clone(), node));
                }
                answer.answers.extend(records);
                break;
            }
            Lookup::NoData(node) => {
                answer.authorities.extend(negative_soa(zone));
                if dnssec_ok {
                    proofs.extend(dnssec::deny_type(zone, &current, &node));
                }
                break;
            }
            Lookup::NxDomain => {
                answer.rcode = Rcode::NXDOMAIN;
                answer.authorities.extend(negative_soa(zone));
                if dnssec_ok {
                    proofs.extend(dnssec::deny_name(zone, &current));
                }
                break;
            }
        };
        // Follow the chain only inside this zone, and never in a circle.
        let Some(next) = next else { break };
        if !next.is_subdomain_of(zone.origin()) || visited.contains(&next) {
            break;
        }
        visited.push(next.clone());
        current = next;
    }
    if dnssec_ok {
        answer.answers = dnssec::sign_section(zone, &answer.answers, &sources);
        if !answer.is_referral() {
            answer.authorities = dnssec::sign_section(zone, &answer.authorities, &[]);
        }
        for record in proofs {
            if !answer.authorities.contains(&record) {
                answer.authorities.push(record);
            }
        }
    }
    answer
}

/// The zone that answers `name`/`rtype`: the closest enclosing zone, but
/// the parent side of a zone cut for DS (RFC 4035 §3.1.4.1) when this
/// server serves the parent.
fn zone_for<'a>(zones: &'a [Zone], name: &Name, rtype: RType) -> Option<&'a Zone> {
    if rtype == RType::DS && !name.is_root() {
        let parent = zones
            .iter()
            .filter(|zone| name.is_subdomain_of(zone.origin()) && zone.origin() != name)
            .max_by_key(|zone| zone.origin().label_count());
        if parent.is_some() {
            return parent;
        }
    }
    closest_zone(zones, name)
}

/// The zone with the longest origin that `name` is in.
fn closest_zone<'a>(zones: &'a [Zone], name: &Name) -> Option<&'a Zone> {
    zones
        .iter()
        .filter(|zone| name.is_subdomain_of(zone.origin()))
        .max_by_key(|zone| zone.origin().label_count())
}

fn lookup(zone: &Zone, name: &Name, rtype: RType) -> Lookup {
    let origin_labels = zone.origin().label_count();
    let total = name.label_count();
    // Walk down from the apex: a zone cut or a DNAME above the name wins.
    for count in origin_labels..=total {
        let node = name.suffix(count);
        // The DS RRset at a cut belongs to the parent side (RFC 4035 §2.4).
        let parent_side = rtype == RType::DS && count == total;
        if count > origin_labels && !parent_side {
            let cut = zone.rrset(&node, RType::NS);
            if !cut.is_empty() {
                return Lookup::Referral(cut);
            }
        }
        if count < total
            && let Some(dname) = zone.rrset(&node, RType::DNAME).into_iter().next()
        {
            return substitute(dname, name);
        }
    }
    if zone.records_at(name).next().is_some() {
        return match_node(zone, name, name, rtype);
    }
    if zone.name_exists(name) {
        return Lookup::NoData(name.clone());
    }
    // RFC 4592 §3.3.1: the closest encloser is the longest existing ancestor;
    // the source of synthesis is the wildcard directly below it.
    let encloser = (origin_labels..total)
        .rev()
        .map(|count| name.suffix(count))
        .find(|ancestor| zone.name_exists(ancestor))
        .unwrap_or_else(|| zone.origin().clone());
    match encloser.prepend(b"*") {
        Ok(source) if zone.records_at(&source).next().is_some() => {
            match_node(zone, &source, name, rtype)
        }
        _ => Lookup::NxDomain,
    }
}

/// The data at `node` (which owns records) for `rtype`, with owners
/// rewritten to `owner` (which differs from `node` for wildcards).
fn match_node(zone: &Zone, node: &Name, owner: &Name, rtype: RType) -> Lookup {
    let rename = |record: &Record| Record {
        name: owner.clone(),
        ..record.clone()
    };
    let records: Vec<&Record> = zone.records_at(node).collect();
    if rtype != RType::CNAME
        && let Some(cname) = records.iter().find(|record| record.rtype == RType::CNAME)
    {
        return Lookup::Cname(rename(cname), node.clone());
    }
    let data: Vec<Record> = records
        .iter()
        .filter(|record| rtype == RType::ANY || record.rtype == rtype)
        .map(|record| rename(record))
        .collect();
    if data.is_empty() {
        Lookup::NoData(node.clone())
    } else {
        Lookup::Data(data, node.clone())
    }
}

/// DNAME substitution (RFC 6672 §2.2): the CNAME synthesised for `name`.
fn substitute(dname: Record, name: &Name) -> Lookup {
    let Some(target) = dname.target_name() else {
        return Lookup::Dname(dname, None);
    };
    let cname = match name.replace_suffix(&dname.name, &target) {
        Some(Ok(substituted)) => Some(Record {
            name: name.clone(),
            rtype: RType::CNAME,
            class: dname.class,
            ttl: dname.ttl,
            data: substituted.as_wire().into(),
        }),
        _ => None,
    };
    Lookup::Dname(dname, cname)
}

/// The SOA for a negative answer, with TTL min(SOA TTL, MINIMUM) (RFC 2308 §3).
fn negative_soa(zone: &Zone) -> Option<Record> {
    let soa = zone.soa()?;
    let minimum = soa.soa_minimum().unwrap_or(soa.ttl);
    Some(Record {
        ttl: soa.ttl.min(minimum),
        ..soa.clone()
    })
}

/// The A and AAAA records, from any served zone, of the nameserver names of `cut`.
fn glue(zones: &[Zone], cut: &[Record]) -> Vec<Record> {
    let mut glue: Vec<Record> = Vec::new();
    for target in cut.iter().filter_map(Record::target_name) {
        for zone in zones {
            for record in zone.records_at(&target) {
                let address = record.rtype == RType::A || record.rtype == RType::AAAA;
                if address && !glue.contains(record) {
                    glue.push(record.clone());
                }
            }
        }
    }
    glue
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::Class;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn record(owner: &str, rtype: RType, ttl: u32, data: &[u8]) -> Record {
        Record {
            name: name(owner),
            rtype,
            class: Class::IN,
            ttl,
            data: data.into(),
        }
    }

    fn name_record(owner: &str, rtype: RType, target: &str) -> Record {
        record(owner, rtype, 300, name(target).as_wire())
    }

    fn soa(owner: &str, ttl: u32, minimum: u32) -> Record {
        let mut data = name("ns.example.").as_wire().to_vec();
        data.extend_from_slice(name("admin.example.").as_wire());
        for field in [1u32, 7200, 900, 1_209_600, minimum] {
            data.extend_from_slice(&field.to_be_bytes());
        }
        record(owner, RType::SOA, ttl, &data)
    }

    fn a(owner: &str, last: u8) -> Record {
        record(owner, RType::A, 300, &[192, 0, 2, last])
    }

    /// The zone `example.com.` with a delegation, aliases and a wildcard.
    fn example_zone() -> Zone {
        Zone::from_records(
            name("example.com."),
            vec![
                soa("example.com.", 3600, 60),
                name_record("example.com.", RType::NS, "ns1.example.com."),
                a("ns1.example.com.", 1),
                a("www.example.com.", 2),
                name_record("alias.example.com.", RType::CNAME, "www.example.com."),
                name_record("outside.example.com.", RType::CNAME, "web.example.net."),
                name_record("loop1.example.com.", RType::CNAME, "loop2.example.com."),
                name_record("loop2.example.com.", RType::CNAME, "loop1.example.com."),
                name_record("sub.example.com.", RType::NS, "ns.sub.example.com."),
                name_record("sub.example.com.", RType::NS, "ns.example.org."),
                a("ns.sub.example.com.", 3),
                name_record("old.example.com.", RType::DNAME, "new.example.com."),
                a("www.new.example.com.", 4),
                a("host.deep.ent.example.com.", 5),
                a("*.wild.example.com.", 6),
                name_record(
                    "*.alias-wild.example.com.",
                    RType::CNAME,
                    "www.example.com.",
                ),
                record("txt.example.com.", RType::TXT, 300, b"\x05hello"),
            ],
        )
    }

    fn ask(text: &str, rtype: RType) -> Answer {
        let other = Zone::from_records(
            name("example.org."),
            vec![soa("example.org.", 3600, 3600), a("ns.example.org.", 9)],
        );
        answer_question(&[example_zone(), other], &name(text), rtype)
    }

    #[test]
    fn exact_match_is_authoritative() {
        let answer = ask("WWW.example.com.", RType::A);
        assert_eq!(answer.rcode, Rcode::NOERROR);
        assert!(answer.authoritative);
        assert_eq!(answer.answers, vec![a("WWW.example.com.", 2)]);
        assert!(answer.authorities.is_empty());
    }

    #[test]
    fn referral_carries_glue_from_the_child_and_other_served_zones() {
        let answer = ask("www.sub.example.com.", RType::A);
        assert!(answer.is_referral());
        assert_eq!(answer.rcode, Rcode::NOERROR);
        assert_eq!(answer.authorities.len(), 2);
        assert!(
            answer
                .authorities
                .iter()
                .all(|record| record.rtype == RType::NS)
        );
        assert_eq!(
            answer.additionals,
            vec![a("ns.sub.example.com.", 3), a("ns.example.org.", 9)]
        );
        // The cut itself, for any type but DS handling, is a referral too.
        assert!(ask("sub.example.com.", RType::NS).is_referral());
    }

    #[test]
    fn cname_is_followed_inside_the_zone() {
        let answer = ask("alias.example.com.", RType::A);
        assert!(answer.authoritative);
        assert_eq!(
            answer.answers,
            vec![
                name_record("alias.example.com.", RType::CNAME, "www.example.com."),
                a("www.example.com.", 2)
            ]
        );
        // A CNAME query returns the CNAME itself.
        assert_eq!(ask("alias.example.com.", RType::CNAME).answers.len(), 1);
        // A target outside the zone is left to the resolver.
        let answer = ask("outside.example.com.", RType::A);
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(answer.rcode, Rcode::NOERROR);
        assert!(answer.authorities.is_empty());
    }

    #[test]
    fn cname_loop_stops_at_the_first_repeated_name() {
        let answer = ask("loop1.example.com.", RType::A);
        assert_eq!(answer.answers.len(), 2);
        assert_eq!(answer.rcode, Rcode::NOERROR);
    }

    #[test]
    fn dname_synthesises_a_cname() {
        let answer = ask("www.old.example.com.", RType::A);
        assert!(answer.authoritative);
        assert_eq!(
            answer.answers,
            vec![
                name_record("old.example.com.", RType::DNAME, "new.example.com."),
                name_record("www.old.example.com.", RType::CNAME, "www.new.example.com."),
                a("www.new.example.com.", 4),
            ]
        );
        // The DNAME owner itself is not substituted.
        assert_eq!(ask("old.example.com.", RType::DNAME).answers.len(), 1);
        // A substitution too long for a name is YXDOMAIN.
        let long = format!(
            "{}.{}.{}.old.example.com.",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63)
        );
        let zone = Zone::from_records(
            name("example.com."),
            vec![name_record(
                "old.example.com.",
                RType::DNAME,
                &format!("{}.{}.example.", "d".repeat(60), "e".repeat(60)),
            )],
        );
        let answer = answer_question(&[zone], &name(&long), RType::A);
        assert_eq!(answer.rcode, YXDOMAIN);
        assert_eq!(answer.answers.len(), 1);
    }

    #[test]
    fn wildcard_is_expanded_to_the_query_name() {
        let answer = ask("anything.wild.example.com.", RType::A);
        assert!(answer.authoritative);
        assert_eq!(answer.answers, vec![a("anything.wild.example.com.", 6)]);
        assert_eq!(
            ask("anything.wild.example.com.", RType::AAAA).answers,
            vec![]
        );
        // Only one label below the closest encloser matches directly; deeper names too (RFC 4592 §2.2.1).
        assert_eq!(ask("a.b.wild.example.com.", RType::A).answers.len(), 1);
        let answer = ask("x.alias-wild.example.com.", RType::A);
        assert_eq!(
            answer.answers[0],
            name_record(
                "x.alias-wild.example.com.",
                RType::CNAME,
                "www.example.com."
            )
        );
        assert_eq!(answer.answers[1], a("www.example.com.", 2));
    }

    #[test]
    fn nxdomain_carries_the_soa_with_the_negative_ttl() {
        let answer = ask("missing.example.com.", RType::A);
        assert_eq!(answer.rcode, Rcode::NXDOMAIN);
        assert!(answer.authoritative);
        assert!(answer.answers.is_empty());
        assert_eq!(answer.authorities.len(), 1);
        assert_eq!(answer.authorities[0].rtype, RType::SOA);
        assert_eq!(answer.authorities[0].ttl, 60);
    }

    #[test]
    fn nodata_and_empty_non_terminals() {
        for (question, rtype) in [
            ("www.example.com.", RType::AAAA),
            ("ent.example.com.", RType::A),
            ("deep.ent.example.com.", RType::TXT),
        ] {
            let answer = ask(question, rtype);
            assert_eq!(answer.rcode, Rcode::NOERROR, "{question}");
            assert!(answer.answers.is_empty(), "{question}");
            assert_eq!(answer.authorities[0].rtype, RType::SOA, "{question}");
        }
        // Below an empty non-terminal, a missing name does not exist.
        assert_eq!(
            ask("nothing.ent.example.com.", RType::A).rcode,
            Rcode::NXDOMAIN
        );
    }

    #[test]
    fn names_outside_the_zones_are_refused() {
        let answer = ask("www.example.net.", RType::A);
        assert_eq!(answer.rcode, Rcode::REFUSED);
        assert!(!answer.authoritative);
    }

    #[test]
    fn the_closest_enclosing_zone_answers() {
        let parent = Zone::from_records(
            name("com."),
            vec![
                soa("com.", 3600, 3600),
                name_record("example.com.", RType::NS, "ns1.example.com."),
                a("ns1.example.com.", 1),
            ],
        );
        let answer = answer_question(
            &[parent, example_zone()],
            &name("www.example.com."),
            RType::A,
        );
        assert!(answer.authoritative);
        assert_eq!(answer.answers, vec![a("www.example.com.", 2)]);
    }
}
