//! Coalescing identical questions: while one resolution for a (name, type)
//! is under way, later askers wait for its result instead of starting their
//! own (the thundering-herd and birthday-attack defence of RFC 5452 §5).

use crate::outcome::{ExtendedError, Resolution};
use hanse_wire::{Name, RType};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use tokio::sync::oneshot;

/// How many clients may wait on one resolution; more get SERVFAIL at once.
const MAX_WAITERS: usize = 4096;

type Waiters = Vec<oneshot::Sender<Resolution>>;

/// The table of resolutions in flight.
#[derive(Default)]
pub struct InFlight {
    table: Mutex<HashMap<(Name, RType), Waiters>>,
}

/// Removes the table entry when the leading resolution ends or is dropped;
/// waiters then see a closed channel and answer SERVFAIL.
struct Leader<'a> {
    table: &'a Mutex<HashMap<(Name, RType), Waiters>>,
    key: Option<(Name, RType)>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.table.lock().remove(&key);
        }
    }
}

impl InFlight {
    /// Runs `work` for `key` unless the same key is already in flight, in
    /// which case it waits for that result.
    pub async fn run<F: Future<Output = Resolution>>(
        &self,
        name: &Name,
        rtype: RType,
        work: F,
    ) -> Resolution {
        let key = (name.clone(), rtype);
        let receiver = {
            let mut table = self.table.lock();
            match table.get_mut(&key) {
                Some(waiters) if waiters.len() >= MAX_WAITERS => {
                    return Resolution::failure(ExtendedError::LIMIT_REACHED);
                }
                Some(waiters) => {
                    let (sender, receiver) = oneshot::channel();
                    waiters.push(sender);
                    Some(receiver)
                }
                None => {
                    table.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(receiver) = receiver {
            return receiver
                .await
                .unwrap_or_else(|_| Resolution::failure(ExtendedError::NETWORK_ERROR));
        }
        let mut leader = Leader {
            table: &self.table,
            key: Some(key),
        };
        let resolution = work.await;
        let waiters = leader
            .key
            .take()
            .and_then(|key| self.table.lock().remove(&key));
        for waiter in waiters.into_iter().flatten() {
            let _ = waiter.send(resolution.clone());
        }
        resolution
    }

    /// The number of distinct questions in flight.
    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
