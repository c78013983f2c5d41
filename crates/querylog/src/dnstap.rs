//! The dnstap export: client queries and responses sent as dnstap messages
//! over Frame Streams to an operator's collector on a Unix socket or TCP.
//!
//! [`DnstapExporter::offer`] is called on the worker thread for each answered
//! query. It never blocks: it copies the two DNS messages into one buffer and
//! offers it to a bounded queue; a full queue drops the query and counts it.
//! A sender thread takes queries off the queue, applies the exclusions and
//! the privacy level, encodes them (`dnstap_encode`) and writes them to the
//! collector.
//!
//! The connection follows the bidirectional Frame Streams handshake: Hanse
//! sends READY with the content type `protobuf:dnstap.Dnstap`, the collector
//! answers ACCEPT naming it, Hanse sends START, then data frames; on close
//! Hanse sends STOP and waits briefly for FINISH. When the collector cannot
//! be reached or goes away, the sender waits and tries again with a back-off
//! that doubles from `reconnect_min` to `reconnect_max`; meanwhile queries
//! are taken off the queue and counted as lost, so the queue never holds
//! stale traffic and memory stays bounded.
//!
//! Privacy (docs/querylog.md): level 0 sends the client's address and port;
//! level 1 leaves them out and puts a pseudonym (`client=c-…`, a keyed hash
//! whose key changes every UTC day, as the SQLite log makes them) in the
//! `extra` field; level 2 leaves the client out; level 3 (aggregates only)
//! sends nothing per query, so [`DnstapExporter::start`] refuses it.
//!
//! Limitations: the DNS messages are sent as they were on the wire, so an
//! EDNS Client Subnet option a client put in its query reaches the collector
//! at every level. The pseudonym keys are this exporter's own (the SQLite log
//! has others), so a pseudonym in dnstap does not match one in the database.
//! A frame written just before a TCP collector closes its connection may be
//! lost without an error (the kernel accepted it); it is not counted.

use std::io::{BufWriter, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::config::{ClientNetwork, PrivacyLevel};
use crate::dnstap_encode::{
    CONTENT_TYPE, CONTROL_ACCEPT, CONTROL_FINISH, CONTROL_FRAME_MAX, CONTROL_READY, CONTROL_START,
    CONTROL_STOP, DnstapMessage, DnstapMessageType, SocketProtocol, encode_control,
    encode_data_frame, read_control,
};
use crate::pseudonym::KeyRing;
use crate::{QueryLogError, names};

/// How long connecting, the handshake and one write may take.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the sender waits for FINISH after STOP.
const FINISH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `close` waits for the sender thread.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes buffered before a write to the collector.
const WRITE_BUFFER: usize = 64 * 1024;

/// Where the collector listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnstapDestination {
    /// A Unix stream socket.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl std::fmt::Display for DnstapDestination {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnstapDestination::Unix(path) => write!(formatter, "unix:{}", path.display()),
            DnstapDestination::Tcp(address) => write!(formatter, "tcp:{address}"),
        }
    }
}

/// Settings of the dnstap export.
#[derive(Debug, Clone)]
pub struct DnstapConfig {
    pub destination: DnstapDestination,
    /// `Dnstap.identity` (the server's name); empty leaves it out.
    pub identity: String,
    /// `Dnstap.version`; empty leaves it out.
    pub version: String,
    /// Send CLIENT_QUERY messages.
    pub client_queries: bool,
    /// Send CLIENT_RESPONSE messages.
    pub client_responses: bool,
    /// What is sent about clients (level 3 is refused).
    pub privacy_level: PrivacyLevel,
    /// Queries from these clients are not sent.
    pub excluded_clients: Vec<ClientNetwork>,
    /// Queries for these names, or names below them, are not sent.
    pub excluded_names: Vec<String>,
    /// Queries waiting for the sender; beyond this `offer` drops and counts.
    pub queue_capacity: usize,
    /// The first wait before connecting again.
    pub reconnect_min: Duration,
    /// The longest wait before connecting again.
    pub reconnect_max: Duration,
}

impl DnstapConfig {
    /// Settings with the defaults: queries and responses, privacy level 1,
    /// a queue of 65,536, reconnecting after 100 ms up to 10 s.
    pub fn new(destination: DnstapDestination) -> DnstapConfig {
        DnstapConfig {
            destination,
            identity: String::new(),
            version: String::new(),
            client_queries: true,
            client_responses: true,
            privacy_level: PrivacyLevel::Pseudonymous,
            excluded_clients: Vec::new(),
            excluded_names: Vec::new(),
            queue_capacity: 65_536,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
        }
    }
}

/// One answered query, borrowed, as the server reports it.
#[derive(Debug, Clone, Copy)]
pub struct DnstapQuery<'a> {
    /// When the query arrived.
    pub query_time: SystemTime,
    /// When the response was sent (or the query dropped).
    pub response_time: SystemTime,
    pub client: SocketAddr,
    /// The server's transport name: `udp`, `tcp`, `tls`, `https`.
    pub transport: &'static str,
    /// The query in wire form.
    pub query_message: &'a [u8],
    /// The response in wire form; empty when none was sent.
    pub response_message: &'a [u8],
}

/// Counters of the dnstap export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnstapStatistics {
    /// Calls to `offer`.
    pub offered: u64,
    /// Queries dropped because the queue was full.
    pub dropped_full: u64,
    /// Queries not sent because of an excluded client or name.
    pub excluded: u64,
    /// Queries lost because there was no connection or a write failed.
    pub lost: u64,
    /// Data frames written.
    pub frames: u64,
    /// Connections made (handshake done).
    pub connections: u64,
    /// Connection attempts that failed.
    pub connect_errors: u64,
    /// Whether a collector is connected now.
    pub connected: bool,
}

#[derive(Default)]
struct Counters {
    offered: AtomicU64,
    dropped_full: AtomicU64,
    excluded: AtomicU64,
    lost: AtomicU64,
    frames: AtomicU64,
    connections: AtomicU64,
    connect_errors: AtomicU64,
    connected: AtomicBool,
}

/// A query waiting for the sender: both messages in one buffer.
struct Queued {
    query_time: SystemTime,
    response_time: SystemTime,
    client: SocketAddr,
    protocol: SocketProtocol,
    messages: Vec<u8>,
    query_length: usize,
}

/// The dnstap export: a handle to the queue and the sender thread.
pub struct DnstapExporter {
    counters: Arc<Counters>,
    sender: Option<Sender<Queued>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    finished: Receiver<()>,
    destination: DnstapDestination,
}

impl DnstapExporter {
    /// Starts the sender thread, which connects in the background.
    pub fn start(config: DnstapConfig) -> Result<DnstapExporter, QueryLogError> {
        if config.privacy_level == PrivacyLevel::AggregatesOnly {
            return Err(QueryLogError::InvalidConfig(
                "dnstap sends every query; privacy level 3 keeps aggregates only, so it allows no dnstap export".to_owned(),
            ));
        }
        if !config.client_queries && !config.client_responses {
            return Err(QueryLogError::InvalidConfig(
                "dnstap: neither client queries nor client responses are selected".to_owned(),
            ));
        }
        if !(1..=1 << 20).contains(&config.queue_capacity) {
            return Err(QueryLogError::InvalidConfig(
                "dnstap queue_capacity must be 1 to 1048576".to_owned(),
            ));
        }
        if config.reconnect_min.is_zero() || config.reconnect_max < config.reconnect_min {
            return Err(QueryLogError::InvalidConfig(
                "dnstap reconnect wait: the minimum must be more than 0 and at most the maximum"
                    .to_owned(),
            ));
        }
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, receiver) = crossbeam_channel::bounded(config.queue_capacity);
        let (finished_sender, finished) = crossbeam_channel::bounded(1);
        let destination = config.destination.clone();
        let mut worker = SenderThread {
            excluded_names: config
                .excluded_names
                .iter()
                .map(|name| names::normalise(name))
                .collect(),
            key_ring: KeyRing::new(1),
            config,
            counters: Arc::clone(&counters),
            stop: Arc::clone(&stop),
            receiver,
            frame: Vec::with_capacity(4096),
            name: String::new(),
        };
        let thread = std::thread::Builder::new()
            .name("dnstap-sender".to_owned())
            .spawn(move || {
                worker.run();
                let _ = finished_sender.send(());
            })
            .map_err(QueryLogError::Thread)?;
        Ok(DnstapExporter {
            counters,
            sender: Some(sender),
            stop,
            thread: Some(thread),
            finished,
            destination,
        })
    }

    /// Where the collector is.
    pub fn destination(&self) -> &DnstapDestination {
        &self.destination
    }

    /// Hands one answered query to the sender. Never blocks; a full queue
    /// drops the query and counts it.
    pub fn offer(&self, query: &DnstapQuery<'_>) {
        self.counters.offered.fetch_add(1, Ordering::Relaxed);
        let Some(sender) = &self.sender else {
            self.counters.dropped_full.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if sender.is_full() {
            self.counters.dropped_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut messages =
            Vec::with_capacity(query.query_message.len() + query.response_message.len());
        messages.extend_from_slice(query.query_message);
        messages.extend_from_slice(query.response_message);
        let queued = Queued {
            query_time: query.query_time,
            response_time: query.response_time,
            client: query.client,
            protocol: SocketProtocol::from_transport(query.transport),
            messages,
            query_length: query.query_message.len(),
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = sender.try_send(queued)
        {
            self.counters.dropped_full.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters since the start.
    pub fn statistics(&self) -> DnstapStatistics {
        let counters = &self.counters;
        DnstapStatistics {
            offered: counters.offered.load(Ordering::Relaxed),
            dropped_full: counters.dropped_full.load(Ordering::Relaxed),
            excluded: counters.excluded.load(Ordering::Relaxed),
            lost: counters.lost.load(Ordering::Relaxed),
            frames: counters.frames.load(Ordering::Relaxed),
            connections: counters.connections.load(Ordering::Relaxed),
            connect_errors: counters.connect_errors.load(Ordering::Relaxed),
            connected: counters.connected.load(Ordering::Relaxed),
        }
    }

    /// Sends what is queued (if connected), STOP, and stops the sender,
    /// waiting at most 10 seconds.
    pub fn close(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.sender = None;
        self.stop.store(true, Ordering::Relaxed);
        let Some(thread) = self.thread.take() else {
            return;
        };
        match self.finished.recv_timeout(CLOSE_TIMEOUT) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
            }
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(destination = %self.destination, "the dnstap sender did not stop within {CLOSE_TIMEOUT:?}");
            }
        }
    }
}

impl Drop for DnstapExporter {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl std::fmt::Debug for DnstapExporter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DnstapExporter")
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

/// A connected stream to the collector.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(stream) => stream.read(buffer),
            Stream::Tcp(stream) => stream.read(buffer),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(stream) => stream.write(buffer),
            Stream::Tcp(stream) => stream.write(buffer),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Unix(stream) => stream.flush(),
            Stream::Tcp(stream) => stream.flush(),
        }
    }
}

impl Stream {
    fn connect(destination: &DnstapDestination) -> std::io::Result<Stream> {
        let stream = match destination {
            DnstapDestination::Unix(path) => {
                let stream = UnixStream::connect(path)?;
                stream.set_read_timeout(Some(IO_TIMEOUT))?;
                stream.set_write_timeout(Some(IO_TIMEOUT))?;
                Stream::Unix(stream)
            }
            DnstapDestination::Tcp(address) => {
                let stream = TcpStream::connect_timeout(address, IO_TIMEOUT)?;
                stream.set_read_timeout(Some(IO_TIMEOUT))?;
                stream.set_write_timeout(Some(IO_TIMEOUT))?;
                stream.set_nodelay(true)?;
                Stream::Tcp(stream)
            }
        };
        Ok(stream)
    }

    fn set_read_timeout(&self, timeout: Duration) -> std::io::Result<()> {
        match self {
            Stream::Unix(stream) => stream.set_read_timeout(Some(timeout)),
            Stream::Tcp(stream) => stream.set_read_timeout(Some(timeout)),
        }
    }
}

/// Why a connection ended or could not be made.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected control frame from the collector: {0}")]
    Protocol(String),
}

/// Reads one control frame (escape, length, body), every length bounded.
fn read_control_frame(
    stream: &mut Stream,
) -> Result<crate::dnstap_encode::Control, ConnectionError> {
    let mut head = [0u8; 8];
    stream.read_exact(&mut head)?;
    if head[..4] != [0, 0, 0, 0] {
        return Err(ConnectionError::Protocol("a data frame".to_owned()));
    }
    let length = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if !(4..=CONTROL_FRAME_MAX).contains(&length) {
        return Err(ConnectionError::Protocol(format!("a length of {length}")));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    read_control(&body).map_err(|error| ConnectionError::Protocol(error.to_string()))
}

/// Connects and runs the bidirectional handshake (READY, ACCEPT, START).
fn handshake(destination: &DnstapDestination) -> Result<Stream, ConnectionError> {
    let mut stream = Stream::connect(destination)?;
    stream.write_all(&encode_control(CONTROL_READY, Some(CONTENT_TYPE)))?;
    let accept = read_control_frame(&mut stream)?;
    if accept.control_type != CONTROL_ACCEPT {
        return Err(ConnectionError::Protocol(format!(
            "type {} instead of ACCEPT",
            accept.control_type
        )));
    }
    if !accept.content_types.is_empty()
        && !accept
            .content_types
            .iter()
            .any(|content_type| content_type == CONTENT_TYPE)
    {
        return Err(ConnectionError::Protocol(
            "ACCEPT without the dnstap content type".to_owned(),
        ));
    }
    stream.write_all(&encode_control(CONTROL_START, Some(CONTENT_TYPE)))?;
    Ok(stream)
}

struct SenderThread {
    config: DnstapConfig,
    excluded_names: Vec<String>,
    key_ring: KeyRing,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    receiver: Receiver<Queued>,
    frame: Vec<u8>,
    name: String,
}

/// The longest the sender sleeps without looking at the stop flag.
const WAKE: Duration = Duration::from_millis(100);

impl SenderThread {
    fn run(&mut self) {
        let mut wait = self.config.reconnect_min;
        let mut failing = false;
        loop {
            if self.stopping() {
                return;
            }
            match handshake(&self.config.destination) {
                Ok(stream) => {
                    if failing {
                        tracing::info!(destination = %self.config.destination, "dnstap collector connected");
                    }
                    failing = false;
                    wait = self.config.reconnect_min;
                    self.counters.connections.fetch_add(1, Ordering::Relaxed);
                    self.counters.connected.store(true, Ordering::Relaxed);
                    let ended = self.send(stream);
                    self.counters.connected.store(false, Ordering::Relaxed);
                    match ended {
                        Ok(()) => return,
                        Err(error) => {
                            tracing::warn!(destination = %self.config.destination, %error, "dnstap connection lost; reconnecting")
                        }
                    }
                }
                Err(error) => {
                    self.counters.connect_errors.fetch_add(1, Ordering::Relaxed);
                    if !failing {
                        tracing::warn!(destination = %self.config.destination, %error, "cannot connect to the dnstap collector; retrying with back-off");
                    }
                    failing = true;
                }
            }
            // Wait, discarding (and counting) what arrives meanwhile.
            let until = Instant::now() + wait;
            while Instant::now() < until {
                if self.stopping() {
                    return;
                }
                let step = WAKE.min(until.saturating_duration_since(Instant::now()));
                match self.receiver.recv_timeout(step) {
                    Ok(_) => {
                        self.counters.lost.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            wait = (wait * 2).min(self.config.reconnect_max);
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) && self.receiver.is_empty()
    }

    /// Sends queued queries until the queue closes (Ok) or the connection fails.
    fn send(&mut self, stream: Stream) -> Result<(), ConnectionError> {
        let mut writer = BufWriter::with_capacity(WRITE_BUFFER, stream);
        loop {
            let queued = match self.receiver.recv_timeout(WAKE) {
                Ok(queued) => queued,
                Err(RecvTimeoutError::Timeout) => {
                    writer.flush()?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    writer.flush()?;
                    let mut stream = writer.into_inner().map_err(|error| error.into_error())?;
                    stream.write_all(&encode_control(CONTROL_STOP, None))?;
                    stream.flush()?;
                    // FINISH is a courtesy: a collector that does not send it is fine.
                    if stream.set_read_timeout(FINISH_TIMEOUT).is_ok()
                        && let Ok(finish) = read_control_frame(&mut stream)
                        && finish.control_type != CONTROL_FINISH
                    {
                        tracing::debug!(
                            control = finish.control_type,
                            "dnstap collector answered STOP with something else"
                        );
                    }
                    return Ok(());
                }
            };
            let frames = self.encode(&queued);
            if frames == 0 {
                continue;
            }
            if let Err(error) = writer.write_all(&self.frame) {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                return Err(error.into());
            }
            self.counters.frames.fetch_add(frames, Ordering::Relaxed);
            if self.receiver.is_empty() {
                writer.flush()?;
            }
        }
    }

    /// Encodes the frames of one query into `self.frame`; how many.
    fn encode(&mut self, queued: &Queued) -> u64 {
        self.frame.clear();
        let query_message = &queued.messages[..queued.query_length];
        let response_message = &queued.messages[queued.query_length..];
        let client_ip = queued.client.ip().to_canonical();
        let question = question_name(query_message);
        names::presentation_from_wire(question, &mut self.name);
        if self
            .config
            .excluded_clients
            .iter()
            .any(|network| network.contains(client_ip))
            || self
                .excluded_names
                .iter()
                .any(|suffix| names::is_at_or_below(&self.name, suffix))
        {
            self.counters.excluded.fetch_add(1, Ordering::Relaxed);
            return 0;
        }
        let extra;
        let (client, extra): (Option<(IpAddr, u16)>, &[u8]) = match self.config.privacy_level {
            PrivacyLevel::Full => (Some((client_ip, queued.client.port())), b""),
            PrivacyLevel::Pseudonymous => {
                extra = format!(
                    "client={}",
                    self.key_ring.pseudonym(client_ip, queued.query_time)
                );
                (None, extra.as_bytes())
            }
            PrivacyLevel::Anonymous | PrivacyLevel::AggregatesOnly => (None, b""),
        };
        let query_time = split_time(queued.query_time);
        let mut frames = 0;
        if self.config.client_queries {
            let message = DnstapMessage {
                message_type: DnstapMessageType::ClientQuery,
                protocol: queued.protocol,
                client,
                query_time,
                query_message,
                response_time: None,
                response_message: &[],
            };
            encode_data_frame(
                self.config.identity.as_bytes(),
                self.config.version.as_bytes(),
                extra,
                &message,
                &mut self.frame,
            );
            frames += 1;
        }
        if self.config.client_responses && !response_message.is_empty() {
            let message = DnstapMessage {
                message_type: DnstapMessageType::ClientResponse,
                protocol: queued.protocol,
                client,
                query_time,
                query_message,
                response_time: Some(split_time(queued.response_time)),
                response_message,
            };
            encode_data_frame(
                self.config.identity.as_bytes(),
                self.config.version.as_bytes(),
                extra,
                &message,
                &mut self.frame,
            );
            frames += 1;
        }
        frames
    }
}

/// The question name of a query in wire form (uncompressed in a query's
/// question: it is the first name of the message); empty when unreadable.
fn question_name(message: &[u8]) -> &[u8] {
    const HEADER: usize = 12;
    let Some(rest) = message.get(HEADER..) else {
        return &[];
    };
    if message[4..6] == [0, 0] {
        return &[];
    }
    let mut position = 0;
    while let Some(&length) = rest.get(position) {
        if length == 0 {
            return &rest[..=position];
        }
        if length > 63 {
            return &[];
        }
        position += 1 + usize::from(length);
    }
    &[]
}

fn split_time(time: SystemTime) -> (u64, u32) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    (since.as_secs(), since.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_name_is_found_or_empty() {
        let mut query = vec![0u8; 12];
        query[5] = 1;
        query.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        assert_eq!(question_name(&query), b"\x03www\x07example\x00");
        assert_eq!(question_name(&query[..20]), b"");
        assert_eq!(question_name(&query[..5]), b"");
        let mut pointer = vec![0u8; 12];
        pointer[5] = 1;
        pointer.extend_from_slice(b"\xc0\x0c");
        assert_eq!(question_name(&pointer), b"");
    }

    /// Reads one frame: `None` for a control frame's type, or the data.
    fn read_frame(stream: &mut UnixStream) -> (Option<u32>, Vec<u8>) {
        let mut length = [0u8; 4];
        stream.read_exact(&mut length).expect("frame length");
        let length = u32::from_be_bytes(length) as usize;
        if length == 0 {
            let mut control_length = [0u8; 4];
            stream
                .read_exact(&mut control_length)
                .expect("control length");
            let mut body = vec![0u8; u32::from_be_bytes(control_length) as usize];
            stream.read_exact(&mut body).expect("control body");
            let control = read_control(&body).expect("control frame");
            return (Some(control.control_type), body);
        }
        let mut data = vec![0u8; length];
        stream.read_exact(&mut data).expect("data frame");
        (None, data)
    }

    #[test]
    fn level_one_sends_a_pseudonym_and_no_address_to_a_collector() {
        use crate::dnstap_encode::tests::{Value, decode};
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("collector.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("listen");
        let mut config = DnstapConfig::new(DnstapDestination::Unix(path));
        config.client_queries = false;
        config.identity = "unit".to_owned();
        let exporter = DnstapExporter::start(config).expect("start");
        let (mut stream, _) = listener.accept().expect("the exporter connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        assert_eq!(read_frame(&mut stream).0, Some(CONTROL_READY));
        stream
            .write_all(&encode_control(CONTROL_ACCEPT, Some(CONTENT_TYPE)))
            .expect("accept");
        assert_eq!(read_frame(&mut stream).0, Some(CONTROL_START));
        let mut query = vec![0u8; 12];
        query[5] = 1;
        query.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        let mut response = query.clone();
        response[2] |= 0x80;
        exporter.offer(&DnstapQuery {
            query_time: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            response_time: UNIX_EPOCH + Duration::from_secs(1_800_000_001),
            client: "192.0.2.9:5353".parse().expect("client"),
            transport: "tcp",
            query_message: &query,
            response_message: &response,
        });
        let (control, data) = read_frame(&mut stream);
        assert_eq!(control, None);
        let outer = decode(&data).expect("Dnstap");
        let extra = outer
            .iter()
            .find(|(field, _)| *field == 3)
            .map(|(_, value)| value);
        let Some(Value::Bytes(extra)) = extra else {
            panic!("no extra field: {outer:?}");
        };
        let extra = String::from_utf8(extra.clone()).expect("text");
        assert!(
            extra.starts_with("client=c-") && extra.len() == 25,
            "{extra}"
        );
        let Some((_, Value::Bytes(inner))) = outer.iter().find(|(field, _)| *field == 14) else {
            panic!("no message");
        };
        let inner = decode(inner).expect("Message");
        let numbers: Vec<u64> = inner.iter().map(|(field, _)| *field).collect();
        assert!(
            !numbers.contains(&4) && !numbers.contains(&6),
            "{numbers:?}"
        );
        assert!(inner.contains(&(1, Value::Varint(6))), "CLIENT_RESPONSE");
        assert!(inner.contains(&(3, Value::Varint(2))), "TCP");
        assert!(inner.contains(&(14, Value::Bytes(response.clone()))));
        exporter.close();
        // On close: STOP.
        assert_eq!(read_frame(&mut stream).0, Some(CONTROL_STOP));
    }

    #[test]
    fn level_three_and_no_message_types_are_refused() {
        let mut config = DnstapConfig::new(DnstapDestination::Unix("/nonexistent".into()));
        config.privacy_level = PrivacyLevel::AggregatesOnly;
        assert!(DnstapExporter::start(config.clone()).is_err());
        config.privacy_level = PrivacyLevel::Full;
        config.client_queries = false;
        config.client_responses = false;
        assert!(DnstapExporter::start(config).is_err());
    }
}
