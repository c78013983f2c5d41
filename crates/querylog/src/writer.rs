//! The writer thread: takes queries off the bounded queue and writes them in
//! batches, one transaction per batch; runs the retention job when it is due.
//!
//! A batch is written when it holds `batch_size` queries, when its first
//! query has waited `flush_interval`, on a flush request and when the queue
//! is closed. A batch that cannot be written is counted (queries and
//! transaction) and dropped; the writer goes on with the next one, so a full
//! disk costs queries, never memory.
//!
//! Limitations: while a transaction waits for a lock held by another
//! connection (up to `busy_timeout`), queries pile up in the queue and
//! beyond its capacity are dropped.

use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::LoggedQuery;
use crate::config::{Clock, QueryLogConfig};
use crate::store::Store;

/// What the handle sends to the writer.
pub(crate) enum Command {
    Record(LoggedQuery),
    /// Write everything before this, run due maintenance, then answer.
    Flush(Sender<()>),
}

/// The longest the writer sleeps without looking at the clock.
const IDLE_WAKE: Duration = Duration::from_secs(1);

pub(crate) struct Writer {
    store: Store,
    receiver: Receiver<Command>,
    batch: Vec<LoggedQuery>,
    batch_size: usize,
    flush_interval: Duration,
    maintenance_interval: Duration,
    last_maintenance: Option<SystemTime>,
}

impl Writer {
    pub(crate) fn new(
        store: Store,
        receiver: Receiver<Command>,
        config: &QueryLogConfig,
    ) -> Writer {
        Writer {
            store,
            receiver,
            batch: Vec::with_capacity(config.batch_size.min(4096)),
            batch_size: config.batch_size,
            flush_interval: config.flush_interval,
            maintenance_interval: config.maintenance_interval,
            // Store::open ran the retention job already.
            last_maintenance: Some(config.clock.now()),
        }
    }

    pub(crate) fn run(mut self) {
        let mut batch_started: Option<Instant> = None;
        loop {
            let deadline = match batch_started {
                Some(started) => started + self.flush_interval,
                None => Instant::now() + IDLE_WAKE,
            };
            match self.receiver.recv_deadline(deadline) {
                Ok(Command::Record(query)) => {
                    if self.batch.is_empty() {
                        batch_started = Some(Instant::now());
                    }
                    self.batch.push(query);
                    if self.batch.len() >= self.batch_size {
                        self.write();
                        batch_started = None;
                    }
                }
                Ok(Command::Flush(reply)) => {
                    self.write();
                    batch_started = None;
                    self.maintain_if_due();
                    let _ = reply.send(());
                }
                Err(RecvTimeoutError::Timeout) => {
                    if batch_started.is_some_and(|started| started.elapsed() >= self.flush_interval)
                    {
                        self.write();
                        batch_started = None;
                    }
                    self.maintain_if_due();
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.write();
                    return;
                }
            }
        }
    }

    fn write(&mut self) {
        if !self.batch.is_empty() {
            self.store.write_batch(&self.batch);
            self.batch.clear();
        }
    }

    fn maintain_if_due(&mut self) {
        let now = self.store.now();
        let due = match self.last_maintenance {
            None => true,
            Some(last) => match now.duration_since(last) {
                Ok(since) => since >= self.maintenance_interval,
                // The clock went backwards: run now and start over.
                Err(_) => true,
            },
        };
        if due {
            self.store.maintain();
            self.last_maintenance = Some(now);
        }
    }
}
