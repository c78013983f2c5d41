//! The filtering policy from the command line: `hanse check-config` and
//! `hanse explain` run as a separate process on configuration and feed files
//! written to a temporary directory, and on the real lists in
//! `shared/testdata/lists` (URLhaus-derived; origin and licence in that
//! directory's README).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory of its own for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("hanse-policy-cli-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch directory");
        Scratch(path)
    }

    /// Writes `text` to `name` in the directory and returns its path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shared lists directory; fails the test with a clear message if the
/// test data is not checked out next to the workspace.
fn lists() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/lists");
    assert!(
        path.join("urlhaus.rpz").is_file(),
        "test data missing: expected {} (the shared test data beside the workspace)",
        path.display()
    );
    path
}

fn hanse(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hanse"))
        .args(arguments)
        .output()
        .expect("run hanse")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `hanse explain` with `arguments` and the configuration, expecting
/// success, and returns what it printed.
fn explain(config: &Path, arguments: &[&str]) -> String {
    let mut all = vec!["explain"];
    all.extend_from_slice(arguments);
    let config = config.to_str().expect("UTF-8 path");
    all.extend_from_slice(&["--config", config]);
    let output = hanse(&all);
    assert!(
        output.status.success(),
        "hanse {all:?} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// A configuration with the URLhaus policy zone for everyone and a "kids"
/// profile that adds a social list on school nights (Berlin time).
fn kids_config(scratch: &Scratch) -> PathBuf {
    let urlhaus = lists().join("urlhaus.rpz");
    scratch.write("social.domains", "social.example\n");
    scratch.write(
        "hanse.toml",
        &format!(
            r#"[[policy.feed]]
name = "urlhaus"
format = "rpz"
file = {urlhaus:?}

[[policy.feed]]
name = "social"
format = "domains"
file = "social.domains"
ede = "filtered"

[[policy.profile]]
name = "default"
feeds = ["urlhaus"]

[[policy.profile]]
name = "kids"
feeds = ["urlhaus", "social"]
block_answer = "null"
time_zone = "Europe/Berlin"

[[policy.profile.schedule]]
feed = "social"
days = ["sun-thu"]
from = "21:00"
to = "07:00"

[[policy.client]]
cidr = "10.1.0.0/16"
profile = "kids"
"#
        ),
    )
}

#[test]
fn check_config_reports_a_bad_profile_reference_with_line_and_column() {
    let scratch = Scratch::new("reference");
    scratch.write("list.domains", "blocked.example\n");
    let config = scratch.write(
        "hanse.toml",
        r#"[[policy.feed]]
name = "list"
format = "domains"
file = "list.domains"

[[policy.profile]]
name = "default"
feeds = ["list", "lsit"]

[[policy.client]]
cidr = "10.1.0.0/16"
profile = "kids"
"#,
    );
    let output = hanse(&["check-config", config.to_str().expect("UTF-8 path")]);
    assert!(!output.status.success());
    let errors = text(&output.stderr);
    let file = config.display();
    assert!(
        errors.contains(&format!(
            "{file}:8:18: policy.profile[0].feeds[1]: unknown feed \"lsit\" (configured: \"list\")"
        )),
        "{errors}"
    );
    assert!(
        errors.contains(&format!(
            "{file}:12:11: policy.client[0].profile: unknown profile \"kids\""
        )),
        "{errors}"
    );
    assert!(errors.contains("2 problem(s)"), "{errors}");
}

#[test]
fn check_config_fails_on_a_missing_feed_file_and_bad_remote_sources() {
    let scratch = Scratch::new("missing");
    let config = scratch.write(
        "hanse.toml",
        r#"[[policy.feed]]
name = "gone"
format = "hosts"
file = "gone.hosts"

[[policy.feed]]
name = "remote"
format = "hosts"
url = "ftp://lists.example/hosts"

[[policy.feed]]
name = "transfer"
format = "rpz"
zone = "rpz.example."
tsig_key = "missing-key."
"#,
    );
    let output = hanse(&["check-config", config.to_str().expect("UTF-8 path")]);
    assert!(!output.status.success());
    let errors = text(&output.stderr);
    assert!(
        errors.contains(":4:8: policy.feed[0].file: cannot use ") && errors.contains("gone.hosts"),
        "{errors}"
    );
    assert!(
        errors.contains(
            ":9:7: policy.feed[1].url: \"ftp://lists.example/hosts\" is not a feed URL: the scheme \"ftp\" is not http or https"
        ),
        "{errors}"
    );
    assert!(
        errors.contains(
            ":11:1: policy.feed[2]: missing key \"primaries\" (the servers the zone is transferred from)"
        ),
        "{errors}"
    );
    assert!(
        errors.contains(
            ":15:12: policy.feed[2].tsig_key: unknown TSIG key \"missing-key.\" (no [[policy.tsig_key]] is configured)"
        ),
        "{errors}"
    );
    assert!(errors.contains("4 problem(s)"), "{errors}");
}

#[test]
fn check_config_loads_the_real_lists() {
    let scratch = Scratch::new("real");
    let lists = lists();
    let config = scratch.write(
        "hanse.toml",
        &format!(
            r#"[[policy.feed]]
name = "urlhaus"
format = "rpz"
file = {:?}

[[policy.feed]]
name = "urlhaus-ip"
format = "rpz"
file = {:?}

[[policy.feed]]
name = "urlhaus-hosts"
format = "hosts"
file = {:?}
"#,
            lists.join("urlhaus.rpz"),
            lists.join("urlhaus-ip.rpz"),
            lists.join("urlhaus.hosts"),
        ),
    );
    let output = hanse(&["check-config", config.to_str().expect("UTF-8 path")]);
    let printed = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(printed.contains("feed urlhaus (rpz, "), "{printed}");
    assert!(printed.contains("serial 1"), "{printed}");
    assert!(printed.ends_with(": OK\n"), "{printed}");
}

#[test]
fn explain_names_the_rule_and_the_feed_of_a_blocked_name() {
    let scratch = Scratch::new("blocked");
    let config = kids_config(&scratch);
    let printed = explain(&config, &["111101111.ru", "--type", "AAAA"]);
    assert!(
        printed.contains("query:    111101111.ru. AAAA"),
        "{printed}"
    );
    assert!(
        printed.contains("profile:  default (default profile"),
        "{printed}"
    );
    assert!(printed.contains("decision: NXDOMAIN"), "{printed}");
    assert!(
        printed.contains("rule:     QNAME 111101111.ru"),
        "{printed}"
    );
    assert!(
        printed.contains("feed:     urlhaus serial 1 version 1"),
        "{printed}"
    );
    // Below a listed name, the zone's wildcard rule decides.
    let printed = explain(&config, &["www.111101111.ru"]);
    assert!(
        printed.contains("rule:     QNAME *.111101111.ru"),
        "{printed}"
    );
    let printed = explain(&config, &["example.com"]);
    assert!(printed.contains("decision: pass"), "{printed}");
}

#[test]
fn explain_for_a_client_in_a_mapped_network_names_its_profile() {
    let scratch = Scratch::new("client");
    let config = kids_config(&scratch);
    let printed = explain(&config, &["example.com", "--client", "10.1.2.3"]);
    assert!(
        printed.contains("profile:  kids (client rule 1: network 10.1.0.0/16)"),
        "{printed}"
    );
    let printed = explain(&config, &["example.com", "--client", "10.2.0.1"]);
    assert!(
        printed.contains("profile:  default (default profile"),
        "{printed}"
    );
}

#[test]
fn explain_at_a_time_inside_and_outside_a_schedule_window() {
    let scratch = Scratch::new("schedule");
    let config = kids_config(&scratch);
    // Monday 2025-01-06, 22:30 in Berlin: a school night.
    let inside = explain(
        &config,
        &[
            "social.example",
            "--client",
            "10.1.2.3",
            "--at",
            "2025-01-06T22:30:00+01:00",
        ],
    );
    assert!(inside.contains("feed:     social active"), "{inside}");
    assert!(
        inside.contains("rule:     QNAME social.example (line 1)"),
        "{inside}"
    );
    assert!(
        inside.contains("answer:   NOERROR, A 300 0.0.0.0"),
        "{inside}"
    );
    // The same day at noon (Unix seconds this time): the feed sleeps.
    let outside = explain(
        &config,
        &[
            "social.example",
            "--client",
            "10.1.2.3",
            "--at",
            "1736163000",
        ],
    );
    assert!(
        outside.contains("feed:     social inactive: outside its schedule"),
        "{outside}"
    );
    assert!(outside.contains("decision: pass"), "{outside}");
    // Friday night is not a school night.
    let friday = explain(
        &config,
        &[
            "social.example",
            "--client",
            "10.1.2.3",
            "--at",
            "2025-01-10T21:30:00Z",
        ],
    );
    assert!(friday.contains("decision: pass"), "{friday}");
}

#[test]
fn a_feed_with_a_broken_line_loads_the_rest_and_reports_the_line() {
    let scratch = Scratch::new("broken");
    let hosts = scratch.write(
        "broken.hosts",
        "0.0.0.0 first.example\nnot-an-address second.example\n0.0.0.0 third.example\n",
    );
    let config = scratch.write(
        "hanse.toml",
        "[[policy.feed]]\nname = \"broken\"\nformat = \"hosts\"\nfile = \"broken.hosts\"\n",
    );
    let output = hanse(&["check-config", config.to_str().expect("UTF-8 path")]);
    let warnings = text(&output.stderr);
    assert!(output.status.success(), "{warnings}");
    assert!(
        warnings.contains(&format!(
            "warning: {}:2: feed broken: hosts line does not start with an address (skipped)",
            hosts.display()
        )),
        "{warnings}"
    );
    assert!(
        text(&output.stdout).contains("2 rules"),
        "{}",
        text(&output.stdout)
    );
    // The implicit default profile uses the feed; the line after the broken
    // one is in force.
    let printed = explain(&config, &["third.example"]);
    assert!(
        printed.contains("rule:     QNAME third.example (line 3)"),
        "{printed}"
    );
}

#[test]
fn explain_refuses_bad_arguments() {
    for arguments in [
        &["explain", "example.com", "--at", "yesterday"][..],
        &["explain", "example.com", "--at", "2025-02-30T00:00:00Z"][..],
        &["explain", "example.com", "--type", "NOPE"][..],
    ] {
        let output = hanse(arguments);
        assert!(!output.status.success(), "{arguments:?}");
        assert!(
            text(&output.stderr).starts_with("hanse explain: "),
            "{arguments:?}"
        );
    }
    let output = hanse(&["explain", "example.com", "--at", "2025-01-06T22:30:00.25z"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("2025-01-06T22:30:00+00:00[UTC]"));
}

#[test]
fn check_config_reads_api_tokens_from_a_token_file_and_the_api_policy_file() {
    let scratch = Scratch::new("api");
    scratch.write("list.domains", "blocked.example\n");
    scratch.write("admin.token", "  a-long-admin-token-from-a-file\n");
    let config_text = r#"[[policy.feed]]
name = "list"
format = "domains"
file = "list.domains"

[api]
listen = "0.0.0.0:8053"
[[api.token]]
scope = "admin"
token_file = "admin.token"
"#;
    let config = scratch.write("hanse.toml", config_text);
    let path = config.to_str().expect("UTF-8 path");
    // A non-loopback listener is accepted with the token from the file.
    let output = hanse(&["check-config", path]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // The API's policy file beside the configuration is read and checked.
    scratch.write(
        "hanse.api.toml",
        "[[profile]]\nname = \"kids\"\nfeeds = [\"list\"]\n\n[[client]]\n\
         cidr = \"10.2.0.0/16\"\nprofile = \"kids\"\n",
    );
    let output = hanse(&["check-config", path]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let policy_file = scratch.write(
        "hanse.api.toml",
        "[[client]]\ncidr = \"10.2.0.0/16\"\nprofile = \"teens\"\n",
    );
    let output = hanse(&["check-config", path]);
    assert!(!output.status.success());
    let errors = text(&output.stderr);
    assert!(
        errors.contains(&format!(
            "{}:3:11: client[0].profile: unknown profile \"teens\" (configured: \"default\")",
            policy_file.display()
        )),
        "{errors}"
    );
    // A token file too short, and no token echoed.
    scratch.write("admin.token", "short\n");
    std::fs::remove_file(&policy_file).expect("remove the policy file");
    let output = hanse(&["check-config", path]);
    assert!(!output.status.success());
    let errors = text(&output.stderr);
    assert!(
        errors.contains(&format!(
            "{}:10:14: api.token[0].token_file: the token has 5 characters; it needs at least 16",
            config.display()
        )),
        "{errors}"
    );
    assert!(!errors.contains("short"), "{errors}");
    // Without any token, a listener open to the network is refused.
    let open = scratch.write("open.toml", "[api]\nlisten = \"0.0.0.0:8053\"\n");
    let output = hanse(&["check-config", open.to_str().expect("UTF-8 path")]);
    assert!(!output.status.success());
    let errors = text(&output.stderr);
    assert!(
        errors.contains(&format!(
            "{}:2:10: api.listen: 0.0.0.0 is not a loopback address",
            open.display()
        )),
        "{errors}"
    );
    assert!(errors.contains("open to the network"), "{errors}");
}
