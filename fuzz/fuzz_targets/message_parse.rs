//! Fuzzes `Message::parse`: it must never panic, and whatever it accepts must
//! compose again with `MessageBuilder` into a packet that parses to the same
//! content (names compared without case where the builder compresses them).

#![no_main]

use hanse_wire::{Message, MessageBuilder, RType, Record};
use libfuzzer_sys::fuzz_target;

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

/// The builder matches compression targets without case, so names in owners
/// and in NS, CNAME, PTR, SOA and MX data may come back in another case.
fn same_records(left: &[Record], right: &[Record]) -> bool {
    left.len() == right.len()
        && left.iter().zip(right).all(|(left, right)| {
            let compressed =
                matches!(left.rtype, RType::NS | RType::CNAME | RType::PTR | RType::SOA | RType::MX);
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
}

fuzz_target!(|packet: &[u8]| {
    let Ok(message) = Message::parse(packet) else {
        return;
    };
    // A packet of up to 65535 bytes can decompress into more: then the
    // builder refuses, which is correct.
    let Some(bytes) = recompose(&message) else {
        return;
    };
    let again = Message::parse(&bytes).expect("a recomposed message parses");
    assert_eq!(again.header, message.header);
    assert_eq!(again.questions, message.questions);
    assert!(same_records(&again.answers, &message.answers));
    assert!(same_records(&again.authorities, &message.authorities));
    assert!(same_records(&again.additionals, &message.additionals));
    assert_eq!(again.edns, message.edns);
});
