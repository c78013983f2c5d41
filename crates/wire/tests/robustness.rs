//! A deterministic mutation test of the packet parsers.
//!
//! Valid packets (queries, and responses with name compression) are damaged
//! 100 000 times by a seeded xorshift generator: bit flips, truncation,
//! inserted and deleted bytes, lying section counts, compression pointers to
//! anywhere (loops included) and spliced copies. For every result:
//! - [`Message::parse`] and [`QueryView::parse`] return without panicking;
//! - when [`Message::parse`] succeeds, composing its content again with
//!   [`MessageBuilder`] and parsing that gives the same message;
//! - when both parsers accept the packet, they agree on the question, the
//!   EDNS fields and the cache key.

use hanse_wire::{
    CacheKey, Class, Edns, EdnsOption, Header, KeyFlags, Message, MessageBuilder, Name, QueryView,
    Question, RType, Record, compose_query,
};
use std::panic::catch_unwind;

/// Marsaglia's xorshift64: small, deterministic, good enough to pick mutations.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

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

fn with_name(prefix: &[u8], target: &str, suffix: &[u8]) -> Vec<u8> {
    let mut data = prefix.to_vec();
    data.extend_from_slice(name(target).as_wire());
    data.extend_from_slice(suffix);
    data
}

/// Valid packets to start from.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let edns = Edns {
        udp_size: 1232,
        dnssec_ok: true,
        options: vec![EdnsOption {
            code: 10,
            data: vec![0x5a; 8].into(),
        }],
        ..Edns::default()
    };
    seeds.push(compose_query(
        0x1234,
        &name("www.Example.com."),
        RType::A,
        true,
        Some(edns.clone()),
    ));
    seeds.push(compose_query(
        7,
        &name("example.org."),
        RType::MX,
        false,
        None,
    ));

    // A referral-style response with a CNAME chain, NS, SOA, glue: lots of compression.
    let header = Header {
        id: 0xbeef,
        response: true,
        recursion_available: true,
        ..Header::default()
    };
    let mut builder = MessageBuilder::new(header, 4096);
    builder.set_edns(edns);
    let question = Question {
        name: name("www.example.com."),
        rtype: RType::A,
        class: Class::IN,
    };
    builder.push_question(&question).unwrap();
    builder
        .push_answer(&record(
            "www.example.com.",
            RType::CNAME,
            300,
            name("web.example.com.").as_wire(),
        ))
        .unwrap();
    builder
        .push_answer(&record("web.example.com.", RType::A, 300, &[192, 0, 2, 1]))
        .unwrap();
    builder
        .push_answer(&record("web.example.com.", RType::A, 300, &[192, 0, 2, 2]))
        .unwrap();
    builder
        .push_authority(&record(
            "example.com.",
            RType::NS,
            3600,
            name("ns1.example.com.").as_wire(),
        ))
        .unwrap();
    builder
        .push_authority(&record(
            "example.com.",
            RType::NS,
            3600,
            name("ns2.example.net.").as_wire(),
        ))
        .unwrap();
    builder
        .push_additional(&record(
            "ns1.example.com.",
            RType::A,
            3600,
            &[192, 0, 2, 53],
        ))
        .unwrap();
    let mut v6 = [0u8; 16];
    v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    v6[15] = 0x53;
    builder
        .push_additional(&record("ns1.example.com.", RType::AAAA, 3600, &v6))
        .unwrap();
    seeds.push(builder.finish());

    // A negative answer with an SOA (two compressed names in data) and an MX.
    let header = Header {
        id: 2,
        response: true,
        authoritative: true,
        rcode: 3,
        ..Header::default()
    };
    let mut builder = MessageBuilder::new(header, 512);
    builder
        .push_question(&Question {
            name: name("nope.example.com."),
            rtype: RType::MX,
            class: Class::IN,
        })
        .unwrap();
    builder
        .push_answer(&record(
            "example.com.",
            RType::MX,
            60,
            &with_name(&[0, 10], "mail.example.com.", &[]),
        ))
        .unwrap();
    let soa = with_name(
        &[],
        "ns1.example.com.",
        &with_name(&[], "hostmaster.example.com.", &[0; 20]),
    );
    builder
        .push_authority(&record("example.com.", RType::SOA, 900, &soa))
        .unwrap();
    seeds.push(builder.finish());

    // Types whose names a parser decompresses but the builder does not compress.
    let header = Header {
        id: 3,
        response: true,
        ..Header::default()
    };
    let mut builder = MessageBuilder::new(header, 1024);
    builder
        .push_question(&Question {
            name: name("_sip._udp.example.com."),
            rtype: RType::SRV,
            class: Class::IN,
        })
        .unwrap();
    builder
        .push_answer(&record(
            "_sip._udp.example.com.",
            RType::SRV,
            60,
            &with_name(&[0, 1, 0, 2, 0x13, 0xc4], "sip.example.com.", &[]),
        ))
        .unwrap();
    let naptr = with_name(
        b"\x00\x64\x00\x0a\x01U\x07E2U+sip\x00",
        "sip.example.com.",
        &[],
    );
    builder
        .push_answer(&record("example.com.", RType::NAPTR, 60, &naptr))
        .unwrap();
    builder
        .push_answer(&record("example.com.", RType::TXT, 60, b"\x05hello\x00"))
        .unwrap();
    builder
        .push_answer(&record(
            "example.com.",
            RType::DNAME,
            60,
            name("example.net.").as_wire(),
        ))
        .unwrap();
    seeds.push(builder.finish());

    // Hand-made: a name that is a pointer to a pointer to a label sequence.
    let mut packet = vec![0, 9, 0x81, 0x80, 0, 2, 0, 1, 0, 0, 0, 0];
    packet.extend_from_slice(b"\x03com\x00\x00\x02\x00\x01"); // com. NS IN at 12
    packet.extend_from_slice(b"\x07example\xc0\x0c\x00\x01\x00\x01"); // example.com. A IN at 21
    packet.extend_from_slice(
        b"\x03www\xc0\x15\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x07",
    );
    seeds.push(packet);
    seeds
}

/// Damages `packet` in one of several ways.
fn mutate(random: &mut Xorshift, packet: &mut Vec<u8>, donor: &[u8]) {
    let length = packet.len();
    match random.below(10) {
        // Bit flips.
        0 | 1 => {
            if length > 0 {
                for _ in 0..=random.below(4) {
                    let index = random.below(length);
                    packet[index] ^= 1 << random.below(8);
                }
            }
        }
        // Truncation.
        2 => packet.truncate(random.below(length + 1)),
        // Inserted bytes.
        3 => {
            let index = random.below(length + 1);
            for _ in 0..=random.below(4) {
                packet.insert(index, random.byte());
            }
        }
        // Deleted bytes.
        4 => {
            if length > 0 {
                let index = random.below(length);
                let end = (index + 1 + random.below(4)).min(length);
                packet.drain(index..end);
            }
        }
        // Lying counts.
        5 => {
            if length >= 12 {
                let field = 4 + 2 * random.below(4);
                let value: u16 = match random.below(3) {
                    0 => random.below(4) as u16,
                    1 => u16::MAX,
                    _ => random.next() as u16,
                };
                packet[field..field + 2].copy_from_slice(&value.to_be_bytes());
            }
        }
        // A compression pointer: anywhere, to itself, or forward.
        6 => {
            if length >= 2 {
                let index = random.below(length - 1);
                let target = match random.below(3) {
                    0 => index,
                    1 => index + 2 + random.below(8),
                    _ => random.below(length),
                } & 0x3fff;
                packet[index] = 0xc0 | (target >> 8) as u8;
                packet[index + 1] = target as u8;
            }
        }
        // Two pointers that point at each other.
        7 => {
            if length >= 16 {
                let first = 12 + random.below(length - 15);
                let second = 12 + random.below(length - 15);
                if first.abs_diff(second) >= 2 {
                    packet[first..first + 2]
                        .copy_from_slice(&(0xc000 | second as u16).to_be_bytes());
                    packet[second..second + 2]
                        .copy_from_slice(&(0xc000 | first as u16).to_be_bytes());
                }
            }
        }
        // Interesting byte values: label lengths and label types.
        8 => {
            if length > 0 {
                let index = random.below(length);
                packet[index] = [0, 1, 0x3f, 0x40, 0x80, 0xc0, 0xff, 63, 64][random.below(9)];
            }
        }
        // A slice of another packet spliced in.
        _ => {
            if !donor.is_empty() {
                let start = random.below(donor.len());
                let end = (start + 1 + random.below(32)).min(donor.len());
                let index = random.below(length + 1);
                packet.splice(index..index, donor[start..end].iter().copied());
            }
        }
    }
}

/// Composes the content of `message` again.
fn recompose(message: &Message) -> Option<Vec<u8>> {
    let mut builder = MessageBuilder::new(message.header, 65535);
    if let Some(edns) = &message.edns {
        builder.set_edns(edns.clone());
    }
    for question in &message.questions {
        builder.push_question(question).ok()?;
    }
    for record in &message.answers {
        builder.push_answer(record).ok()?;
    }
    for record in &message.authorities {
        builder.push_authority(record).ok()?;
    }
    for record in &message.additionals {
        builder.push_additional(record).ok()?;
    }
    Some(builder.finish())
}

/// Whether two messages are the same up to the case of names that the
/// builder compressed: it matches compression targets without case, so a
/// name may come back with the case of an earlier name that differs only in
/// case (in owner names, and in the data of NS, CNAME, PTR, SOA and MX).
fn same_content(left: &Message, right: &Message) -> bool {
    let same_records = |left: &[Record], right: &[Record]| {
        left.len() == right.len()
            && left.iter().zip(right).all(|(left, right)| {
                let compressed = matches!(
                    left.rtype,
                    RType::NS | RType::CNAME | RType::PTR | RType::SOA | RType::MX
                );
                left.name == right.name
                    && left.rtype == right.rtype
                    && left.class == right.class
                    && left.ttl == right.ttl
                    && if compressed {
                        left.data.eq_ignore_ascii_case(&right.data)
                    } else {
                        left.data == right.data
                    }
            })
    };
    left.header == right.header
        && left.questions == right.questions
        && same_records(&left.answers, &right.answers)
        && same_records(&left.authorities, &right.authorities)
        && same_records(&left.additionals, &right.additionals)
        && left.edns == right.edns
}

/// The findings of one run, for the summary line.
#[derive(Default, Debug)]
struct Tally {
    parsed: usize,
    viewed: usize,
    recomposed: usize,
    /// QueryView accepted a packet that Message::parse rejects.
    view_only: usize,
}

fn check(packet: &[u8], tally: &mut Tally) {
    let parsed = catch_unwind(|| Message::parse(packet))
        .unwrap_or_else(|_| panic!("Message::parse panicked on {packet:02x?}"));
    let view = catch_unwind(|| QueryView::parse(packet).map(|view| (view, view.cache_key())))
        .unwrap_or_else(|_| panic!("QueryView::parse panicked on {packet:02x?}"));
    if view.is_some() {
        tally.viewed += 1;
    }
    let Ok(message) = parsed else {
        if view.is_some() {
            tally.view_only += 1;
        }
        return;
    };
    tally.parsed += 1;
    if let Some(bytes) = recompose(&message) {
        tally.recomposed += 1;
        let again = Message::parse(&bytes)
            .unwrap_or_else(|error| panic!("recomposed {packet:02x?} does not parse: {error}"));
        assert!(
            same_content(&again, &message),
            "recomposing changed the content of {packet:02x?}:\n{message:?}\n{again:?}"
        );
    }
    if let Some((view, key)) = view {
        let question = &message.questions[0];
        assert_eq!(view.name_wire(), question.name.as_wire(), "{packet:02x?}");
        assert_eq!(
            (view.rtype, view.class),
            (question.rtype, question.class),
            "{packet:02x?}"
        );
        let edns = message.edns.as_ref();
        assert_eq!(
            view.edns_udp_size,
            edns.map(|edns| edns.udp_size),
            "{packet:02x?}"
        );
        assert_eq!(
            view.dnssec_ok,
            edns.is_some_and(|edns| edns.dnssec_ok),
            "{packet:02x?}"
        );
        assert_eq!(
            view.edns_version,
            edns.map_or(0, |edns| edns.version),
            "{packet:02x?}"
        );
        let flags = KeyFlags::new(
            edns.is_some(),
            edns.is_some_and(|edns| edns.dnssec_ok),
            message.header.checking_disabled,
            message.header.recursion_desired,
        )
        .with_authentic_data(message.header.authentic_data);
        let expected = CacheKey::new(
            question.name.as_wire(),
            question.rtype,
            question.class,
            flags,
        )
        .expect("a parsed name fits a key");
        assert_eq!(key.as_bytes(), expected.as_bytes(), "{packet:02x?}");
    }
}

#[test]
fn seeds_are_valid() {
    for seed in seeds() {
        let message = Message::parse(&seed).unwrap();
        assert!(!message.questions.is_empty());
    }
}

#[test]
fn mutated_packets_never_panic_and_recompose_faithfully() {
    let seeds = seeds();
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut tally = Tally::default();
    const ROUNDS: usize = 100_000;
    for _ in 0..ROUNDS {
        let mut packet = seeds[random.below(seeds.len())].clone();
        let donor = &seeds[random.below(seeds.len())];
        for _ in 0..=random.below(4) {
            mutate(&mut random, &mut packet, donor);
        }
        check(&packet, &mut tally);
    }
    // Enough of the mutants must stay parseable for the round trip to be tested.
    assert!(tally.parsed > ROUNDS / 20, "{tally:?}");
    assert!(tally.recomposed > ROUNDS / 20, "{tally:?}");
    assert!(tally.viewed > ROUNDS / 100, "{tally:?}");
    println!("{ROUNDS} mutants: {tally:?}");
}

#[test]
fn pointer_loops_and_lying_counts_are_rejected() {
    // A question whose name is a pointer to itself.
    let packet = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
    assert!(Message::parse(&packet).is_err());
    assert!(QueryView::parse(&packet).is_none());
    // Two names that point at each other.
    let packet = [
        0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, b'a', 0xc0, 18, 0, 1, 1, b'b', 0xc0, 12,
    ];
    assert!(Message::parse(&packet).is_err());
    // Counts that promise 65535 records in a 12-byte packet.
    let packet = [
        0, 1, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    assert!(Message::parse(&packet).is_err());
    assert!(QueryView::parse(&packet).is_none());
}
