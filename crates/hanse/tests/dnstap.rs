//! End-to-end test of the dnstap export against real Frame Streams and
//! dnstap tools: Debian's `fstrm_capture` (package fstrm-bin) is the
//! collector on a Unix socket and writes a file, which `dnstap-read`
//! (bind9-utils) decodes; the test checks that the client queries and
//! responses, the client address, the transports and the names are there.
//! Then the collector is stopped and started again, and Hanse must
//! reconnect by itself. A missing tool fails the test.
//!
//! Addresses: a root and `example.` on 127.86.1.1 and 127.86.1.2 (port 53),
//! Hanse on a free port of 127.0.0.1.

mod support;

use hanse_testnet::client::query;
use hanse_testnet::{ServerSpec, TestNet, Transport, Zone};
use hanse_wire::{Name, RType};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use support::{HanseProcess, Scratch};

const CONTENT_TYPE: &str = "protobuf:dnstap.Dnstap";

fn hierarchy() -> (TestNet, String) {
    let root = "$TTL 3600\n. SOA a.root. admin. 1 3600 600 86400 300\n. NS a.root.\n\
                a.root. A 127.86.1.1\nexample. NS ns.example.\nns.example. A 127.86.1.2\n";
    let example = "$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A 127.86.1.2\n\
                   www A 192.0.2.1\nafter-restart A 192.0.2.2\n";
    let net = TestNet::start(vec![
        ServerSpec::new(
            "127.86.1.1:53".parse().unwrap(),
            vec![Zone::parse(".", root).unwrap()],
        ),
        ServerSpec::new(
            "127.86.1.2:53".parse().unwrap(),
            vec![Zone::parse("example.", example).unwrap()],
        ),
    ])
    .expect("test servers start");
    let hints = net.root_hints(&["127.86.1.1"]);
    (net, hints)
}

/// A running `fstrm_capture`, killed by PID when dropped.
struct Capture {
    child: Option<Child>,
    output: PathBuf,
}

impl Capture {
    fn start(socket: &Path, output: &Path) -> Capture {
        let _ = std::fs::remove_file(socket);
        let child = Command::new("fstrm_capture")
            .args(["-t", CONTENT_TYPE, "-u"])
            .arg(socket)
            .arg("-w")
            .arg(output)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fstrm_capture runs (Debian package fstrm-bin; scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "fstrm_capture did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Capture {
            child: Some(child),
            output: output.to_owned(),
        }
    }

    /// Stops the collector with SIGTERM (it closes its file cleanly) and
    /// returns the file decoded by `dnstap-read -y`.
    fn finish(mut self) -> String {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("fstrm_capture did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = Command::new("dnstap-read")
            .arg("-y")
            .arg(&self.output)
            .output()
            .expect("dnstap-read runs (bind9-utils)");
        assert!(
            output.status.success(),
            "dnstap-read failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ask(hanse: &HanseProcess, name: &str, transport: Transport) {
    let answer = query(
        hanse.dns,
        &Name::from_str(name).unwrap(),
        RType::A,
        transport,
        Duration::from_secs(5),
    )
    .unwrap_or_else(|error| panic!("{name} over {transport:?}: {error}; log:\n{}", hanse.log()));
    assert_eq!(answer.answers.len(), 1, "{name}: {answer:?}");
}

/// The YAML documents of `dnstap-read -y`, one per message.
fn documents(yaml: &str) -> Vec<&str> {
    yaml.split("---")
        .map(str::trim)
        .filter(|document| !document.is_empty())
        .collect()
}

#[test]
fn dnstap_reaches_a_real_collector_and_survives_its_restart() {
    let scratch = Scratch::new("dnstap");
    let (_net, hints) = hierarchy();
    std::fs::write(scratch.0.join("named.root"), hints).unwrap();
    let socket = scratch.0.join("dnstap.sock");
    let capture = Capture::start(&socket, &scratch.0.join("first.fstrm"));
    let hanse = HanseProcess::start(&scratch.0, |dns| {
        format!(
            "[server]\nlisten = [\"{dns}\"]\nallow_from = [\"127.0.0.0/8\"]\nthreads = 1\n\
             [resolver]\nroot_hints = \"named.root\"\nquery_private_upstreams = true\n\
             [api]\nenabled = false\n\
             [query_log]\nenabled = false\nprivacy_level = 0\n\
             [query_log.dnstap]\nsocket = \"dnstap.sock\"\nidentity = \"test-node\"\n\
             messages = [\"client_query\", \"client_response\"]\n"
        )
    });
    ask(&hanse, "www.example.", Transport::Udp);
    ask(&hanse, "www.example.", Transport::Tcp);
    // The sender writes as soon as its queue is empty; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    let yaml = capture.finish();
    let messages = documents(&yaml);
    let about_www: Vec<&str> = messages
        .iter()
        .copied()
        .filter(|document| document.contains("www.example."))
        .collect();
    for (kind, protocol) in [
        ("CLIENT_QUERY", "UDP"),
        ("CLIENT_RESPONSE", "UDP"),
        ("CLIENT_QUERY", "TCP"),
        ("CLIENT_RESPONSE", "TCP"),
    ] {
        let found = about_www.iter().find(|document| {
            document.contains(&format!("type: {kind}"))
                && document.contains(&format!("socket_protocol: {protocol}"))
        });
        let Some(document) = found else {
            panic!("no {kind} over {protocol} for www.example. in:\n{yaml}");
        };
        assert!(document.contains("identity: test-node"), "{document}");
        assert!(
            document.contains("query_address: \"127.0.0.1\""),
            "{document}"
        );
        assert!(document.contains("socket_family: INET"), "{document}");
        assert!(document.contains("query_port: "), "{document}");
        if kind == "CLIENT_RESPONSE" {
            assert!(document.contains("192.0.2.1"), "{document}");
        }
    }

    // The collector goes away and comes back: Hanse reconnects on its own.
    let capture = Capture::start(&socket, &scratch.0.join("second.fstrm"));
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        ask(&hanse, "after-restart.example.", Transport::Udp);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let yaml = capture.finish();
    let after: Vec<&str> = documents(&yaml)
        .into_iter()
        .filter(|document| {
            document.contains("after-restart.example.") && document.contains("CLIENT_RESPONSE")
        })
        .collect();
    assert!(
        !after.is_empty(),
        "nothing reached the restarted collector; Hanse log:\n{}\ncapture:\n{yaml}",
        hanse.log()
    );
}
