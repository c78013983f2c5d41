//! Binding the listening sockets and running the worker threads: UDP and
//! TCP on every worker, and on the same workers the encrypted listeners
//! (DNS over TLS, DNS over HTTPS over TLS or in cleartext, DNS over QUIC:
//! one endpoint per address, the addresses spread over the workers).

use crate::doh::serve_https;
use crate::handler::{Handler, Settings};
use crate::quic::{QuicCertificates, QuicContext, QuicSettings, bind_quic, serve_quic};
use crate::statistics::ServiceStatistics;
use crate::tcp::{ConnectionLimits, serve_tcp};
use crate::tls::{
    CertificateError, CertificateFiles, CertificateStore, serve_tls, watch_certificate_files,
};
use crate::udp::serve_udp;
use hanse_cache::AnswerCache;
use hanse_resolve::{NetworkTransport, Resolver};
use hanse_wire::Name;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the listeners need to know at start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Addresses to serve UDP and TCP on.
    pub listen: Vec<SocketAddr>,
    /// Worker threads.
    pub threads: usize,
    /// How long an idle TCP connection stays open.
    pub tcp_idle_timeout: Duration,
    /// Open TCP connections in total.
    pub max_tcp_connections: usize,
    /// Open TCP connections per client address.
    pub max_tcp_connections_per_client: usize,
}

/// The encrypted listeners and their certificate. DoT and DoH connections
/// are capped by the TCP settings of [`ServerConfig`], counted apart from
/// plain TCP, and idle ones close after its `tcp_idle_timeout`; DoQ has its
/// own limits ([`QuicSettings`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptedConfig {
    /// Addresses to serve DNS over TLS on (RFC 7858, usually port 853).
    pub tls_listen: Vec<SocketAddr>,
    /// Addresses to serve DNS over HTTPS on (RFC 8484, usually port 443).
    pub https_listen: Vec<SocketAddr>,
    /// Addresses to serve DoH in cleartext HTTP on, for a reverse proxy
    /// that terminates TLS in front of Hanse.
    pub http_listen: Vec<SocketAddr>,
    /// Addresses to serve DNS over QUIC on (RFC 9250, usually port 853/UDP).
    pub quic_listen: Vec<SocketAddr>,
    /// Timeouts and limits of the DoQ listeners.
    pub quic: QuicSettings,
    /// The certificate chain and key; needed by `tls_listen`, `https_listen`
    /// and `quic_listen`.
    pub certificate: Option<CertificateFiles>,
}

/// Why the service could not start. The operator's configuration or the
/// host is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A socket could not be bound.
    #[error("cannot listen on {address} ({protocol}): {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// "UDP" or "TCP".
        protocol: &'static str,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A worker thread or its runtime could not be started.
    #[error("cannot start a worker: {0}")]
    Worker(std::io::Error),
    /// DoT, DoH or DoQ listeners are configured without a certificate.
    #[error("DNS over TLS, HTTPS and QUIC need a certificate and a private key")]
    MissingCertificate,
    /// The certificate or its key could not be used.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
}

/// What one worker listens on.
#[derive(Default)]
struct WorkerSockets {
    plain: Vec<(std::net::UdpSocket, std::net::TcpListener)>,
    tls: Vec<std::net::TcpListener>,
    https: Vec<std::net::TcpListener>,
    http: Vec<std::net::TcpListener>,
    quic: Vec<std::net::UdpSocket>,
}

/// Binds one TCP listener per worker on `address` (the first one picks the
/// port if it is 0); returns the address bound.
fn bind_per_worker(
    address: SocketAddr,
    workers: &mut [WorkerSockets],
    slot: fn(&mut WorkerSockets) -> &mut Vec<std::net::TcpListener>,
) -> Result<SocketAddr, ServerError> {
    let mut address = address;
    for sockets in workers.iter_mut() {
        let listener = bind_tcp(address).map_err(|source| ServerError::Bind {
            address,
            protocol: "TCP",
            source,
        })?;
        if address.port() == 0 {
            address = listener.local_addr().map_err(ServerError::Worker)?;
        }
        slot(sockets).push(listener);
    }
    Ok(address)
}

/// What [`Server::flush`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushCounts {
    /// Entries of the RRset cache (RRsets, negative entries, failures).
    pub rrsets: usize,
    /// Answers of the answer cache.
    pub answers: usize,
}

/// The running service.
pub struct Server {
    workers: std::sync::Mutex<Vec<JoinHandle<()>>>,
    shutdown: watch::Sender<bool>,
    stopping: Arc<AtomicBool>,
    handler: Arc<Handler>,
    in_flight: Arc<AtomicUsize>,
    bound: Vec<SocketAddr>,
    bound_tls: Vec<SocketAddr>,
    bound_https: Vec<SocketAddr>,
    bound_http: Vec<SocketAddr>,
    bound_quic: Vec<SocketAddr>,
    certificates: Option<Arc<CertificateStore>>,
    /// The thread that reloads the certificate when its files change, and
    /// the sender that stops it.
    certificate_watch: std::sync::Mutex<Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>>,
}

pub(crate) fn bind_udp(address: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket.into())
}

fn bind_tcp(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

impl Server {
    /// Binds every socket (so that errors surface here), then starts the workers.
    pub fn start(
        config: &ServerConfig,
        settings: Settings,
        resolver: Arc<Resolver<NetworkTransport>>,
        answers: Arc<AnswerCache>,
    ) -> Result<Server, ServerError> {
        Server::start_encrypted(
            config,
            &EncryptedConfig::default(),
            settings,
            resolver,
            answers,
        )
    }

    /// [`Server::start`] with encrypted listeners besides UDP and TCP; reads
    /// the certificate first.
    pub fn start_encrypted(
        config: &ServerConfig,
        encrypted: &EncryptedConfig,
        settings: Settings,
        resolver: Arc<Resolver<NetworkTransport>>,
        answers: Arc<AnswerCache>,
    ) -> Result<Server, ServerError> {
        let threads = config.threads.max(1);
        let needs_certificate = !encrypted.tls_listen.is_empty()
            || !encrypted.https_listen.is_empty()
            || !encrypted.quic_listen.is_empty();
        let certificates = match (&encrypted.certificate, needs_certificate) {
            (_, false) => None,
            (None, true) => return Err(ServerError::MissingCertificate),
            (Some(files), true) => Some(Arc::new(CertificateStore::load(files.clone())?)),
        };
        let mut per_worker: Vec<WorkerSockets> =
            (0..threads).map(|_| WorkerSockets::default()).collect();
        let mut bound = Vec::new();
        for &requested in &config.listen {
            let mut address = requested;
            for sockets in per_worker.iter_mut() {
                let udp = bind_udp(address).map_err(|source| ServerError::Bind {
                    address,
                    protocol: "UDP",
                    source,
                })?;
                if address.port() == 0 {
                    // Port 0: the kernel chose one; the other sockets share it.
                    address = udp.local_addr().map_err(ServerError::Worker)?;
                }
                let tcp = bind_tcp(address).map_err(|source| ServerError::Bind {
                    address,
                    protocol: "TCP",
                    source,
                })?;
                sockets.plain.push((udp, tcp));
            }
            bound.push(address);
        }
        let mut bound_tls = Vec::new();
        for &address in &encrypted.tls_listen {
            bound_tls.push(bind_per_worker(address, &mut per_worker, |sockets| {
                &mut sockets.tls
            })?);
        }
        let mut bound_https = Vec::new();
        for &address in &encrypted.https_listen {
            bound_https.push(bind_per_worker(address, &mut per_worker, |sockets| {
                &mut sockets.https
            })?);
        }
        let mut bound_http = Vec::new();
        for &address in &encrypted.http_listen {
            bound_http.push(bind_per_worker(address, &mut per_worker, |sockets| {
                &mut sockets.http
            })?);
        }
        // One endpoint per DoQ address, on the workers in turn.
        let mut bound_quic = Vec::new();
        for (index, &address) in encrypted.quic_listen.iter().enumerate() {
            let socket = bind_quic(address).map_err(|source| ServerError::Bind {
                address,
                protocol: "UDP",
                source,
            })?;
            bound_quic.push(socket.local_addr().map_err(ServerError::Worker)?);
            per_worker[index % threads].quic.push(socket);
        }
        let statistics = Arc::new(ServiceStatistics::new(threads));
        let handler = Arc::new(Handler::new(resolver, answers, settings, statistics));
        let (shutdown, shutdown_receiver) = watch::channel(false);
        let stopping = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let limits = Arc::new(ConnectionLimits {
            max_total: config.max_tcp_connections.max(1),
            max_per_client: config.max_tcp_connections_per_client.max(1),
            ..ConnectionLimits::default()
        });
        // Encrypted connections are counted apart: a flood of them does not
        // take the places of plain TCP clients, nor the other way round.
        let encrypted_limits = Arc::new(ConnectionLimits {
            max_total: config.max_tcp_connections.max(1),
            max_per_client: config.max_tcp_connections_per_client.max(1),
            ..ConnectionLimits::default()
        });
        // DoQ connections are counted apart from TCP, DoT and DoH.
        let quic_limits = Arc::new(ConnectionLimits {
            max_total: encrypted.quic.max_connections.max(1),
            max_per_client: encrypted.quic.max_connections_per_client.max(1),
            ..ConnectionLimits::default()
        });
        let quic_certificates = certificates
            .as_ref()
            .filter(|_| !encrypted.quic_listen.is_empty())
            .map(|store| Arc::new(QuicCertificates::new(Arc::clone(store), &encrypted.quic)));
        let quic_idle_timeout = encrypted.quic.idle_timeout;
        let mut workers = Vec::new();
        for (index, sockets) in per_worker.into_iter().enumerate() {
            let quic_limits = Arc::clone(&quic_limits);
            let quic_certificates = quic_certificates.clone();
            let handler = Arc::clone(&handler);
            let in_flight = Arc::clone(&in_flight);
            let limits = Arc::clone(&limits);
            let encrypted_limits = Arc::clone(&encrypted_limits);
            let certificates = certificates.clone();
            let shutdown = shutdown_receiver.clone();
            let stopping = Arc::clone(&stopping);
            let idle_timeout = config.tcp_idle_timeout;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(ServerError::Worker)?;
            let worker = std::thread::Builder::new()
                .name(format!("hanse-worker-{index}"))
                .spawn(move || {
                    ServiceStatistics::enter_worker(index);
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&runtime, async move {
                        let mut loops = Vec::new();
                        let WorkerSockets {
                            plain,
                            tls,
                            https,
                            http,
                            quic,
                        } = sockets;
                        for (udp, tcp) in plain {
                            let (Ok(udp), Ok(tcp)) = (
                                tokio::net::UdpSocket::from_std(udp),
                                tokio::net::TcpListener::from_std(tcp),
                            ) else {
                                continue;
                            };
                            loops.push(tokio::task::spawn_local(serve_udp(
                                udp,
                                Arc::clone(&handler),
                                Arc::clone(&in_flight),
                                Arc::clone(&stopping),
                                shutdown.clone(),
                            )));
                            loops.push(tokio::task::spawn_local(serve_tcp(
                                tcp,
                                Arc::clone(&handler),
                                Arc::clone(&limits),
                                idle_timeout,
                                Arc::clone(&in_flight),
                                shutdown.clone(),
                            )));
                        }
                        let https = https.into_iter().map(|listener| (listener, true));
                        let http = http.into_iter().map(|listener| (listener, false));
                        for (listener, encrypted) in https.chain(http) {
                            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                                continue;
                            };
                            let certificates = if encrypted {
                                certificates.clone()
                            } else {
                                None
                            };
                            loops.push(tokio::task::spawn_local(serve_https(
                                listener,
                                certificates,
                                Arc::clone(&handler),
                                Arc::clone(&encrypted_limits),
                                idle_timeout,
                                Arc::clone(&in_flight),
                                shutdown.clone(),
                            )));
                        }
                        for listener in tls {
                            let (Ok(listener), Some(certificates)) = (
                                tokio::net::TcpListener::from_std(listener),
                                certificates.clone(),
                            ) else {
                                continue;
                            };
                            loops.push(tokio::task::spawn_local(serve_tls(
                                listener,
                                certificates,
                                Arc::clone(&handler),
                                Arc::clone(&encrypted_limits),
                                idle_timeout,
                                Arc::clone(&in_flight),
                                shutdown.clone(),
                            )));
                        }
                        for socket in quic {
                            let Some(certificates) = quic_certificates.clone() else {
                                continue;
                            };
                            let context = QuicContext {
                                certificates,
                                handler: Arc::clone(&handler),
                                limits: Arc::clone(&quic_limits),
                                idle_timeout: quic_idle_timeout,
                                in_flight: Arc::clone(&in_flight),
                            };
                            loops.push(tokio::task::spawn_local(serve_quic(
                                socket,
                                context,
                                shutdown.clone(),
                            )));
                        }
                        for task in loops {
                            let _ = task.await;
                        }
                        // Let resolutions under way finish and answer.
                        let mut shutdown = shutdown;
                        let _ = shutdown.wait_for(|stop| *stop).await;
                        while in_flight.load(Ordering::Acquire) > 0 {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    });
                })
                .map_err(ServerError::Worker)?;
            workers.push(worker);
        }
        let certificate_watch = match &certificates {
            Some(certificates) => {
                let (stop, stopped) = std::sync::mpsc::channel();
                let thread = watch_certificate_files(Arc::clone(certificates), stopped)
                    .map_err(ServerError::Worker)?;
                Some((stop, thread))
            }
            None => None,
        };
        Ok(Server {
            certificate_watch: std::sync::Mutex::new(certificate_watch),
            workers: std::sync::Mutex::new(workers),
            shutdown,
            stopping,
            handler,
            in_flight,
            bound,
            bound_tls,
            bound_https,
            bound_http,
            bound_quic,
            certificates,
        })
    }

    /// The DoT addresses bound, in the order configured.
    pub fn tls_addresses(&self) -> &[SocketAddr] {
        &self.bound_tls
    }

    /// The DoH (over TLS) addresses bound, in the order configured.
    pub fn https_addresses(&self) -> &[SocketAddr] {
        &self.bound_https
    }

    /// The cleartext DoH addresses bound, in the order configured.
    pub fn http_addresses(&self) -> &[SocketAddr] {
        &self.bound_http
    }

    /// The DoQ addresses bound (UDP), in the order configured.
    pub fn quic_addresses(&self) -> &[SocketAddr] {
        &self.bound_quic
    }

    /// Reads the certificate chain and key again (SIGHUP); new connections
    /// use them, connections already open keep theirs. On an error the
    /// certificate in force stays. Without encrypted listeners, does nothing.
    /// (The files are also watched: a change is reloaded within a few
    /// seconds without this call.)
    pub fn reload_certificates(&self) -> Result<(), ServerError> {
        match &self.certificates {
            Some(certificates) => Ok(certificates.reload()?),
            None => Ok(()),
        }
    }

    /// The addresses actually bound (with the ports the kernel chose for port 0).
    pub fn local_addresses(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// Replaces the reloadable settings; queries under way finish with the old ones.
    pub fn reload(&self, settings: Settings) {
        self.handler.reload(settings);
    }

    /// The service counters.
    pub fn statistics(&self) -> Arc<ServiceStatistics> {
        Arc::clone(&self.handler.statistics)
    }

    /// Removes `name` (with `subtree`, also every name below it) from both
    /// caches: after it returns, no answer for those names comes from either
    /// cache; the next query for them goes upstream. The RRset cache is
    /// flushed first, then the answer cache, whose flush generation keeps
    /// out answers composed meanwhile from what the first flush removed.
    /// The workers keep no other state about names. Scans both caches: an
    /// operator's tool.
    pub fn flush(&self, name: &Name, subtree: bool) -> FlushCounts {
        self.handler.flush(name, subtree)
    }

    /// Stops accepting queries, waits up to `grace` for resolutions under
    /// way to be answered, and returns when the workers are done or the
    /// grace period is over. Callable through a shared reference (the API
    /// keeps one); a second call returns at once.
    pub fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::Relaxed);
        let watch = self
            .certificate_watch
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        if let Some((stop, thread)) = watch {
            drop(stop);
            let _ = thread.join();
        }
        let _ = self.shutdown.send(true);
        let deadline = Instant::now() + grace;
        while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let workers = std::mem::take(
                &mut *self
                    .workers
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner()),
            );
            for worker in workers {
                let _ = worker.join();
            }
        }
    }
}
