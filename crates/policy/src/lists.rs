//! Block lists as feeds: hosts files, plain domain lists and the DNS subset
//! of adblock filter syntax, compiled into the same [`Feed`] as a policy zone.
//!
//! What each format means:
//! - **hosts** (`/etc/hosts` layout, RFC 952 heritage): `address name…`,
//!   `#` comments. A null or loopback address (`0.0.0.0`, `127.0.0.0/8`,
//!   `::`, `::1`) blocks exactly the names listed, not their subdomains;
//!   any other address becomes local data (A or AAAA). System names such as
//!   `localhost` are skipped and reported.
//! - **domains**: one name per line, `#` comments. A name blocks itself and
//!   everything below it (the usual meaning of domain lists). `*.name` blocks
//!   only the names below `name`.
//! - **adblock**: `||name^` blocks the name and everything below it,
//!   `@@||name^` is an exception that wins over every block rule of the same
//!   feed, `$important` is accepted and has no further effect. Comments
//!   (`!`), `[Adblock…]` headers and blank lines are ignored. Every other
//!   rule (URL paths, wildcards, other `$` options, cosmetic `##` rules,
//!   plain names) is skipped and reported with its line.
//!
//! A block entry takes the profile's block answer. Bad lines are skipped and
//! reported; the rest of the list loads.
//!
//! # Limitations
//! - Names must be in A-label form; no IDNA mapping.
//! - Numeric names (`192.0.2.1` as a name) are accepted as names, as RPZ
//!   loaders do; they match only queries for that literal name.
//! - The first entry for a name wins; later duplicates are ignored silently.

use crate::feed::{
    ActionEntry, ActionTable, Feed, FeedFormat, LIST_ACTION_FLAG, LocalRecord, Location,
    PolicyAction, Problem, ProblemReason, bad_name,
};
use crate::name_table::{MAX_VALUE, NameTable, NameTableBuilder};
use crate::prefix::PrefixMap;
use hanse_wire::{Name, RType};
use std::net::IpAddr;
use std::sync::Arc;

/// The TTL of answers synthesised from list entries.
pub const LIST_TTL: u32 = 300;

/// Names that hosts files carry for the local system.
const LOCAL_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

/// The lower-case wire form of a list entry, checked to be a host name
/// (letters, digits, `-`, `_`, dots; a leading `*.` when `allow_wildcard`).
fn entry_wire(text: &str, allow_wildcard: bool) -> Result<Vec<u8>, ProblemReason> {
    let text = text.strip_suffix('.').unwrap_or(text);
    let body = match text.strip_prefix("*.") {
        Some(body) if allow_wildcard => body,
        _ => text,
    };
    if body.is_empty()
        || !body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
    {
        return Err(ProblemReason::BadName(text.to_owned()));
    }
    let name = Name::from_ascii(text).map_err(|error| bad_name(text, error))?;
    Ok(name.as_wire().to_ascii_lowercase())
}

fn line_value(line: usize) -> Result<u32, ProblemReason> {
    u32::try_from(line)
        .ok()
        .filter(|&line| line < LIST_ACTION_FLAG)
        .ok_or(ProblemReason::TooLarge)
}

struct ListBuilder {
    name: String,
    format: FeedFormat,
    blocks: NameTableBuilder,
    exceptions: NameTableBuilder,
    actions: Vec<ActionEntry>,
    problems: Vec<Problem>,
}

impl ListBuilder {
    fn new(name: &str, format: FeedFormat, text: &str) -> ListBuilder {
        let lines = text.lines().count();
        ListBuilder {
            name: name.to_owned(),
            format,
            blocks: NameTableBuilder::with_capacity(lines, 20),
            exceptions: NameTableBuilder::with_capacity(0, 0),
            actions: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn skip(&mut self, line: usize, reason: ProblemReason) {
        self.problems.push(Problem {
            location: Location::Line(line),
            reason,
        });
    }

    /// Adds a block entry unless the name already has one.
    fn block(&mut self, line: usize, wire: &[u8], subtree: bool) {
        if self.blocks.get(wire).is_some() {
            return;
        }
        let result = line_value(line).and_then(|value| {
            self.blocks
                .insert(wire, value, subtree)
                .map_err(|()| ProblemReason::TooLarge)
        });
        if let Err(reason) = result {
            self.skip(line, reason);
        }
    }

    fn exception(&mut self, line: usize, wire: &[u8]) {
        if self.exceptions.get(wire).is_some() {
            return;
        }
        let result = line_value(line).and_then(|value| {
            self.exceptions
                .insert(wire, value, true)
                .map_err(|()| ProblemReason::TooLarge)
        });
        if let Err(reason) = result {
            self.skip(line, reason);
        }
    }

    /// Adds local data (a hosts entry with a real address), merging the
    /// records of one name.
    fn local(&mut self, line: usize, wire: &[u8], record: LocalRecord) {
        if let Some(value) = self.blocks.get(wire) {
            if value & LIST_ACTION_FLAG != 0
                && let Some(ActionEntry {
                    action: PolicyAction::LocalData(records),
                    ..
                }) = self.actions.get_mut((value & !LIST_ACTION_FLAG) as usize)
                && !records.contains(&record)
            {
                let mut all = records.to_vec();
                all.push(record);
                *records = all.into();
            }
            return;
        }
        let index = self.actions.len() as u32;
        if index > MAX_VALUE & !LIST_ACTION_FLAG {
            self.skip(line, ProblemReason::TooLarge);
            return;
        }
        self.actions.push(ActionEntry {
            action: PolicyAction::LocalData(Box::new([record])),
            ttl: LIST_TTL,
            legacy_passthru: false,
            line: line as u32,
        });
        if self
            .blocks
            .insert(wire, index | LIST_ACTION_FLAG, false)
            .is_err()
        {
            self.skip(line, ProblemReason::TooLarge);
        }
    }

    fn finish(self) -> (Feed, Vec<Problem>) {
        let mut actions = ActionTable::default();
        for entry in self.actions {
            // Local-data entries are never shared, so each keeps its position;
            // the size limit was checked when the entry was made.
            let _ = actions.add(entry);
        }
        let actions = actions.merged();
        let feed = Feed {
            name: self.name.into(),
            format: self.format,
            origin: None,
            soa: None,
            version: 1,
            qname: self.blocks.finish(),
            nsdname: NameTable::default(),
            exceptions: self.exceptions.finish(),
            client_ip: Arc::new(PrefixMap::default()),
            response_ip: Arc::new(PrefixMap::default()),
            nsip: Arc::new(PrefixMap::default()),
            actions,
        };
        (feed, self.problems)
    }
}

/// Strips a `#` comment and surrounding blanks.
fn without_comment(line: &str) -> &str {
    line.split_once('#')
        .map_or(line, |(before, _)| before)
        .trim()
}

/// Whether an address in a hosts file means "block".
fn is_null_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_loopback(),
    }
}

impl Feed {
    /// Compiles a hosts file; see the module documentation of `lists` for the
    /// meaning. Lines that cannot be read are skipped and reported.
    pub fn from_hosts(name: &str, text: &str) -> (Feed, Vec<Problem>) {
        let mut builder = ListBuilder::new(name, FeedFormat::Hosts, text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = without_comment(raw);
            if content.is_empty() {
                continue;
            }
            let mut fields = content.split_whitespace();
            let Some(address) = fields.next().and_then(|field| field.parse::<IpAddr>().ok()) else {
                builder.skip(line, ProblemReason::BadHostsAddress);
                continue;
            };
            let mut any = false;
            for field in fields {
                any = true;
                if LOCAL_NAMES
                    .iter()
                    .any(|local| local.eq_ignore_ascii_case(field.trim_end_matches('.')))
                {
                    builder.skip(line, ProblemReason::LocalName);
                    continue;
                }
                let wire = match entry_wire(field, false) {
                    Ok(wire) => wire,
                    Err(reason) => {
                        builder.skip(line, reason);
                        continue;
                    }
                };
                if is_null_address(address) {
                    builder.block(line, &wire, false);
                } else {
                    let (rtype, data): (RType, Box<[u8]>) = match address {
                        IpAddr::V4(v4) => (RType::A, v4.octets().into()),
                        IpAddr::V6(v6) => (RType::AAAA, v6.octets().into()),
                    };
                    builder.local(
                        line,
                        &wire,
                        LocalRecord {
                            rtype,
                            ttl: LIST_TTL,
                            data,
                        },
                    );
                }
            }
            if !any {
                builder.skip(line, ProblemReason::MissingName);
            }
        }
        builder.finish()
    }

    /// Compiles a list of domain names, one per line; each blocks itself and
    /// its subdomains. Lines that cannot be read are skipped and reported.
    pub fn from_domains(name: &str, text: &str) -> (Feed, Vec<Problem>) {
        let mut builder = ListBuilder::new(name, FeedFormat::Domains, text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = without_comment(raw);
            if content.is_empty() {
                continue;
            }
            if content.split_whitespace().nth(1).is_some() {
                builder.skip(line, ProblemReason::BadName(content.to_owned()));
                continue;
            }
            match entry_wire(content, true) {
                Ok(wire) => {
                    let wildcard = wire.starts_with(b"\x01*");
                    builder.block(line, &wire, !wildcard);
                }
                Err(reason) => builder.skip(line, reason),
            }
        }
        builder.finish()
    }

    /// Compiles adblock-style rules (the subset in the module documentation
    /// of `lists`). Rules outside the subset are skipped and reported.
    pub fn from_adblock(name: &str, text: &str) -> (Feed, Vec<Problem>) {
        let mut builder = ListBuilder::new(name, FeedFormat::Adblock, text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim();
            if content.is_empty() || content.starts_with('!') || content.starts_with('[') {
                continue;
            }
            let (exception, rule) = match content.strip_prefix("@@") {
                Some(rule) => (true, rule),
                None => (false, content),
            };
            let (rule, options) = match rule.split_once('$') {
                Some((rule, options)) => (rule, Some(options)),
                None => (rule, None),
            };
            if options.is_some_and(|options| !options.eq_ignore_ascii_case("important")) {
                builder.skip(line, ProblemReason::UnsupportedRule);
                continue;
            }
            let Some(domain) = rule
                .strip_prefix("||")
                .and_then(|rest| rest.strip_suffix('^'))
            else {
                builder.skip(line, ProblemReason::UnsupportedRule);
                continue;
            };
            match entry_wire(domain, false) {
                Ok(wire) if exception => builder.exception(line, &wire),
                Ok(wire) => builder.block(line, &wire, true),
                Err(_) => builder.skip(line, ProblemReason::UnsupportedRule),
            }
        }
        builder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name_table::PreparedName;

    fn action(feed: &Feed, query: &str) -> Option<(PolicyAction, Option<u32>)> {
        let query = Name::from_ascii(query).unwrap();
        let prepared = PreparedName::new(query.as_wire()).unwrap();
        feed.match_qname(&prepared)
            .map(|rule| (rule.action.clone(), rule.line))
    }

    #[test]
    fn hosts_block_exact_names_and_keep_real_addresses() {
        let text = "# comment\n127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example # x\n\
                    192.0.2.7 printer.lan\n2001:db8::7 printer.lan\nnonsense\n0.0.0.0\n:: bad/name\n";
        let (feed, problems) = Feed::from_hosts("h", text);
        assert_eq!(
            action(&feed, "ads.example"),
            Some((PolicyAction::Block, Some(3)))
        );
        assert_eq!(action(&feed, "x.ads.example"), None);
        assert_eq!(
            action(&feed, "tracker.example"),
            Some((PolicyAction::Block, Some(3)))
        );
        let Some((PolicyAction::LocalData(records), Some(4))) = action(&feed, "printer.lan") else {
            panic!("local data expected");
        };
        assert_eq!(records.len(), 2);
        let lines: Vec<_> = problems
            .iter()
            .map(|problem| (problem.location.clone(), problem.reason.clone()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (Location::Line(2), ProblemReason::LocalName),
                (Location::Line(6), ProblemReason::BadHostsAddress),
                (Location::Line(7), ProblemReason::MissingName),
                (Location::Line(8), ProblemReason::BadName("bad/name".into())),
            ]
        );
    }

    #[test]
    fn domains_cover_subdomains() {
        let text = "example.com\nfoo.com. #Inline Comment\n*.bar.com\n\nbad name\n192.0.2.1\n";
        let (feed, problems) = Feed::from_domains("d", text);
        assert_eq!(problems.len(), 1);
        // Numeric names are legal DNS names; lists derived from URL lists carry them.
        assert!(action(&feed, "192.0.2.1").is_some());
        assert!(action(&feed, "example.com").is_some());
        assert!(action(&feed, "a.b.example.com").is_some());
        assert!(action(&feed, "foo.com").is_some());
        assert!(action(&feed, "bar.com").is_none());
        assert!(action(&feed, "x.bar.com").is_some());
        assert!(action(&feed, "com").is_none());
    }

    #[test]
    fn adblock_subset_with_exceptions() {
        let text = "[Adblock Plus 2.0]\n! comment\n||ads.example^\n||example.org^$important\n\
                    @@||ok.ads.example^\n@@||example.org^\n||x.example^$third-party\n\
                    example.net##.banner\n/path/ad.js\n||wild*.example^\n";
        let (feed, problems) = Feed::from_adblock("a", text);
        assert_eq!(
            action(&feed, "ads.example"),
            Some((PolicyAction::Block, Some(3)))
        );
        assert_eq!(
            action(&feed, "deep.x.ads.example"),
            Some((PolicyAction::Block, Some(3)))
        );
        assert_eq!(
            action(&feed, "ok.ads.example"),
            Some((PolicyAction::Passthru, Some(5)))
        );
        assert_eq!(
            action(&feed, "a.ok.ads.example"),
            Some((PolicyAction::Passthru, Some(5)))
        );
        assert_eq!(
            action(&feed, "www.example.org"),
            Some((PolicyAction::Passthru, Some(6)))
        );
        let skipped: Vec<_> = problems
            .iter()
            .map(|problem| problem.location.clone())
            .collect();
        assert_eq!(
            skipped,
            vec![
                Location::Line(7),
                Location::Line(8),
                Location::Line(9),
                Location::Line(10)
            ]
        );
        assert_eq!(feed.counts().qname, 2);
        assert_eq!(feed.counts().exceptions, 2);
    }
}
