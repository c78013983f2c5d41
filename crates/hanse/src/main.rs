//! The `hanse` binary: command line, configuration file, wiring of the
//! crates, and signals. The only place that knows the config file format
//! and uses `anyhow`.
//!
//! Commands: `serve` (run the resolver), `check-config FILE` (report every
//! problem with file, line and column), `version`.
//! Signals: SIGTERM and SIGINT drain and exit; SIGHUP reloads the
//! configuration file without dropping queries.

mod config;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use config::Config;
use hanse_cache::{AnswerCache, CacheConfig, RrsetCache};
use hanse_resolve::{
    Limits, MonotonicClock, NetworkTransport, QnameMinimisation, Resolver, ResolverConfig,
    ResolverMode, ZoneServers,
};
use hanse_server::{AccessList, Server, ServerConfig, Settings};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
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

/// Loads a configuration and everything it points to (the root hints),
/// returning every problem found.
fn load_everything(path: &Path) -> Result<(Config, ResolverConfig), Vec<String>> {
    let config = config::load(path)
        .map_err(|problems| problems.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let resolver = resolver_config(&config).map_err(|error| vec![format!("{error:#}")])?;
    Ok((config, resolver))
}

fn check_config(path: &Path) -> ExitCode {
    match load_everything(path) {
        Ok(_) => {
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
        },
    })
}

fn settings(config: &Config) -> Settings {
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
        policy: None,
    }
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
    let (mut config, resolver_settings) = match path {
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
            (config, resolver)
        }
    };
    init_logging(&config.log.level);
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
    }));
    let answers = Arc::new(AnswerCache::new(memory / 4));
    let resolver = Arc::new(Resolver::new(
        resolver_settings,
        cache,
        NetworkTransport::new(),
        Arc::new(MonotonicClock::new()),
    ));
    let server_config = ServerConfig {
        listen: config.server.listen.clone(),
        threads: config.server.threads,
        tcp_idle_timeout: config.server.tcp_idle_timeout,
        max_tcp_connections: config.server.max_tcp_connections,
        max_tcp_connections_per_client: config.server.max_tcp_connections_per_client,
    };
    let server = Server::start(
        &server_config,
        settings(&config),
        Arc::clone(&resolver),
        answers,
    )?;
    for address in server.local_addresses() {
        tracing::info!("serving DNS on {address} (UDP and TCP)");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut hangup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = hangup.recv() => {
                    let Some(path) = path else {
                        tracing::warn!("SIGHUP: no configuration file to reload");
                        continue;
                    };
                    match load_everything(path) {
                        Ok((new_config, new_resolver)) => {
                            if new_config.server.listen != config.server.listen
                                || new_config.server.threads != config.server.threads
                                || new_config.cache.max_memory != config.cache.max_memory
                            {
                                tracing::warn!("listen addresses, threads and cache size change only on restart");
                            }
                            resolver.reconfigure(new_resolver);
                            server.reload(settings(&new_config));
                            tracing::info!("configuration reloaded from {}", path.display());
                        }
                        Err(problems) => {
                            for problem in problems {
                                tracing::error!("reload refused: {problem}");
                            }
                        }
                    }
                }
            }
        }
        Ok::<(), std::io::Error>(())
    })?;
    tracing::info!("draining");
    server.shutdown(DRAIN_GRACE);
    Ok(())
}
