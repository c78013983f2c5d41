//! Choosing among a zone's nameservers: smoothed round-trip times, backoff
//! for servers that stop answering, and memory of servers without EDNS.
//!
//! Unknown servers start with a small random estimate so that each is tried
//! early; a timeout raises the estimate and puts the server in backoff,
//! doubling up to two minutes, during which it is tried only when no other
//! server is left (RFC 1035 §7.2 leaves the strategy open; this follows the
//! common practice of BIND and Unbound).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How many servers are remembered; the table is cleared when it grows past this.
const MAX_SERVERS: usize = 100_000;
/// The longest backoff for a dead server.
const MAX_BACKOFF: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
struct ServerStats {
    smoothed_rtt: Duration,
    /// Responses measured; zero means the RTT is only a guess.
    samples: u32,
    consecutive_timeouts: u32,
    backoff_until: Option<Instant>,
    edns_disabled: bool,
    edns_confirmed: bool,
}

/// The statistics per server address, in a map with a seeded hash that is
/// cheaper per lookup than the standard library's SipHash.
type ServerTable = HashMap<SocketAddr, ServerStats, foldhash::fast::RandomState>;

/// Shared statistics of upstream servers.
#[derive(Debug, Default)]
pub(crate) struct ServerSelection {
    stats: Mutex<ServerTable>,
}

/// The statistics of `server`, made with a small random RTT estimate if new.
fn entry(stats: &mut ServerTable, server: SocketAddr) -> &mut ServerStats {
    if stats.len() >= MAX_SERVERS && !stats.contains_key(&server) {
        stats.clear();
    }
    stats.entry(server).or_insert_with(|| ServerStats {
        smoothed_rtt: Duration::from_micros(rand::random_range(0..5_000)),
        samples: 0,
        consecutive_timeouts: 0,
        backoff_until: None,
        edns_disabled: false,
        edns_confirmed: false,
    })
}

impl ServerSelection {
    fn with<R>(&self, server: SocketAddr, update: impl FnOnce(&mut ServerStats) -> R) -> R {
        let mut stats = self.stats.lock();
        update(entry(&mut stats, server))
    }

    /// The best of `servers`, `None` if there is none: servers not in
    /// backoff by smoothed RTT, then servers in backoff; the first of equals.
    /// One lock for all of them, none for a single server.
    pub(crate) fn best(&self, servers: &[SocketAddr]) -> Option<SocketAddr> {
        let [first, rest @ ..] = servers else {
            return None;
        };
        if rest.is_empty() {
            return Some(*first);
        }
        let now = Instant::now();
        let mut stats = self.stats.lock();
        let mut rank = |server: SocketAddr| {
            let stats = entry(&mut stats, server);
            let backed_off = stats.backoff_until.is_some_and(|until| until > now);
            (backed_off, stats.smoothed_rtt)
        };
        let mut best = (*first, rank(*first));
        for &server in rest {
            let key = rank(server);
            if key < best.1 {
                best = (server, key);
            }
        }
        Some(best.0)
    }

    /// The first of `servers` in their given order that is not backed off
    /// (configured forwarders: failover in order, and back to a preferred
    /// server once its backoff has run out); if all are, the one whose
    /// backoff ends first.
    pub(crate) fn first_available(&self, servers: &[SocketAddr]) -> Option<SocketAddr> {
        let [first, rest @ ..] = servers else {
            return None;
        };
        if rest.is_empty() {
            return Some(*first);
        }
        let now = Instant::now();
        let stats = self.stats.lock();
        let mut earliest: Option<(Instant, SocketAddr)> = None;
        for &server in servers {
            match stats.get(&server).and_then(|stats| stats.backoff_until) {
                Some(until) if until > now => {
                    if earliest.is_none_or(|(end, _)| until < end) {
                        earliest = Some((until, server));
                    }
                }
                _ => return Some(server),
            }
        }
        earliest.map(|(_, server)| server)
    }

    /// Records a response after `rtt`.
    pub(crate) fn record_response(&self, server: SocketAddr, rtt: Duration, with_edns: bool) {
        self.with(server, |stats| {
            stats.smoothed_rtt = if stats.samples == 0 {
                rtt
            } else {
                (stats.smoothed_rtt * 7 + rtt) / 8
            };
            stats.samples = stats.samples.saturating_add(1);
            stats.consecutive_timeouts = 0;
            stats.backoff_until = None;
            if with_edns {
                stats.edns_confirmed = true;
            }
        });
    }

    /// Records a timeout or a network error.
    pub(crate) fn record_timeout(&self, server: SocketAddr, waited: Duration) {
        self.with(server, |stats| {
            stats.consecutive_timeouts = stats.consecutive_timeouts.saturating_add(1);
            stats.smoothed_rtt = (stats.smoothed_rtt + waited).min(Duration::from_secs(10));
            if stats.consecutive_timeouts >= 2 {
                let backoff = Duration::from_secs(1) * 2u32.pow(stats.consecutive_timeouts.min(8));
                stats.backoff_until = Some(Instant::now() + backoff.min(MAX_BACKOFF));
            }
        });
    }

    /// For a query to `server`: whether it goes without EDNS, and how long
    /// to wait for a UDP response, at most `ceiling`.
    pub(crate) fn settings(&self, server: SocketAddr, ceiling: Duration) -> (bool, Duration) {
        let (edns_disabled, rtt, known) = self.with(server, |stats| {
            (
                stats.edns_disabled,
                stats.smoothed_rtt,
                stats.samples > 0 && stats.consecutive_timeouts == 0,
            )
        });
        // Without a measurement, or after a timeout, wait half the ceiling.
        let estimate = if known {
            rtt * 4 + Duration::from_millis(200)
        } else {
            ceiling / 2
        };
        let timeout = estimate.clamp(
            Duration::from_millis(250),
            ceiling.max(Duration::from_millis(250)),
        );
        (edns_disabled, timeout)
    }

    /// Whether queries to `server` go without EDNS.
    pub(crate) fn edns_disabled(&self, server: SocketAddr) -> bool {
        self.with(server, |stats| stats.edns_disabled)
    }

    /// Whether `server` has answered a query that carried EDNS.
    pub(crate) fn edns_confirmed(&self, server: SocketAddr) -> bool {
        self.with(server, |stats| stats.edns_confirmed)
    }

    /// Sends queries to `server` without EDNS from now on.
    pub(crate) fn disable_edns(&self, server: SocketAddr) {
        self.with(server, |stats| stats.edns_disabled = true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_servers_first_dead_servers_last() {
        let selection = ServerSelection::default();
        let fast: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let slow: SocketAddr = "127.0.0.2:53".parse().unwrap();
        let dead: SocketAddr = "127.0.0.3:53".parse().unwrap();
        selection.record_response(fast, Duration::from_millis(1), true);
        for _ in 0..8 {
            selection.record_response(slow, Duration::from_millis(200), true);
        }
        selection.record_timeout(dead, Duration::from_secs(1));
        selection.record_timeout(dead, Duration::from_secs(1));
        assert_eq!(selection.best(&[dead, slow, fast]), Some(fast));
        assert_eq!(selection.best(&[dead, slow]), Some(slow));
        assert_eq!(selection.best(&[dead]), Some(dead));
        assert_eq!(selection.best(&[]), None);
        // In configured order, the dead one skipped.
        assert_eq!(selection.first_available(&[dead, slow, fast]), Some(slow));
        assert_eq!(selection.first_available(&[fast, slow]), Some(fast));
        assert_eq!(selection.first_available(&[dead]), Some(dead));
    }
}
