//! DNS over TLS (RFC 7858; RFC 8310 for the server's side of authentication)
//! and the TLS configuration shared with DNS over HTTPS.
//!
//! The server's certificate chain and private key come from PEM files
//! (RFC 7468). [`CertificateStore`] builds one rustls configuration for DoT
//! (ALPN "dot", RFC 7858 §3.2 and the IANA ALPN registry) and one for DoH
//! (ALPN "h2" and "http/1.1", RFC 8484 §5.2), TLS 1.2 and 1.3, with session
//! resumption by tickets (RFC 8446 §2.2, RFC 5077) and a session cache
//! shared by every worker. A reload reads the files again and swaps both
//! configurations atomically; the ticket keys and the session cache carry
//! over, so sessions resume across a reload. A file that cannot be read or
//! does not hold a matching certificate and key leaves the configuration in
//! force.
//!
//! A DoT connection is a TCP connection with DNS messages framed by a
//! two-octet length inside TLS: after the handshake it is served by the same
//! code as DNS over TCP ([`crate::tcp`]), with the TLS server name (SNI) the
//! client sent taking part in the choice of its profile.
//!
//! # Limitations
//! - One certificate chain for every server name; no OCSP stapling.
//! - Client certificates are not requested.
//! - The handshake must finish within the idle timeout of the connection.
//! - Files are read again on [`crate::Server::reload_certificates`] (SIGHUP),
//!   not watched.

use crate::handler::{Handler, Transport};
use crate::tcp::{ConnectionLimits, accept_admitted, serve_stream};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// The ALPN protocol identifier of DNS over TLS.
const ALPN_DOT: &[u8] = b"dot";
/// The ALPN protocol identifiers DoH offers: HTTP/2 first (RFC 8484 §5.2).
const ALPN_DOH: [&[u8]; 2] = [b"h2", b"http/1.1"];
/// TLS sessions remembered for resumption by session ID (TLS 1.2) and
/// stateful TLS 1.3 tickets, across all workers.
const SESSION_CACHE_SIZE: usize = 16_384;

/// Where the server's certificate chain and private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// PEM file with the certificate chain, the server's certificate first.
    pub certificate_chain: PathBuf,
    /// PEM file with the private key (PKCS #8, PKCS #1 or SEC1).
    pub private_key: PathBuf,
}

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// A file could not be read or holds no usable PEM section.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The certificate and the key do not fit together or are not supported.
    #[error("cannot use the certificate {certificate} with the key {key}: {reason}")]
    Mismatch {
        /// The certificate file.
        certificate: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

/// The TLS configurations of the DoT and DoH listeners, swapped whole on reload.
pub(crate) struct CertificateStore {
    files: CertificateFiles,
    dot: arc_swap::ArcSwap<rustls::ServerConfig>,
    doh: arc_swap::ArcSwap<rustls::ServerConfig>,
    tickets: Arc<dyn ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions>,
}

impl CertificateStore {
    /// Reads the files and builds both configurations.
    pub(crate) fn load(files: CertificateFiles) -> Result<CertificateStore, CertificateError> {
        let tickets =
            rustls::crypto::ring::Ticketer::new().map_err(|error| CertificateError::Mismatch {
                certificate: files.certificate_chain.clone(),
                key: files.private_key.clone(),
                reason: format!("no ticket keys: {error}"),
            })?;
        let sessions: Arc<dyn StoresServerSessions> =
            ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
        let (dot, doh) = build_configurations(&files, &tickets, &sessions)?;
        Ok(CertificateStore {
            files,
            dot: arc_swap::ArcSwap::from_pointee(dot),
            doh: arc_swap::ArcSwap::from_pointee(doh),
            tickets,
            sessions,
        })
    }

    /// Reads the files again; on any error the configurations in force stay.
    pub(crate) fn reload(&self) -> Result<(), CertificateError> {
        let (dot, doh) = build_configurations(&self.files, &self.tickets, &self.sessions)?;
        self.dot.store(Arc::new(dot));
        self.doh.store(Arc::new(doh));
        Ok(())
    }

    /// An acceptor for a new DoT connection.
    pub(crate) fn dot_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.dot.load_full())
    }

    /// An acceptor for a new DoH connection.
    pub(crate) fn doh_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.doh.load_full())
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertificateError> {
    let file_error = |reason: String| CertificateError::File {
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|error| file_error(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| file_error(error.to_string()))?;
    if chain.is_empty() {
        return Err(file_error("no CERTIFICATE section".to_owned()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertificateError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| CertificateError::File {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// The DoT and DoH configurations for the files' certificate and key.
fn build_configurations(
    files: &CertificateFiles,
    tickets: &Arc<dyn ProducesTickets>,
    sessions: &Arc<dyn StoresServerSessions>,
) -> Result<(rustls::ServerConfig, rustls::ServerConfig), CertificateError> {
    let chain = read_chain(&files.certificate_chain)?;
    let key = read_key(&files.private_key)?;
    let mismatch = |error: rustls::Error| CertificateError::Mismatch {
        certificate: files.certificate_chain.clone(),
        key: files.private_key.clone(),
        reason: error.to_string(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let build = |alpn: &[&[u8]]| -> Result<rustls::ServerConfig, CertificateError> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(mismatch)?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(mismatch)?;
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        config.ticketer = Arc::clone(tickets);
        config.session_storage = Arc::clone(sessions);
        // Tickets for resumption: two per full handshake, as rustls sends by default.
        config.send_tls13_tickets = 2;
        Ok(config)
    };
    Ok((build(&[ALPN_DOT])?, build(&ALPN_DOH)?))
}

/// The accept loop of one DoT listener of one worker.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_tls(
    listener: TcpListener,
    certificates: Arc<CertificateStore>,
    handler: Arc<Handler>,
    limits: Arc<ConnectionLimits>,
    idle_timeout: Duration,
    in_flight: Arc<AtomicUsize>,
    mut shutdown: watch::Receiver<bool>,
) {
    while let Some((stream, client)) = accept_admitted(&listener, &limits, &mut shutdown).await {
        let acceptor = certificates.dot_acceptor();
        let handler = Arc::clone(&handler);
        let limits = Arc::clone(&limits);
        let in_flight = Arc::clone(&in_flight);
        let shutdown = shutdown.clone();
        tokio::task::spawn_local(async move {
            let _ = stream.set_nodelay(true);
            // The handshake counts as idle time: a client that opens a
            // connection and sends nothing is closed at the idle timeout.
            if let Ok(Ok(stream)) =
                tokio::time::timeout(idle_timeout, acceptor.accept(stream)).await
            {
                let server_name = stream.get_ref().1.server_name().map(str::to_owned);
                serve_stream(
                    stream,
                    client,
                    server_name,
                    Transport::Tls,
                    handler,
                    idle_timeout,
                    in_flight,
                    shutdown,
                )
                .await;
            }
            limits.release(client.ip());
        });
    }
}
