//! The operator's HTTP interface of Hanse: a listener separate from DNS that
//! serves Prometheus metrics (`/metrics`), health checks (`/healthz/live`,
//! `/healthz/ready`), the REST API `/api/v1` described by a generated
//! OpenAPI 3.1 document (`/api/v1/openapi.json`), and the embedded web
//! dashboard (`/`).
//!
//! Standards: HTTP/1.1 (RFC 9110, RFC 9112), bearer tokens (RFC 6750),
//! problem details for errors (RFC 9457), the Prometheus text exposition
//! format 0.0.4, OpenAPI 3.1.
//!
//! This is the only crate that knows HTTP and JSON. It opens no DNS sockets
//! and depends on no resolver crate: everything it serves comes through the
//! [`Backend`] trait, which the binary implements, as the plain data types
//! of [`model`] and [`metrics`]. [`serve`] runs the listener on its own
//! thread with its own tokio runtime, so API traffic never runs on a DNS
//! worker. Routes, scopes, shapes and the dashboard's element ids are
//! documented in `docs/api.md`.
//!
//! [`client`] is the other side: a small blocking client of another node's
//! API, for `hanse fleet status`.
//!
//! Limitations: HTTP/1.1 without TLS; tokens are fixed while the listener
//! runs; the dashboard polls rather than receiving pushed updates.

mod auth;
mod backend;
pub mod client;
mod dashboard;
pub mod metrics;
pub mod model;
mod routes;
mod server;

use std::sync::Arc;
use std::time::Duration;

pub use auth::Scope;
pub use backend::{Backend, BackendError};
pub use metrics::{HistogramValue, MetricFamily, MetricKind, MetricSample, MetricValue};
pub use routes::ApiDocument;
pub use server::{ApiHandle, SHUTDOWN_GRACE};

/// Why the API listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The listening socket could not be used.
    #[error("API listener: {0}")]
    Listener(#[source] std::io::Error),
    /// The API's runtime or thread could not be created.
    #[error("API runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Settings of the API listener.
#[derive(Clone)]
pub struct ApiConfig {
    /// The bearer tokens and what each allows.
    pub tokens: Vec<(String, Scope)>,
    /// With no tokens configured: whether loopback peers get admin access
    /// (otherwise every request is refused with 401).
    pub open_on_loopback_without_tokens: bool,
    /// How long a client may take to send a request's headers (and how long
    /// an idle keep-alive connection is kept). Default 10 s.
    pub header_read_timeout: Duration,
    /// The most connections served at once. Default 256.
    pub max_connections: usize,
    /// The largest request body. Default 1 MiB.
    pub max_body_bytes: usize,
    /// The longest a request may take, body included. Default 30 s.
    pub request_timeout: Duration,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            tokens: Vec::new(),
            open_on_loopback_without_tokens: true,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens themselves.
        formatter
            .debug_struct("ApiConfig")
            .field("tokens", &self.tokens.len())
            .field(
                "open_on_loopback_without_tokens",
                &self.open_on_loopback_without_tokens,
            )
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Starts serving the API on `listener` (already bound) on a new thread with
/// its own runtime. The listener stops when the handle is stopped or dropped.
pub fn serve(
    listener: std::net::TcpListener,
    config: ApiConfig,
    backend: Arc<dyn Backend>,
) -> Result<ApiHandle, ApiError> {
    let tokens = auth::TokenTable::new(&config.tokens, config.open_on_loopback_without_tokens);
    let router = routes::router(
        backend,
        tokens,
        config.max_body_bytes,
        config.request_timeout,
    );
    server::start(listener, &config, router)
}

/// The OpenAPI document of the API as JSON (what `/api/v1/openapi.json` serves).
pub fn openapi_json() -> String {
    use utoipa::OpenApi;
    ApiDocument::openapi().to_json().unwrap_or_default()
}
