//! Tests of the record stream reader and of the client against a scripted
//! in-process primary on 127.0.0.1 (the forms and faults a real primary
//! will not produce on demand). The tests against NSD are in tests/nsd.rs.

use crate::test_records::{name, rule, soa_of};
use crate::transfer::{Reader, compose_request};
use crate::tsig::{Signer, request_mac};
use crate::*;
use hanse_wire::{Class, Header, Message, MessageBuilder, Name, Question, RType, Rcode, Record};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn zone() -> Name {
    name("rpz.example.")
}

fn soa(serial: u32) -> Record {
    soa_of("rpz.example.", serial)
}

fn read_all(current: Option<u32>, messages: Vec<Vec<Record>>) -> Result<Transfer, TransferError> {
    let mut reader = Reader::new(zone(), current, Limits::default());
    let count = messages.len();
    for (index, message) in messages.into_iter().enumerate() {
        if reader.feed(message)? {
            if index + 1 != count {
                return Err(TransferError::Malformed("test: messages after the end"));
            }
            return reader.finish();
        }
    }
    Err(TransferError::Incomplete)
}

#[test]
fn reads_axfr_across_messages() {
    let result = read_all(
        None,
        vec![
            vec![soa(5), rule("a.rpz.example.")],
            vec![rule("b.rpz.example.")],
            vec![soa(5)],
        ],
    )
    .unwrap();
    assert_eq!(
        result,
        Transfer::Full {
            soa: soa(5),
            records: vec![rule("a.rpz.example."), rule("b.rpz.example.")],
        }
    );
    // A zone with only its SOA.
    let result = read_all(None, vec![vec![soa(5), soa(5)]]).unwrap();
    assert_eq!(
        result,
        Transfer::Full {
            soa: soa(5),
            records: vec![]
        }
    );
}

#[test]
fn reads_the_three_ixfr_forms() {
    assert_eq!(
        read_all(Some(5), vec![vec![soa(5)]]).unwrap(),
        Transfer::UpToDate
    );
    // A primary behind us is no reason to transfer either.
    assert_eq!(
        read_all(Some(6), vec![vec![soa(5)]]).unwrap(),
        Transfer::UpToDate
    );

    let result = read_all(
        Some(3),
        vec![
            vec![soa(5), soa(3), rule("gone.rpz.example."), soa(4)],
            vec![rule("new.rpz.example."), soa(4), soa(5)],
            vec![rule("newer.rpz.example."), soa(5)],
        ],
    )
    .unwrap();
    let Transfer::Incremental { soa: last, changes } = result else {
        panic!("{result:?}");
    };
    assert_eq!(last, soa(5));
    assert_eq!(
        changes,
        vec![
            Change {
                from_serial: 3,
                to_serial: 4,
                removed: vec![rule("gone.rpz.example.")],
                added: vec![rule("new.rpz.example.")],
            },
            Change {
                from_serial: 4,
                to_serial: 5,
                removed: vec![],
                added: vec![rule("newer.rpz.example.")],
            },
        ]
    );

    // The primary falls back to the whole zone.
    let result = read_all(Some(3), vec![vec![soa(5), rule("a.rpz.example."), soa(5)]]).unwrap();
    assert_eq!(
        result,
        Transfer::Full {
            soa: soa(5),
            records: vec![rule("a.rpz.example.")]
        }
    );
}

#[test]
fn refuses_malformed_transfers() {
    let malformed = |current, messages| {
        let result = read_all(current, messages);
        assert!(result.is_err(), "{result:?}");
        result.unwrap_err()
    };
    // No SOA first.
    malformed(None, vec![vec![rule("a.rpz.example."), soa(5)]]);
    // No closing SOA.
    assert!(matches!(
        malformed(None, vec![vec![soa(5), rule("a.rpz.example.")]]),
        TransferError::Incomplete
    ));
    // A closing SOA with another serial.
    malformed(None, vec![vec![soa(5), rule("a.rpz.example."), soa(6)]]);
    // Records after the closing SOA, in the same message.
    malformed(None, vec![vec![soa(5), soa(5), rule("a.rpz.example.")]]);
    malformed(Some(5), vec![vec![soa(5), rule("a.rpz.example.")]]);
    // Records outside the zone.
    assert!(matches!(
        malformed(None, vec![vec![soa(5), rule("evil.example."), soa(5)]]),
        TransferError::OutOfZone(_)
    ));
    // Another class.
    let mut chaos = rule("a.rpz.example.");
    chaos.class = Class::CH;
    malformed(None, vec![vec![soa(5), chaos, soa(5)]]);
    // An SOA below the apex.
    let mut deep = soa(5);
    deep.name = name("sub.rpz.example.");
    malformed(None, vec![vec![soa(5), deep, soa(5)]]);
    // An incremental transfer that does not start at our serial.
    malformed(Some(2), vec![vec![soa(5), soa(3), soa(5), soa(5)]]);
    // Changes out of sequence.
    malformed(
        Some(3),
        vec![vec![soa(6), soa(3), soa(4), soa(5), soa(6), soa(6)]],
    );
}

#[test]
fn caps_the_record_count() {
    let mut reader = Reader::new(
        zone(),
        None,
        Limits {
            max_bytes: u64::MAX,
            max_records: 3,
        },
    );
    let result = reader.feed(vec![
        soa(5),
        rule("a.rpz.example."),
        rule("b.rpz.example."),
        rule("c.rpz.example."),
        soa(5),
    ]);
    assert!(
        matches!(result, Err(TransferError::TooManyRecords(3))),
        "{result:?}"
    );
}

#[test]
fn ixfr_request_carries_our_serial() {
    let request = compose_request(9, &zone(), Some(77)).unwrap();
    let message = Message::parse(&request).unwrap();
    assert_eq!(message.questions[0].rtype, RType::IXFR);
    assert_eq!(message.authorities[0].soa_serial(), Some(77));
}

/// What the scripted primary does.
#[derive(Clone)]
struct Script {
    /// The answer records of each message, and whether to sign it.
    messages: Vec<(Vec<Record>, bool)>,
    key: Option<TsigKey>,
    /// Added to the request ID in the responses.
    id_offset: u16,
    rcode: u8,
    /// Never answer.
    silent: bool,
}

impl Script {
    fn new(messages: Vec<Vec<Record>>) -> Script {
        Script {
            messages: messages
                .into_iter()
                .map(|records| (records, true))
                .collect(),
            key: None,
            id_offset: 0,
            rcode: 0,
            silent: false,
        }
    }
}

/// Serves one transfer by `script` on 127.0.0.1.
async fn scripted_primary(script: Script) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let length = stream.read_u16().await.unwrap();
        let mut request = vec![0; usize::from(length)];
        stream.read_exact(&mut request).await.unwrap();
        if script.silent {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        let query = Message::parse(&request).unwrap();
        let mac = request_mac(&request).unwrap_or_default();
        let mut signer = script.key.as_ref().map(|key| Signer::new(key, mac));
        for (records, sign) in &script.messages {
            let mut builder = MessageBuilder::new(
                Header {
                    id: query.header.id.wrapping_add(script.id_offset),
                    response: true,
                    authoritative: true,
                    rcode: script.rcode,
                    ..Header::default()
                },
                65535,
            );
            let question: &Question = &query.questions[0];
            builder.push_question(question).unwrap();
            for record in records {
                builder.push_answer(record).unwrap();
            }
            let mut message = builder.finish();
            if let Some(signer) = signer.as_mut() {
                signer.sign(&mut message, tsig::now(), *sign);
            }
            stream.write_u16(message.len() as u16).await.unwrap();
            stream.write_all(&message).await.unwrap();
        }
        // Keep the connection open a little: the client must not need EOF.
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    address
}

fn test_key() -> TsigKey {
    TsigKey::new(
        name("scripted-key."),
        TsigAlgorithm::HmacSha512,
        b"scripted secret",
    )
    .unwrap()
}

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn incremental_transfer_with_unsigned_middle_messages() {
    let mut script = Script::new(vec![
        vec![soa(5), soa(4)],
        vec![rule("gone.rpz.example.")],
        vec![soa(5), rule("new.rpz.example.")],
        vec![soa(5)],
    ]);
    script.messages[1].1 = false;
    script.messages[2].1 = false;
    script.key = Some(test_key());
    let primary = scripted_primary(script).await;
    let result = transfer(primary, &zone(), Some(4), Some(&test_key()), TIMEOUT)
        .await
        .unwrap();
    let Transfer::Incremental { changes, .. } = result else {
        panic!("{result:?}");
    };
    assert_eq!(changes[0].removed, vec![rule("gone.rpz.example.")]);
    assert_eq!(changes[0].added, vec![rule("new.rpz.example.")]);
}

#[tokio::test]
async fn unsigned_last_message_is_refused() {
    let mut script = Script::new(vec![vec![soa(5), rule("a.rpz.example.")], vec![soa(5)]]);
    script.messages[1].1 = false;
    script.key = Some(test_key());
    let primary = scripted_primary(script).await;
    let result = transfer(primary, &zone(), None, Some(&test_key()), TIMEOUT).await;
    assert!(
        matches!(result, Err(TransferError::Tsig(TsigError::Missing))),
        "{result:?}"
    );
}

#[tokio::test]
async fn unsigned_answer_is_refused_when_a_key_is_configured() {
    let primary = scripted_primary(Script::new(vec![vec![soa(5), soa(5)]])).await;
    let result = transfer(primary, &zone(), None, Some(&test_key()), TIMEOUT).await;
    assert!(
        matches!(result, Err(TransferError::Tsig(TsigError::Missing))),
        "{result:?}"
    );
}

#[tokio::test]
async fn wrong_id_rcode_early_close_and_silence() {
    let mut script = Script::new(vec![vec![soa(5), soa(5)]]);
    script.id_offset = 1;
    let primary = scripted_primary(script).await;
    let result = transfer(primary, &zone(), None, None, TIMEOUT).await;
    assert!(
        matches!(result, Err(TransferError::Mismatch(_))),
        "{result:?}"
    );

    let mut script = Script::new(vec![vec![]]);
    script.rcode = 9;
    let primary = scripted_primary(script).await;
    let result = transfer(primary, &zone(), None, None, TIMEOUT).await;
    assert!(
        matches!(result, Err(TransferError::Rcode(Rcode(9)))),
        "{result:?}"
    );

    let primary = scripted_primary(Script::new(vec![vec![soa(5), rule("a.rpz.example.")]])).await;
    let result = transfer(primary, &zone(), None, None, TIMEOUT).await;
    assert!(
        matches!(result, Err(TransferError::Incomplete)),
        "{result:?}"
    );

    let mut script = Script::new(vec![]);
    script.silent = true;
    let primary = scripted_primary(script).await;
    let result = transfer(primary, &zone(), None, None, Duration::from_millis(300)).await;
    assert!(matches!(result, Err(TransferError::Timeout)), "{result:?}");
}

#[tokio::test]
async fn caps_the_bytes() {
    let records: Vec<Record> = (0..200)
        .map(|index| rule(&format!("r{index}.rpz.example.")))
        .collect();
    let primary = scripted_primary(Script::new(vec![
        [vec![soa(5)], records.clone()].concat(),
        records,
        vec![soa(5)],
    ]))
    .await;
    let limits = Limits {
        max_bytes: 4000,
        max_records: usize::MAX,
    };
    let result = transfer_with_limits(primary, &zone(), None, None, TIMEOUT, limits).await;
    assert!(
        matches!(result, Err(TransferError::TooLarge(4000))),
        "{result:?}"
    );
}
