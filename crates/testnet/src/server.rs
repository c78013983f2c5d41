//! An authoritative DNS server on one address, over UDP and TCP, with
//! plain threads and blocking sockets.
//!
//! Answers come from [`crate::answer`]; this module puts them on the wire
//! (RFC 1035 §4.2: UDP datagrams and TCP messages with a two-byte length
//! prefix, several per connection; RFC 6891: an OPT record answers an OPT
//! record, with a UDP payload size of 1232; RFC 2181 §9: over UDP an answer
//! larger than the client's payload size, 512 without EDNS, is cut and TC is
//! set), and applies the server's [`Behaviour`], which simulates the broken,
//! dead and hostile servers a resolver meets.
//!
//! Every socket has a short read timeout, so the threads notice within
//! about 100 ms that the [`AuthServer`] was dropped, and stop.
//!
//! # Limitations
//! - One UDP thread: queries are answered in order; only [`Behaviour::Delay`]
//!   and [`Behaviour::Spoof`] answer from a thread of their own.
//! - Opcodes other than QUERY get NOTIMP; queries with more than one
//!   question get FORMERR.

use crate::answer::{Answer, answer_query};
use crate::zone::Zone;
use hanse_wire::{
    Class, Edns, Header, Message, MessageBuilder, Name, Opcode, Question, RType, Rcode, Record,
};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The port servers listen on unless told otherwise.
pub const DEFAULT_PORT: u16 = 53;
/// The UDP payload size the server advertises in its OPT record.
pub const SERVER_UDP_SIZE: u16 = 1232;
/// How often the threads check whether they should stop.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long an idle TCP connection stays open.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The address a [`Behaviour::Spoof`] server forges into its answers.
pub const SPOOFED_ADDRESS: [u8; 4] = [203, 0, 113, 66];

/// How a server treats the queries it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Answers correctly.
    #[default]
    Normal,
    /// Never answers: a dead server.
    Silent,
    /// Answers REFUSED to everything: a lame server.
    Refuse,
    /// Answers SERVFAIL to everything.
    ServFail,
    /// Answers FORMERR without an OPT record to queries that carry one, and
    /// correctly to the others: a server that does not know EDNS.
    FormErrOnEdns,
    /// Ignores queries that carry an OPT record: a middlebox that drops EDNS.
    DropEdns,
    /// Every UDP answer is empty with TC set; TCP answers normally.
    TruncateUdp,
    /// Every answer is empty with TC set, over UDP and over TCP.
    TruncateAlways,
    /// Answers correctly after this delay.
    Delay(Duration),
    /// Over UDP, sends three forged answers that carry the A record
    /// 203.0.113.66 for the queried name before the genuine answer: one with
    /// a wrong ID, one with another question name, one from another source
    /// port. The genuine answer follows about 20 ms later.
    Spoof,
    /// Answers random bytes of random length.
    Garbage,
}

/// What a server is to serve, where and how.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The address to listen on, UDP and TCP.
    pub address: SocketAddr,
    /// The zones served.
    pub zones: Vec<Zone>,
    /// How queries are treated.
    pub behaviour: Behaviour,
}

impl ServerSpec {
    /// A server that behaves normally.
    pub fn new(address: SocketAddr, zones: Vec<Zone>) -> ServerSpec {
        ServerSpec {
            address,
            zones,
            behaviour: Behaviour::Normal,
        }
    }

    /// The same server with another behaviour.
    pub fn with_behaviour(self, behaviour: Behaviour) -> ServerSpec {
        ServerSpec { behaviour, ..self }
    }
}

/// Reads `"127.0.0.1"` (port 53) or `"127.0.0.1:5353"` as a socket address.
pub fn socket_address(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, DEFAULT_PORT))
    })
}

/// The transport a query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A UDP datagram.
    Udp,
    /// A TCP connection.
    Tcp,
}

/// A query as a server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedQuery {
    /// The question name, with the case it came with.
    pub name: Name,
    /// The question type.
    pub rtype: RType,
    /// The transport it came over.
    pub transport: Transport,
    /// Whether it carried an OPT record.
    pub had_edns: bool,
}

/// State shared between an [`AuthServer`] and its threads.
struct Shared {
    address: SocketAddr,
    zones: Vec<Zone>,
    behaviour: Behaviour,
    stop: AtomicBool,
    queries: Mutex<Vec<ReceivedQuery>>,
    helpers: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn record(&self, query: ReceivedQuery) {
        self.queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(query);
    }

    /// Runs `work` on a thread that the server joins when it stops.
    fn spawn(self: &Arc<Self>, work: impl FnOnce() + Send + 'static) {
        let handle = thread::spawn(work);
        let mut helpers = self.helpers.lock().unwrap_or_else(PoisonError::into_inner);
        helpers.retain(|helper| !helper.is_finished());
        helpers.push(handle);
    }

    /// Sleeps for `duration` in short steps; false if the server stopped meanwhile.
    fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        loop {
            if self.stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            thread::sleep((deadline - now).min(POLL_INTERVAL));
        }
    }
}

/// A running authoritative server. Dropping it stops its threads.
pub struct AuthServer {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl AuthServer {
    /// Binds UDP and TCP on `spec.address` and starts answering.
    pub fn start(spec: ServerSpec) -> io::Result<AuthServer> {
        let udp = UdpSocket::bind(spec.address)?;
        udp.set_read_timeout(Some(POLL_INTERVAL))?;
        let address = udp.local_addr()?;
        let tcp = TcpListener::bind(address)?;
        tcp.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            address,
            zones: spec.zones,
            behaviour: spec.behaviour,
            stop: AtomicBool::new(false),
            queries: Mutex::new(Vec::new()),
            helpers: Mutex::new(Vec::new()),
        });
        let udp_shared = Arc::clone(&shared);
        let tcp_shared = Arc::clone(&shared);
        let threads = vec![
            thread::Builder::new()
                .name(format!("auth-udp-{address}"))
                .spawn(move || serve_udp(&udp_shared, &udp))?,
            thread::Builder::new()
                .name(format!("auth-tcp-{address}"))
                .spawn(move || serve_tcp(&tcp_shared, &tcp))?,
        ];
        Ok(AuthServer { shared, threads })
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.shared.address
    }

    /// The zones the server serves.
    pub fn zones(&self) -> &[Zone] {
        &self.shared.zones
    }

    /// The queries received since the start or the last [`AuthServer::clear_queries`].
    pub fn queries(&self) -> Vec<ReceivedQuery> {
        self.shared
            .queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the queries received so far.
    pub fn clear_queries(&self) {
        self.shared
            .queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let helpers = std::mem::take(
            &mut *self
                .shared
                .helpers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for helper in helpers {
            let _ = helper.join();
        }
    }
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("address", &self.shared.address)
            .field("behaviour", &self.shared.behaviour)
            .finish_non_exhaustive()
    }
}

fn serve_udp(shared: &Arc<Shared>, socket: &UdpSocket) {
    let mut buffer = [0u8; 65535];
    while !shared.stopped() {
        let (length, client) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error) if is_timeout(&error) => continue,
            Err(_) => {
                thread::sleep(POLL_INTERVAL);
                continue;
            }
        };
        let packet = buffer[..length].to_vec();
        match shared.behaviour {
            Behaviour::Delay(delay) => {
                let Ok(socket) = socket.try_clone() else {
                    continue;
                };
                let helper = Arc::clone(shared);
                shared.spawn(move || {
                    let response = respond(&helper, &packet, Transport::Udp);
                    if let Some(response) = response
                        && helper.sleep(delay)
                    {
                        let _ = socket.send_to(&response, client);
                    }
                });
            }
            Behaviour::Spoof => {
                let Ok(socket) = socket.try_clone() else {
                    continue;
                };
                let helper = Arc::clone(shared);
                shared.spawn(move || spoof(&helper, &socket, &packet, client));
            }
            _ => {
                if let Some(response) = respond(shared, &packet, Transport::Udp) {
                    let _ = socket.send_to(&response, client);
                }
            }
        }
    }
}

fn serve_tcp(shared: &Arc<Shared>, listener: &TcpListener) {
    while !shared.stopped() {
        match listener.accept() {
            Ok((stream, _)) => {
                let helper = Arc::clone(shared);
                shared.spawn(move || serve_connection(&helper, stream));
            }
            Err(error) if is_timeout(&error) => thread::sleep(Duration::from_millis(10)),
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
    }
}

/// Answers length-prefixed queries on one connection until the client
/// closes it, it stays idle too long, or the server stops.
fn serve_connection(shared: &Arc<Shared>, mut stream: TcpStream) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(POLL_INTERVAL)).is_err()
    {
        return;
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut last_activity = Instant::now();
    while !shared.stopped() && last_activity.elapsed() < TCP_IDLE_TIMEOUT {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(read) => {
                pending.extend_from_slice(&chunk[..read]);
                last_activity = Instant::now();
            }
            Err(error) if is_timeout(&error) => continue,
            Err(_) => return,
        }
        while pending.len() >= 2 {
            let length = usize::from(u16::from_be_bytes([pending[0], pending[1]]));
            if pending.len() < 2 + length {
                break;
            }
            let packet: Vec<u8> = pending.drain(..2 + length).skip(2).collect();
            if let Behaviour::Delay(delay) = shared.behaviour
                && !shared.sleep(delay)
            {
                return;
            }
            let Some(response) = respond(shared, &packet, Transport::Tcp) else {
                continue;
            };
            let mut framed = Vec::with_capacity(response.len() + 2);
            framed.extend_from_slice(&(response.len().min(65535) as u16).to_be_bytes());
            framed.extend_from_slice(&response[..response.len().min(65535)]);
            if stream.write_all(&framed).is_err() {
                return;
            }
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// The response to `packet`, or `None` if the server stays silent.
fn respond(shared: &Shared, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let Ok(header) = Header::parse(packet) else {
        return None;
    };
    if header.response {
        return None;
    }
    let Ok(query) = Message::parse(packet) else {
        return Some(error_response(&header, None, Rcode::FORMERR, false));
    };
    let had_edns = query.edns.is_some();
    if let Some(question) = query.question() {
        shared.record(ReceivedQuery {
            name: question.name.clone(),
            rtype: question.rtype,
            transport,
            had_edns,
        });
    }
    match shared.behaviour {
        Behaviour::Silent => return None,
        Behaviour::DropEdns if had_edns => return None,
        Behaviour::Garbage => return Some(garbage()),
        Behaviour::Refuse => {
            return Some(error_response(
                &header,
                Some(&query),
                Rcode::REFUSED,
                had_edns,
            ));
        }
        Behaviour::ServFail => {
            return Some(error_response(
                &header,
                Some(&query),
                Rcode::SERVFAIL,
                had_edns,
            ));
        }
        Behaviour::FormErrOnEdns if had_edns => {
            return Some(error_response(&header, Some(&query), Rcode::FORMERR, false));
        }
        _ => {}
    }
    if header.opcode != Opcode::QUERY.0 {
        return Some(error_response(
            &header,
            Some(&query),
            Rcode::NOTIMP,
            had_edns,
        ));
    }
    if query.questions.len() != 1 || query.answers.len() + query.authorities.len() > 0 {
        return Some(error_response(
            &header,
            Some(&query),
            Rcode::FORMERR,
            had_edns,
        ));
    }
    let truncate_all = match shared.behaviour {
        Behaviour::TruncateAlways => true,
        Behaviour::TruncateUdp => transport == Transport::Udp,
        _ => false,
    };
    if truncate_all {
        let mut response = error_response(&header, Some(&query), Rcode::NOERROR, had_edns);
        response[2] |= 0x02;
        return Some(response);
    }
    let question = &query.questions[0];
    let answer = if question.class == Class::IN || question.class == Class::ANY {
        let dnssec_ok = query.edns.as_ref().is_some_and(|edns| edns.dnssec_ok);
        answer_query(&shared.zones, &question.name, question.rtype, dnssec_ok)
    } else {
        Answer::with_rcode(Rcode::REFUSED)
    };
    let limit = match (transport, &query.edns) {
        (Transport::Tcp, _) => 65535,
        (Transport::Udp, Some(edns)) => usize::from(edns.udp_size.max(512)),
        (Transport::Udp, None) => 512,
    };
    Some(compose_answer(&header, &query, &answer, limit))
}

/// A response with no records, echoing the question if there is one.
fn error_response(header: &Header, query: Option<&Message>, rcode: Rcode, edns: bool) -> Vec<u8> {
    let response_header = Header {
        id: header.id,
        response: true,
        opcode: header.opcode,
        recursion_desired: header.recursion_desired,
        rcode: rcode.header_bits(),
        ..Header::default()
    };
    let mut builder = MessageBuilder::new(response_header, 65535);
    if edns {
        builder.set_edns(Edns {
            udp_size: SERVER_UDP_SIZE,
            ..Edns::default()
        });
    }
    if let Some(question) = query.and_then(Message::question) {
        let _ = builder.push_question(question);
    }
    builder.finish()
}

/// Puts `answer` on the wire within `limit` bytes, setting TC if the
/// answer or authority section (or the glue of a referral) does not fit.
pub fn compose_answer(header: &Header, query: &Message, answer: &Answer, limit: usize) -> Vec<u8> {
    let response_header = Header {
        id: header.id,
        response: true,
        opcode: header.opcode,
        authoritative: answer.authoritative,
        recursion_desired: header.recursion_desired,
        rcode: answer.rcode.header_bits(),
        ..Header::default()
    };
    let mut builder = MessageBuilder::new(response_header, limit);
    if query.edns.is_some() {
        builder.set_edns(Edns {
            udp_size: SERVER_UDP_SIZE,
            extended_rcode: answer.rcode.extended_bits(),
            // RFC 3225 §3: the DO bit is copied to the response.
            dnssec_ok: query.edns.as_ref().is_some_and(|edns| edns.dnssec_ok),
            ..Edns::default()
        });
    }
    for question in &query.questions {
        let _ = builder.push_question(question);
    }
    let mut truncated = false;
    for record in &answer.answers {
        if builder.push_answer(record).is_err() {
            truncated = true;
            break;
        }
    }
    if !truncated {
        for record in &answer.authorities {
            if builder.push_authority(record).is_err() {
                truncated = true;
                break;
            }
        }
    }
    if !truncated {
        for record in &answer.additionals {
            if builder.push_additional(record).is_err() {
                // Missing glue breaks a referral (RFC 9471 §3); other
                // additional data may simply be left out.
                truncated = answer.is_referral();
                break;
            }
        }
    }
    builder.header_mut().truncated = truncated;
    builder.finish()
}

/// Sends the forged answers of [`Behaviour::Spoof`], then the genuine one.
fn spoof(shared: &Arc<Shared>, socket: &UdpSocket, packet: &[u8], client: SocketAddr) {
    let Some(genuine) = respond(shared, packet, Transport::Udp) else {
        return;
    };
    let Ok(query) = Message::parse(packet) else {
        return;
    };
    let Some(question) = query.question() else {
        return;
    };
    let id = query.header.id;
    let other_name = question
        .name
        .prepend(b"spoofed")
        .unwrap_or_else(|_| Name::root());
    let _ = socket.send_to(&forge(&query, id ^ 0x5a5a, &question.name), client);
    let _ = socket.send_to(&forge(&query, id, &other_name), client);
    if let Ok(other_socket) = UdpSocket::bind(SocketAddr::new(shared.address.ip(), 0)) {
        let _ = other_socket.send_to(&forge(&query, id, &question.name), client);
    }
    if shared.sleep(Duration::from_millis(20)) {
        let _ = socket.send_to(&genuine, client);
    }
}

/// A forged answer with `id` and the question name `question_name` that
/// claims the queried name has the address 203.0.113.66.
fn forge(query: &Message, id: u16, question_name: &Name) -> Vec<u8> {
    let header = Header {
        id,
        response: true,
        authoritative: true,
        recursion_desired: query.header.recursion_desired,
        ..Header::default()
    };
    let mut builder = MessageBuilder::new(header, 512);
    if let Some(question) = query.question() {
        let forged_question = Question {
            name: question_name.clone(),
            ..question.clone()
        };
        let _ = builder.push_question(&forged_question);
        let _ = builder.push_answer(&Record {
            name: question.name.clone(),
            rtype: RType::A,
            class: Class::IN,
            ttl: 86400,
            data: SPOOFED_ADDRESS.into(),
        });
    }
    builder.finish()
}

/// Random bytes of random length, up to 600.
fn garbage() -> Vec<u8> {
    let length = (random() % 600) as usize;
    (0..length).map(|_| random() as u8).collect()
}

/// A xorshift generator seeded from the clock: unpredictable enough for
/// garbage, not for anything that matters.
fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut state = STATE.load(Ordering::Relaxed);
    if state == 0 {
        state = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |time| time.as_nanos() as u64)
            | 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    STATE.store(state, Ordering::Relaxed);
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn query(edns: Option<Edns>) -> Message {
        Message {
            header: Header {
                id: 42,
                ..Header::default()
            },
            questions: vec![Question {
                name: name("big.example."),
                rtype: RType::TXT,
                class: Class::IN,
            }],
            edns,
            ..Message::default()
        }
    }

    fn big_answer() -> Answer {
        let mut answer = Answer::with_rcode(Rcode::NOERROR);
        answer.authoritative = true;
        for index in 0..20u8 {
            let mut data = vec![60u8];
            data.extend(std::iter::repeat_n(b'a' + index, 60));
            answer.answers.push(Record {
                name: name("big.example."),
                rtype: RType::TXT,
                class: Class::IN,
                ttl: 300,
                data: data.into(),
            });
        }
        answer
    }

    #[test]
    fn truncates_to_512_without_edns() {
        let query = query(None);
        let bytes = compose_answer(&query.header, &query, &big_answer(), 512);
        assert!(bytes.len() <= 512);
        let parsed = Message::parse(&bytes).unwrap();
        assert!(parsed.header.truncated);
        assert!(parsed.answers.len() < 20);
        assert!(parsed.edns.is_none());
    }

    #[test]
    fn fits_within_the_edns_size_and_answers_with_opt() {
        let query = query(Some(Edns {
            udp_size: 4096,
            ..Edns::default()
        }));
        let bytes = compose_answer(&query.header, &query, &big_answer(), 4096);
        let parsed = Message::parse(&bytes).unwrap();
        assert!(!parsed.header.truncated);
        assert!(parsed.header.authoritative);
        assert_eq!(parsed.answers.len(), 20);
        assert_eq!(parsed.edns.unwrap().udp_size, SERVER_UDP_SIZE);
        assert_eq!(parsed.header.id, 42);
    }

    #[test]
    fn reads_addresses_with_and_without_port() {
        assert_eq!(
            socket_address("127.0.0.2"),
            Some("127.0.0.2:53".parse().unwrap())
        );
        assert_eq!(
            socket_address("127.0.0.2:5300"),
            Some("127.0.0.2:5300".parse().unwrap())
        );
        assert_eq!(socket_address("nonsense"), None);
    }
}
