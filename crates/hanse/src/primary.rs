//! This node as a zone-transfer primary for its feeds (`[[policy.serve]]`):
//! every served feed is rendered as a response policy zone
//! (`hanse_policy::Feed::rpz_records`), kept with a bounded journal of
//! changes (`hanse_transfer::ServedZone`), answered by AXFR (RFC 5936) and
//! IXFR (RFC 1995) through the DNS listener's transfer hook, and announced
//! to the configured secondaries by NOTIFY (RFC 1996) on every change,
//! TSIG-signed (RFC 8945) when the zone has a key.
//!
//! Serials:
//! - A policy zone feed that has an SOA keeps its own serial (the one of
//!   its file or of its primary), so a chain of primaries agrees on it.
//! - A list feed gets a serial of its own: on every change of its rendered
//!   records the next serial is the Unix time, or the previous serial plus
//!   one if that is not newer (RFC 1982). The serial and a digest of the
//!   records are written to `STATE/served/<zone>serial` after every
//!   change; at start-up unchanged records keep the stored serial and
//!   changed ones continue after it, so a restart never goes backwards.
//!
//! Updates come from the main loop only ([`Primary::update`], after the
//! policy was rebuilt); transfers read an immutable snapshot swapped whole.
//!
//! # Limitations
//! - NOTIFY responses are matched by ID and source, their TSIG is not checked.
//! - The journal lives in memory: after a restart, secondaries that are
//!   behind get the whole zone once.
//! - A policy zone whose content changes without a newer serial is served
//!   with the new content under the old serial (reported): secondaries only
//!   see it at the next serial.

use crate::config::{IpNetwork, ServedFeed};
use hanse_policy::{Feed, FeedFormat};
use hanse_server::TransferProvider;
use hanse_transfer::{
    Refusal, ResponseStream, ServedZone, TransferAccess, TransferKind, TransferOutcome,
    TsigAlgorithm, TsigKey, answer_transfer, compose_notify, read_transfer_request, serial_newer,
    sign_notify,
};
use hanse_wire::{Class, Message, Name, Opcode, RType, Record};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a NOTIFY is sent to one secondary before giving up.
const NOTIFY_ATTEMPTS: u32 = 5;
/// The wait for the first NOTIFY response; doubled after each attempt.
const NOTIFY_FIRST_WAIT: Duration = Duration::from_millis(500);
/// The TTL of the SOA of a rendered list.
const LIST_SOA_TTL: u32 = 60;
/// SOA timers of a rendered list: refresh, retry, expire, minimum.
const LIST_SOA_TIMERS: [u32; 4] = [300, 60, 604_800, 60];

/// One served zone in the snapshot.
#[derive(Clone)]
struct Entry {
    zone: ServedZone,
    settings: ServedFeed,
}

/// Counters of one served zone (they survive reloads).
#[derive(Default)]
pub struct ZoneCounters {
    axfr: AtomicU64,
    incremental: AtomicU64,
    ixfr_full: AtomicU64,
    up_to_date: AtomicU64,
    soa: AtomicU64,
    refused: Mutex<HashMap<&'static str, u64>>,
    notify_answered: AtomicU64,
    notify_unanswered: AtomicU64,
}

/// One served zone as the metrics see it.
pub struct ZoneStatus {
    /// The zone.
    pub zone: String,
    /// The feed it renders.
    pub feed: String,
    /// The current serial.
    pub serial: u32,
    /// Transfers answered by kind: `axfr`, `ixfr`, `ixfr_full`,
    /// `up_to_date`, and SOA queries answered (`soa`).
    pub transfers: [(&'static str, u64); 5],
    /// Refusals by reason.
    pub refused: Vec<(&'static str, u64)>,
    /// NOTIFY messages answered and given up on.
    pub notify: [(&'static str, u64); 2],
}

/// The zones served, and their counters.
pub struct Primary {
    snapshot: arc_swap::ArcSwap<HashMap<Name, Entry>>,
    counters: Mutex<HashMap<Name, Arc<ZoneCounters>>>,
    state_directory: PathBuf,
    /// The addresses NOTIFY is sent from, one per family: the DNS
    /// listener's, so secondaries that match the source against their
    /// primaries (RFC 1996 §3.10) recognise it.
    sources: Vec<IpAddr>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The next serial after `previous`: the Unix time if that is newer, else
/// `previous + 1` (RFC 1982).
fn next_serial(previous: u32, now: u64) -> u32 {
    let now = now as u32;
    if serial_newer(now, previous) {
        now
    } else {
        previous.wrapping_add(1)
    }
}

/// A 64-bit FNV-1a digest of sorted records, to recognise unchanged
/// content across restarts.
fn digest(records: &[Record]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for record in records {
        let bytes = record
            .name
            .as_wire()
            .iter()
            .map(u8::to_ascii_lowercase)
            .chain(record.rtype.0.to_be_bytes())
            .chain(record.ttl.to_be_bytes())
            .chain((record.data.len() as u16).to_be_bytes())
            .chain(record.data.iter().copied());
        for byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Sorts records for a stable rendering (owner, type, data).
fn sort_records(records: &mut [Record]) {
    records.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .as_wire()
            .cmp(b.name.to_lowercase().as_wire())
            .then(a.rtype.0.cmp(&b.rtype.0))
            .then(a.data.cmp(&b.data))
    });
}

/// The apex NS record of a served zone: the MNAME of a policy zone's SOA,
/// else `localhost.` (the usual NS of a response policy zone, which is
/// never asked for its own data).
fn apex_ns(zone: &Name, feed: &Feed) -> Record {
    let target = feed
        .soa()
        .and_then(|soa| Name::parse_compressed(&soa.data, 0).ok())
        .map_or_else(|| LOCALHOST.to_vec(), |(name, _)| name.as_wire().to_vec());
    Record {
        name: zone.clone(),
        rtype: RType::NS,
        class: Class::IN,
        ttl: LIST_SOA_TTL,
        data: target.into(),
    }
}

/// `localhost.` in wire form.
const LOCALHOST: &[u8] = b"\x09localhost\x00";

/// The SOA of a rendered list: MNAME `localhost.`, RNAME `hostmaster.<zone>`.
fn list_soa(zone: &Name, serial: u32) -> Record {
    let mut data = LOCALHOST.to_vec();
    let hostmaster = zone.prepend(b"hostmaster").unwrap_or_else(|_| zone.clone());
    data.extend_from_slice(hostmaster.as_wire());
    data.extend_from_slice(&serial.to_be_bytes());
    for timer in LIST_SOA_TIMERS {
        data.extend_from_slice(&timer.to_be_bytes());
    }
    Record {
        name: zone.clone(),
        rtype: RType::SOA,
        class: Class::IN,
        ttl: LIST_SOA_TTL,
        data: data.into(),
    }
}

/// Whether `address` is in one of `networks`.
fn allowed(networks: &[IpNetwork], address: IpAddr) -> bool {
    networks.iter().any(|network| network.contains(address))
}

impl Primary {
    /// No zones yet; serials are stored under `state_directory/served/`;
    /// NOTIFY goes out from the first of `listen` of the target's family
    /// (unless it is a wildcard address).
    pub fn new(state_directory: &Path, listen: &[SocketAddr]) -> Primary {
        Primary {
            sources: listen
                .iter()
                .map(SocketAddr::ip)
                .filter(|address| !address.is_unspecified())
                .collect(),
            snapshot: arc_swap::ArcSwap::from_pointee(HashMap::new()),
            counters: Mutex::new(HashMap::new()),
            state_directory: state_directory.join("served"),
        }
    }

    fn counters(&self, zone: &Name) -> Arc<ZoneCounters> {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(counters.entry(zone.to_lowercase()).or_default())
    }

    fn serial_path(&self, zone: &Name) -> PathBuf {
        self.state_directory
            .join(format!("{}serial", zone.to_lowercase()))
    }

    /// The stored serial and digest of `zone`, if any.
    fn stored(&self, zone: &Name) -> Option<(u32, u64)> {
        let text = std::fs::read_to_string(self.serial_path(zone)).ok()?;
        let mut fields = text.split_whitespace();
        let serial = fields.next()?.parse().ok()?;
        let digest = u64::from_str_radix(fields.next()?, 16).ok()?;
        Some((serial, digest))
    }

    fn store(&self, zone: &Name, serial: u32, digest: u64) {
        let write = std::fs::create_dir_all(&self.state_directory).and_then(|()| {
            hanse_feeds::saved::write_atomically(
                &self.serial_path(zone),
                format!("{serial} {digest:016x}\n").as_bytes(),
            )
        });
        if let Err(error) = write {
            tracing::warn!(
                "serving zone {zone}: cannot store its serial in {}: {error}",
                self.serial_path(zone).display()
            );
        }
    }

    /// Renders the served feeds of `settings` from `feeds` and swaps them
    /// in; every zone whose records changed gets its next version, a
    /// journal entry and a NOTIFY to its secondaries. Called on the main
    /// loop after every policy build.
    pub fn update(&self, settings: &[ServedFeed], feeds: &[Feed]) {
        let old = self.snapshot.load_full();
        let mut next = HashMap::with_capacity(settings.len());
        for served in settings {
            let Some(feed) = feeds.iter().find(|feed| feed.name() == served.feed) else {
                tracing::warn!(
                    "feed \"{}\" is not loaded; zone {} is not served",
                    served.feed,
                    served.zone
                );
                continue;
            };
            if feed.format() == FeedFormat::Rpz && feed.soa().is_none() {
                // A policy zone with no copy yet: served once it has one,
                // under its own serial (a made-up one would run ahead).
                tracing::info!(
                    "feed \"{}\" has no copy yet; zone {} is served once it has",
                    served.feed,
                    served.zone
                );
                continue;
            }
            let key = served.zone.to_lowercase();
            let mut records = feed.rpz_records(&served.zone);
            records.push(apex_ns(&served.zone, feed));
            sort_records(&mut records);
            let previous = old.get(&key);
            let zone = match self.next_version(served, feed, previous, records) {
                Some(zone) => zone,
                None => match previous {
                    Some(previous) => previous.zone.clone().with_journal_capacity(served.journal),
                    None => continue,
                },
            };
            next.insert(
                key,
                Entry {
                    zone,
                    settings: served.clone(),
                },
            );
        }
        self.snapshot.store(Arc::new(next));
    }

    /// The next version of a served zone, or `None` if nothing changed.
    /// Sends NOTIFY for a changed version.
    fn next_version(
        &self,
        served: &ServedFeed,
        feed: &Feed,
        previous: Option<&Entry>,
        records: Vec<Record>,
    ) -> Option<ServedZone> {
        let zone_name = &served.zone;
        let content = digest(&records);
        let previous_zone = previous.map(|entry| &entry.zone);
        if let Some(previous) = previous_zone
            && digest(previous.records()) == content
            && (feed.serial().is_none() || feed.serial() == Some(previous.serial()))
        {
            return None;
        }
        let soa = match (feed.soa(), feed.origin()) {
            (Some(soa), Some(origin)) => {
                let name = soa
                    .name
                    .replace_suffix(origin, zone_name)
                    .and_then(Result::ok)
                    .unwrap_or_else(|| zone_name.clone());
                Record {
                    name,
                    ..soa.clone()
                }
            }
            _ => {
                let serial = match (previous_zone, self.stored(zone_name)) {
                    (Some(previous), _) => next_serial(previous.serial(), unix_now()),
                    (None, Some((serial, stored))) if stored == content => serial,
                    (None, Some((serial, _))) => next_serial(serial, unix_now()),
                    (None, None) => unix_now() as u32,
                };
                self.store(zone_name, serial, content);
                list_soa(zone_name, serial)
            }
        };
        let serial = soa.soa_serial().unwrap_or(0);
        let zone = match previous_zone {
            None => {
                tracing::info!(
                    "serving feed \"{}\" as zone {zone_name}, serial {serial}, {} records",
                    served.feed,
                    records.len()
                );
                ServedZone::new(zone_name.clone(), soa, records, served.journal)
            }
            Some(previous) => {
                if !serial_newer(serial, previous.serial()) {
                    tracing::warn!(
                        "zone {zone_name} changed but its serial {serial} is not newer than {}: \
                         secondaries see the change at the next serial",
                        previous.serial()
                    );
                }
                let zone = previous
                    .clone()
                    .with_journal_capacity(served.journal)
                    .updated(soa, records);
                tracing::info!(
                    "zone {zone_name} (feed \"{}\") changed: serial {serial}, {} records, \
                     journal of {} changes",
                    served.feed,
                    zone.records().len(),
                    zone.journal().len()
                );
                zone
            }
        };
        self.send_notifies(served, serial);
        Some(zone)
    }

    /// Sends NOTIFY for `served` at `serial` to its secondaries, each from
    /// a thread of its own, retried with back-off until answered.
    fn send_notifies(&self, served: &ServedFeed, serial: u32) {
        for &target in &served.notify {
            let zone = served.zone.clone();
            let key = served.tsig_key.clone();
            let counters = self.counters(&zone);
            let source = self
                .sources
                .iter()
                .copied()
                .find(|source| source.is_ipv4() == target.is_ipv4());
            let spawned = std::thread::Builder::new()
                .name("hanse-notify".to_owned())
                .spawn(move || {
                    let answered = send_notify(&zone, serial, source, target, key.as_ref());
                    if answered {
                        counters.notify_answered.fetch_add(1, Ordering::Relaxed);
                        tracing::info!("NOTIFY for zone {zone} serial {serial} answered by {target}");
                    } else {
                        counters.notify_unanswered.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            "NOTIFY for zone {zone} serial {serial}: no answer from {target} after {NOTIFY_ATTEMPTS} attempts"
                        );
                    }
                });
            if let Err(error) = spawned {
                tracing::warn!("NOTIFY for zone {} not sent: {error}", served.zone);
            }
        }
    }

    /// The served zones as the metrics and logs see them.
    pub fn status(&self) -> Vec<ZoneStatus> {
        let snapshot = self.snapshot.load();
        let mut zones: Vec<ZoneStatus> = snapshot
            .values()
            .map(|entry| {
                let counters = self.counters(entry.zone.zone());
                let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
                let mut refused: Vec<(&'static str, u64)> = counters
                    .refused
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .map(|(reason, count)| (*reason, *count))
                    .collect();
                refused.sort_unstable();
                ZoneStatus {
                    zone: entry.zone.zone().to_string(),
                    feed: entry.settings.feed.clone(),
                    serial: entry.zone.serial(),
                    transfers: [
                        ("axfr", load(&counters.axfr)),
                        ("ixfr", load(&counters.incremental)),
                        ("ixfr_full", load(&counters.ixfr_full)),
                        ("up_to_date", load(&counters.up_to_date)),
                        ("soa", load(&counters.soa)),
                    ],
                    refused,
                    notify: [
                        ("answered", load(&counters.notify_answered)),
                        ("unanswered", load(&counters.notify_unanswered)),
                    ],
                }
            })
            .collect();
        zones.sort_by(|a, b| a.zone.cmp(&b.zone));
        zones
    }
}

impl TransferProvider for Primary {
    fn answer(&self, packet: &[u8], client: IpAddr, over_tcp: bool) -> Option<ResponseStream> {
        let snapshot = self.snapshot.load();
        if let Some(Ok(request)) = read_transfer_request(packet)
            && request.kind == TransferKind::Soa
        {
            // Only for a served zone and an allowed client; other SOA
            // queries are resolved as usual.
            let entry = snapshot.get(&request.zone.to_lowercase())?;
            if !allowed(&entry.settings.allow_transfer, client) {
                return None;
            }
        }
        let answer = answer_transfer(
            packet,
            over_tcp,
            |zone| {
                let entry = snapshot.get(&zone.to_lowercase())?;
                Some((
                    entry.zone.clone(),
                    TransferAccess {
                        allowed: allowed(&entry.settings.allow_transfer, client),
                        required_key: entry.settings.tsig_key.clone(),
                    },
                ))
            },
            |name: &Name, algorithm: TsigAlgorithm| -> Option<TsigKey> {
                snapshot
                    .values()
                    .filter_map(|entry| entry.settings.tsig_key.as_ref())
                    .find(|key| key.name == *name && key.algorithm == algorithm)
                    .cloned()
            },
            unix_now(),
        );
        let served = answer
            .zone
            .as_ref()
            .filter(|zone| snapshot.contains_key(&zone.to_lowercase()));
        let Some(zone) = served else {
            if let TransferOutcome::Refused(refusal) = answer.outcome {
                let zone = answer
                    .zone
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), ToString::to_string);
                tracing::info!(
                    "transfer of zone {zone} refused for {client}: {}",
                    refusal.label()
                );
            }
            return Some(answer.messages);
        };
        let counters = self.counters(zone);
        let count = |counter: &AtomicU64| counter.fetch_add(1, Ordering::Relaxed);
        match answer.outcome {
            TransferOutcome::Axfr => count(&counters.axfr),
            TransferOutcome::Incremental => count(&counters.incremental),
            TransferOutcome::IxfrFull => count(&counters.ixfr_full),
            TransferOutcome::UpToDate => count(&counters.up_to_date),
            TransferOutcome::Soa => count(&counters.soa),
            TransferOutcome::Refused(refusal) => {
                *counters
                    .refused
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(refusal.label())
                    .or_default() += 1;
                let level_is_warning = matches!(
                    refusal,
                    Refusal::BadKey | Refusal::BadSignature | Refusal::BadTime | Refusal::Unsigned
                );
                if level_is_warning {
                    tracing::warn!(
                        "transfer of zone {zone} refused for {client}: TSIG {}",
                        refusal.label()
                    );
                } else {
                    tracing::info!(
                        "transfer of zone {zone} refused for {client}: {}",
                        refusal.label()
                    );
                }
                0
            }
        };
        if !matches!(answer.outcome, TransferOutcome::Refused(_)) {
            tracing::debug!("transfer of zone {zone} to {client}: {:?}", answer.outcome);
        }
        Some(answer.messages)
    }
}

/// Sends one NOTIFY for `zone` at `serial` from `source` (or the system's
/// choice) to `target` over UDP, up to [`NOTIFY_ATTEMPTS`] times with a
/// doubling wait; whether it was answered.
fn send_notify(
    zone: &Name,
    serial: u32,
    source: Option<IpAddr>,
    target: SocketAddr,
    key: Option<&TsigKey>,
) -> bool {
    let any: IpAddr = if target.is_ipv4() {
        IpAddr::from([0, 0, 0, 0])
    } else {
        IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
    };
    let Ok(socket) = UdpSocket::bind(SocketAddr::new(source.unwrap_or(any), 0)) else {
        return false;
    };
    let mut wait = NOTIFY_FIRST_WAIT;
    for _ in 0..NOTIFY_ATTEMPTS {
        let id: u16 = rand::random();
        let mut message = compose_notify(id, zone, Some(serial));
        if let Some(key) = key {
            sign_notify(&mut message, key);
        }
        if socket.send_to(&message, target).is_err() {
            std::thread::sleep(wait);
            wait *= 2;
            continue;
        }
        let deadline = std::time::Instant::now() + wait;
        let mut buffer = [0u8; 1024];
        // Bounded by the deadline: every stray datagram shortens the wait.
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
                break;
            }
            let Ok((length, source)) = socket.recv_from(&mut buffer) else {
                break;
            };
            if source != target {
                continue;
            }
            let Ok(response) = Message::parse(&buffer[..length]) else {
                continue;
            };
            if response.header.id == id
                && response.header.response
                && response.header.opcode == Opcode::NOTIFY.0
            {
                // Any answer, even an error, ends the retries: the
                // secondary heard us (RFC 1996 §4.7).
                return true;
            }
        }
        wait *= 2;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_move_forward() {
        assert_eq!(next_serial(5, 1_700_000_000), 1_700_000_000);
        assert_eq!(next_serial(1_700_000_000, 1_700_000_000), 1_700_000_001);
        assert_eq!(next_serial(1_800_000_000, 1_700_000_000), 1_800_000_001);
    }

    #[test]
    fn lists_get_a_serial_that_survives_restarts() {
        let directory = std::env::temp_dir().join(format!("hanse-primary-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let (feed, _) = Feed::from_hosts("ads", "0.0.0.0 ads.example\n");
        let settings = vec![ServedFeed {
            feed: "ads".to_owned(),
            zone: Name::from_ascii("ads.rpz.test.").unwrap(),
            notify: Vec::new(),
            allow_transfer: Vec::new(),
            tsig_key: None,
            journal: 3,
        }];
        let primary = Primary::new(&directory, &[]);
        primary.update(&settings, std::slice::from_ref(&feed));
        let first = primary.status()[0].serial;
        primary.update(&settings, std::slice::from_ref(&feed));
        assert_eq!(primary.status()[0].serial, first, "unchanged feed");
        let (changed, _) = Feed::from_hosts("ads", "0.0.0.0 ads.example\n0.0.0.0 b.example\n");
        primary.update(&settings, std::slice::from_ref(&changed));
        let second = primary.status()[0].serial;
        assert!(serial_newer(second, first));
        // A restart with the same content keeps the serial; a change moves on.
        let restarted = Primary::new(&directory, &[]);
        restarted.update(&settings, std::slice::from_ref(&changed));
        assert_eq!(restarted.status()[0].serial, second);
        let restarted = Primary::new(&directory, &[]);
        restarted.update(&settings, std::slice::from_ref(&feed));
        assert!(serial_newer(restarted.status()[0].serial, second));
        let _ = std::fs::remove_dir_all(&directory);
    }
}
