//! DNS over HTTPS (RFC 8484): DNS messages in HTTP/2 (RFC 9113) or
//! HTTP/1.1 (RFC 9112) requests over TLS, or in cleartext HTTP for use
//! behind a reverse proxy that terminates TLS.
//!
//! Requests: `GET /dns-query?dns=BASE64URL` (RFC 4648 §5, without padding)
//! and `POST /dns-query` with a body of type `application/dns-message`; the
//! path `/dns-query/{token}` is the same endpoint, and the whole path takes
//! part in the choice of the client's profile (a `doh_path` client rule),
//! before the TLS server name (SNI) and the client's address. Answers are
//! `200` with `application/dns-message` and a `cache-control: max-age` of the
//! smallest TTL of the answer (RFC 8484 §5.1); a response to a query that
//! carried an EDNS Padding option is padded (RFC 7830, RFC 8467).
//!
//! Errors: `404` for other paths, `405` for other methods, `400` for a
//! missing or undecodable `dns` parameter or a message that is not a DNS
//! query, `415` for a POST of another content type, `413` for a message over
//! 65535 octets, `408` for a body not received in time, `403` when the policy
//! drops the query (DROP action: DoH has no silent drop).
//!
//! Each connection is served by hyper on the worker's own runtime; HTTP/2
//! streams are tasks on that runtime. A connection with no traffic and no
//! request under way for the idle timeout is closed, and so is one whose TLS
//! handshake does not finish in that time; connections are capped in total
//! and per client address.
//!
//! # Limitations
//! - Behind a reverse proxy, the client's address comes only from a PROXY
//!   protocol v2 header ([`crate::proxy_protocol`]), not from `Forwarded`
//!   or `X-Forwarded-For` headers; without one, address-based profiles
//!   apply to the proxy. Path-based profiles work through any proxy.
//! - No HTTP/3 (RFC 9114).
//! - A body received slowly but steadily keeps its connection open up to
//!   the per-request deadline of five seconds.

use crate::handler::{Action, ClientNames, Handler, Transport};
use crate::http2_records::ResponseRecords;
use crate::padding::{minimum_ttl, pad_response, wants_padding};
use crate::proxy_protocol::open_connection;
use crate::tcp::{ConnectionLimits, accept_admitted};
use crate::tls::CertificateStore;
use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The path of the DoH endpoint (RFC 8484 §6, the customary URI template).
pub(crate) const DOH_PATH: &str = "/dns-query";
/// The media type of DNS messages (RFC 8484 §6).
const DNS_MESSAGE: &str = "application/dns-message";
/// The largest DNS message.
const MAX_MESSAGE: usize = 65_535;
/// Time allowed to receive one request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 streams one connection may have open at once.
const MAX_STREAMS: u32 = 128;
/// The largest header block of an HTTP/2 request (a GET's path included).
const MAX_HEADER_LIST: u32 = 128 * 1024;
/// The buffer a cached answer is patched in.
const SEND_BUFFER: usize = 16 * 1024;

/// Runs futures of one connection on the worker's runtime: hyper's HTTP/2
/// streams need not be `Send` there.
#[derive(Clone, Copy)]
struct LocalExecutor;

impl<F> hyper::rt::Executor<F> for LocalExecutor
where
    F: Future + 'static,
{
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}

/// A stream that notes the time of its last read or write.
struct Watched<S> {
    inner: S,
    activity: Rc<Cell<Instant>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(context, buffer);
        if matches!(polled, Poll::Ready(Ok(()))) && buffer.filled().len() > before {
            self.activity.set(Instant::now());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(context, data);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.set(Instant::now());
        }
        polled
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

/// A request under way on its connection, until dropped.
struct Busy<'a>(&'a Cell<usize>);

impl<'a> Busy<'a> {
    fn new(active: &'a Cell<usize>) -> Busy<'a> {
        active.set(active.get() + 1);
        Busy(active)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A resolution the server waits for at shutdown, until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(in_flight: &'a AtomicUsize) -> InFlight<'a> {
        in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(in_flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the requests of one connection share.
struct Connection {
    handler: Arc<Handler>,
    client: SocketAddr,
    server_name: Option<String>,
    in_flight: Arc<AtomicUsize>,
    /// Requests under way (the connection is not idle while there are any).
    active: Cell<usize>,
    send_buffer: RefCell<Vec<u8>>,
}

/// The accept loop of one DoH listener of one worker; `certificates` is
/// `None` for the cleartext listener.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_https(
    listener: TcpListener,
    certificates: Option<Arc<CertificateStore>>,
    handler: Arc<Handler>,
    limits: Arc<ConnectionLimits>,
    idle_timeout: Duration,
    in_flight: Arc<AtomicUsize>,
    mut shutdown: watch::Receiver<bool>,
) {
    while let Some((stream, peer, mut admission, from_proxy)) =
        accept_admitted(&listener, &limits, &handler, &mut shutdown).await
    {
        let acceptor = certificates.as_deref().map(CertificateStore::doh_acceptor);
        let handler = Arc::clone(&handler);
        let in_flight = Arc::clone(&in_flight);
        let shutdown = shutdown.clone();
        tokio::task::spawn_local(async move {
            let _ = stream.set_nodelay(true);
            // A proxy's header comes before TLS or the first request.
            let Some((stream, client)) = open_connection(
                stream,
                peer,
                from_proxy,
                &mut admission,
                &handler.statistics,
                idle_timeout,
            )
            .await
            else {
                return;
            };
            let mut connection = Connection {
                handler,
                client,
                server_name: None,
                in_flight,
                active: Cell::new(0),
                send_buffer: RefCell::new(vec![0; SEND_BUFFER]),
            };
            match acceptor {
                Some(acceptor) => {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(idle_timeout, acceptor.accept(stream)).await
                    {
                        let session = stream.get_ref().1;
                        connection.server_name = session.server_name().map(str::to_owned);
                        // HTTP/2 (by ALPN, or maybe by prior knowledge
                        // without ALPN): one TLS record per response, see
                        // `http2_records`. Splitting never changes a byte.
                        if session.alpn_protocol() != Some(b"http/1.1") {
                            let stream = ResponseRecords::new(stream);
                            serve_connection(stream, connection, idle_timeout, shutdown).await;
                        } else {
                            serve_connection(stream, connection, idle_timeout, shutdown).await;
                        }
                    }
                }
                None => serve_connection(stream, connection, idle_timeout, shutdown).await,
            }
            drop(admission);
        });
    }
}

/// Serves HTTP/1.1 or HTTP/2 on one connection until the client closes it,
/// it is idle for `idle_timeout`, or the server shuts down.
async fn serve_connection<S>(
    stream: S,
    connection: Connection,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let activity = Rc::new(Cell::new(Instant::now()));
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Rc::clone(&activity),
    });
    let connection = Rc::new(connection);
    let service = {
        let connection = Rc::clone(&connection);
        hyper::service::service_fn(move |request| {
            let connection = Rc::clone(&connection);
            async move {
                // Counted down even if the client resets the stream and
                // hyper drops this future halfway.
                let _busy = Busy::new(&connection.active);
                Ok::<_, Infallible>(answer(request, &connection).await)
            }
        })
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(LocalExecutor);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    loop {
        let deadline = activity.get() + idle_timeout;
        tokio::select! {
            _ = served.as_mut() => break,
            _ = shutdown.changed() => break,
            () = tokio::time::sleep_until(deadline.into()) => {
                if connection.active.get() > 0 {
                    // Busy answering: not idle. The resolver bounds the wait.
                    activity.set(Instant::now());
                } else if activity.get() + idle_timeout <= Instant::now() {
                    break;
                }
            }
        }
    }
}

/// Why a request gets no DNS answer: an HTTP status and a short text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal(StatusCode, &'static str);

impl Refusal {
    fn response(self) -> Response<Full<Bytes>> {
        status(self.0, self.1)
    }
}

/// A response with a status and a short text body.
fn status(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The DoH path token's part in profile selection: the whole path, if it
/// has a token.
fn profile_path(path: &str) -> Option<&str> {
    let token = path.strip_prefix(DOH_PATH)?.strip_prefix('/')?;
    (!token.is_empty() && !token.contains('/')).then_some(path)
}

/// Decodes the `dns` parameter of a GET request's query string.
fn decode_get(query: Option<&str>) -> Result<Vec<u8>, Refusal> {
    let value = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("dns="))
        .ok_or(Refusal(StatusCode::BAD_REQUEST, "missing dns parameter\n"))?;
    // Four characters carry three octets; the padding RFC 8484 leaves out
    // is tolerated.
    if value.len() > MAX_MESSAGE.div_ceil(3) * 4 {
        return Err(Refusal(StatusCode::URI_TOO_LONG, "message too long\n"));
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| Refusal(StatusCode::BAD_REQUEST, "dns parameter is not base64url\n"))
}

/// Reads a POST request's body: the media type checked, the size bounded.
async fn read_post(request: Request<Incoming>) -> Result<Vec<u8>, Refusal> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().trim());
    if !content_type.is_some_and(|value| value.eq_ignore_ascii_case(DNS_MESSAGE)) {
        return Err(Refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "use content-type application/dns-message\n",
        ));
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_MESSAGE as u64) {
        return Err(Refusal(StatusCode::PAYLOAD_TOO_LARGE, "message too long\n"));
    }
    let body = Limited::new(request.into_body(), MAX_MESSAGE).collect();
    match tokio::time::timeout(BODY_TIMEOUT, body).await {
        Err(_) => Err(Refusal(StatusCode::REQUEST_TIMEOUT, "body not received\n")),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(Refusal(StatusCode::PAYLOAD_TOO_LARGE, "message too long\n"))
        }
        Ok(Err(_)) => Err(Refusal(StatusCode::BAD_REQUEST, "body not received\n")),
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
    }
}

/// Answers one DoH request.
async fn answer(request: Request<Incoming>, connection: &Connection) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if path != DOH_PATH && profile_path(&path).is_none() {
        return status(StatusCode::NOT_FOUND, "not found; use /dns-query\n");
    }
    let packet = match *request.method() {
        Method::GET => decode_get(request.uri().query()),
        Method::POST => read_post(request).await,
        _ => {
            let mut response = status(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST\n");
            response
                .headers_mut()
                .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, POST"));
            return response;
        }
    };
    let packet = match packet {
        Ok(packet) => packet,
        Err(refusal) => return refusal.response(),
    };
    if packet.len() > MAX_MESSAGE {
        return status(StatusCode::PAYLOAD_TOO_LARGE, "message too long\n");
    }
    let names = ClientNames {
        server_name: connection.server_name.as_deref(),
        doh_path: profile_path(&path),
    };
    let handler = &connection.handler;
    // The buffer is borrowed only while the handler runs, never across an await.
    let action = {
        let mut buffer = connection.send_buffer.borrow_mut();
        match handler.handle_named(
            &packet,
            connection.client,
            names,
            Transport::Https,
            &mut buffer,
        ) {
            Action::Reply(reply) => Ok(Some(reply.to_vec())),
            Action::Owned(reply) if reply.is_empty() => Ok(None),
            Action::Owned(reply) => Ok(Some(reply)),
            Action::Drop => Ok(None),
            Action::Resolve(pending) => Err(pending),
        }
    };
    let response = match action {
        Ok(Some(response)) => response,
        Ok(None) => return status(StatusCode::BAD_REQUEST, "not a DNS query\n"),
        Err(pending) => {
            let resolved = {
                let _in_flight = InFlight::new(&connection.in_flight);
                handler.resolve(&pending, Transport::Https).await
            };
            match resolved {
                Some(response) => response,
                None => return status(StatusCode::FORBIDDEN, "dropped by policy\n"),
            }
        }
    };
    dns_response(response, wants_padding(&packet))
}

/// A `200` carrying a DNS response, with its freshness lifetime.
fn dns_response(mut message: Vec<u8>, pad: bool) -> Response<Full<Bytes>> {
    let max_age = minimum_ttl(&message).unwrap_or(0);
    if pad {
        pad_response(&mut message);
    }
    let mut response = Response::new(Full::new(Bytes::from(message)));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(DNS_MESSAGE),
    );
    headers.insert(
        CACHE_CONTROL,
        format!("max-age={max_age}").parse().expect("ASCII"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_single_token_after_the_endpoint_selects_a_profile() {
        assert_eq!(profile_path("/dns-query/kid1"), Some("/dns-query/kid1"));
        assert_eq!(profile_path("/dns-query"), None);
        assert_eq!(profile_path("/dns-query/"), None);
        assert_eq!(profile_path("/dns-query/a/b"), None);
        assert_eq!(profile_path("/dns-queryx"), None);
        assert_eq!(profile_path("/other/kid1"), None);
    }

    #[test]
    fn the_dns_parameter_is_base64url_with_or_without_padding() {
        assert_eq!(decode_get(Some("dns=AAEC")).unwrap(), vec![0, 1, 2]);
        assert_eq!(decode_get(Some("x=1&dns=AAE")).unwrap(), vec![0, 1]);
        assert_eq!(decode_get(Some("dns=AAE=")).unwrap(), vec![0, 1]);
        assert_eq!(decode_get(Some("dns=_-8")).unwrap(), vec![0xff, 0xef]);
        let bad = decode_get(Some("dns=%%%")).unwrap_err();
        assert_eq!(bad.0, StatusCode::BAD_REQUEST);
        let missing = decode_get(None).unwrap_err();
        assert_eq!(missing.0, StatusCode::BAD_REQUEST);
        let long = format!("dns={}", "A".repeat(90_000));
        assert_eq!(
            decode_get(Some(&long)).unwrap_err().0,
            StatusCode::URI_TOO_LONG
        );
    }
}
