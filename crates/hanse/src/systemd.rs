//! Service notifications to systemd (the `sd_notify` protocol of
//! systemd's `sd_notify(3)`; no RFC covers it): newline-separated
//! `KEY=value` assignments sent as one datagram to the Unix socket named by
//! `$NOTIFY_SOCKET`, a path or, when it begins with `@`, an abstract name.
//!
//! What `serve` sends, for a unit with `Type=notify` (deploy/systemd/):
//! - `READY=1` once the listeners are bound and every configured feed has a
//!   copy (the moment `/healthz/ready` turns ready), with `STATUS=`;
//! - `WATCHDOG=1` every half of `$WATCHDOG_USEC`, from the main loop (the
//!   thread that swaps the policy), only if `$WATCHDOG_PID` is unset or
//!   names this process;
//! - `STOPPING=1` on SIGTERM or SIGINT, before the lame-duck period;
//! - `RELOADING=1` with `MONOTONIC_USEC=` (as systemd 253 and later ask of
//!   `Type=notify-reload` services) before a reload, and `READY=1` after it,
//!   whether the reload was taken or refused.
//!
//! Limitations: without `$NOTIFY_SOCKET` every call does nothing. A send
//! that fails is logged once and otherwise ignored: the service does not
//! depend on its supervisor. The environment is not cleared (that needs
//! `unsafe` in edition 2024), so children would inherit it; `serve` starts
//! none. `MONOTONIC_USEC` needs `CLOCK_MONOTONIC`, which the standard
//! library does not expose without `unsafe`; it is read from the debug form
//! of [`std::time::Instant`] (on Linux the raw `CLOCK_MONOTONIC` seconds and
//! nanoseconds) and left out if that form ever changes.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The environment variable naming the notification socket.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// The watchdog period in microseconds, set by systemd for `WatchdogSec=`.
const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// The process the watchdog period is meant for.
const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// A connection to the service manager's notification socket, or nothing
/// when the process was not started by one.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    /// Set after the first failed send, so the log gets one line.
    failed: AtomicBool,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` asks for; a silent one without it or
    /// when the variable cannot be used (which is logged).
    pub fn from_environment() -> Notifier {
        let target = std::env::var_os(NOTIFY_SOCKET).and_then(|value| {
            match socket_address(value.as_encoded_bytes()) {
                Ok(address) => match UnixDatagram::unbound() {
                    Ok(socket) => Some((socket, address)),
                    Err(error) => {
                        tracing::warn!("no systemd notifications: cannot open a socket: {error}");
                        None
                    }
                },
                Err(error) => {
                    tracing::warn!("no systemd notifications: {NOTIFY_SOCKET}: {error}");
                    None
                }
            }
        });
        Notifier {
            target,
            failed: AtomicBool::new(false),
        }
    }

    /// Whether notifications go anywhere.
    pub fn is_active(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state`, one `KEY=value` a line.
    pub fn send(&self, state: &str) {
        let Some((socket, address)) = &self.target else {
            return;
        };
        if let Err(error) = socket.send_to_addr(state.as_bytes(), address)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            tracing::warn!("cannot notify systemd (further failures not logged): {error}");
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A status line alone.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// `RELOADING=1`, with the monotonic time when it is known.
    pub fn reloading(&self) {
        match monotonic_microseconds() {
            Some(now) => self.send(&format!(
                "RELOADING=1\nMONOTONIC_USEC={now}\nSTATUS=reloading the configuration"
            )),
            None => self.send("RELOADING=1\nSTATUS=reloading the configuration"),
        }
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    /// `WATCHDOG=1`: the main loop is alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, if it is
    /// set, valid, and meant for this process (`$WATCHDOG_PID` unset or our
    /// PID), and if notifications go anywhere.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        if !self.is_active() {
            return None;
        }
        let period = std::env::var(WATCHDOG_USEC).ok()?;
        let pid = std::env::var(WATCHDOG_PID).ok();
        watchdog_interval(&period, pid.as_deref(), std::process::id())
    }
}

/// Half the watchdog period `period` (microseconds, text), if `pid` (the
/// text of `$WATCHDOG_PID`, if set) is unset or equals `own_pid`.
fn watchdog_interval(period: &str, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return None;
    }
    let microseconds = period
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|&value| value > 0)?;
    Some(Duration::from_micros(microseconds / 2))
}

/// The socket address of a `$NOTIFY_SOCKET` value: a path, or an abstract
/// name after `@`.
fn socket_address(value: &[u8]) -> std::io::Result<SocketAddr> {
    match value {
        [] => Err(std::io::Error::other("empty")),
        [b'@', name @ ..] => {
            use std::os::linux::net::SocketAddrExt as _;
            SocketAddr::from_abstract_name(name)
        }
        [b'/', ..] => {
            use std::os::unix::ffi::OsStrExt as _;
            SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(value))
        }
        _ => Err(std::io::Error::other(
            "neither an absolute path nor an abstract name beginning with '@'",
        )),
    }
}

/// `text` without line breaks, which would end the assignment.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// `CLOCK_MONOTONIC` in microseconds, read from the debug form of an
/// [`std::time::Instant`] (`Instant { tv_sec: S, tv_nsec: N }` on Linux).
fn monotonic_microseconds() -> Option<u64> {
    parse_instant_debug(&format!("{:?}", std::time::Instant::now()))
}

fn parse_instant_debug(text: &str) -> Option<u64> {
    let field = |key: &str| -> Option<u64> {
        let start = text.find(key)? + key.len();
        let digits: String = text[start..]
            .chars()
            .skip_while(|character| *character == ' ')
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    let seconds = field("tv_sec:")?;
    let nanoseconds = field("tv_nsec:")?;
    if nanoseconds >= 1_000_000_000 {
        return None;
    }
    seconds
        .checked_mul(1_000_000)?
        .checked_add(nanoseconds / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_interval_is_half_the_period_and_only_for_this_process() {
        assert_eq!(
            watchdog_interval("30000000", None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval("30000000", Some("7"), 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval("30000000", Some("8"), 7), None);
        assert_eq!(watchdog_interval("30000000", Some("x"), 7), None);
        assert_eq!(watchdog_interval("0", None, 7), None);
        assert_eq!(watchdog_interval("soon", None, 7), None);
    }

    #[test]
    fn socket_addresses_are_paths_or_abstract_names() {
        use std::os::linux::net::SocketAddrExt as _;
        let path = socket_address(b"/run/systemd/notify").unwrap();
        assert_eq!(
            path.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        let abstract_name = socket_address(b"@hanse/notify").unwrap();
        assert_eq!(abstract_name.as_abstract_name(), Some(&b"hanse/notify"[..]));
        assert!(socket_address(b"").is_err());
        assert!(socket_address(b"relative/path").is_err());
    }

    #[test]
    fn the_monotonic_clock_is_read_and_never_goes_back() {
        assert_eq!(
            parse_instant_debug("Instant { tv_sec: 12, tv_nsec: 345678901 }"),
            Some(12_345_678)
        );
        assert_eq!(parse_instant_debug("Instant(12)"), None);
        let first = monotonic_microseconds().expect("the debug form of Instant is known");
        std::thread::sleep(Duration::from_millis(5));
        let second = monotonic_microseconds().unwrap();
        assert!(second >= first + 5000, "{first} then {second}");
        // CLOCK_MONOTONIC never runs ahead of CLOCK_BOOTTIME (/proc/uptime).
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((second as f64) <= uptime * 1e6 + 20_000.0);
    }

    #[test]
    fn status_lines_stay_one_line() {
        assert_eq!(one_line("a\nb\rc"), "a b c");
    }
}
