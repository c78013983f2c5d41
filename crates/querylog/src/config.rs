//! Settings of the query log: where it lives, how much it keeps about
//! clients (the privacy level), for how long, what it never stores, and the
//! sizes of its queue and batches; plus the clock it reads.
//!
//! Address prefixes follow RFC 4632 (IPv4 CIDR) and RFC 4291 §2.3 (IPv6).
//! Limitations: the clock is wall time (UTC); a clock that jumps backwards
//! makes the retention job run again early, never skip.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::QueryLogError;

/// How much the log keeps about the client of each query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrivacyLevel {
    /// Level 0: every query with the client's address.
    Full,
    /// Level 1: every query with a pseudonym of the client's address (a keyed
    /// hash whose key changes at each UTC midnight; see docs/querylog.md).
    Pseudonymous,
    /// Level 2: every query, nothing about the client.
    Anonymous,
    /// Level 3: no query rows at all, only per-hour counters.
    AggregatesOnly,
}

impl PrivacyLevel {
    /// The level as the number operators configure (0 to 3).
    pub fn number(self) -> u8 {
        match self {
            PrivacyLevel::Full => 0,
            PrivacyLevel::Pseudonymous => 1,
            PrivacyLevel::Anonymous => 2,
            PrivacyLevel::AggregatesOnly => 3,
        }
    }

    /// The level for a configured number, or an error for anything but 0 to 3.
    pub fn from_number(number: u8) -> Result<PrivacyLevel, QueryLogError> {
        match number {
            0 => Ok(PrivacyLevel::Full),
            1 => Ok(PrivacyLevel::Pseudonymous),
            2 => Ok(PrivacyLevel::Anonymous),
            3 => Ok(PrivacyLevel::AggregatesOnly),
            _ => Err(QueryLogError::InvalidConfig(format!(
                "privacy level {number} is not one of 0, 1, 2, 3"
            ))),
        }
    }

    /// Whether per-query rows are stored at this level.
    pub fn stores_rows(self) -> bool {
        self != PrivacyLevel::AggregatesOnly
    }

    /// Whether anything identifying a client (address or pseudonym) is stored.
    pub fn stores_clients(self) -> bool {
        self <= PrivacyLevel::Pseudonymous
    }
}

/// An address prefix (CIDR block) such as `192.0.2.0/24` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNetwork {
    address: IpAddr,
    prefix_length: u8,
}

impl ClientNetwork {
    /// A network from an address and a prefix length; host bits are cleared.
    pub fn new(address: IpAddr, prefix_length: u8) -> Result<ClientNetwork, QueryLogError> {
        let address = address.to_canonical();
        let maximum = if address.is_ipv4() { 32 } else { 128 };
        if prefix_length > maximum {
            return Err(QueryLogError::InvalidConfig(format!(
                "prefix length {prefix_length} is longer than {maximum} for {address}"
            )));
        }
        Ok(ClientNetwork {
            address: mask(address, prefix_length),
            prefix_length,
        })
    }

    /// Whether `client` lies inside this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:192.0.2.1`) count as their IPv4 address.
    pub fn contains(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        client.is_ipv4() == self.address.is_ipv4()
            && mask(client, self.prefix_length) == self.address
    }
}

fn mask(address: IpAddr, prefix_length: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_length))
                .unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_length))
                .unwrap_or(0);
            IpAddr::V6((bits & mask).into())
        }
    }
}

impl FromStr for ClientNetwork {
    type Err = QueryLogError;

    /// Parses `ADDRESS/LENGTH` or a bare address (a single host).
    fn from_str(text: &str) -> Result<ClientNetwork, QueryLogError> {
        let invalid = || QueryLogError::InvalidConfig(format!("{text:?} is not an address prefix"));
        let (address, length) = match text.split_once('/') {
            Some((address, length)) => (address, Some(length)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| invalid())?;
        let length = match length {
            Some(length) => length.trim().parse::<u8>().map_err(|_| invalid())?,
            None if address.to_canonical().is_ipv4() => 32,
            None => 128,
        };
        ClientNetwork::new(address, length)
    }
}

impl fmt::Display for ClientNetwork {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.address, self.prefix_length)
    }
}

/// The wall clock the log reads for retention and for discarding
/// pseudonymisation keys. Query times come with each query instead.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until it is set or advanced: for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: SystemTime) -> ManualClock {
        ManualClock {
            now: Mutex::new(now),
        }
    }

    /// Sets the time shown.
    pub fn set(&self, now: SystemTime) {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = now;
    }

    /// Moves the time shown forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += duration;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// Everything `QueryLog::open` needs.
pub struct QueryLogConfig {
    /// The SQLite database file; created if missing (its directory must exist).
    pub path: PathBuf,
    /// How much is kept about clients.
    pub privacy_level: PrivacyLevel,
    /// Rows (and hourly counters) older than this many days are deleted.
    /// 1 to 3650.
    pub retention_days: u32,
    /// Queries from these clients are never stored, not even counted per hour.
    pub excluded_clients: Vec<ClientNetwork>,
    /// Queries for these names, or names below them, are never stored.
    pub excluded_names: Vec<String>,
    /// Queries waiting for the writer; beyond this `record` drops and counts.
    /// 1 to 1,048,576.
    pub queue_capacity: usize,
    /// Distinct queries the writer gathers at most before it writes them
    /// (identical queries of one interval are one row with a count); about
    /// 330 bytes of memory each. 1 to 100,000.
    pub batch_size: usize,
    /// Queries are written at the latest this long after they were
    /// recorded; identical queries within one interval are gathered.
    pub flush_interval: Duration,
    /// How long a write waits for a database locked by another connection
    /// before it fails (and is counted as a write error).
    pub busy_timeout: Duration,
    /// Names kept per hour for the top-names counters (twice this many at
    /// most while the hour runs). 1 to 100,000.
    pub top_names_per_hour: usize,
    /// How often the retention job runs.
    pub maintenance_interval: Duration,
    /// The clock for retention and key rotation.
    pub clock: std::sync::Arc<dyn Clock>,
}

impl QueryLogConfig {
    /// Settings with the defaults: privacy level 1, 7 days, no exclusions,
    /// a queue of 65,536 queries, up to 16,384 distinct queries gathered,
    /// written every second.
    pub fn new(path: impl Into<PathBuf>) -> QueryLogConfig {
        QueryLogConfig {
            path: path.into(),
            privacy_level: PrivacyLevel::Pseudonymous,
            retention_days: 7,
            excluded_clients: Vec::new(),
            excluded_names: Vec::new(),
            queue_capacity: 65_536,
            batch_size: 16_384,
            flush_interval: Duration::from_secs(1),
            busy_timeout: Duration::from_secs(5),
            top_names_per_hour: 100,
            maintenance_interval: Duration::from_secs(3600),
            clock: std::sync::Arc::new(SystemClock),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), QueryLogError> {
        let check = |ok: bool, message: &str| {
            if ok {
                Ok(())
            } else {
                Err(QueryLogError::InvalidConfig(message.to_owned()))
            }
        };
        check(
            (1..=3650).contains(&self.retention_days),
            "retention_days must be 1 to 3650",
        )?;
        check(
            (1..=1 << 20).contains(&self.queue_capacity),
            "queue_capacity must be 1 to 1048576",
        )?;
        check(
            (1..=100_000).contains(&self.batch_size),
            "batch_size must be 1 to 100000",
        )?;
        check(
            (1..=100_000).contains(&self.top_names_per_hour),
            "top_names_per_hour must be 1 to 100000",
        )?;
        check(
            !self.flush_interval.is_zero() && self.flush_interval <= Duration::from_secs(60),
            "flush_interval must be more than 0 and at most 60 seconds",
        )?;
        check(
            !self.maintenance_interval.is_zero(),
            "maintenance_interval must be more than 0",
        )?;
        for name in &self.excluded_names {
            check(
                !name.is_empty() && name.len() <= 1024,
                "an excluded name is empty or too long",
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for QueryLogConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("QueryLogConfig")
            .field("path", &self.path)
            .field("privacy_level", &self.privacy_level)
            .field("retention_days", &self.retention_days)
            .field("excluded_clients", &self.excluded_clients)
            .field("excluded_names", &self.excluded_names)
            .field("queue_capacity", &self.queue_capacity)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("busy_timeout", &self.busy_timeout)
            .field("top_names_per_hour", &self.top_names_per_hour)
            .field("maintenance_interval", &self.maintenance_interval)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_match() {
        let network: ClientNetwork = "192.0.2.77/24".parse().expect("prefix");
        assert_eq!(network.to_string(), "192.0.2.0/24");
        assert!(network.contains("192.0.2.1".parse().expect("address")));
        assert!(network.contains("::ffff:192.0.2.9".parse().expect("address")));
        assert!(!network.contains("192.0.3.1".parse().expect("address")));
        let host: ClientNetwork = "2001:db8::1".parse().expect("host");
        assert!(host.contains("2001:db8::1".parse().expect("address")));
        assert!(!host.contains("2001:db8::2".parse().expect("address")));
        let everything: ClientNetwork = "::/0".parse().expect("all");
        assert!(everything.contains("2001:db8::2".parse().expect("address")));
        assert!(!everything.contains("127.0.0.1".parse().expect("address")));
        for bad in ["192.0.2.0/33", "nonsense", "10.0.0.0/x", "::/129", ""] {
            assert!(bad.parse::<ClientNetwork>().is_err(), "{bad}");
        }
    }

    #[test]
    fn levels_round_trip() {
        for number in 0..4 {
            assert_eq!(
                PrivacyLevel::from_number(number).expect("level").number(),
                number
            );
        }
        assert!(PrivacyLevel::from_number(4).is_err());
    }
}
