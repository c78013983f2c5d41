//! Feeds: one policy zone or block list compiled into matching structures
//! (draft-ietf-dnsop-dns-rpz-00 §4–§6; BIND 9's `response-policy` as the
//! reference behaviour).
//!
//! A [`Feed`] holds the triggers of one source, each with its action:
//! - QNAME triggers: exact names and `*.` wildcards;
//! - NSDNAME triggers (`name.rpz-nsdname`), exact and wildcard;
//! - CLIENT-IP (`rpz-client-ip`), RESPONSE-IP (`rpz-ip`) and NSIP
//!   (`rpz-nsip`) triggers with the reversed, prefix-length-first address
//!   encoding, `zz` standing for the longest run of zero IPv6 words.
//!
//! Actions, from the records at the trigger (§5): `CNAME .` is NXDOMAIN,
//! `CNAME *.` is NODATA, `CNAME rpz-passthru.` (or, as in older zones, a
//! CNAME to the trigger name itself) is PASSTHRU, `CNAME rpz-drop.` is DROP,
//! `CNAME rpz-tcp-only.` is TCP-only; anything else is local data (any types,
//! several RRs, a CNAME to a walled garden, or `CNAME *.target`, which prepends
//! the query name to `target`). SOA and NS at the apex are ignored.
//!
//! Bad input: a record (or list line) that cannot be compiled is skipped and
//! reported as a [`Problem`]; the rest of the feed loads. A feed is data from
//! outside, and one bad line among a million should not leave every client
//! without protection. The caller decides whether the problems are serious
//! enough to keep the previous generation.
//!
//! Updates: [`Feed::apply_changes`] takes the records an IXFR removes and adds
//! (RFC 1995) and returns a new generation that shares the unchanged bulk of
//! the tables with the old one.
//!
//! # Limitations
//! - Records are class IN; the class is not checked.
//! - A CNAME with other data at the same owner is refused (reported), as a
//!   zone would refuse it.
//! - Non-canonical address triggers (explicit zero words instead of `zz`)
//!   are accepted, as BIND does; host bits beyond the prefix are refused.
//! - Local-data actions removed by IXFR stay in memory until the next
//!   compaction or full load.

use crate::name_table::{MAX_VALUE, NameTable, NameTableBuilder, PreparedName};
use crate::prefix::{Prefix, PrefixMap};
use hanse_wire::{Name, NameError, RType, Record};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Where a feed came from, which decides how its rules are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    /// A response policy zone.
    Rpz,
    /// A hosts file (`0.0.0.0 name`).
    Hosts,
    /// One domain name per line.
    Domains,
    /// Adblock-style `||name^` rules.
    Adblock,
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedFormat::Rpz => "rpz",
            FeedFormat::Hosts => "hosts",
            FeedFormat::Domains => "domains",
            FeedFormat::Adblock => "adblock",
        })
    }
}

/// The kind of trigger, in the draft's precedence order within one zone
/// (§5.4): CLIENT-IP first, NSIP last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TriggerKind {
    /// The client's address (`rpz-client-ip`).
    ClientIp,
    /// The query name or a name of the CNAME chain.
    Qname,
    /// An address in the answer (`rpz-ip`).
    ResponseIp,
    /// The name of a nameserver that served the answer (`rpz-nsdname`).
    Nsdname,
    /// The address of a nameserver that served the answer (`rpz-nsip`).
    Nsip,
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TriggerKind::ClientIp => "CLIENT-IP",
            TriggerKind::Qname => "QNAME",
            TriggerKind::ResponseIp => "RESPONSE-IP",
            TriggerKind::Nsdname => "NSDNAME",
            TriggerKind::Nsip => "NSIP",
        })
    }
}

/// One record of a local-data action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRecord {
    /// The record type.
    pub rtype: RType,
    /// The time to live from the policy zone.
    pub ttl: u32,
    /// The record data in uncompressed wire form. A CNAME whose target
    /// starts with `*` is a wildcard rewrite.
    pub data: Box<[u8]>,
}

/// What a rule does (draft-ietf-dnsop-dns-rpz §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyAction {
    /// Answer NXDOMAIN (`CNAME .`).
    Nxdomain,
    /// Answer NOERROR with no data (`CNAME *.`).
    Nodata,
    /// Answer as if no policy applied, and stop evaluating (`rpz-passthru.`).
    Passthru,
    /// Send no answer (`rpz-drop.`).
    Drop,
    /// Answer over UDP with TC set, so the client retries over TCP
    /// (`rpz-tcp-only.`).
    TcpOnly,
    /// Answer with these records instead.
    LocalData(Box<[LocalRecord]>),
    /// A list entry: answer with the profile's block answer.
    Block,
}

impl fmt::Display for PolicyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyAction::Nxdomain => f.write_str("NXDOMAIN"),
            PolicyAction::Nodata => f.write_str("NODATA"),
            PolicyAction::Passthru => f.write_str("PASSTHRU"),
            PolicyAction::Drop => f.write_str("DROP"),
            PolicyAction::TcpOnly => f.write_str("TCP-ONLY"),
            PolicyAction::Block => f.write_str("BLOCK"),
            PolicyAction::LocalData(records) => {
                f.write_str("LOCAL-DATA")?;
                for record in records.iter() {
                    write!(
                        f,
                        " {} {}",
                        record.rtype,
                        hanse_zone::format_rdata(record.rtype, &record.data)
                    )?;
                }
                Ok(())
            }
        }
    }
}

static BLOCK: PolicyAction = PolicyAction::Block;
static PASSTHRU: PolicyAction = PolicyAction::Passthru;

/// Where a skipped rule was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A line of a text feed, from 1.
    Line(usize),
    /// The owner name of a policy-zone record.
    Owner(Name),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Owner(owner) => write!(f, "owner {owner}"),
        }
    }
}

/// Why a rule was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemReason {
    /// The owner is not at or below the zone's origin.
    #[error("owner outside the policy zone")]
    OutOfZone,
    /// A record at the apex other than SOA or NS.
    #[error("{0} record at the zone apex is not a policy rule")]
    ApexRecord(RType),
    /// A malformed address trigger.
    #[error("bad address trigger: {0}")]
    BadAddressTrigger(&'static str),
    /// `rpz-nsdname` with no name before it.
    #[error("empty NSDNAME trigger")]
    EmptyNsdname,
    /// A CNAME together with other records at one owner.
    #[error("CNAME and other data at the same owner")]
    CnameAndOtherData,
    /// Record data that does not parse.
    #[error("bad record data")]
    BadData,
    /// Too many rules for one feed (2^31 actions or 4 GiB of names).
    #[error("feed too large")]
    TooLarge,
    /// A text line that is not a name.
    #[error("not a domain name: {0}")]
    BadName(String),
    /// A hosts line that does not start with an address.
    #[error("hosts line does not start with an address")]
    BadHostsAddress,
    /// A hosts line with an address and no name.
    #[error("hosts line without a name")]
    MissingName,
    /// A name such as `localhost` that hosts files carry for the system.
    #[error("local system name, not a block rule")]
    LocalName,
    /// An adblock rule outside the accepted subset.
    #[error("adblock rule outside the accepted subset")]
    UnsupportedRule,
}

/// A rule that was skipped, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct Problem {
    /// The line or owner.
    pub location: Location,
    /// What is wrong with it.
    pub reason: ProblemReason,
}

/// Why an update could not be applied. The old generation stays valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// Incremental changes apply to policy zones only.
    #[error("feed {0} is not a policy zone; reload it instead")]
    NotPolicyZone(String),
    /// The update removes a record the feed does not hold: the copies have
    /// diverged, and a full transfer is needed.
    #[error("removed record {owner} {rtype} not in the feed")]
    MissingRecord {
        /// The owner of the missing record.
        owner: Name,
        /// Its type.
        rtype: RType,
    },
}

/// An action with the TTL of the records that expressed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionEntry {
    pub action: PolicyAction,
    pub ttl: u32,
    /// PASSTHRU written as a CNAME to the trigger name itself.
    pub legacy_passthru: bool,
    /// The line of a list feed, 0 if none.
    pub line: u32,
}

/// The actions of a feed, with the standard ones shared between rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActionTable {
    base: Arc<Vec<ActionEntry>>,
    added: Arc<Vec<ActionEntry>>,
    interned: Arc<HashMap<(u8, u32, bool), u32>>,
}

fn intern_key(entry: &ActionEntry) -> Option<(u8, u32, bool)> {
    let kind = match entry.action {
        PolicyAction::Nxdomain => 0,
        PolicyAction::Nodata => 1,
        PolicyAction::Passthru => 2,
        PolicyAction::Drop => 3,
        PolicyAction::TcpOnly => 4,
        PolicyAction::Block => 5,
        PolicyAction::LocalData(_) => return None,
    };
    (entry.line == 0).then_some((kind, entry.ttl, entry.legacy_passthru))
}

impl ActionTable {
    pub fn get(&self, index: u32) -> Option<&ActionEntry> {
        let index = index as usize;
        match self.base.get(index) {
            Some(entry) => Some(entry),
            None => self.added.get(index - self.base.len()),
        }
    }

    fn len(&self) -> usize {
        self.base.len() + self.added.len()
    }

    /// Adds `entry` (or finds the shared copy) in the new generation's part.
    pub(crate) fn add(&mut self, entry: ActionEntry) -> Result<u32, ProblemReason> {
        let key = intern_key(&entry);
        if let Some(key) = key
            && let Some(&index) = self.interned.get(&key)
        {
            return Ok(index);
        }
        let index = u32::try_from(self.len())
            .ok()
            .filter(|&index| index <= MAX_VALUE)
            .ok_or(ProblemReason::TooLarge)?;
        Arc::make_mut(&mut self.added).push(entry);
        if let Some(key) = key {
            Arc::make_mut(&mut self.interned).insert(key, index);
        }
        Ok(index)
    }

    /// Replaces the entry at `index` (a local-data entry being extended).
    fn replace(&mut self, index: u32, entry: ActionEntry) {
        let position = index as usize;
        if position < self.base.len() {
            Arc::make_mut(&mut self.base)[position] = entry;
        } else if let Some(slot) =
            Arc::make_mut(&mut self.added).get_mut(position - self.base.len())
        {
            *slot = entry;
        }
    }

    /// One vector again, for a compacted generation.
    pub(crate) fn merged(&self) -> ActionTable {
        let mut all = Vec::with_capacity(self.len());
        all.extend(self.base.iter().cloned());
        all.extend(self.added.iter().cloned());
        ActionTable {
            base: Arc::new(all),
            added: Arc::default(),
            interned: Arc::clone(&self.interned),
        }
    }
}

/// The trigger of a rule, as the feed wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger<'f> {
    /// A QNAME or NSDNAME trigger: the name relative to the zone origin
    /// (lower-case wire form, `*` first for a wildcard).
    Name(&'f [u8]),
    /// An address trigger.
    Address(Prefix),
}

/// A rule of a feed that matched, borrowed from the feed.
#[derive(Debug, Clone, Copy)]
pub struct Rule<'f> {
    /// The kind of trigger.
    pub kind: TriggerKind,
    /// The trigger.
    pub trigger: Trigger<'f>,
    /// The action as the feed wrote it.
    pub action: &'f PolicyAction,
    /// The TTL for synthesised answers.
    pub ttl: u32,
    /// The line in a text feed.
    pub line: Option<u32>,
}

impl Rule<'_> {
    /// The trigger in the feed's own notation: `*.example.com`,
    /// `ns.example.rpz-nsdname`, `24.0.2.0.192.rpz-ip`.
    pub fn trigger_text(&self) -> String {
        let suffix = match self.kind {
            TriggerKind::ClientIp => ".rpz-client-ip",
            TriggerKind::Qname => "",
            TriggerKind::ResponseIp => ".rpz-ip",
            TriggerKind::Nsdname => ".rpz-nsdname",
            TriggerKind::Nsip => ".rpz-nsip",
        };
        match self.trigger {
            Trigger::Name(wire) => {
                let text = Name::from_wire(wire).map_or_else(|_| "?".to_owned(), |n| n.to_string());
                let text = text.strip_suffix('.').unwrap_or(&text).to_owned();
                format!("{text}{suffix}")
            }
            Trigger::Address(prefix) => format!("{}{suffix}", encode_address(prefix)),
        }
    }
}

impl fmt::Display for Rule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.trigger_text())?;
        if let Trigger::Address(prefix) = self.trigger {
            write!(f, " ({prefix})")?;
        }
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        write!(f, " -> {}", self.action)
    }
}

/// The number of rules of each kind in a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedCounts {
    /// QNAME rules (list entries included).
    pub qname: usize,
    /// Exceptions of an adblock feed.
    pub exceptions: usize,
    /// NSDNAME rules.
    pub nsdname: usize,
    /// CLIENT-IP rules.
    pub client_ip: usize,
    /// RESPONSE-IP rules.
    pub response_ip: usize,
    /// NSIP rules.
    pub nsip: usize,
}

impl FeedCounts {
    /// All rules together.
    pub fn total(&self) -> usize {
        self.qname + self.exceptions + self.nsdname + self.client_ip + self.response_ip + self.nsip
    }
}

/// In list feeds, a table value with this bit is an action index; without,
/// it is the line of a block entry.
pub(crate) const LIST_ACTION_FLAG: u32 = 1 << 30;

/// One compiled policy zone or list. Cheap to clone: the tables are shared.
#[derive(Debug, Clone)]
pub struct Feed {
    pub(crate) name: Arc<str>,
    pub(crate) format: FeedFormat,
    pub(crate) origin: Option<Name>,
    pub(crate) soa: Option<Record>,
    pub(crate) version: u64,
    pub(crate) qname: NameTable,
    pub(crate) nsdname: NameTable,
    pub(crate) exceptions: NameTable,
    pub(crate) client_ip: Arc<PrefixMap>,
    pub(crate) response_ip: Arc<PrefixMap>,
    pub(crate) nsip: Arc<PrefixMap>,
    pub(crate) actions: ActionTable,
}

/// Which table a policy-zone owner name belongs to.
enum TriggerKey {
    Name(TriggerKind, Vec<u8>),
    Address(TriggerKind, Prefix),
}

/// The labels of a wire name, left to right.
fn labels(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut position = 0;
    std::iter::from_fn(move || {
        let length = usize::from(*wire.get(position)?);
        if length == 0 {
            return None;
        }
        let label = wire.get(position + 1..position + 1 + length)?;
        position += length + 1;
        Some(label)
    })
}

/// The wire form of `owner` relative to `origin`, as an absolute name
/// (lower case), or `None` if `owner` is not below `origin`.
fn relative_wire(owner: &Name, origin: &Name) -> Option<Vec<u8>> {
    if !owner.is_subdomain_of(origin) {
        return None;
    }
    let keep = owner.as_wire().len() - origin.as_wire().len();
    let mut wire = Vec::with_capacity(keep + 1);
    wire.extend(owner.as_wire()[..keep].iter().map(u8::to_ascii_lowercase));
    wire.push(0);
    Some(wire)
}

/// Classifies a relative owner (non-empty) by its last label.
fn classify(relative: Vec<u8>) -> Result<TriggerKey, ProblemReason> {
    let all: Vec<&[u8]> = labels(&relative).collect();
    let Some((&last, rest)) = all.split_last() else {
        return Err(ProblemReason::OutOfZone);
    };
    let kind = match last {
        b"rpz-ip" => TriggerKind::ResponseIp,
        b"rpz-client-ip" => TriggerKind::ClientIp,
        b"rpz-nsip" => TriggerKind::Nsip,
        b"rpz-nsdname" => {
            if rest.is_empty() {
                return Err(ProblemReason::EmptyNsdname);
            }
            let keep = relative.len() - last.len() - 2;
            let mut wire = relative[..keep].to_vec();
            wire.push(0);
            return Ok(TriggerKey::Name(TriggerKind::Nsdname, wire));
        }
        _ => return Ok(TriggerKey::Name(TriggerKind::Qname, relative)),
    };
    Ok(TriggerKey::Address(kind, decode_address(rest)?))
}

fn decimal(label: &[u8], maximum: u32) -> Option<u32> {
    if label.is_empty() || label.len() > 3 || !label.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = label
        .iter()
        .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
    (value <= maximum).then_some(value)
}

/// Decodes `prefix.Bn…B1` (labels before `rpz-ip` and friends; §6.2).
pub(crate) fn decode_address(labels: &[&[u8]]) -> Result<Prefix, ProblemReason> {
    let (&length, words) = labels
        .split_first()
        .ok_or(ProblemReason::BadAddressTrigger("no prefix length"))?;
    let length =
        decimal(length, 128).ok_or(ProblemReason::BadAddressTrigger("bad prefix length"))? as u8;
    let has_zz = words.iter().any(|word| word.eq_ignore_ascii_case(b"zz"));
    let address = if words.len() == 4 && !has_zz {
        let mut octets = [0u8; 4];
        for (index, word) in words.iter().enumerate() {
            octets[3 - index] =
                decimal(word, 255).ok_or(ProblemReason::BadAddressTrigger("bad IPv4 octet"))? as u8;
        }
        if length == 0 || length > 32 {
            return Err(ProblemReason::BadAddressTrigger("bad IPv4 prefix length"));
        }
        IpAddr::V4(Ipv4Addr::from(octets))
    } else {
        if words.len() > 8 || (words.len() < 8 && !has_zz) || (has_zz && words.len() == 8) {
            return Err(ProblemReason::BadAddressTrigger(
                "wrong number of IPv6 words",
            ));
        }
        let mut values = [0u16; 8];
        let mut filled = 0;
        let mut seen_zz = false;
        // Labels run from the last word to the first.
        for word in words.iter().rev() {
            if word.eq_ignore_ascii_case(b"zz") {
                if seen_zz {
                    return Err(ProblemReason::BadAddressTrigger("more than one zz"));
                }
                seen_zz = true;
                filled += 8 - (words.len() - 1);
                continue;
            }
            if word.is_empty() || word.len() > 4 {
                return Err(ProblemReason::BadAddressTrigger("bad IPv6 word"));
            }
            let text = std::str::from_utf8(word)
                .map_err(|_| ProblemReason::BadAddressTrigger("bad IPv6 word"))?;
            values[filled] = u16::from_str_radix(text, 16)
                .map_err(|_| ProblemReason::BadAddressTrigger("bad IPv6 word"))?;
            filled += 1;
        }
        if length == 0 {
            return Err(ProblemReason::BadAddressTrigger("bad IPv6 prefix length"));
        }
        IpAddr::V6(Ipv6Addr::from(values))
    };
    Prefix::new(address, length).map_err(|_| {
        ProblemReason::BadAddressTrigger("address has bits set beyond the prefix length")
    })
}

/// Encodes a prefix the way a policy zone writes it (canonical form, `zz`
/// for the longest run of two or more zero words).
pub fn encode_address(prefix: Prefix) -> String {
    match prefix.address() {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{}.{d}.{c}.{b}.{a}", prefix.length())
        }
        IpAddr::V6(v6) => {
            let words = v6.segments();
            let mut best = (0, 0);
            let mut index = 0;
            while index < 8 {
                if words[index] == 0 {
                    let start = index;
                    while index < 8 && words[index] == 0 {
                        index += 1;
                    }
                    if index - start > best.1 - best.0 {
                        best = (start, index);
                    }
                } else {
                    index += 1;
                }
            }
            let mut parts = Vec::new();
            let mut index = 8;
            while index > 0 {
                index -= 1;
                if best.1 - best.0 >= 2 && index < best.1 && index >= best.0 {
                    parts.push("zz".to_owned());
                    index = best.0;
                    continue;
                }
                parts.push(format!("{:x}", words[index]));
            }
            format!("{}.{}", prefix.length(), parts.join("."))
        }
    }
}

fn special_target(target: &Name, relative_owner: &[u8]) -> Option<(PolicyAction, bool)> {
    let wire = target.as_wire();
    if target.is_root() {
        return Some((PolicyAction::Nxdomain, false));
    }
    if wire.eq_ignore_ascii_case(b"\x01*\x00") {
        return Some((PolicyAction::Nodata, false));
    }
    if wire.eq_ignore_ascii_case(b"\x0crpz-passthru\x00") {
        return Some((PolicyAction::Passthru, false));
    }
    if wire.eq_ignore_ascii_case(b"\x08rpz-drop\x00") {
        return Some((PolicyAction::Drop, false));
    }
    if wire.eq_ignore_ascii_case(b"\x0crpz-tcp-only\x00") {
        return Some((PolicyAction::TcpOnly, false));
    }
    if wire.eq_ignore_ascii_case(relative_owner) {
        return Some((PolicyAction::Passthru, true));
    }
    None
}

/// Compiles the records at one owner into an action.
fn compile(records: &[LocalRecord], relative_owner: &[u8]) -> Result<ActionEntry, ProblemReason> {
    let cnames = records
        .iter()
        .filter(|record| record.rtype == RType::CNAME)
        .count();
    if cnames > 0 && records.len() > 1 {
        return Err(ProblemReason::CnameAndOtherData);
    }
    let ttl = records.iter().map(|record| record.ttl).min().unwrap_or(0);
    if cnames == 1 {
        let target = Name::from_wire(&records[0].data).map_err(|_| ProblemReason::BadData)?;
        if let Some((action, legacy_passthru)) = special_target(&target, relative_owner) {
            return Ok(ActionEntry {
                action,
                ttl,
                legacy_passthru,
                line: 0,
            });
        }
    }
    Ok(ActionEntry {
        action: PolicyAction::LocalData(records.into()),
        ttl,
        legacy_passthru: false,
        line: 0,
    })
}

/// The records that express `entry` (the inverse of [`compile`]).
fn decompile(entry: &ActionEntry, relative_owner: &[u8]) -> Vec<LocalRecord> {
    let cname = |target: &[u8]| {
        vec![LocalRecord {
            rtype: RType::CNAME,
            ttl: entry.ttl,
            data: target.into(),
        }]
    };
    match &entry.action {
        PolicyAction::Nxdomain => cname(b"\x00"),
        PolicyAction::Nodata => cname(b"\x01*\x00"),
        PolicyAction::Passthru if entry.legacy_passthru => cname(relative_owner),
        PolicyAction::Passthru => cname(b"\x0crpz-passthru\x00"),
        PolicyAction::Drop => cname(b"\x08rpz-drop\x00"),
        PolicyAction::TcpOnly => cname(b"\x0crpz-tcp-only\x00"),
        PolicyAction::LocalData(records) => records.to_vec(),
        PolicyAction::Block => Vec::new(),
    }
}

fn local(record: &Record) -> LocalRecord {
    LocalRecord {
        rtype: record.rtype,
        ttl: record.ttl,
        data: record.data.clone(),
    }
}

/// The relative owner wire (for legacy PASSTHRU) of a trigger key.
fn key_relative(key: &TriggerKey) -> Vec<u8> {
    match key {
        TriggerKey::Name(TriggerKind::Nsdname, name) => {
            let mut wire = name[..name.len() - 1].to_vec();
            wire.extend_from_slice(b"\x0brpz-nsdname\x00");
            wire
        }
        TriggerKey::Name(_, name) => name.clone(),
        // BIND's old PASSTHRU for address triggers is a CNAME to the
        // encoded address without the `rpz-ip` label.
        TriggerKey::Address(_, prefix) => Name::from_ascii(&encode_address(*prefix))
            .map_or_else(|_| vec![0], |name| name.as_wire().to_vec()),
    }
}

/// An owner touched by an update: its name, trigger and records afterwards.
type Touched = (Name, TriggerKey, Vec<LocalRecord>);

/// Mutable tables while a policy zone loads.
struct ZoneBuilder {
    qname: NameTableBuilder,
    nsdname: NameTableBuilder,
    client_ip: PrefixMap,
    response_ip: PrefixMap,
    nsip: PrefixMap,
    actions: ActionTable,
    soa: Option<Record>,
    problems: Vec<Problem>,
}

impl ZoneBuilder {
    fn current(&self, key: &TriggerKey) -> Option<u32> {
        match key {
            TriggerKey::Name(TriggerKind::Nsdname, name) => self.nsdname.get(name),
            TriggerKey::Name(_, name) => self.qname.get(name),
            TriggerKey::Address(kind, prefix) => self.prefix_map(*kind).get(prefix),
        }
    }

    fn prefix_map(&self, kind: TriggerKind) -> &PrefixMap {
        match kind {
            TriggerKind::ClientIp => &self.client_ip,
            TriggerKind::Nsip => &self.nsip,
            _ => &self.response_ip,
        }
    }

    fn owner(&mut self, origin: &Name, owner: &Name, records: &[&Record]) {
        let problem = |reason| Problem {
            location: Location::Owner(owner.clone()),
            reason,
        };
        let Some(relative) = relative_wire(owner, origin) else {
            self.problems.push(problem(ProblemReason::OutOfZone));
            return;
        };
        if relative == [0] {
            for record in records {
                match record.rtype {
                    RType::SOA => {
                        if self.soa.is_none() {
                            self.soa = Some((*record).clone());
                        }
                    }
                    RType::NS => {}
                    other => self
                        .problems
                        .push(problem(ProblemReason::ApexRecord(other))),
                }
            }
            return;
        }
        let key = match classify(relative) {
            Ok(key) => key,
            Err(reason) => {
                self.problems.push(problem(reason));
                return;
            }
        };
        let relative_owner = key_relative(&key);
        let mut locals: Vec<LocalRecord> = Vec::new();
        if let Some(index) = self.current(&key)
            && let Some(entry) = self.actions.get(index)
        {
            locals = decompile(entry, &relative_owner);
        }
        for record in records {
            let record = local(record);
            if !locals
                .iter()
                .any(|old| old.rtype == record.rtype && old.data == record.data)
            {
                locals.push(record);
            }
        }
        let entry = match compile(&locals, &relative_owner) {
            Ok(entry) => entry,
            Err(reason) => {
                self.problems.push(problem(reason));
                return;
            }
        };
        let result = match self.current(&key) {
            Some(index)
                if matches!(entry.action, PolicyAction::LocalData(_))
                    && intern_key(&entry).is_none()
                    && matches!(
                        self.actions.get(index).map(|e| &e.action),
                        Some(PolicyAction::LocalData(_))
                    ) =>
            {
                self.actions.replace(index, entry);
                Ok(index)
            }
            _ => self.actions.add(entry),
        };
        let index = match result {
            Ok(index) => index,
            Err(reason) => {
                self.problems.push(problem(reason));
                return;
            }
        };
        let inserted = match &key {
            TriggerKey::Name(TriggerKind::Nsdname, name) => {
                self.nsdname.insert(name, index, false).map(drop)
            }
            TriggerKey::Name(_, name) => self.qname.insert(name, index, false).map(drop),
            TriggerKey::Address(kind, prefix) => {
                let map = match kind {
                    TriggerKind::ClientIp => &mut self.client_ip,
                    TriggerKind::Nsip => &mut self.nsip,
                    _ => &mut self.response_ip,
                };
                map.insert(*prefix, index);
                Ok(())
            }
        };
        if inserted.is_err() {
            self.problems.push(problem(ProblemReason::TooLarge));
        }
    }
}

impl Feed {
    /// Compiles a response policy zone from its records (as
    /// [`hanse_zone::parse_zone`] or a zone transfer gives them). Records that
    /// cannot be compiled are skipped and returned as problems.
    pub fn from_rpz(name: &str, origin: &Name, records: &[Record]) -> (Feed, Vec<Problem>) {
        let average = records
            .iter()
            .take(64)
            .map(|record| record.name.as_wire().len())
            .sum::<usize>()
            / records.len().clamp(1, 64);
        let origin = origin.to_lowercase();
        let mut builder = ZoneBuilder {
            qname: NameTableBuilder::with_capacity(
                records.len(),
                average.saturating_sub(origin.as_wire().len()) + 2,
            ),
            nsdname: NameTableBuilder::with_capacity(0, 0),
            client_ip: PrefixMap::default(),
            response_ip: PrefixMap::default(),
            nsip: PrefixMap::default(),
            actions: ActionTable::default(),
            soa: None,
            problems: Vec::new(),
        };
        let mut start = 0;
        let mut group: Vec<&Record> = Vec::new();
        while start < records.len() {
            let owner = &records[start].name;
            let mut end = start + 1;
            while end < records.len() && records[end].name == *owner {
                end += 1;
            }
            group.clear();
            group.extend(&records[start..end]);
            builder.owner(&origin, owner, &group);
            start = end;
        }
        let feed = Feed {
            name: name.into(),
            format: FeedFormat::Rpz,
            origin: Some(origin),
            soa: builder.soa,
            version: 1,
            qname: builder.qname.finish(),
            nsdname: builder.nsdname.finish(),
            exceptions: NameTable::default(),
            client_ip: Arc::new(builder.client_ip),
            response_ip: Arc::new(builder.response_ip),
            nsip: Arc::new(builder.nsip),
            actions: builder.actions.merged(),
        };
        (feed, builder.problems)
    }

    /// The feed's name, as profiles refer to it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The format it was read from.
    pub fn format(&self) -> FeedFormat {
        self.format
    }

    /// The policy zone's origin.
    pub fn origin(&self) -> Option<&Name> {
        self.origin.as_ref()
    }

    /// The SOA serial of a policy zone.
    pub fn serial(&self) -> Option<u32> {
        self.soa.as_ref().and_then(Record::soa_serial)
    }

    /// The policy zone's SOA record, for negative answers.
    pub fn soa(&self) -> Option<&Record> {
        self.soa.as_ref()
    }

    /// The generation: 1 when loaded, one more per applied change set, or
    /// what [`Feed::with_version`] set.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The same feed with another version (for lists: a fetch counter, or a
    /// timestamp the caller chooses).
    pub fn with_version(mut self, version: u64) -> Feed {
        self.version = version;
        self
    }

    /// The number of rules of each kind.
    pub fn counts(&self) -> FeedCounts {
        FeedCounts {
            qname: self.qname.len(),
            exceptions: self.exceptions.len(),
            nsdname: self.nsdname.len(),
            client_ip: self.client_ip.len(),
            response_ip: self.response_ip.len(),
            nsip: self.nsip.len(),
        }
    }

    /// Whether the feed has triggers that need the resolved answer
    /// (RESPONSE-IP, NSDNAME, NSIP).
    pub fn has_response_triggers(&self) -> bool {
        !self.response_ip.is_empty() || !self.nsdname.is_empty() || !self.nsip.is_empty()
    }

    /// Whether the feed has CLIENT-IP triggers.
    pub fn has_client_triggers(&self) -> bool {
        !self.client_ip.is_empty()
    }

    /// The records of a policy zone that express its rules, for writing a
    /// copy back to a master file: the SOA first, then every trigger's
    /// records (owner names below the origin). The records are rebuilt from
    /// the compiled rules, so the apex NS records, skipped records and the
    /// original order are not reproduced; compiling the result again gives
    /// the same rules. Lists have no records: empty.
    pub fn records(&self) -> Vec<Record> {
        let (FeedFormat::Rpz, Some(origin)) = (self.format, &self.origin) else {
            return Vec::new();
        };
        let mut records: Vec<Record> = self.soa.iter().cloned().collect();
        // The owner: relative labels (without the root label), then the origin.
        let owner = |relative: &[u8], suffix: &[u8]| -> Option<Name> {
            let mut wire = relative[..relative.len().saturating_sub(1)].to_vec();
            wire.extend_from_slice(suffix);
            wire.extend_from_slice(origin.as_wire());
            Name::from_wire(&wire).ok()
        };
        let mut push = |owner: Option<Name>, key: TriggerKey, value: u32| {
            let (Some(owner), Some(entry)) = (owner, self.actions.get(value)) else {
                return;
            };
            for local in decompile(entry, &key_relative(&key)) {
                records.push(Record {
                    name: owner.clone(),
                    rtype: local.rtype,
                    class: hanse_wire::Class::IN,
                    ttl: local.ttl,
                    data: local.data,
                });
            }
        };
        for (name, value, _) in self.qname.iter() {
            push(
                owner(name, b""),
                TriggerKey::Name(TriggerKind::Qname, name.to_vec()),
                value,
            );
        }
        for (name, value, _) in self.nsdname.iter() {
            push(
                owner(name, b"\x0brpz-nsdname"),
                TriggerKey::Name(TriggerKind::Nsdname, name.to_vec()),
                value,
            );
        }
        for (kind, map, suffix) in [
            (
                TriggerKind::ClientIp,
                &self.client_ip,
                &b"\x0drpz-client-ip"[..],
            ),
            (
                TriggerKind::ResponseIp,
                &self.response_ip,
                &b"\x06rpz-ip"[..],
            ),
            (TriggerKind::Nsip, &self.nsip, &b"\x08rpz-nsip"[..]),
        ] {
            for (prefix, &value) in map.iter() {
                let key = TriggerKey::Address(kind, *prefix);
                let relative = key_relative(&key);
                push(owner(&relative, suffix), key, value);
            }
        }
        records
    }

    fn rule_from_value<'f>(
        &'f self,
        kind: TriggerKind,
        trigger: Trigger<'f>,
        value: u32,
        exception: bool,
    ) -> Option<Rule<'f>> {
        if self.format != FeedFormat::Rpz && value & LIST_ACTION_FLAG == 0 {
            return Some(Rule {
                kind,
                trigger,
                action: if exception { &PASSTHRU } else { &BLOCK },
                ttl: crate::lists::LIST_TTL,
                line: Some(value),
            });
        }
        let entry = self.actions.get(value & !LIST_ACTION_FLAG)?;
        Some(Rule {
            kind,
            trigger,
            action: &entry.action,
            ttl: entry.ttl,
            line: (entry.line != 0).then_some(entry.line),
        })
    }

    /// The QNAME rule for `name`: an adblock exception first, then the exact
    /// name, then the longest wildcard. Allocates nothing.
    pub fn match_qname(&self, name: &PreparedName<'_>) -> Option<Rule<'_>> {
        if !self.exceptions.is_empty()
            && let Some(found) = self.exceptions.lookup(name)
        {
            return self.rule_from_value(
                TriggerKind::Qname,
                Trigger::Name(found.name),
                found.value,
                true,
            );
        }
        let found = self.qname.lookup(name)?;
        self.rule_from_value(
            TriggerKind::Qname,
            Trigger::Name(found.name),
            found.value,
            false,
        )
    }

    /// The NSDNAME rule for a nameserver name.
    pub fn match_nsdname(&self, name: &PreparedName<'_>) -> Option<Rule<'_>> {
        if self.nsdname.is_empty() {
            return None;
        }
        let found = self.nsdname.lookup(name)?;
        self.rule_from_value(
            TriggerKind::Nsdname,
            Trigger::Name(found.name),
            found.value,
            false,
        )
    }

    /// The rule of the longest matching prefix of `kind` (CLIENT-IP,
    /// RESPONSE-IP or NSIP) for `address`.
    pub fn match_address(&self, kind: TriggerKind, address: IpAddr) -> Option<Rule<'_>> {
        let map = match kind {
            TriggerKind::ClientIp => &self.client_ip,
            TriggerKind::ResponseIp => &self.response_ip,
            TriggerKind::Nsip => &self.nsip,
            TriggerKind::Qname | TriggerKind::Nsdname => return None,
        };
        if map.is_empty() {
            return None;
        }
        let (prefix, value) = map.longest_match(address)?;
        self.rule_from_value(kind, Trigger::Address(prefix), value, false)
    }

    /// The trigger key and current action index of a policy-zone owner.
    fn current(&self, key: &TriggerKey) -> Option<u32> {
        match key {
            TriggerKey::Name(TriggerKind::Nsdname, name) => {
                self.nsdname.get(name).map(|found| found.0)
            }
            TriggerKey::Name(_, name) => self.qname.get(name).map(|found| found.0),
            TriggerKey::Address(TriggerKind::ClientIp, prefix) => self.client_ip.get(prefix),
            TriggerKey::Address(TriggerKind::Nsip, prefix) => self.nsip.get(prefix),
            TriggerKey::Address(_, prefix) => self.response_ip.get(prefix),
        }
    }

    /// The position in `owners` of `owner`, reading its current records the
    /// first time. `None` for the apex, owners outside the zone, or bad owners
    /// (reported).
    fn touch(
        &self,
        origin: &Name,
        owners: &mut Vec<Touched>,
        positions: &mut HashMap<Name, usize>,
        owner: &Name,
        problems: &mut Vec<Problem>,
    ) -> Option<usize> {
        if let Some(&position) = positions.get(owner) {
            return Some(position);
        }
        let relative = match relative_wire(owner, origin) {
            Some(relative) if relative != [0] => relative,
            _ => return None,
        };
        let key = match classify(relative) {
            Ok(key) => key,
            Err(reason) => {
                problems.push(Problem {
                    location: Location::Owner(owner.clone()),
                    reason,
                });
                return None;
            }
        };
        let records = self
            .current(&key)
            .and_then(|index| self.actions.get(index))
            .map(|entry| decompile(entry, &key_relative(&key)))
            .unwrap_or_default();
        owners.push((owner.to_lowercase(), key, records));
        positions.insert(owner.to_lowercase(), owners.len() - 1);
        Some(owners.len() - 1)
    }

    /// Applies an incremental update (the records an IXFR removes and adds)
    /// and returns the new generation with its version increased; `self`
    /// stays valid. The unchanged tables are shared. Added records that
    /// cannot be compiled are skipped and reported; a removed record that the
    /// feed does not hold fails the update (the copies have diverged).
    pub fn apply_changes(
        &self,
        removed: &[Record],
        added: &[Record],
    ) -> Result<(Feed, Vec<Problem>), FeedError> {
        let (FeedFormat::Rpz, Some(origin)) = (&self.format, &self.origin) else {
            return Err(FeedError::NotPolicyZone(self.name.to_string()));
        };
        let mut problems = Vec::new();
        let mut soa = self.soa.clone();
        // The owners touched, in order, with their records after the update.
        let mut owners: Vec<Touched> = Vec::new();
        let mut positions: HashMap<Name, usize> = HashMap::new();
        for record in removed {
            if record.name == *origin {
                continue;
            }
            let Some(position) = self.touch(
                origin,
                &mut owners,
                &mut positions,
                &record.name,
                &mut problems,
            ) else {
                if relative_wire(&record.name, origin).is_none() {
                    return Err(FeedError::MissingRecord {
                        owner: record.name.clone(),
                        rtype: record.rtype,
                    });
                }
                continue;
            };
            let records = &mut owners[position].2;
            let before = records.len();
            records.retain(|old| !(old.rtype == record.rtype && *old.data == *record.data));
            if records.len() == before {
                return Err(FeedError::MissingRecord {
                    owner: record.name.clone(),
                    rtype: record.rtype,
                });
            }
        }
        for record in added {
            if record.name == *origin {
                match record.rtype {
                    RType::SOA => soa = Some(record.clone()),
                    RType::NS => {}
                    other => problems.push(Problem {
                        location: Location::Owner(record.name.clone()),
                        reason: ProblemReason::ApexRecord(other),
                    }),
                }
                continue;
            }
            if relative_wire(&record.name, origin).is_none() {
                problems.push(Problem {
                    location: Location::Owner(record.name.clone()),
                    reason: ProblemReason::OutOfZone,
                });
                continue;
            }
            let Some(position) = self.touch(
                origin,
                &mut owners,
                &mut positions,
                &record.name,
                &mut problems,
            ) else {
                continue;
            };
            let records = &mut owners[position].2;
            let new = local(record);
            if !records
                .iter()
                .any(|old| old.rtype == new.rtype && old.data == new.data)
            {
                records.push(new);
            }
        }

        let mut next = self.clone();
        next.soa = soa;
        next.version = self.version + 1;
        let mut qname_changes = Vec::new();
        let mut nsdname_changes = Vec::new();
        for (owner, key, records) in owners {
            let index = if records.is_empty() {
                None
            } else {
                match compile(&records, &key_relative(&key))
                    .and_then(|entry| next.actions.add(entry))
                {
                    Ok(index) => Some(index),
                    Err(reason) => {
                        problems.push(Problem {
                            location: Location::Owner(owner),
                            reason,
                        });
                        None
                    }
                }
            };
            match key {
                TriggerKey::Name(TriggerKind::Nsdname, name) => {
                    nsdname_changes
                        .push((name.into_boxed_slice(), index.map(|index| (index, false))));
                }
                TriggerKey::Name(_, name) => {
                    qname_changes
                        .push((name.into_boxed_slice(), index.map(|index| (index, false))));
                }
                TriggerKey::Address(kind, prefix) => {
                    let map = match kind {
                        TriggerKind::ClientIp => &mut next.client_ip,
                        TriggerKind::Nsip => &mut next.nsip,
                        _ => &mut next.response_ip,
                    };
                    let map = Arc::make_mut(map);
                    match index {
                        Some(index) => {
                            map.insert(prefix, index);
                        }
                        None => {
                            map.remove(&prefix);
                        }
                    }
                }
            }
        }
        if !qname_changes.is_empty() {
            next.qname = next.qname.with_changes(&qname_changes);
        }
        if !nsdname_changes.is_empty() {
            next.nsdname = next.nsdname.with_changes(&nsdname_changes);
        }
        if next.qname.overlay_len() > 65_536.max(next.qname.base_len() / 4) {
            next = next.compacted();
        }
        Ok((next, problems))
    }

    /// The same rules with every update folded into fresh tables. Takes about
    /// as long as a full load; [`Feed::apply_changes`] calls it when the
    /// changes outgrow a quarter of the feed.
    pub fn compacted(&self) -> Feed {
        let mut next = self.clone();
        next.qname = self.qname.compacted(|value| value);
        next.nsdname = self.nsdname.compacted(|value| value);
        next.exceptions = self.exceptions.compacted(|value| value);
        next.actions = self.actions.merged();
        next
    }

    /// Heap bytes held by the name tables (an estimate for metrics).
    pub fn name_table_bytes(&self) -> usize {
        self.qname.base_heap_bytes()
            + self.nsdname.base_heap_bytes()
            + self.exceptions.base_heap_bytes()
    }

    /// Every rule, for inspection and tests: (kind, trigger, action).
    pub fn rules(&self) -> impl Iterator<Item = Rule<'_>> + '_ {
        let names = self
            .qname
            .iter()
            .filter_map(move |(name, value, _)| {
                self.rule_from_value(TriggerKind::Qname, Trigger::Name(name), value, false)
            })
            .chain(self.exceptions.iter().filter_map(move |(name, value, _)| {
                self.rule_from_value(TriggerKind::Qname, Trigger::Name(name), value, true)
            }))
            .chain(self.nsdname.iter().filter_map(move |(name, value, _)| {
                self.rule_from_value(TriggerKind::Nsdname, Trigger::Name(name), value, false)
            }));
        let addresses = [
            (TriggerKind::ClientIp, &self.client_ip),
            (TriggerKind::ResponseIp, &self.response_ip),
            (TriggerKind::Nsip, &self.nsip),
        ]
        .into_iter()
        .flat_map(move |(kind, map)| {
            map.iter().filter_map(move |(prefix, &value)| {
                self.rule_from_value(kind, Trigger::Address(*prefix), value, false)
            })
        });
        names.chain(addresses)
    }
}

/// Converts a name error for a problem report.
pub(crate) fn bad_name(text: &str, error: NameError) -> ProblemReason {
    ProblemReason::BadName(format!("{text}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn zone(text: &str) -> (Feed, Vec<Problem>) {
        let origin = name("rpz.example.");
        let records = hanse_zone::parse_zone(text, &origin, 300).unwrap();
        Feed::from_rpz("test", &origin, &records)
    }

    fn qname_action(feed: &Feed, query: &str) -> Option<PolicyAction> {
        let query = name(query);
        let prepared = PreparedName::new(query.as_wire()).unwrap();
        feed.match_qname(&prepared).map(|rule| rule.action.clone())
    }

    const HEADER: &str = "$TTL 300\n@ SOA ns. h. 7 3600 600 86400 60\n@ NS ns.\n";

    #[test]
    fn records_compile_back_to_the_same_rules() {
        let (feed, problems) = zone(&format!(
            "{HEADER}nx.test CNAME .\nnodata.test CNAME *.\npass.test CNAME rpz-passthru.\n\
             old.test CNAME old.test.\n*.wild.test CNAME rpz-drop.\nlocal.test A 192.0.2.1\n\
             local.test AAAA 2001:db8::1\nns.example.rpz-nsdname CNAME .\n\
             24.0.2.0.192.rpz-ip CNAME .\n128.1.zz.db8.2001.rpz-client-ip CNAME rpz-drop.\n\
             32.1.2.0.192.rpz-nsip CNAME rpz-tcp-only.\n"
        ));
        assert!(problems.is_empty(), "{problems:?}");
        let records = feed.records();
        assert_eq!(records[0].rtype, RType::SOA);
        let (again, problems) = Feed::from_rpz("test", &name("rpz.example."), &records);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(again.serial(), Some(7));
        let mut before: Vec<String> = feed.rules().map(|rule| rule.to_string()).collect();
        let mut after: Vec<String> = again.rules().map(|rule| rule.to_string()).collect();
        before.sort();
        after.sort();
        assert_eq!(before.len(), 10);
        assert_eq!(before, after);
        let (list, _) = Feed::from_domains("list", "example.com\n");
        assert!(list.records().is_empty());
    }

    #[test]
    fn actions_from_cname_targets() {
        let (feed, problems) = zone(&format!(
            "{HEADER}nx.test CNAME .\nnodata.test CNAME *.\npass.test CNAME rpz-passthru.\n\
             drop.test CNAME rpz-drop.\ntcp.test CNAME rpz-tcp-only.\nold.test CNAME old.test.\n\
             garden.test CNAME walled.garden.\nwild.test CNAME *.garden.\nlocal.test A 192.0.2.1\n\
             local.test AAAA 2001:db8::1\n"
        ));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(feed.serial(), Some(7));
        assert_eq!(qname_action(&feed, "nx.test"), Some(PolicyAction::Nxdomain));
        assert_eq!(
            qname_action(&feed, "nodata.test"),
            Some(PolicyAction::Nodata)
        );
        assert_eq!(
            qname_action(&feed, "pass.test"),
            Some(PolicyAction::Passthru)
        );
        assert_eq!(
            qname_action(&feed, "old.test"),
            Some(PolicyAction::Passthru)
        );
        assert_eq!(qname_action(&feed, "drop.test"), Some(PolicyAction::Drop));
        assert_eq!(qname_action(&feed, "tcp.test"), Some(PolicyAction::TcpOnly));
        let Some(PolicyAction::LocalData(records)) = qname_action(&feed, "local.test") else {
            panic!("local data expected");
        };
        assert_eq!(records.len(), 2);
        let Some(PolicyAction::LocalData(records)) = qname_action(&feed, "wild.test") else {
            panic!("local data expected");
        };
        assert_eq!(&*records[0].data, b"\x01*\x06garden\x00");
    }

    #[test]
    fn address_triggers_decode() {
        let (feed, problems) = zone(&format!(
            "{HEADER}24.0.4.168.192.rpz-ip CNAME .\n128.1.zz.3.2.2001.rpz-ip CNAME .\n\
             32.1.0.53.10.rpz-client-ip A 127.0.0.17\n16.0.0.1.2.rpz-nsip CNAME .\n\
             ns.evil.rpz-nsdname CNAME .\n*.bad.rpz-nsdname CNAME .\n\
             1000.4.0.53.10.rpz-client-ip A 10.53.0.1\n24.1.4.168.192.rpz-ip CNAME .\n\
             128.2.0.0.0.0.3.2.2001.rpz-ip CNAME .\n"
        ));
        assert_eq!(problems.len(), 2, "{problems:?}");
        let counts = feed.counts();
        assert_eq!(counts.response_ip, 3);
        assert_eq!(counts.client_ip, 1);
        assert_eq!(counts.nsip, 1);
        assert_eq!(counts.nsdname, 2);
        let rule = feed
            .match_address(TriggerKind::ResponseIp, "192.168.4.9".parse().unwrap())
            .unwrap();
        assert_eq!(rule.trigger_text(), "24.0.4.168.192.rpz-ip");
        let rule = feed
            .match_address(TriggerKind::ResponseIp, "2001:2:3::1".parse().unwrap())
            .unwrap();
        assert_eq!(rule.trigger_text(), "128.1.zz.3.2.2001.rpz-ip");
        assert!(
            feed.match_address(TriggerKind::ResponseIp, "2001:2:3::2".parse().unwrap())
                .is_some()
        );
        let ns = name("a.bad.");
        let rule = feed
            .match_nsdname(&PreparedName::new(ns.as_wire()).unwrap())
            .unwrap();
        assert_eq!(rule.trigger_text(), "*.bad.rpz-nsdname");
    }

    #[test]
    fn encode_and_decode_agree() {
        for text in [
            "192.0.2.0/24",
            "2001:db8::/32",
            "2001:db8:0:1::5/128",
            "::/1",
            "1::/16",
        ] {
            let prefix: Prefix = text.parse().unwrap();
            let encoded = encode_address(prefix);
            let labels: Vec<&[u8]> = encoded.split('.').map(str::as_bytes).collect();
            assert_eq!(decode_address(&labels), Ok(prefix), "{encoded}");
        }
    }

    #[test]
    fn apex_and_bad_records_are_reported_not_fatal() {
        let (feed, problems) = zone(&format!(
            "{HEADER}@ A 192.0.2.1\nboth.test CNAME .\nboth.test A 192.0.2.1\ngood.test CNAME .\n"
        ));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            qname_action(&feed, "good.test"),
            Some(PolicyAction::Nxdomain)
        );
        let origin = name("rpz.example.");
        let outside = hanse_zone::parse_zone("x.other. 300 CNAME .\n", &origin, 300).unwrap();
        let (_, problems) = Feed::from_rpz("t", &origin, &outside);
        assert_eq!(problems[0].reason, ProblemReason::OutOfZone);
    }

    #[test]
    fn non_adjacent_records_of_one_owner_merge() {
        let (feed, problems) = zone(&format!(
            "{HEADER}m.test A 192.0.2.1\nother.test CNAME .\nm.test TXT \"x\"\n"
        ));
        assert!(problems.is_empty());
        let Some(PolicyAction::LocalData(records)) = qname_action(&feed, "m.test") else {
            panic!("local data expected");
        };
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn incremental_changes_make_a_new_generation() {
        let (feed, _) = zone(&format!(
            "{HEADER}a.test CNAME .\nb.test A 192.0.2.1\n32.1.2.0.192.rpz-ip CNAME .\n"
        ));
        let origin = name("rpz.example.");
        let parse = |text: &str| hanse_zone::parse_zone(text, &origin, 300).unwrap();
        let removed = parse(
            "@ SOA ns. h. 7 3600 600 86400 60\na.test CNAME .\nb.test A 192.0.2.1\n32.1.2.0.192.rpz-ip CNAME .\n",
        );
        let added = parse(
            "@ SOA ns. h. 8 3600 600 86400 60\nc.test CNAME *.\nb.test A 192.0.2.2\n24.0.2.0.192.rpz-ip CNAME rpz-drop.\n",
        );
        let (next, problems) = feed.apply_changes(&removed, &added).unwrap();
        assert!(problems.is_empty());
        assert_eq!(next.serial(), Some(8));
        assert_eq!(next.version(), 2);
        assert_eq!(qname_action(&next, "a.test"), None);
        assert_eq!(qname_action(&next, "c.test"), Some(PolicyAction::Nodata));
        assert_eq!(qname_action(&feed, "a.test"), Some(PolicyAction::Nxdomain));
        let Some(PolicyAction::LocalData(records)) = qname_action(&next, "b.test") else {
            panic!("local data expected");
        };
        assert_eq!(&*records[0].data, &[192, 0, 2, 2]);
        let rule = next
            .match_address(TriggerKind::ResponseIp, "192.0.2.1".parse().unwrap())
            .unwrap();
        assert_eq!(*rule.action, PolicyAction::Drop);
        let missing = parse("zzz.test CNAME .\n");
        assert!(matches!(
            next.apply_changes(&missing, &[]),
            Err(FeedError::MissingRecord { .. })
        ));
        let compact = next.compacted();
        assert_eq!(compact.counts(), next.counts());
        assert_eq!(qname_action(&compact, "c.test"), Some(PolicyAction::Nodata));
    }
}
