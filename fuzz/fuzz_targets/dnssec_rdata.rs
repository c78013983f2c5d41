//! Fuzzes the DNSSEC record-data views and the verifier: every parser must
//! return a value or a typed error on arbitrary bytes, never panic; the
//! canonical form and the signature check must cope with whatever parsed.
//!
//! The first byte splits the rest into a DNSKEY part and an RRSIG part; the
//! whole rest is also read as every other DNSSEC type, and as the text of
//! an RFC 5011 trust-anchor state file, which, when accepted, must write
//! out to text that reads back equal.

#![no_main]

use hanse_dnssec::canonical::canonical_data;
use hanse_dnssec::nsec3::{decode_base32hex, encode_base32hex};
use hanse_dnssec::rollover::TrustAnchorState;
use hanse_dnssec::{
    AlgorithmPolicy, Dnskey, Ds, Nsec, Nsec3, Nsec3Param, Rrsig, TypeBitmap, compute_key_tag,
    verify_rrset_with_policy,
};
use hanse_wire::{Class, Name, RType, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let _ = Ds::parse(rest);
    let _ = Nsec3Param::parse(rest);
    if let Ok(nsec) = Nsec::parse(rest) {
        for rtype in nsec.types.types() {
            assert!(nsec.types.contains(rtype));
        }
    }
    if let Ok(bitmap) = TypeBitmap::parse(rest) {
        let _ = bitmap.types();
    }
    if let Ok(nsec3) = Nsec3::parse(rest) {
        let text = encode_base32hex(&nsec3.next_hashed_owner);
        assert_eq!(decode_base32hex(text.as_bytes()).as_deref(), Some(&*nsec3.next_hashed_owner));
    }
    for rtype in [RType::MX, RType::SOA, RType::NAPTR, RType::RRSIG, RType::SRV, RType::NSEC] {
        let _ = canonical_data(rtype, rest);
    }
    let _ = compute_key_tag(rest);
    if let Ok(text) = std::str::from_utf8(rest)
        && let Ok(state) = TrustAnchorState::parse(text)
    {
        let again = TrustAnchorState::parse(&state.to_text()).expect("the state reads back");
        assert_eq!(again, state);
    }

    let split = usize::from(split).min(rest.len());
    let (key_part, rrsig_part) = rest.split_at(split);
    let (Ok(key), Ok(rrsig)) = (Dnskey::parse(key_part), Rrsig::parse(rrsig_part)) else {
        return;
    };
    let owner = rrsig.signer_name.prepend(b"www").unwrap_or_else(|_| Name::root());
    let rrset = [Record {
        name: owner,
        rtype: rrsig.type_covered,
        class: Class::IN,
        ttl: 300,
        data: Box::new([192, 0, 2, 1]),
    }];
    // Everything on, the retired DSA and short-RSA arithmetic included.
    let policy = AlgorithmPolicy {
        validate_sha1: true,
        validate_legacy: true,
    };
    let _ = verify_rrset_with_policy(&rrset, &rrsig, &key, rrsig.inception, &policy);
});
