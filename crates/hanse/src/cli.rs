//! The command line over a running node's API (issue 6 item 5):
//! `hanse stats`, `hanse cache flush NAME`, `hanse feeds refresh [NAME]`,
//! `hanse reload`, `hanse nta list|add|remove` (negative trust anchors);
//! and the admin token a zero-configuration start creates
//! (issue 6 item 4), which these commands read when no token is given.
//!
//! # Limitations
//! - HTTP without TLS, as the API serves it (loopback by default).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hanse_api::client::NodeClient;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the first start without a configuration file keeps its admin
/// token, below the state directory.
pub const TOKEN_FILE: &str = "api-token";

/// Which node's API, and with which token.
#[derive(Args, Debug, Clone)]
pub struct ApiTarget {
    /// The node's API, `host:port`.
    #[arg(long, global = true, default_value = "127.0.0.1:8053")]
    api: String,
    /// A bearer token; by default the one in --token-file if it exists.
    #[arg(long, global = true, conflicts_with = "token_file")]
    token: Option<String>,
    /// A file holding the token.
    #[arg(long, global = true, default_value = "/var/lib/hanse/api-token")]
    token_file: PathBuf,
    /// Seconds to wait for the node.
    #[arg(long, global = true, default_value_t = 10)]
    timeout: u64,
}

impl ApiTarget {
    fn client(&self) -> anyhow::Result<NodeClient> {
        let token = match &self.token {
            Some(token) => Some(token.clone()),
            None => match std::fs::read_to_string(&self.token_file) {
                Ok(text) => Some(text.trim().to_owned()),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("cannot read {}", self.token_file.display()));
                }
            },
        };
        Ok(NodeClient::new(
            &self.api,
            token.as_deref(),
            Duration::from_secs(self.timeout.clamp(1, 300)),
        ))
    }
}

/// `hanse cache …`.
#[derive(Subcommand, Debug)]
pub enum CacheAction {
    /// Remove a name (and with --subtree everything below it) from the caches.
    Flush {
        /// The name.
        name: String,
        /// Everything below the name too.
        #[arg(long)]
        subtree: bool,
    },
}

/// `hanse feeds …`.
#[derive(Subcommand, Debug)]
pub enum FeedsAction {
    /// Print every feed's state.
    List,
    /// Fetch a remote feed now (every feed without a name).
    Refresh {
        /// The feed.
        name: Option<String>,
    },
}

/// `hanse nta …`: negative trust anchors (RFC 7646) set at run time.
#[derive(Subcommand, Debug)]
pub enum NtaAction {
    /// Print the negative trust anchors in force, with their expiry.
    List,
    /// Treat a name and everything below it as insecure for a while.
    Add {
        /// The name.
        name: String,
        /// How long: a whole number with s, m, h or d (at most 7 days).
        #[arg(long = "for", default_value = "1d", value_parser = parse_lifetime)]
        lifetime: u64,
    },
    /// Remove a negative trust anchor added at run time.
    Remove {
        /// The name.
        name: String,
    },
}

/// A lifetime such as `90s`, `30m`, `12h` or `2d`, in seconds.
fn parse_lifetime(text: &str) -> Result<u64, String> {
    let split = text
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let count: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?}: write a whole number with s, m, h or d, as in 12h"))?;
    let unit_seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    count
        .checked_mul(unit_seconds)
        .filter(|seconds| (1..=7 * 86_400).contains(seconds))
        .ok_or_else(|| format!("{text:?}: must be 1 second to 7 days"))
}

/// Percent-encodes a query or path component (RFC 3986 unreserved kept).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if !text.is_empty() {
        writeln!(out, "{text}")?;
    }
    Ok(())
}

/// `hanse stats`.
pub fn stats(target: &ApiTarget) -> anyhow::Result<()> {
    let client = target.client()?;
    print(&client.call("GET", "/api/v1/stats", None)?)
}

/// `hanse cache flush NAME [--subtree]`.
pub fn cache(target: &ApiTarget, action: &CacheAction) -> anyhow::Result<()> {
    let CacheAction::Flush { name, subtree } = action;
    let client = target.client()?;
    let path = format!("/api/v1/cache?name={}&subtree={subtree}", encode(name));
    print(&client.call("DELETE", &path, None)?)
}

/// `hanse feeds list|refresh [NAME]`.
pub fn feeds(target: &ApiTarget, action: &FeedsAction) -> anyhow::Result<()> {
    let client = target.client()?;
    match action {
        FeedsAction::List => print(&client.call("GET", "/api/v1/feeds", None)?),
        FeedsAction::Refresh { name: Some(name) } => {
            client.call(
                "POST",
                &format!("/api/v1/feeds/{}/refresh", encode(name)),
                None,
            )?;
            print(&format!("feed {name}: refresh started"))
        }
        FeedsAction::Refresh { name: None } => {
            let feeds = client.feeds()?;
            if feeds.is_empty() {
                bail!("the node has no feeds");
            }
            for feed in feeds {
                client.call(
                    "POST",
                    &format!("/api/v1/feeds/{}/refresh", encode(&feed.name)),
                    None,
                )?;
                print(&format!("feed {}: refresh started", feed.name))?;
            }
            Ok(())
        }
    }
}

/// `hanse nta list|add NAME [--for DURATION]|remove NAME`.
pub fn nta(target: &ApiTarget, action: &NtaAction) -> anyhow::Result<()> {
    let client = target.client()?;
    let path = "/api/v1/dnssec/negative-trust-anchors";
    match action {
        NtaAction::List => print(&client.call("GET", path, None)?),
        NtaAction::Add { name, lifetime } => {
            let body = format!(
                "{{\"name\":{},\"expires_in\":{lifetime}}}",
                json_string(name)
            );
            print(&client.call("POST", path, Some(&body))?)
        }
        NtaAction::Remove { name } => {
            client.call("DELETE", &format!("{path}/{}", encode(name)), None)?;
            print(&format!("negative trust anchor {name} removed"))
        }
    }
}

/// A JSON string literal of `text`.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            control if control.is_control() => {
                out.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// `hanse reload`.
pub fn reload(target: &ApiTarget) -> anyhow::Result<()> {
    let client = target.client()?;
    client.call("POST", "/api/v1/reload", None)?;
    print("configuration reloaded")
}

/// The admin token of a start without a configuration file: read from
/// `STATE_DIRECTORY/api-token`, or made (32 random bytes, hex) and written
/// there readable by the owner only, on the first start.
pub fn first_start_token(state_directory: &Path) -> anyhow::Result<(String, PathBuf, bool)> {
    let path = state_directory.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 16 => return Ok((text.trim().to_owned(), path, false)),
        Ok(_) => bail!("{} holds no usable token; remove it", path.display()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
    std::fs::create_dir_all(state_directory)
        .with_context(|| format!("cannot create {}", state_directory.display()))?;
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    let token: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?
    };
    writeln!(file, "{token}")?;
    file.sync_all()?;
    Ok((token, path, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_start_token_is_made_once_and_kept_private() {
        let directory =
            std::env::temp_dir().join(format!("hanse-cli-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let (token, path, made) = first_start_token(&directory).expect("made");
        assert!(made && token.len() == 64);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("file").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let (again, _, made) = first_start_token(&directory).expect("read");
        assert!(!made);
        assert_eq!(again, token);
        std::fs::write(&path, "short\n").expect("write");
        assert!(first_start_token(&directory).is_err());
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn lifetimes_and_json_strings() {
        assert_eq!(parse_lifetime("90"), Ok(90));
        assert_eq!(parse_lifetime("30m"), Ok(1_800));
        assert_eq!(parse_lifetime("7d"), Ok(604_800));
        assert!(parse_lifetime("8d").is_err());
        assert!(parse_lifetime("0s").is_err());
        assert!(parse_lifetime("1w").is_err());
        assert!(parse_lifetime("h").is_err());
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode("www.example."), "www.example.");
        assert_eq!(encode("a b/c&d"), "a%20b%2Fc%26d");
    }
}
