//! The `hanse` binary: command line, configuration file, wiring of the
//! crates, and signals. The only place that knows the config file format
//! and uses `anyhow`.
//!
//! Commands: `serve` (run the resolver), `check-config FILE` (report every
//! problem with file, line and column, and load the filtering feeds),
//! `explain NAME` (why the filtering policy answers a name as it does),
//! `fleet status NODE…` (which nodes lag behind the fleet's feeds),
//! `version`.
//! Signals: SIGTERM and SIGINT make the node not-ready, keep answering for
//! the lame-duck period (`[server] lame_duck`), then drain and exit; SIGHUP reloads the
//! configuration file and the filtering feeds without dropping queries; if
//! anything fails, the previous configuration and policy stay in force.
//! Under systemd (`$NOTIFY_SOCKET`), `serve` reports readiness, reloads,
//! stopping and watchdog keep-alives (`systemd.rs`).

mod api_policy;
mod cli;
mod config;
mod feeds;
mod fleet;
mod metrics;
mod operations;
mod primary;
mod systemd;
mod trust_anchors;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use config::Config;
use feeds::PolicyLoad;
use hanse_cache::{AnswerCache, CacheConfig, RrsetCache};
use hanse_feeds::Messages;
use hanse_policy::{ClientInfo, PolicySet, ProfileSpec, UnixTime};
use hanse_querylog::QueryLog;
use hanse_resolve::{
    DnssecConfig, EncryptedProtocol, EncryptedUpstream, Limits, MonotonicClock, NetworkTransport,
    QnameMinimisation, Resolver, ResolverConfig, ResolverMode, StaleConfig, UpstreamTrust,
    ZoneServers,
};
use hanse_server::{
    AccessList, CertificateFiles, CookieSettings, EncryptedConfig, NotifyReceiver, QueryObserver,
    QuicSettings, Server, ServerConfig, Settings,
};
use hanse_wire::{Name, RType};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// jemalloc instead of the system allocator: the caches keep millions of
/// small long-lived blocks while every resolution makes short-lived ones on
/// several threads, and glibc's per-thread arenas fragment badly under that
/// mix (resident memory per cached RRset measured about 3x the caches' own
/// bytes; see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How long a draining server waits for resolutions under way.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// The lame-duck period and the drain together take at most this long,
/// within Kubernetes' default grace period of 30 s (the API stops beside
/// the drain, in at most 3 s).
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(27);
/// How often readiness (every feed has a copy) is looked at until systemd
/// has been told READY=1.
const READINESS_POLL: Duration = Duration::from_millis(100);

#[derive(Parser)]
#[command(
    name = "hanse",
    about = "Hanse: a filtering recursive DNS resolver",
    version
)]
struct Command {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Run the resolver (embedded defaults without --config).
    Serve {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a configuration file and print every problem.
    CheckConfig {
        /// The configuration file (TOML).
        file: PathBuf,
    },
    /// Explain how the filtering policy answers a query, without serving.
    Explain {
        /// The query name.
        name: String,
        /// The query type.
        #[arg(long = "type", default_value = "A")]
        rtype: String,
        /// The client's address (chooses the profile); none means the
        /// default profile.
        #[arg(long)]
        client: Option<IpAddr>,
        /// The time to evaluate schedules at: RFC 3339
        /// (`2025-01-06T22:30:00+01:00`) or Unix seconds. Default: now.
        #[arg(long)]
        at: Option<String>,
        /// The configuration file (TOML); embedded defaults without it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Operate several nodes: `hanse fleet status NODE…`.
    Fleet {
        #[command(subcommand)]
        action: fleet::FleetAction,
    },
    /// Print a running node's statistics (through its API).
    Stats {
        #[command(flatten)]
        target: cli::ApiTarget,
    },
    /// A running node's caches (through its API).
    Cache {
        #[command(subcommand)]
        action: cli::CacheAction,
        #[command(flatten)]
        target: cli::ApiTarget,
    },
    /// A running node's feeds (through its API).
    Feeds {
        #[command(subcommand)]
        action: cli::FeedsAction,
        #[command(flatten)]
        target: cli::ApiTarget,
    },
    /// Make a running node reload its configuration (through its API).
    Reload {
        #[command(flatten)]
        target: cli::ApiTarget,
    },
    /// A running node's negative trust anchors (RFC 7646, through its API).
    Nta {
        #[command(subcommand)]
        action: cli::NtaAction,
        #[command(flatten)]
        target: cli::ApiTarget,
    },
    /// Print the version.
    Version,
    /// Benchmark floor: answer every UDP query with one canned A record.
    #[command(hide = true)]
    Floor {
        /// The address to serve on.
        #[arg(long, default_value = "127.0.0.1:5399")]
        listen: std::net::SocketAddr,
        /// Worker threads, each with its own socket.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

fn main() -> ExitCode {
    let command = Command::parse();
    match command.action {
        Action::Version => {
            println!("hanse {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Action::CheckConfig { file } => check_config(&file),
        Action::Fleet { action } => fleet::run(action),
        Action::Stats { target } => report_cli(cli::stats(&target)),
        Action::Cache { action, target } => report_cli(cli::cache(&target, &action)),
        Action::Feeds { action, target } => report_cli(cli::feeds(&target, &action)),
        Action::Reload { target } => report_cli(cli::reload(&target)),
        Action::Nta { action, target } => report_cli(cli::nta(&target, &action)),
        Action::Explain {
            name,
            rtype,
            client,
            at,
            config,
        } => match explain(&name, &rtype, client, at.as_deref(), config.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("hanse explain: {error:#}");
                ExitCode::FAILURE
            }
        },
        Action::Floor { listen, threads } => match hanse_server::serve_floor(listen, threads) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("hanse floor: {error}");
                ExitCode::FAILURE
            }
        },
        Action::Serve { config } => match serve(config.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("hanse: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The exit status of a command over the API, with its error printed.
fn report_cli(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hanse: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads a configuration and everything it points to (the root hints and
/// the filtering feeds), returning every problem found.
fn load_everything(path: &Path) -> Result<(Config, ResolverConfig, PolicyLoad), Vec<String>> {
    let config = config::load(path)
        .map_err(|problems| problems.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let resolver = resolver_config(&config).map_err(|error| vec![format!("{error:#}")]);
    let policy = feeds::load_policy(&config.policy);
    match (resolver, policy) {
        (Ok(resolver), Ok(policy)) => Ok((config, resolver, policy)),
        (resolver, policy) => Err(resolver
            .err()
            .into_iter()
            .flatten()
            .chain(policy.err().into_iter().flatten())
            .collect()),
    }
}

fn check_config(path: &Path) -> ExitCode {
    match load_everything(path) {
        Ok((_, _, policy)) => {
            for warning in &policy.messages.warnings {
                eprintln!("warning: {warning}");
            }
            for summary in &policy.messages.summaries {
                println!("{summary}");
            }
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            eprintln!("{}: {} problem(s)", path.display(), problems.len());
            ExitCode::FAILURE
        }
    }
}

/// `[dnssec]` as the resolver takes it: the built-in root anchors unless a
/// trust-anchor file is given or the root hints name a private root.
fn dnssec_config(section: &config::DnssecSection, own_root: bool) -> anyhow::Result<DnssecConfig> {
    let anchors = match &section.trust_anchor_file {
        Some(path) => hanse_resolve::hanse_dnssec::parse_trust_anchors(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read trust anchors {}", path.display()))?,
        )
        .with_context(|| format!("{}", path.display()))?,
        None if own_root => Vec::new(),
        None => hanse_resolve::hanse_dnssec::builtin_root_anchors(),
    };
    let mut dnssec = DnssecConfig::with_anchors(anchors);
    dnssec.validation = section.validation;
    dnssec.negative_trust_anchors = section.negative_trust_anchors.clone();
    dnssec.aggressive_nsec = section.aggressive_nsec;
    Ok(dnssec)
}

/// The TLS settings of the encrypted upstream servers: CA files read, the
/// system trust store loaded once if any server needs it.
fn encrypted_upstreams(
    servers: &[config::EncryptedServer],
) -> anyhow::Result<Vec<EncryptedUpstream>> {
    let mut system: Option<UpstreamTrust> = None;
    let mut upstreams = Vec::with_capacity(servers.len());
    for server in servers {
        let trust = match &server.ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("cannot read CA file {}", path.display()))?;
                UpstreamTrust::from_pem(&pem)
                    .with_context(|| format!("CA file {}", path.display()))?
            }
            None => match &system {
                Some(trust) => trust.clone(),
                None => {
                    let trust = UpstreamTrust::system().context("upstream TLS trust store")?;
                    system = Some(trust.clone());
                    trust
                }
            },
        };
        let protocol = match &server.transport {
            config::UpstreamTransport::Tls => EncryptedProtocol::Tls,
            config::UpstreamTransport::Https { path } => {
                EncryptedProtocol::Https { path: path.clone() }
            }
        };
        let upstream = EncryptedUpstream::new(server.address, &server.tls_name, protocol, &trust)
            .with_context(|| format!("upstream server {}", server.address))?;
        upstreams.push(upstream);
    }
    Ok(upstreams)
}

fn resolver_config(config: &Config) -> anyhow::Result<ResolverConfig> {
    let section = &config.resolver;
    let hints = match &section.root_hints {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read root hints {}", path.display()))?;
            hanse_zone::parse_root_hints(&text).map_err(|error| {
                anyhow::anyhow!(
                    "{}:{}:{}: {}",
                    path.display(),
                    error.line,
                    error.column,
                    error.message
                )
            })?
        }
        None => hanse_zone::builtin_root_hints(),
    };
    let mode = match section.mode {
        config::ResolverMode::Recursive => ResolverMode::Recursive,
        config::ResolverMode::Forward => ResolverMode::Forward(section.forwarders.clone()),
    };
    let zones = |zones: &[config::ZoneServers]| -> Vec<ZoneServers> {
        zones
            .iter()
            .map(|zone| ZoneServers {
                name: zone.name.clone(),
                servers: zone.servers.clone(),
            })
            .collect()
    };
    let limits = &section.limits;
    let dnssec = dnssec_config(&config.dnssec, section.root_hints.is_some())?;
    let encrypted_upstreams = encrypted_upstreams(&section.encrypted_servers)?;
    Ok(ResolverConfig {
        mode,
        root_hints: hints
            .servers
            .into_iter()
            .map(|server| (server.name, server.addresses))
            .collect(),
        forward_zones: zones(&section.forward_zones),
        stub_zones: zones(&section.stub_zones),
        query_private_upstreams: section.query_private_upstreams,
        qname_minimisation: match section.qname_minimisation {
            config::QnameMinimisation::Off => QnameMinimisation::Off,
            config::QnameMinimisation::Relaxed => QnameMinimisation::Relaxed,
            config::QnameMinimisation::Strict => QnameMinimisation::Strict,
        },
        edns_buffer_size: section.edns_buffer_size,
        limits: Limits {
            max_upstream_queries: limits.max_upstream_queries,
            max_nameserver_names: limits.max_nameserver_names,
            max_cname_chain: limits.max_cname_chain,
            max_resolution_time: limits.max_resolution_time,
            upstream_timeout: limits.upstream_timeout,
            max_delegation_depth: limits.max_delegation_depth,
            max_outstanding_per_zone: limits.max_outstanding_per_zone,
            max_outstanding_per_server: limits.max_outstanding_per_server,
        },
        dnssec,
        encrypted_upstreams,
        stale: StaleConfig {
            serve_stale: config.cache.serve_stale,
            stale_answer_ttl: config.cache.stale_answer_ttl,
            client_response_timeout: config.cache.client_response_timeout,
            prefetch: config.cache.prefetch,
            prefetch_threshold: config.cache.prefetch_threshold,
        },
    })
}

fn settings(
    config: &Config,
    policy: &PolicyLoad,
    observer: Option<Arc<dyn QueryObserver>>,
    primary: &Arc<primary::Primary>,
) -> Settings {
    Settings {
        access: AccessList::new(
            config
                .server
                .allow_from
                .iter()
                .map(|network| (network.address, network.prefix_length))
                .collect(),
        ),
        edns_buffer_size: config.resolver.edns_buffer_size,
        servfail_ttl: config.cache.servfail_ttl,
        policy: policy.policy.clone(),
        extra_text: config.policy.extra_text,
        notify: policy.supply.as_ref().map(|supply| {
            Arc::new(feeds::NotifyToSupply(Arc::clone(supply))) as Arc<dyn NotifyReceiver>
        }),
        observer,
        proxy_protocol_from: AccessList::new(
            config
                .server
                .proxy_protocol_from
                .iter()
                .map(|network| (network.address, network.prefix_length))
                .collect(),
        ),
        rate_limit: rate_limit_settings(&config.rate_limit),
        transfer: (!config.policy.serve.is_empty())
            .then(|| Arc::clone(primary) as Arc<dyn hanse_server::TransferProvider>),
        cookies: CookieSettings {
            secrets: cookie_secrets(config.server.cookie_secret),
            require: config.server.require_cookies,
        },
    }
}

/// The server cookie secrets in force: a random secret at start unless
/// `[server] cookie_secret` names one; when a reload brings another
/// configured secret, the one before stays accepted as the previous secret
/// (RFC 9018 §4.5). A reload without the key keeps the secret in force.
fn cookie_secrets(configured: Option<[u8; 16]>) -> hanse_wire::cookie::ServerSecrets {
    use hanse_wire::cookie::ServerSecrets;
    static IN_FORCE: std::sync::Mutex<Option<ServerSecrets>> = std::sync::Mutex::new(None);
    let mut in_force = IN_FORCE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let secrets = match (in_force.take(), configured) {
        (None, Some(secret)) => ServerSecrets::new(secret),
        (None, None) => ServerSecrets::new(rand::random()),
        (Some(old), Some(secret)) if old.current != secret => ServerSecrets {
            current: secret,
            previous: Some(old.current),
        },
        (Some(old), _) => old,
    };
    *in_force = Some(secrets.clone());
    secrets
}

/// The server's rate-limit settings from `[rate_limit]`.
fn rate_limit_settings(section: &config::RateLimitSection) -> hanse_server::RateLimitSettings {
    hanse_server::RateLimitSettings {
        queries_per_second: section.queries_per_second,
        burst: section.burst,
        ipv4_prefix: section.ipv4_prefix,
        ipv6_prefix: section.ipv6_prefix,
        exempt: AccessList::new(
            section
                .exempt
                .iter()
                .map(|network| (network.address, network.prefix_length))
                .collect(),
        ),
        action: match section.action {
            config::RateLimitAction::Drop => hanse_server::LimitAction::Drop,
            config::RateLimitAction::Refuse => hanse_server::LimitAction::Refuse,
        },
        responses_per_second: section.responses_per_second,
        slip: section.slip,
        max_resolutions: section.max_resolutions,
        max_resolutions_per_client: section.max_resolutions_per_client,
        overload_action: match section.overload_action {
            config::OverloadAction::Servfail => hanse_server::OverloadAction::Servfail,
            config::OverloadAction::Drop => hanse_server::OverloadAction::Drop,
        },
    }
}

/// Renders the served feeds (`[[policy.serve]]`) of `config` from the
/// policy's current feeds.
fn update_primary(primary: &primary::Primary, config: &Config, policy: &PolicyLoad) {
    let feeds = policy
        .supply
        .as_ref()
        .map(|supply| supply.feeds())
        .unwrap_or_default();
    primary.update(&config.policy.serve, &feeds);
}

/// Logs what the feed supply noticed.
fn log_messages(messages: &Messages) {
    for summary in &messages.summaries {
        tracing::info!("{summary}");
    }
    for warning in &messages.warnings {
        tracing::warn!("{warning}");
    }
}

/// `hanse explain`: loads the configuration and feeds as `serve` does, and
/// prints the policy's explanation for one query.
fn explain(
    name: &str,
    rtype: &str,
    client: Option<IpAddr>,
    at: Option<&str>,
    path: Option<&Path>,
) -> anyhow::Result<()> {
    let name = Name::from_ascii(name).map_err(|error| anyhow::anyhow!("{name:?}: {error}"))?;
    let rtype = RType::from_str(rtype)
        .map_err(|()| anyhow::anyhow!("--type {rtype:?}: not a record type such as A or AAAA"))?;
    let time = match at {
        Some(text) => parse_time(text)?,
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?;
            UnixTime(i64::try_from(now.as_secs()).unwrap_or(i64::MAX))
        }
    };
    let load = match path {
        Some(path) => match load_everything(path) {
            Ok((_, _, load)) => load,
            Err(problems) => bail!(
                "{} problem(s) in the configuration:\n{}",
                problems.len(),
                problems.join("\n")
            ),
        },
        None => PolicyLoad::default(),
    };
    for warning in &load.messages.warnings {
        eprintln!("warning: {warning}");
    }
    let policy = match load.policy {
        Some(policy) => policy,
        // No filtering configured: one empty default profile, so that the
        // explanation still says why the name passes.
        None => Arc::new(PolicySet::build(
            vec![ProfileSpec::new("default", &[])],
            Vec::new(),
            Vec::new(),
        )?),
    };
    let client = ClientInfo {
        address: client,
        ..ClientInfo::default()
    };
    print!("{}", policy.explain(&name, rtype, &client, time));
    Ok(())
}

/// `--at`: Unix seconds, or an RFC 3339 date and time with an offset
/// (`2025-01-06T22:30:00Z`, `2025-01-06T22:30:00.5+01:00`).
fn parse_time(text: &str) -> anyhow::Result<UnixTime> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(UnixTime(seconds));
    }
    parse_rfc3339(text).map(UnixTime).ok_or_else(|| {
        anyhow::anyhow!(
            "--at {text:?}: not RFC 3339 (as in 2025-01-06T22:30:00+01:00) or Unix seconds"
        )
    })
}

/// Seconds since 1970 of an RFC 3339 `date-time` (§5.6); `T` may be `t` or
/// a space, `Z` may be `z`; a leap second counts as second 59.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let number = |start: usize, end: usize| -> Option<i64> {
        let part = text.get(start..end)?;
        if !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let separator_at = |index: usize, separators: &[u8]| {
        bytes
            .get(index)
            .is_some_and(|byte| separators.contains(byte))
    };
    if !(separator_at(4, b"-")
        && separator_at(7, b"-")
        && separator_at(10, b"Tt ")
        && separator_at(13, b":")
        && separator_at(16, b":"))
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = fraction.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let (hours, minutes) = (
                rest.get(1..3)?.parse::<i64>().ok()?,
                rest.get(4..6)?.parse::<i64>().ok()?,
            );
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_length = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&month)
        || !(1..=month_length).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_since_1970(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar:
/// years counted from March (so the leap day ends a year), in 400-year
/// cycles of 146097 days.
fn days_since_1970(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let cycle = year.div_euclid(400);
    let year_of_cycle = year - cycle * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_cycle = year_of_cycle * 365 + year_of_cycle / 4 - year_of_cycle / 100 + day_of_year;
    // 719468 days from 0000-03-01 to 1970-01-01.
    cycle * 146_097 + day_of_cycle - 719_468
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

fn serve(path: Option<&Path>) -> anyhow::Result<()> {
    // One jemalloc background thread returns freed pages to the system
    // after its decay time (10 s), also while the process is idle: the
    // transient memory of loading a large feed (its text and records) would
    // otherwise stay resident until the next allocation burst.
    if let Err(error) = tikv_jemalloc_ctl::max_background_threads::write(1)
        .and_then(|()| tikv_jemalloc_ctl::background_thread::write(true))
    {
        eprintln!("hanse: cannot start jemalloc's background thread: {error}");
    }
    let (mut config, resolver_settings, policy) = match path {
        Some(path) => match load_everything(path) {
            Ok(loaded) => loaded,
            Err(problems) => bail!(
                "{} problem(s) in the configuration:\n{}",
                problems.len(),
                problems.join("\n")
            ),
        },
        None => {
            let config = Config::default();
            let resolver = resolver_config(&config)?;
            (config, resolver, PolicyLoad::default())
        }
    };
    init_logging(&config.log.level);
    if path.is_none() && config.api.enabled && config.api.tokens.is_empty() {
        // A zero-configuration start: the API gets an admin token of its
        // own, made once and kept in the state directory.
        match cli::first_start_token(&config.policy.state_directory) {
            Ok((token, file, made)) => {
                config.api.tokens.push((token, config::ApiScope::Admin));
                tracing::info!(
                    "API admin token {} {} (the dashboard asks for it; `hanse stats` reads it)",
                    if made { "created in" } else { "read from" },
                    file.display()
                );
            }
            Err(error) => tracing::warn!(
                "no API token ({error:#}): the API and dashboard are open to loopback clients only"
            ),
        }
    }
    let mut policy = policy;
    log_messages(&policy.messages);
    // The zones served as a primary, rendered before the first transfer.
    let primary = Arc::new(primary::Primary::new(
        &config.policy.state_directory,
        &config.server.listen,
    ));
    update_primary(&primary, &config, &policy);
    if path.is_none() {
        // The embedded defaults listen on [::1] too; skip it on hosts without IPv6.
        config.server.listen.retain(|address| {
            address.is_ipv4() || std::net::UdpSocket::bind((address.ip(), 0)).is_ok()
        });
    }
    // The answer cache gets a quarter of the memory, the RRset cache the rest.
    let memory = usize::try_from(config.cache.max_memory).unwrap_or(usize::MAX);
    let cache = Arc::new(RrsetCache::new(CacheConfig {
        max_bytes: memory - memory / 4,
        min_ttl: config.cache.min_ttl,
        max_ttl: config.cache.max_ttl,
        negative_max_ttl: config.cache.negative_max_ttl,
        servfail_ttl: config.cache.servfail_ttl,
        max_stale: if config.cache.serve_stale {
            u32::try_from(config.cache.max_stale.as_secs()).unwrap_or(u32::MAX)
        } else {
            0
        },
    }));
    let answers = Arc::new(AnswerCache::new(memory / 4));
    let clock = Arc::new(MonotonicClock::new());
    let configured_anchors = resolver_settings.dnssec.trust_anchors.clone();
    let resolver = Resolver::new_shared(
        resolver_settings,
        cache,
        NetworkTransport::new(),
        Arc::clone(&clock) as Arc<dyn hanse_resolve::Clock>,
    );
    // Saved negative trust anchors and the RFC 5011 state apply before
    // the first query.
    let trust = Arc::new(trust_anchors::TrustKeeper::new(
        &config.dnssec,
        config.resolver.root_hints.is_some(),
        &configured_anchors,
        &config.policy.state_directory,
        Arc::clone(&resolver),
    ));
    let server_config = ServerConfig {
        listen: config.server.listen.clone(),
        threads: config.server.threads,
        tcp_idle_timeout: config.server.tcp_idle_timeout,
        max_tcp_connections: config.server.max_tcp_connections,
        max_tcp_connections_per_client: config.server.max_tcp_connections_per_client,
    };
    let encrypted = encrypted_config(&config);
    // The signal handlers are installed before the first query is answered:
    // a SIGHUP that arrived in between would otherwise end the process.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    let (mut terminate, mut interrupt, mut hangup) = {
        use tokio::signal::unix::{SignalKind, signal};
        let _context = runtime.enter();
        (
            signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        )
    };
    // The feed supply calls this after any remote feed changed; the loop
    // below rebuilds the policy and swaps it in.
    let feeds_changed = Arc::new(tokio::sync::Notify::new());
    let on_change: Arc<dyn Fn() + Send + Sync> = {
        let feeds_changed = Arc::clone(&feeds_changed);
        Arc::new(move || feeds_changed.notify_one())
    };
    // The query log (off by default) is opened before the first query, so
    // that every answered query can reach it.
    let query_log = open_query_log(&config)?;
    let dnstap = start_dnstap(&config)?;
    let observer: Option<Arc<dyn QueryObserver>> =
        (query_log.is_some() || dnstap.is_some()).then(|| {
            Arc::new(operations::QueryLogObserver {
                log: query_log.clone(),
                dnstap: dnstap.clone(),
            }) as Arc<dyn QueryObserver>
        });
    let server = Arc::new(Server::start_encrypted(
        &server_config,
        &encrypted,
        settings(&config, &policy, observer.clone(), &primary),
        Arc::clone(&resolver),
        Arc::clone(&answers),
    )?);
    for address in server.local_addresses() {
        tracing::info!("serving DNS on {address} (UDP and TCP)");
    }
    for address in server.tls_addresses() {
        tracing::info!("serving DNS over TLS on {address}");
    }
    for address in server.https_addresses() {
        tracing::info!("serving DNS over HTTPS on {address} (path /dns-query)");
    }
    for address in server.quic_addresses() {
        tracing::info!("serving DNS over QUIC on {address} (UDP)");
    }
    for address in server.http_addresses() {
        tracing::info!("serving DNS over cleartext HTTP on {address} (for a reverse proxy)");
    }
    // The feeds' generation the policy in force was built from.
    let mut built_generation = 0;
    if let Some(supply) = &policy.supply {
        built_generation = supply.generation();
        supply.start(Arc::clone(&on_change));
    }
    let (requests, mut api_requests) = tokio::sync::mpsc::unbounded_channel();
    let draining = Arc::new(AtomicBool::new(false));
    trust.start(Arc::clone(&server), Arc::clone(&draining));
    let operations = Arc::new(operations::Operations {
        started: std::time::Instant::now(),
        statistics: server.statistics(),
        resolver: Arc::clone(&resolver),
        answers,
        server: Arc::clone(&server),
        clock,
        query_log: query_log.clone(),
        dnstap: dnstap.clone(),
        policy: arc_swap::ArcSwap::from_pointee(policy_view(&config, &policy, path)),
        draining: Arc::clone(&draining),
        requests,
        samples: std::sync::Mutex::new(std::collections::VecDeque::new()),
        edit_lock: std::sync::Mutex::new(()),
        primary: Arc::clone(&primary),
        trust,
    });
    let api = start_api(&config, &operations)?;
    let notifier = systemd::Notifier::from_environment();
    let watchdog_interval = notifier.watchdog_interval();
    if let Some(interval) = watchdog_interval {
        tracing::info!(
            "systemd watchdog: keep-alive every {} ms",
            interval.as_millis()
        );
    }
    runtime.block_on(async {
        // READY=1 once every feed has a copy; until then the readiness is
        // looked at every READINESS_POLL.
        let mut ready_sent = !notifier.is_active();
        let mut readiness = tokio::time::interval(READINESS_POLL);
        let mut watchdog = tokio::time::interval(watchdog_interval.unwrap_or(Duration::MAX / 4));
        loop {
            tokio::select! {
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = watchdog.tick(), if watchdog_interval.is_some() => notifier.watchdog(),
                _ = readiness.tick(), if !ready_sent => {
                    let waiting = feeds_without_copy(&policy);
                    if waiting.is_empty() {
                        notifier.ready(&serving_status(&server, &policy));
                        ready_sent = true;
                    } else {
                        notifier.status(&format!("waiting for the first copy of feed(s) {}", waiting.join(", ")));
                    }
                }
                () = feeds_changed.notified() => {
                    let Some(supply) = policy.supply.clone() else {
                        continue;
                    };
                    log_messages(&supply.take_messages());
                    let generation = supply.generation();
                    if generation == built_generation {
                        continue;
                    }
                    built_generation = generation;
                    match feeds::build_policy(&config.policy, &supply) {
                        Ok(rebuilt) => {
                            policy.policy = Some(rebuilt);
                            update_primary(&primary, &config, &policy);
                            server.reload(settings(&config, &policy, observer.clone(), &primary));
                            operations.policy.store(Arc::new(policy_view(&config, &policy, path)));
                        }
                        Err(error) => tracing::error!("feed update not applied: {error}"),
                    }
                }
                _ = hangup.recv() => {
                    // Certificates first: a renewed certificate is taken even
                    // if the configuration file has a problem.
                    notifier.reloading();
                    if let Err(error) = server.reload_certificates() {
                        tracing::error!("certificate not reloaded, the old one stays: {error}");
                    }
                    let outcome = reload(path, &mut config, &mut policy, &mut built_generation, &Reloading {
                        resolver: &resolver,
                        server: &server,
                        on_change: &on_change,
                        observer: &observer,
                        operations: &operations,
                        primary: &primary,
                    });
                    if let Err(problems) = &outcome {
                        for problem in problems {
                            tracing::error!("reload refused: {problem}");
                        }
                    }
                    notify_reloaded(&notifier, ready_sent, &outcome, &server, &policy);
                }
                Some(request) = api_requests.recv() => match request {
                    operations::Request::Reload(reply) => {
                        notifier.reloading();
                        let outcome = reload(path, &mut config, &mut policy, &mut built_generation, &Reloading {
                            resolver: &resolver,
                            server: &server,
                            on_change: &on_change,
                            observer: &observer,
                            operations: &operations,
                            primary: &primary,
                        });
                        if let Err(problems) = &outcome {
                            for problem in problems {
                                tracing::error!("reload through the API refused: {problem}");
                            }
                        }
                        notify_reloaded(&notifier, ready_sent, &outcome, &server, &policy);
                        let _ = reply.send(outcome);
                    }
                },
            }
        }
        Ok::<(), std::io::Error>(())
    })?;
    // Not ready from now on: load balancers and Kubernetes stop sending.
    // DNS is still answered for the lame-duck period, while they notice.
    draining.store(true, Ordering::Relaxed);
    let lame_duck = config.server.lame_duck;
    notifier.stopping(&format!(
        "not ready; lame-duck period of {} ms, then draining",
        lame_duck.as_millis()
    ));
    tracing::info!(
        "not ready; answering for the lame-duck period of {} ms, then draining",
        lame_duck.as_millis()
    );
    runtime.block_on(async {
        // A second SIGTERM or SIGINT ends the lame-duck period early.
        let end = tokio::time::sleep(lame_duck);
        tokio::pin!(end);
        let mut watchdog = tokio::time::interval(watchdog_interval.unwrap_or(Duration::MAX / 4));
        loop {
            tokio::select! {
                () = &mut end => break,
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = watchdog.tick(), if watchdog_interval.is_some() => notifier.watchdog(),
            }
        }
    });
    tracing::info!("draining");
    if let Some(supply) = &policy.supply {
        supply.stop();
    }
    // Lame duck, drain and the API's stop fit in Kubernetes' 30 s grace.
    let grace = DRAIN_GRACE.min(SHUTDOWN_BUDGET.saturating_sub(lame_duck));
    std::thread::scope(|scope| {
        if let Some(api) = api {
            scope.spawn(move || api.stop());
        }
        server.shutdown(grace);
    });
    if let Some(log) = query_log {
        // Flushes what is queued; the last reference closes the database.
        let _ = log.flush(Duration::from_secs(5));
    }
    Ok(())
}

/// The names of the configured feeds that have no copy yet (no saved copy,
/// no fetch): while there are any, the node is not ready.
fn feeds_without_copy(policy: &PolicyLoad) -> Vec<String> {
    policy
        .supply
        .as_ref()
        .map(|supply| {
            supply
                .status()
                .into_iter()
                .filter(|feed| feed.copy_origin == hanse_feeds::CopyOrigin::None)
                .map(|feed| feed.name)
                .collect()
        })
        .unwrap_or_default()
}

/// The status line of a node that serves: its DNS listeners and feeds.
fn serving_status(server: &Server, policy: &PolicyLoad) -> String {
    let addresses: Vec<String> = server
        .local_addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    let feeds = policy
        .supply
        .as_ref()
        .map_or(0, |supply| supply.status().len());
    format!(
        "serving DNS on {}; {feeds} feed(s) loaded",
        addresses.join(", ")
    )
}

/// After a reload: READY=1 again (if the node was ready before), with a
/// status line that says whether the reload was taken.
fn notify_reloaded(
    notifier: &systemd::Notifier,
    ready_sent: bool,
    outcome: &Result<(), Vec<String>>,
    server: &Server,
    policy: &PolicyLoad,
) {
    let status = match outcome {
        Ok(()) => format!("reloaded; {}", serving_status(server, policy)),
        Err(problems) => format!(
            "reload refused ({} problem(s)), the previous configuration stays; {}",
            problems.len(),
            serving_status(server, policy)
        ),
    };
    if ready_sent {
        notifier.ready(&status);
    } else {
        notifier.status(&status);
    }
}

/// The encrypted listeners of the configuration.
fn encrypted_config(config: &Config) -> EncryptedConfig {
    EncryptedConfig {
        tls_listen: config.server.tls_listen.clone(),
        https_listen: config.server.https_listen.clone(),
        http_listen: config.server.doh_cleartext_listen.clone(),
        quic_listen: config.server.quic_listen.clone(),
        quic: QuicSettings {
            idle_timeout: config.server.quic_idle_timeout,
            max_streams_per_connection: config.server.max_quic_streams,
            max_connections: config.server.max_quic_connections,
            max_connections_per_client: config.server.max_quic_connections_per_client,
        },
        certificate: config
            .server
            .certificate
            .clone()
            .zip(config.server.private_key.clone())
            .map(|(certificate_chain, private_key)| CertificateFiles {
                certificate_chain,
                private_key,
            }),
    }
}

/// What a reload changes besides the configuration and the policy.
struct Reloading<'a> {
    resolver: &'a Arc<Resolver<NetworkTransport>>,
    server: &'a Server,
    on_change: &'a Arc<dyn Fn() + Send + Sync>,
    observer: &'a Option<Arc<dyn QueryObserver>>,
    operations: &'a operations::Operations,
    primary: &'a Arc<primary::Primary>,
}

/// Reloads the configuration file (SIGHUP, or the API): builds everything
/// beside what is running, and swaps it in only if all of it loads.
fn reload(
    path: Option<&Path>,
    config: &mut Config,
    policy: &mut PolicyLoad,
    built_generation: &mut u64,
    running: &Reloading<'_>,
) -> Result<(), Vec<String>> {
    let Some(path) = path else {
        return Err(vec!["no configuration file to reload".to_owned()]);
    };
    let (mut new_config, new_resolver, new_policy) = load_everything(path)?;
    if new_config.server.listen != config.server.listen
        || encrypted_config(&new_config) != encrypted_config(config)
        || new_config.server.threads != config.server.threads
        || new_config.cache.max_memory != config.cache.max_memory
        || new_config.api != config.api && new_config.api.listen != config.api.listen
        || new_config.query_log != config.query_log
    {
        tracing::warn!(
            "listen addresses (encrypted ones and the certificate's paths too), threads, cache size, the API listener and the query log change only on restart"
        );
    }
    // Keep what is running, so the next reload compares against it.
    new_config.server.listen.clone_from(&config.server.listen);
    new_config
        .server
        .tls_listen
        .clone_from(&config.server.tls_listen);
    new_config
        .server
        .https_listen
        .clone_from(&config.server.https_listen);
    new_config
        .server
        .doh_cleartext_listen
        .clone_from(&config.server.doh_cleartext_listen);
    new_config
        .server
        .quic_listen
        .clone_from(&config.server.quic_listen);
    new_config.server.quic_idle_timeout = config.server.quic_idle_timeout;
    new_config.server.max_quic_connections = config.server.max_quic_connections;
    new_config.server.max_quic_connections_per_client =
        config.server.max_quic_connections_per_client;
    new_config.server.max_quic_streams = config.server.max_quic_streams;
    new_config
        .server
        .certificate
        .clone_from(&config.server.certificate);
    new_config
        .server
        .private_key
        .clone_from(&config.server.private_key);
    new_config.server.threads = config.server.threads;
    new_config.cache.max_memory = config.cache.max_memory;
    new_config.api.listen = config.api.listen;
    new_config.api.enabled = config.api.enabled;
    new_config.query_log.clone_from(&config.query_log);
    log_messages(&new_policy.messages);
    running
        .operations
        .trust
        .set_configured_negative(new_resolver.dnssec.negative_trust_anchors.clone());
    running.resolver.reconfigure(new_resolver);
    update_primary(running.primary, &new_config, &new_policy);
    // The new policy was built beside the old one; the reload swaps it in
    // whole. The new supply starts from the saved copies and checks its
    // sources again; the old one stops aside.
    running.server.reload(settings(
        &new_config,
        &new_policy,
        running.observer.clone(),
        running.primary,
    ));
    if let Some(supply) = &new_policy.supply {
        *built_generation = supply.generation();
        supply.start(Arc::clone(running.on_change));
    }
    if let Some(old) = std::mem::replace(policy, new_policy).supply {
        std::thread::spawn(move || old.stop());
    }
    *config = new_config;
    running
        .operations
        .policy
        .store(Arc::new(policy_view(config, policy, Some(path))));
    tracing::info!("configuration reloaded from {}", path.display());
    Ok(())
}

/// The API's view of the policy and settings in force.
fn policy_view(
    config: &Config,
    policy: &PolicyLoad,
    config_path: Option<&Path>,
) -> operations::PolicyView {
    operations::PolicyView {
        config_path: config_path.map(Path::to_path_buf),
        section: config.policy.clone(),
        load: operations::PolicyLoadView::from(policy),
        settings: settings_page(config),
        policy_file: config.api.policy_file.clone(),
    }
}

/// The settings page of the dashboard: the configuration in force, without
/// secrets (token values are never shown).
fn settings_page(config: &Config) -> Vec<hanse_api::model::Setting> {
    let setting = |section: &str, key: &str, value: String| hanse_api::model::Setting {
        section: section.to_owned(),
        key: key.to_owned(),
        value,
    };
    let join = |items: Vec<String>| items.join(", ");
    vec![
        setting(
            "server",
            "listen",
            join(
                config
                    .server
                    .listen
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
        ),
        setting("server", "threads", config.server.threads.to_string()),
        setting(
            "server",
            "allow_from",
            join(
                config
                    .server
                    .allow_from
                    .iter()
                    .map(|network| format!("{}/{}", network.address, network.prefix_length))
                    .collect(),
            ),
        ),
        setting(
            "resolver",
            "mode",
            format!("{:?}", config.resolver.mode).to_lowercase(),
        ),
        setting(
            "resolver",
            "qname_minimisation",
            format!("{:?}", config.resolver.qname_minimisation).to_lowercase(),
        ),
        setting("cache", "max_memory", config.cache.max_memory.to_string()),
        setting("policy", "feeds", config.policy.feeds.len().to_string()),
        setting(
            "policy",
            "profiles",
            config.policy.profiles.len().to_string(),
        ),
        setting("policy", "clients", config.policy.clients.len().to_string()),
        setting(
            "policy",
            "state_directory",
            config.policy.state_directory.display().to_string(),
        ),
        setting("api", "listen", config.api.listen.to_string()),
        setting("api", "tokens", config.api.tokens.len().to_string()),
        setting("query_log", "enabled", config.query_log.enabled.to_string()),
        setting(
            "query_log",
            "privacy_level",
            config.query_log.privacy_level.to_string(),
        ),
        setting(
            "query_log",
            "retention_days",
            config.query_log.retention_days.to_string(),
        ),
    ]
}

/// Starts the dnstap export if `[query_log.dnstap]` is there.
fn start_dnstap(config: &Config) -> anyhow::Result<Option<Arc<hanse_querylog::DnstapExporter>>> {
    let section = &config.query_log;
    let Some(dnstap) = &section.dnstap else {
        return Ok(None);
    };
    let destination = match &dnstap.target {
        config::DnstapTarget::Unix(path) => hanse_querylog::DnstapDestination::Unix(path.clone()),
        config::DnstapTarget::Tcp(address) => hanse_querylog::DnstapDestination::Tcp(*address),
    };
    let mut exporter_config = hanse_querylog::DnstapConfig::new(destination);
    exporter_config.identity.clone_from(&dnstap.identity);
    exporter_config.version.clone_from(&dnstap.version);
    exporter_config.client_queries = dnstap.client_queries;
    exporter_config.client_responses = dnstap.client_responses;
    exporter_config.queue_capacity = dnstap.queue_capacity;
    (
        exporter_config.privacy_level,
        exporter_config.excluded_clients,
        exporter_config.excluded_names,
    ) = privacy_and_exclusions(section)?;
    let exporter = hanse_querylog::DnstapExporter::start(exporter_config)
        .context("cannot start the dnstap export")?;
    tracing::info!(
        "dnstap export on: {} (privacy level {})",
        exporter.destination(),
        section.privacy_level
    );
    Ok(Some(Arc::new(exporter)))
}

/// The privacy level and the excluded clients and names of `[query_log]`,
/// which the query log and the dnstap export both apply.
fn privacy_and_exclusions(
    section: &config::QueryLogSection,
) -> anyhow::Result<(
    hanse_querylog::PrivacyLevel,
    Vec<hanse_querylog::ClientNetwork>,
    Vec<String>,
)> {
    let level = hanse_querylog::PrivacyLevel::from_number(section.privacy_level)
        .with_context(|| format!("query_log.privacy_level {}", section.privacy_level))?;
    let clients = section
        .exclude_clients
        .iter()
        .map(|(address, length)| {
            format!("{address}/{length}")
                .parse()
                .map_err(|error| anyhow::anyhow!("query_log.exclude_clients: {error}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let names = section
        .exclude_names
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok((level, clients, names))
}

/// Opens the query log if `[query_log]` turns it on.
fn open_query_log(config: &Config) -> anyhow::Result<Option<Arc<QueryLog>>> {
    let section = &config.query_log;
    if !section.enabled {
        return Ok(None);
    }
    if let Some(directory) = section.path.parent() {
        std::fs::create_dir_all(directory)
            .with_context(|| format!("cannot create {}", directory.display()))?;
    }
    let mut log_config = hanse_querylog::QueryLogConfig::new(section.path.clone());
    (
        log_config.privacy_level,
        log_config.excluded_clients,
        log_config.excluded_names,
    ) = privacy_and_exclusions(section)?;
    log_config.retention_days = section.retention_days;
    log_config.queue_capacity = section.queue_capacity;
    let log = QueryLog::open(log_config)
        .with_context(|| format!("cannot open the query log {}", section.path.display()))?;
    tracing::info!(
        "query log on: {} (privacy level {}, {} days)",
        section.path.display(),
        section.privacy_level,
        section.retention_days
    );
    Ok(Some(Arc::new(log)))
}

/// Starts the HTTP listener of the API, metrics and dashboard if `[api]`
/// turns it on.
fn start_api(
    config: &Config,
    operations: &Arc<operations::Operations>,
) -> anyhow::Result<Option<hanse_api::ApiHandle>> {
    let section = &config.api;
    if !section.enabled {
        return Ok(None);
    }
    let listener = match std::net::TcpListener::bind(section.listen) {
        Ok(listener) => listener,
        // The default listener of a file without [api] (another Hanse may
        // hold the port): DNS is served, the API is not.
        Err(error) if !section.configured => {
            tracing::error!(
                "no API, metrics or dashboard: cannot listen on {}: {error} (set [api] listen, or enabled = false)",
                section.listen
            );
            return Ok(None);
        }
        Err(error) => {
            return Err(error).with_context(|| {
                format!(
                    "cannot listen for the API on {} (set [api] listen, or enabled = false)",
                    section.listen
                )
            });
        }
    };
    let api_config = hanse_api::ApiConfig {
        tokens: section
            .tokens
            .iter()
            .map(|(token, scope)| {
                let scope = match scope {
                    config::ApiScope::Read => hanse_api::Scope::Read,
                    config::ApiScope::Admin => hanse_api::Scope::Admin,
                };
                (token.clone(), scope)
            })
            .collect(),
        open_on_loopback_without_tokens: true,
        ..hanse_api::ApiConfig::default()
    };
    let backend: Arc<dyn hanse_api::Backend> =
        Arc::clone(operations) as Arc<dyn hanse_api::Backend>;
    let handle = hanse_api::serve(listener, api_config, backend)?;
    tracing::info!(
        "API, metrics and dashboard on http://{}/",
        handle.local_addr()
    );
    Ok(Some(handle))
}
