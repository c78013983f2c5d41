//! [`FeedSupply`]: the feeds of a policy, loaded from files and saved
//! copies, and kept current by one background thread per remote feed.
//!
//! A zone transfer refresh: IXFR from the serial held (AXFR when none);
//! "up to date" changes nothing; incremental changes are applied in order
//! with [`Feed::apply_changes`]; a full zone is compiled anew. When the
//! changes do not apply (the copies diverged) an AXFR follows from the same
//! primary. Primaries are tried in order; the first that succeeds serves.
//! The next refresh follows the SOA refresh timer, after a failure the SOA
//! retry timer, both clamped to the supply's bounds.

use crate::compile::{compile_text, describe_problems, empty_feed, summarise};
use crate::error::CompileError;
use crate::http::{Fetched, Fetcher, parse_http_date, unix_now};
use crate::saved::{self, Metadata, SavedCopy};
use crate::{CopyOrigin, FeedSpec, FeedStatus, Messages, NotifyOutcome, Source, SupplyOptions};
use hanse_policy::{Feed, FeedFormat, Problem};
use hanse_transfer::{Transfer, TransferError, TsigKey, serial_newer};
use hanse_wire::{Name, RType, Record};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How long [`FeedSupply::stop`] waits for the threads.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// How often a transfer in progress checks whether the supply stops.
const STOP_POLL: Duration = Duration::from_millis(50);

/// The callback run after a feed changed.
type ChangeCallback = Arc<dyn Fn() + Send + Sync>;

/// Locks a mutex; a panic elsewhere does not poison the supply.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The changing state of one feed.
struct FeedState {
    feed: Feed,
    copy_origin: CopyOrigin,
    /// Whether `feed` is a real copy (not the empty placeholder).
    has_copy: bool,
    /// The validators of a list copy.
    etag: Option<String>,
    last_modified: Option<String>,
    last_success: Option<SystemTime>,
    last_change: Option<SystemTime>,
    last_error: Option<String>,
    save_error: Option<String>,
    stale: bool,
    full_updates: u64,
    incremental_updates: u64,
}

/// One feed: its spec, state, and the wake-up of its thread.
struct Slot {
    spec: FeedSpec,
    state: Mutex<FeedState>,
    /// Whether a refresh was asked for (NOTIFY, [`FeedSupply::refresh`]).
    pending: Mutex<bool>,
    wake: Condvar,
}

impl Slot {
    fn wake_up(&self) {
        *lock(&self.pending) = true;
        self.wake.notify_all();
    }
}

struct Shared {
    slots: Vec<Slot>,
    options: SupplyOptions,
    messages: Mutex<Messages>,
    stopping: AtomicBool,
    on_change: Mutex<Option<ChangeCallback>>,
    /// Counts the changes of the feeds, for [`FeedSupply::generation`].
    generation: AtomicU64,
}

impl Shared {
    /// Records a warning and wakes the owner to take it.
    fn warn(&self, line: String) {
        lock(&self.messages).warnings.push(line);
        self.call_back();
    }

    fn call_back(&self) {
        let callback = lock(&self.on_change).clone();
        if let Some(callback) = callback {
            callback();
        }
    }

    fn clamp(&self, interval: Duration) -> Duration {
        interval.clamp(
            self.options.min_refresh,
            self.options.max_refresh.max(self.options.min_refresh),
        )
    }
}

/// The feeds of a policy and their refresh machinery. See the crate docs.
pub struct FeedSupply {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    started: AtomicBool,
}

impl std::fmt::Debug for FeedSupply {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FeedSupply")
            .field("feeds", &self.shared.slots.len())
            .finish_non_exhaustive()
    }
}

impl FeedSupply {
    /// Reads every file feed and every remote feed's saved copy (no
    /// network). Errors (an unreadable file, a policy zone with a syntax
    /// error or without an origin, a spec that cannot work): one line each.
    /// A saved copy that is corrupt or made for another source is ignored
    /// and reported in the warnings.
    pub fn load(specs: Vec<FeedSpec>, options: SupplyOptions) -> Result<FeedSupply, Vec<String>> {
        let mut errors = Vec::new();
        let mut messages = Messages::default();
        let mut slots = Vec::with_capacity(specs.len());
        for spec in specs {
            let loaded = match &spec.source {
                Source::File(path) => load_file(&spec, path),
                Source::Url { url, .. } => check_url(&spec, url)
                    .map(|()| load_saved_copy(&spec, &options, &mut messages.warnings)),
                Source::Transfer { primaries, .. } => check_transfer(&spec, primaries)
                    .map(|()| load_saved_copy(&spec, &options, &mut messages.warnings)),
            };
            match loaded {
                Ok(Some(load)) => {
                    let place = load.place;
                    messages
                        .warnings
                        .extend(describe_problems(&spec.name, &place, &load.problems));
                    messages
                        .summaries
                        .push(summarise(&load.feed, &place, load.problems.len()));
                    slots.push(new_slot(spec, load.feed, load.copy_origin, load.metadata));
                }
                Ok(None) => {
                    let origin = spec_origin(&spec);
                    let feed = empty_feed(&spec.name, spec.format, origin.as_ref());
                    messages.summaries.push(format!(
                        "feed {} ({}, {}): no copy yet; empty until the first fetch",
                        spec.name,
                        spec.format,
                        spec.source_text()
                    ));
                    slots.push(new_slot(spec, feed, CopyOrigin::None, None));
                }
                Err(error) => errors.push(error),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(FeedSupply {
            shared: Arc::new(Shared {
                slots,
                options,
                messages: Mutex::new(messages),
                stopping: AtomicBool::new(false),
                on_change: Mutex::new(None),
                generation: AtomicU64::new(0),
            }),
            threads: Mutex::new(Vec::new()),
            started: AtomicBool::new(false),
        })
    }

    /// Counts the changes of the feeds since [`FeedSupply::load`]: a
    /// caller that rebuilds its policy on `on_change` can skip the rebuild
    /// when this did not grow.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::SeqCst)
    }

    /// Warnings and summaries from load and later updates since the last
    /// call, ready to log.
    pub fn take_messages(&self) -> Messages {
        std::mem::take(&mut *lock(&self.shared.messages))
    }

    /// The current compiled feeds, in spec order. A remote feed without a
    /// copy yet is an empty feed of the right name and format.
    pub fn feeds(&self) -> Vec<Feed> {
        self.shared
            .slots
            .iter()
            .map(|slot| lock(&slot.state).feed.clone())
            .collect()
    }

    /// Starts the background refresh: every remote feed is fetched at once,
    /// then on its timer. `on_change` runs (on a background thread) after
    /// any feed changed ([`FeedSupply::generation`] then grows) and when
    /// new messages wait for [`FeedSupply::take_messages`]; it must not
    /// block. A second call does nothing.
    pub fn start(&self, on_change: Arc<dyn Fn() + Send + Sync>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        *lock(&self.shared.on_change) = Some(on_change);
        let mut threads = lock(&self.threads);
        for (index, slot) in self.shared.slots.iter().enumerate() {
            if !slot.spec.is_remote() {
                continue;
            }
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name(format!("feed-{index}"))
                .spawn(move || run_feed(&shared, index));
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(error) => self.shared.warn(format!(
                    "feed {}: cannot start its refresh thread: {error}",
                    slot.spec.name
                )),
            }
        }
    }

    /// A NOTIFY (RFC 1996) for `zone` from `source`. Accepted wakes the
    /// zone's feed for a transfer at once (several coalesce); a source that
    /// is not one of its primaries is refused.
    pub fn notify(&self, zone: &Name, source: IpAddr) -> NotifyOutcome {
        let source = source.to_canonical();
        let mut outcome = NotifyOutcome::UnknownZone;
        for slot in &self.shared.slots {
            let Source::Transfer {
                zone: feed_zone,
                primaries,
                ..
            } = &slot.spec.source
            else {
                continue;
            };
            if feed_zone != zone {
                continue;
            }
            if primaries
                .iter()
                .any(|primary| primary.ip().to_canonical() == source)
            {
                slot.wake_up();
                outcome = NotifyOutcome::Accepted;
            } else if outcome == NotifyOutcome::UnknownZone {
                outcome = NotifyOutcome::NotPrimary;
            }
        }
        outcome
    }

    /// Asks for a fetch of the remote feed `feed` now. `false` if there is
    /// no remote feed of that name.
    pub fn refresh(&self, feed: &str) -> bool {
        let mut found = false;
        for slot in &self.shared.slots {
            if slot.spec.name == feed && slot.spec.is_remote() {
                slot.wake_up();
                found = true;
            }
        }
        found
    }

    /// The state of every feed, in spec order.
    pub fn status(&self) -> Vec<FeedStatus> {
        self.shared
            .slots
            .iter()
            .map(|slot| {
                let state = lock(&slot.state);
                FeedStatus {
                    name: slot.spec.name.clone(),
                    format: slot.spec.format,
                    source: slot.spec.source_text(),
                    serial: state.feed.serial(),
                    version: state.feed.version(),
                    copy_origin: state.copy_origin.clone(),
                    last_success: state.last_success,
                    last_change: state.last_change,
                    last_error: state.last_error.clone(),
                    save_error: state.save_error.clone(),
                    stale: state.stale,
                    counts: state.feed.counts(),
                    full_updates: state.full_updates,
                    incremental_updates: state.incremental_updates,
                }
            })
            .collect()
    }

    /// Stops the background threads and joins them. Waits at most a few
    /// seconds: a transfer in progress is abandoned; an HTTP fetch in
    /// progress is left to end on its own (bounded by its timeout).
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for slot in &self.shared.slots {
            slot.wake_up();
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        let deadline = Instant::now() + STOP_WAIT;
        let mut waiting = threads;
        while !waiting.is_empty() && Instant::now() < deadline {
            let (finished, running): (Vec<_>, Vec<_>) =
                waiting.into_iter().partition(JoinHandle::is_finished);
            for handle in finished {
                let _ = handle.join();
            }
            waiting = running;
            if !waiting.is_empty() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Threads still running hold only their own reference to the
        // shared state and end when their fetch does.
    }
}

impl Drop for FeedSupply {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A feed as loaded, with where it came from.
struct Loaded {
    feed: Feed,
    problems: Vec<Problem>,
    place: String,
    copy_origin: CopyOrigin,
    metadata: Option<Metadata>,
}

fn new_slot(
    spec: FeedSpec,
    feed: Feed,
    copy_origin: CopyOrigin,
    metadata: Option<Metadata>,
) -> Slot {
    let has_copy = copy_origin != CopyOrigin::None;
    let remote = spec.is_remote();
    let (etag, last_modified) = metadata
        .map(|metadata| (metadata.etag, metadata.last_modified))
        .unwrap_or_default();
    Slot {
        spec,
        state: Mutex::new(FeedState {
            feed,
            copy_origin,
            has_copy,
            etag,
            last_modified,
            last_success: None,
            last_change: None,
            last_error: None,
            save_error: None,
            // A remote feed is stale until its first successful check.
            stale: remote,
            full_updates: 0,
            incremental_updates: 0,
        }),
        pending: Mutex::new(false),
        wake: Condvar::new(),
    }
}

/// The origin a spec's policy zone is compiled with.
fn spec_origin(spec: &FeedSpec) -> Option<Name> {
    match &spec.source {
        Source::Transfer { zone, .. } => Some(zone.clone()),
        _ => spec.origin.clone(),
    }
}

/// Reads and compiles a file feed. Lists get the file's modification time
/// as their version.
fn load_file(spec: &FeedSpec, path: &Path) -> Result<Option<Loaded>, String> {
    let place = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| {
        CompileError::Read {
            place: place.clone(),
            feed: spec.name.clone(),
            source,
        }
        .to_string()
    })?;
    let (mut feed, problems) = compile_text(
        &spec.name,
        spec.format,
        spec.origin.as_ref(),
        &place,
        &bytes,
    )
    .map_err(|error| error.to_string())?;
    if spec.format != FeedFormat::Rpz
        && let Some(seconds) = modified_seconds(path)
    {
        feed = feed.with_version(seconds);
    }
    Ok(Some(Loaded {
        feed,
        problems,
        place,
        copy_origin: CopyOrigin::File(path.to_path_buf()),
        metadata: None,
    }))
}

fn modified_seconds(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs(),
    )
}

fn check_url(spec: &FeedSpec, url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(())
    } else {
        Err(format!(
            "feed {}: {url}: only http:// and https:// URLs are supported",
            spec.name
        ))
    }
}

fn check_transfer(spec: &FeedSpec, primaries: &[SocketAddr]) -> Result<(), String> {
    if spec.format != FeedFormat::Rpz {
        return Err(format!(
            "feed {}: zone transfers carry policy zones only; the format must be rpz, not {}",
            spec.name, spec.format
        ));
    }
    if primaries.is_empty() {
        return Err(format!(
            "feed {}: a zone transfer needs at least one primary",
            spec.name
        ));
    }
    Ok(())
}

/// The version of a list copy: its Last-Modified time, else the fetch time.
fn list_version(last_modified: Option<&str>, fetched_at: u64) -> u64 {
    last_modified
        .and_then(parse_http_date)
        .unwrap_or(fetched_at)
}

/// Reads a remote feed's saved copy. Anything wrong with it is a warning
/// and the copy is ignored (`None`).
fn load_saved_copy(
    spec: &FeedSpec,
    options: &SupplyOptions,
    warnings: &mut Vec<String>,
) -> Option<Loaded> {
    let directory = options.state_directory.as_deref()?;
    let format = spec.format.to_string();
    let (contents, metadata, path) = match saved::read(directory, &spec.name, &format) {
        Ok(SavedCopy::Missing) => return None,
        Ok(SavedCopy::Found {
            contents,
            metadata,
            path,
        }) => (contents, metadata, path),
        Err(error) => {
            warnings.push(format!(
                "feed {}: {error}; the saved copy is ignored",
                spec.name
            ));
            return None;
        }
    };
    let place = path.display().to_string();
    let source = spec.source_text();
    if metadata.source != source || metadata.format != format {
        warnings.push(format!(
            "{place}: feed {}: the saved copy is of {} ({}), not of {source} ({format}); ignored",
            spec.name, metadata.source, metadata.format
        ));
        return None;
    }
    let origin = spec_origin(spec);
    let (mut feed, problems) =
        match compile_text(&spec.name, spec.format, origin.as_ref(), &place, &contents) {
            Ok(compiled) => compiled,
            Err(error) => {
                warnings.push(format!("{error}; the saved copy is ignored"));
                return None;
            }
        };
    if matches!(spec.source, Source::Transfer { .. }) && feed.serial().is_none() {
        warnings.push(format!(
            "{place}: feed {}: the saved copy has no SOA record; ignored",
            spec.name
        ));
        return None;
    }
    if spec.format != FeedFormat::Rpz {
        feed = feed.with_version(list_version(
            metadata.last_modified.as_deref(),
            metadata.fetched_at,
        ));
    }
    Some(Loaded {
        feed,
        problems,
        place,
        copy_origin: CopyOrigin::SavedCopy(path),
        metadata: Some(metadata),
    })
}

/// The refresh and retry timers of an SOA record (RFC 1035 §3.3.13).
fn soa_timers(soa: &Record) -> Option<(u32, u32)> {
    if soa.rtype != RType::SOA {
        return None;
    }
    let data = &soa.data;
    let mut position = 0;
    for _ in 0..2 {
        loop {
            let length = usize::from(*data.get(position)?);
            position += 1 + length;
            if length == 0 {
                break;
            }
        }
    }
    let field = |index: usize| {
        let start = position + 4 * index;
        let bytes = data.get(start..start + 4)?;
        Some(u32::from_be_bytes(bytes.try_into().ok()?))
    };
    Some((field(1)?, field(2)?))
}

/// The body of one remote feed's thread: fetch at once, then wait for the
/// timer, a NOTIFY, a refresh request or the stop.
fn run_feed(shared: &Shared, index: usize) {
    let slot = &shared.slots[index];
    let mut worker = match Worker::new(shared, slot) {
        Ok(worker) => worker,
        Err(error) => {
            shared.warn(format!("feed {}: {error}", slot.spec.name));
            return;
        }
    };
    // Any request made before the start is served by the first fetch.
    *lock(&slot.pending) = false;
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let next = worker.attempt();
        let deadline = Instant::now() + next;
        let mut pending = lock(&slot.pending);
        loop {
            if *pending || shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            pending = slot
                .wake
                .wait_timeout(pending, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *pending = false;
    }
}

/// The fetching machinery of one thread.
struct Worker<'a> {
    shared: &'a Shared,
    slot: &'a Slot,
    runtime: Option<tokio::runtime::Runtime>,
    fetcher: Option<Fetcher>,
}

/// The outcome of applying a transfer.
enum Update {
    Unchanged,
    Changed {
        feed: Box<Feed>,
        problems: Vec<Problem>,
        incremental: bool,
    },
}

/// Why a transfer's result was not applied.
enum Refusal {
    /// The changes do not apply to our copy: a full transfer is needed.
    Diverged(String),
    /// Not acceptable from this primary (an older serial).
    Refused(String),
}

impl<'a> Worker<'a> {
    fn new(shared: &'a Shared, slot: &'a Slot) -> Result<Worker<'a>, String> {
        let mut worker = Worker {
            shared,
            slot,
            runtime: None,
            fetcher: None,
        };
        match &slot.spec.source {
            Source::Transfer { .. } => {
                worker.runtime = Some(
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|error| format!("cannot start a transfer runtime: {error}"))?,
                );
            }
            Source::Url { url, .. } => {
                let https = url.to_ascii_lowercase().starts_with("https://");
                worker.fetcher = Some(Fetcher::new(
                    shared.options.http_timeout,
                    shared.options.max_list_bytes,
                    https,
                ));
            }
            Source::File(_) => {}
        }
        Ok(worker)
    }

    /// One refresh; returns the time until the next.
    fn attempt(&mut self) -> Duration {
        match &self.slot.spec.source {
            Source::Transfer {
                zone,
                primaries,
                key,
            } => self.attempt_transfer(zone, primaries, key.as_ref()),
            Source::Url { url, refresh } => self.attempt_fetch(url, *refresh),
            Source::File(_) => self.shared.options.max_refresh,
        }
    }

    /// The SOA timers of the copy held, clamped: (refresh, retry).
    fn intervals(&self) -> (Duration, Duration) {
        let state = lock(&self.slot.state);
        let fallback = self.shared.clamp(self.shared.options.failure_retry);
        match state.feed.soa().and_then(soa_timers) {
            Some((refresh, retry)) if state.has_copy => (
                self.shared.clamp(Duration::from_secs(u64::from(refresh))),
                self.shared.clamp(Duration::from_secs(u64::from(retry))),
            ),
            _ => (fallback, fallback),
        }
    }

    fn attempt_transfer(
        &mut self,
        zone: &Name,
        primaries: &[SocketAddr],
        key: Option<&TsigKey>,
    ) -> Duration {
        let (feed, current) = {
            let state = lock(&self.slot.state);
            let current = if state.has_copy {
                state.feed.serial()
            } else {
                None
            };
            (state.feed.clone(), current)
        };
        let mut errors = Vec::new();
        for &primary in primaries {
            if self.shared.stopping.load(Ordering::SeqCst) {
                return Duration::ZERO;
            }
            let outcome = match self.transfer(primary, zone, current, key) {
                Some(Ok(transfer)) => {
                    match apply_transfer(&self.slot.spec.name, zone, &feed, current, transfer) {
                        Ok(update) => Ok(update),
                        Err(Refusal::Refused(reason)) => Err(reason),
                        Err(Refusal::Diverged(reason)) => {
                            self.shared.warn(format!(
                            "feed {}: zone {zone} from {primary}: {reason}; the copies diverged, \
                             asking for the whole zone",
                            self.slot.spec.name
                        ));
                            match self.transfer(primary, zone, None, key) {
                                Some(Ok(transfer)) => {
                                    match apply_transfer(
                                        &self.slot.spec.name,
                                        zone,
                                        &feed,
                                        current,
                                        transfer,
                                    ) {
                                        Ok(update) => Ok(update),
                                        Err(
                                            Refusal::Refused(reason) | Refusal::Diverged(reason),
                                        ) => Err(reason),
                                    }
                                }
                                Some(Err(error)) => Err(error.to_string()),
                                None => return Duration::ZERO,
                            }
                        }
                    }
                }
                Some(Err(error)) => Err(error.to_string()),
                None => return Duration::ZERO,
            };
            match outcome {
                Ok(update) => {
                    self.commit_transfer(zone, primary, update);
                    return self.intervals().0;
                }
                Err(error) => errors.push(format!("{primary}: {error}")),
            }
        }
        let error = format!("zone {zone}: no primary served it: {}", errors.join("; "));
        self.fail(error);
        self.intervals().1
    }

    /// One transfer, abandoned when the supply stops (`None`).
    fn transfer(
        &self,
        primary: SocketAddr,
        zone: &Name,
        current: Option<u32>,
        key: Option<&TsigKey>,
    ) -> Option<Result<Transfer, TransferError>> {
        let runtime = self.runtime.as_ref()?;
        let stopping = &self.shared.stopping;
        let timeout = self.shared.options.transfer_timeout;
        runtime.block_on(async {
            let stop = async {
                while !stopping.load(Ordering::SeqCst) {
                    tokio::time::sleep(STOP_POLL).await;
                }
            };
            tokio::select! {
                result = hanse_transfer::transfer(primary, zone, current, key, timeout) => Some(result),
                () = stop => None,
            }
        })
    }

    fn commit_transfer(&self, zone: &Name, primary: SocketAddr, update: Update) {
        let name = &self.slot.spec.name;
        let now = SystemTime::now();
        let Update::Changed {
            feed,
            problems,
            incremental,
        } = update
        else {
            let mut state = lock(&self.slot.state);
            state.last_success = Some(now);
            state.last_error = None;
            state.stale = false;
            return;
        };
        let feed = *feed;
        let place = format!("zone {zone} from {primary}");
        {
            let mut messages = lock(&self.shared.messages);
            messages
                .warnings
                .extend(describe_problems(name, &place, &problems));
            messages
                .summaries
                .push(summarise(&feed, &place, problems.len()));
        }
        {
            let mut state = lock(&self.slot.state);
            state.feed = feed.clone();
            state.copy_origin = CopyOrigin::Primary(primary);
            state.has_copy = true;
            state.last_success = Some(now);
            state.last_change = Some(now);
            state.last_error = None;
            state.stale = false;
            if incremental {
                state.incremental_updates += 1;
            } else {
                state.full_updates += 1;
            }
        }
        if let Some(directory) = &self.shared.options.state_directory {
            let mut text = format!("$ORIGIN {zone}\n");
            for record in feed.records() {
                let _ = writeln!(text, "{}", hanse_zone::format_record(&record));
            }
            let metadata = Metadata {
                source: self.slot.spec.source_text(),
                format: self.slot.spec.format.to_string(),
                serial: feed.serial(),
                etag: None,
                last_modified: None,
                fetched_at: unix_now(),
            };
            self.save(directory, text.as_bytes(), &metadata);
        }
        self.changed();
    }

    fn attempt_fetch(&mut self, url: &str, refresh: Duration) -> Duration {
        let refresh = self.shared.clamp(refresh);
        let retry = refresh.min(self.shared.clamp(self.shared.options.failure_retry));
        let (etag, last_modified) = {
            let state = lock(&self.slot.state);
            if state.has_copy {
                (state.etag.clone(), state.last_modified.clone())
            } else {
                (None, None)
            }
        };
        let Some(fetcher) = self.fetcher.as_ref() else {
            return refresh;
        };
        let fetched = fetcher.fetch(url, etag.as_deref(), last_modified.as_deref());
        if self.shared.stopping.load(Ordering::SeqCst) {
            return Duration::ZERO;
        }
        let now = SystemTime::now();
        let (bytes, etag, last_modified) = match fetched {
            Ok(Fetched::NotModified) => {
                let mut state = lock(&self.slot.state);
                state.last_success = Some(now);
                state.last_error = None;
                state.stale = false;
                return refresh;
            }
            Ok(Fetched::Body {
                bytes,
                etag,
                last_modified,
            }) => (bytes, etag, last_modified),
            Err(error) => {
                self.fail(error.to_string());
                return retry;
            }
        };
        let spec = &self.slot.spec;
        let (mut feed, problems) =
            match compile_text(&spec.name, spec.format, spec.origin.as_ref(), url, &bytes) {
                Ok(compiled) => compiled,
                Err(error) => {
                    self.fail(error.to_string());
                    return retry;
                }
            };
        let fetched_at = unix_now();
        if spec.format != FeedFormat::Rpz {
            feed = feed.with_version(list_version(last_modified.as_deref(), fetched_at));
        }
        {
            let mut messages = lock(&self.shared.messages);
            messages
                .warnings
                .extend(describe_problems(&spec.name, url, &problems));
            messages
                .summaries
                .push(summarise(&feed, url, problems.len()));
        }
        {
            let mut state = lock(&self.slot.state);
            state.feed = feed.clone();
            state.copy_origin = CopyOrigin::Url(url.to_owned());
            state.has_copy = true;
            state.etag.clone_from(&etag);
            state.last_modified.clone_from(&last_modified);
            state.last_success = Some(now);
            state.last_change = Some(now);
            state.last_error = None;
            state.stale = false;
            state.full_updates += 1;
        }
        if let Some(directory) = &self.shared.options.state_directory {
            let metadata = Metadata {
                source: spec.source_text(),
                format: spec.format.to_string(),
                serial: feed.serial(),
                etag,
                last_modified,
                fetched_at,
            };
            self.save(directory, &bytes, &metadata);
        }
        self.changed();
        refresh
    }

    /// Writes the saved copy; a failure is reported, the old copy stays.
    fn save(&self, directory: &Path, contents: &[u8], metadata: &Metadata) {
        let name = &self.slot.spec.name;
        let result =
            saved::save(directory, name, contents, metadata).map_err(|error| error.to_string());
        if let Err(error) = &result {
            self.shared.warn(format!("feed {name}: {error}"));
        }
        lock(&self.slot.state).save_error = result.err();
    }

    /// Records a failed attempt: the copy stays, the feed is stale.
    fn fail(&self, error: String) {
        self.shared.warn(format!(
            "feed {}: {error}; the current copy stays in force (stale)",
            self.slot.spec.name
        ));
        let mut state = lock(&self.slot.state);
        state.last_error = Some(error);
        state.stale = true;
    }

    fn changed(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.shared.call_back();
    }
}

/// Applies a transfer to `feed` (whose serial is `current`, if it is a
/// copy). Never applies an older serial.
fn apply_transfer(
    name: &str,
    zone: &Name,
    feed: &Feed,
    current: Option<u32>,
    transfer: Transfer,
) -> Result<Update, Refusal> {
    let older = |serial: u32| {
        current.is_some_and(|current| serial != current && !serial_newer(serial, current))
    };
    match transfer {
        Transfer::UpToDate => Ok(Update::Unchanged),
        Transfer::Full { soa, records } => {
            let serial = soa.soa_serial().unwrap_or(0);
            if older(serial) {
                return Err(Refusal::Refused(format!(
                    "offers serial {serial}, older than the {} held",
                    current.unwrap_or(0)
                )));
            }
            let mut all = Vec::with_capacity(records.len() + 1);
            all.push(soa);
            all.extend(records);
            let (feed, problems) = Feed::from_rpz(name, zone, &all);
            Ok(Update::Changed {
                feed: Box::new(feed),
                problems,
                incremental: false,
            })
        }
        Transfer::Incremental { soa, changes } => {
            let serial = soa.soa_serial().unwrap_or(0);
            if older(serial) || current.is_none() {
                return Err(Refusal::Refused(format!(
                    "offers changes to serial {serial}, not newer than the copy held"
                )));
            }
            let mut next = feed.clone();
            let mut problems = Vec::new();
            let count = changes.len();
            for (index, change) in changes.into_iter().enumerate() {
                let mut added = change.added;
                if index + 1 == count {
                    added.push(soa.clone());
                }
                let (updated, mut found) =
                    next.apply_changes(&change.removed, &added)
                        .map_err(|error| {
                            Refusal::Diverged(format!(
                                "change {} -> {}: {error}",
                                change.from_serial, change.to_serial
                            ))
                        })?;
                next = updated;
                problems.append(&mut found);
            }
            Ok(Update::Changed {
                feed: Box::new(next),
                problems,
                incremental: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_transfer::Change;
    use hanse_wire::Class;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).expect("name")
    }

    fn zone_feed(serial: u32, body: &str) -> Feed {
        let zone = name("rpz.test.");
        let text = format!("$ORIGIN rpz.test.\n@ 60 SOA ns. host. {serial} 3 2 100 60\n{body}");
        let records = hanse_zone::parse_zone(&text, &zone, 60).expect("zone");
        Feed::from_rpz("z", &zone, &records).0
    }

    fn record(text: &str) -> Record {
        hanse_zone::parse_zone(text, &name("rpz.test."), 60).expect("record")[0].clone()
    }

    #[test]
    fn soa_timers_are_read() {
        let feed = zone_feed(7, "");
        assert_eq!(feed.soa().and_then(soa_timers), Some((3, 2)));
        let mut short = feed.soa().expect("soa").clone();
        short.data = short.data[..short.data.len() - 9].into();
        assert_eq!(soa_timers(&short), None);
    }

    #[test]
    fn older_serials_are_refused_and_divergence_is_detected() {
        let feed = zone_feed(10, "a CNAME .\n");
        let soa = |serial: u32| record(&format!("@ 60 SOA ns. host. {serial} 3 2 100 60\n"));
        let full = Transfer::Full {
            soa: soa(9),
            records: Vec::new(),
        };
        assert!(matches!(
            apply_transfer("z", &name("rpz.test."), &feed, Some(10), full),
            Err(Refusal::Refused(_))
        ));
        let diverged = Transfer::Incremental {
            soa: soa(11),
            changes: vec![Change {
                from_serial: 10,
                to_serial: 11,
                removed: vec![record("missing CNAME .\n")],
                added: Vec::new(),
            }],
        };
        assert!(matches!(
            apply_transfer("z", &name("rpz.test."), &feed, Some(10), diverged),
            Err(Refusal::Diverged(_))
        ));
        let good = Transfer::Incremental {
            soa: soa(12),
            changes: vec![
                Change {
                    from_serial: 10,
                    to_serial: 11,
                    removed: vec![record("a CNAME .\n")],
                    added: vec![record("b CNAME .\n")],
                },
                Change {
                    from_serial: 11,
                    to_serial: 12,
                    removed: Vec::new(),
                    added: vec![record("c CNAME .\n")],
                },
            ],
        };
        let Ok(Update::Changed {
            feed: next,
            incremental,
            ..
        }) = apply_transfer("z", &name("rpz.test."), &feed, Some(10), good)
        else {
            panic!("applies");
        };
        assert!(incremental);
        assert_eq!(next.serial(), Some(12));
        assert_eq!(next.counts().total(), 2);
        let _ = Class::IN;
    }
}
