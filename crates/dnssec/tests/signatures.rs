//! RRSIG and DS checks against zones signed by ldns-signzone.

mod common;

use common::{EXPIRATION, INCEPTION, NOW, SignedZone, name, sign};
use hanse_dnssec::{
    Algorithm, AlgorithmPolicy, Budget, DigestType, Dnskey, Ds, KeyMismatch, Limits, Rrsig,
    VerifyError, capped_ttl, compute_digest, ds_matches, verify_rrset, verify_rrset_with_policy,
    verify_signed_rrset,
};
use hanse_wire::{RType, Record};
use std::collections::BTreeMap;

fn keys(zone: &SignedZone) -> Vec<Dnskey> {
    zone.rrset("example.", RType::DNSKEY)
        .iter()
        .map(|record| Dnskey::from_record(record).unwrap())
        .collect()
}

fn key_for<'a>(keys: &'a [Dnskey], rrsig: &Rrsig) -> &'a Dnskey {
    keys.iter()
        .find(|key| key.key_tag() == rrsig.key_tag)
        .expect("the signing key is in the zone")
}

/// Verifies every RRSIG of the zone; returns how many.
fn verify_all(zone: &SignedZone, policy: &AlgorithmPolicy) -> usize {
    let keys = keys(zone);
    let mut rrsets: BTreeMap<(hanse_wire::Name, RType), Vec<Record>> = BTreeMap::new();
    for record in zone
        .records
        .iter()
        .filter(|record| record.rtype != RType::RRSIG)
    {
        rrsets
            .entry((record.name.clone(), record.rtype))
            .or_default()
            .push(record.clone());
    }
    let mut verified = 0;
    for record in zone.of_type(RType::RRSIG) {
        let rrsig = Rrsig::from_record(&record).unwrap();
        let rrset = &rrsets[&(record.name.clone(), rrsig.type_covered)];
        verify_rrset_with_policy(rrset, &rrsig, key_for(&keys, &rrsig), NOW, policy)
            .unwrap_or_else(|error| panic!("{} {}: {error}", record.name, rrsig.type_covered));
        verified += 1;
    }
    // Every authoritative RRset is signed, and each verifies through the
    // key-set interface too.
    let dnskeys = zone.rrset("example.", RType::DNSKEY);
    let rrsigs = zone.of_type(RType::RRSIG);
    for ((owner, rtype), rrset) in &rrsets {
        let glue_or_cut = (owner == &name("ns.sub.example."))
            || (owner == &name("sub.example.") && *rtype == RType::NS);
        if glue_or_cut {
            continue;
        }
        let mut budget = Budget::default();
        let outcome = verify_signed_rrset(rrset, &rrsigs, &dnskeys, NOW, policy, &mut budget)
            .unwrap_or_else(|error| panic!("{owner} {rtype}: {error}"));
        assert!(outcome.ttl <= rrset[0].ttl);
    }
    verified
}

#[test]
fn every_signature_of_each_algorithm_verifies() {
    for (algorithm, number) in [
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
    ] {
        for nsec3 in [false, true] {
            let options: &[&str] = if nsec3 {
                &["-n", "-s", "c0ffee", "-t", "3"]
            } else {
                &[]
            };
            let zone = sign(algorithm, options, INCEPTION, EXPIRATION);
            assert!(
                keys(&zone)
                    .iter()
                    .all(|key| key.algorithm == Algorithm(number))
            );
            let verified = verify_all(&zone, &AlgorithmPolicy::default());
            // SOA, NS, DNSKEY, A, AAAA, TXT, 5+ NSEC or NSEC3 at least.
            assert!(verified >= 12, "{algorithm}: only {verified} signatures");
        }
    }
}

#[test]
fn sha1_algorithms_follow_the_policy() {
    let zone = sign("RSASHA1", &[], INCEPTION, EXPIRATION);
    let rrset = zone.rrset("www.example.", RType::A);
    let rrsig = Rrsig::from_record(&zone.rrsigs("www.example.", RType::A)[0]).unwrap();
    let keys = keys(&zone);
    assert_eq!(
        verify_rrset(&rrset, &rrsig, key_for(&keys, &rrsig), NOW),
        Err(VerifyError::UnsupportedAlgorithm(Algorithm::RSASHA1))
    );
    let permissive = AlgorithmPolicy {
        validate_sha1: true,
        ..AlgorithmPolicy::default()
    };
    assert!(verify_all(&zone, &permissive) >= 12);
}

#[test]
fn ed448_is_unsupported() {
    let zone = sign("ED448", &[], INCEPTION, EXPIRATION);
    let rrset = zone.rrset("www.example.", RType::A);
    let rrsig = Rrsig::from_record(&zone.rrsigs("www.example.", RType::A)[0]).unwrap();
    let keys = keys(&zone);
    let error = verify_rrset(&rrset, &rrsig, key_for(&keys, &rrsig), NOW).unwrap_err();
    assert_eq!(error, VerifyError::UnsupportedAlgorithm(Algorithm::ED448));
    assert_eq!(error.extended_error_code(), 1);
}

#[test]
fn tampering_gives_the_right_error() {
    let zone = sign("ECDSAP256SHA256", &[], INCEPTION, EXPIRATION);
    let keys = keys(&zone);
    let rrset = zone.rrset("www.example.", RType::A);
    assert_eq!(rrset.len(), 2);
    let rrsig = Rrsig::from_record(&zone.rrsigs("www.example.", RType::A)[0]).unwrap();
    let key = key_for(&keys, &rrsig);
    assert_eq!(verify_rrset(&rrset, &rrsig, key, NOW), Ok(()));

    // Order and case do not matter (canonical form).
    let mut reordered: Vec<Record> = rrset.iter().rev().cloned().collect();
    reordered[0].name = name("WwW.ExAmPlE.");
    reordered[1].name = name("WwW.ExAmPlE.");
    assert_eq!(verify_rrset(&reordered, &rrsig, key, NOW), Ok(()));

    // One bit of the data.
    let mut flipped = rrset.clone();
    let mut data = flipped[0].data.to_vec();
    data[3] ^= 1;
    flipped[0].data = data.into();
    assert_eq!(
        verify_rrset(&flipped, &rrsig, key, NOW),
        Err(VerifyError::BadSignature)
    );

    // One bit of the signature.
    let mut bad_signature = rrsig.clone();
    let mut signature = bad_signature.signature.to_vec();
    signature[10] ^= 0x40;
    bad_signature.signature = signature.into();
    assert_eq!(
        verify_rrset(&rrset, &bad_signature, key, NOW),
        Err(VerifyError::BadSignature)
    );

    // A TTL above the original TTL still verifies (the signed data holds
    // the original TTL) and is capped to it (RFC 4035 §5.3.3).
    let mut raised = rrset.clone();
    for record in &mut raised {
        record.ttl = rrsig.original_ttl * 10;
    }
    assert_eq!(verify_rrset(&raised, &rrsig, key, NOW), Ok(()));
    assert_eq!(
        capped_ttl(raised[0].ttl, raised[0].ttl, &rrsig, NOW),
        rrsig.original_ttl
    );
    // Changing the original TTL in the RRSIG breaks the signature.
    let mut longer = rrsig.clone();
    longer.original_ttl += 1;
    assert_eq!(
        verify_rrset(&raised, &longer, key, NOW),
        Err(VerifyError::BadSignature)
    );

    // Time outside the validity period.
    assert!(matches!(
        verify_rrset(&rrset, &rrsig, key, EXPIRATION + 1),
        Err(VerifyError::Expired { .. })
    ));
    assert!(matches!(
        verify_rrset(&rrset, &rrsig, key, INCEPTION - 1),
        Err(VerifyError::NotYetValid { .. })
    ));

    // The other key of the zone, a key with another algorithm number.
    let other = keys
        .iter()
        .find(|other| other.key_tag() != rrsig.key_tag)
        .unwrap();
    assert_eq!(
        verify_rrset(&rrset, &rrsig, other, NOW),
        Err(VerifyError::KeyMismatch(KeyMismatch::KeyTag))
    );
    let mut relabelled = rrsig.clone();
    relabelled.signer_name = name("other.");
    assert_eq!(
        verify_rrset(&rrset, &relabelled, key, NOW),
        Err(VerifyError::KeyMismatch(KeyMismatch::Signer))
    );
    // The RRSIG of another RRset.
    let aaaa = zone.rrset("www.example.", RType::AAAA);
    assert!(matches!(
        verify_rrset(&aaaa, &rrsig, key, NOW),
        Err(VerifyError::BadRrset(_))
    ));

    // The key-set interface reports missing signatures and keys.
    let dnskeys = zone.rrset("example.", RType::DNSKEY);
    let mut budget = Budget::default();
    let policy = AlgorithmPolicy::default();
    let error = verify_signed_rrset(&rrset, &[], &dnskeys, NOW, &policy, &mut budget).unwrap_err();
    assert_eq!(
        (error, error.extended_error_code()),
        (VerifyError::RrsigMissing, 10)
    );
    let rrsigs = zone.rrsigs("www.example.", RType::A);
    let error = verify_signed_rrset(&rrset, &rrsigs, &[], NOW, &policy, &mut budget).unwrap_err();
    assert_eq!(
        (error, error.extended_error_code()),
        (VerifyError::DnskeyMissing, 9)
    );
    let error = verify_signed_rrset(
        &rrset,
        &rrsigs,
        &dnskeys,
        EXPIRATION + 10,
        &policy,
        &mut budget,
    )
    .unwrap_err();
    assert_eq!(error.extended_error_code(), 7);
}

#[test]
fn expired_and_future_zones_are_refused() {
    for (inception, expiration, expired) in [
        (1_600_000_000, 1_650_000_000, true),
        (1_760_000_000, 1_800_000_000, false),
    ] {
        let zone = sign("ED25519", &[], inception, expiration);
        let keys = keys(&zone);
        let rrset = zone.rrset("www.example.", RType::A);
        let rrsig = Rrsig::from_record(&zone.rrsigs("www.example.", RType::A)[0]).unwrap();
        let outcome = verify_rrset(&rrset, &rrsig, key_for(&keys, &rrsig), NOW);
        if expired {
            assert_eq!(
                outcome,
                Err(VerifyError::Expired {
                    expiration,
                    now: NOW
                })
            );
        } else {
            assert_eq!(
                outcome,
                Err(VerifyError::NotYetValid {
                    inception,
                    now: NOW
                })
            );
        }
    }
}

#[test]
fn wildcard_expansion_verifies_with_the_reconstructed_owner() {
    let zone = sign("ED25519", &[], INCEPTION, EXPIRATION);
    let keys = keys(&zone);
    let rrsig = Rrsig::from_record(&zone.rrsigs("*.wild.example.", RType::TXT)[0]).unwrap();
    assert_eq!(rrsig.labels, 2);
    let mut expanded = zone.rrset("*.wild.example.", RType::TXT);
    expanded[0].name = name("a.b.wild.example.");
    assert_eq!(
        verify_rrset(&expanded, &rrsig, key_for(&keys, &rrsig), NOW),
        Ok(())
    );
}

#[test]
fn ds_digests_match_ldns() {
    let zone = sign("ECDSAP256SHA256", &[], INCEPTION, EXPIRATION);
    let owner = name("example.");
    let ksk_file = format!("{}.key", zone.keys[0]);
    let ksk_text = std::fs::read_to_string(zone.scratch.path.join(&ksk_file)).unwrap();
    let ksk =
        Dnskey::from_record(&hanse_zone::parse_zone(&ksk_text, &owner, 3600).unwrap()[0]).unwrap();
    assert!(ksk.is_secure_entry_point() && ksk.is_zone_key());
    for (flag, digest_type) in [
        ("-1", DigestType::SHA1),
        ("-2", DigestType::SHA256),
        ("-4", DigestType::SHA384),
    ] {
        let text = zone.run("ldns-key2ds", &["-n", flag, &ksk_file]);
        let record = &hanse_zone::parse_zone(&text, &owner, 3600).unwrap()[0];
        let ds = Ds::from_record(record).unwrap();
        assert_eq!(ds.digest_type, digest_type);
        assert_eq!(ds.key_tag, ksk.key_tag());
        assert_eq!(ds_matches(&ds, &ksk, &owner), Ok(true));
        assert_eq!(ds_matches(&ds, &ksk, &name("EXAMPLE.")), Ok(true));
        assert_eq!(ds_matches(&ds, &ksk, &name("other.")), Ok(false));
        assert_eq!(
            compute_digest(digest_type, &owner, &ksk).unwrap(),
            ds.digest.to_vec()
        );
        let mut wrong = ds.clone();
        wrong.digest[0] ^= 1;
        assert_eq!(ds_matches(&wrong, &ksk, &owner), Ok(false));
    }
    let mut unknown = Ds::parse(&[0, 1, 13, 3, 0]).unwrap();
    unknown.key_tag = ksk.key_tag();
    assert!(ds_matches(&unknown, &ksk, &owner).is_err());
}

/// Keys with the same tag as `key`: the key tag is a sum, so swapping two
/// public-key octets at even offsets of the record data keeps it.
fn colliding_keys(key: &Dnskey, count: usize) -> Vec<Dnskey> {
    let rdata = key.rdata();
    let mut keys = Vec::new();
    'outer: for first in (4..rdata.len()).step_by(2) {
        for second in (first + 2..rdata.len()).step_by(2) {
            if rdata[first] == rdata[second] {
                continue;
            }
            let mut data = rdata.to_vec();
            data.swap(first, second);
            let collision = Dnskey::parse(&data).unwrap();
            assert_eq!(collision.key_tag(), key.key_tag());
            keys.push(collision);
            if keys.len() == count {
                break 'outer;
            }
        }
    }
    keys
}

fn dnskey_records(keys: &[Dnskey]) -> Vec<Record> {
    keys.iter()
        .map(|key| Record {
            name: name("example."),
            rtype: RType::DNSKEY,
            class: hanse_wire::Class::IN,
            ttl: 3600,
            data: key.rdata().into(),
        })
        .collect()
}

#[test]
fn keytrap_colliding_keys_stop_at_the_budget() {
    let zone = sign("ECDSAP256SHA256", &[], INCEPTION, EXPIRATION);
    let keys = keys(&zone);
    let rrset = zone.rrset("www.example.", RType::A);
    let rrsig_record = zone.rrsigs("www.example.", RType::A)[0].clone();
    let rrsig = Rrsig::from_record(&rrsig_record).unwrap();
    let real = key_for(&keys, &rrsig).clone();
    let fakes = colliding_keys(&real, 40);
    assert_eq!(fakes.len(), 40);
    let policy = AlgorithmPolicy::default();

    // 40 colliding keys and 20 copies of the RRSIG: at most 8 verifications.
    let rrsigs = vec![rrsig_record.clone(); 20];
    let mut budget = Budget::default();
    let error = verify_signed_rrset(
        &rrset,
        &rrsigs,
        &dnskey_records(&fakes),
        NOW,
        &policy,
        &mut budget,
    )
    .unwrap_err();
    assert_eq!(
        error,
        VerifyError::Budget(hanse_dnssec::Exhausted::Verifications)
    );
    assert_eq!(
        budget.verifications_used(),
        Limits::default().max_verifications
    );

    // One RRSIG: at most 4 keys of its tag are tried, even with budget left.
    let generous = Limits {
        max_verifications: 1000,
        ..Limits::default()
    };
    let mut budget = Budget::new(generous);
    let error = verify_signed_rrset(
        &rrset,
        std::slice::from_ref(&rrsig_record),
        &dnskey_records(&fakes),
        NOW,
        &policy,
        &mut budget,
    )
    .unwrap_err();
    assert_eq!(error, VerifyError::BadSignature);
    assert_eq!(budget.verifications_used(), 4);

    // The real key behind four colliding ones is not reached; in front it is.
    let mut behind = fakes[..4].to_vec();
    behind.push(real.clone());
    let mut budget = Budget::new(generous);
    assert!(
        verify_signed_rrset(
            &rrset,
            std::slice::from_ref(&rrsig_record),
            &dnskey_records(&behind),
            NOW,
            &policy,
            &mut budget
        )
        .is_err()
    );
    let mut front = vec![real.clone()];
    front.extend_from_slice(&fakes[..10]);
    let mut budget = Budget::default();
    let verified = verify_signed_rrset(
        &rrset,
        &[rrsig_record],
        &dnskey_records(&front),
        NOW,
        &policy,
        &mut budget,
    )
    .unwrap();
    assert_eq!(verified.key_tag, real.key_tag());
    assert_eq!(budget.verifications_used(), 1);
}
