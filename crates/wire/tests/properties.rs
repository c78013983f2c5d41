//! Property tests of the wire format: parsing what the builder composes gives
//! back the same content, the zero-copy [`QueryView`] agrees with
//! [`Message::parse`] on the queries that [`compose_query`] makes, and names
//! survive presentation format.

use hanse_wire::{
    CacheKey, Class, Edns, EdnsOption, Header, KeyFlags, Message, MessageBuilder, Name, QueryView,
    Question, RType, Record, compose_query,
};
use proptest::prelude::*;

fn label() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Any octets, dots, backslashes and blanks included.
        proptest::collection::vec(any::<u8>(), 1..12),
        // Host-name-like labels that share suffixes, so compression happens.
        prop::sample::select(vec![
            "www", "WWW", "mail", "example", "com", "net", "a", "ns1"
        ])
        .prop_map(|label| label.as_bytes().to_vec()),
        "[a-zA-Z0-9-]{1,63}".prop_map(String::into_bytes),
    ]
}

fn name() -> impl Strategy<Value = Name> {
    proptest::collection::vec(label(), 0..6).prop_map(|labels| {
        let mut wire = Vec::new();
        for label in labels {
            if wire.len() + label.len() + 2 > 255 {
                break;
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(&label);
        }
        wire.push(0);
        Name::from_wire(&wire).expect("built within the limits")
    })
}

fn character_strings() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..4).prop_map(
        |strings| {
            let mut data = Vec::new();
            for string in strings {
                data.push(string.len() as u8);
                data.extend_from_slice(&string);
            }
            data
        },
    )
}

/// Record data of a type, with the names uncompressed as a parser returns them.
fn typed_data() -> impl Strategy<Value = (RType, Vec<u8>)> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|octets| (RType::A, octets.to_vec())),
        any::<[u8; 16]>().prop_map(|octets| (RType::AAAA, octets.to_vec())),
        name().prop_map(|target| (RType::NS, target.as_wire().to_vec())),
        name().prop_map(|target| (RType::CNAME, target.as_wire().to_vec())),
        (any::<u16>(), name()).prop_map(|(preference, exchange)| {
            let mut data = preference.to_be_bytes().to_vec();
            data.extend_from_slice(exchange.as_wire());
            (RType::MX, data)
        }),
        (name(), name(), any::<[u8; 20]>()).prop_map(|(primary, mailbox, numbers)| {
            let mut data = primary.as_wire().to_vec();
            data.extend_from_slice(mailbox.as_wire());
            data.extend_from_slice(&numbers);
            (RType::SOA, data)
        }),
        character_strings().prop_map(|data| (RType::TXT, data)),
        // Opaque data of types without names: private-use and unassigned types.
        (
            65280..=65534u16,
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(number, data)| (RType(number), data)),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (name(), typed_data(), any::<u32>()).prop_map(|(name, (rtype, data), ttl)| Record {
        name,
        rtype,
        class: Class::IN,
        ttl,
        data: data.into(),
    })
}

fn question() -> impl Strategy<Value = Question> {
    (name(), any::<u16>(), any::<u16>()).prop_filter_map(
        "OPT is not a question type",
        |(name, rtype, class)| {
            (rtype != RType::OPT.0).then_some(Question {
                name,
                rtype: RType(rtype),
                class: Class(class),
            })
        },
    )
}

fn edns() -> impl Strategy<Value = Edns> {
    let option =
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(code, data)| {
            EdnsOption {
                code,
                data: data.into(),
            }
        });
    (
        any::<u16>(),
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
        proptest::collection::vec(option, 0..4),
    )
        .prop_map(
            |(udp_size, extended_rcode, version, dnssec_ok, options)| Edns {
                udp_size,
                extended_rcode,
                version,
                dnssec_ok,
                options,
            },
        )
}

fn header() -> impl Strategy<Value = Header> {
    (any::<u16>(), any::<[bool; 8]>(), 0..16u8, 0..16u8).prop_map(|(id, flags, opcode, rcode)| {
        Header {
            id,
            response: flags[0],
            opcode,
            authoritative: flags[1],
            truncated: flags[2],
            recursion_desired: flags[3],
            recursion_available: flags[4],
            zero: flags[5],
            authentic_data: flags[6],
            checking_disabled: flags[7],
            rcode,
            ..Header::default()
        }
    })
}

/// Everything a message holds, before composing.
#[derive(Debug, Clone)]
struct Content {
    header: Header,
    questions: Vec<Question>,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
    edns: Option<Edns>,
}

fn content() -> impl Strategy<Value = Content> {
    let records = || proptest::collection::vec(record(), 0..5);
    (
        header(),
        proptest::collection::vec(question(), 0..3),
        records(),
        records(),
        records(),
        proptest::option::of(edns()),
    )
        .prop_map(
            |(header, questions, answers, authorities, additionals, edns)| Content {
                header,
                questions,
                answers,
                authorities,
                additionals,
                edns,
            },
        )
}

fn compose(content: &Content) -> Vec<u8> {
    let mut builder = MessageBuilder::new(content.header, 65535);
    if let Some(edns) = &content.edns {
        builder.set_edns(edns.clone());
    }
    for question in &content.questions {
        builder.push_question(question).unwrap();
    }
    for record in &content.answers {
        builder.push_answer(record).unwrap();
    }
    for record in &content.authorities {
        builder.push_authority(record).unwrap();
    }
    for record in &content.additionals {
        builder.push_additional(record).unwrap();
    }
    builder.finish()
}

/// Whether the builder compresses names in the data of this type.
fn has_compressed_names(rtype: RType) -> bool {
    matches!(
        rtype,
        RType::NS | RType::CNAME | RType::PTR | RType::SOA | RType::MX
    )
}

/// The records are the same up to the case of names.
///
/// The builder looks up compression targets without case (its table is keyed
/// on lower-cased suffixes), so a name that differs from an earlier one only
/// in case comes back with the earlier one's case: in owner names, and in the
/// data of the types whose names it compresses. Everything else must come
/// back byte for byte.
fn assert_same_records(parsed: &[Record], expected: &[Record]) -> Result<(), TestCaseError> {
    prop_assert_eq!(parsed.len(), expected.len());
    for (parsed, expected) in parsed.iter().zip(expected) {
        prop_assert_eq!(&parsed.name, &expected.name);
        prop_assert_eq!(parsed.rtype, expected.rtype);
        prop_assert_eq!(parsed.class, expected.class);
        prop_assert_eq!(parsed.ttl, expected.ttl);
        if has_compressed_names(expected.rtype) {
            prop_assert!(parsed.data.eq_ignore_ascii_case(&expected.data));
        } else {
            prop_assert_eq!(&parsed.data, &expected.data);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_of_compose_is_identity(content in content()) {
        let packet = compose(&content);
        let message = Message::parse(&packet).unwrap();
        let header = message.header;
        prop_assert_eq!(header.id, content.header.id);
        prop_assert_eq!(
            Header { question_count: 0, answer_count: 0, authority_count: 0, additional_count: 0, ..header },
            content.header
        );
        prop_assert_eq!(usize::from(header.question_count), content.questions.len());
        prop_assert_eq!(usize::from(header.answer_count), content.answers.len());
        prop_assert_eq!(usize::from(header.authority_count), content.authorities.len());
        prop_assert_eq!(
            usize::from(header.additional_count),
            content.additionals.len() + usize::from(content.edns.is_some())
        );
        prop_assert_eq!(&message.questions, &content.questions);
        assert_same_records(&message.answers, &content.answers)?;
        assert_same_records(&message.authorities, &content.authorities)?;
        assert_same_records(&message.additionals, &content.additionals)?;
        prop_assert_eq!(&message.edns, &content.edns);
    }

    #[test]
    fn query_view_agrees_with_the_full_parser(
        id in any::<u16>(),
        name in name(),
        rtype in any::<u16>(),
        recursion_desired in any::<bool>(),
        edns in proptest::option::of(edns()),
    ) {
        let packet = compose_query(id, &name, RType(rtype), recursion_desired, edns.clone());
        let message = Message::parse(&packet).unwrap();
        let view = QueryView::parse(&packet).expect("composed queries take the fast path");
        let question = &message.questions[0];
        prop_assert_eq!(message.questions.len(), 1);
        prop_assert_eq!(view.header, message.header);
        prop_assert_eq!(view.name_wire(), question.name.as_wire());
        prop_assert_eq!(view.rtype, question.rtype);
        prop_assert_eq!(view.class, question.class);
        prop_assert_eq!(view.edns_udp_size, message.edns.as_ref().map(|edns| edns.udp_size));
        prop_assert_eq!(view.edns_version, message.edns.as_ref().map_or(0, |edns| edns.version));
        prop_assert_eq!(view.dnssec_ok, message.edns.as_ref().is_some_and(|edns| edns.dnssec_ok));
        let flags = KeyFlags::new(
            message.edns.is_some(),
            message.edns.as_ref().is_some_and(|edns| edns.dnssec_ok),
            message.header.checking_disabled,
            message.header.recursion_desired,
        );
        let key = CacheKey::new(question.name.as_wire(), question.rtype, question.class, flags).unwrap();
        let view_key = view.cache_key();
        prop_assert_eq!(view_key.as_bytes(), key.as_bytes());
        // The key ignores the case of the name.
        let lower = compose_query(id, &name.to_lowercase(), RType(rtype), recursion_desired, edns);
        let lower_view = QueryView::parse(&lower).unwrap();
        let lower_key = lower_view.cache_key();
        prop_assert_eq!(lower_key.as_bytes(), view_key.as_bytes());
    }

    #[test]
    fn names_survive_presentation_format(name in name()) {
        let text = name.to_string();
        let parsed = Name::from_ascii(&text).unwrap();
        prop_assert_eq!(&parsed, &name);
        prop_assert_eq!(parsed.as_wire(), name.as_wire());
    }
}
