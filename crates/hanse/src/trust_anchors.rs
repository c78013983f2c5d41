//! Trust points that outlive a restart (docs/dnssec.md):
//! - negative trust anchors added through the API or `hanse nta` (RFC 7646):
//!   each expires by itself (1 day by default, at most 7 days), applies at
//!   once (the caches are flushed below its name when it is added, removed
//!   or expires) and is kept in `STATE/negative-trust-anchors` until it
//!   expires. Configured ones (`[dnssec] negative_trust_anchors`) are listed
//!   as `config` and change only with the configuration file;
//! - RFC 5011 automated updates of the trust anchors: the state of every
//!   managed zone's keys in `STATE/trust-anchors.state` (the text form of
//!   `hanse_dnssec::rollover`), loaded at start, where it wins over the
//!   configured anchors. A thread refreshes each managed zone's DNSKEY
//!   RRset at start and then at RFC 5011's active refresh interval (or
//!   the retry interval after a failure), runs the state machine, writes
//!   the state and hands the trust anchors to the resolver.
//!
//! Every file is replaced atomically (temporary file, fsync, rename).
//!
//! # Limitations
//! - A corrupt state file is set aside as `trust-anchors.state.corrupt`
//!   and the configured anchors are used, with a warning.
//! - A change of `trust_anchor_file` while automated updates are on takes
//!   effect only after the state file is removed (the state wins).
//! - The refresh asks through the resolver, whose answer for the DNSKEY
//!   RRset is validated again by the state machine with its own trusted
//!   keys; a refresh waits at most 30 seconds.

use crate::config::DnssecSection;
use hanse_api::BackendError;
use hanse_api::model::{FieldProblem, NegativeTrustAnchor as AnchorDocument};
use hanse_resolve::hanse_dnssec::rollover::{
    HoldDown, TrustAnchorState, active_refresh_interval, retry_interval,
};
use hanse_resolve::hanse_dnssec::{AlgorithmPolicy, Rrsig, TrustAnchor};
use hanse_resolve::{NegativeTrustAnchor, NetworkTransport, Resolver};
use hanse_server::Server;
use hanse_wire::{Name, RType};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The run-time negative trust anchors, below the state directory.
pub const NEGATIVE_ANCHOR_FILE: &str = "negative-trust-anchors";
/// The RFC 5011 state, below the state directory.
pub const STATE_FILE: &str = "trust-anchors.state";
/// How long one refresh of a zone's keys may take.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);
/// How often expiries are looked at.
const TICK: Duration = Duration::from_millis(500);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn unix_now32() -> u32 {
    u32::try_from(unix_now()).unwrap_or(u32::MAX)
}

/// The automated updates of the trust anchors.
struct Managed {
    path: PathBuf,
    state: Mutex<TrustAnchorState>,
    hold_down: HoldDown,
    fixed_interval: Option<Duration>,
}

/// The negative trust anchors and the managed trust anchors of the
/// running resolver.
pub struct TrustKeeper {
    state_directory: PathBuf,
    resolver: Arc<Resolver<NetworkTransport>>,
    server: OnceLock<Arc<Server>>,
    configured_negative: Mutex<Vec<Name>>,
    /// Serialises changes of the negative trust anchors and their file.
    edit: Mutex<()>,
    managed: Option<Managed>,
}

/// Reads the run-time negative trust anchors file: `NAME EXPIRES` lines;
/// expired and unreadable lines are left out (the latter with a warning).
fn read_negative_anchors(path: &Path, now: u32) -> Vec<NegativeTrustAnchor> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(error) => {
            tracing::warn!("cannot read {}: {error}", path.display());
            return Vec::new();
        }
    };
    let mut anchors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let parsed = match (fields.next(), fields.next(), fields.next()) {
            (Some(name), Some(expires), None) => {
                Name::from_ascii(name).ok().zip(expires.parse::<u32>().ok())
            }
            _ => None,
        };
        match parsed {
            Some((name, expires)) if expires > now => {
                anchors.push(NegativeTrustAnchor { name, expires });
            }
            Some(_) => {}
            None => tracing::warn!(
                "{} line {}: not NAME EXPIRES; left out",
                path.display(),
                index + 1
            ),
        }
    }
    anchors
}

fn negative_anchor_text(anchors: &[NegativeTrustAnchor]) -> String {
    let mut text = String::from(
        "; Negative trust anchors added at run time: NAME EXPIRES (Unix seconds). Written by hanse.\n",
    );
    for anchor in anchors {
        text.push_str(&format!("{} {}\n", anchor.name, anchor.expires));
    }
    text
}

/// Loads the RFC 5011 state file, or starts from `configured`.
fn load_state(path: &Path, configured: &[TrustAnchor]) -> TrustAnchorState {
    match std::fs::read_to_string(path) {
        Ok(text) => match TrustAnchorState::parse(&text) {
            Ok(state) => {
                tracing::info!(
                    "trust anchors from {} ({} zone(s))",
                    path.display(),
                    state.zones.len()
                );
                return state;
            }
            Err(error) => {
                let aside = path.with_extension("state.corrupt");
                tracing::warn!(
                    "{}: {error}; set aside as {} and the configured trust anchors used",
                    path.display(),
                    aside.display()
                );
                if let Err(error) = std::fs::rename(path, &aside) {
                    tracing::warn!("cannot set {} aside: {error}", path.display());
                }
            }
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(
            "cannot read {}: {error}; the configured trust anchors are used",
            path.display()
        ),
    }
    TrustAnchorState::from_anchors(configured)
}

impl TrustKeeper {
    /// Loads the saved negative trust anchors and, with automated updates,
    /// the RFC 5011 state, and sets both in the resolver.
    pub fn new(
        section: &DnssecSection,
        own_root: bool,
        configured_anchors: &[TrustAnchor],
        state_directory: &Path,
        resolver: Arc<Resolver<NetworkTransport>>,
    ) -> TrustKeeper {
        let negative =
            read_negative_anchors(&state_directory.join(NEGATIVE_ANCHOR_FILE), unix_now32());
        resolver
            .runtime_trust()
            .set_negative_trust_anchors(negative);
        let managed = (section.auto_update_in_force(own_root) && !configured_anchors.is_empty())
            .then(|| {
                let path = state_directory.join(STATE_FILE);
                let state = load_state(&path, configured_anchors);
                resolver
                    .runtime_trust()
                    .set_trust_anchors(Some(state.trust_anchors()));
                Managed {
                    path,
                    state: Mutex::new(state),
                    hold_down: HoldDown {
                        add: section.add_hold_down.as_secs(),
                        ..HoldDown::default()
                    },
                    fixed_interval: section.refresh_interval,
                }
            });
        TrustKeeper {
            state_directory: state_directory.to_path_buf(),
            resolver,
            server: OnceLock::new(),
            configured_negative: Mutex::new(section.negative_trust_anchors.clone()),
            edit: Mutex::new(()),
            managed,
        }
    }

    /// Starts the thread of expiries and refreshes, once the server (whose
    /// caches are flushed) runs; it ends when `stop` is set.
    pub fn start(self: &Arc<Self>, server: Arc<Server>, stop: Arc<AtomicBool>) {
        let _ = self.server.set(server);
        let keeper = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("hanse-trust".to_owned())
            .spawn(move || keeper.run(&stop));
        if let Err(error) = spawned {
            tracing::error!("cannot start the trust-anchor thread: {error}");
        }
    }

    /// The configured negative trust anchors, after a reload.
    pub fn set_configured_negative(&self, names: Vec<Name>) {
        *lock(&self.configured_negative) = names;
    }

    fn flush(&self, name: &Name) {
        if let Some(server) = self.server.get() {
            server.flush(name, true);
        } else {
            self.resolver.cache().flush(name, true);
        }
    }

    fn save_negative(&self, anchors: &[NegativeTrustAnchor]) -> Result<(), BackendError> {
        let path = self.state_directory.join(NEGATIVE_ANCHOR_FILE);
        hanse_feeds::saved::write_atomically(&path, negative_anchor_text(anchors).as_bytes())
            .map_err(|error| {
                BackendError::Internal(format!("cannot write {}: {error}", path.display()))
            })
    }

    /// Every negative trust anchor in force, configured ones first.
    pub fn negative_trust_anchors(&self) -> Vec<AnchorDocument> {
        let now = unix_now32();
        let configured = lock(&self.configured_negative)
            .iter()
            .map(|name| AnchorDocument {
                name: name.to_string(),
                source: "config".to_owned(),
                expires: None,
                expires_in: None,
            })
            .collect::<Vec<_>>();
        let runtime = self.resolver.runtime_trust().negative_trust_anchors();
        configured
            .into_iter()
            .chain(
                runtime
                    .iter()
                    .filter(|anchor| anchor.expires > now)
                    .map(|anchor| document(anchor, now)),
            )
            .collect()
    }

    /// Adds or renews a run-time negative trust anchor.
    pub fn add_negative(&self, name: &Name, lifetime: u64) -> Result<AnchorDocument, BackendError> {
        let _edit = lock(&self.edit);
        let now = unix_now32();
        let expires = now.saturating_add(u32::try_from(lifetime).unwrap_or(u32::MAX));
        let name = name.to_lowercase();
        let mut anchors: Vec<NegativeTrustAnchor> = self
            .resolver
            .runtime_trust()
            .negative_trust_anchors()
            .iter()
            .filter(|anchor| anchor.expires > now && anchor.name != name)
            .cloned()
            .collect();
        let added = NegativeTrustAnchor { name, expires };
        anchors.push(added.clone());
        self.save_negative(&anchors)?;
        self.resolver
            .runtime_trust()
            .set_negative_trust_anchors(anchors);
        self.flush(&added.name);
        tracing::info!(
            "negative trust anchor {} added for {lifetime} s",
            added.name
        );
        Ok(document(&added, now))
    }

    /// Removes a run-time negative trust anchor.
    pub fn remove_negative(&self, name: &Name) -> Result<(), BackendError> {
        let _edit = lock(&self.edit);
        let now = unix_now32();
        let name = name.to_lowercase();
        let current = self.resolver.runtime_trust().negative_trust_anchors();
        let present = current
            .iter()
            .any(|anchor| anchor.name == name && anchor.expires > now);
        if !present {
            if lock(&self.configured_negative).contains(&name) {
                return Err(BackendError::Invalid(vec![FieldProblem::new(
                    "name",
                    format!(
                        "{name} is a negative trust anchor of the configuration file; remove it there and reload"
                    ),
                )]));
            }
            return Err(BackendError::NotFound(format!(
                "negative trust anchor {name}"
            )));
        }
        let anchors: Vec<NegativeTrustAnchor> = current
            .iter()
            .filter(|anchor| anchor.name != name && anchor.expires > now)
            .cloned()
            .collect();
        self.save_negative(&anchors)?;
        self.resolver
            .runtime_trust()
            .set_negative_trust_anchors(anchors);
        self.flush(&name);
        tracing::info!("negative trust anchor {name} removed");
        Ok(())
    }

    /// Drops expired negative trust anchors: from the list, the file and,
    /// below their names, the caches.
    fn expire_negative(&self) {
        let now = unix_now32();
        let current = self.resolver.runtime_trust().negative_trust_anchors();
        if current.iter().all(|anchor| anchor.expires > now) {
            return;
        }
        let _edit = lock(&self.edit);
        let current = self.resolver.runtime_trust().negative_trust_anchors();
        let (kept, expired): (Vec<_>, Vec<_>) = current
            .iter()
            .cloned()
            .partition(|anchor| anchor.expires > now);
        if let Err(error) = self.save_negative(&kept) {
            tracing::warn!("{error}");
        }
        self.resolver
            .runtime_trust()
            .set_negative_trust_anchors(kept);
        for anchor in expired {
            self.flush(&anchor.name);
            tracing::info!("negative trust anchor {} expired", anchor.name);
        }
    }

    fn run(&self, stop: &AtomicBool) {
        // A runtime of its own that keeps running between refreshes, so
        // that whatever the transport spawns on it (shared upstream
        // connections) is served all the time.
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!("trust anchors: cannot start a runtime: {error}");
                return;
            }
        };
        runtime.block_on(async {
            let mut next_refresh = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                self.expire_negative();
                if let Some(managed) = &self.managed
                    && Instant::now() >= next_refresh
                {
                    let wait = self.refresh_all(managed).await;
                    next_refresh = Instant::now() + wait;
                }
                tokio::time::sleep(TICK).await;
            }
        });
    }

    /// Refreshes every managed zone once; returns the time to the next.
    async fn refresh_all(&self, managed: &Managed) -> Duration {
        let zones: Vec<Name> = lock(&managed.state)
            .zones
            .iter()
            .map(|zone| zone.zone.clone())
            .collect();
        let mut wait = u64::MAX;
        for zone in zones {
            let seconds = self.refresh_zone(managed, &zone).await;
            wait = wait.min(seconds);
        }
        let wait = Duration::from_secs(if wait == u64::MAX { 3_600 } else { wait });
        managed.fixed_interval.unwrap_or(wait)
    }

    /// One refresh of `zone`'s keys; returns the seconds to the next.
    async fn refresh_zone(&self, managed: &Managed, zone: &Name) -> u64 {
        // The keys are asked for afresh, not taken from the cache.
        self.resolver.cache().remove(zone, RType::DNSKEY);
        let resolution =
            tokio::time::timeout(REFRESH_TIMEOUT, self.resolver.resolve(zone, RType::DNSKEY)).await;
        let Ok(resolution) = resolution else {
            tracing::warn!("trust anchors: the refresh of {zone} timed out");
            return 3_600;
        };
        let dnskeys: Vec<_> = resolution
            .answers
            .iter()
            .filter(|record| record.rtype == RType::DNSKEY && record.name == *zone)
            .cloned()
            .collect();
        let signatures: Vec<_> = resolution
            .answers
            .iter()
            .filter(|record| record.rtype == RType::RRSIG && record.name == *zone)
            .cloned()
            .collect();
        let now = unix_now();
        // The timers of RFC 5011 §2.3: the original TTL and the expiry of
        // the signatures over the DNSKEY RRset.
        let (original_ttl, until_expiration) = signatures
            .iter()
            .filter_map(|record| Rrsig::from_record(record).ok())
            .filter(|rrsig| rrsig.type_covered == RType::DNSKEY)
            .map(|rrsig| {
                let left = u64::from(rrsig.expiration.wrapping_sub(now as u32));
                (rrsig.original_ttl, if left >= 1 << 31 { 0 } else { left })
            })
            .fold(
                (u32::MAX, u64::MAX),
                |(ttl, left), (next_ttl, next_left)| (ttl.min(next_ttl), left.min(next_left)),
            );
        let mut state = lock(&managed.state);
        let Some(managed_zone) = state.zones.iter_mut().find(|managed| managed.zone == *zone)
        else {
            return 3_600;
        };
        let outcome = managed_zone.refresh(
            &dnskeys,
            &signatures,
            now,
            managed.hold_down,
            &AlgorithmPolicy::default(),
        );
        match outcome {
            Ok(changes) => {
                for change in &changes {
                    tracing::info!(
                        "trust anchors: {zone} key {} {} -> {}",
                        change.key_tag,
                        change.from.map_or("new", |state| state.as_str()),
                        change.to.map_or("removed", |state| state.as_str())
                    );
                }
                let anchors = state.trust_anchors();
                if let Err(error) =
                    hanse_feeds::saved::write_atomically(&managed.path, state.to_text().as_bytes())
                {
                    tracing::warn!("cannot write {}: {error}", managed.path.display());
                }
                drop(state);
                self.resolver
                    .runtime_trust()
                    .set_trust_anchors(Some(anchors));
                active_refresh_interval(original_ttl, until_expiration)
            }
            Err(error) => {
                tracing::warn!("trust anchors: {error}");
                if original_ttl == u32::MAX {
                    3_600
                } else {
                    retry_interval(original_ttl, until_expiration)
                }
            }
        }
    }
}

fn document(anchor: &NegativeTrustAnchor, now: u32) -> AnchorDocument {
    AnchorDocument {
        name: anchor.name.to_string(),
        source: "api".to_owned(),
        expires: Some(i64::from(anchor.expires)),
        expires_in: Some(u64::from(anchor.expires.saturating_sub(now))),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_negative_anchor_file_reads_back_without_expired_or_broken_lines() {
        let anchors = vec![
            NegativeTrustAnchor {
                name: Name::from_ascii("broken.example.").unwrap(),
                expires: 2_000,
            },
            NegativeTrustAnchor {
                name: Name::from_ascii("old.example.").unwrap(),
                expires: 500,
            },
        ];
        let directory = std::env::temp_dir().join(format!("hanse-nta-{}", std::process::id()));
        let path = directory.join(NEGATIVE_ANCHOR_FILE);
        let mut text = negative_anchor_text(&anchors);
        text.push_str("not-a-line\nx. y\n");
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_negative_anchors(&path, 1_000), anchors[..1].to_vec());
        assert!(read_negative_anchors(&directory.join("none"), 1_000).is_empty());
        let _ = std::fs::remove_dir_all(&directory);
    }
}
