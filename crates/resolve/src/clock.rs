//! Time for TTLs: whole seconds on a monotonic clock, injectable for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// A source of the current time in seconds, as the caches expect it.
pub trait Clock: Send + Sync {
    /// Seconds since an arbitrary fixed start.
    fn now(&self) -> u32;

    /// Seconds since the UNIX epoch, modulo 2^32: the time RRSIG validity
    /// periods are checked against (RFC 4034 §3.1.5). The system's clock by
    /// default.
    fn unix_time(&self) -> u32 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs() as u32)
    }
}

/// The process's monotonic clock in whole seconds, read with one atomic load.
///
/// A background thread advances the count ten times a second, so reading the
/// clock on the hot path costs no system call; the count is at most 100 ms
/// behind. The thread stops when the last handle to the clock is dropped.
#[derive(Debug, Clone)]
pub struct MonotonicClock {
    seconds: Arc<AtomicU32>,
}

/// How often the background thread updates the count.
const TICK: std::time::Duration = std::time::Duration::from_millis(100);

impl MonotonicClock {
    /// Starts the clock at one, so that zero never means "now".
    pub fn new() -> MonotonicClock {
        let start = Instant::now();
        let seconds = Arc::new(AtomicU32::new(1));
        let weak = Arc::downgrade(&seconds);
        let spawned = std::thread::Builder::new()
            .name("hanse-clock".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    let Some(seconds) = weak.upgrade() else { break };
                    let elapsed = u32::try_from(start.elapsed().as_secs()).unwrap_or(u32::MAX - 1);
                    seconds.store(elapsed + 1, Ordering::Relaxed);
                }
            });
        // Without the thread the clock would stand still: a resource failure at
        // start-up that the caller cannot work around either.
        spawned.expect("the clock thread starts");
        MonotonicClock { seconds }
    }
}

impl Default for MonotonicClock {
    fn default() -> MonotonicClock {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> u32 {
        self.seconds.load(Ordering::Relaxed)
    }
}

/// A clock that tests move by hand.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(pub Arc<AtomicU32>);

impl Clock for ManualClock {
    fn now(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// The same count: a test that checks signatures sets the clock to a
    /// UNIX time.
    fn unix_time(&self) -> u32 {
        self.now()
    }
}
