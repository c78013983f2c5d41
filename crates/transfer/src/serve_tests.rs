//! Tests of the serving side against this crate's own client over real TCP
//! sockets on 127.0.0.1 (ephemeral ports): AXFR, IXFR (incremental, full
//! when the journal does not reach back, up to date), TSIG and refusals.
//! The tests against kdig and a second Hanse are in the `hanse` crate.

use crate::test_records::{name, rule, soa_of};
use crate::transfer::compose_request;
use crate::tsig;
use crate::*;
use hanse_wire::{Message, Name, RType, Rcode, Record};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn zone() -> Name {
    name("served.rpz.")
}

fn soa(serial: u32) -> Record {
    soa_of("served.rpz.", serial)
}

fn key(secret: &[u8]) -> TsigKey {
    TsigKey::new(name("fleet-key."), TsigAlgorithm::HmacSha256, secret).unwrap()
}

/// Serves `connections` transfer requests of `zone` on 127.0.0.1, each on
/// its own connection, with `access`.
async fn primary(zone_state: ServedZone, access: TransferAccess, connections: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().await.unwrap();
            let length = stream.read_u16().await.unwrap();
            let mut request = vec![0; usize::from(length)];
            stream.read_exact(&mut request).await.unwrap();
            let known = access.required_key.clone();
            let answer = answer_transfer(
                &request,
                true,
                |asked| {
                    (*asked == *zone_state.zone()).then(|| (zone_state.clone(), access.clone()))
                },
                |key_name, algorithm| {
                    known
                        .clone()
                        .filter(|key| key.name == *key_name && key.algorithm == algorithm)
                },
                tsig::now(),
            );
            for message in answer.messages {
                stream.write_u16(message.len() as u16).await.unwrap();
                stream.write_all(&message).await.unwrap();
            }
        }
    });
    address
}

fn open() -> TransferAccess {
    TransferAccess {
        allowed: true,
        required_key: None,
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn axfr_of_a_large_zone_spans_messages_and_verifies_with_tsig() {
    let records: Vec<Record> = (0..3000)
        .map(|i| rule(&format!("n{i}.example.served.rpz.")))
        .collect();
    let served = ServedZone::new(zone(), soa(7), records.clone(), 4);
    let secret = key(b"0123456789abcdef0123456789abcdef");
    let access = TransferAccess {
        allowed: true,
        required_key: Some(secret.clone()),
    };
    let address = primary(served, access, 1).await;
    let result = transfer(address, &zone(), None, Some(&secret), TIMEOUT)
        .await
        .unwrap();
    let Transfer::Full {
        soa: got,
        records: got_records,
    } = result
    else {
        panic!("expected a full transfer, got {result:?}");
    };
    assert_eq!(got.soa_serial(), Some(7));
    assert_eq!(got_records.len(), 3000);
    assert_eq!(got_records, records);
}

#[tokio::test]
async fn ixfr_is_incremental_within_the_journal_and_full_beyond_it() {
    let first = ServedZone::new(
        zone(),
        soa(1),
        vec![rule("a.served.rpz."), rule("b.served.rpz.")],
        2,
    );
    let second = first.updated(soa(2), vec![rule("a.served.rpz."), rule("c.served.rpz.")]);
    let third = second.updated(soa(3), vec![rule("c.served.rpz."), rule("d.served.rpz.")]);
    assert_eq!(third.journal().len(), 2);

    let address = primary(third.clone(), open(), 3).await;
    let result = transfer(address, &zone(), Some(1), None, TIMEOUT)
        .await
        .unwrap();
    let Transfer::Incremental { soa: got, changes } = result else {
        panic!("expected IXFR, got {result:?}");
    };
    assert_eq!(got.soa_serial(), Some(3));
    assert_eq!(changes.len(), 2);
    assert_eq!((changes[0].from_serial, changes[0].to_serial), (1, 2));
    assert_eq!(changes[0].removed, vec![rule("b.served.rpz.")]);
    assert_eq!(changes[0].added, vec![rule("c.served.rpz.")]);
    assert_eq!(changes[1].removed, vec![rule("a.served.rpz.")]);
    assert_eq!(changes[1].added, vec![rule("d.served.rpz.")]);

    let result = transfer(address, &zone(), Some(3), None, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(result, Transfer::UpToDate);

    // A serial the journal never held: the whole zone.
    let result = transfer(address, &zone(), Some(0), None, TIMEOUT)
        .await
        .unwrap();
    assert!(
        matches!(result, Transfer::Full { ref records, .. } if records.len() == 2),
        "{result:?}"
    );

    // A journal of one no longer reaches serial 1.
    let short = third.with_journal_capacity(1);
    let address = primary(short, open(), 1).await;
    let result = transfer(address, &zone(), Some(1), None, TIMEOUT)
        .await
        .unwrap();
    assert!(matches!(result, Transfer::Full { .. }), "{result:?}");
}

#[tokio::test]
async fn refusals_carry_the_right_codes() {
    let served = ServedZone::new(zone(), soa(1), vec![rule("a.served.rpz.")], 2);
    let right = key(b"right secret, thirty-two octets!");
    let wrong = key(b"wrong secret, thirty-two octets!");
    let required = TransferAccess {
        allowed: true,
        required_key: Some(right.clone()),
    };
    let address = primary(served.clone(), required, 3).await;
    let error = transfer(address, &zone(), None, Some(&wrong), TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransferError::Tsig(TsigError::Refused(16))),
        "{error:?}"
    );
    let error = transfer(address, &zone(), None, None, TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransferError::Rcode(Rcode::REFUSED)),
        "{error:?}"
    );
    let other = TsigKey::new(name("other-key."), TsigAlgorithm::HmacSha256, b"x").unwrap();
    let error = transfer(address, &zone(), None, Some(&other), TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(error, TransferError::Tsig(_)), "{error:?}");

    let closed = TransferAccess {
        allowed: false,
        required_key: None,
    };
    let address = primary(served.clone(), closed, 2).await;
    let error = transfer(address, &zone(), None, None, TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransferError::Rcode(Rcode::REFUSED)),
        "{error:?}"
    );
    let error = transfer(address, &name("other.rpz."), None, None, TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(error, TransferError::Rcode(Rcode(9))), "{error:?}");
}

#[test]
fn udp_and_malformed_requests() {
    let served = ServedZone::new(zone(), soa(5), vec![rule("a.served.rpz.")], 2);
    let find = |_: &Name| Some((served.clone(), open()));
    let no_keys = |_: &Name, _: TsigAlgorithm| None;
    let axfr = hanse_wire::compose_query(9, &zone(), RType::AXFR, false, None);
    let answer = answer_transfer(&axfr, false, find, no_keys, 0);
    assert_eq!(
        answer.outcome,
        TransferOutcome::Refused(Refusal::AxfrOverUdp)
    );
    let messages: Vec<Vec<u8>> = answer.messages.collect();
    assert_eq!(messages.len(), 1);
    let response = Message::parse(&messages[0]).unwrap();
    assert_eq!((response.header.id, response.rcode()), (9, Rcode::REFUSED));

    let ixfr = compose_request(10, &zone(), Some(4)).unwrap();
    let answer = answer_transfer(&ixfr, false, find, no_keys, 0);
    assert_eq!(answer.outcome, TransferOutcome::UpToDate);
    let messages: Vec<Vec<u8>> = answer.messages.collect();
    let response = Message::parse(&messages[0]).unwrap();
    assert_eq!(response.answers, vec![soa(5)]);

    // An IXFR without the client's SOA, and truncated requests.
    let bare = hanse_wire::compose_query(11, &zone(), RType::IXFR, false, None);
    let answer = answer_transfer(&bare, true, find, no_keys, 0);
    assert_eq!(answer.outcome, TransferOutcome::Refused(Refusal::Malformed));
    for length in 0..ixfr.len() {
        let answer = answer_transfer(&ixfr[..length], true, find, no_keys, 0);
        assert!(matches!(answer.outcome, TransferOutcome::Refused(_)));
        assert_eq!(answer.messages.count(), 1);
    }
}

#[test]
fn diffs_ignore_order_and_duplicates() {
    let old = vec![
        rule("a.served.rpz."),
        rule("b.served.rpz."),
        rule("a.served.rpz."),
    ];
    let new = vec![rule("c.served.rpz."), rule("A.served.rpz.")];
    let (removed, added) = diff_records(&old, &new);
    assert_eq!(removed, vec![rule("b.served.rpz.")]);
    assert_eq!(added, vec![rule("c.served.rpz.")]);
}
