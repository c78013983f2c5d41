//! The authoritative test servers over real sockets on 127.0.0.0/8: UDP and
//! TCP answers, truncation, every [`Behaviour`], query recording, stopping on
//! drop, and root hints. Servers bind port 0 here, so no root is needed.

use hanse_testnet::client::{exchange, query};
use hanse_testnet::{AuthServer, Behaviour, ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Edns, Header, Message, Name, RType, Rcode, compose_query};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(2);

const EXAMPLE_ZONE: &str = "\
$TTL 3600
@ IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 60
@ IN NS ns1.example.com.
ns1 IN A 127.0.0.53
www 300 IN A 192.0.2.1
sub IN NS ns1.sub.example.com.
ns1.sub IN A 127.0.0.54
";

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// An example.com. server on a port of `ip` chosen by the system.
fn start(ip: &str, behaviour: Behaviour, extra: &str) -> AuthServer {
    let zone = Zone::parse("example.com.", &format!("{EXAMPLE_ZONE}{extra}")).unwrap();
    let address: SocketAddr = format!("{ip}:0").parse().unwrap();
    AuthServer::start(ServerSpec::new(address, vec![zone]).with_behaviour(behaviour)).unwrap()
}

fn ask(
    server: &AuthServer,
    text: &str,
    rtype: RType,
    transport: Transport,
) -> std::io::Result<Message> {
    query(server.address(), &name(text), rtype, transport, TIMEOUT)
}

/// Sends a query with or without EDNS and returns the raw answer.
fn ask_raw(server: &AuthServer, edns: bool, transport: Transport) -> std::io::Result<Message> {
    let edns = edns.then(Edns::default);
    let packet = compose_query(7, &name("www.example.com."), RType::A, false, edns);
    let answer = exchange(
        server.address(),
        &packet,
        transport,
        Duration::from_millis(600),
    )?;
    Ok(Message::parse(&answer).unwrap())
}

#[test]
fn answers_over_udp_and_tcp_and_records_queries() {
    let server = start("127.250.0.1", Behaviour::Normal, "");
    for transport in [Transport::Udp, Transport::Tcp] {
        let answer = ask(&server, "www.example.com.", RType::A, transport).unwrap();
        assert_eq!(answer.rcode(), Rcode::NOERROR);
        assert!(answer.header.authoritative && answer.header.response);
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(
            answer.answers[0].address(),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(answer.edns.as_ref().map(|edns| edns.udp_size), Some(1232));
    }
    let queries = server.queries();
    assert_eq!(queries.len(), 2);
    assert_eq!(queries[0].transport, Transport::Udp);
    assert_eq!(queries[1].transport, Transport::Tcp);
    assert!(
        queries
            .iter()
            .all(|query| query.had_edns && query.rtype == RType::A)
    );
    server.clear_queries();
    assert!(server.queries().is_empty());
}

#[test]
fn tcp_connections_carry_several_queries() {
    use std::io::{Read, Write};
    let server = start("127.250.0.2", Behaviour::Normal, "");
    let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut both = Vec::new();
    for id in [1u16, 2] {
        let packet = compose_query(id, &name("www.example.com."), RType::A, false, None);
        both.extend_from_slice(&(packet.len() as u16).to_be_bytes());
        both.extend_from_slice(&packet);
    }
    stream.write_all(&both).unwrap();
    for id in [1u16, 2] {
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).unwrap();
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(Message::parse(&answer).unwrap().header.id, id);
    }
}

#[test]
fn referrals_negative_answers_and_refusals_over_the_wire() {
    let server = start("127.250.0.3", Behaviour::Normal, "");
    let referral = ask(&server, "www.sub.example.com.", RType::A, Transport::Udp).unwrap();
    assert!(!referral.header.authoritative);
    assert_eq!(referral.authorities[0].rtype, RType::NS);
    assert_eq!(
        referral.additionals[0].address(),
        Some("127.0.0.54".parse().unwrap())
    );
    let missing = ask(&server, "missing.example.com.", RType::A, Transport::Udp).unwrap();
    assert_eq!(missing.rcode(), Rcode::NXDOMAIN);
    assert_eq!(missing.authorities[0].rtype, RType::SOA);
    assert_eq!(missing.authorities[0].ttl, 60);
    let outside = ask(&server, "www.example.net.", RType::A, Transport::Udp).unwrap();
    assert_eq!(outside.rcode(), Rcode::REFUSED);
}

#[test]
fn malformed_queries_get_formerr() {
    let server = start("127.250.0.4", Behaviour::Normal, "");
    // A header that announces a question that is not there.
    let header = Header {
        id: 99,
        question_count: 1,
        ..Header::default()
    };
    let answer = exchange(
        server.address(),
        &header.to_bytes(),
        Transport::Udp,
        TIMEOUT,
    )
    .unwrap();
    let answer = Message::parse(&answer).unwrap();
    assert_eq!(answer.rcode(), Rcode::FORMERR);
    assert_eq!(answer.header.id, 99);
}

#[test]
fn large_answers_are_truncated_over_udp_only() {
    let mut extra = String::new();
    for index in 0..30 {
        extra.push_str(&format!(
            "big IN TXT \"{}\"\n",
            format!("{index:02}").repeat(30)
        ));
    }
    let server = start("127.250.0.5", Behaviour::Normal, &extra);
    let packet = compose_query(5, &name("big.example.com."), RType::TXT, false, None);
    let udp = exchange(server.address(), &packet, Transport::Udp, TIMEOUT).unwrap();
    assert!(udp.len() <= 512);
    let udp = Message::parse(&udp).unwrap();
    assert!(udp.header.truncated);
    assert!(udp.answers.len() < 30);
    let tcp =
        Message::parse(&exchange(server.address(), &packet, Transport::Tcp, TIMEOUT).unwrap())
            .unwrap();
    assert!(!tcp.header.truncated);
    assert_eq!(tcp.answers.len(), 30);
}

#[test]
fn error_behaviours() {
    let refuse = start("127.250.1.1", Behaviour::Refuse, "");
    assert_eq!(
        ask_raw(&refuse, true, Transport::Udp).unwrap().rcode(),
        Rcode::REFUSED
    );
    let servfail = start("127.250.1.2", Behaviour::ServFail, "");
    assert_eq!(
        ask_raw(&servfail, false, Transport::Tcp).unwrap().rcode(),
        Rcode::SERVFAIL
    );
    let formerr = start("127.250.1.3", Behaviour::FormErrOnEdns, "");
    let with_edns = ask_raw(&formerr, true, Transport::Udp).unwrap();
    assert_eq!(with_edns.rcode(), Rcode::FORMERR);
    assert!(with_edns.edns.is_none());
    assert_eq!(
        ask_raw(&formerr, false, Transport::Udp)
            .unwrap()
            .answers
            .len(),
        1
    );
    let drop_edns = start("127.250.1.4", Behaviour::DropEdns, "");
    assert!(ask_raw(&drop_edns, true, Transport::Udp).is_err());
    assert_eq!(
        ask_raw(&drop_edns, false, Transport::Udp)
            .unwrap()
            .answers
            .len(),
        1
    );
    assert_eq!(
        drop_edns.queries().len(),
        2,
        "dropped queries are recorded too"
    );
    let silent = start("127.250.1.5", Behaviour::Silent, "");
    assert!(ask_raw(&silent, false, Transport::Udp).is_err());
    assert!(ask_raw(&silent, false, Transport::Tcp).is_err());
    assert_eq!(silent.queries().len(), 2);
}

#[test]
fn truncating_behaviours() {
    let udp_only = start("127.250.2.1", Behaviour::TruncateUdp, "");
    let udp = ask_raw(&udp_only, true, Transport::Udp).unwrap();
    assert!(udp.header.truncated && udp.answers.is_empty());
    let tcp = ask_raw(&udp_only, true, Transport::Tcp).unwrap();
    assert!(!tcp.header.truncated && tcp.answers.len() == 1);
    let always = start("127.250.2.2", Behaviour::TruncateAlways, "");
    let tcp = ask_raw(&always, false, Transport::Tcp).unwrap();
    assert!(tcp.header.truncated && tcp.answers.is_empty());
}

#[test]
fn delay_and_garbage() {
    let slow = start(
        "127.250.3.1",
        Behaviour::Delay(Duration::from_millis(300)),
        "",
    );
    let started = Instant::now();
    assert_eq!(
        ask_raw(&slow, false, Transport::Udp).unwrap().answers.len(),
        1
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    let garbage = start("127.250.3.2", Behaviour::Garbage, "");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    let packet = compose_query(3, &name("www.example.com."), RType::A, false, None);
    socket.send_to(&packet, garbage.address()).unwrap();
    let mut buffer = [0u8; 1024];
    let (length, from) = socket.recv_from(&mut buffer).unwrap();
    assert_eq!(from, garbage.address());
    assert!(length < 600);
}

#[test]
fn spoofing_server_sends_three_forgeries_then_the_answer() {
    let server = start("127.250.4.1", Behaviour::Spoof, "");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let packet = compose_query(0x1111, &name("www.example.com."), RType::A, false, None);
    socket.send_to(&packet, server.address()).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    for _ in 0..6 {
        let Ok((length, from)) = socket.recv_from(&mut buffer) else {
            break;
        };
        received.push((from, Message::parse(&buffer[..length]).unwrap()));
    }
    assert_eq!(received.len(), 4);
    let poisoned = |message: &Message| {
        message
            .answers
            .iter()
            .any(|record| record.address() == Some("203.0.113.66".parse().unwrap()))
    };
    // The forgeries come first, in any order; the genuine answer last.
    let forgeries = &received[..3];
    assert!(forgeries.iter().all(|(_, message)| poisoned(message)));
    assert!(
        forgeries
            .iter()
            .any(|(_, message)| message.header.id != 0x1111)
    );
    assert!(forgeries.iter().any(|(_, message)| {
        message.header.id == 0x1111 && message.questions[0].name != name("www.example.com.")
    }));
    assert!(
        forgeries
            .iter()
            .any(|(from, message)| { *from != server.address() && message.header.id == 0x1111 })
    );
    let (from, genuine) = &received[3];
    assert_eq!(*from, server.address());
    assert_eq!(genuine.header.id, 0x1111);
    assert!(!poisoned(genuine));
}

#[test]
fn dropping_a_server_frees_its_address_promptly() {
    let server = start("127.250.5.1", Behaviour::Silent, "");
    let address = server.address();
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(1));
    UdpSocket::bind(address).unwrap();
    std::net::TcpListener::bind(address).unwrap();
}

#[test]
fn root_hints_name_the_root_servers() {
    let root = Zone::parse(
        ".",
        "@ IN SOA a.root-servers.net. hostmaster. 1 7200 900 1209600 300\n\
         @ IN NS a.root-servers.net.\n\
         a.root-servers.net. IN A 127.250.6.1\n",
    )
    .unwrap();
    let network = TestNet::start(vec![
        ServerSpec::new("127.250.6.1:0".parse().unwrap(), vec![root]),
        ServerSpec::new("127.250.6.2:0".parse().unwrap(), vec![]),
    ])
    .unwrap();
    let first = network.servers()[0].address().to_string();
    assert_eq!(
        network.server(&first).address(),
        network.servers()[0].address()
    );
    let hints = network.root_hints(&["127.250.6.1", "127.250.6.2"]);
    let parsed = hanse_zone::parse_root_hints(&hints).unwrap();
    let names: Vec<String> = parsed
        .servers
        .iter()
        .map(|server| server.name.to_string())
        .collect();
    assert_eq!(names, ["a.root-servers.net.", "root2.testnet.invalid."]);
    assert_eq!(
        parsed.servers[1].addresses,
        ["127.250.6.2".parse::<std::net::IpAddr>().unwrap()]
    );
}
