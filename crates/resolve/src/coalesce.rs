//! Coalescing identical questions: while one resolution for a (name, type)
//! is under way, later askers wait for its result instead of starting their
//! own (the thundering-herd and birthday-attack defence of RFC 5452 §5).

use crate::outcome::{ExtendedError, Resolution};
use hanse_wire::{Name, RType};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::hash::{Hash, Hasher};
use tokio::sync::oneshot;

/// How many clients may wait on one resolution; more get SERVFAIL at once.
const MAX_WAITERS: usize = 4096;

type Waiters = Vec<oneshot::Sender<Resolution>>;

/// A question in the table: the name compares without regard to ASCII case.
#[derive(PartialEq, Eq)]
struct Question {
    name: Name,
    rtype: RType,
}

impl Hash for Question {
    /// Hashes the lower-cased name in one piece: one call of the hasher per
    /// 64 octets rather than one per octet, as the name's own `Hash` does.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let wire = self.name.as_wire();
        let mut buffer = [0u8; 64];
        state.write_usize(wire.len());
        for chunk in wire.chunks(buffer.len()) {
            let folded = &mut buffer[..chunk.len()];
            folded.copy_from_slice(chunk);
            folded.make_ascii_lowercase();
            state.write(folded);
        }
        state.write_u16(self.rtype.0);
    }
}

/// Seeded (foldhash, like the caches' keys): the names come from clients.
type Table = HashMap<Question, Waiters, foldhash::fast::RandomState>;

/// The table of resolutions in flight.
#[derive(Default)]
pub struct InFlight {
    table: Mutex<Table>,
}

/// Removes the table entry when the leading resolution ends or is dropped;
/// waiters then see a closed channel and answer SERVFAIL.
struct Leader<'a> {
    table: &'a Mutex<Table>,
    question: Option<Question>,
}

impl Leader<'_> {
    /// Takes the entry out of the table, with its waiters.
    fn finish(&mut self) -> Option<Waiters> {
        let question = self.question.take()?;
        self.table.lock().remove(&question)
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl InFlight {
    /// Runs `work` for `name`/`rtype` unless the same question is already in
    /// flight, in which case it waits for that result.
    pub async fn run<F: Future<Output = Resolution>>(
        &self,
        name: &Name,
        rtype: RType,
        work: F,
    ) -> Resolution {
        let question = Question {
            name: name.clone(),
            rtype,
        };
        let receiver = {
            let mut table = self.table.lock();
            match table.entry(question) {
                Entry::Occupied(mut waiting) => {
                    let waiters = waiting.get_mut();
                    if waiters.len() >= MAX_WAITERS {
                        return Resolution::failure(ExtendedError::LIMIT_REACHED);
                    }
                    let (sender, receiver) = oneshot::channel();
                    waiters.push(sender);
                    Some(receiver)
                }
                Entry::Vacant(vacant) => {
                    vacant.insert(Vec::new());
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
            question: Some(Question {
                name: name.clone(),
                rtype,
            }),
        };
        let resolution = work.await;
        for waiter in leader.finish().into_iter().flatten() {
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
