//! Feeds by zone transfer from a real primary: Knot DNS (Debian package
//! `knot`), started by each test with a generated configuration in a
//! temporary directory and stopped by PID when the test ends. Knot serves
//! IXFR from its journal (`zonefile-load: difference`), signs with TSIG
//! (hmac-sha256) and sends NOTIFY to a UDP socket the test binds.
//!
//! Addresses (127.53.0.0/16 belongs to these tests): 127.53.1.0/24 here,
//! one address pair per test, ports chosen free at run time.
//!
//! These tests fail (they do not skip) when Knot cannot be run.

use hanse_feeds::{
    CopyOrigin, FeedSpec, FeedStatus, FeedSupply, NotifyOutcome, Source, SupplyOptions,
};
use hanse_policy::{Feed, FeedFormat, PreparedName};
use hanse_testnet::Scratch;
use hanse_testnet::knot::{KnotKey, KnotPrimary};
use hanse_transfer::{Notify, TsigAlgorithm, TsigKey, notify_response, read_notify};
use hanse_wire::Name;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "aGFuc2UtZmVlZHMta25vdC10ZXN0LXNlY3JldC0yMDI2";
const WRONG_SECRET: &str = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw==";
const ZONE: &str = "rpz.test.";

/// Knot on `address` (a free port) serving `zone_text` for [`ZONE`],
/// transfers only with the test key, NOTIFY to `notify_to` if given.
fn knot(address: Ipv4Addr, zone_text: &str, notify_to: Option<SocketAddr>) -> KnotPrimary {
    let key = KnotKey {
        name: "hanse-key.".to_owned(),
        secret: SECRET.to_owned(),
    };
    KnotPrimary::start(
        SocketAddr::from((address, free_port(address))),
        ZONE,
        zone_text,
        Some(&key),
        notify_to.as_slice(),
    )
    .expect("knotd (Debian package knot) starts")
}

/// Receives NOTIFY messages over UDP and TCP (Knot sends them over TCP) on
/// one address and port, and answers them.
struct NotifyListener {
    udp: UdpSocket,
    tcp: TcpListener,
}

impl NotifyListener {
    fn bind(address: SocketAddr) -> NotifyListener {
        let udp = UdpSocket::bind(address).expect("notify socket");
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let tcp = TcpListener::bind(address).expect("notify listener");
        tcp.set_nonblocking(true).expect("nonblocking");
        NotifyListener { udp, tcp }
    }

    /// The next NOTIFY (answered), waiting about 100 ms at most for UDP.
    fn receive(&self) -> Option<(Notify, SocketAddr)> {
        if let Ok((mut stream, source)) = self.tcp.accept() {
            stream.set_nonblocking(false).ok()?;
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).ok()?;
            let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            stream.read_exact(&mut message).ok()?;
            let notify = read_notify(&message)?;
            let response = notify_response(&notify);
            let mut framed = u16::try_from(response.len()).ok()?.to_be_bytes().to_vec();
            framed.extend_from_slice(&response);
            let _ = stream.write_all(&framed);
            return Some((notify, source));
        }
        let mut buffer = [0u8; 4096];
        let (length, source) = self.udp.recv_from(&mut buffer).ok()?;
        let notify = read_notify(&buffer[..length])?;
        let _ = self.udp.send_to(&notify_response(&notify), source);
        Some((notify, source))
    }
}

/// A free TCP and UDP port on `address`.
fn free_port(address: Ipv4Addr) -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind((address, 0)).expect("bind a TCP port on 127.53.0.0/16");
        let port = tcp.local_addr().expect("address").port();
        if UdpSocket::bind((address, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {address}");
}

/// Polls `condition` every 20 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn zone_text(serial: u32, refresh: u32, body: &str) -> String {
    format!(
        "$ORIGIN {ZONE}\n$TTL 60\n@ SOA ns.rpz.test. hostmaster.rpz.test. {serial} {refresh} {refresh} 86400 60\n\
         @ NS ns.rpz.test.\nns A 127.0.0.1\n{body}"
    )
}

fn key(secret: &str) -> TsigKey {
    TsigKey::from_base64(
        Name::from_ascii("hanse-key.").expect("key name"),
        TsigAlgorithm::HmacSha256,
        secret,
    )
    .expect("key")
}

fn spec(primaries: Vec<SocketAddr>, secret: &str) -> FeedSpec {
    FeedSpec {
        name: "rpz".to_owned(),
        format: FeedFormat::Rpz,
        origin: None,
        source: Source::Transfer {
            zone: Name::from_ascii(ZONE).expect("zone"),
            primaries,
            key: Some(key(secret)),
        },
    }
}

fn options(state: Option<&Scratch>) -> SupplyOptions {
    SupplyOptions {
        state_directory: state.map(|directory| directory.0.clone()),
        transfer_timeout: Duration::from_secs(5),
        min_refresh: Duration::from_secs(1),
        failure_retry: Duration::from_secs(1),
        ..SupplyOptions::default()
    }
}

fn blocks(feed: &Feed, name: &str) -> bool {
    let name = Name::from_ascii(name).expect("name");
    let prepared = PreparedName::new(name.as_wire()).expect("prepared");
    feed.match_qname(&prepared).is_some()
}

fn status(supply: &FeedSupply) -> FeedStatus {
    supply.status().remove(0)
}

fn counter() -> (Arc<AtomicUsize>, Arc<dyn Fn() + Send + Sync>) {
    let count = Arc::new(AtomicUsize::new(0));
    let inner = Arc::clone(&count);
    (
        count,
        Arc::new(move || {
            inner.fetch_add(1, Ordering::SeqCst);
        }),
    )
}

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn axfr_then_notify_and_ixfr_then_the_saved_copy_serves_a_restart() {
    let notify_address = SocketAddr::from((
        Ipv4Addr::new(127, 53, 1, 2),
        free_port(Ipv4Addr::new(127, 53, 1, 2)),
    ));
    let notify_listener = NotifyListener::bind(notify_address);
    let knot = knot(
        Ipv4Addr::new(127, 53, 1, 1),
        &zone_text(1, 3600, "one.example CNAME .\n"),
        Some(notify_address),
    );
    let state = Scratch::new("feeds-knot-notify-state");
    let zone = Name::from_ascii(ZONE).expect("zone");

    let supply = FeedSupply::load(
        vec![spec(vec![knot.address()], SECRET)],
        options(Some(&state)),
    )
    .expect("loads");
    assert_eq!(status(&supply).copy_origin, CopyOrigin::None);
    assert!(status(&supply).stale);
    let (changes, on_change) = counter();
    supply.start(on_change);
    assert!(
        wait_until(WAIT, || status(&supply).full_updates == 1),
        "no AXFR: {:?}",
        status(&supply)
    );
    let first = status(&supply);
    assert_eq!(first.serial, Some(1));
    assert_eq!(first.copy_origin, CopyOrigin::Primary(knot.address()));
    assert!(!first.stale);
    assert!(blocks(&supply.feeds()[0], "one.example."));
    assert!(!blocks(&supply.feeds()[0], "two.example."));
    // on_change runs just after the status changed.
    assert!(wait_until(WAIT, || changes.load(Ordering::SeqCst) == 1));

    // NOTIFY from elsewhere is refused; another zone is unknown.
    let stranger = IpAddr::V4(Ipv4Addr::new(127, 53, 1, 99));
    assert_eq!(supply.notify(&zone, stranger), NotifyOutcome::NotPrimary);
    let other = Name::from_ascii("other.test.").expect("zone");
    assert_eq!(
        supply.notify(&other, knot.address().ip()),
        NotifyOutcome::UnknownZone
    );

    // Drain any NOTIFY Knot sent at start-up, then change the zone.
    while notify_listener.receive().is_some() {}
    knot.update(
        &zone_text(2, 3600, "one.example CNAME .\ntwo.example CNAME .\n"),
        2,
    )
    .expect("knot loads the change");
    let mut notified = None;
    assert!(
        wait_until(WAIT, || {
            match notify_listener.receive() {
                Some((notify, source)) if notify.serial == Some(2) => {
                    notified = Some((notify, source));
                    true
                }
                _ => false,
            }
        }),
        "Knot sent no NOTIFY for serial 2"
    );
    let (notify, source) = notified.expect("notify");
    assert_eq!(notify.zone, zone);
    assert_eq!(
        supply.notify(&notify.zone, source.ip()),
        NotifyOutcome::Accepted
    );
    assert!(
        wait_until(WAIT, || status(&supply).serial == Some(2)),
        "no update after NOTIFY: {:?}",
        status(&supply)
    );
    let second = status(&supply);
    assert_eq!(second.incremental_updates, 1, "{second:?}");
    assert_eq!(second.full_updates, 1, "{second:?}");
    assert!(blocks(&supply.feeds()[0], "two.example."));
    assert!(wait_until(WAIT, || changes.load(Ordering::SeqCst) >= 2));
    let messages = supply.take_messages();
    assert!(
        messages
            .summaries
            .iter()
            .any(|line| line.contains("serial 2")),
        "{messages:?}"
    );
    supply.stop();
    drop(supply);

    // Restart with Knot gone: the saved copy is served.
    let knot_address = knot.address();
    drop(knot);
    let supply = FeedSupply::load(
        vec![spec(vec![knot_address], SECRET)],
        options(Some(&state)),
    )
    .expect("loads from the saved copy");
    let restarted = status(&supply);
    assert_eq!(restarted.serial, Some(2));
    assert!(
        matches!(restarted.copy_origin, CopyOrigin::SavedCopy(_)),
        "{restarted:?}"
    );
    assert!(blocks(&supply.feeds()[0], "one.example."));
    assert!(blocks(&supply.feeds()[0], "two.example."));
    // The primary is dead: the copy stays, and the feed is stale.
    let (_, on_change) = counter();
    supply.start(on_change);
    assert!(wait_until(WAIT, || status(&supply).last_error.is_some()));
    let failed = status(&supply);
    assert!(failed.stale);
    assert_eq!(failed.serial, Some(2));
    let started = Instant::now();
    supply.stop();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_wrong_key_is_an_error_and_the_copy_stays() {
    let knot = knot(
        Ipv4Addr::new(127, 53, 1, 3),
        &zone_text(5, 3600, "kept.example CNAME .\n"),
        None,
    );
    let state = Scratch::new("feeds-knot-wrong-key-state");
    let supply = FeedSupply::load(
        vec![spec(vec![knot.address()], SECRET)],
        options(Some(&state)),
    )
    .expect("loads");
    let (_, on_change) = counter();
    supply.start(on_change);
    assert!(wait_until(WAIT, || status(&supply).serial == Some(5)));
    drop(supply);

    let supply = FeedSupply::load(
        vec![spec(vec![knot.address()], WRONG_SECRET)],
        options(Some(&state)),
    )
    .expect("loads");
    let generation = supply.generation();
    let (_, on_change) = counter();
    supply.start(on_change);
    assert!(wait_until(WAIT, || status(&supply).last_error.is_some()));
    let failed = status(&supply);
    assert!(failed.stale);
    assert!(
        failed.last_error.as_deref().unwrap_or("").contains("TSIG"),
        "{failed:?}"
    );
    assert_eq!(failed.serial, Some(5));
    assert!(blocks(&supply.feeds()[0], "kept.example."));
    // The failure was reported, but no feed changed.
    assert_eq!(supply.generation(), generation);
    assert!(!supply.take_messages().warnings.is_empty());
    drop(supply);

    // With the right key again, the saved copy's serial is the start of an
    // IXFR.
    knot.update(
        &zone_text(6, 3600, "kept.example CNAME .\nnew.example CNAME .\n"),
        6,
    )
    .expect("knot loads the change");
    let supply = FeedSupply::load(
        vec![spec(vec![knot.address()], SECRET)],
        options(Some(&state)),
    )
    .expect("loads");
    assert_eq!(status(&supply).serial, Some(5));
    let (_, on_change) = counter();
    supply.start(on_change);
    assert!(wait_until(WAIT, || status(&supply).serial == Some(6)));
    let updated = status(&supply);
    assert_eq!(
        (updated.incremental_updates, updated.full_updates),
        (1, 0),
        "{updated:?}"
    );
    assert!(blocks(&supply.feeds()[0], "new.example."));
}

#[test]
fn a_dead_primary_fails_over_to_the_next() {
    let knot = knot(
        Ipv4Addr::new(127, 53, 1, 5),
        &zone_text(3, 3600, "failover.example CNAME .\n"),
        None,
    );
    // Nothing listens here: the connection is refused.
    let dead = SocketAddr::from((
        Ipv4Addr::new(127, 53, 1, 4),
        free_port(Ipv4Addr::new(127, 53, 1, 4)),
    ));
    let supply = FeedSupply::load(
        vec![spec(vec![dead, knot.address()], SECRET)],
        options(None),
    )
    .expect("loads");
    let (_, on_change) = counter();
    supply.start(on_change);
    assert!(wait_until(WAIT, || status(&supply).serial == Some(3)));
    assert_eq!(
        status(&supply).copy_origin,
        CopyOrigin::Primary(knot.address())
    );
    assert!(blocks(&supply.feeds()[0], "failover.example."));
    // Either primary may NOTIFY.
    let zone = Name::from_ascii(ZONE).expect("zone");
    assert_eq!(supply.notify(&zone, dead.ip()), NotifyOutcome::Accepted);
}

#[test]
fn the_soa_refresh_timer_picks_up_a_change_without_notify() {
    let knot = knot(
        Ipv4Addr::new(127, 53, 1, 6),
        &zone_text(10, 2, "before.example CNAME .\n"),
        None,
    );
    let supply =
        FeedSupply::load(vec![spec(vec![knot.address()], SECRET)], options(None)).expect("loads");
    let (changes, on_change) = counter();
    supply.start(on_change);
    assert!(wait_until(WAIT, || status(&supply).serial == Some(10)));
    knot.update(
        &zone_text(11, 2, "before.example CNAME .\nafter.example CNAME .\n"),
        11,
    )
    .expect("knot loads the change");
    assert!(
        wait_until(WAIT, || status(&supply).serial == Some(11)),
        "the refresh timer did not fetch serial 11: {:?}",
        status(&supply)
    );
    assert!(blocks(&supply.feeds()[0], "after.example."));
    assert_eq!(status(&supply).incremental_updates, 1);
    assert!(wait_until(WAIT, || changes.load(Ordering::SeqCst) >= 2));
}
