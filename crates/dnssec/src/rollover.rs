//! Automated updates of trust anchors (RFC 5011): the state of each key of
//! a managed zone, the transitions one refresh of the zone's DNSKEY RRset
//! makes, the refresh timers, and the text form of the state kept on disk.
//!
//! A managed zone starts from configured anchors: a DNSKEY anchor is a key
//! in state `Valid`; a DS anchor is a *seed* until the first refresh finds
//! the key it digests, which then becomes `Valid`. Each refresh
//! ([`ManagedZone::refresh`]) takes the zone's DNSKEY RRset and its RRSIGs,
//! verifies the RRset with a key that is trusted now (`Valid` or `Missing`,
//! or matched by a seed), refuses an RRSIG older than the last one accepted
//! (RFC 5011 §2.2), and then:
//! - a new key-signing (SEP) key enters `AddPend` with the add hold-down
//!   timer (30 days by default, §2.4.1); still present after the timer, it
//!   becomes `Valid` and is trusted;
//! - a key that disappears goes from `AddPend` back to `Start`, from
//!   `Valid` to `Missing` (still trusted, §4), and back to `Valid` when it
//!   reappears;
//! - a key with the REVOKE bit (RFC 5011 §3) whose own signature over the
//!   RRset verifies becomes `Revoked` and is no longer trusted; it is
//!   forgotten after the remove hold-down (30 days).
//!
//! [`active_refresh_interval`] and [`retry_interval`] are the timers of
//! §2.3. [`TrustAnchorState`] is the state of every managed zone, written
//! and read as text ([`TrustAnchorState::to_text`],
//! [`TrustAnchorState::parse`]); the caller owns the file.
//!
//! The state file is line-based; `;` starts a comment line:
//! ```text
//! zone NAME LAST_REFRESH LAST_INCEPTION
//! seed NAME KEY_TAG ALGORITHM DIGEST_TYPE DIGEST_HEX
//! key NAME STATE SINCE TIMER FLAGS PROTOCOL ALGORITHM PUBLIC_KEY_BASE64
//! ```
//! Times are Unix seconds; `STATE` is `Start`, `AddPend`, `Valid`,
//! `Missing` or `Revoked`; `SINCE` is the time of the key's last change of
//! state; `TIMER` is the end of the add hold-down (`AddPend`) or of the
//! remove hold-down (`Revoked`), else 0. `LAST_INCEPTION` is the inception
//! of the newest RRSIG accepted (serial arithmetic, RFC 1982).
//!
//! Like the rest of this crate it does no I/O and reads no clock: the time
//! is a parameter.
//!
//! # Limitations
//! - Only SEP keys (flag 257) are managed; zone-signing keys are ignored,
//!   as RFC 5011 §2 intends.
//! - The remove hold-down counts from the revocation, not from when the
//!   revoked key left the RRset.
//! - A zone holds at most [`MAX_KEYS_PER_ZONE`] keys; further new keys are
//!   ignored until others are forgotten.
//! - When every key of a zone is revoked the zone has no trust anchor left
//!   (its names become indeterminate); no fallback is tried.
//! - A revocation is taken only from an RRset that also verifies with a key
//!   trusted now (another `Valid` or `Missing` key); an RRset signed by the
//!   revoked key alone is refused as unverified.

use crate::anchors::{AnchorKey, TrustAnchor};
use crate::budget::{Budget, Limits};
use crate::ds::ds_matches;
use crate::rdata::{Dnskey, Ds, Rrsig};
use crate::verify::{AlgorithmPolicy, VerifyError, verify_revocation, verify_signed_rrset};
use hanse_wire::{Name, RType, Record};
use std::fmt;

/// The most keys one managed zone keeps (all states together).
pub const MAX_KEYS_PER_ZONE: usize = 32;
/// The default add hold-down time (RFC 5011 §2.4.1): 30 days.
pub const DEFAULT_ADD_HOLD_DOWN: u64 = 30 * 86_400;
/// The default remove hold-down time (RFC 5011 §2.4.2): 30 days.
pub const DEFAULT_REMOVE_HOLD_DOWN: u64 = 30 * 86_400;

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// The state of a managed key (RFC 5011 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Seen once and gone again before it was trusted.
    Start,
    /// Seen, waiting for the add hold-down to pass.
    AddPend,
    /// Trusted.
    Valid,
    /// Trusted, but absent from the last DNSKEY RRset.
    Missing,
    /// Revoked by its owner; not trusted.
    Revoked,
}

impl KeyState {
    /// The name written in the state file.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Start => "Start",
            KeyState::AddPend => "AddPend",
            KeyState::Valid => "Valid",
            KeyState::Missing => "Missing",
            KeyState::Revoked => "Revoked",
        }
    }

    fn from_text(text: &str) -> Option<KeyState> {
        [
            KeyState::Start,
            KeyState::AddPend,
            KeyState::Valid,
            KeyState::Missing,
            KeyState::Revoked,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// Whether a key in this state is a trust anchor.
    pub fn is_trusted(self) -> bool {
        matches!(self, KeyState::Valid | KeyState::Missing)
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One key of a managed zone and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedKey {
    /// The key as last seen (with the REVOKE bit once revoked).
    pub dnskey: Dnskey,
    /// Its state.
    pub state: KeyState,
    /// When it entered this state (Unix seconds).
    pub since: u64,
    /// The end of the add hold-down (`AddPend`) or of the remove hold-down
    /// (`Revoked`); 0 otherwise.
    pub timer: u64,
}

/// The hold-down times. The defaults are RFC 5011's; shorter ones are for
/// tests only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldDown {
    /// How long a new key stays in `AddPend` (seconds).
    pub add: u64,
    /// How long a revoked key is remembered (seconds).
    pub remove: u64,
}

impl Default for HoldDown {
    fn default() -> HoldDown {
        HoldDown {
            add: DEFAULT_ADD_HOLD_DOWN,
            remove: DEFAULT_REMOVE_HOLD_DOWN,
        }
    }
}

/// Why a refresh changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// The response held no DNSKEY of the zone.
    #[error("no DNSKEY record for {0}")]
    NoKeys(Name),
    /// No key of the RRset is trusted now.
    #[error("no key of the DNSKEY RRset of {0} is a trusted key")]
    NoTrustedKey(Name),
    /// The RRset does not verify with a trusted key.
    #[error("the DNSKEY RRset of {zone} does not verify: {error}")]
    Unverified {
        /// The zone.
        zone: Name,
        /// Why.
        error: VerifyError,
    },
    /// The signature is older than one accepted before (a replay).
    #[error("the DNSKEY RRset of {0} is signed earlier than the last one accepted")]
    Replayed(Name),
}

/// A change of one key's state made by a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// The key tag (of the key as seen, so a revoked key's new tag).
    pub key_tag: u16,
    /// The state before (none: a new key).
    pub from: Option<KeyState>,
    /// The state after (none: forgotten).
    pub to: Option<KeyState>,
}

/// One managed zone: its seeds (DS anchors not yet matched to a key), its
/// keys and the refresh history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedZone {
    /// The zone (the owner of the DNSKEY RRset).
    pub zone: Name,
    /// DS anchors whose key has not been seen yet.
    pub seeds: Vec<Ds>,
    /// The keys and their states.
    pub keys: Vec<ManagedKey>,
    /// When the last refresh was accepted (Unix seconds; 0: never).
    pub last_refresh: u64,
    /// The inception of the newest RRSIG accepted (0: none yet).
    pub last_inception: u32,
}

/// Whether two keys are the same key, the REVOKE bit aside.
fn same_key(first: &Dnskey, second: &Dnskey) -> bool {
    first.rdata().get(2..) == second.rdata().get(2..)
}

/// RFC 1982: whether `earlier` is before `later` (32-bit serials).
fn serial_before(earlier: u32, later: u32) -> bool {
    earlier != later && later.wrapping_sub(earlier) < 0x8000_0000
}

impl ManagedZone {
    /// A zone managed from configured anchors (all for `zone`).
    pub fn from_anchors(zone: &Name, anchors: &[TrustAnchor]) -> ManagedZone {
        let mut managed = ManagedZone {
            zone: zone.clone(),
            seeds: Vec::new(),
            keys: Vec::new(),
            last_refresh: 0,
            last_inception: 0,
        };
        for anchor in anchors.iter().filter(|anchor| anchor.owner == *zone) {
            match &anchor.key {
                AnchorKey::Ds(ds) => managed.seeds.push(ds.clone()),
                AnchorKey::Dnskey(key) => managed.keys.push(ManagedKey {
                    dnskey: key.clone(),
                    state: KeyState::Valid,
                    since: 0,
                    timer: 0,
                }),
            }
        }
        managed
    }

    /// The trust anchors this zone gives now: its seeds and its keys in
    /// `Valid` or `Missing`.
    pub fn trust_anchors(&self) -> Vec<TrustAnchor> {
        let seeds = self.seeds.iter().map(|ds| TrustAnchor {
            owner: self.zone.clone(),
            key: AnchorKey::Ds(ds.clone()),
        });
        let keys = self
            .keys
            .iter()
            .filter(|key| key.state.is_trusted())
            .map(|key| TrustAnchor {
                owner: self.zone.clone(),
                key: AnchorKey::Dnskey(key.dnskey.clone()),
            });
        seeds.chain(keys).collect()
    }

    fn is_trusted_now(&self, key: &Dnskey) -> bool {
        if !key.is_zone_key() || key.is_revoked() {
            return false;
        }
        let by_state = self
            .keys
            .iter()
            .any(|managed| managed.state.is_trusted() && same_key(&managed.dnskey, key));
        by_state || self.is_seeded(key)
    }

    fn is_seeded(&self, key: &Dnskey) -> bool {
        self.seeds.iter().any(|ds| {
            ds.key_tag == key.key_tag()
                && ds.algorithm == key.algorithm
                && ds_matches(ds, key, &self.zone).unwrap_or(false)
        })
    }

    fn set_state(
        &mut self,
        index: usize,
        state: KeyState,
        now: u64,
        timer: u64,
        changes: &mut Vec<KeyChange>,
    ) {
        let key = &mut self.keys[index];
        if key.state == state {
            return;
        }
        changes.push(KeyChange {
            key_tag: key.dnskey.key_tag(),
            from: Some(key.state),
            to: Some(state),
        });
        key.state = state;
        key.since = now;
        key.timer = timer;
    }

    /// Runs one refresh: `dnskeys` is the zone's DNSKEY RRset as received,
    /// `signatures` the RRSIGs that came with it, `now` Unix seconds.
    /// Returns the changes made; on an error nothing changed.
    pub fn refresh(
        &mut self,
        dnskeys: &[Record],
        signatures: &[Record],
        now: u64,
        hold_down: HoldDown,
        policy: &AlgorithmPolicy,
    ) -> Result<Vec<KeyChange>, RefreshError> {
        let zone = self.zone.clone();
        let rrset: Vec<Record> = dnskeys
            .iter()
            .filter(|record| record.rtype == RType::DNSKEY && record.name == zone)
            .cloned()
            .collect();
        let seen: Vec<(&Record, Dnskey)> = rrset
            .iter()
            .filter_map(|record| Some((record, Dnskey::from_record(record).ok()?)))
            .collect();
        if seen.is_empty() {
            return Err(RefreshError::NoKeys(zone));
        }
        let trusted: Vec<Record> = seen
            .iter()
            .filter(|(_, key)| self.is_trusted_now(key))
            .map(|(record, _)| (*record).clone())
            .collect();
        if trusted.is_empty() {
            return Err(RefreshError::NoTrustedKey(zone));
        }
        // Truncation to 32 bits is the serial arithmetic of RRSIG times.
        let now32 = now as u32;
        let mut budget = Budget::new(Limits {
            max_verifications: 2 * MAX_KEYS_PER_ZONE as u32,
            max_keys_per_tag: 4,
            max_nsec3_hashes: 0,
        });
        let verified =
            verify_signed_rrset(&rrset, signatures, &trusted, now32, policy, &mut budget).map_err(
                |error| RefreshError::Unverified {
                    zone: zone.clone(),
                    error,
                },
            )?;
        let inception = signatures
            .iter()
            .filter(|record| record.rtype == RType::RRSIG && record.name == zone)
            .filter_map(|record| Rrsig::from_record(record).ok())
            .filter(|rrsig| {
                rrsig.type_covered == RType::DNSKEY && rrsig.key_tag == verified.key_tag
            })
            .map(|rrsig| rrsig.inception)
            .reduce(|newest, next| {
                if serial_before(newest, next) {
                    next
                } else {
                    newest
                }
            })
            .unwrap_or(0);
        if self.last_inception != 0 && serial_before(inception, self.last_inception) {
            return Err(RefreshError::Replayed(zone));
        }
        self.last_inception = inception;
        self.last_refresh = now;
        let mut changes = Vec::new();

        // Keys the seeds (configured DS anchors) name are trusted at once.
        if !self.seeds.is_empty() {
            for (_, key) in &seen {
                if key.is_revoked() || !key.is_secure_entry_point() || !self.is_seeded(key) {
                    continue;
                }
                match self
                    .keys
                    .iter()
                    .position(|managed| same_key(&managed.dnskey, key))
                {
                    Some(index) => self.set_state(index, KeyState::Valid, now, 0, &mut changes),
                    None => {
                        changes.push(KeyChange {
                            key_tag: key.key_tag(),
                            from: None,
                            to: Some(KeyState::Valid),
                        });
                        self.keys.push(ManagedKey {
                            dnskey: key.clone(),
                            state: KeyState::Valid,
                            since: now,
                            timer: 0,
                        });
                    }
                }
            }
            self.seeds.clear();
        }

        for (record, key) in &seen {
            if !key.is_zone_key() || !key.is_secure_entry_point() {
                continue;
            }
            let known = self
                .keys
                .iter()
                .position(|managed| same_key(&managed.dnskey, key));
            if key.is_revoked() {
                // RFC 5011 §2.1: believed only when self-signed; unknown
                // revoked keys are ignored.
                let Some(index) = known else { continue };
                if self.keys[index].state == KeyState::Revoked {
                    continue;
                }
                let self_signed =
                    verify_revocation(&rrset, signatures, record, now32, policy, &mut budget)
                        .is_ok();
                if self_signed {
                    self.keys[index].dnskey = key.clone();
                    let timer = now.saturating_add(hold_down.remove);
                    self.set_state(index, KeyState::Revoked, now, timer, &mut changes);
                }
                continue;
            }
            match known {
                None => {
                    if self.keys.len() >= MAX_KEYS_PER_ZONE {
                        continue;
                    }
                    changes.push(KeyChange {
                        key_tag: key.key_tag(),
                        from: None,
                        to: Some(KeyState::AddPend),
                    });
                    self.keys.push(ManagedKey {
                        dnskey: key.clone(),
                        state: KeyState::AddPend,
                        since: now,
                        timer: now.saturating_add(hold_down.add),
                    });
                }
                Some(index) => match self.keys[index].state {
                    KeyState::Start => {
                        let timer = now.saturating_add(hold_down.add);
                        self.set_state(index, KeyState::AddPend, now, timer, &mut changes);
                    }
                    KeyState::AddPend if now >= self.keys[index].timer => {
                        self.set_state(index, KeyState::Valid, now, 0, &mut changes);
                    }
                    KeyState::Missing => {
                        self.set_state(index, KeyState::Valid, now, 0, &mut changes);
                    }
                    KeyState::AddPend | KeyState::Valid | KeyState::Revoked => {}
                },
            }
        }

        // Keys absent from the RRset.
        let mut index = 0;
        while index < self.keys.len() {
            let present = seen
                .iter()
                .any(|(_, key)| same_key(key, &self.keys[index].dnskey));
            let managed = &self.keys[index];
            if !present {
                match managed.state {
                    KeyState::AddPend => {
                        self.set_state(index, KeyState::Start, now, 0, &mut changes);
                    }
                    KeyState::Valid => {
                        self.set_state(index, KeyState::Missing, now, 0, &mut changes);
                    }
                    KeyState::Revoked if now >= managed.timer => {
                        changes.push(KeyChange {
                            key_tag: managed.dnskey.key_tag(),
                            from: Some(KeyState::Revoked),
                            to: None,
                        });
                        self.keys.remove(index);
                        continue;
                    }
                    KeyState::Start | KeyState::Missing | KeyState::Revoked => {}
                }
            }
            index += 1;
        }
        Ok(changes)
    }
}

/// The active refresh interval of RFC 5011 §2.3, in seconds:
/// max(1 hour, min(15 days, TTL/2, time to the RRSIG expiration/2)).
pub fn active_refresh_interval(original_ttl: u32, until_expiration: u64) -> u64 {
    let half_ttl = u64::from(original_ttl) / 2;
    (15 * DAY).min(half_ttl).min(until_expiration / 2).max(HOUR)
}

/// The retry interval of RFC 5011 §2.3 after a failed refresh, in seconds:
/// max(1 hour, min(1 day, TTL/10, time to the RRSIG expiration/10)).
pub fn retry_interval(original_ttl: u32, until_expiration: u64) -> u64 {
    let tenth_ttl = u64::from(original_ttl) / 10;
    DAY.min(tenth_ttl).min(until_expiration / 10).max(HOUR)
}

/// Why a state file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A line does not parse.
    #[error("trust-anchor state, line {line}: {message}")]
    Syntax {
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A `seed` or `key` line before any `zone` line names its zone, or
    /// names another zone than the one before it.
    #[error("trust-anchor state, line {line}: {owner} belongs to no zone line before it")]
    NoZone {
        /// The line, from 1.
        line: usize,
        /// The owner the line names.
        owner: Name,
    },
    /// The file holds no zone.
    #[error("trust-anchor state: no zone")]
    Empty,
}

/// The state of every managed zone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustAnchorState {
    /// The zones, in the order of the file.
    pub zones: Vec<ManagedZone>,
}

impl TrustAnchorState {
    /// The state of configured anchors, one managed zone per owner.
    pub fn from_anchors(anchors: &[TrustAnchor]) -> TrustAnchorState {
        let mut zones: Vec<ManagedZone> = Vec::new();
        for anchor in anchors {
            if !zones.iter().any(|zone| zone.zone == anchor.owner) {
                zones.push(ManagedZone::from_anchors(&anchor.owner, anchors));
            }
        }
        TrustAnchorState { zones }
    }

    /// Every trust anchor of every zone.
    pub fn trust_anchors(&self) -> Vec<TrustAnchor> {
        self.zones
            .iter()
            .flat_map(ManagedZone::trust_anchors)
            .collect()
    }

    /// The text of the state file.
    pub fn to_text(&self) -> String {
        let mut text = String::from(
            "; Hanse trust-anchor state (RFC 5011). Written by hanse; replaced whole.\n",
        );
        for zone in &self.zones {
            text.push_str(&format!(
                "zone {} {} {}\n",
                zone.zone, zone.last_refresh, zone.last_inception
            ));
            for ds in &zone.seeds {
                let mut data = ds.key_tag.to_be_bytes().to_vec();
                data.extend([ds.algorithm.0, ds.digest_type.0]);
                data.extend_from_slice(&ds.digest);
                text.push_str(&format!(
                    "seed {} {}\n",
                    zone.zone,
                    hanse_zone::format_rdata(RType::DS, &data)
                ));
            }
            for key in &zone.keys {
                text.push_str(&format!(
                    "key {} {} {} {} {}\n",
                    zone.zone,
                    key.state,
                    key.since,
                    key.timer,
                    hanse_zone::format_rdata(RType::DNSKEY, key.dnskey.rdata())
                ));
            }
        }
        text
    }

    /// Reads a state file written by [`TrustAnchorState::to_text`].
    pub fn parse(text: &str) -> Result<TrustAnchorState, StateError> {
        let mut state = TrustAnchorState::default();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let syntax = |message: String| StateError::Syntax {
                line: number,
                message,
            };
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with(';') {
                continue;
            }
            let fields: Vec<&str> = trimmed.split_whitespace().collect();
            let owner_text = fields
                .get(1)
                .ok_or_else(|| syntax("a line needs a kind and a name".to_owned()))?;
            let owner = Name::from_ascii(owner_text)
                .map_err(|error| syntax(format!("{owner_text:?}: {error}")))?;
            let number_at = |position: usize, what: &str| -> Result<u64, StateError> {
                fields
                    .get(position)
                    .and_then(|field| field.parse::<u64>().ok())
                    .ok_or_else(|| syntax(format!("{what} must be a whole number")))
            };
            match fields[0] {
                "zone" => {
                    if fields.len() != 4 {
                        return Err(syntax("zone NAME LAST_REFRESH LAST_INCEPTION".to_owned()));
                    }
                    if state.zones.iter().any(|zone| zone.zone == owner) {
                        return Err(syntax(format!("zone {owner} appears twice")));
                    }
                    let last_refresh = number_at(2, "LAST_REFRESH")?;
                    let last_inception = u32::try_from(number_at(3, "LAST_INCEPTION")?)
                        .map_err(|_| syntax("LAST_INCEPTION must fit 32 bits".to_owned()))?;
                    state.zones.push(ManagedZone {
                        zone: owner,
                        seeds: Vec::new(),
                        keys: Vec::new(),
                        last_refresh,
                        last_inception,
                    });
                }
                "seed" => {
                    let zone = current_zone(&mut state, &owner, number)?;
                    let data =
                        hanse_zone::parse_rdata(RType::DS, &fields[2..].join(" "), &Name::root())
                            .map_err(|error| syntax(format!("seed: {error}")))?;
                    let ds = Ds::parse(&data).map_err(|error| syntax(format!("seed: {error}")))?;
                    zone.seeds.push(ds);
                }
                "key" => {
                    if fields.len() < 9 {
                        return Err(syntax(
                            "key NAME STATE SINCE TIMER FLAGS PROTOCOL ALGORITHM KEY".to_owned(),
                        ));
                    }
                    let key_state = KeyState::from_text(fields[2]).ok_or_else(|| {
                        syntax(format!(
                            "{:?} is not a state (Start, AddPend, Valid, Missing, Revoked)",
                            fields[2]
                        ))
                    })?;
                    let since = number_at(3, "SINCE")?;
                    let timer = number_at(4, "TIMER")?;
                    let data = hanse_zone::parse_rdata(
                        RType::DNSKEY,
                        &fields[5..].join(" "),
                        &Name::root(),
                    )
                    .map_err(|error| syntax(format!("key: {error}")))?;
                    let dnskey =
                        Dnskey::parse(&data).map_err(|error| syntax(format!("key: {error}")))?;
                    if !dnskey.is_zone_key() {
                        return Err(syntax("key: not a zone key".to_owned()));
                    }
                    let zone = current_zone(&mut state, &owner, number)?;
                    if zone.keys.len() >= MAX_KEYS_PER_ZONE {
                        return Err(syntax(format!(
                            "more than {MAX_KEYS_PER_ZONE} keys for {owner}"
                        )));
                    }
                    zone.keys.push(ManagedKey {
                        dnskey,
                        state: key_state,
                        since,
                        timer,
                    });
                }
                other => {
                    return Err(syntax(format!(
                        "{other:?}: a line starts with zone, seed or key"
                    )));
                }
            }
        }
        if state.zones.is_empty() {
            return Err(StateError::Empty);
        }
        Ok(state)
    }
}

/// The last zone of `state` if it is `owner`'s.
fn current_zone<'state>(
    state: &'state mut TrustAnchorState,
    owner: &Name,
    line: usize,
) -> Result<&'state mut ManagedZone, StateError> {
    match state.zones.last_mut() {
        Some(zone) if zone.zone == *owner => Ok(zone),
        _ => Err(StateError::NoZone {
            line,
            owner: owner.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdata::Algorithm;
    use hanse_wire::Class;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    const NOW: u64 = 1_800_000_000;
    const HOLD: HoldDown = HoldDown {
        add: 100,
        remove: 1_000,
    };

    /// An Ed25519 key (algorithm 15) for tests.
    struct TestKey {
        pair: Ed25519KeyPair,
        flags: u16,
    }

    impl TestKey {
        fn data(&self) -> Vec<u8> {
            let mut data = self.flags.to_be_bytes().to_vec();
            data.extend([3, Algorithm::ED25519.0]);
            data.extend_from_slice(self.pair.public_key().as_ref());
            data
        }

        fn dnskey(&self) -> Dnskey {
            Dnskey::parse(&self.data()).expect("dnskey")
        }

        fn record(&self) -> Record {
            Record {
                name: Name::root(),
                rtype: RType::DNSKEY,
                class: Class::IN,
                ttl: 3600,
                data: self.data().into(),
            }
        }

        /// An RRSIG by this key over `rrset`, made at `inception`.
        fn sign(&self, rrset: &[Record], inception: u32) -> Record {
            let mut fixed = RType::DNSKEY.0.to_be_bytes().to_vec();
            fixed.extend([Algorithm::ED25519.0, 0]);
            fixed.extend(3600u32.to_be_bytes());
            fixed.extend((inception + 1_000_000).to_be_bytes());
            fixed.extend(inception.to_be_bytes());
            fixed.extend(self.dnskey().key_tag().to_be_bytes());
            fixed.push(0); // the root as signer
            let mut draft = fixed.clone();
            draft.push(0);
            let rrsig = Rrsig::parse(&draft).expect("rrsig");
            let signed = crate::canonical::signed_data(rrset, &rrsig).expect("signed data");
            fixed.extend_from_slice(self.pair.sign(&signed).as_ref());
            Record {
                name: Name::root(),
                rtype: RType::RRSIG,
                class: Class::IN,
                ttl: 3600,
                data: fixed.into(),
            }
        }
    }

    /// Keys from fixed seeds, so a revoked copy shares the key material.
    fn key(seed: u8, flags: u16) -> TestKey {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("seed");
        TestKey { pair, flags }
    }

    fn revoked(seed: u8) -> TestKey {
        key(seed, 257 | crate::rdata::REVOKE_FLAG)
    }

    /// The RRset of `keys`, signed by each of `signers`.
    fn rrset(
        keys: &[&TestKey],
        signers: &[&TestKey],
        inception: u32,
    ) -> (Vec<Record>, Vec<Record>) {
        let records: Vec<Record> = keys.iter().map(|key| key.record()).collect();
        let signatures = signers
            .iter()
            .map(|signer| signer.sign(&records, inception))
            .collect();
        (records, signatures)
    }

    fn managed(keys: &[&TestKey]) -> ManagedZone {
        let anchors: Vec<TrustAnchor> = keys
            .iter()
            .map(|key| TrustAnchor {
                owner: Name::root(),
                key: AnchorKey::Dnskey(key.dnskey()),
            })
            .collect();
        ManagedZone::from_anchors(&Name::root(), &anchors)
    }

    fn state_of(zone: &ManagedZone, key: &TestKey) -> Option<KeyState> {
        zone.keys
            .iter()
            .find(|managed| same_key(&managed.dnskey, &key.dnskey()))
            .map(|managed| managed.state)
    }

    fn refresh(
        zone: &mut ManagedZone,
        keys: &[&TestKey],
        signers: &[&TestKey],
        now: u64,
    ) -> Result<Vec<KeyChange>, RefreshError> {
        let (records, signatures) = rrset(keys, signers, now as u32 - 10);
        zone.refresh(
            &records,
            &signatures,
            now,
            HOLD,
            &AlgorithmPolicy::default(),
        )
    }

    #[test]
    fn a_new_key_waits_out_the_add_hold_down_then_becomes_valid() {
        let (k1, k2, zsk) = (key(1, 257), key(2, 257), key(3, 256));
        let mut zone = managed(&[&k1]);
        refresh(&mut zone, &[&k1, &k2, &zsk], &[&k1], NOW).expect("refresh");
        assert_eq!(state_of(&zone, &k2), Some(KeyState::AddPend));
        assert_eq!(
            state_of(&zone, &zsk),
            None,
            "zone-signing keys are not managed"
        );
        assert_eq!(zone.trust_anchors().len(), 1);
        refresh(&mut zone, &[&k1, &k2], &[&k1], NOW + 50).expect("refresh");
        assert_eq!(state_of(&zone, &k2), Some(KeyState::AddPend));
        let changes = refresh(&mut zone, &[&k1, &k2], &[&k1], NOW + 100).expect("refresh");
        assert_eq!(state_of(&zone, &k2), Some(KeyState::Valid));
        assert_eq!(changes.len(), 1);
        assert_eq!(zone.trust_anchors().len(), 2);
        // Now K2 alone can carry the zone.
        refresh(&mut zone, &[&k2], &[&k2], NOW + 200).expect("refresh");
        assert_eq!(state_of(&zone, &k1), Some(KeyState::Missing));
        assert!(
            zone.trust_anchors().len() == 2,
            "a missing key stays trusted"
        );
        refresh(&mut zone, &[&k1, &k2], &[&k2], NOW + 300).expect("refresh");
        assert_eq!(state_of(&zone, &k1), Some(KeyState::Valid));
    }

    #[test]
    fn a_pending_key_that_leaves_goes_back_to_start_and_restarts_its_timer() {
        let (k1, k2) = (key(1, 257), key(2, 257));
        let mut zone = managed(&[&k1]);
        refresh(&mut zone, &[&k1, &k2], &[&k1], NOW).expect("refresh");
        refresh(&mut zone, &[&k1], &[&k1], NOW + 10).expect("refresh");
        assert_eq!(state_of(&zone, &k2), Some(KeyState::Start));
        refresh(&mut zone, &[&k1, &k2], &[&k1], NOW + 200).expect("refresh");
        assert_eq!(state_of(&zone, &k2), Some(KeyState::AddPend));
        refresh(&mut zone, &[&k1, &k2], &[&k1], NOW + 250).expect("refresh");
        assert_eq!(
            state_of(&zone, &k2),
            Some(KeyState::AddPend),
            "the timer restarted"
        );
        refresh(&mut zone, &[&k1, &k2], &[&k1], NOW + 300).expect("refresh");
        assert_eq!(state_of(&zone, &k2), Some(KeyState::Valid));
    }

    #[test]
    fn a_self_signed_revocation_removes_trust_and_is_forgotten_later() {
        let (k1, k2, k1_revoked) = (key(1, 257), key(2, 257), revoked(1));
        let mut zone = managed(&[&k1, &k2]);
        // Revoked but not signed by the revoked key: not believed.
        refresh(&mut zone, &[&k1_revoked, &k2], &[&k2], NOW).expect("refresh");
        assert_eq!(state_of(&zone, &k1), Some(KeyState::Valid));
        refresh(
            &mut zone,
            &[&k1_revoked, &k2],
            &[&k2, &k1_revoked],
            NOW + 10,
        )
        .expect("refresh");
        assert_eq!(state_of(&zone, &k1), Some(KeyState::Revoked));
        assert_eq!(zone.trust_anchors().len(), 1);
        // An RRset signed only by the revoked key is no longer accepted.
        let outcome = refresh(&mut zone, &[&k1_revoked, &k2], &[&k1_revoked], NOW + 20);
        assert!(matches!(
            outcome,
            Err(RefreshError::NoTrustedKey(_) | RefreshError::Unverified { .. })
        ));
        // Gone from the RRset and past the remove hold-down: forgotten.
        refresh(&mut zone, &[&k2], &[&k2], NOW + 500).expect("refresh");
        assert_eq!(state_of(&zone, &k1), Some(KeyState::Revoked));
        refresh(&mut zone, &[&k2], &[&k2], NOW + 1_010).expect("refresh");
        assert_eq!(state_of(&zone, &k1), None);
    }

    #[test]
    fn an_unknown_signer_or_an_older_signature_changes_nothing() {
        let (k1, k2, stranger) = (key(1, 257), key(2, 257), key(9, 257));
        let mut zone = managed(&[&k1]);
        let before = zone.clone();
        let outcome = refresh(&mut zone, &[&stranger, &k2], &[&stranger], NOW);
        assert_eq!(outcome, Err(RefreshError::NoTrustedKey(Name::root())));
        let (records, _) = rrset(&[&k1, &k2], &[], 0);
        let outcome = zone.refresh(&records, &[], NOW, HOLD, &AlgorithmPolicy::default());
        assert!(matches!(outcome, Err(RefreshError::Unverified { .. })));
        assert_eq!(zone, before);
        refresh(&mut zone, &[&k1], &[&k1], NOW).expect("refresh");
        let outcome = refresh(&mut zone, &[&k1, &k2], &[&k1], NOW - 100);
        assert_eq!(outcome, Err(RefreshError::Replayed(Name::root())));
        assert_eq!(state_of(&zone, &k2), None);
        let outcome = zone.refresh(&[], &[], NOW, HOLD, &AlgorithmPolicy::default());
        assert_eq!(outcome, Err(RefreshError::NoKeys(Name::root())));
    }

    #[test]
    fn a_ds_seed_trusts_its_key_at_the_first_refresh() {
        let (k1, k2) = (key(1, 257), key(2, 257));
        let digest =
            crate::ds::compute_digest(crate::rdata::DigestType(2), &Name::root(), &k1.dnskey())
                .expect("digest");
        let ds = Ds {
            key_tag: k1.dnskey().key_tag(),
            algorithm: Algorithm::ED25519,
            digest_type: crate::rdata::DigestType(2),
            digest: digest.into(),
        };
        let anchors = [TrustAnchor {
            owner: Name::root(),
            key: AnchorKey::Ds(ds),
        }];
        let mut state = TrustAnchorState::from_anchors(&anchors);
        let zone = &mut state.zones[0];
        assert_eq!(zone.seeds.len(), 1);
        refresh(zone, &[&k1, &k2], &[&k1], NOW).expect("refresh");
        assert!(zone.seeds.is_empty());
        assert_eq!(state_of(zone, &k1), Some(KeyState::Valid));
        assert_eq!(state_of(zone, &k2), Some(KeyState::AddPend));
    }

    #[test]
    fn the_state_file_reads_back_and_bad_files_are_refused() {
        let (k1, k2, k3, k1_revoked) = (key(1, 257), key(2, 257), key(3, 257), revoked(1));
        let mut zone = managed(&[&k1]);
        refresh(&mut zone, &[&k1, &k2], &[&k1], NOW).expect("refresh");
        refresh(&mut zone, &[&k1, &k2, &k3], &[&k1], NOW + 100).expect("refresh");
        let keys = [&k1_revoked, &k2, &k3];
        refresh(&mut zone, &keys, &[&k2, &k1_revoked], NOW + 105).expect("refresh");
        assert_eq!(state_of(&zone, &k1), Some(KeyState::Revoked));
        assert_eq!(state_of(&zone, &k2), Some(KeyState::Valid));
        zone.seeds.push(Ds {
            key_tag: 20326,
            algorithm: Algorithm::RSASHA256,
            digest_type: crate::rdata::DigestType(2),
            digest: vec![0xE0, 0x6D].into(),
        });
        zone.seeds
            .push(Ds::parse(&[0, 1, 8, 2]).expect("a DS without digest"));
        let state = TrustAnchorState { zones: vec![zone] };
        let text = state.to_text();
        assert!(
            text.contains(" Revoked ") && text.contains(" AddPend "),
            "{text}"
        );
        assert_eq!(TrustAnchorState::parse(&text), Ok(state));

        for (bad, expected) in [
            ("", "no zone"),
            ("zone . 1\n", "line 1"),
            ("key . Valid 1 0 257 3 15 AAAA\n", "no zone line"),
            (
                "zone . 1 2\nkey . Sleeping 1 0 257 3 15 AAAA\n",
                "not a state",
            ),
            ("zone . 1 2\nkey . Valid x 0 257 3 15 AAAA\n", "SINCE"),
            ("zone . 1 2\nkey . Valid 1 0 257 3 15 !!\n", "line 2"),
            ("zone . 1 2\nzone . 1 2\n", "twice"),
            ("bogus . 1\n", "starts with"),
        ] {
            let error = TrustAnchorState::parse(bad).expect_err(bad).to_string();
            assert!(error.contains(expected), "{bad:?}: {error}");
        }
    }

    #[test]
    fn refresh_timers_follow_rfc_5011() {
        assert_eq!(active_refresh_interval(172_800, 10 * DAY), 86_400);
        assert_eq!(active_refresh_interval(60, 10 * DAY), HOUR);
        assert_eq!(active_refresh_interval(u32::MAX, 100 * DAY), 15 * DAY);
        assert_eq!(active_refresh_interval(172_800, 4 * HOUR), 2 * HOUR);
        assert_eq!(retry_interval(172_800, 10 * DAY), 17_280);
        assert_eq!(retry_interval(600, 10 * DAY), HOUR);
        assert_eq!(retry_interval(u32::MAX, 100 * DAY), DAY);
    }
}
