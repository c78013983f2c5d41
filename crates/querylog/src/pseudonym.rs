//! Pseudonyms of client addresses for privacy level 1.
//!
//! A pseudonym is HMAC-SHA256 (RFC 2104, FIPS 180-4) of the address, keyed
//! with a random 256-bit key of the UTC day the query was made, truncated to
//! 64 bits and written as `c-` and 16 hex digits. Each day has its own key, so
//! the same address gets unrelated pseudonyms on two days: without the
//! address, rows of different days cannot be linked.
//!
//! The keys are drawn from the operating system's random source and live only
//! in this process's memory; they are never written to disk. The ring keeps
//! the keys of the retention period (so export and erasure by address find
//! every row that is still kept) and forgets older ones. After a restart all
//! earlier keys are gone: rows written before it can no longer be found from
//! an address, only by their pseudonym.
//!
//! Limitations: 64-bit pseudonyms collide with a probability of about
//! n²/2⁶⁵ among n clients of one day, negligible for any real client count.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const SECONDS_PER_DAY: u64 = 86_400;

/// The UTC day of `time`, counted from 1970-01-01 (times before it are day 0).
pub(crate) fn day_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs() / SECONDS_PER_DAY)
        .unwrap_or(0)
}

/// The per-day keys.
pub(crate) struct KeyRing {
    keys: BTreeMap<u64, [u8; 32]>,
    /// Days kept: the day of the oldest row still kept, up to today.
    days_kept: u64,
}

impl KeyRing {
    pub(crate) fn new(retention_days: u32) -> KeyRing {
        KeyRing {
            keys: BTreeMap::new(),
            days_kept: u64::from(retention_days) + 1,
        }
    }

    /// The pseudonym of `client` for the day of `time`, making that day's key
    /// if there is none yet.
    pub(crate) fn pseudonym(&mut self, client: IpAddr, time: SystemTime) -> String {
        let day = day_of(time);
        let key = *self.keys.entry(day).or_insert_with(|| {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            key
        });
        // Bounded: never more keys than days kept, dropping the oldest.
        while self.keys.len() as u64 > self.days_kept {
            self.keys.pop_first();
        }
        token(&key, client)
    }

    /// The pseudonyms `client` has under every key still kept.
    pub(crate) fn pseudonyms(&self, client: IpAddr) -> Vec<String> {
        self.keys.values().map(|key| token(key, client)).collect()
    }

    /// Forgets the keys of days before the retention period that ends at `now`.
    pub(crate) fn discard_before(&mut self, now: SystemTime) {
        let oldest = day_of(now).saturating_sub(self.days_kept - 1);
        self.keys.retain(|&day, _| day >= oldest);
    }

    #[cfg(test)]
    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }
}

fn token(key: &[u8; 32], client: IpAddr) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    match client.to_canonical() {
        IpAddr::V4(v4) => {
            mac.update(&[4]);
            mac.update(&v4.octets());
        }
        IpAddr::V6(v6) => {
            mac.update(&[6]);
            mac.update(&v6.octets());
        }
    }
    let digest = mac.finalize().into_bytes();
    let mut text = String::with_capacity(18);
    text.push_str("c-");
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for byte in &digest[..8] {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    text
}

/// The writer's cache of pseudonyms: one HMAC per client and day rather
/// than per query. Bounded: emptied when it reaches its capacity.
pub(crate) struct PseudonymCache {
    entries: std::collections::HashMap<IpAddr, (u64, String)>,
    capacity: usize,
}

impl PseudonymCache {
    pub(crate) fn new(capacity: usize) -> PseudonymCache {
        PseudonymCache {
            entries: std::collections::HashMap::new(),
            capacity,
        }
    }

    /// The pseudonym of `client` on the day of `time`, from the cache or
    /// from `key_ring` (which makes the day's key if needed).
    pub(crate) fn pseudonym(
        &mut self,
        key_ring: &std::sync::Mutex<KeyRing>,
        client: IpAddr,
        time: SystemTime,
    ) -> &str {
        let day = day_of(time);
        let fresh =
            matches!(self.entries.get(&client), Some((cached_day, _)) if *cached_day == day);
        if !fresh {
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
            let pseudonym = key_ring
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pseudonym(client, time);
            self.entries.insert(client, (day, pseudonym));
        }
        self.entries
            .get(&client)
            .map_or("", |(_, text)| text.as_str())
    }

    /// Forgets every cached pseudonym (when keys are discarded).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Whether `text` has the form of a pseudonym.
pub(crate) fn is_pseudonym(text: &str) -> bool {
    text.len() == 18
        && text.starts_with("c-")
        && text[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pseudonyms_are_stable_within_a_day_and_differ_across_days() {
        let mut ring = KeyRing::new(7);
        let client: IpAddr = "192.0.2.1".parse().expect("address");
        let monday = UNIX_EPOCH + Duration::from_secs(20_000 * SECONDS_PER_DAY + 10);
        let later_monday = monday + Duration::from_secs(3600);
        let tuesday = monday + Duration::from_secs(SECONDS_PER_DAY);
        let first = ring.pseudonym(client, monday);
        assert!(is_pseudonym(&first), "{first}");
        assert_eq!(first, ring.pseudonym(client, later_monday));
        assert_eq!(
            first,
            ring.pseudonym("::ffff:192.0.2.1".parse().expect("mapped"), monday)
        );
        let second = ring.pseudonym(client, tuesday);
        assert_ne!(first, second);
        assert_ne!(
            first,
            ring.pseudonym("192.0.2.2".parse().expect("address"), monday)
        );
        let all = ring.pseudonyms(client);
        assert!(all.contains(&first) && all.contains(&second));
        // Rows of 7 days are kept: 7 days after Tuesday its key is still needed.
        ring.discard_before(tuesday + Duration::from_secs(7 * SECONDS_PER_DAY));
        assert_eq!(ring.key_count(), 1);
        assert_eq!(ring.pseudonyms(client), std::slice::from_ref(&second));
        ring.discard_before(tuesday + Duration::from_secs(8 * SECONDS_PER_DAY));
        assert_eq!(ring.key_count(), 0);
        assert!(!is_pseudonym("192.0.2.1"));
    }

    #[test]
    fn the_ring_never_holds_more_keys_than_days_kept() {
        let mut ring = KeyRing::new(2);
        let client: IpAddr = "2001:db8::1".parse().expect("address");
        for day in 0..50 {
            ring.pseudonym(
                client,
                UNIX_EPOCH + Duration::from_secs(day * SECONDS_PER_DAY),
            );
        }
        assert_eq!(ring.key_count(), 3);
    }
}
