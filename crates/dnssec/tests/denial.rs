//! NSEC and NSEC3 proofs built from zones signed by ldns-signzone, and the
//! worked examples of RFC 5155 Appendix B.

mod common;

use common::{EXPIRATION, INCEPTION, NOW, SignedZone, name, sign};
use hanse_dnssec::{
    AlgorithmPolicy, BogusReason, Budget, Denial, DenialKind, InsecureReason, Limits, nsec, nsec3,
    verify_signed_rrset,
};
use hanse_wire::{RType, Record};

fn proven(kind: DenialKind, encloser: Option<&str>) -> Denial {
    Denial::Proven {
        kind,
        closest_encloser: encloser.map(name),
    }
}

/// The denial records of the zone, each checked against its RRSIG first.
fn authenticated(zone: &SignedZone, rtype: RType) -> Vec<Record> {
    let records = zone.of_type(rtype);
    let rrsigs = zone.of_type(RType::RRSIG);
    let dnskeys = zone.rrset("example.", RType::DNSKEY);
    for record in &records {
        let mut budget = Budget::default();
        verify_signed_rrset(
            std::slice::from_ref(record),
            &rrsigs,
            &dnskeys,
            NOW,
            &AlgorithmPolicy::default(),
            &mut budget,
        )
        .unwrap_or_else(|error| panic!("{}: {error}", record.name));
    }
    assert!(records.len() >= 5, "{} {rtype} records", records.len());
    records
}

#[test]
fn nsec_proofs() {
    let zone = sign("ED25519", &[], INCEPTION, EXPIRATION);
    let nsecs = authenticated(&zone, RType::NSEC);
    let apex = name("example.");
    let nxdomain = |qname: &str| nsec::prove_nxdomain(&name(qname), &apex, &nsecs);
    let nodata = |qname: &str, qtype| nsec::prove_nodata(&name(qname), qtype, &apex, &nsecs);

    assert_eq!(
        nxdomain("nope.example."),
        proven(DenialKind::NameError, Some("example."))
    );
    assert_eq!(
        nxdomain("x.y.www.example."),
        proven(DenialKind::NameError, Some("www.example."))
    );
    assert_eq!(
        nxdomain("zzz.example."),
        proven(DenialKind::NameError, Some("example."))
    );
    assert_eq!(
        nxdomain("www.example."),
        Denial::Bogus(BogusReason::NameExists)
    );
    // A name the wildcard answers for does not get an NXDOMAIN.
    assert_eq!(
        nxdomain("foo.wild.example."),
        Denial::Bogus(BogusReason::WildcardExists)
    );
    // Below the unsigned delegation the parent's NSEC says nothing.
    assert_eq!(
        nxdomain("a.sub.example."),
        Denial::Bogus(BogusReason::FromDelegation)
    );
    assert_eq!(
        nxdomain("other.test."),
        Denial::Bogus(BogusReason::OutsideZone)
    );
    // Without the record that covers the wildcard, no proof.
    let only_covering: Vec<Record> = nsecs
        .iter()
        .filter(|record| record.name == name("ns1.example."))
        .cloned()
        .collect();
    assert_eq!(
        nsec::prove_nxdomain(&name("nx.example."), &apex, &only_covering),
        Denial::Bogus(BogusReason::WildcardNotDenied)
    );

    assert_eq!(
        nodata("www.example.", RType::MX),
        proven(DenialKind::NoData, None)
    );
    assert_eq!(
        nodata("www.example.", RType::A),
        Denial::Bogus(BogusReason::TypeExists)
    );
    assert_eq!(
        nodata("b.ent.example.", RType::A),
        proven(DenialKind::EmptyNonTerminal, None)
    );
    assert_eq!(
        nodata("ent.example.", RType::TXT),
        proven(DenialKind::EmptyNonTerminal, None)
    );
    assert_eq!(
        nodata("foo.wild.example.", RType::A),
        proven(DenialKind::WildcardNoData, Some("wild.example."))
    );
    assert_eq!(
        nodata("foo.wild.example.", RType::TXT),
        Denial::Bogus(BogusReason::TypeExists)
    );
    // The insecure delegation: no DS at the cut, from the parent side.
    assert_eq!(
        nodata("sub.example.", RType::DS),
        proven(DenialKind::NoData, None)
    );
    assert_eq!(
        nodata("sub.example.", RType::A),
        Denial::Bogus(BogusReason::FromDelegation)
    );
    assert_eq!(
        nodata("example.", RType::DS),
        Denial::Bogus(BogusReason::FromChildApex)
    );
    assert_eq!(
        nodata("nope.example.", RType::A),
        Denial::Bogus(BogusReason::NoMatchingRecord)
    );

    let wildcard =
        |qname: &str, labels| nsec::prove_wildcard_answer(&name(qname), labels, &apex, &nsecs);
    assert_eq!(
        wildcard("foo.wild.example.", 2),
        proven(DenialKind::WildcardAnswer, Some("wild.example."))
    );
    assert_eq!(
        wildcard("a.b.wild.example.", 2),
        proven(DenialKind::WildcardAnswer, Some("wild.example."))
    );
    assert_eq!(
        wildcard("www.example.", 1),
        Denial::Bogus(BogusReason::NameExists)
    );
    assert_eq!(
        wildcard("www.example.", 2),
        Denial::Bogus(BogusReason::NotWildcard)
    );
}

#[test]
fn nsec3_proofs() {
    let zone = sign(
        "ECDSAP256SHA256",
        &["-n", "-s", "beef", "-t", "5"],
        INCEPTION,
        EXPIRATION,
    );
    let nsec3s = authenticated(&zone, RType::NSEC3);
    let apex = name("example.");
    let nxdomain =
        |qname: &str| nsec3::prove_nxdomain(&name(qname), &apex, &nsec3s, &mut Budget::default());
    let nodata = |qname: &str, qtype| {
        nsec3::prove_nodata(&name(qname), qtype, &apex, &nsec3s, &mut Budget::default())
    };

    assert_eq!(
        nxdomain("nope.example."),
        proven(DenialKind::NameError, Some("example."))
    );
    assert_eq!(
        nxdomain("x.y.www.example."),
        proven(DenialKind::NameError, Some("www.example."))
    );
    assert_eq!(
        nxdomain("www.example."),
        Denial::Bogus(BogusReason::NameExists)
    );
    assert_eq!(
        nxdomain("foo.wild.example."),
        Denial::Bogus(BogusReason::WildcardExists)
    );
    // The cut at sub.example is the closest encloser: not usable below it.
    assert_eq!(
        nxdomain("a.sub.example."),
        Denial::Bogus(BogusReason::FromDelegation)
    );

    assert_eq!(
        nodata("www.example.", RType::MX),
        proven(DenialKind::NoData, None)
    );
    assert_eq!(
        nodata("www.example.", RType::AAAA),
        Denial::Bogus(BogusReason::TypeExists)
    );
    // Empty non-terminals have their own NSEC3 (RFC 5155 §7.1).
    assert_eq!(
        nodata("b.ent.example.", RType::A),
        proven(DenialKind::NoData, None)
    );
    assert_eq!(
        nodata("foo.wild.example.", RType::A),
        proven(DenialKind::WildcardNoData, Some("wild.example."))
    );
    assert_eq!(
        nodata("sub.example.", RType::DS),
        proven(DenialKind::NoData, None)
    );
    assert_eq!(
        nodata("sub.example.", RType::A),
        Denial::Bogus(BogusReason::FromDelegation)
    );
    assert_eq!(
        nodata("nope.example.", RType::A),
        Denial::Bogus(BogusReason::NoMatchingRecord)
    );

    let wildcard = |qname: &str, labels| {
        nsec3::prove_wildcard_answer(&name(qname), labels, &apex, &nsec3s, &mut Budget::default())
    };
    assert_eq!(
        wildcard("foo.wild.example.", 2),
        proven(DenialKind::WildcardAnswer, Some("wild.example."))
    );
    assert_eq!(
        wildcard("www.example.", 1),
        Denial::Bogus(BogusReason::NameExists)
    );

    // A missing record breaks the proof.
    let hash = nsec3::encode_base32hex(&nsec3::hash_name(&name("example."), &[0xbe, 0xef], 5));
    let without_apex: Vec<Record> = nsec3s
        .iter()
        .filter(|record| record.name != name(&format!("{hash}.example.")))
        .cloned()
        .collect();
    assert_eq!(
        without_apex.len() + 1,
        nsec3s.len(),
        "the apex NSEC3 is where the hash says"
    );
    assert!(matches!(
        nsec3::prove_nxdomain(
            &name("nope.example."),
            &apex,
            &without_apex,
            &mut Budget::default()
        ),
        Denial::Bogus(_)
    ));
}

#[test]
fn nsec3_opt_out_makes_the_delegation_and_nxdomain_insecure() {
    let zone = sign("ED25519", &["-n", "-p", "-t", "0"], INCEPTION, EXPIRATION);
    let nsec3s = authenticated(&zone, RType::NSEC3);
    let apex = name("example.");
    // ldns-signzone keeps an NSEC3 for the unsigned delegation even with -p;
    // it proves the missing DS directly.
    assert_eq!(
        nsec3::prove_nodata(
            &name("sub.example."),
            RType::DS,
            &apex,
            &nsec3s,
            &mut Budget::default()
        ),
        proven(DenialKind::NoData, None)
    );
    // A signer may leave it out of an opt-out chain (RFC 5155 §6): drop it
    // and let its predecessor span over it, as such a signer would.
    let sub_hash = nsec3::hash_name(&name("sub.example."), &[], 0);
    let sub_owner = name(&format!("{}.example.", nsec3::encode_base32hex(&sub_hash)));
    let sub_record = nsec3s
        .iter()
        .find(|record| record.name == sub_owner)
        .expect("NSEC3 of sub");
    let sub_next = hanse_dnssec::Nsec3::from_record(sub_record)
        .unwrap()
        .next_hashed_owner;
    let spanning: Vec<Record> = nsec3s
        .iter()
        .filter(|record| record.name != sub_owner)
        .map(|record| {
            let mut record = record.clone();
            let data = record.data.to_vec();
            let salt_length = usize::from(data[4]);
            let hash_start = 5 + salt_length + 1;
            if data[hash_start..hash_start + 20] == sub_hash {
                let mut data = data;
                data[hash_start..hash_start + 20].copy_from_slice(&sub_next);
                record.data = data.into();
            }
            record
        })
        .collect();
    assert_eq!(spanning.len() + 1, nsec3s.len());
    assert_eq!(
        nsec3::prove_nodata(
            &name("sub.example."),
            RType::DS,
            &apex,
            &spanning,
            &mut Budget::default()
        ),
        Denial::OptOut {
            closest_encloser: apex.clone()
        }
    );
    assert_eq!(
        nsec3::prove_nxdomain(
            &name("nope.example."),
            &apex,
            &nsec3s,
            &mut Budget::default()
        ),
        Denial::OptOut {
            closest_encloser: apex.clone()
        }
    );
    // Existing names still prove NODATA.
    assert_eq!(
        nsec3::prove_nodata(
            &name("www.example."),
            RType::MX,
            &apex,
            &nsec3s,
            &mut Budget::default()
        ),
        proven(DenialKind::NoData, None)
    );
    // A wildcard NODATA whose next closer name lies in an opt-out span:
    // an unsigned delegation could be there instead (RFC 5155 §8.7, §6).
    assert_eq!(
        nsec3::prove_nodata(
            &name("foo.wild.example."),
            RType::A,
            &apex,
            &nsec3s,
            &mut Budget::default()
        ),
        Denial::OptOut {
            closest_encloser: name("wild.example.")
        }
    );
}

#[test]
fn nsec3_iterations_and_hash_budget_are_bounded() {
    let zone = sign(
        "ED25519",
        &["-n", "-s", "ab", "-t", "151"],
        INCEPTION,
        EXPIRATION,
    );
    let nsec3s = zone.of_type(RType::NSEC3);
    let apex = name("example.");
    let mut budget = Budget::default();
    assert_eq!(
        nsec3::prove_nxdomain(&name("nope.example."), &apex, &nsec3s, &mut budget),
        Denial::Insecure(InsecureReason::TooManyIterations(151))
    );
    assert_eq!(
        budget.hashes_used(),
        0,
        "no hashing before the iteration check"
    );

    let zone = sign(
        "ED25519",
        &["-n", "-s", "ab", "-t", "150"],
        INCEPTION,
        EXPIRATION,
    );
    let nsec3s = zone.of_type(RType::NSEC3);
    let mut budget = Budget::default();
    assert_eq!(
        nsec3::prove_nxdomain(&name("nope.example."), &apex, &nsec3s, &mut budget),
        proven(DenialKind::NameError, Some("example."))
    );
    // A name 40 labels deep needs more hashes than the budget allows.
    let deep = format!("{}example.", "x.".repeat(40));
    let mut budget = Budget::default();
    assert_eq!(
        nsec3::prove_nxdomain(&name(&deep), &apex, &nsec3s, &mut budget),
        Denial::Bogus(BogusReason::BudgetExhausted)
    );
    assert_eq!(budget.hashes_used(), Limits::default().max_nsec3_hashes);
}

#[test]
fn unknown_nsec3_hash_algorithm_is_insecure() {
    let text = "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 2 0 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG\n";
    let records = hanse_zone::parse_zone(text, &name("example."), 3600).unwrap();
    assert_eq!(
        nsec3::prove_nxdomain(
            &name("a.example."),
            &name("example."),
            &records,
            &mut Budget::default()
        ),
        Denial::Insecure(InsecureReason::UnknownHashAlgorithm)
    );
}

/// RFC 5155 Appendix A: the hashes of the example zone (salt aabbccdd, 12 iterations).
#[test]
fn rfc5155_appendix_a_hashes() {
    for (owner, hash) in [
        ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
        ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
        ("ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"),
        ("ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
        ("ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r"),
        ("w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"),
        ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
        ("x.w.example.", "b4um86eghhds6nea196smvmlo4ors995"),
        ("y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"),
        ("x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s"),
        ("X.W.Example.", "b4um86eghhds6nea196smvmlo4ors995"),
    ] {
        let computed = nsec3::hash_name(&name(owner), &[0xaa, 0xbb, 0xcc, 0xdd], 12);
        assert_eq!(nsec3::encode_base32hex(&computed), hash, "{owner}");
    }
}

fn appendix_records(text: &str) -> Vec<Record> {
    hanse_zone::parse_zone(text, &name("example."), 3600).unwrap()
}

/// RFC 5155 Appendix B.1: NXDOMAIN for a.c.x.w.example. All NSEC3 records of
/// the example zone have opt-out set, so the result is insecure.
#[test]
fn rfc5155_appendix_b1_name_error() {
    let records = appendix_records(
        "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom NSEC3 1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr NS SOA MX RRSIG DNSKEY NSEC3PARAM\n\
         b4um86eghhds6nea196smvmlo4ors995 NSEC3 1 1 12 aabbccdd gjeqe526plbf1g8mklp59enfd789njgi MX RRSIG\n\
         35mthgpgcu1qg68fab165klnsnk3dpvl NSEC3 1 1 12 aabbccdd b4um86eghhds6nea196smvmlo4ors995 NS DS RRSIG\n",
    );
    let apex = name("example.");
    let mut budget = Budget::default();
    assert_eq!(
        nsec3::prove_nxdomain(&name("a.c.x.w.example."), &apex, &records, &mut budget),
        Denial::OptOut {
            closest_encloser: name("x.w.example.")
        }
    );
    // a.c.x.w, c.x.w, x.w, then *.x.w: four hashes.
    assert_eq!(budget.hashes_used(), 4);
    // The same records with opt-out cleared prove the name error outright.
    let cleared: Vec<Record> = records
        .iter()
        .map(|record| {
            let mut record = record.clone();
            let mut data = record.data.to_vec();
            data[1] = 0;
            record.data = data.into();
            record
        })
        .collect();
    assert_eq!(
        nsec3::prove_nxdomain(
            &name("a.c.x.w.example."),
            &apex,
            &cleared,
            &mut Budget::default()
        ),
        proven(DenialKind::NameError, Some("x.w.example."))
    );
    // Without the record covering the wildcard: bogus.
    assert_eq!(
        nsec3::prove_nxdomain(
            &name("a.c.x.w.example."),
            &apex,
            &cleared[..2],
            &mut Budget::default()
        ),
        Denial::Bogus(BogusReason::WildcardNotDenied)
    );
}

/// RFC 5155 Appendix B.2: NODATA for ns1.example MX.
#[test]
fn rfc5155_appendix_b2_no_data() {
    let records = appendix_records(
        "2t7b4g4vsa5smi47k61mv5bv1a22bojr NSEC3 1 1 12 aabbccdd 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG\n",
    );
    let apex = name("example.");
    assert_eq!(
        nsec3::prove_nodata(
            &name("ns1.example."),
            RType::MX,
            &apex,
            &records,
            &mut Budget::default()
        ),
        proven(DenialKind::NoData, None)
    );
    assert_eq!(
        nsec3::prove_nodata(
            &name("ns1.example."),
            RType::A,
            &apex,
            &records,
            &mut Budget::default()
        ),
        Denial::Bogus(BogusReason::TypeExists)
    );
}
