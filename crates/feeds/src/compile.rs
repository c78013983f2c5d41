//! Compiling the text of a feed (a file, a fetched list, a saved copy) with
//! the policy engine, and describing what was noticed on the way.
//!
//! Behaviour (issue 3, item 8): a policy zone with a syntax error is refused
//! whole, with `WHERE:LINE:COLUMN`; a policy zone without an origin (neither
//! configured nor an SOA below the root) is refused; a list line or a zone
//! record the engine cannot compile is skipped and reported.
//!
//! # Limitations
//! - Policy zone problems name the record's owner, not its line: the zone
//!   parser gives the records without their positions.
//! - Bytes that are not UTF-8 are replaced before parsing, so the line they
//!   are on is reported (or, in a comment, ignored) rather than the file.

use crate::error::CompileError;
use hanse_policy::{Feed, FeedFormat, Location, Problem};
use hanse_wire::{Name, RType};

/// Per feed and update, the problems reported one by one; more are only
/// counted.
pub const MAX_PROBLEMS_LISTED: usize = 20;

/// The TTL of policy zone records without one, before any `$TTL`.
pub const DEFAULT_ZONE_TTL: u32 = 300;

/// Compiles the text of a feed. `place` names where the text came from (a
/// path, a URL) and starts every error.
pub fn compile_text(
    name: &str,
    format: FeedFormat,
    origin: Option<&Name>,
    place: &str,
    bytes: &[u8],
) -> Result<(Feed, Vec<Problem>), CompileError> {
    let text = String::from_utf8_lossy(bytes);
    Ok(match format {
        FeedFormat::Rpz => compile_zone(name, origin, place, &text)?,
        FeedFormat::Hosts => Feed::from_hosts(name, &text),
        FeedFormat::Domains => Feed::from_domains(name, &text),
        FeedFormat::Adblock => Feed::from_adblock(name, &text),
    })
}

/// A policy zone: the text parsed as a master file, then compiled. The
/// origin is the configured one, else the owner of the zone's SOA record.
fn compile_zone(
    name: &str,
    origin: Option<&Name>,
    place: &str,
    text: &str,
) -> Result<(Feed, Vec<Problem>), CompileError> {
    let initial_origin = origin.cloned().unwrap_or_else(Name::root);
    let records =
        hanse_zone::parse_zone(text, &initial_origin, DEFAULT_ZONE_TTL).map_err(|error| {
            CompileError::Syntax {
                place: place.to_owned(),
                feed: name.to_owned(),
                line: error.line,
                column: error.column,
                message: error.message,
            }
        })?;
    let origin = match origin {
        Some(origin) => origin.clone(),
        None => records
            .iter()
            .find(|record| record.rtype == RType::SOA)
            .map(|record| record.name.clone())
            .filter(|owner| !owner.is_root())
            .ok_or_else(|| CompileError::NoOrigin {
                place: place.to_owned(),
                feed: name.to_owned(),
            })?,
    };
    Ok(Feed::from_rpz(name, &origin, &records))
}

/// An empty feed of the right name and format: a remote feed before its
/// first copy.
pub fn empty_feed(name: &str, format: FeedFormat, origin: Option<&Name>) -> Feed {
    match format {
        FeedFormat::Rpz => Feed::from_rpz(name, &origin.cloned().unwrap_or_else(Name::root), &[]).0,
        FeedFormat::Hosts => Feed::from_hosts(name, "").0,
        FeedFormat::Domains => Feed::from_domains(name, "").0,
        FeedFormat::Adblock => Feed::from_adblock(name, "").0,
    }
    .with_version(0)
}

/// The problems as `WHERE:LINE: feed NAME: REASON (skipped)` lines, at most
/// [`MAX_PROBLEMS_LISTED`] and a count of the rest.
pub fn describe_problems(name: &str, place: &str, problems: &[Problem]) -> Vec<String> {
    let mut lines: Vec<String> = problems
        .iter()
        .take(MAX_PROBLEMS_LISTED)
        .map(|problem| match &problem.location {
            Location::Line(line) => {
                format!("{place}:{line}: feed {name}: {} (skipped)", problem.reason)
            }
            Location::Owner(owner) => format!(
                "{place}: feed {name}: owner {owner}: {} (skipped)",
                problem.reason
            ),
        })
        .collect();
    if problems.len() > MAX_PROBLEMS_LISTED {
        lines.push(format!(
            "{place}: feed {name}: {} more problems (skipped)",
            problems.len() - MAX_PROBLEMS_LISTED
        ));
    }
    lines
}

/// `feed NAME (FORMAT, WHERE): N rules, serial S, K skipped`.
pub fn summarise(feed: &Feed, place: &str, skipped: usize) -> String {
    let generation = match feed.serial() {
        Some(serial) => format!("serial {serial}"),
        None => format!("version {}", feed.version()),
    };
    format!(
        "feed {} ({}, {place}): {} rules, {generation}, {skipped} skipped",
        feed.name(),
        feed.format(),
        feed.counts().total(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_syntax_error_names_the_line_and_column() {
        let error = compile_text(
            "zone",
            FeedFormat::Rpz,
            None,
            "syntax.rpz",
            b"$ORIGIN rpz.test.\n@ SOA ns. host. 1 1 1 1 1\nevil CNAME\n",
        )
        .expect_err("syntax error")
        .to_string();
        assert!(
            error.starts_with("syntax.rpz:3:") && error.contains("feed zone"),
            "{error}"
        );
    }

    #[test]
    fn a_policy_zone_without_soa_or_origin_is_refused() {
        let text = b"evil.example. CNAME .\n";
        let error = compile_text("zone", FeedFormat::Rpz, None, "z", text)
            .expect_err("origin")
            .to_string();
        assert!(error.contains("set origin"), "{error}");
        let origin = Name::from_ascii("example.").expect("origin");
        let (feed, problems) =
            compile_text("zone", FeedFormat::Rpz, Some(&origin), "z", text).expect("loads");
        assert!(problems.is_empty());
        assert_eq!(feed.counts().total(), 1);
    }

    #[test]
    fn list_problems_are_capped() {
        let mut text = String::from("0.0.0.0 blocked.example\n");
        for _ in 0..25 {
            text.push_str("not-an-address name.example\n");
        }
        let (feed, problems) =
            compile_text("hosts", FeedFormat::Hosts, None, "h", text.as_bytes()).expect("hosts");
        let lines = describe_problems("hosts", "h", &problems);
        assert_eq!(lines.len(), MAX_PROBLEMS_LISTED + 1);
        assert!(
            lines[0]
                .ends_with("h:2: feed hosts: hosts line does not start with an address (skipped)"),
            "{}",
            lines[0]
        );
        assert!(lines[MAX_PROBLEMS_LISTED].contains("5 more problems"));
        let summary = summarise(&feed, "h", problems.len());
        assert!(
            summary.contains("1 rules") && summary.contains("25 skipped"),
            "{summary}"
        );
    }

    #[test]
    fn empty_feeds_have_the_right_name_and_format() {
        let feed = empty_feed("x", FeedFormat::Adblock, None);
        assert_eq!((feed.name(), feed.format()), ("x", FeedFormat::Adblock));
        assert_eq!(feed.counts().total(), 0);
    }
}
