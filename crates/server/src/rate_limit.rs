//! Rate limiting of clients: a token bucket per client network (per-client
//! query limits), and response-rate limiting (RRL) of identical responses
//! over UDP with "slip", in the manner of the RRL design that BIND and NSD
//! implement (there is no RFC; RFC 5358 §4 and RFC 8499's "amplification"
//! describe the abuse it answers).
//!
//! Clients are grouped by network: IPv4 addresses by their first
//! `ipv4_prefix` bits (24 by default), IPv6 addresses by their first
//! `ipv6_prefix` bits (56 by default); IPv4-mapped IPv6 addresses count as
//! IPv4. Each network has a token bucket that refills at
//! `queries_per_second` up to `burst` tokens; a query takes one token, a
//! query that finds none is limited (dropped or refused, per
//! [`LimitAction`]). RRL keeps a second bucket per (client network, query
//! name, query type, kind of response): answers and NODATA are keyed by the
//! name and type, errors (NXDOMAIN, SERVFAIL, REFUSED, ...) by their response
//! code alone, so a flood of random names under one zone shares one bucket.
//! A response over its bucket's rate is dropped, except every `slip`-th one,
//! which is sent truncated (TC=1, no records) so that a real client retries
//! over TCP, where addresses cannot be spoofed.
//!
//! Memory is fixed: each limiter is a table of [`SETS`] sets of [`WAYS`]
//! buckets, allocated when a limit is first enabled, each set behind its own
//! small lock. A bucket is found by a seeded 64-bit hash of its key; a key
//! that finds no bucket takes the least recently used one of its set. Nothing
//! is allocated per query.
//!
//! # Limitations
//! - Buckets are identified by a 64-bit hash of their key; two keys with the
//!   same hash share a bucket (about 2^-64 per pair).
//! - When more networks are active than a set has buckets, the least
//!   recently used is evicted and its network starts over with a full
//!   bucket: a flood from very many networks can reset a limited network.
//! - RRL keys errors by response code, not by zone as BIND keys NXDOMAIN:
//!   a client with many distinct NXDOMAIN answers shares one bucket for them.
//! - Exempt networks are a list scanned per query: keep it short.

use crate::access::AccessList;
use parking_lot::Mutex;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::OnceLock;

/// Buckets per set of a table.
pub const WAYS: usize = 4;
/// Sets per table: `SETS * WAYS` buckets in all (65,536, 2 MiB per table).
pub const SETS: usize = 16_384;
/// Milli-tokens per token: buckets count in thousandths so that rates are
/// exact at millisecond resolution.
const MILLI: u64 = 1000;

/// What happens to a query over its client's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitAction {
    /// Send nothing; the client times out (the default: no reflected traffic).
    #[default]
    Drop,
    /// Answer REFUSED.
    Refuse,
}

/// The rate-limit settings; every limit is off by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Queries per second one client network may send; 0 turns the limit off.
    pub queries_per_second: u32,
    /// Queries a client network may send at once above the rate (the
    /// bucket's size); at least 1 when the limit is on.
    pub burst: u32,
    /// Bits of an IPv4 address that make its client network (0 to 32).
    pub ipv4_prefix: u8,
    /// Bits of an IPv6 address that make its client network (0 to 128).
    pub ipv6_prefix: u8,
    /// Clients never limited (neither queries nor responses).
    pub exempt: AccessList,
    /// What a query over the limit gets.
    pub action: LimitAction,
    /// Identical responses per second to one client network over UDP; 0
    /// turns RRL off.
    pub responses_per_second: u32,
    /// Every `slip`-th limited response is sent truncated instead of being
    /// dropped; 0 never, 1 always.
    pub slip: u32,
    /// Resolutions (cache misses) in progress at once in the whole server;
    /// 0 is no bound (see [`crate::OverloadAction`]).
    pub max_resolutions: u32,
    /// Resolutions in progress at once for one client network; 0 is no bound.
    pub max_resolutions_per_client: u32,
    /// What a cache miss gets when no resolution slot is free.
    pub overload_action: crate::OverloadAction,
}

impl Default for RateLimitSettings {
    fn default() -> RateLimitSettings {
        RateLimitSettings {
            queries_per_second: 0,
            burst: 0,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: AccessList::default(),
            action: LimitAction::Drop,
            responses_per_second: 0,
            slip: 2,
            max_resolutions: 0,
            max_resolutions_per_client: 0,
            overload_action: crate::OverloadAction::Servfail,
        }
    }
}

/// The verdict on a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryVerdict {
    /// Within the limit (or not limited).
    Allow,
    /// Over the limit: apply [`LimitAction`].
    Limit,
}

/// The verdict on a response (RRL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseVerdict {
    /// Send it.
    Send,
    /// Send it truncated, without records.
    Slip,
    /// Send nothing.
    Drop,
}

/// The kind of a response for RRL keys: its response code class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseKind {
    /// NOERROR: keyed by name and type.
    Answer,
    /// Any other response code: keyed by the code alone.
    Error(u8),
}

impl ResponseKind {
    /// The kind of a response with these header rcode bits.
    pub(crate) fn of_rcode(rcode_bits: u8) -> ResponseKind {
        match rcode_bits & 0x0f {
            0 => ResponseKind::Answer,
            code => ResponseKind::Error(code),
        }
    }
}

/// One token bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The hash of the key; 0 marks an unused bucket.
    key: u64,
    /// Milli-tokens left.
    tokens: u64,
    /// When it was last refilled, in milliseconds of the limiter's clock.
    last: u64,
    /// Responses limited so far (for slip).
    limited: u32,
}

/// A fixed-size table of token buckets.
struct BucketTable {
    sets: Box<[Mutex<[Bucket; WAYS]>]>,
}

/// What taking a token from a bucket found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// A token was there.
    Taken,
    /// None was; this is the n-th limited take of the bucket.
    Empty(u32),
}

impl BucketTable {
    fn new() -> BucketTable {
        BucketTable {
            sets: (0..SETS)
                .map(|_| Mutex::new([Bucket::default(); WAYS]))
                .collect(),
        }
    }

    /// Takes a token from the bucket of `key` (a non-zero hash), refilled
    /// at `rate` per second up to `burst` tokens, at `now` milliseconds.
    fn take(&self, key: u64, now: u64, rate: u32, burst: u32) -> Take {
        let key = key.max(1);
        let capacity = u64::from(burst.max(1)) * MILLI;
        let index = usize::try_from(key % SETS as u64).unwrap_or(0);
        let mut set = self.sets[index].lock();
        let position = match set.iter().position(|bucket| bucket.key == key) {
            Some(position) => position,
            None => {
                let oldest = set
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, bucket)| (bucket.key != 0, bucket.last))
                    .map_or(0, |(position, _)| position);
                set[oldest] = Bucket {
                    key,
                    tokens: capacity,
                    last: now,
                    limited: 0,
                };
                oldest
            }
        };
        let bucket = &mut set[position];
        let elapsed = now.saturating_sub(bucket.last);
        // Milliseconds times tokens per second: milli-tokens.
        let refill = elapsed.saturating_mul(u64::from(rate));
        bucket.tokens = bucket.tokens.saturating_add(refill).min(capacity);
        bucket.last = bucket.last.max(now);
        if bucket.tokens >= MILLI {
            bucket.tokens -= MILLI;
            Take::Taken
        } else {
            bucket.limited = bucket.limited.wrapping_add(1);
            Take::Empty(bucket.limited)
        }
    }
}

/// The query and response limiters of a server: their tables (allocated
/// on first use) and the seed of their keys. The settings are passed in on
/// every call, so that a reload changes them without losing the buckets.
pub(crate) struct RateLimiter {
    seed: RandomState,
    clients: OnceLock<BucketTable>,
    responses: OnceLock<BucketTable>,
}

impl RateLimiter {
    pub(crate) fn new() -> RateLimiter {
        RateLimiter {
            seed: RandomState::new(),
            clients: OnceLock::new(),
            responses: OnceLock::new(),
        }
    }

    /// Whether `client` may send one more query at `now` milliseconds.
    pub(crate) fn check_query(
        &self,
        settings: &RateLimitSettings,
        client: IpAddr,
        now: u64,
    ) -> QueryVerdict {
        if settings.queries_per_second == 0 || settings.exempt.allows(client) {
            return QueryVerdict::Allow;
        }
        let mut hasher = self.seed.build_hasher();
        hash_network(&mut hasher, settings, client);
        let table = self.clients.get_or_init(BucketTable::new);
        let burst = settings.burst.max(1);
        match table.take(hasher.finish(), now, settings.queries_per_second, burst) {
            Take::Taken => QueryVerdict::Allow,
            Take::Empty(_) => QueryVerdict::Limit,
        }
    }

    /// Whether a UDP response of `kind` to `client` for the query name
    /// `qname_wire` (any case) and type `qtype` may be sent at `now`
    /// milliseconds.
    pub(crate) fn check_response(
        &self,
        settings: &RateLimitSettings,
        client: IpAddr,
        qname_wire: &[u8],
        qtype: u16,
        kind: ResponseKind,
        now: u64,
    ) -> ResponseVerdict {
        let rate = settings.responses_per_second;
        if rate == 0 || settings.exempt.allows(client) {
            return ResponseVerdict::Send;
        }
        let mut hasher = self.seed.build_hasher();
        hash_network(&mut hasher, settings, client);
        match kind {
            ResponseKind::Answer => {
                hasher.write_u8(0);
                let mut lower = [0u8; 255];
                let length = qname_wire.len().min(lower.len());
                for (target, byte) in lower.iter_mut().zip(&qname_wire[..length]) {
                    *target = byte.to_ascii_lowercase();
                }
                hasher.write(&lower[..length]);
                hasher.write_u16(qtype);
            }
            ResponseKind::Error(code) => {
                hasher.write_u8(1);
                hasher.write_u8(code);
            }
        }
        let table = self.responses.get_or_init(BucketTable::new);
        match table.take(hasher.finish(), now, rate, rate) {
            Take::Taken => ResponseVerdict::Send,
            Take::Empty(count) if settings.slip != 0 && count % settings.slip == 0 => {
                ResponseVerdict::Slip
            }
            Take::Empty(_) => ResponseVerdict::Drop,
        }
    }
}

/// Feeds the client's network (its address cut to the configured prefix)
/// into `hasher`.
pub(crate) fn hash_network(hasher: &mut impl Hasher, settings: &RateLimitSettings, client: IpAddr) {
    let client = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
        v4 => v4,
    };
    match client {
        IpAddr::V4(address) => {
            let prefix = u32::from(settings.ipv4_prefix.min(32));
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            hasher.write_u8(4);
            hasher.write_u32(u32::from(address) & mask);
        }
        IpAddr::V6(address) => {
            let prefix = u32::from(settings.ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            hasher.write_u8(6);
            hasher.write_u128(u128::from(address) & mask);
        }
    }
}

/// Rewrites the UDP response in `response` into its truncated form (TC set,
/// no records, the question kept) and returns its new length; `None` if the
/// question cannot be read.
pub(crate) fn slip_in_place(response: &mut [u8]) -> Option<usize> {
    if response.len() < 12 || response[4..6] != [0, 1] {
        return None;
    }
    // The question name: uncompressed labels, as this server writes it.
    let mut position = 12;
    loop {
        let length = usize::from(*response.get(position)?);
        if length & 0xc0 != 0 {
            return None;
        }
        position += 1 + length;
        if length == 0 {
            break;
        }
    }
    let end = position + 4;
    if end > response.len() {
        return None;
    }
    response[2] |= 0x02;
    response[6..12].fill(0);
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(queries: u32, burst: u32) -> RateLimitSettings {
        RateLimitSettings {
            queries_per_second: queries,
            burst,
            ..RateLimitSettings::default()
        }
    }

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// How many of `count` queries at `now` are allowed.
    fn allowed(
        limiter: &RateLimiter,
        settings: &RateLimitSettings,
        client: &str,
        count: u32,
        now: u64,
    ) -> u32 {
        (0..count)
            .filter(|_| limiter.check_query(settings, address(client), now) == QueryVerdict::Allow)
            .count() as u32
    }

    #[test]
    fn off_by_default() {
        let limiter = RateLimiter::new();
        let settings = RateLimitSettings::default();
        assert_eq!(allowed(&limiter, &settings, "192.0.2.1", 10_000, 0), 10_000);
        assert!(
            limiter.clients.get().is_none(),
            "no table allocated when off"
        );
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = RateLimiter::new();
        let settings = settings(100, 20);
        assert_eq!(allowed(&limiter, &settings, "192.0.2.1", 50, 1_000), 20);
        // 100 ms later: 10 tokens more.
        assert_eq!(allowed(&limiter, &settings, "192.0.2.1", 50, 1_100), 10);
        // One second at twice the rate: about the rate gets through.
        let mut total = 0;
        for step in 1..=100u64 {
            total += allowed(&limiter, &settings, "192.0.2.1", 2, 1_100 + step * 10);
        }
        assert_eq!(total, 100);
        // A long pause refills only up to the burst.
        assert_eq!(allowed(&limiter, &settings, "192.0.2.1", 50, 60_000), 20);
    }

    #[test]
    fn networks_are_aggregated_by_prefix() {
        let limiter = RateLimiter::new();
        let settings = settings(10, 10);
        assert_eq!(allowed(&limiter, &settings, "192.0.2.1", 10, 0), 10);
        // The same /24: the same bucket, now empty.
        assert_eq!(allowed(&limiter, &settings, "192.0.2.200", 5, 0), 0);
        assert_eq!(allowed(&limiter, &settings, "::ffff:192.0.2.9", 5, 0), 0);
        // Another /24: a bucket of its own.
        assert_eq!(allowed(&limiter, &settings, "192.0.3.1", 10, 0), 10);
        // IPv6: one /56, then another.
        assert_eq!(allowed(&limiter, &settings, "2001:db8:0:100::1", 10, 0), 10);
        assert_eq!(allowed(&limiter, &settings, "2001:db8:0:1ff::2", 5, 0), 0);
        assert_eq!(allowed(&limiter, &settings, "2001:db8:0:200::1", 5, 0), 5);
    }

    #[test]
    fn exempt_clients_are_not_limited() {
        let limiter = RateLimiter::new();
        let mut settings = settings(1, 1);
        settings.exempt = AccessList::new(vec![(address("198.51.100.0"), 24)]);
        assert_eq!(allowed(&limiter, &settings, "198.51.100.7", 1000, 0), 1000);
        assert_eq!(allowed(&limiter, &settings, "198.51.101.7", 1000, 0), 1);
    }

    #[test]
    fn clocks_that_go_back_do_not_refill() {
        let limiter = RateLimiter::new();
        let settings = settings(1000, 5);
        assert_eq!(allowed(&limiter, &settings, "192.0.2.1", 10, 10_000), 5);
        assert_eq!(allowed(&limiter, &settings, "192.0.2.1", 10, 0), 0);
        assert_eq!(allowed(&limiter, &settings, "192.0.2.1", 10, 10_001), 1);
    }

    #[test]
    fn a_flood_of_networks_keeps_memory_fixed_and_recent_networks_limited() {
        let limiter = RateLimiter::new();
        let settings = settings(1, 1);
        for index in 0..200_000u32 {
            let client = IpAddr::from((index << 8).to_be_bytes());
            limiter.check_query(&settings, client, 0);
        }
        assert_eq!(limiter.clients.get().unwrap().sets.len(), SETS);
        // A network just seen is still limited.
        let last = IpAddr::from((199_999u32 << 8).to_be_bytes());
        assert_eq!(limiter.check_query(&settings, last, 0), QueryVerdict::Limit);
    }

    fn rrl(responses: u32, slip: u32) -> RateLimitSettings {
        RateLimitSettings {
            responses_per_second: responses,
            slip,
            ..RateLimitSettings::default()
        }
    }

    fn verdicts(
        limiter: &RateLimiter,
        settings: &RateLimitSettings,
        name: &[u8],
        kind: ResponseKind,
        count: usize,
    ) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for _ in 0..count {
            match limiter.check_response(settings, address("192.0.2.1"), name, 1, kind, 0) {
                ResponseVerdict::Send => counts.0 += 1,
                ResponseVerdict::Slip => counts.1 += 1,
                ResponseVerdict::Drop => counts.2 += 1,
            }
        }
        counts
    }

    #[test]
    fn identical_responses_are_limited_with_slip() {
        let limiter = RateLimiter::new();
        let settings = rrl(5, 2);
        let name = b"\x03www\x07example\x00";
        assert_eq!(
            verdicts(&limiter, &settings, name, ResponseKind::Answer, 25),
            (5, 10, 10)
        );
        // The same name in another case is the same response.
        let upper = b"\x03WWW\x07EXAMPLE\x00";
        assert_eq!(
            verdicts(&limiter, &settings, upper, ResponseKind::Answer, 2),
            (0, 1, 1)
        );
        // Another name is another bucket.
        let other = b"\x04mail\x07example\x00";
        assert_eq!(
            verdicts(&limiter, &settings, other, ResponseKind::Answer, 5),
            (5, 0, 0)
        );
        // Errors share one bucket whatever the name.
        let nxdomain = ResponseKind::of_rcode(3);
        assert_eq!(
            verdicts(&limiter, &settings, b"\x01a\x00", nxdomain, 5),
            (5, 0, 0)
        );
        assert_eq!(
            verdicts(&limiter, &settings, b"\x01b\x00", nxdomain, 1),
            (0, 0, 1)
        );
    }

    #[test]
    fn slip_zero_never_and_one_always() {
        let limiter = RateLimiter::new();
        let name = b"\x01a\x00";
        assert_eq!(
            verdicts(&limiter, &rrl(1, 0), name, ResponseKind::Answer, 5),
            (1, 0, 4)
        );
        let limiter = RateLimiter::new();
        assert_eq!(
            verdicts(&limiter, &rrl(1, 1), name, ResponseKind::Answer, 5),
            (1, 4, 0)
        );
    }

    #[test]
    fn slipping_keeps_header_and_question() {
        // ID 0x1234, QR RD RA, 1 question, 1 answer, 0, 1 additional.
        let mut response = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1];
        response.extend_from_slice(b"\x01a\x07example\x00\x00\x01\x00\x01");
        let question_end = response.len();
        response.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        assert_eq!(slip_in_place(&mut response), Some(question_end));
        assert_eq!(
            &response[..12],
            &[0x12, 0x34, 0x83, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]
        );
        // Not a readable question: nothing to do.
        assert_eq!(slip_in_place(&mut [0u8; 11]), None);
        let mut pointer = vec![
            0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1,
        ];
        assert_eq!(slip_in_place(&mut pointer), None);
        let mut short = vec![0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a'];
        assert_eq!(slip_in_place(&mut short), None);
    }
}
