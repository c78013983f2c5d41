//! Coalescing identical questions: while one resolution for a (name, type)
//! is under way, later askers wait for its result instead of starting their
//! own (the thundering-herd and birthday-attack defence of RFC 5452 §5).
//!
//! The asker that started a resolution leads it: the work runs inside its
//! future. When that future is dropped (its client's query was given up,
//! see the server's overload shedding), the entry leaves the table and the
//! waiters take over: one of them leads a new resolution with its own work
//! and the others wait for that one. An asker does so at most
//! [`MAX_TAKEOVERS`] times, then answers SERVFAIL.

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

/// How many times one asker finds the resolution it waited on abandoned
/// and asks again before it answers SERVFAIL.
const MAX_TAKEOVERS: usize = 4;

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
/// waiters of a dropped one see a closed channel and ask again.
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
    /// flight, in which case it waits for that result. If the resolution
    /// waited on is abandoned (its leader's future dropped), this asker asks
    /// again: it leads with `work`, which has not been polled, or waits on
    /// whoever leads now.
    pub async fn run<F: Future<Output = Resolution>>(
        &self,
        name: &Name,
        rtype: RType,
        work: F,
    ) -> Resolution {
        for _ in 0..=MAX_TAKEOVERS {
            let receiver = {
                let mut table = self.table.lock();
                match table.entry(Question {
                    name: name.clone(),
                    rtype,
                }) {
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
            match receiver {
                Some(receiver) => {
                    if let Ok(resolution) = receiver.await {
                        return resolution;
                    }
                    // The leader was dropped before it finished.
                }
                None => return self.lead(name, rtype, work).await,
            }
        }
        Resolution::failure(ExtendedError::NETWORK_ERROR)
    }

    /// Runs `work` as the leader of `name`/`rtype`, whose table entry the
    /// caller made, and hands its result to the waiters.
    async fn lead<F: Future<Output = Resolution>>(
        &self,
        name: &Name,
        rtype: RType,
        work: F,
    ) -> Resolution {
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

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::Rcode;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn answer() -> Resolution {
        Resolution {
            rcode: Rcode::NOERROR,
            ..Resolution::failure(ExtendedError::LIMIT_REACHED)
        }
    }

    /// Polls `future` once with a waker that does nothing.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_waiter_takes_over_when_the_leader_is_dropped() {
        let in_flight = InFlight::default();
        let name = Name::from_ascii("www.example.").unwrap();
        let (release, held) = oneshot::channel::<()>();
        let leader = in_flight.run(&name, RType::A, async {
            let _ = held.await;
            answer()
        });
        let mut leader = Box::pin(leader);
        assert!(poll_once(leader.as_mut()).is_pending(), "the leader waits");
        let mut waiter = pin!(in_flight.run(&name, RType::A, async { answer() }));
        assert!(poll_once(waiter.as_mut()).is_pending(), "coalesced");
        assert_eq!(in_flight.len(), 1);
        // The leader's client is given up: its future is dropped.
        drop(leader);
        drop(release);
        match poll_once(waiter.as_mut()) {
            Poll::Ready(resolution) => assert_eq!(resolution.rcode, Rcode::NOERROR),
            Poll::Pending => panic!("the waiter ran its own work, which is ready"),
        }
        assert!(in_flight.is_empty());
    }

    #[test]
    fn waiters_get_the_leaders_result() {
        let in_flight = InFlight::default();
        let name = Name::from_ascii("www.example.").unwrap();
        let (release, held) = oneshot::channel::<()>();
        let mut leader = pin!(in_flight.run(&name, RType::A, async {
            let _ = held.await;
            answer()
        }));
        assert!(poll_once(leader.as_mut()).is_pending());
        let mut waiter = pin!(in_flight.run(&name, RType::A, async {
            Resolution::failure(ExtendedError::NETWORK_ERROR)
        }));
        assert!(poll_once(waiter.as_mut()).is_pending());
        release.send(()).unwrap();
        assert!(matches!(poll_once(leader.as_mut()), Poll::Ready(r) if r.rcode == Rcode::NOERROR));
        assert!(
            matches!(poll_once(waiter.as_mut()), Poll::Ready(r) if r.rcode == Rcode::NOERROR),
            "the waiter's own work did not run"
        );
    }
}
