//! Loading the filtering policy: reads the file of every `[[policy.feed]]`,
//! compiles it with the policy engine (`hanse_policy`), and builds the
//! [`PolicySet`] that the server applies.
//!
//! Bad input (issue 3, item 8):
//! - A feed file that cannot be read, a policy zone with a syntax error
//!   (reported with its line and column), a policy zone without an origin,
//!   or a policy the engine refuses to build is an error: the whole load
//!   fails. At start-up Hanse does not start; on SIGHUP the previous
//!   configuration and policy stay in force.
//! - A line of a list, or a record of a policy zone, that the engine cannot
//!   compile is skipped and reported as a warning (file, line or owner,
//!   reason); the rest of the feed loads.
//!
//! A load builds a new policy beside the one in force; nothing is shared
//! with the previous one, and the caller swaps it in whole.
//!
//! # Limitations
//! - Feeds come from files only; URLs and zone transfers come later.
//! - Policy zone problems name the record's owner, not its line: the zone
//!   parser gives the records without their positions.
//! - Bytes that are not UTF-8 are replaced before parsing, so the line they
//!   are on is reported (or, in a comment, ignored) rather than the file.
//! - Every load reads and compiles every feed again, changed or not.

use crate::config::{FeedLocation, FeedSource, PolicySection};
use hanse_policy::{Feed, FeedFormat, Location, PolicySet, Problem};
use hanse_wire::{Name, RType};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Per feed, the problems reported one by one; more are only counted.
const MAX_PROBLEMS_LISTED: usize = 20;

/// The TTL of policy zone records without one, before any `$TTL`.
const DEFAULT_ZONE_TTL: u32 = 300;

/// A built policy and what was noticed while building it.
#[derive(Debug, Default)]
pub struct PolicyLoad {
    /// The policy; `None` when the configuration has no `[policy]` feeds or
    /// profiles.
    pub policy: Option<Arc<PolicySet>>,
    /// Skipped lines and records, one a line, ready to print.
    pub warnings: Vec<String>,
    /// One line per feed: its rules, version and skipped entries.
    pub summaries: Vec<String>,
}

/// Reads every feed of `section` and builds the policy. Returns every error
/// found (one a line) if any feed cannot be loaded or the policy cannot be
/// built.
pub fn load_policy(section: &PolicySection) -> Result<PolicyLoad, Vec<String>> {
    if section.is_empty() {
        return Ok(PolicyLoad::default());
    }
    let mut load = PolicyLoad::default();
    let mut errors = Vec::new();
    let mut feeds = Vec::with_capacity(section.feeds.len());
    for source in &section.feeds {
        match load_feed(source) {
            Ok((feed, problems)) => {
                load.warnings.extend(describe_problems(source, &problems));
                load.summaries
                    .push(summarise(source, &feed, problems.len()));
                feeds.push(feed);
            }
            Err(error) => errors.push(error),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let policy = PolicySet::build(section.profiles.clone(), section.clients.clone(), feeds)
        .map_err(|error| vec![format!("the filtering policy cannot be built: {error}")])?;
    load.policy = Some(Arc::new(policy));
    Ok(load)
}

/// Reads and compiles one feed. The error is one line, starting with the
/// file (and line and column when known).
fn load_feed(source: &FeedSource) -> Result<(Feed, Vec<Problem>), String> {
    let FeedLocation::File(file) = &source.location else {
        return Err(format!(
            "{}: feed {}: remote feeds are loaded by the feed supply, which is not wired in yet",
            source.location, source.name
        ));
    };
    let path = file.display();
    let bytes = std::fs::read(file)
        .map_err(|error| format!("{path}: feed {}: cannot read: {error}", source.name))?;
    let text = String::from_utf8_lossy(&bytes);
    let (feed, problems) = match source.format {
        FeedFormat::Rpz => load_zone(source, &text)?,
        FeedFormat::Hosts => Feed::from_hosts(&source.name, &text),
        FeedFormat::Domains => Feed::from_domains(&source.name, &text),
        FeedFormat::Adblock => Feed::from_adblock(&source.name, &text),
    };
    let feed = match source.format {
        FeedFormat::Rpz => feed,
        // Lists have no serial: their version is the file's modification
        // time, so an explanation tells which copy decided.
        _ => match modified_seconds(source) {
            Some(seconds) => feed.with_version(seconds),
            None => feed,
        },
    };
    Ok((feed, problems))
}

/// A policy zone: the file parsed as a master file, then compiled. The
/// origin is the configured one, else the owner of the zone's SOA record.
fn load_zone(source: &FeedSource, text: &str) -> Result<(Feed, Vec<Problem>), String> {
    let path = &source.location;
    let initial_origin = source.origin.clone().unwrap_or_else(Name::root);
    let records =
        hanse_zone::parse_zone(text, &initial_origin, DEFAULT_ZONE_TTL).map_err(|error| {
            format!(
                "{path}:{}:{}: feed {}: {} (a policy zone with a syntax error is not loaded)",
                error.line, error.column, source.name, error.message
            )
        })?;
    let origin = match &source.origin {
        Some(origin) => origin.clone(),
        None => records
            .iter()
            .find(|record| record.rtype == RType::SOA)
            .map(|record| record.name.clone())
            .filter(|owner| !owner.is_root())
            .ok_or_else(|| {
                format!(
                    "{path}: feed {}: the zone has no SOA record below the root to take its \
                     origin from; set origin = \"...\" in its [[policy.feed]] entry",
                    source.name
                )
            })?,
    };
    Ok(Feed::from_rpz(&source.name, &origin, &records))
}

fn modified_seconds(source: &FeedSource) -> Option<u64> {
    let FeedLocation::File(file) = &source.location else {
        return None;
    };
    let modified = std::fs::metadata(file).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// The problems as `FILE:LINE: feed NAME: REASON (skipped)` lines, at most
/// [`MAX_PROBLEMS_LISTED`] and a count of the rest.
fn describe_problems(source: &FeedSource, problems: &[Problem]) -> Vec<String> {
    let path = &source.location;
    let mut lines: Vec<String> = problems
        .iter()
        .take(MAX_PROBLEMS_LISTED)
        .map(|problem| match &problem.location {
            Location::Line(line) => format!(
                "{path}:{line}: feed {}: {} (skipped)",
                source.name, problem.reason
            ),
            Location::Owner(owner) => format!(
                "{path}: feed {}: owner {owner}: {} (skipped)",
                source.name, problem.reason
            ),
        })
        .collect();
    if problems.len() > MAX_PROBLEMS_LISTED {
        lines.push(format!(
            "{path}: feed {}: {} more problems (skipped)",
            source.name,
            problems.len() - MAX_PROBLEMS_LISTED
        ));
    }
    lines
}

/// `feed NAME (FORMAT, FILE): N rules, serial S, K skipped`.
fn summarise(source: &FeedSource, feed: &Feed, skipped: usize) -> String {
    let generation = match feed.serial() {
        Some(serial) => format!("serial {serial}"),
        None => format!("version {}", feed.version()),
    };
    format!(
        "feed {} ({}, {}): {} rules, {generation}, {skipped} skipped",
        source.name,
        source.format,
        source.location,
        feed.counts().total(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_policy::{ClientInfo, EdeCode, ProfileSpec, UnixTime};
    use std::path::PathBuf;

    /// A file in the temporary directory, removed on drop.
    struct TemporaryFile(PathBuf);

    impl TemporaryFile {
        fn new(tag: &str, text: &str) -> TemporaryFile {
            let path =
                std::env::temp_dir().join(format!("hanse-feeds-test-{}-{tag}", std::process::id()));
            std::fs::write(&path, text).expect("temporary file");
            TemporaryFile(path)
        }
    }

    impl Drop for TemporaryFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn source(name: &str, format: FeedFormat, file: &TemporaryFile) -> FeedSource {
        FeedSource {
            name: name.to_owned(),
            format,
            location: FeedLocation::File(file.0.clone()),
            origin: None,
            ede: EdeCode::Blocked,
        }
    }

    fn section(feeds: Vec<FeedSource>) -> PolicySection {
        let names: Vec<&str> = feeds.iter().map(|feed| feed.name.as_str()).collect();
        let profiles = vec![ProfileSpec::new("default", &names)];
        PolicySection {
            feeds,
            profiles,
            clients: Vec::new(),
            ..PolicySection::default()
        }
    }

    fn decision(policy: &PolicySet, name: &str) -> String {
        let name = Name::from_ascii(name).expect("test name");
        let explanation = policy.explain(&name, RType::A, &ClientInfo::default(), UnixTime(0));
        explanation.answer
    }

    #[test]
    fn an_empty_section_gives_no_policy() {
        let load = load_policy(&PolicySection::default()).expect("empty");
        assert!(load.policy.is_none());
        assert!(load.warnings.is_empty() && load.summaries.is_empty());
    }

    #[test]
    fn a_policy_zone_takes_its_origin_from_the_soa() {
        let zone = TemporaryFile::new(
            "origin.rpz",
            "$ORIGIN rpz.test.\n$TTL 60\n@ SOA ns. host. 7 1 1 1 1\n@ NS ns.\n\
             evil.example CNAME .\nbad.example A 192.0.2.1\nbad.example CNAME .\n",
        );
        let load = load_policy(&section(vec![source("zone", FeedFormat::Rpz, &zone)]))
            .expect("the zone loads");
        let policy = load.policy.expect("a policy");
        assert!(decision(&policy, "evil.example.").starts_with("NXDOMAIN"));
        assert_eq!(decision(&policy, "good.example."), "resolved normally");
        assert_eq!(load.warnings.len(), 1, "{:?}", load.warnings);
        assert!(load.warnings[0].contains("owner bad.example.rpz.test."));
        assert!(
            load.summaries[0].contains("serial 7"),
            "{:?}",
            load.summaries
        );
    }

    #[test]
    fn a_policy_zone_without_soa_or_origin_is_refused() {
        let zone = TemporaryFile::new("no-soa.rpz", "evil.example. CNAME .\n");
        let errors = load_policy(&section(vec![source("zone", FeedFormat::Rpz, &zone)]))
            .expect_err("no origin");
        assert!(errors[0].contains("set origin"), "{errors:?}");
        let mut configured = source("zone", FeedFormat::Rpz, &zone);
        configured.origin = Some(Name::from_ascii("example.").expect("origin"));
        let load = load_policy(&section(vec![configured])).expect("with an origin");
        assert!(decision(&load.policy.expect("policy"), "evil.").starts_with("NXDOMAIN"));
    }

    #[test]
    fn a_zone_syntax_error_names_the_line_and_column() {
        let zone = TemporaryFile::new(
            "syntax.rpz",
            "$ORIGIN rpz.test.\n@ SOA ns. host. 1 1 1 1 1\nevil CNAME\n",
        );
        let errors = load_policy(&section(vec![source("zone", FeedFormat::Rpz, &zone)]))
            .expect_err("syntax error");
        assert!(
            errors[0].contains("syntax.rpz:3:") && errors[0].contains("feed zone"),
            "{errors:?}"
        );
    }

    #[test]
    fn list_problems_are_capped_and_the_rest_loads() {
        let mut text = String::from("0.0.0.0 blocked.example\n");
        for _ in 0..25 {
            text.push_str("not-an-address name.example\n");
        }
        let hosts = TemporaryFile::new("many.hosts", &text);
        let load = load_policy(&section(vec![source("hosts", FeedFormat::Hosts, &hosts)]))
            .expect("hosts load");
        assert_eq!(load.warnings.len(), MAX_PROBLEMS_LISTED + 1);
        assert!(
            load.warnings[0]
                .ends_with(":2: feed hosts: hosts line does not start with an address (skipped)"),
            "{}",
            load.warnings[0]
        );
        assert!(load.warnings[MAX_PROBLEMS_LISTED].contains("5 more problems"));
        assert!(load.summaries[0].contains("1 rules") && load.summaries[0].contains("25 skipped"));
        assert!(
            decision(&load.policy.expect("policy"), "blocked.example.").starts_with("NXDOMAIN")
        );
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let hosts = TemporaryFile::new("gone.hosts", "");
        let feed = source("gone", FeedFormat::Hosts, &hosts);
        drop(hosts);
        let errors = load_policy(&section(vec![feed])).expect_err("missing");
        assert!(errors[0].contains("feed gone: cannot read"), "{errors:?}");
    }
}
