//! The built-in root trust anchors against the published root KSKs, and the
//! trust-anchor file parser.

use hanse_dnssec::{AnchorError, AnchorKey, Dnskey, builtin_root_anchors, parse_trust_anchors};
use hanse_wire::{Name, RType};

/// The root key-signing keys KSK-2017 and KSK-2024 as published in the root zone.
const ROOT_KSKS: &str = "\
. 172800 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=
. 172800 IN DNSKEY 257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc=
";

#[test]
fn builtin_anchors_match_the_root_ksks() {
    let anchors = builtin_root_anchors();
    assert_eq!(
        anchors
            .iter()
            .map(|anchor| anchor.key_tag())
            .collect::<Vec<_>>(),
        [20326, 38696]
    );
    let keys: Vec<Dnskey> = hanse_zone::parse_zone(ROOT_KSKS, &Name::root(), 0)
        .unwrap()
        .iter()
        .map(|record| Dnskey::from_record(record).unwrap())
        .collect();
    assert_eq!(
        keys.iter().map(Dnskey::key_tag).collect::<Vec<_>>(),
        [20326, 38696]
    );
    for (anchor, key) in anchors.iter().zip(&keys) {
        assert!(
            anchor.matches(&Name::root(), key),
            "anchor {}",
            anchor.key_tag()
        );
        assert!(!anchor.matches(&Name::from_ascii("com.").unwrap(), key));
    }
    assert!(!anchors[0].matches(&Name::root(), &keys[1]));
    // The keys themselves are accepted as anchors too.
    let key_anchors = parse_trust_anchors(ROOT_KSKS).unwrap();
    assert!(matches!(key_anchors[0].key, AnchorKey::Dnskey(_)));
    assert!(key_anchors[1].matches(&Name::root(), &keys[1]));
    assert!(!key_anchors[1].matches(&Name::root(), &keys[0]));
}

#[test]
fn trust_anchor_files_are_checked() {
    let file = "$ORIGIN example.\n@ 3600 IN DS 12345 13 2 0011223344556677889900112233445566778899001122334455667788990011\n";
    let anchors = parse_trust_anchors(file).unwrap();
    assert_eq!(anchors[0].owner, Name::from_ascii("example.").unwrap());
    assert_eq!(anchors[0].key_tag(), 12345);

    assert!(matches!(
        parse_trust_anchors(". IN A 192.0.2.1\n"),
        Err(AnchorError::WrongType {
            index: 1,
            rtype: RType::A,
            ..
        })
    ));
    assert_eq!(parse_trust_anchors("; nothing\n"), Err(AnchorError::Empty));
    assert!(matches!(
        parse_trust_anchors(". IN DNSKEY 0 3 8 AwEAAQ==\n"),
        Err(AnchorError::NotZoneKey { .. })
    ));
    assert!(matches!(
        parse_trust_anchors(". IN DS 1 8\n"),
        Err(AnchorError::Zone(_))
    ));
    let error = parse_trust_anchors(". IN DS not-a-number 8 2 00\n").unwrap_err();
    assert!(error.to_string().contains("line 1"), "{error}");
}
