//! The writer thread: takes queries off the bounded queue, gathers identical
//! ones (`gather`) and writes the distinct ones, one transaction per write;
//! runs the retention job when it is due.
//!
//! Batches arrive from the threads' slots (`batcher`); their queries go into
//! the table of distinct queries at once (the batch's vector goes back to
//! the pool), and the table is written every `flush_interval` (after
//! sweeping the slots' partial batches), when it holds `batch_size`
//! distinct queries, on a flush request and when the queue is closed. A
//! write that fails is counted (queries and transaction) and dropped; the
//! writer goes on with the next one, so a full disk costs queries, never
//! memory.
//!
//! Limitations: while a transaction waits for a lock held by another
//! connection (up to `busy_timeout`), queries pile up in the queue and
//! beyond its capacity are dropped.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::Shared;
use crate::batcher::Record;
use crate::config::{Clock, QueryLogConfig};
use crate::gather::Gatherer;
use crate::store::Store;

/// What the handle sends to the writer.
pub(crate) enum Command {
    /// A batch of queries from one thread's slot.
    Records(Vec<Record>),
    /// Write everything before this (slots included), run due maintenance,
    /// then answer.
    Flush(Sender<()>),
}

pub(crate) struct Writer {
    store: Store,
    receiver: Receiver<Command>,
    shared: Arc<Shared>,
    /// The distinct queries waiting to be written (at most `batch_size`).
    gathered: Gatherer,
    /// The slots' partial batches taken by a sweep (kept for its allocation).
    swept: Vec<Vec<Record>>,
    flush_interval: Duration,
    maintenance_interval: Duration,
    last_maintenance: Option<SystemTime>,
    /// When the hourly counters gathered in memory are next written.
    next_counters: Instant,
}

/// How often the writer writes the hourly counters it gathers in memory.
const COUNTERS_INTERVAL: Duration = Duration::from_secs(10);

impl Writer {
    pub(crate) fn new(
        store: Store,
        receiver: Receiver<Command>,
        shared: Arc<Shared>,
        config: &QueryLogConfig,
    ) -> Writer {
        Writer {
            store,
            receiver,
            shared,
            gathered: Gatherer::new(config.batch_size),
            swept: Vec::new(),
            flush_interval: config.flush_interval,
            maintenance_interval: config.maintenance_interval,
            // Store::open ran the retention job already.
            last_maintenance: Some(config.clock.now()),
            next_counters: Instant::now() + COUNTERS_INTERVAL,
        }
    }

    pub(crate) fn run(mut self) {
        // The writer wakes at least every flush interval to sweep the
        // threads' partial batches and write what it holds.
        let mut next_sweep = Instant::now() + self.flush_interval;
        loop {
            match self.receiver.recv_deadline(next_sweep) {
                Ok(Command::Records(batch)) => {
                    self.shared.batcher.taken(batch.len());
                    self.take(batch);
                }
                Ok(Command::Flush(reply)) => {
                    self.sweep();
                    self.write();
                    self.store.write_counters();
                    self.maintain_if_due();
                    let _ = reply.send(());
                }
                // The sweep below runs.
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.sweep();
                    self.write();
                    self.store.write_counters();
                    return;
                }
            }
            // Also when batches keep arriving and the queue never runs dry.
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep();
                self.write();
                if now >= self.next_counters {
                    self.store.write_counters();
                    self.next_counters = now + COUNTERS_INTERVAL;
                }
                self.maintain_if_due();
                next_sweep = Instant::now() + self.flush_interval;
            }
        }
    }

    /// Takes the threads' partial batches, after every full batch already
    /// queued: a partial batch holds a thread's newest records, so it is
    /// written after the older ones in the queue (row ids follow the order
    /// of the queries). Flush requests met in the queue are answered once
    /// the writer is through it.
    fn sweep(&mut self) {
        let mut flushes = Vec::new();
        while let Ok(command) = self.receiver.try_recv() {
            match command {
                Command::Records(batch) => {
                    self.shared.batcher.taken(batch.len());
                    self.take(batch);
                }
                Command::Flush(reply) => flushes.push(reply),
            }
        }
        let mut swept = std::mem::take(&mut self.swept);
        self.shared.batcher.sweep(&mut swept);
        for batch in swept.drain(..) {
            self.take(batch);
        }
        self.swept = swept;
        if !flushes.is_empty() {
            self.write();
            self.store.write_counters();
            for reply in flushes {
                let _ = reply.send(());
            }
        }
    }

    /// Gathers the queries of a batch (writing whenever the table is full)
    /// and gives its vector back to the pool.
    fn take(&mut self, batch: Vec<Record>) {
        for record in &batch {
            self.gathered.add(record);
            if self.gathered.is_full() {
                self.write();
            }
        }
        self.shared.batcher.recycle(batch);
    }

    fn write(&mut self) {
        if !self.gathered.is_empty() {
            self.store
                .write_batch(self.gathered.entries(), self.gathered.queries());
        }
        self.gathered.clear();
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
