//! Data-driven end-to-end scenarios: the `hanse` binary resolves through a
//! simulated DNS hierarchy of in-process authoritative servers
//! ([`hanse_testnet`]) on 127.0.0.0/8.
//!
//! Each scenario is a directory `tests/scenarios/NAME/` with a
//! `scenario.toml` and the zone files it names:
//!
//! ```toml
//! description = "what the scenario shows"
//! resolver = { qname_minimisation = "strict" }  # extra [resolver] keys, optional
//!
//! [[server]]
//! address = "127.31.0.1"      # each scenario uses its own 127.X.0.0/16
//! behaviour = "normal"        # normal, silent, refuse, servfail, formerr_on_edns,
//!                             # drop_edns, truncate_udp, truncate_always, delay, spoof, garbage
//! delay = "500ms"             # for behaviour = "delay"
//! zones = [{ origin = ".", file = "root.zone" }]
//!
//! [[query]]
//! name = "www.example.com."
//! type = "A"
//! rcode = "NOERROR"
//! answer = ["www.example.com. 300 IN A 192.0.2.1"]  # RRsets compared; TTLs must be <= these
//! transport = "udp"           # or "tcp"
//! client = "127.31.5.77"      # the query's source address (127.0.0.0/8; default 127.0.0.1)
//! max_time = "5s"             # the answer must arrive in time
//! not_in_answer = ["203.0.113.66"]  # addresses no section may carry
//! # Assertions on the queries the servers received since the previous query.
//! # Every key is optional: server, name, type, transport, edns filter the
//! # queries; min and max bound their number; max_labels bounds their names.
//! expect_queries = [{ server = "127.31.0.2", name = "www.example.com.", type = "A", max = 1 }]
//! ```
//!
//! In the `[policy]` section (Hanse's own, feed files relative to the
//! scenario), a string `"$weekday(+14h)"` becomes the weekday (`mon` …
//! `sun`) in UTC+14 when the scenario starts, for time windows in a
//! profile's time zone.
//!
//! The runner starts the servers, writes root hints and a configuration,
//! starts `hanse serve --config FILE` on a free port of 127.X.0.53 (killed by a guard, also
//! when the test panics), waits until it answers, runs the queries in order
//! and reports every failed expectation of the scenario at once.
//!
//! With `HANSE_SCENARIO_RESOLVER=unbound` the runner starts `unbound`
//! instead, to check the scenarios against an independent resolver.
//!
//! # Limitations
//! - Servers listen on port 53 of their addresses, so the tests need root.
//! - Answers are compared as RRsets of the answer section only; the
//!   authority and additional sections are only searched by `not_in_answer`.

use hanse_testnet::{Behaviour, ReceivedQuery, ServerSpec, TestNet, Transport, Zone, client};
use hanse_wire::{Message, Name, RType, Rcode, Record};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a query waits for the resolver when the scenario sets no `max_time`.
const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(6);
/// How long the resolver may take to start answering.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        /// The scenario directories that have a test.
        const SCENARIOS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_scenario(stringify!($name));
            }
        )*
    };
}

scenarios! {
    referral_chain,
    glueless_delegation,
    cname_across_zones,
    dname_substitution,
    nxdomain_and_negative_cache,
    nodata_and_negative_cache,
    lame_server_then_good,
    dead_server_then_good,
    truncated_then_tcp,
    edns_formerr_fallback,
    edns_dropped_fallback,
    delegation_loop,
    cname_loop,
    cname_chain_too_long,
    spoofed_responses_dropped,
    out_of_bailiwick_glue_ignored,
    qname_minimisation,
    rpz_triggers_and_actions,
    rpz_client_ip,
    rpz_trigger_precedence,
    rpz_zone_overrides,
    rpz_profiles,
    rpz_extra_text_off,
    issue_9_upstream_faults,
}

// ---------------------------------------------------------------------------
// The scenario file.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    description: String,
    #[serde(default)]
    resolver: toml::Table,
    /// A `[policy]` section for Hanse; feed files are relative to the scenario.
    policy: Option<toml::Table>,
    #[serde(default, rename = "server")]
    servers: Vec<ServerEntry>,
    #[serde(default, rename = "query")]
    queries: Vec<QueryEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerEntry {
    address: String,
    #[serde(default = "normal")]
    behaviour: String,
    delay: Option<String>,
    zones: Vec<ZoneEntry>,
}

fn normal() -> String {
    "normal".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneEntry {
    origin: String,
    file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryEntry {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    rcode: Option<String>,
    answer: Option<Vec<String>>,
    transport: Option<String>,
    max_time: Option<String>,
    #[serde(default)]
    expect_queries: Vec<QueryExpectation>,
    #[serde(default)]
    not_in_answer: Vec<String>,
    /// Expect no response at all (a DROP policy).
    #[serde(default)]
    no_answer: bool,
    /// Expect TC set (true) or clear (false).
    truncated: Option<bool>,
    /// Expect this Extended DNS Error INFO-CODE (RFC 8914).
    ede: Option<u16>,
    /// Expect the Extended DNS Error's EXTRA-TEXT to contain this text
    /// (`""`: to be empty).
    ede_text: Option<String>,
    /// The source address of the query (127.0.0.0/8), for CLIENT-IP
    /// triggers and client profiles.
    client: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryExpectation {
    server: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    rtype: Option<String>,
    transport: Option<String>,
    edns: Option<bool>,
    min: Option<usize>,
    max: Option<usize>,
    max_labels: Option<usize>,
}

/// A scenario read and checked: everything the runner needs.
struct Scenario {
    name: String,
    description: String,
    resolver: toml::Table,
    policy: Option<toml::Table>,
    servers: Vec<ServerSpec>,
    root_addresses: Vec<String>,
    queries: Vec<ScenarioQuery>,
}

struct ScenarioQuery {
    name: Name,
    rtype: RType,
    rcode: Option<Rcode>,
    answer: Option<Vec<Record>>,
    transport: Transport,
    max_time: Option<Duration>,
    expectations: Vec<Expectation>,
    forbidden_addresses: Vec<IpAddr>,
    no_answer: bool,
    truncated: Option<bool>,
    ede: Option<u16>,
    ede_text: Option<String>,
    client: Option<IpAddr>,
}

struct Expectation {
    server: Option<SocketAddr>,
    name: Option<Name>,
    rtype: Option<RType>,
    transport: Option<Transport>,
    edns: Option<bool>,
    min: Option<usize>,
    max: Option<usize>,
    max_labels: Option<usize>,
    text: String,
}

fn scenario_directory(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

/// Reads `tests/scenarios/NAME`, with errors that name the file and the problem.
fn load_scenario(name: &str) -> Result<Scenario, String> {
    let directory = scenario_directory(name);
    let path = directory.join("scenario.toml");
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    let file: ScenarioFile =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?;
    let mut servers = Vec::new();
    let mut root_addresses = Vec::new();
    for entry in &file.servers {
        let address = hanse_testnet::socket_address(&entry.address)
            .filter(|address| is_loopback(address.ip()))
            .ok_or_else(|| format!("server {:?}: not a 127.0.0.0/8 address", entry.address))?;
        let mut zones = Vec::new();
        for zone in &entry.zones {
            let zone_path = directory.join(&zone.file);
            let zone_text = std::fs::read_to_string(&zone_path)
                .map_err(|error| format!("{}: {error}", zone_path.display()))?;
            let parsed = Zone::parse(&zone.origin, &zone_text)
                .map_err(|error| format!("{}: {error}", zone_path.display()))?;
            if parsed.origin().is_root() {
                root_addresses.push(entry.address.clone());
            }
            zones.push(parsed);
        }
        let behaviour = parse_behaviour(&entry.behaviour, entry.delay.as_deref())
            .map_err(|error| format!("server {}: {error}", entry.address))?;
        servers.push(ServerSpec {
            address,
            zones,
            behaviour,
        });
    }
    if root_addresses.is_empty() {
        return Err("no server serves the root zone".to_owned());
    }
    let mut queries = Vec::new();
    for (index, entry) in file.queries.iter().enumerate() {
        let query = parse_query(entry).map_err(|error| format!("query {}: {error}", index + 1))?;
        queries.push(query);
    }
    let policy = match file.policy {
        Some(mut policy) => {
            absolute_feed_files(&mut policy, &directory);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs() as i64);
            for (_, value) in policy.iter_mut() {
                expand_weekdays(value, now)?;
            }
            Some(policy)
        }
        None => None,
    };
    Ok(Scenario {
        name: name.to_owned(),
        description: file.description,
        resolver: file.resolver,
        policy,
        servers,
        root_addresses,
        queries,
    })
}

/// Makes the `file` of every `[[policy.feed]]` absolute, against the scenario directory.
fn absolute_feed_files(policy: &mut toml::Table, directory: &Path) {
    let Some(toml::Value::Array(feeds)) = policy.get_mut("feed") else {
        return;
    };
    for feed in feeds {
        if let Some(toml::Value::String(file)) = feed.get_mut("file") {
            *file = directory.join(&*file).display().to_string();
        }
    }
}

/// Replaces every string `$weekday(+Nh)` (or `-Nh`) in the policy with the
/// weekday (`mon` … `sun`) at `now` plus N hours, so that a scenario can
/// test time windows against the real clock: a fixed UTC offset of N hours
/// stands for a time zone such as `Etc/GMT-14` (UTC+14).
fn expand_weekdays(value: &mut toml::Value, now: i64) -> Result<(), String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    match value {
        toml::Value::String(text) if text.starts_with("$weekday(") => {
            let hours: i64 = text
                .strip_prefix("$weekday(")
                .and_then(|rest| rest.strip_suffix("h)"))
                .and_then(|hours| hours.trim_start_matches('+').parse().ok())
                .ok_or_else(|| format!("bad {text:?}: use $weekday(+14h)"))?;
            // 1970-01-01 was a Thursday (Monday-based index 3).
            let day = (now + hours * 3600).div_euclid(86_400);
            *text = DAYS[usize::try_from((day + 3).rem_euclid(7)).unwrap_or(0)].to_owned();
        }
        toml::Value::Array(values) => {
            for value in values {
                expand_weekdays(value, now)?;
            }
        }
        toml::Value::Table(table) => {
            for (_, value) in table.iter_mut() {
                expand_weekdays(value, now)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.octets()[0] == 127,
        IpAddr::V6(_) => false,
    }
}

fn parse_behaviour(text: &str, delay: Option<&str>) -> Result<Behaviour, String> {
    Ok(match text {
        "normal" => Behaviour::Normal,
        "silent" => Behaviour::Silent,
        "refuse" => Behaviour::Refuse,
        "servfail" => Behaviour::ServFail,
        "formerr_on_edns" => Behaviour::FormErrOnEdns,
        "drop_edns" => Behaviour::DropEdns,
        "truncate_udp" => Behaviour::TruncateUdp,
        "truncate_always" => Behaviour::TruncateAlways,
        "spoof" => Behaviour::Spoof,
        "garbage" => Behaviour::Garbage,
        "delay" => Behaviour::Delay(parse_duration(
            delay.ok_or("behaviour \"delay\" needs a `delay` key")?,
        )?),
        other => return Err(format!("unknown behaviour {other:?}")),
    })
}

/// Reads `"500ms"`, `"5s"` or `"1m"`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|character: char| !character.is_ascii_digit())
        .map_or((text, ""), |split| text.split_at(split));
    let number: u64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number * 60)),
        _ => Err(format!("bad duration {text:?}: use ms, s or m")),
    }
}

fn parse_transport(text: &str) -> Result<Transport, String> {
    match text.to_ascii_lowercase().as_str() {
        "udp" => Ok(Transport::Udp),
        "tcp" => Ok(Transport::Tcp),
        other => Err(format!("unknown transport {other:?}")),
    }
}

fn parse_name(text: &str) -> Result<Name, String> {
    Name::from_ascii(text).map_err(|error| format!("bad name {text:?}: {error}"))
}

fn parse_rtype(text: &str) -> Result<RType, String> {
    text.parse().map_err(|()| format!("unknown type {text:?}"))
}

fn parse_query(entry: &QueryEntry) -> Result<ScenarioQuery, String> {
    let answer = match &entry.answer {
        Some(lines) => Some(parse_records(lines)?),
        None => None,
    };
    let mut expectations = Vec::new();
    for expectation in &entry.expect_queries {
        expectations.push(Expectation {
            server: match &expectation.server {
                Some(text) => Some(
                    hanse_testnet::socket_address(text)
                        .ok_or_else(|| format!("bad server address {text:?}"))?,
                ),
                None => None,
            },
            name: expectation.name.as_deref().map(parse_name).transpose()?,
            rtype: expectation.rtype.as_deref().map(parse_rtype).transpose()?,
            transport: expectation
                .transport
                .as_deref()
                .map(parse_transport)
                .transpose()?,
            edns: expectation.edns,
            min: expectation.min,
            max: expectation.max,
            max_labels: expectation.max_labels,
            text: describe_expectation(expectation),
        });
    }
    let forbidden_addresses = entry
        .not_in_answer
        .iter()
        .map(|text| {
            text.parse()
                .map_err(|_| format!("bad address {text:?} in not_in_answer"))
        })
        .collect::<Result<_, _>>()?;
    Ok(ScenarioQuery {
        name: parse_name(&entry.name)?,
        rtype: parse_rtype(&entry.rtype)?,
        rcode: entry
            .rcode
            .as_deref()
            .map(|text| text.parse().map_err(|()| format!("unknown rcode {text:?}")))
            .transpose()?,
        answer,
        transport: entry
            .transport
            .as_deref()
            .map(parse_transport)
            .transpose()?
            .unwrap_or(Transport::Udp),
        max_time: entry.max_time.as_deref().map(parse_duration).transpose()?,
        expectations,
        forbidden_addresses,
        no_answer: entry.no_answer,
        truncated: entry.truncated,
        ede: entry.ede,
        ede_text: entry.ede_text.clone(),
        client: entry
            .client
            .as_deref()
            .map(|text| {
                text.parse()
                    .ok()
                    .filter(|ip| is_loopback(*ip))
                    .ok_or_else(|| format!("client {text:?}: not a 127.0.0.0/8 address"))
            })
            .transpose()?,
    })
}

fn describe_expectation(expectation: &QueryExpectation) -> String {
    let mut parts = Vec::new();
    let fields = [
        ("server", expectation.server.clone()),
        ("name", expectation.name.clone()),
        ("type", expectation.rtype.clone()),
        ("transport", expectation.transport.clone()),
        ("edns", expectation.edns.map(|edns| edns.to_string())),
        ("min", expectation.min.map(|min| min.to_string())),
        ("max", expectation.max.map(|max| max.to_string())),
        (
            "max_labels",
            expectation.max_labels.map(|labels| labels.to_string()),
        ),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            parts.push(format!("{key} = {value}"));
        }
    }
    format!("{{ {} }}", parts.join(", "))
}

/// Parses records in master-file form, one per string, relative to the root.
fn parse_records(lines: &[String]) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    for line in lines {
        let parsed = hanse_zone::parse_zone(line, &Name::root(), 3600)
            .map_err(|error| format!("bad record {line:?}: {error}"))?;
        records.extend(parsed);
    }
    Ok(records)
}

// ---------------------------------------------------------------------------
// The resolver under test.

/// Which resolver the scenarios run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResolverKind {
    Hanse,
    Unbound,
}

impl ResolverKind {
    fn from_environment() -> ResolverKind {
        match std::env::var("HANSE_SCENARIO_RESOLVER").as_deref() {
            Ok("unbound") => ResolverKind::Unbound,
            _ => ResolverKind::Hanse,
        }
    }
}

/// A running resolver process, killed and reaped when dropped.
struct ResolverProcess {
    child: Child,
    address: SocketAddr,
    log: PathBuf,
}

impl ResolverProcess {
    /// The last lines of the resolver's output, for failure reports.
    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for ResolverProcess {
    fn drop(&mut self) {
        // Child::kill signals this process by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of files for one scenario run, removed when dropped.
struct WorkDirectory(PathBuf);

impl WorkDirectory {
    fn create(scenario: &str) -> WorkDirectory {
        let path =
            std::env::temp_dir().join(format!("hanse-scenario-{scenario}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the scenario's work directory");
        WorkDirectory(path)
    }
}

impl Drop for WorkDirectory {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A free UDP and TCP port on the scenario's own resolver address,
/// 127.X.0.53 for a scenario on 127.X.0.0/16. Binding there rather than on
/// 127.0.0.1 means two scenarios running in parallel can never pick the same
/// address and port, even for a resolver that binds with SO_REUSEPORT.
fn resolver_address(scenario: &Scenario) -> SocketAddr {
    let network = match scenario.servers.first().map(|server| server.address.ip()) {
        Some(IpAddr::V4(ip)) => ip.octets()[1],
        _ => 0,
    };
    let ip = IpAddr::from([127, network, 0, 53]);
    for _ in 0..50 {
        let Ok(udp) = UdpSocket::bind(SocketAddr::new(ip, 0)) else {
            continue;
        };
        let Ok(address) = udp.local_addr() else {
            continue;
        };
        if TcpListener::bind(address).is_ok() {
            return address;
        }
    }
    panic!("no free port on {ip}");
}

fn hanse_configuration(scenario: &Scenario, address: SocketAddr, hints: &Path) -> String {
    let mut server = toml::Table::new();
    server.insert(
        "listen".into(),
        vec![toml::Value::from(address.to_string())].into(),
    );
    server.insert(
        "allow_from".into(),
        vec![toml::Value::from("127.0.0.0/8")].into(),
    );
    server.insert("threads".into(), 1.into());
    let mut resolver = toml::Table::new();
    resolver.insert("root_hints".into(), hints.display().to_string().into());
    resolver.insert("query_private_upstreams".into(), true.into());
    let mut limits = toml::Table::new();
    limits.insert("max_resolution_time".into(), "4s".into());
    for (key, value) in &scenario.resolver {
        match (key.as_str(), value) {
            ("limits", toml::Value::Table(extra)) => limits.extend(extra.clone()),
            _ => {
                resolver.insert(key.clone(), value.clone());
            }
        }
    }
    resolver.insert("limits".into(), limits.into());
    let mut document = toml::Table::new();
    document.insert("server".into(), server.into());
    document.insert("resolver".into(), resolver.into());
    if let Some(policy) = &scenario.policy {
        document.insert("policy".into(), policy.clone().into());
    }
    // No API listener: scenarios run in parallel and would share its port.
    let mut api = toml::Table::new();
    api.insert("enabled".into(), false.into());
    document.insert("api".into(), api.into());
    toml::to_string(&document).expect("a configuration table serialises")
}

fn unbound_configuration(scenario: &Scenario, address: SocketAddr, directory: &Path) -> String {
    let minimisation = scenario
        .resolver
        .get("qname_minimisation")
        .and_then(toml::Value::as_str);
    let (enabled, strict) = match minimisation {
        Some("off") => ("no", "no"),
        Some("strict") => ("yes", "yes"),
        _ => ("yes", "no"),
    };
    format!(
        "server:\n\
         \x20   interface: {ip}\n\
         \x20   port: {port}\n\
         \x20   do-daemonize: no\n\
         \x20   username: \"\"\n\
         \x20   chroot: \"\"\n\
         \x20   directory: \"{directory}\"\n\
         \x20   pidfile: \"\"\n\
         \x20   use-syslog: no\n\
         \x20   logfile: \"\"\n\
         \x20   verbosity: {verbosity}\n\
         \x20   num-threads: 1\n\
         \x20   do-ip6: no\n\
         \x20   do-not-query-localhost: no\n\
         \x20   access-control: 127.0.0.0/8 allow\n\
         \x20   root-hints: \"{directory}/root.hints\"\n\
         \x20   module-config: \"iterator\"\n\
         \x20   qname-minimisation: {enabled}\n\
         \x20   qname-minimisation-strict: {strict}\n\
         \x20   harden-glue: yes\n\
         \x20   prefetch: no\n\
         \x20   so-reuseport: no\n",
        ip = address.ip(),
        port = address.port(),
        directory = directory.display(),
        verbosity =
            std::env::var("HANSE_SCENARIO_UNBOUND_VERBOSITY").unwrap_or_else(|_| "1".into()),
    )
}

/// Starts the resolver under test with `hints` as root hints and waits until it answers.
fn start_resolver(
    scenario: &Scenario,
    directory: &Path,
    hints: &str,
) -> Result<ResolverProcess, String> {
    let address = resolver_address(scenario);
    let hints_path = directory.join("root.hints");
    std::fs::write(&hints_path, hints).map_err(|error| format!("write root hints: {error}"))?;
    let log = directory.join("resolver.log");
    let log_file = std::fs::File::create(&log).map_err(|error| format!("create log: {error}"))?;
    let error_file = log_file
        .try_clone()
        .map_err(|error| format!("clone log: {error}"))?;
    let mut command = match ResolverKind::from_environment() {
        ResolverKind::Hanse => {
            let configuration = directory.join("hanse.toml");
            std::fs::write(
                &configuration,
                hanse_configuration(scenario, address, &hints_path),
            )
            .map_err(|error| format!("write configuration: {error}"))?;
            let mut command = Command::new(env!("CARGO_BIN_EXE_hanse"));
            command.arg("serve").arg("--config").arg(&configuration);
            command
        }
        ResolverKind::Unbound => {
            let configuration = directory.join("unbound.conf");
            std::fs::write(
                &configuration,
                unbound_configuration(scenario, address, directory),
            )
            .map_err(|error| format!("write configuration: {error}"))?;
            let mut command = Command::new("unbound");
            command.arg("-d").arg("-c").arg(&configuration);
            command
        }
    };
    command
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(error_file);
    let child = command
        .spawn()
        .map_err(|error| format!("cannot start the resolver: {error}"))?;
    let mut process = ResolverProcess {
        child,
        address,
        log,
    };
    let started = Instant::now();
    while started.elapsed() < STARTUP_TIMEOUT {
        if let Ok(Some(status)) = process.child.try_wait() {
            return Err(format!(
                "the resolver exited at startup with {status}; its output:\n{}",
                process.log_tail(40)
            ));
        }
        let probe = client::query(
            address,
            &Name::root(),
            RType::NS,
            Transport::Udp,
            Duration::from_millis(300),
        );
        if probe.is_ok() {
            return Ok(process);
        }
    }
    Err(format!(
        "the resolver did not answer within {STARTUP_TIMEOUT:?}; its output:\n{}",
        process.log_tail(40)
    ))
}

// ---------------------------------------------------------------------------
// Running a scenario.

fn run_scenario(name: &str) {
    let scenario = load_scenario(name).unwrap_or_else(|error| panic!("scenario {name}: {error}"));
    let network = TestNet::start(scenario.servers.clone())
        .unwrap_or_else(|error| panic!("scenario {name}: {error}"));
    let directory = WorkDirectory::create(name);
    let roots: Vec<&str> = scenario.root_addresses.iter().map(String::as_str).collect();
    let hints = network.root_hints(&roots);
    let resolver = start_resolver(&scenario, &directory.0, &hints)
        .unwrap_or_else(|error| panic!("scenario {name}: {error}"));
    let mut failures = Vec::new();
    for (index, query) in scenario.queries.iter().enumerate() {
        network.clear_queries();
        let problems = run_query(&network, &resolver, query);
        if !problems.is_empty() {
            let client = query
                .client
                .map(|ip| format!(" from {ip}"))
                .unwrap_or_default();
            failures.push(format!(
                "query {} ({} {} over {:?}{client}):\n    {}",
                index + 1,
                query.name,
                query.rtype,
                query.transport,
                problems.join("\n    ")
            ));
        }
    }
    if !failures.is_empty() {
        panic!(
            "scenario {} ({}) failed against {:?}:\n  {}\nlast lines of the resolver's output \
             (kept in {}):\n{}",
            scenario.name,
            scenario.description.trim(),
            ResolverKind::from_environment(),
            failures.join("\n  "),
            directory.0.display(),
            resolver.log_tail(30)
        );
    }
}

/// Runs one query and returns what went wrong, if anything.
fn run_query(network: &TestNet, resolver: &ResolverProcess, query: &ScenarioQuery) -> Vec<String> {
    let timeout = query
        .max_time
        .map_or(DEFAULT_QUERY_TIMEOUT, |max| max + Duration::from_secs(2));
    let started = Instant::now();
    let result = client::query_from(
        resolver.address,
        query.client,
        &query.name,
        query.rtype,
        query.transport,
        timeout,
    );
    let elapsed = started.elapsed();
    let mut problems = Vec::new();
    match result {
        Err(_) if query.no_answer => {}
        Err(error) => problems.push(format!("no answer within {timeout:?}: {error}")),
        Ok(message) if query.no_answer => {
            problems.push(format!("expected no answer, got rcode {}", message.rcode()));
        }
        Ok(message) => check_answer(query, &message, elapsed, &mut problems),
    }
    // Let late queries (retries, timeouts) reach the servers before counting.
    std::thread::sleep(Duration::from_millis(100));
    check_queries(network, query, &mut problems);
    problems
}

fn check_answer(
    query: &ScenarioQuery,
    message: &Message,
    elapsed: Duration,
    problems: &mut Vec<String>,
) {
    if let Some(max_time) = query.max_time
        && elapsed > max_time
    {
        problems.push(format!(
            "answered after {elapsed:?}, more than max_time {max_time:?}"
        ));
    }
    if let Some(expected) = query.rcode
        && message.rcode() != expected
    {
        problems.push(format!(
            "rcode: expected {expected}, got {}",
            message.rcode()
        ));
    }
    if let Some(expected) = &query.answer
        && let Some(difference) = compare_rrsets(expected, &message.answers)
    {
        problems.push(difference);
    }
    if let Some(expected) = query.truncated
        && message.header.truncated != expected
    {
        problems.push(format!(
            "TC: expected {expected}, got {}",
            message.header.truncated
        ));
    }
    if let Some(expected) = query.ede {
        let codes: Vec<u16> = message
            .edns
            .iter()
            .flat_map(|edns| &edns.options)
            .filter(|option| option.code == 15 && option.data.len() >= 2)
            .map(|option| u16::from_be_bytes([option.data[0], option.data[1]]))
            .collect();
        if !codes.contains(&expected) {
            problems.push(format!("EDE: expected INFO-CODE {expected}, got {codes:?}"));
        }
    }
    if let Some(expected) = &query.ede_text {
        let texts: Vec<String> = message
            .edns
            .iter()
            .flat_map(|edns| &edns.options)
            .filter(|option| option.code == 15 && option.data.len() >= 2)
            .map(|option| String::from_utf8_lossy(&option.data[2..]).into_owned())
            .collect();
        let fits = |text: &String| {
            if expected.is_empty() {
                text.is_empty()
            } else {
                text.contains(expected.as_str())
            }
        };
        if texts.is_empty() || !texts.iter().all(fits) {
            problems.push(format!(
                "EDE EXTRA-TEXT: expected {expected:?}, got {texts:?}"
            ));
        }
    }
    let sections = [&message.answers, &message.authorities, &message.additionals];
    for record in sections.into_iter().flatten() {
        if let Some(address) = record.address()
            && query.forbidden_addresses.contains(&address)
        {
            problems.push(format!(
                "forbidden address in the answer: {}",
                format_record(record)
            ));
        }
    }
}

/// RRsets by owner and type: the set of record data and the largest TTL.
type RrsetMap = BTreeMap<(String, String), (BTreeSet<Vec<u8>>, u32)>;

/// The RRsets of `records`, with the names in record data lower-cased.
fn rrsets(records: &[Record]) -> RrsetMap {
    let mut sets = RrsetMap::new();
    for record in records {
        let key = (
            record.name.to_lowercase().to_string(),
            record.rtype.to_string(),
        );
        let data = if record.target_name().is_some() {
            record.data.to_ascii_lowercase()
        } else {
            record.data.to_vec()
        };
        let entry = sets.entry(key).or_default();
        entry.0.insert(data);
        entry.1 = entry.1.max(record.ttl);
    }
    sets
}

fn compare_rrsets(expected: &[Record], actual: &[Record]) -> Option<String> {
    let wanted = rrsets(expected);
    let got = rrsets(actual);
    let same_data = wanted.len() == got.len()
        && wanted
            .iter()
            .all(|(key, (data, _))| got.get(key).is_some_and(|(other, _)| other == data));
    let mut report = String::new();
    if !same_data {
        let _ = write!(report, "answer section differs:\n      expected:");
        for record in expected {
            let _ = write!(report, "\n        {}", format_record(record));
        }
        let _ = write!(report, "\n      got:");
        if actual.is_empty() {
            let _ = write!(report, " nothing");
        }
        for record in actual {
            let _ = write!(report, "\n        {}", format_record(record));
        }
        return Some(report);
    }
    for (key, (_, ttl)) in &got {
        let limit = wanted[key].1;
        if *ttl > limit {
            let _ = write!(
                report,
                "TTL of {} {} is {ttl}, more than {limit}; ",
                key.0, key.1
            );
        }
    }
    (!report.is_empty()).then_some(report)
}

fn format_record(record: &Record) -> String {
    hanse_zone::format_record(record)
}

fn check_queries(network: &TestNet, query: &ScenarioQuery, problems: &mut Vec<String>) {
    let mut received: Vec<(SocketAddr, ReceivedQuery)> = Vec::new();
    for server in network.servers() {
        received.extend(
            server
                .queries()
                .into_iter()
                .map(|query| (server.address(), query)),
        );
    }
    for expectation in &query.expectations {
        let matching: Vec<&(SocketAddr, ReceivedQuery)> = received
            .iter()
            .filter(|(server, received)| {
                expectation.server.is_none_or(|wanted| wanted == *server)
                    && expectation
                        .name
                        .as_ref()
                        .is_none_or(|name| *name == received.name)
                    && expectation
                        .rtype
                        .is_none_or(|rtype| rtype == received.rtype)
                    && expectation
                        .transport
                        .is_none_or(|transport| transport == received.transport)
                    && expectation
                        .edns
                        .is_none_or(|edns| edns == received.had_edns)
            })
            .collect();
        let listing = || {
            let mut text = String::new();
            for (server, received) in &matching {
                let _ = write!(
                    text,
                    "\n        {} got {} {} over {:?}{}",
                    server.ip(),
                    received.name,
                    received.rtype,
                    received.transport,
                    if received.had_edns { " with EDNS" } else { "" }
                );
            }
            text
        };
        if let Some(min) = expectation.min
            && matching.len() < min
        {
            problems.push(format!(
                "expected at least {min} queries matching {}, the servers received {}{}",
                expectation.text,
                matching.len(),
                listing()
            ));
        }
        if let Some(max) = expectation.max
            && matching.len() > max
        {
            problems.push(format!(
                "expected at most {max} queries matching {}, the servers received {}:{}",
                expectation.text,
                matching.len(),
                listing()
            ));
        }
        if let Some(max_labels) = expectation.max_labels {
            let long: Vec<String> = matching
                .iter()
                .filter(|(_, received)| received.name.label_count() > max_labels)
                .map(|(server, received)| {
                    format!("{} got {} {}", server.ip(), received.name, received.rtype)
                })
                .collect();
            if !long.is_empty() {
                problems.push(format!(
                    "expected queries matching {} to have at most {max_labels} labels, but:\n        {}",
                    expectation.text,
                    long.join("\n        ")
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Checks of the scenario files themselves, without a resolver.

/// Every directory under `tests/scenarios` has a test, and every test a directory.
#[test]
fn every_scenario_directory_has_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut directories: Vec<String> = std::fs::read_dir(&root)
        .expect("tests/scenarios exists")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    directories.sort();
    let mut listed: Vec<String> = SCENARIOS.iter().map(|name| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(
        directories, listed,
        "add new scenario directories to the scenarios! list"
    );
}

/// Every scenario parses, its zones load, no two scenarios share a
/// 127.X.0.0/16, and query clients stay inside their scenario's range.
#[test]
fn scenario_files_are_valid() {
    let mut networks: BTreeMap<u8, String> = BTreeMap::new();
    let mut errors = Vec::new();
    for name in SCENARIOS {
        match load_scenario(name) {
            Err(error) => errors.push(format!("{name}: {error}")),
            Ok(scenario) => {
                let mut own = BTreeSet::new();
                for server in &scenario.servers {
                    if let IpAddr::V4(ip) = server.address.ip() {
                        own.insert(ip.octets()[1]);
                        if ip.octets()[2..] == [0, 53] {
                            errors.push(format!("{name}: {ip} is kept for the resolver"));
                        }
                    }
                }
                for query in &scenario.queries {
                    if let Some(IpAddr::V4(client)) = query.client
                        && !own.contains(&client.octets()[1])
                    {
                        errors.push(format!(
                            "{name}: client {client} is outside the scenario's own 127.X.0.0/16"
                        ));
                    }
                }
                for network in own {
                    if let Some(other) = networks.insert(network, (*name).to_owned()) {
                        errors.push(format!("{name} and {other} both use 127.{network}.0.0/16"));
                    }
                }
                if scenario.queries.is_empty() {
                    errors.push(format!("{name}: no queries"));
                }
            }
        }
    }
    assert!(
        errors.is_empty(),
        "bad scenarios:\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
    assert!(parse_duration("5 parsecs").is_err());
}
