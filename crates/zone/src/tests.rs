//! Tests of the master-file parser, the formatter and root hints.

use crate::*;
use hanse_wire::{Class, Name, RType, Record};

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn parse(text: &str) -> Vec<Record> {
    parse_zone(text, &name("example.com."), 3600)
        .unwrap_or_else(|error| panic!("{error}\nin:\n{text}"))
}

fn error(text: &str) -> (usize, usize, String) {
    let error = parse_zone(text, &name("example.com."), 3600).expect_err(text);
    (error.line, error.column, error.message)
}

fn position(text: &str) -> (usize, usize) {
    let (line, column, _) = error(text);
    (line, column)
}

/// One line of data for every supported type, and some generic ones.
const EVERY_TYPE: &[&str] = &[
    "a A 192.0.2.1",
    "a AAAA 2001:db8::1",
    "@ NS ns1",
    "@ NS ns2.example.net.",
    "www CNAME Web.Example.org.",
    "sub DNAME other.example.",
    "1.2 PTR host",
    "@ MX 10 mail",
    "@ SOA ns1 hostmaster.example.com. 2024010101 1h 15m 1w 1d",
    "t TXT \"v=spf1 -all\" unquoted \"with \\\"quotes\\\" and \\\\\" \"\\000\\255é\"",
    "t TXT \"\"",
    "s SPF \"v=spf1 mx -all\"",
    "_sip._tcp SRV 10 60 5060 sip",
    "@ CAA 0 issue \"letsencrypt.org\"",
    "@ CAA 128 iodef \"mailto:security@example.com\"",
    "h HINFO \"INTEL-386\" \"Unix\"",
    "n NAPTR 100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .",
    "sub DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE9A5C1A1B9F9D7D4C 3DBE5CF0",
    "sub CDS 0 0 0 00",
    "@ DNSKEY 257 3 ECDSAP256SHA256 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+ \
     KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==",
    "@ CDNSKEY 0 3 0 AA==",
    "@ RRSIG SOA 13 2 3600 20240201000000 20240101000000 12345 example.com. \
     ZW1wdHkgc2lnbmF0dXJlIGJ1dCBnb29kIGVub3VnaA==",
    "@ RRSIG A 8 2 300 1706745600 1704067200 1 example.com. AAAA",
    "a NSEC b A AAAA RRSIG NSEC TYPE1234 CAA",
    "z NSEC @ NS SOA",
    "2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3S NSEC3 1 1 0 - 2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3T A RRSIG",
    "x NSEC3 1 0 10 AABBCCDD 2vptu5timamqttgl4luu9kg21e0aor3s",
    "@ NSEC3PARAM 1 0 0 -",
    "@ NSEC3PARAM 1 0 10 aabbccdd",
    "_443._tcp TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
    "h SSHFP 4 2 123456789ABCDEF67890123456789ABCDEF67890123456789ABCDEF123456789",
    "u TYPE65534 \\# 4 0A000001",
    "u TYPE65533 \\# 0",
    "l LOC \\# 16 0012161300899B09800FA2C000000064",
    "g A \\# 4 C0000201",
    "g MX \\# 5 000A016D00",
];

#[test]
fn every_type_round_trips_through_the_formatter() {
    for line in EVERY_TYPE {
        let records = parse(line);
        assert_eq!(records.len(), 1, "{line}");
        let record = &records[0];
        let formatted = format_record(record);
        let again = parse(&formatted);
        assert_eq!(again.len(), 1, "{formatted}");
        assert_eq!(&again[0], record, "{line} -> {formatted}");
        assert_eq!(again[0].data, record.data, "{line} -> {formatted}");
        assert_eq!(again[0].name.as_wire(), record.name.as_wire());
        assert_eq!(format_record(&again[0]), formatted, "formatting is stable");
        // The data alone, through the public rdata functions.
        let text = format_rdata(record.rtype, &record.data);
        assert_eq!(
            parse_rdata(record.rtype, &text, &Name::root()).unwrap(),
            record.data
        );
    }
}

#[test]
fn record_data_has_the_wire_layout() {
    let records = parse(
        "@ MX 10 Mail\n\
         @ SOA ns1 hostmaster 1 2 3 4 5\n\
         t TXT a \"b c\"\n\
         @ CAA 0 issue \"ca.example\"\n\
         x NSEC3 1 0 10 AABB 0G A RRSIG\n\
         n NSEC n A TYPE256\n",
    );
    assert_eq!(
        &records[0].data[..],
        b"\x00\x0a\x04Mail\x07example\x03com\x00"
    );
    assert_eq!(records[1].soa_serial(), Some(1));
    assert_eq!(records[1].soa_minimum(), Some(5));
    assert_eq!(&records[2].data[..], b"\x01a\x03b c");
    assert_eq!(&records[3].data[..], b"\x00\x05issueca.example");
    assert_eq!(
        &records[4].data[..],
        b"\x01\x00\x00\x0a\x02\xaa\xbb\x01\x04\x00\x06\x40\x00\x00\x00\x00\x02"
    );
    assert_eq!(&records[5].data[15..], b"\x00\x01\x40\x01\x01\x80");
    assert_eq!(
        format_rdata(RType::NSEC, &records[5].data),
        "n.example.com. A URI"
    );
}

#[test]
fn generic_form_checks_length_and_layout() {
    assert_eq!(position("a TYPE999 \\# 3 0102"), (1, 14));
    assert_eq!(position("a TYPE999 \\# 1 0102"), (1, 14));
    assert_eq!(position("a A \\# 3 010203"), (1, 5));
    assert_eq!(position("a NS \\# 2 0100"), (1, 6));
    assert_eq!(position("a TYPE999 \\# 70000 00"), (1, 14));
    assert_eq!(position("a TYPE999 \\# 1 0g"), (1, 16));
    assert_eq!(position("a TYPE999 \\#"), (1, 13));
    // Types without a dedicated form need the generic one.
    let (line, column, message) = error("a LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m");
    assert_eq!((line, column), (1, 7));
    assert!(message.contains("generic"), "{message}");
    // Malformed wire data is formatted in the generic form.
    assert_eq!(format_rdata(RType::A, &[1, 2, 3]), "\\# 3 010203");
    assert_eq!(format_rdata(RType::TXT, &[]), "\\# 0");
    assert_eq!(format_rdata(RType::TXT, &[5, b'a']), "\\# 2 0561");
    // A non-canonical type bitmap (trailing zero octet) is kept exactly.
    let odd = b"\x00\x00\x02\x40\x00";
    assert_eq!(format_rdata(RType::NSEC, odd), "\\# 5 0000024000");
}

#[test]
fn master_file_syntax() {
    let text = "\
$ORIGIN example.com.
$TTL 1h
@ IN SOA ( ns1      ; primary
           hostmaster
           2024010101 ; serial
           3600 900 604800 86400 )
  IN NS ns1
  NS ns2.Example.NET.
www 300 IN A 192.0.2.1
    IN 600 A 192.0.2.2
    AAAA 2001:db8::1
mail.example.com. 1d2h A 192.0.2.3
$ORIGIN sub
host A 192.0.2.4
$TTL 5m
@ A 192.0.2.5
a\\.b\\032c TXT \"x\"
\\$dollar TXT y
";
    let records = parse(text);
    let summary: Vec<(String, u32, RType)> = records
        .iter()
        .map(|record| (record.name.to_string(), record.ttl, record.rtype))
        .collect();
    let expected: Vec<(String, u32, RType)> = [
        ("example.com.", 3600, RType::SOA),
        ("example.com.", 3600, RType::NS),
        ("example.com.", 3600, RType::NS),
        ("www.example.com.", 300, RType::A),
        ("www.example.com.", 600, RType::A),
        ("www.example.com.", 3600, RType::AAAA),
        ("mail.example.com.", 93_600, RType::A),
        ("host.sub.example.com.", 3600, RType::A),
        ("sub.example.com.", 300, RType::A),
        ("a\\.b\\032c.sub.example.com.", 300, RType::TXT),
        ("\\$dollar.sub.example.com.", 300, RType::TXT),
    ]
    .into_iter()
    .map(|(owner, ttl, rtype)| (owner.to_owned(), ttl, rtype))
    .collect();
    assert_eq!(summary, expected);
    assert!(records.iter().all(|record| record.class == Class::IN));
    // Case is kept in record data.
    assert_eq!(
        records[2].target_name().unwrap().as_wire(),
        name("ns2.Example.NET.").as_wire()
    );
    assert_eq!(records[9].name.first_label(), Some(&b"a.b c"[..]));
    // The default TTL applies until $TTL.
    let records = parse_zone("a A 192.0.2.1", &name("example."), 42).unwrap();
    assert_eq!(records[0].ttl, 42);
    // The empty text is an empty zone.
    assert!(parse("").is_empty());
    assert!(parse("; nothing\n\n   \n").is_empty());
    // CRLF line ends.
    assert_eq!(parse("a A 192.0.2.1\r\nb A 192.0.2.2\r\n").len(), 2);
}

#[test]
fn errors_point_at_the_offending_token() {
    assert_eq!(position("www A 192.0.2.300"), (1, 7));
    assert_eq!(
        position("www A 192.0.2.1\nwww    AAAA   192.0.2.1"),
        (2, 15)
    );
    assert_eq!(position("www A"), (1, 6));
    assert_eq!(position("www 1x A 192.0.2.1"), (1, 5));
    assert_eq!(position("www 99999999999 A 192.0.2.1"), (1, 5));
    assert_eq!(position("www 4294967295 A 192.0.2.1"), (1, 5));
    assert_eq!(position("www IN CH A 192.0.2.1"), (1, 8));
    assert_eq!(position("www CH A 192.0.2.1"), (1, 5));
    assert_eq!(position("www IN BOGUS 1"), (1, 8));
    assert_eq!(position("www IN OPT \\# 0"), (1, 8));
    assert_eq!(position("www IN"), (1, 7));
    assert_eq!(position("a..b A 192.0.2.1"), (1, 1));
    assert_eq!(position("ok A 192.0.2.1\n\nx  MX 10 a..b"), (3, 10));
    assert_eq!(position("ok A 192.0.2.1\n\n  x  MX 10 a..b"), (3, 3));
    assert_eq!(position("\"quoted\" A 192.0.2.1"), (1, 1));
    assert_eq!(position(" A 192.0.2.1"), (1, 2));
    assert_eq!(position("@ MX 65536 mail"), (1, 6));
    assert_eq!(position("@ MX 10 mail extra"), (1, 14));
    assert_eq!(position("@ SOA ns1 host ( 1 2 3\n 4 x )"), (2, 4));
    assert_eq!(position("@ SOA ns1 host ( 1 2 3\n 4 )"), (2, 3));
    assert_eq!(position("@ TXT \"unterminated\n"), (1, 7));
    assert_eq!(position("@ TXT ( \"a\"\n"), (1, 7));
    assert_eq!(position("@ TXT \"a\" )"), (1, 11));
    assert_eq!(position(&format!("@ TXT {}", "a".repeat(256))), (1, 7));
    assert_eq!(position("@ TXT \"\\256\""), (1, 7));
    assert_eq!(position("@ DS 1 8 2 ABC"), (1, 12));
    assert_eq!(position("@ DS 1 FOO 2 AB"), (1, 8));
    assert_eq!(position("@ DNSKEY 257 3 8 AAA"), (1, 18));
    assert_eq!(
        position("@ RRSIG A 8 2 300 20241301000000 1 1 . AA=="),
        (1, 19)
    );
    assert_eq!(position("@ NSEC a A BOGUS"), (1, 12));
    assert_eq!(position("@ NSEC3 1 0 0 - 2vptu5w A"), (1, 17));
    assert_eq!(position("@ NSEC3 1 0 0 xyz 2vptu5 A"), (1, 15));
    assert_eq!(position("@ CAA 0 is-sue \"x\""), (1, 9));
    assert_eq!(position("@ CAA 0 issue"), (1, 14));
    assert_eq!(position("@ A 192.0.2.1 ; fine\n@ AAAA ::g"), (2, 8));
    assert_eq!(position("ä A 1"), (1, 5));
    let long = format!("{}. A 192.0.2.1", vec!["a".repeat(63); 4].join("."));
    assert_eq!(position(&long), (1, 1));
    assert_eq!(
        position(&format!(
            "{}.{} A 192.0.2.1",
            vec!["a".repeat(63); 3].join("."),
            "b".repeat(50)
        )),
        (1, 1)
    );
}

#[test]
fn directives() {
    let (line, column, message) = error("a A 192.0.2.1\n$INCLUDE other.zone\n");
    assert_eq!((line, column), (2, 1));
    assert!(message.contains("$INCLUDE is not supported"), "{message}");
    assert_eq!(position("$GENERATE 1-10 a$ A 192.0.2.$"), (1, 1));
    assert_eq!(position("$TTL"), (1, 5));
    assert_eq!(position("$TTL abc"), (1, 6));
    assert_eq!(position("$TTL 1 2"), (1, 8));
    assert_eq!(position("$ORIGIN a..b"), (1, 9));
    let records = parse("$origin Example.ORG.\n$ttl 2w\n@ A 192.0.2.1");
    assert_eq!(records[0].name.as_wire(), name("Example.ORG.").as_wire());
    assert_eq!(records[0].ttl, 1_209_600);
}

#[test]
fn record_data_is_capped() {
    // 300 strings of 255 octets exceed 65535 octets.
    let big = format!("@ TXT {}", vec!["a".repeat(255); 300].join(" "));
    let (line, _, message) = error(&big);
    assert_eq!(line, 1);
    assert!(message.contains("65535"), "{message}");
    let hex = "00".repeat(65536);
    assert!(parse_zone(&format!("@ TYPE999 \\# 65536 {hex}"), &Name::root(), 0).is_err());
    let just_fits = format!("@ TYPE999 \\# 65535 {}", "00".repeat(65535));
    assert_eq!(parse(&just_fits)[0].data.len(), 65535);
}

#[test]
fn parse_rdata_positions_count_from_its_text() {
    let origin = name("example.com.");
    let data = parse_rdata(RType::MX, "10 mail", &origin).unwrap();
    assert_eq!(&data[..], b"\x00\x0a\x04mail\x07example\x03com\x00");
    let error = parse_rdata(RType::MX, "( 10\n  bad..name )", &origin).unwrap_err();
    assert_eq!((error.line, error.column), (2, 3));
    assert_eq!(
        error.to_string(),
        format!("line 2, column 3: {}", error.message)
    );
    let error = parse_rdata(RType::A, "", &origin).unwrap_err();
    assert_eq!((error.line, error.column), (1, 1));
}

#[test]
fn realistic_zone_with_delegations_glue_and_wildcards() {
    let text = "\
; example.com, signed parts omitted
$TTL 86400
$ORIGIN example.com.
@               IN  SOA   ns1.example.com. hostmaster.example.com. (
                          2024060101 ; serial
                          7200       ; refresh
                          3600       ; retry
                          1209600    ; expire
                          300 )      ; negative caching
                IN  NS    ns1
                IN  NS    ns2.provider.net.
                IN  MX    10 mx1
                IN  MX    20 mx2.provider.net.
                IN  TXT   \"v=spf1 mx -all\"
ns1             IN  A     192.0.2.53
                IN  AAAA  2001:db8::53
mx1         300 IN  A     192.0.2.25
www             IN  CNAME @
*.dyn           IN  A     192.0.2.80
*               IN  TXT   \"catch-all\"
; a delegation with glue
child           IN  NS    ns1.child
                IN  NS    ns.elsewhere.org.
                IN  DS    60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118
ns1.child       IN  A     192.0.2.200
_dmarc          IN  TXT   ( \"v=DMARC1; p=reject;\"
                            \" rua=mailto:dmarc@example.com\" )
";
    let records = parse(text);
    assert_eq!(records.len(), 17);
    let origin = name("example.com.");
    assert!(
        records
            .iter()
            .all(|record| record.name.is_subdomain_of(&origin))
    );
    let soa = &records[0];
    assert_eq!(soa.rtype, RType::SOA);
    assert_eq!(soa.soa_serial(), Some(2_024_060_101));
    assert_eq!(soa.soa_minimum(), Some(300));
    let wildcards: Vec<&Record> = records
        .iter()
        .filter(|record| record.name.is_wildcard())
        .collect();
    assert_eq!(wildcards.len(), 2);
    assert_eq!(wildcards[0].name, name("*.dyn.example.com."));
    let child = name("child.example.com.");
    let delegation: Vec<&Record> = records
        .iter()
        .filter(|record| record.name == child)
        .collect();
    assert_eq!(
        delegation
            .iter()
            .map(|record| record.rtype)
            .collect::<Vec<_>>(),
        [RType::NS, RType::NS, RType::DS]
    );
    let glue = records
        .iter()
        .find(|record| record.name == name("ns1.child.example.com."))
        .unwrap();
    assert_eq!(glue.address(), Some("192.0.2.200".parse().unwrap()));
    assert_eq!(records[8].ttl, 300);
    assert_eq!(records[9].target_name(), Some(origin));
    let dmarc = records.last().unwrap();
    assert_eq!(dmarc.data[0], 19);
    // The whole zone round-trips through the formatter.
    let formatted: String = records
        .iter()
        .map(|record| format_record(record) + "\n")
        .collect();
    assert_eq!(parse_zone(&formatted, &Name::root(), 0).unwrap(), records);
}

#[test]
fn builtin_root_hints_have_thirteen_servers() {
    let hints = builtin_root_hints();
    assert_eq!(hints.servers.len(), 13);
    assert_eq!(hints.addresses().count(), 26);
    for (server, letter) in hints.servers.iter().zip('a'..='m') {
        assert_eq!(server.name, name(&format!("{letter}.root-servers.net.")));
        assert_eq!(server.addresses.len(), 2);
        assert!(server.addresses[0].is_ipv4() && server.addresses[1].is_ipv6());
    }
    assert_eq!(
        hints.servers[0].addresses[0],
        "198.41.0.4".parse::<std::net::IpAddr>().unwrap()
    );
}

#[test]
fn root_hints_in_the_named_root_format() {
    let text = "\
;       This file holds the information on root name servers needed to
;       initialize cache of Internet domain name servers
.                        3600000      NS    A.ROOT-SERVERS.NET.
A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30
;
; FORMERLY NS1.ISI.EDU
;
.                        3600000      NS    B.ROOT-SERVERS.NET.
B.ROOT-SERVERS.NET.      3600000      A     170.247.170.2
; END OF FILE
";
    let hints = parse_root_hints(text).unwrap();
    assert_eq!(hints.servers.len(), 2);
    assert_eq!(hints.servers[0].addresses.len(), 2);
    assert_eq!(hints.servers[1].name, name("b.root-servers.net."));

    let error = parse_root_hints("; nothing\n").unwrap_err();
    assert!(error.message.contains("NS"), "{error}");
    let error = parse_root_hints(". NS a.root-servers.net.\n").unwrap_err();
    assert!(error.message.contains("address"), "{error}");
    let error =
        parse_root_hints(". NS a.example.\na.example. A 192.0.2.1\nb.example. A 192.0.2.2\n")
            .unwrap_err();
    assert_eq!((error.line, error.column), (3, 1));
    let error = parse_root_hints("com. NS a.example.\n").unwrap_err();
    assert_eq!((error.line, error.column), (1, 1));
    let error = parse_root_hints(". NS a.example.\na.example. TXT x\n").unwrap_err();
    assert_eq!(error.line, 2);
    let error = parse_root_hints(". NS a.example.\na.example. A 192.0.2.1\n. NX").unwrap_err();
    assert_eq!((error.line, error.column), (3, 3));
}

#[test]
fn hostile_input_is_linear() {
    // Deep parentheses, many tokens, long lines: all finish quickly.
    let many = format!("@ NSEC a {}", "A ".repeat(200_000));
    assert_eq!(
        parse(&many)[0].data.len(),
        "\x01a\x07example\x03com\x00".len() + 3
    );
    let parentheses = "(".repeat(100_000);
    assert!(parse_zone(&parentheses, &Name::root(), 0).is_err());
    let backslashes = "\\".repeat(100_001);
    assert!(parse_zone(&backslashes, &Name::root(), 0).is_err());
    let owners = "a A 192.0.2.1\n".repeat(20_000);
    assert_eq!(parse(&owners).len(), 20_000);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// The types with a dedicated presentation format, plus unknown ones.
    const TYPES: &[RType] = &[
        RType::A,
        RType::AAAA,
        RType::NS,
        RType::CNAME,
        RType::DNAME,
        RType::PTR,
        RType::MX,
        RType::SOA,
        RType::TXT,
        RType::SPF,
        RType::SRV,
        RType::CAA,
        RType::HINFO,
        RType::NAPTR,
        RType::DS,
        RType::CDS,
        RType::DNSKEY,
        RType::CDNSKEY,
        RType::RRSIG,
        RType::NSEC,
        RType::NSEC3,
        RType::NSEC3PARAM,
        RType::TLSA,
        RType::SSHFP,
        RType::LOC,
        RType(65534),
    ];

    fn label() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 1..8),
            "[a-zA-Z0-9-]{1,10}".prop_map(String::into_bytes),
        ]
    }

    fn wire_name() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(label(), 0..4).prop_map(|labels| {
            let mut wire = Vec::new();
            for label in labels {
                wire.push(label.len() as u8);
                wire.extend_from_slice(&label);
            }
            wire.push(0);
            wire
        })
    }

    /// Record data built from pieces that often match a type's layout.
    fn data() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            wire_name(),
            proptest::collection::vec(any::<u8>(), 0..24),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(|bytes| {
                let mut string = vec![bytes.len() as u8];
                string.extend_from_slice(&bytes);
                string
            }),
        ];
        proptest::collection::vec(piece, 0..5).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Formatted data always parses back to the same bytes, unless it is
        /// data that a message parser would reject too.
        #[test]
        fn formatted_data_parses_back(index in 0..TYPES.len(), data in data()) {
            let rtype = TYPES[index];
            let text = format_rdata(rtype, &data);
            match parse_rdata(rtype, &text, &Name::root()) {
                Ok(parsed) => prop_assert_eq!(&parsed[..], &data[..], "{}", text),
                Err(error) => {
                    prop_assert!(text.starts_with("\\#"), "{} -> {}", text, error);
                    prop_assert!(error.message.contains("layout"), "{}", error);
                }
            }
        }

        /// Any owner name survives formatting and parsing, case included.
        #[test]
        fn formatted_records_parse_back(owner in wire_name(), ttl in 0..=0x7fff_ffffu32) {
            let record = Record {
                name: Name::from_wire(&owner).unwrap(),
                rtype: RType::TXT,
                class: Class::IN,
                ttl,
                data: Box::new([3, b'a', b'"', b';']),
            };
            let line = format_record(&record);
            let parsed = parse_zone(&line, &name("origin."), 0).unwrap();
            prop_assert_eq!(parsed.len(), 1);
            prop_assert_eq!(parsed[0].name.as_wire(), record.name.as_wire());
            prop_assert_eq!(&parsed[0], &record);
        }

        /// Arbitrary text never panics, and errors have positions inside the text.
        #[test]
        fn arbitrary_text_never_panics(text in "[ -~\n\t\"\\\\();$@]{0,200}") {
            if let Err(error) = parse_zone(&text, &name("example."), 60) {
                prop_assert!(error.line >= 1 && error.column >= 1);
                prop_assert!(error.line <= text.lines().count() + 1, "{}", error);
            }
        }
    }
}
