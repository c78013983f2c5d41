//! `hanse fleet status NODE…`: asks several nodes' APIs for their readiness
//! (`/healthz/ready`) and feeds (`/api/v1/feeds`), prints one table, and
//! marks every node whose copy of a policy zone is behind the newest serial
//! seen in the fleet (the primary's, once every node follows one primary)
//! as LAGGING. Exit status 0 when every node answers, is ready and in
//! step; 1 otherwise; 2 for a usage error.
//!
//! Serials are compared in RFC 1982 serial arithmetic. A node that lacks a
//! feed other nodes have is reported MISSING.
//!
//! Limitations: a feed without an SOA serial (a hosts, domain or adblock
//! list fetched by each node itself) is shown but not judged: its `version`
//! counts changes on that node only, so it says nothing about another
//! node's copy. Nodes are asked at most [`PARALLEL_NODES`] at a time; HTTP
//! without TLS (through `hanse_api::client`).

use anyhow::Context;
use hanse_api::client::NodeClient;
use hanse_api::model::{FeedState, Readiness};
use hanse_transfer::serial_newer;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How many nodes are asked at once.
pub const PARALLEL_NODES: usize = 16;

/// `hanse fleet …`
#[derive(clap::Subcommand)]
pub enum FleetAction {
    /// Ask nodes' APIs for readiness and feed serials; mark the ones that lag.
    Status {
        /// A bearer token with read scope, sent to every node.
        #[arg(long, conflicts_with = "token_file")]
        token: Option<String>,
        /// A file holding the token (first line), kept out of `ps`.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Seconds each exchange with a node may take.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=120))]
        timeout: u64,
        /// The nodes' API addresses, `host:port` (as in `[api] listen`).
        #[arg(required = true, value_name = "NODE")]
        nodes: Vec<String>,
    },
}

/// Runs a `hanse fleet` command.
pub fn run(action: FleetAction) -> ExitCode {
    match action {
        FleetAction::Status {
            token,
            token_file,
            timeout,
            nodes,
        } => {
            let token = match read_token(token, token_file) {
                Ok(token) => token,
                Err(error) => {
                    eprintln!("hanse fleet status: {error:#}");
                    return ExitCode::from(2);
                }
            };
            let observations = observe(&nodes, token.as_deref(), Duration::from_secs(timeout));
            let report = assess(&observations, unix_now());
            print!("{}", render(&report));
            if report.in_step() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn read_token(
    token: Option<String>,
    token_file: Option<PathBuf>,
) -> anyhow::Result<Option<String>> {
    let Some(path) = token_file else {
        return Ok(token);
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        anyhow::bail!("the token file {} is empty", path.display());
    }
    Ok(Some(token))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// What one node answered (or why it did not).
#[derive(Debug, Clone)]
pub struct NodeObservation {
    /// The node as given (`host:port`).
    pub node: String,
    /// Its readiness, or why it could not be asked.
    pub readiness: Result<Readiness, String>,
    /// Its feeds, or why they could not be read.
    pub feeds: Result<Vec<FeedState>, String>,
}

/// Asks every node, [`PARALLEL_NODES`] at a time; each exchange is bounded
/// by `timeout`, so this takes at most about `2 × timeout` per round.
pub fn observe(nodes: &[String], token: Option<&str>, timeout: Duration) -> Vec<NodeObservation> {
    let mut observations = Vec::with_capacity(nodes.len());
    for group in nodes.chunks(PARALLEL_NODES) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .iter()
                .map(|node| {
                    scope.spawn(move || {
                        let client = NodeClient::new(node, token, timeout);
                        let readiness = client.readiness().map_err(|error| error.to_string());
                        let feeds = match &readiness {
                            // Unreachable: do not wait a second time.
                            Err(error) => Err(error.clone()),
                            Ok(_) => client.feeds().map_err(|error| error.to_string()),
                        };
                        NodeObservation {
                            node: node.clone(),
                            readiness,
                            feeds,
                        }
                    })
                })
                .collect();
            for (handle, node) in handles.into_iter().zip(group) {
                observations.push(handle.join().unwrap_or_else(|_| NodeObservation {
                    node: node.clone(),
                    readiness: Err("the request failed".to_owned()),
                    feeds: Err("the request failed".to_owned()),
                }));
            }
        });
    }
    observations
}

/// How one node's copy of one feed compares with the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStanding {
    /// The newest serial seen in the fleet.
    Current,
    /// An older serial than the newest seen.
    Lagging {
        /// The newest serial seen.
        newest: u32,
    },
    /// Other nodes have the feed, this one does not.
    Missing,
    /// No serial to compare (a list feed).
    Unjudged,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct FeedLine {
    /// The feed's name.
    pub feed: String,
    /// The node's copy, if it has the feed.
    pub state: Option<FeedState>,
    /// How it compares.
    pub standing: FeedStanding,
}

/// One node in the report.
#[derive(Debug, Clone)]
pub struct NodeReport {
    /// The node as given.
    pub node: String,
    /// Its readiness, or why it could not be asked.
    pub readiness: Result<Readiness, String>,
    /// Its feeds compared with the fleet, or why they could not be read.
    pub feeds: Result<Vec<FeedLine>, String>,
}

impl NodeReport {
    /// Answers, is ready, and no feed lags or is missing.
    pub fn in_step(&self) -> bool {
        self.readiness
            .as_ref()
            .is_ok_and(|readiness| readiness.ready)
            && self.feeds.as_ref().is_ok_and(|lines| {
                lines.iter().all(|line| {
                    matches!(
                        line.standing,
                        FeedStanding::Current | FeedStanding::Unjudged
                    )
                })
            })
    }
}

/// The whole fleet, compared.
#[derive(Debug, Clone)]
pub struct FleetReport {
    /// When the comparison was made (Unix seconds), for the ages.
    pub now: i64,
    /// Per node, in the order given.
    pub nodes: Vec<NodeReport>,
}

impl FleetReport {
    /// Every node is in step.
    pub fn in_step(&self) -> bool {
        self.nodes.iter().all(NodeReport::in_step)
    }
}

/// Compares the nodes' feeds: per feed name, the newest serial among the
/// nodes that answered (RFC 1982), and each node's standing against it.
pub fn assess(observations: &[NodeObservation], now: i64) -> FleetReport {
    // Every feed any node has, with the newest serial seen (if any).
    let mut newest: BTreeMap<&str, Option<u32>> = BTreeMap::new();
    for feeds in observations
        .iter()
        .filter_map(|observation| observation.feeds.as_ref().ok())
    {
        for feed in feeds {
            let entry = newest.entry(feed.name.as_str()).or_insert(None);
            if let Some(serial) = feed.serial {
                match entry {
                    Some(known) if !serial_newer(serial, *known) => {}
                    _ => *entry = Some(serial),
                }
            }
        }
    }
    let nodes = observations
        .iter()
        .map(|observation| NodeReport {
            node: observation.node.clone(),
            readiness: observation.readiness.clone(),
            feeds: observation
                .feeds
                .as_ref()
                .map_err(Clone::clone)
                .map(|feeds| {
                    newest
                        .iter()
                        .map(|(&name, &newest_serial)| {
                            let state = feeds.iter().find(|feed| feed.name == name).cloned();
                            let standing = match (&state, newest_serial) {
                                (None, _) => FeedStanding::Missing,
                                (Some(_), None) => FeedStanding::Unjudged,
                                (Some(state), Some(newest)) => match state.serial {
                                    Some(serial) if serial == newest => FeedStanding::Current,
                                    _ => FeedStanding::Lagging { newest },
                                },
                            };
                            FeedLine {
                                feed: name.to_owned(),
                                state,
                                standing,
                            }
                        })
                        .collect()
                }),
        })
        .collect();
    FleetReport { now, nodes }
}

/// The table: one line per node and feed, then a summary line.
pub fn render(report: &FleetReport) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        "NODE".into(),
        "READY".into(),
        "FEED".into(),
        "SERIAL".into(),
        "VERSION".into(),
        "CHANGED".into(),
        "STATE".into(),
    ]];
    let dash = || "-".to_owned();
    for node in &report.nodes {
        let ready = match &node.readiness {
            Ok(readiness) if readiness.ready => "yes".to_owned(),
            Ok(readiness) if readiness.draining => "draining".to_owned(),
            Ok(_) => "no".to_owned(),
            Err(_) => dash(),
        };
        let mut node_state = String::new();
        match &node.readiness {
            Err(error) => node_state = format!("UNREACHABLE: {error}"),
            Ok(readiness) if !readiness.ready && !readiness.reasons.is_empty() => {
                node_state = format!("NOT READY: {}", readiness.reasons.join("; "));
            }
            Ok(readiness) if !readiness.ready => node_state = "NOT READY".to_owned(),
            Ok(_) => {}
        }
        match &node.feeds {
            Err(error) => {
                let state = if node_state.is_empty() {
                    format!("ERROR: {error}")
                } else {
                    node_state.clone()
                };
                rows.push([
                    node.node.clone(),
                    ready,
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    state,
                ]);
            }
            Ok(lines) if lines.is_empty() => {
                let state = if node_state.is_empty() {
                    "ok (no feeds)".to_owned()
                } else {
                    node_state.clone()
                };
                rows.push([
                    node.node.clone(),
                    ready,
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    state,
                ]);
            }
            Ok(lines) => {
                for line in lines {
                    let (serial, version, changed) = match &line.state {
                        Some(state) => (
                            state.serial.map_or_else(dash, |serial| serial.to_string()),
                            state.version.clone().unwrap_or_else(dash),
                            state.last_change.map_or_else(dash, |time| {
                                format!("{} ago", describe_age(report.now - time))
                            }),
                        ),
                        None => (dash(), dash(), dash()),
                    };
                    let mut state = match line.standing {
                        FeedStanding::Current => "ok".to_owned(),
                        FeedStanding::Lagging { newest } => format!("LAGGING (newest {newest})"),
                        FeedStanding::Missing => "MISSING".to_owned(),
                        FeedStanding::Unjudged => "ok (no serial to compare)".to_owned(),
                    };
                    if line.state.as_ref().is_some_and(|feed| feed.stale) {
                        state.push_str(", stale");
                    }
                    if !node_state.is_empty() {
                        state = format!("{node_state}; {state}");
                    }
                    rows.push([
                        node.node.clone(),
                        ready.clone(),
                        line.feed.clone(),
                        serial,
                        version,
                        changed,
                        state,
                    ]);
                }
            }
        }
    }
    let mut widths = [0; 7];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &rows {
        let mut line = String::new();
        for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    let total = report.nodes.len();
    let in_step = report.nodes.iter().filter(|node| node.in_step()).count();
    let _ = writeln!(
        text,
        "{in_step} of {total} node(s) ready and in step{}",
        if in_step == total {
            ""
        } else {
            "; FLEET OUT OF STEP"
        }
    );
    text
}

/// `45s`, `12m`, `3h`, `2d` (the largest whole unit); a time in the future
/// (clocks apart) counts as `0s`.
fn describe_age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(name: &str, serial: Option<u32>) -> FeedState {
        FeedState {
            name: name.to_owned(),
            format: "rpz".to_owned(),
            source: "zone rpz.test. from 192.0.2.1".to_owned(),
            serial,
            version: Some("1".to_owned()),
            stale: false,
            last_success: Some(1_000),
            last_change: Some(900),
            last_error: None,
            rules: 3,
            skipped: 0,
            copy_origin: None,
        }
    }

    fn ready() -> Result<Readiness, String> {
        Ok(Readiness {
            ready: true,
            reasons: Vec::new(),
            draining: false,
        })
    }

    fn node(name: &str, feeds: Vec<FeedState>) -> NodeObservation {
        NodeObservation {
            node: name.to_owned(),
            readiness: ready(),
            feeds: Ok(feeds),
        }
    }

    #[test]
    fn an_older_serial_lags_and_a_missing_feed_is_reported() {
        let report = assess(
            &[
                node("a:1", vec![feed("malware", Some(7)), feed("ads", None)]),
                node("b:1", vec![feed("malware", Some(6)), feed("ads", None)]),
                node("c:1", vec![feed("ads", None)]),
            ],
            1_000,
        );
        assert!(report.nodes[0].in_step());
        assert!(!report.nodes[1].in_step());
        assert!(!report.nodes[2].in_step());
        assert!(!report.in_step());
        let standing = |node: usize, feed: &str| {
            report.nodes[node]
                .feeds
                .as_ref()
                .unwrap()
                .iter()
                .find(|line| line.feed == feed)
                .unwrap()
                .standing
                .clone()
        };
        assert_eq!(standing(0, "malware"), FeedStanding::Current);
        assert_eq!(standing(1, "malware"), FeedStanding::Lagging { newest: 7 });
        assert_eq!(standing(2, "malware"), FeedStanding::Missing);
        assert_eq!(standing(1, "ads"), FeedStanding::Unjudged);
        let table = render(&report);
        assert!(table.contains("LAGGING (newest 7)"), "{table}");
        assert!(table.contains("MISSING"), "{table}");
        assert!(table.contains("1m ago"), "{table}");
        assert!(table.ends_with("1 of 3 node(s) ready and in step; FLEET OUT OF STEP\n"));
    }

    #[test]
    fn serials_compare_in_serial_arithmetic() {
        // 3 is newer than 4294967290 (RFC 1982 wrap-around).
        let report = assess(
            &[
                node("a:1", vec![feed("malware", Some(4_294_967_290))]),
                node("b:1", vec![feed("malware", Some(3))]),
            ],
            1_000,
        );
        assert!(!report.nodes[0].in_step());
        assert!(report.nodes[1].in_step());
    }

    #[test]
    fn unreachable_and_unready_nodes_are_out_of_step() {
        let mut draining = node("b:1", vec![feed("malware", Some(1))]);
        draining.readiness = Ok(Readiness {
            ready: false,
            reasons: vec!["draining".to_owned()],
            draining: true,
        });
        let report = assess(
            &[
                node("a:1", vec![feed("malware", Some(1))]),
                draining,
                NodeObservation {
                    node: "c:1".to_owned(),
                    readiness: Err("cannot connect to c:1: refused".to_owned()),
                    feeds: Err("cannot connect to c:1: refused".to_owned()),
                },
            ],
            1_000,
        );
        assert!(report.nodes[0].in_step());
        assert!(!report.nodes[1].in_step());
        assert!(!report.nodes[2].in_step());
        let table = render(&report);
        assert!(table.contains("NOT READY: draining"), "{table}");
        assert!(table.contains("UNREACHABLE: cannot connect"), "{table}");
        let same = assess(
            &[
                node("a:1", vec![feed("malware", Some(1))]),
                node("b:1", vec![feed("malware", Some(1))]),
            ],
            1_000,
        );
        assert!(same.in_step());
        assert!(render(&same).ends_with("2 of 2 node(s) ready and in step\n"));
    }

    #[test]
    fn ages_use_the_largest_whole_unit() {
        assert_eq!(describe_age(-5), "0s");
        assert_eq!(describe_age(59), "59s");
        assert_eq!(describe_age(100), "1m");
        assert_eq!(describe_age(7200), "2h");
        assert_eq!(describe_age(200_000), "2d");
    }
}
