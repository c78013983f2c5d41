//! Rate limiting of clients: a token bucket per client network (per-client
//! query limits), and response-rate limiting (RRL) of similar responses
//! over UDP with "slip", in the manner of the RRL design that BIND, NSD and
//! Knot implement (there is no RFC; RFC 5358 §4 and RFC 9499's
//! "amplification" describe the abuse it answers).
//!
//! Clients are grouped by network: IPv4 addresses by their first
//! `ipv4_prefix` bits (24 by default), IPv6 addresses by their first
//! `ipv6_prefix` bits (56 by default); IPv4-mapped IPv6 addresses count as
//! IPv4. Each network has a token bucket that refills at
//! `queries_per_second` up to `burst` tokens; a query takes one token, a
//! query that finds none is limited (dropped or refused, per
//! [`LimitAction`]).
//!
//! RRL keeps a second bucket per (client network, kind of response, what
//! the response is about), read from the response itself
//! ([`ResponseKey::of_response`]):
//! - positive answers (NOERROR with answer records) by the query name and
//!   type;
//! - NXDOMAIN and NODATA (NOERROR without answer records) by the zone that
//!   denies the name: the owner of the SOA record in the authority section
//!   (RFC 2308 §3), or the query name's parent when there is none. A flood of
//!   random names under one zone ("random subdomain" attacks) therefore
//!   fills one bucket, and NXDOMAIN and NODATA have a bucket each;
//! - every other response code (SERVFAIL, REFUSED, FORMERR, ...) by the
//!   code alone.
//!
//! A response over its bucket's rate is dropped, except every `slip`-th
//! one, which is sent truncated (TC=1, no records) so that a real client
//! retries over TCP, where addresses cannot be spoofed.
//!
//! Memory is fixed: each limiter is a table of [`SETS`] sets of [`WAYS`]
//! buckets, allocated when a limit is first enabled, each set behind its own
//! small lock. A bucket is found by a seeded 64-bit hash of its key; a key
//! that finds no bucket takes the least recently used one of its set. Nothing
//! is allocated per query: the names of a key are read (and decompressed,
//! RFC 1035 §4.1.4) into a stack buffer.
//!
//! # Limitations
//! - Buckets are identified by a 64-bit hash of their key; two keys with the
//!   same hash share a bucket (about 2^-64 per pair).
//! - When more networks are active than a set has buckets, the least
//!   recently used is evicted and its network starts over with a full
//!   bucket: a flood from very many networks can reset a limited network.
//! - Errors are keyed by response code, not by zone: SERVFAILs for names in
//!   different zones share one bucket per client network.
//! - A negative response whose SOA owner cannot be read (a malformed record
//!   before it) is keyed by the query name's parent; a wildcard or a
//!   response from a zone that sends no SOA is keyed the same way.
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

/// The longest name in wire form (RFC 1035 §2.3.4).
const NAME_MAX: usize = 255;
/// Compression pointers followed at most while reading one name.
const POINTER_HOPS: usize = 64;
/// The SOA record type.
const TYPE_SOA: u16 = 6;

/// The kind of a response for RRL keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseKind {
    /// NOERROR with answer records: keyed by query name and type.
    Answer,
    /// NXDOMAIN: keyed by the zone of the denial.
    NameError,
    /// NOERROR without answer records: keyed by the zone of the denial.
    NoData,
    /// Any other response code: keyed by the code alone.
    Error(u8),
}

/// What an RRL bucket is keyed by besides the client network, read from a
/// response without allocating: the kind, and the name (lowercased
/// uncompressed wire form) that goes with it.
#[derive(Clone, Copy)]
pub(crate) struct ResponseKey {
    kind: ResponseKind,
    /// The query name (answers) or the zone (NXDOMAIN, NODATA); unused for
    /// errors.
    name: [u8; NAME_MAX],
    name_length: usize,
    /// The query type (answers only).
    qtype: u16,
}

impl std::fmt::Debug for ResponseKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ResponseKey")
            .field("kind", &self.kind)
            .field("name", &self.name())
            .field("qtype", &self.qtype)
            .finish()
    }
}

impl ResponseKey {
    /// The key of a response message; `None` if it has no single question
    /// whose name is written uncompressed (as this server writes it).
    pub(crate) fn of_response(response: &[u8]) -> Option<ResponseKey> {
        if response.len() < 12 || response[4..6] != [0, 1] {
            return None;
        }
        let rcode = response[3] & 0x0f;
        let answers = u16::from_be_bytes([response[6], response[7]]);
        let authorities = u16::from_be_bytes([response[8], response[9]]);
        let mut key = ResponseKey {
            kind: ResponseKind::Error(rcode),
            name: [0; NAME_MAX],
            name_length: 0,
            qtype: 0,
        };
        // The question name: uncompressed labels.
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
        let qname = &response[12..position];
        if qname.len() > NAME_MAX {
            return None;
        }
        let qtype = response.get(position..position + 2)?;
        let qtype = u16::from_be_bytes([qtype[0], qtype[1]]);
        // The question's class follows the type.
        let records = position + 4;
        key.kind = match (rcode, answers) {
            (0, 0) => ResponseKind::NoData,
            (0, _) => ResponseKind::Answer,
            (3, _) => ResponseKind::NameError,
            (code, _) => ResponseKind::Error(code),
        };
        match key.kind {
            ResponseKind::Answer => {
                key.set_name(qname);
                key.qtype = qtype;
            }
            ResponseKind::NameError | ResponseKind::NoData => {
                if !key.read_zone(response, records, answers, authorities) {
                    // The parent of the query name (the root stays the root).
                    let first = usize::from(qname[0]);
                    let parent = if first == 0 {
                        qname
                    } else {
                        &qname[1 + first..]
                    };
                    key.set_name(parent);
                }
            }
            ResponseKind::Error(_) => {}
        }
        Some(key)
    }

    /// The kind of the response.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> ResponseKind {
        self.kind
    }

    /// The name of the key in lowercased wire form: the query name of an
    /// answer, the zone of a denial, empty for an error.
    pub(crate) fn name(&self) -> &[u8] {
        &self.name[..self.name_length]
    }

    fn set_name(&mut self, wire: &[u8]) {
        let length = wire.len().min(NAME_MAX);
        for (target, byte) in self.name.iter_mut().zip(&wire[..length]) {
            *target = byte.to_ascii_lowercase();
        }
        self.name_length = length;
    }

    /// Reads the owner of the first SOA record in the authority section
    /// (after `answers` answer records from `position`) into the key's
    /// name; false if there is none or the records cannot be read.
    fn read_zone(
        &mut self,
        message: &[u8],
        position: usize,
        answers: u16,
        authorities: u16,
    ) -> bool {
        let mut position = position;
        for _ in 0..answers {
            match skip_record(message, position) {
                Some(next) => position = next,
                None => return false,
            }
        }
        for _ in 0..authorities {
            let Some(owner_end) = skip_name(message, position) else {
                return false;
            };
            let Some(fixed) = message.get(owner_end..owner_end + 10) else {
                return false;
            };
            if u16::from_be_bytes([fixed[0], fixed[1]]) == TYPE_SOA {
                return match read_name(message, position, &mut self.name) {
                    Some(length) => {
                        self.name_length = length;
                        true
                    }
                    None => false,
                };
            }
            match skip_record(message, position) {
                Some(next) => position = next,
                None => return false,
            }
        }
        false
    }
}

/// The position after the (possibly compressed) name at `position`.
fn skip_name(message: &[u8], mut position: usize) -> Option<usize> {
    loop {
        let length = *message.get(position)?;
        match length {
            0 => return Some(position + 1),
            length if length & 0xc0 == 0xc0 => {
                message.get(position + 1)?;
                return Some(position + 2);
            }
            length if length & 0xc0 == 0 => position += 1 + usize::from(length),
            _ => return None,
        }
    }
}

/// The position after the resource record at `position`.
fn skip_record(message: &[u8], position: usize) -> Option<usize> {
    let fixed = skip_name(message, position)?;
    let header = message.get(fixed..fixed + 10)?;
    let data_length = usize::from(u16::from_be_bytes([header[8], header[9]]));
    let end = fixed + 10 + data_length;
    (end <= message.len()).then_some(end)
}

/// Reads the name at `position`, following compression pointers (strictly
/// backwards, at most [`POINTER_HOPS`]), lowercased into `out`; its length
/// in wire form.
fn read_name(message: &[u8], mut position: usize, out: &mut [u8; NAME_MAX]) -> Option<usize> {
    let mut written = 0;
    let mut hops = 0;
    loop {
        let length = *message.get(position)?;
        match length {
            0 => {
                *out.get_mut(written)? = 0;
                return Some(written + 1);
            }
            length if length & 0xc0 == 0xc0 => {
                let target =
                    usize::from(u16::from_be_bytes([length, *message.get(position + 1)?]) & 0x3fff);
                hops += 1;
                if target >= position || hops > POINTER_HOPS {
                    return None;
                }
                position = target;
            }
            length if length & 0xc0 == 0 => {
                let label = message.get(position..position + 1 + usize::from(length))?;
                let end = written + label.len();
                // Room for the root label after it.
                if end >= NAME_MAX {
                    return None;
                }
                for (target, byte) in out[written..end].iter_mut().zip(label) {
                    *target = byte.to_ascii_lowercase();
                }
                written = end;
                position += label.len();
            }
            _ => return None,
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

    /// Whether a UDP response keyed `key` to `client` may be sent at `now`
    /// milliseconds.
    pub(crate) fn check_response(
        &self,
        settings: &RateLimitSettings,
        client: IpAddr,
        key: &ResponseKey,
        now: u64,
    ) -> ResponseVerdict {
        let rate = settings.responses_per_second;
        if rate == 0 || settings.exempt.allows(client) {
            return ResponseVerdict::Send;
        }
        let mut hasher = self.seed.build_hasher();
        hash_network(&mut hasher, settings, client);
        match key.kind {
            ResponseKind::Answer => {
                hasher.write_u8(0);
                hasher.write(key.name());
                hasher.write_u16(key.qtype);
            }
            ResponseKind::NameError => {
                hasher.write_u8(1);
                hasher.write(key.name());
            }
            ResponseKind::NoData => {
                hasher.write_u8(2);
                hasher.write(key.name());
            }
            ResponseKind::Error(code) => {
                hasher.write_u8(3);
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

    /// A response to `qname` (uncompressed wire form) type A with `rcode`,
    /// `answers` A records (owners compressed to the question) and, if
    /// given, an SOA record in the authority section whose owner is the
    /// question name's suffix after `soa_skip` bytes (a compression
    /// pointer) or, with `soa_skip` `None`, a name written out.
    fn response(qname: &[u8], rcode: u8, answers: u16, soa: Option<SoaOwner<'_>>) -> Vec<u8> {
        let mut message = vec![0x12, 0x34, 0x81, 0x80 | rcode, 0, 1];
        message.extend_from_slice(&answers.to_be_bytes());
        message.extend_from_slice(&u16::from(soa.is_some()).to_be_bytes());
        message.extend_from_slice(&[0, 0]);
        message.extend_from_slice(qname);
        message.extend_from_slice(&[0, 1, 0, 1]);
        for index in 0..answers {
            message.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2]);
            message.push(index as u8);
        }
        if let Some(owner) = soa {
            match owner {
                SoaOwner::Suffix(skip) => {
                    message.extend_from_slice(&[0xc0, 12 + skip]);
                }
                SoaOwner::Written(name) => message.extend_from_slice(name),
            }
            message.extend_from_slice(&[0, 6, 0, 1, 0, 0, 0, 60]);
            // MNAME and RNAME compressed to the question, five numbers.
            message.extend_from_slice(&[0, 24, 0xc0, 12, 0xc0, 12]);
            message.extend_from_slice(&[0; 20]);
        }
        message
    }

    enum SoaOwner<'a> {
        /// A pointer into the question name, this many bytes in.
        Suffix(u8),
        /// Written out.
        Written(&'a [u8]),
    }

    fn key(message: &[u8]) -> ResponseKey {
        ResponseKey::of_response(message).expect("a readable response")
    }

    fn verdicts_for(
        limiter: &RateLimiter,
        settings: &RateLimitSettings,
        client: &str,
        message: &[u8],
        count: usize,
    ) -> (usize, usize, usize) {
        let key = key(message);
        let mut counts = (0, 0, 0);
        for _ in 0..count {
            match limiter.check_response(settings, address(client), &key, 0) {
                ResponseVerdict::Send => counts.0 += 1,
                ResponseVerdict::Slip => counts.1 += 1,
                ResponseVerdict::Drop => counts.2 += 1,
            }
        }
        counts
    }

    fn verdicts(
        limiter: &RateLimiter,
        settings: &RateLimitSettings,
        message: &[u8],
        count: usize,
    ) -> (usize, usize, usize) {
        verdicts_for(limiter, settings, "192.0.2.1", message, count)
    }

    #[test]
    fn identical_answers_are_limited_with_slip() {
        let limiter = RateLimiter::new();
        let settings = rrl(5, 2);
        let www = response(b"\x03www\x07example\x00", 0, 1, None);
        assert_eq!(verdicts(&limiter, &settings, &www, 25), (5, 10, 10));
        // The same name in another case is the same response.
        let upper = response(b"\x03WWW\x07EXAMPLE\x00", 0, 2, None);
        assert_eq!(verdicts(&limiter, &settings, &upper, 2), (0, 1, 1));
        // Another name is another bucket.
        let mail = response(b"\x04mail\x07example\x00", 0, 1, None);
        assert_eq!(verdicts(&limiter, &settings, &mail, 5), (5, 0, 0));
        // Another client network is another bucket.
        assert_eq!(
            verdicts_for(&limiter, &settings, "192.0.3.1", &www, 5),
            (5, 0, 0)
        );
    }

    #[test]
    fn denials_are_keyed_by_the_zone_of_their_soa() {
        let limiter = RateLimiter::new();
        let settings = rrl(5, 0);
        // Random names under one zone: one bucket, whatever the depth.
        let mut sent = 0;
        for index in 0..20u8 {
            let mut name = vec![2, b'r', b'0' + index % 10];
            if index >= 10 {
                name.extend_from_slice(b"\x03sub");
            }
            name.extend_from_slice(b"\x07example\x00");
            let skip = (name.len() - 9) as u8;
            let message = response(&name, 3, 0, Some(SoaOwner::Suffix(skip)));
            assert_eq!(key(&message).name(), b"\x07example\x00");
            sent += verdicts(&limiter, &settings, &message, 1).0;
        }
        assert_eq!(sent, 5);
        // NODATA in the same zone has a bucket of its own.
        let nodata = response(b"\x03www\x07example\x00", 0, 0, Some(SoaOwner::Suffix(4)));
        assert_eq!(key(&nodata).kind(), ResponseKind::NoData);
        assert_eq!(verdicts(&limiter, &settings, &nodata, 6), (5, 0, 1));
        // Another zone is not affected; its SOA owner written out, in
        // capitals, is the same zone as its lowercase form.
        let other = response(
            b"\x01x\x05other\x00",
            3,
            0,
            Some(SoaOwner::Written(b"\x05OTHER\x00")),
        );
        assert_eq!(key(&other).name(), b"\x05other\x00");
        assert_eq!(verdicts(&limiter, &settings, &other, 6), (5, 0, 1));
    }

    #[test]
    fn denials_without_an_soa_are_keyed_by_the_parent() {
        let a = response(b"\x01a\x07example\x00", 3, 0, None);
        let b = response(b"\x01b\x07example\x00", 3, 0, None);
        assert_eq!(key(&a).name(), b"\x07example\x00");
        assert_eq!(key(&b).name(), key(&a).name());
        let root = response(b"\x00", 3, 0, None);
        assert_eq!(key(&root).name(), b"\x00");
        // An NXDOMAIN at the end of a CNAME chain: the SOA after the answer.
        let chained = response(
            b"\x01c\x07example\x00",
            3,
            1,
            Some(SoaOwner::Written(b"\x06target\x00")),
        );
        assert_eq!(key(&chained).name(), b"\x06target\x00");
    }

    #[test]
    fn errors_share_a_bucket_per_code() {
        let limiter = RateLimiter::new();
        let settings = rrl(5, 0);
        let a = response(b"\x01a\x00", 2, 0, None);
        let b = response(b"\x01b\x07example\x00", 2, 0, None);
        assert_eq!(key(&a).kind(), ResponseKind::Error(2));
        assert_eq!(verdicts(&limiter, &settings, &a, 5), (5, 0, 0));
        assert_eq!(verdicts(&limiter, &settings, &b, 1), (0, 0, 1));
        let refused = response(b"\x01b\x07example\x00", 5, 0, None);
        assert_eq!(verdicts(&limiter, &settings, &refused, 1), (1, 0, 0));
    }

    #[test]
    fn unreadable_responses_have_no_key_and_bad_pointers_fall_back() {
        assert!(ResponseKey::of_response(&[0u8; 11]).is_none());
        // A compressed question name.
        let pointer = [
            0, 0, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1,
        ];
        assert!(ResponseKey::of_response(&pointer).is_none());
        // An SOA owner that points forwards (a loop): the parent instead.
        let mut looping = response(b"\x01a\x07example\x00", 3, 0, Some(SoaOwner::Suffix(2)));
        let owner = 12 + 11 + 4;
        looping[owner..owner + 2].copy_from_slice(&[0xc0, owner as u8]);
        assert_eq!(key(&looping).name(), b"\x07example\x00");
        // Truncated inside the authority section: the parent again.
        let whole = response(
            b"\x01a\x05other\x00",
            3,
            0,
            Some(SoaOwner::Written(b"\x02zz\x00")),
        );
        for cut in 12..whole.len() {
            let _ = ResponseKey::of_response(&whole[..cut]);
        }
        assert_eq!(key(&whole[..whole.len() - 30]).name(), b"\x05other\x00");
    }

    #[test]
    fn slip_zero_never_and_one_always() {
        let message = response(b"\x01a\x00", 0, 1, None);
        let limiter = RateLimiter::new();
        assert_eq!(verdicts(&limiter, &rrl(1, 0), &message, 5), (1, 0, 4));
        let limiter = RateLimiter::new();
        assert_eq!(verdicts(&limiter, &rrl(1, 1), &message, 5), (1, 4, 0));
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
