//! The query path of the query log: fixed-size records gathered in
//! per-thread batches, handed to the writer one batch at a time.
//!
//! A [`Record`] holds everything about one query inline (the question name
//! in wire form, RFC 1035 §3.1, in a 255-byte array), so recording a plain
//! query allocates nothing; only the rare policy details (profile, feed,
//! action, rule) go in a box. Each worker thread appends to its own slot (a
//! mutex nobody else takes, except the writer's periodic sweep); a full slot
//! of [`BATCH_RECORDS`] is swapped with an empty vector from a pool and sent
//! to the writer in one channel operation, so the writer thread wakes once
//! per batch rather than once per query. The writer sweeps partial slots
//! every flush interval, so a quiet thread's queries are not held back.
//!
//! The queue stays bounded: the channel holds at most
//! `queue_capacity / BATCH_RECORDS` batches (at least one); a batch that does
//! not fit is dropped whole and its queries counted as dropped. Besides the
//! queue, each of the [`SLOTS`] slots holds less than one batch.
//!
//! Limitations: threads share slots when there are more than [`SLOTS`] of
//! them (the mutex then has contention). A policy-configured query with a
//! profile allocates its details box.

use std::cell::Cell;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// Queries per batch on the query path.
pub(crate) const BATCH_RECORDS: usize = 64;
/// Per-thread slots.
pub(crate) const SLOTS: usize = 16;
/// The longest question name in wire form.
const NAME_MAX: usize = 255;

/// What is rarely there: policy details, and a name given as text (the
/// `LoggedQuery` path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Details {
    pub(crate) qname_text: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) feed: Option<String>,
    pub(crate) action: Option<String>,
    pub(crate) rule: Option<String>,
}

/// One query, fixed size.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) time: SystemTime,
    pub(crate) client: IpAddr,
    pub(crate) transport: &'static str,
    qname: [u8; NAME_MAX],
    qname_length: u8,
    pub(crate) qtype: u16,
    pub(crate) rcode: u16,
    pub(crate) elapsed_micros: u32,
    pub(crate) dropped: bool,
    pub(crate) from_cache: bool,
    pub(crate) blocked: bool,
    pub(crate) details: Option<Box<Details>>,
}

impl Record {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        time: SystemTime,
        client: IpAddr,
        transport: &'static str,
        qname_wire: &[u8],
        qtype: u16,
        rcode: u16,
        elapsed_micros: u32,
        dropped: bool,
        from_cache: bool,
        blocked: bool,
        details: Option<Box<Details>>,
    ) -> Record {
        let mut qname = [0u8; NAME_MAX];
        // A name longer than the wire form allows is cut; the writer reads
        // labels only as far as they are whole.
        let length = qname_wire.len().min(NAME_MAX);
        qname[..length].copy_from_slice(&qname_wire[..length]);
        Record {
            time,
            client,
            transport,
            qname,
            qname_length: length as u8,
            qtype,
            rcode,
            elapsed_micros,
            dropped,
            from_cache,
            blocked,
            details,
        }
    }

    /// The question name in wire form.
    pub(crate) fn qname_wire(&self) -> &[u8] {
        &self.qname[..usize::from(self.qname_length)]
    }

    /// The name given as text, if it came that way.
    pub(crate) fn qname_text(&self) -> Option<&str> {
        self.details.as_ref()?.qname_text.as_deref()
    }

    pub(crate) fn details(&self) -> Option<&Details> {
        self.details.as_deref()
    }
}

/// One thread's partial batch and its counters.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) records: Vec<Record>,
}

/// A slot on its own cache line.
#[repr(align(128))]
#[derive(Default)]
struct PaddedSlot(Mutex<Slot>);

/// The query side: slots, the queue to the writer and the vector pool.
pub(crate) struct Batcher {
    slots: Box<[PaddedSlot]>,
    /// Records in the queue (not in slots).
    queued: AtomicU64,
    spare: Receiver<Vec<Record>>,
    spare_return: Sender<Vec<Record>>,
}

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn slot_index() -> usize {
    SLOT_INDEX.with(|index| {
        if index.get() == usize::MAX {
            index.set(NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS);
        }
        index.get()
    })
}

/// What became of a record offered to the batcher.
pub(crate) enum Offered {
    /// Kept in the slot or sent with its batch.
    Kept,
    /// The queue was full: this many records were dropped.
    Dropped(u64),
}

impl Batcher {
    /// A batcher whose pool holds up to `batches + SLOTS` vectors.
    pub(crate) fn new(batches: usize) -> Batcher {
        let (spare_return, spare) = crossbeam_channel::bounded(batches + SLOTS);
        Batcher {
            slots: (0..SLOTS).map(|_| PaddedSlot::default()).collect(),
            queued: AtomicU64::new(0),
            spare,
            spare_return,
        }
    }

    fn lock(slot: &PaddedSlot) -> MutexGuard<'_, Slot> {
        slot.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The channel capacity, in batches, for a queue of `queue_capacity` queries.
    pub(crate) fn batches_for(queue_capacity: usize) -> usize {
        (queue_capacity / BATCH_RECORDS).max(1)
    }

    /// Adds one record to this thread's slot; sends the slot when full.
    pub(crate) fn offer<C>(
        &self,
        record: Record,
        queue: &Sender<C>,
        wrap: fn(Vec<Record>) -> C,
    ) -> Offered {
        let mut slot = Self::lock(&self.slots[slot_index()]);
        if slot.records.capacity() == 0 {
            slot.records = self.fresh();
        }
        slot.records.push(record);
        if slot.records.len() < BATCH_RECORDS {
            return Offered::Kept;
        }
        let full = std::mem::replace(&mut slot.records, self.fresh());
        drop(slot);
        self.send(full, queue, wrap)
    }

    /// Sends a batch; on a full queue drops it and says how many.
    fn send<C>(
        &self,
        batch: Vec<Record>,
        queue: &Sender<C>,
        wrap: fn(Vec<Record>) -> C,
    ) -> Offered {
        let count = batch.len() as u64;
        self.queued.fetch_add(count, Ordering::Relaxed);
        match queue.try_send(wrap(batch)) {
            Ok(()) => Offered::Kept,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(count, Ordering::Relaxed);
                Offered::Dropped(count)
            }
        }
    }

    /// An empty vector for a batch, from the pool when it has one.
    fn fresh(&self) -> Vec<Record> {
        self.spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH_RECORDS))
    }

    /// Takes every partial batch out of the slots (the writer's sweep).
    pub(crate) fn sweep(&self, into: &mut Vec<Vec<Record>>) {
        for slot in self.slots.iter() {
            let mut slot = Self::lock(slot);
            if !slot.records.is_empty() {
                let taken = std::mem::take(&mut slot.records);
                into.push(taken);
            }
        }
    }

    /// The writer took a batch of `count` records off the queue.
    pub(crate) fn taken(&self, count: usize) {
        self.queued.fetch_sub(count as u64, Ordering::Relaxed);
    }

    /// Gives a written batch's vector back to the pool.
    pub(crate) fn recycle(&self, mut batch: Vec<Record>) {
        batch.clear();
        if batch.capacity() >= BATCH_RECORDS {
            let _ = self.spare_return.try_send(batch);
        }
    }

    /// Records waiting: in the queue and in the slots.
    pub(crate) fn depth(&self) -> u64 {
        let in_slots: usize = self
            .slots
            .iter()
            .map(|slot| Self::lock(slot).records.len())
            .sum();
        self.queued.load(Ordering::Relaxed) + in_slots as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u16) -> Record {
        Record::new(
            SystemTime::UNIX_EPOCH,
            "192.0.2.1".parse().expect("address"),
            "udp",
            b"\x07example\x00",
            index,
            0,
            1,
            false,
            true,
            false,
            None,
        )
    }

    #[test]
    fn full_slots_go_as_one_batch_and_a_full_queue_drops_whole_batches() {
        let batcher = Batcher::new(1);
        let (queue, receiver) = crossbeam_channel::bounded::<Vec<Record>>(1);
        for index in 0..BATCH_RECORDS as u16 - 1 {
            assert!(matches!(
                batcher.offer(record(index), &queue, |batch| batch),
                Offered::Kept
            ));
        }
        assert!(receiver.is_empty());
        assert_eq!(batcher.depth(), BATCH_RECORDS as u64 - 1);
        assert!(matches!(
            batcher.offer(record(999), &queue, |batch| batch),
            Offered::Kept
        ));
        let batch = receiver.try_recv().expect("one batch");
        assert_eq!(batch.len(), BATCH_RECORDS);
        assert_eq!(batch[0].qname_wire(), b"\x07example\x00");
        batcher.taken(batch.len());
        // Fill the queue, then one more batch is dropped whole.
        for index in 0..BATCH_RECORDS as u16 {
            let _ = batcher.offer(record(index), &queue, |batch| batch);
        }
        let mut dropped = 0;
        for index in 0..BATCH_RECORDS as u16 {
            if let Offered::Dropped(count) = batcher.offer(record(index), &queue, |batch| batch) {
                dropped += count;
            }
        }
        assert_eq!(dropped, BATCH_RECORDS as u64);
        let mut swept = Vec::new();
        batcher.sweep(&mut swept);
        assert!(swept.is_empty());
        let _ = batcher.offer(record(1), &queue, |batch| batch);
        batcher.sweep(&mut swept);
        assert_eq!(swept.len(), 1);
        assert_eq!(swept[0].len(), 1);
        batcher.recycle(batch);
    }

    #[test]
    fn long_names_are_cut_to_the_wire_limit() {
        let long = vec![1u8; 400];
        let record = Record::new(
            SystemTime::UNIX_EPOCH,
            "::1".parse().expect("address"),
            "tcp",
            &long,
            1,
            0,
            0,
            false,
            false,
            false,
            None,
        );
        assert_eq!(record.qname_wire().len(), 255);
    }
}
