//! Time for TTLs: whole seconds on a monotonic clock, injectable for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// A source of the current time in seconds, as the caches expect it.
pub trait Clock: Send + Sync {
    /// Seconds since an arbitrary fixed start.
    fn now(&self) -> u32;
}

/// The process's monotonic clock, in seconds since the clock was made.
#[derive(Debug, Clone)]
pub struct MonotonicClock {
    start: Instant,
}

impl MonotonicClock {
    /// Starts the clock at zero... plus one, so that 0 never means "now".
    pub fn new() -> MonotonicClock {
        MonotonicClock {
            start: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> MonotonicClock {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> u32 {
        self.start.elapsed().as_secs() as u32 + 1
    }
}

/// A clock that tests move by hand.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(pub Arc<AtomicU32>);

impl Clock for ManualClock {
    fn now(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}
