//! From `[policy]` to the policy in force: maps every `[[policy.feed]]` to
//! the feed supply (`hanse_feeds`: files, HTTP(S) lists, zone transfers,
//! saved copies), and builds the [`PolicySet`] the server applies from the
//! supply's current feeds and the configured profiles and clients.
//!
//! Bad input (issue 3, item 8), as the supply reports it:
//! - A feed file that cannot be read, a policy zone with a syntax error
//!   (with its line and column) or without an origin, or a policy the
//!   engine refuses to build fails the whole load: at start-up Hanse does
//!   not start; on SIGHUP the previous configuration and policy stay.
//! - A line of a list or a record of a policy zone that cannot be compiled
//!   is skipped and reported as a warning; the rest of the feed loads.
//! - A remote feed that cannot be fetched keeps its last copy (the saved
//!   one at start-up) and is reported as stale; without any copy it is
//!   empty until its first fetch.
//!
//! Every rebuild makes a new policy beside the one in force; the caller
//! swaps it in whole.

use crate::config::{FeedLocation, FeedSource, PolicySection};
use hanse_feeds::{FeedSpec, FeedSupply, Messages, Source, SupplyOptions};
use hanse_policy::PolicySet;
use hanse_server::{NotifyOutcome, NotifyReceiver};
use hanse_wire::Name;
use std::net::IpAddr;
use std::sync::Arc;

/// The feeds of a configuration, loaded, and the policy built from them.
#[derive(Default)]
pub struct PolicyLoad {
    /// The feed supply; `None` when the configuration has no `[policy]`.
    pub supply: Option<Arc<FeedSupply>>,
    /// The policy; `None` when the configuration has no `[policy]`.
    pub policy: Option<Arc<PolicySet>>,
    /// What the load noticed: skipped entries, ignored saved copies, and a
    /// summary line per feed.
    pub messages: Messages,
}

/// Reads every file feed and every remote feed's saved copy of `section`
/// (no network) and builds the policy. Returns every error found, one a
/// line, if a feed cannot be loaded or the policy cannot be built.
pub fn load_policy(section: &PolicySection) -> Result<PolicyLoad, Vec<String>> {
    if section.is_empty() {
        return Ok(PolicyLoad::default());
    }
    let specs = section.feeds.iter().map(feed_spec).collect();
    let options = SupplyOptions {
        state_directory: Some(section.state_directory.clone()),
        ..SupplyOptions::default()
    };
    let supply = Arc::new(FeedSupply::load(specs, options)?);
    let policy = build_policy(section, &supply).map_err(|error| vec![error])?;
    Ok(PolicyLoad {
        messages: supply.take_messages(),
        supply: Some(supply),
        policy: Some(policy),
    })
}

/// A policy from the supply's current feeds and `section`'s profiles and
/// clients.
pub fn build_policy(
    section: &PolicySection,
    supply: &FeedSupply,
) -> Result<Arc<PolicySet>, String> {
    PolicySet::build(
        section.profiles.clone(),
        section.clients.clone(),
        supply.feeds(),
    )
    .map(Arc::new)
    .map_err(|error| format!("the filtering policy cannot be built: {error}"))
}

fn feed_spec(source: &FeedSource) -> FeedSpec {
    FeedSpec {
        name: source.name.clone(),
        format: source.format,
        origin: source.origin.clone(),
        source: match &source.location {
            FeedLocation::File(path) => Source::File(path.clone()),
            FeedLocation::Url { url, refresh } => Source::Url {
                url: url.clone(),
                refresh: *refresh,
            },
            FeedLocation::Transfer {
                zone,
                primaries,
                tsig_key,
            } => Source::Transfer {
                zone: zone.clone(),
                primaries: primaries.clone(),
                key: tsig_key.clone(),
            },
        },
    }
}

/// The DNS listener's NOTIFY messages, handed to the feed supply.
pub struct NotifyToSupply(pub Arc<FeedSupply>);

impl NotifyReceiver for NotifyToSupply {
    fn notify(&self, zone: &Name, _serial: Option<u32>, source: IpAddr) -> NotifyOutcome {
        self.0.notify(zone, source)
    }
}
