//! The HTTP/1.1 listener: its own thread, its own single-threaded tokio
//! runtime, an accept loop with a cap on connections, and hyper connections
//! with a header read timeout.
//!
//! Running on a separate runtime means a burst of API traffic or a slow
//! backend call never takes time from the DNS workers' runtimes. Limits: at
//! most [`crate::ApiConfig::max_connections`] connections at once (further
//! ones are closed at once), a client must deliver a request's headers
//! within [`crate::ApiConfig::header_read_timeout`] (idle keep-alive
//! connections too), headers are at most 64 KiB, bodies at most
//! [`crate::ApiConfig::max_body_bytes`], and a request takes at most
//! [`crate::ApiConfig::request_timeout`]. On stop, open connections get
//! [`SHUTDOWN_GRACE`] to finish. Limitation: HTTP/1.1 only, no TLS (put a
//! reverse proxy in front for remote access over untrusted networks).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::{ApiConfig, ApiError};

/// How long open connections may take to finish after a stop.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The largest request head (request line and headers) read.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A running API listener. Dropping it stops it, as [`ApiHandle::stop`] does.
#[derive(Debug)]
pub struct ApiHandle {
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl ApiHandle {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, gives open connections [`SHUTDOWN_GRACE`] to finish,
    /// and joins the thread (within about three seconds in all).
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the API thread panicked");
        }
    }
}

impl Drop for ApiHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

pub(crate) fn start(
    listener: std::net::TcpListener,
    config: &ApiConfig,
    router: Router,
) -> Result<ApiHandle, ApiError> {
    let address = listener.local_addr().map_err(ApiError::Listener)?;
    listener.set_nonblocking(true).map_err(ApiError::Listener)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(8)
        .thread_name("hanse-api-blocking")
        .build()
        .map_err(ApiError::Runtime)?;
    let listener = {
        let _context = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(ApiError::Listener)?
    };
    let (shutdown, receiver) = watch::channel(false);
    let limits = ConnectionLimits {
        max_connections: config.max_connections.max(1),
        header_read_timeout: config.header_read_timeout,
    };
    let thread = std::thread::Builder::new()
        .name("hanse-api".to_owned())
        .spawn(move || {
            runtime.block_on(accept_loop(listener, router, limits, receiver));
            runtime.shutdown_timeout(Duration::from_secs(1));
        })
        .map_err(ApiError::Runtime)?;
    Ok(ApiHandle {
        address,
        shutdown,
        thread: Some(thread),
    })
}

#[derive(Clone, Copy)]
struct ConnectionLimits {
    max_connections: usize,
    header_read_timeout: Duration,
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors and the like: back off briefly.
                tracing::warn!(%error, "API listener: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!(%peer, "API listener: connection limit reached, closing");
            drop(stream);
            continue;
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, router, limits, shutdown).await;
            drop(permit);
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "API connection ended");
            }
        }
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
        }
    }
}
