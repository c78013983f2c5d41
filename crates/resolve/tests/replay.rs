//! Replays the `.rpl` resolver scenarios of `shared/testdata/rpl` (from
//! CZ.NIC's Deckard, written for Unbound's testbound and Knot Resolver)
//! against the resolution engine, through the simulated transport of
//! `hanse_testnet::replay`: no sockets, a manual clock.
//!
//! Per scenario: the root's `stub-addr` becomes the root hints (named by
//! `stub-name`, else `k.root-servers.net.`), other stub and forward zones are
//! configured as such, private upstream addresses are allowed, QNAME
//! minimisation is relaxed unless the scenario turns it off, and the clock
//! starts at `val-override-date`/`val-override-timestamp` (or 1). A `QUERY`
//! step runs `Resolver::resolve`; its result is turned into the response the
//! server would send (QR, RA, RD and CD copied from the query, AA and AD
//! clear, EDNS when the query had it, empty additional section) and the next
//! `CHECK_ANSWER` compares it under the entry's `MATCH` rules.
//!
//! `tests/replay/expected.toml` lists the scenarios expected to pass: the test
//! fails if one of them fails; others that pass are reported as newly passing.
//! Every scenario is bounded to five seconds of wall time.
//!
//! Environment: `HANSE_REPLAY_ONLY=a,b` runs only the scenarios whose names
//! contain one of the words (and checks only those); `HANSE_REPLAY_TRACE=1`
//! prints every upstream exchange of the scenarios run; `HANSE_REPLAY_CONTINUE=1`
//! goes on after a failed `CHECK_ANSWER` and lists the later ones;
//! `HANSE_REPLAY_DIRECTORY=path` runs the scenarios of another folder
//! instead, without checking `expected.toml`. The full report is
//! also written to `$CARGO_TARGET_TMPDIR/replay-report.txt`.
//!
//! # Limitations
//! - The response is composed here, like hanse-server's handler does it, not
//!   by the server itself; the server's own checks (opcode, class, ANY) are
//!   not exercised except that non-IN classes are refused.
//! - DNSSEC is validated from the scenario's trust anchors with the retired
//!   algorithms and key sizes the corpus is signed with allowed
//!   (`validate_sha1`, `validate_legacy`), which the binary keeps off.
//! - The resolver probes the host's IPv4/IPv6 routes when it is built; on a
//!   host without IPv6 routes, scenarios with IPv6-only servers fail.

use hanse_cache::{CacheConfig, RrsetCache};
use hanse_resolve::{
    DnssecConfig, ManualClock, QnameMinimisation, Resolution, Resolver, ResolverConfig, Security,
    ZoneServers,
};
use hanse_testnet::replay::{
    Entry, Mismatch, ReplayTransport, Scenario, ScenarioConfig, StepAction, compare,
    parse_expected_passing, parse_scenario,
};
use hanse_wire::{Class, Edns, Header, Message, Name, Question, RType, Rcode};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Wall time allowed for one scenario.
const WALL_TIME_PER_SCENARIO: Duration = Duration::from_secs(5);
/// The clock's start when the scenario gives no time.
const DEFAULT_START: u32 = 1;
/// The root server name used when the scenario gives none.
const DEFAULT_ROOT_SERVER: &str = "k.root-servers.net.";
/// The EDNS size in responses to clients, hanse-server's default.
const CLIENT_EDNS_SIZE: u16 = 1232;

/// Why a scenario failed, for grouping; the text is the group's heading.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cause(String);

#[derive(Debug)]
struct Failure {
    cause: Cause,
    /// The step and its line, when a step failed.
    step: Option<(u64, usize)>,
    /// Every differing field, or the problem.
    details: Vec<String>,
}

#[derive(Debug)]
struct ScenarioReport {
    name: String,
    failure: Option<Failure>,
    /// Upstream queries no entry matched, as text.
    unmatched: Vec<String>,
    /// Every upstream exchange, as text.
    exchanges: Vec<String>,
    /// Unsupported items the scenario uses.
    unsupported: Vec<String>,
}

fn corpus_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/rpl")
}

fn expected_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replay/expected.toml")
}

fn cause(text: impl Into<String>) -> Cause {
    Cause(text.into())
}

fn failure(cause: Cause, step: Option<(u64, usize)>, details: Vec<String>) -> Failure {
    Failure {
        cause,
        step,
        details,
    }
}

/// The resolver settings a scenario asks for.
fn resolver_config(config: &ScenarioConfig) -> Result<ResolverConfig, String> {
    let root = config
        .root_stub()
        .ok_or("no stub-addr for the root in CONFIG")?;
    let server_name = match &config.root_server_name {
        Some(name) => name.clone(),
        None => Name::from_ascii(DEFAULT_ROOT_SERVER).map_err(|error| format!("{error:?}"))?,
    };
    let addresses = root.servers.iter().map(|server| server.ip()).collect();
    let mut resolver_config = ResolverConfig::recursive(vec![(server_name, addresses)]);
    resolver_config.query_private_upstreams = true;
    resolver_config.qname_minimisation = match config.qname_minimisation {
        Some(false) => QnameMinimisation::Off,
        _ => QnameMinimisation::Relaxed,
    };
    let zone_servers = |zone: &hanse_testnet::replay::ConfiguredZone| ZoneServers {
        name: zone.name.clone(),
        servers: zone.servers.clone(),
    };
    resolver_config.stub_zones = config
        .stub_zones
        .iter()
        .filter(|zone| !zone.name.is_root())
        .map(zone_servers)
        .collect();
    resolver_config.forward_zones = config.forward_zones.iter().map(zone_servers).collect();
    // Validation runs from the scenario's trust anchors; without any, every
    // answer is indeterminate (never AD, never bogus).
    let anchors_text: String = config
        .trust_anchors
        .iter()
        .map(|anchor| format!("{anchor}\n"))
        .collect();
    let anchors = if anchors_text.is_empty() {
        Vec::new()
    } else {
        hanse_dnssec::parse_trust_anchors(&anchors_text)
            .map_err(|error| format!("trust-anchor: {error}"))?
    };
    resolver_config.dnssec = DnssecConfig::with_anchors(anchors);
    // The corpus is signed with RSA/SHA-1 (algorithm 5) throughout; it was
    // written when validators had to verify it (RFC 9905 came later).
    resolver_config.dnssec.algorithms.validate_sha1 = true;
    // Older scenarios (Unbound's) sign with DSA, RFC 5155's example zone
    // with 512-bit RSA keys: both retired since (RFC 8624).
    resolver_config.dnssec.algorithms.validate_legacy = true;
    Ok(resolver_config)
}

/// The client query of a `QUERY` step: question and header, or `None` for
/// a `RAW` packet that is not a well-formed query (the server drops or
/// answers FORMERR, and no answer is checked).
fn client_query(entry: &Entry) -> Option<Message> {
    if let Some(raw) = &entry.raw {
        let message = Message::parse(raw).ok()?;
        let well_formed = !message.header.response
            && message.header.opcode == 0
            && message.questions.len() == 1
            && message.answers.is_empty()
            && message.authorities.is_empty();
        return well_formed.then_some(message);
    }
    // Deckard sends EDNS (version 0, 4096 octets) unless told otherwise.
    let message = entry.to_message(true);
    (message.questions.len() == 1).then_some(message)
}

/// The response hanse-server would send for `resolution`.
fn client_response(query: &Message, resolution: &Resolution) -> Message {
    let question_type = query.question().map_or(RType::A, |question| question.rtype);
    let dnssec_ok = query.edns.as_ref().is_some_and(|edns| edns.dnssec_ok);
    let answer = resolution.for_client(
        question_type,
        dnssec_ok,
        query.header.authentic_data,
        query.header.checking_disabled,
    );
    let resolution = &answer.resolution;
    let rcode = resolution.rcode;
    Message {
        header: Header {
            response: true,
            recursion_desired: query.header.recursion_desired,
            recursion_available: true,
            checking_disabled: query.header.checking_disabled,
            authentic_data: answer.authentic_data,
            rcode: rcode.header_bits(),
            ..Header::default()
        },
        questions: query.questions.clone(),
        answers: resolution.answers.clone(),
        authorities: resolution.authorities.clone(),
        additionals: Vec::new(),
        edns: query.edns.as_ref().map(|edns| Edns {
            udp_size: CLIENT_EDNS_SIZE,
            extended_rcode: rcode.extended_bits(),
            dnssec_ok: edns.dnssec_ok,
            ..Edns::default()
        }),
    }
}

fn refused(query: &Message) -> Resolution {
    let _ = query;
    Resolution {
        rcode: Rcode::REFUSED,
        answers: Vec::new(),
        authorities: Vec::new(),
        extended_error: None,
        security: Security::Indeterminate,
    }
}

fn is_dnssec_type(rtype: RType) -> bool {
    matches!(rtype, RType::RRSIG | RType::NSEC | RType::NSEC3)
}

/// The entry and response without what only a validator would produce:
/// the AD flag and RRSIG/NSEC/NSEC3 records.
fn without_dnssec(entry: &Entry, response: &Message) -> (Entry, Message) {
    let mut entry = entry.clone();
    entry.flags.authentic_data = false;
    for section in [
        &mut entry.answer,
        &mut entry.authority,
        &mut entry.additional,
    ]
    .into_iter()
    .flatten()
    {
        section.retain(|record| !is_dnssec_type(record.rtype));
    }
    let mut response = response.clone();
    response.header.authentic_data = false;
    for section in [
        &mut response.answers,
        &mut response.authorities,
        &mut response.additionals,
    ] {
        section.retain(|record| !is_dnssec_type(record.rtype));
    }
    (entry, response)
}

/// Whether the scenario configures Knot Resolver modules (`features`,
/// `feature-list`), which Hanse does not have.
fn needs_modules(scenario: &Scenario) -> bool {
    scenario
        .config
        .unknown
        .iter()
        .any(|option| option.key == "features" || option.key == "feature-list")
}

/// Decides why a `CHECK_ANSWER` failed.
fn classify(
    scenario: &Scenario,
    entry: &Entry,
    response: &Message,
    mismatches: &[Mismatch],
) -> Cause {
    let validating = !scenario.config.trust_anchors.is_empty();
    let (plain_entry, plain_response) = without_dnssec(entry, response);
    let remaining = compare(&plain_entry, &plain_response, None)
        .err()
        .unwrap_or_default();
    if remaining.is_empty() {
        return cause("no DNSSEC validation: AD flag and/or RRSIG/NSEC records expected");
    }
    if validating && entry.flags.rcode == Rcode::SERVFAIL && response.rcode() != Rcode::SERVFAIL {
        return cause("no DNSSEC validation: SERVFAIL expected for bogus data");
    }
    if needs_modules(scenario) {
        return cause("needs a Knot Resolver module (features/feature-list in CONFIG)");
    }
    let first = [
        "rcode",
        "answer",
        "authority",
        "additional",
        "question",
        "flags",
    ]
    .iter()
    .find_map(|field| remaining.iter().find(|mismatch| mismatch.field == *field))
    .or_else(|| mismatches.first());
    match first {
        Some(mismatch) if mismatch.field == "rcode" => cause(format!(
            "rcode: expected {}, got {}",
            mismatch.expected, mismatch.got
        )),
        Some(mismatch) if mismatch.field == "flags" => cause(format!(
            "flags: expected [{}], got [{}]",
            mismatch.expected, mismatch.got
        )),
        Some(mismatch) => cause(format!("{} section differs", mismatch.field)),
        None => cause("mismatch"),
    }
}

/// Runs one scenario to its end or its first failure.
async fn replay(scenario: Arc<Scenario>, transport: ReplayTransport) -> Result<(), Failure> {
    let config = resolver_config(&scenario.config)
        .map_err(|problem| failure(cause("runner: scenario not runnable"), None, vec![problem]))?;
    let start = scenario.config.override_time.map_or(DEFAULT_START, |time| {
        u32::try_from(time).unwrap_or(u32::MAX)
    });
    let clock = ManualClock::default();
    clock.0.store(start, Ordering::Relaxed);
    let resolver = Resolver::new(
        config,
        Arc::new(RrsetCache::new(CacheConfig::default())),
        transport.clone(),
        Arc::new(clock.clone()),
    );
    let mut last: Option<Message> = None;
    let mut checked_exchanges = 0;
    let keep_going = std::env::var_os("HANSE_REPLAY_CONTINUE").is_some();
    let mut first_failure: Option<Failure> = None;
    for (index, step) in scenario.steps.iter().enumerate() {
        transport.enter_step(index);
        let here = Some((step.id, step.line));
        match &step.action {
            StepAction::Query(entry) => {
                last = None;
                let Some(query) = client_query(entry) else {
                    continue;
                };
                let Some(question) = query.question().cloned() else {
                    continue;
                };
                let resolution = if question.class != Class::IN {
                    refused(&query)
                } else {
                    resolver.resolve(&question.name, question.rtype).await
                };
                last = Some(client_response(&query, &resolution));
            }
            StepAction::CheckAnswer(entry) => {
                let Some(response) = &last else {
                    return Err(failure(
                        cause("runner: CHECK_ANSWER without an answered query"),
                        here,
                        vec!["the preceding QUERY was not a well-formed query".into()],
                    ));
                };
                if let Err(mismatches) = compare(entry, response, None) {
                    let found = failure(
                        classify(&scenario, entry, response, &mismatches),
                        here,
                        mismatches.iter().map(Mismatch::to_string).collect(),
                    );
                    match first_failure.as_mut() {
                        _ if !keep_going => return Err(found),
                        None => first_failure = Some(found),
                        Some(first) => {
                            first.details.push(format!(
                                "later, at STEP {} (line {}): {}",
                                step.id,
                                step.line,
                                found.details.join("; ")
                            ));
                        }
                    }
                }
            }
            StepAction::TimePasses(seconds) => {
                let seconds = u32::try_from(*seconds).unwrap_or(u32::MAX);
                clock.0.fetch_add(seconds, Ordering::Relaxed);
            }
            StepAction::Reply(_) => {}
            StepAction::CheckOutQuery(entry) => {
                let exchanges = transport.exchanges();
                let sent = &exchanges[checked_exchanges.min(exchanges.len())..];
                let found = sent.iter().position(|exchange| {
                    let mut query = Message::default();
                    query.header.recursion_desired = exchange.recursion_desired;
                    query.questions.push(Question {
                        name: exchange.name.clone(),
                        rtype: exchange.rtype,
                        class: Class::IN,
                    });
                    compare(entry, &query, Some(exchange.protocol)).is_ok()
                });
                match found {
                    Some(position) => checked_exchanges += position + 1,
                    None => {
                        return Err(failure(
                            cause("expected upstream query not sent (CHECK_OUT_QUERY)"),
                            here,
                            vec![format!(
                                "no upstream query matches the entry at line {}",
                                entry.line
                            )],
                        ));
                    }
                }
            }
            StepAction::Unsupported(text) => {
                return Err(failure(
                    cause("runner: unsupported step type"),
                    here,
                    vec![text.clone()],
                ));
            }
        }
    }
    if let Some(found) = first_failure {
        return Err(found);
    }
    let unused = transport.unused_mandatory_entries();
    if !unused.is_empty() {
        return Err(failure(
            cause("MANDATORY entry never used"),
            None,
            unused
                .iter()
                .map(|line| format!("the entry at line {line} answered no query"))
                .collect(),
        ));
    }
    Ok(())
}

/// Parses and replays one file within the wall-time bound.
fn run_file(path: &Path) -> ScenarioReport {
    let name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = ScenarioReport {
        name,
        failure: None,
        unmatched: Vec::new(),
        exchanges: Vec::new(),
        unsupported: Vec::new(),
    };
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => {
            report.failure = Some(failure(
                cause("runner: file unreadable"),
                None,
                vec![error.to_string()],
            ));
            return report;
        }
    };
    let scenario = match parse_scenario(&text) {
        Ok(scenario) => Arc::new(scenario),
        Err(error) => {
            report.failure = Some(failure(
                cause("runner: parse error"),
                None,
                vec![error.to_string()],
            ));
            return report;
        }
    };
    report.unsupported = scenario.unsupported_items();
    let transport = ReplayTransport::new(Arc::clone(&scenario));
    let (sender, receiver) = mpsc::channel();
    let worker_transport = transport.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("replay {}", report.name))
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|error| {
                        failure(cause("runner: no runtime"), None, vec![error.to_string()])
                    })?;
                runtime.block_on(replay(scenario, worker_transport))
            }));
            let outcome = outcome.unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                    .unwrap_or_default();
                Err(failure(cause("panic"), None, vec![message]))
            });
            let _ = sender.send(outcome);
        });
    let outcome = match spawned {
        Ok(_) => match receiver.recv_timeout(WALL_TIME_PER_SCENARIO) {
            Ok(outcome) => outcome,
            Err(_) => Err(failure(
                cause("exceeded the wall-time bound"),
                None,
                vec![format!(
                    "no result within {WALL_TIME_PER_SCENARIO:?} (at step {})",
                    transport.current_step()
                )],
            )),
        },
        Err(error) => Err(failure(
            cause("runner: no thread"),
            None,
            vec![error.to_string()],
        )),
    };
    report.failure = outcome.err();
    let exchanges = transport.exchanges();
    report.unmatched = exchanges
        .iter()
        .filter(|exchange| exchange.is_unmatched())
        .map(ToString::to_string)
        .collect();
    report.exchanges = exchanges.iter().map(ToString::to_string).collect();
    report
}

fn scenario_files(directory: &Path, only: &[String]) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(directory).unwrap_or_else(|error| {
        panic!(
            "replay: the scenario directory {} cannot be read ({error}); \
             it holds the Deckard .rpl corpus and must exist",
            directory.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "rpl"))
        .filter(|path| {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            only.is_empty() || only.iter().any(|word| stem.contains(word.as_str()))
        })
        .collect();
    files.sort();
    files
}

fn run_all(files: &[PathBuf]) -> Vec<ScenarioReport> {
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(4, usize::from)
        .clamp(1, 8);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(index) else { break };
                    let report = run_file(path);
                    reports
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push(report);
                }
            });
        }
    });
    let mut reports = reports
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    reports.sort_by(|left, right| left.name.cmp(&right.name));
    reports
}

/// Writes the summary: counts, the failures grouped by cause, then the lists.
fn summarise(reports: &[ScenarioReport], expected: &HashSet<String>, trace: bool) -> String {
    let passed = reports
        .iter()
        .filter(|report| report.failure.is_none())
        .count();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "replay: {} scenarios, {} passed, {} failed",
        reports.len(),
        passed,
        reports.len() - passed
    );
    let mut groups: BTreeMap<&Cause, Vec<&ScenarioReport>> = BTreeMap::new();
    for report in reports {
        if let Some(failure) = &report.failure {
            groups.entry(&failure.cause).or_default().push(report);
        }
    }
    for (group, members) in &groups {
        let _ = writeln!(text, "\n== {} ({})", group.0, members.len());
        for report in members {
            let Some(failure) = &report.failure else {
                continue;
            };
            let step = failure
                .step
                .map(|(id, line)| format!(" at STEP {id} (line {line})"))
                .unwrap_or_default();
            let listed = if expected.contains(&report.name) {
                "  [REGRESSION: listed in expected.toml]"
            } else {
                ""
            };
            let _ = writeln!(text, "  {}{step}{listed}", report.name);
            for detail in &failure.details {
                let _ = writeln!(text, "      {detail}");
            }
            for unmatched in report.unmatched.iter().take(6) {
                let _ = writeln!(text, "      unmatched upstream query: {unmatched}");
            }
            if report.unmatched.len() > 6 {
                let _ = writeln!(
                    text,
                    "      … and {} more unmatched upstream queries",
                    report.unmatched.len() - 6
                );
            }
            if !report.unsupported.is_empty() {
                let _ = writeln!(
                    text,
                    "      uses unsupported: {}",
                    report.unsupported.join(", ")
                );
            }
        }
    }
    let passing: Vec<&ScenarioReport> = reports
        .iter()
        .filter(|report| report.failure.is_none())
        .collect();
    let _ = writeln!(text, "\n== passed ({})", passing.len());
    for report in &passing {
        let note = if report.unmatched.is_empty() {
            String::new()
        } else {
            format!(
                " ({} unmatched upstream queries: a strict Deckard run would fail it)",
                report.unmatched.len()
            )
        };
        let _ = writeln!(text, "  {}{note}", report.name);
    }
    for report in &passing {
        if !expected.contains(&report.name) {
            let _ = writeln!(
                text,
                "newly passing: {} (add it to expected.toml)",
                report.name
            );
        }
    }
    if trace {
        for report in reports {
            let _ = writeln!(text, "\n-- upstream exchanges of {}", report.name);
            for exchange in &report.exchanges {
                let _ = writeln!(text, "  {exchange}");
            }
        }
    }
    text
}

#[test]
fn replay_scenarios() {
    // Another folder of scenarios, for trying scenarios outside the corpus;
    // expected.toml is not checked against it.
    let other_directory = std::env::var_os("HANSE_REPLAY_DIRECTORY").map(PathBuf::from);
    let directory = other_directory.clone().unwrap_or_else(corpus_directory);
    assert!(
        directory.is_dir(),
        "replay: the scenario directory {} is missing; the test needs the Deckard .rpl \
         corpus in shared/testdata/rpl next to the workspace",
        directory.display()
    );
    let expected_text = std::fs::read_to_string(expected_file())
        .unwrap_or_else(|error| panic!("replay: {}: {error}", expected_file().display()));
    let expected: HashSet<String> = parse_expected_passing(&expected_text)
        .unwrap_or_else(|error| panic!("replay: {}: {error}", expected_file().display()))
        .into_iter()
        .filter(|_| other_directory.is_none())
        .collect();
    let only: Vec<String> = std::env::var("HANSE_REPLAY_ONLY")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect();
    let trace = std::env::var_os("HANSE_REPLAY_TRACE").is_some();
    let files = scenario_files(&directory, &only);
    assert!(
        !files.is_empty(),
        "replay: no .rpl files in {}",
        directory.display()
    );
    let reports = run_all(&files);
    let summary = summarise(&reports, &expected, trace);
    println!("{summary}");
    let report_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-report.txt");
    if std::fs::write(&report_path, &summary).is_ok() {
        println!("replay: report written to {}", report_path.display());
    }
    let names: HashSet<&str> = reports.iter().map(|report| report.name.as_str()).collect();
    let mut problems: Vec<String> = reports
        .iter()
        .filter(|report| report.failure.is_some() && expected.contains(&report.name))
        .map(|report| format!("{} is listed in expected.toml but failed", report.name))
        .collect();
    if only.is_empty() {
        let mut missing: Vec<&String> = expected
            .iter()
            .filter(|name| !names.contains(name.as_str()))
            .collect();
        missing.sort();
        problems.extend(
            missing
                .into_iter()
                .map(|name| format!("{name} is listed in expected.toml but has no .rpl file")),
        );
    }
    assert!(
        problems.is_empty(),
        "replay regressions:\n  {}\n\n{summary}",
        problems.join("\n  ")
    );
}
