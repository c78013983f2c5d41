//! Data-driven tests with the third-party data in `../shared/testdata`:
//! BIND 9's RPZ system-test zones (the triggers and actions that can be
//! checked without a resolver) and the real-size EasyList, EasyPrivacy and
//! URLhaus lists in every format.

use hanse_policy::{
    Feed, PolicyAction, PreparedName, ProblemReason, Synthesis, TriggerKind, Verdict,
};
use hanse_wire::{Name, RType, Record};
use std::path::PathBuf;

fn testdata() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    assert!(
        path.is_dir(),
        "test data missing: expected the shared test data at {} (see /work/shared/testdata/README.md)",
        path.display()
    );
    path
}

fn read(relative: &str) -> String {
    let path = testdata().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read test data {}: {error}", path.display()))
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn zone(relative: &str, origin: &str) -> (Feed, Vec<hanse_policy::Problem>) {
    let origin = name(origin);
    let records = hanse_zone::parse_zone(&read(relative), &origin, 300)
        .unwrap_or_else(|error| panic!("{relative}: {error}"));
    Feed::from_rpz(relative, &origin, &records)
}

fn qname(feed: &Feed, query: &str) -> Option<PolicyAction> {
    let query = name(query);
    let prepared = PreparedName::new(query.as_wire()).unwrap();
    feed.match_qname(&prepared).map(|rule| rule.action.clone())
}

fn address(feed: &Feed, kind: TriggerKind, text: &str) -> Option<PolicyAction> {
    feed.match_address(kind, text.parse().unwrap())
        .map(|rule| rule.action.clone())
}

/// The records of BIND's nsupdate scripts (`update add owner ttl type data`)
/// below `origin`; names without a final dot are absolute, as nsupdate reads them.
fn nsupdate_records(relative: &str, origin: &str) -> Vec<Record> {
    let origin_name = name(origin);
    let mut text = String::new();
    for line in read(relative).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 || fields[0] != "update" || fields[1] != "add" {
            continue;
        }
        let absolute = |text: &str| {
            if text.ends_with('.') {
                text.to_owned()
            } else {
                format!("{text}.")
            }
        };
        let owner = absolute(fields[2]);
        let data =
            if fields[4].eq_ignore_ascii_case("CNAME") || fields[4].eq_ignore_ascii_case("DNAME") {
                absolute(fields[5])
            } else {
                fields[5..].join(" ")
            };
        text.push_str(&format!("{owner} {} {} {data}\n", fields[3], fields[4]));
    }
    hanse_zone::parse_zone(&text, &origin_name, 300)
        .unwrap()
        .into_iter()
        .filter(|record| record.name.is_subdomain_of(&origin_name))
        .collect()
}

#[test]
fn bind_passthru_zone() {
    let (feed, problems) = zone("rpz-bind9/rpzrecurse/ns2/db.passthru", "passthru.zone.");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(qname(&feed, "example.com"), Some(PolicyAction::Passthru));
    assert_eq!(
        qname(&feed, "www.example.com"),
        Some(PolicyAction::Passthru)
    );
    assert_eq!(qname(&feed, "example.org"), None);
    assert_eq!(feed.serial(), Some(1));
}

#[test]
fn bind_wildcard_zones() {
    let (feed, problems) = zone("rpz-bind9/rpzrecurse/ns2/db.wildcard1", "wildcard1.");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        qname(&feed, "test1.example.net"),
        Some(PolicyAction::Nxdomain)
    );
    assert_eq!(
        qname(&feed, "a.b.test1.example.net"),
        Some(PolicyAction::Nxdomain)
    );
    assert_eq!(qname(&feed, "test2.example.net"), None);
    for file in ["db.wildcard2a", "db.wildcard2b", "db.wildcard3"] {
        let (feed, problems) = zone(&format!("rpz-bind9/rpzrecurse/ns2/{file}"), "policy.");
        assert!(
            problems
                .iter()
                .all(|problem| problem.reason == ProblemReason::OutOfZone)
        );
        let _ = feed;
    }
}

#[test]
fn bind_client_ip_zones_and_bad_prefix_length() {
    let (feed, problems) = zone("rpz-bind9/rpzrecurse/ns2/db.clientip1", "clientip1.");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(feed.counts().client_ip, 2);
    let local = |text: &str| match address(&feed, TriggerKind::ClientIp, text) {
        Some(PolicyAction::LocalData(records)) => records[0].data.to_vec(),
        other => panic!("{other:?}"),
    };
    assert_eq!(local("10.53.0.4"), vec![10, 53, 0, 2]);
    assert_eq!(local("10.53.0.9"), vec![10, 53, 0, 1]);
    assert_eq!(address(&feed, TriggerKind::ClientIp, "10.53.1.1"), None);

    let (feed, problems) = zone(
        "rpz-bind9/rpzrecurse/ns2/db.invalidprefixlength",
        "invalidprefixlength.",
    );
    assert_eq!(feed.counts().client_ip, 0);
    assert!(
        matches!(problems[0].reason, ProblemReason::BadAddressTrigger(_)),
        "{problems:?}"
    );
}

#[test]
fn bind_wildcard_cname_rewrite() {
    let (feed, problems) = zone("rpz-bind9/rpz/ns3/wild-cname.db.in", "wild-cname.");
    assert!(problems.is_empty(), "{problems:?}");
    let set = hanse_policy::PolicySet::build(
        vec![hanse_policy::ProfileSpec::new(
            "default",
            &["rpz-bind9/rpz/ns3/wild-cname.db.in"],
        )],
        vec![],
        vec![feed],
    )
    .unwrap();
    let query = name("x.evil.tld2.");
    let profile = set.profile_id("default").unwrap();
    let verdict = set.check_query(profile, query.as_wire(), None, hanse_policy::UnixTime(0));
    assert!(matches!(verdict, Verdict::Match(_)));
    let Synthesis::Answer {
        answers, follow, ..
    } = hanse_policy::synthesize(&verdict, &query, RType::A)
    else {
        panic!("answer expected");
    };
    assert_eq!(answers[0].rtype, RType::CNAME);
    assert_eq!(follow, Some(name("x.evil.tld2.wc.tld4.")));
}

#[test]
fn bind_mixed_case_zone() {
    let (feed, problems) = zone(
        "rpz-bind9/rpz/ns3/mixed-case-rpz-1.db.in",
        "mixed-case-rpz.",
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(qname(&feed, "a6-2.tld2"), Some(PolicyAction::Nxdomain));
    assert_eq!(qname(&feed, "A6-2.Tld2"), Some(PolicyAction::Nxdomain));
}

#[test]
fn bind_qname_update_script() {
    let records = nsupdate_records("rpz-bind9/rpz/test1.j2", "bl.");
    let (feed, problems) = Feed::from_rpz("bl", &name("bl."), &records);
    assert_eq!(qname(&feed, "a0-1.tld2"), Some(PolicyAction::Nxdomain));
    assert_eq!(qname(&feed, "a3-1.tld2"), Some(PolicyAction::Nodata));
    assert_eq!(qname(&feed, "a3-8.tld2"), Some(PolicyAction::Drop));
    assert_eq!(qname(&feed, "a3-9.tld2"), Some(PolicyAction::TcpOnly));
    assert!(
        matches!(qname(&feed, "a4-1.sub1.tld2"), Some(PolicyAction::LocalData(records)) if records[0].rtype == RType::A)
    );
    // The wildcard *.sub1.tld2 CNAME *.tld4. applies below sub1.tld2 only.
    let Some(PolicyAction::LocalData(records)) = qname(&feed, "other.sub1.tld2") else {
        panic!("wildcard rule expected");
    };
    assert_eq!(&*records[0].data, b"\x01*\x04tld4\x00");
    // a6-1.tld2 gets CNAME and then A: the second is refused, the first stays.
    assert!(
        problems
            .iter()
            .any(|problem| problem.reason == ProblemReason::CnameAndOtherData)
    );
    assert_eq!(qname(&feed, "a6-1.tld2"), Some(PolicyAction::Passthru));
}

#[test]
fn bind_ip_update_script() {
    let records = nsupdate_records("rpz-bind9/rpz/test2.j2", "bl.");
    let (feed, problems) = Feed::from_rpz("bl", &name("bl."), &records);
    assert!(problems.is_empty(), "{problems:?}");
    let ip = |text| address(&feed, TriggerKind::ResponseIp, text);
    assert_eq!(ip("192.168.3.1"), Some(PolicyAction::Nodata));
    assert_eq!(ip("192.168.4.9"), Some(PolicyAction::Nxdomain));
    // Old-style PASSTHRU (CNAME to the trigger itself) and rpz-passthru.
    assert_eq!(ip("192.168.4.1"), Some(PolicyAction::Passthru));
    assert_eq!(ip("192.168.4.4"), Some(PolicyAction::Passthru));
    assert_eq!(ip("192.168.4.3"), Some(PolicyAction::Nodata));
    assert_eq!(ip("2001:2:3::1"), Some(PolicyAction::Nxdomain));
    // The non-canonical form is accepted.
    assert_eq!(ip("2001:2:3::2"), Some(PolicyAction::Nxdomain));
    assert_eq!(ip("192.168.6.1"), None);
    assert!(matches!(
        address(&feed, TriggerKind::ClientIp, "10.53.0.1"),
        Some(PolicyAction::LocalData(_))
    ));
    assert_eq!(
        qname(&feed, "a5-4.tld2").map(|action| matches!(action, PolicyAction::LocalData(_))),
        Some(true)
    );
}

#[test]
fn bind_ipv6_radix_script() {
    let records = nsupdate_records("rpz-bind9/rpz/test6.j2", "bl.");
    let (feed, problems) = Feed::from_rpz("bl", &name("bl."), &records);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(feed.counts().response_ip, 8);
    let ip = |text| address(&feed, TriggerKind::ResponseIp, text);
    assert_eq!(
        ip("8888:7777:6666:5555:4444:3333:2222:1111"),
        Some(PolicyAction::Nxdomain)
    );
    assert_eq!(ip("8888:8777:0:4444:3333::1"), Some(PolicyAction::Nxdomain));
    assert_eq!(ip("8888:8777:0:4444:3333::2"), None);
    assert_eq!(
        qname(&feed, "x.redirect").map(|action| matches!(action, PolicyAction::LocalData(_))),
        Some(true)
    );
}

#[test]
fn bind_extra_zones_load() {
    let (feed, problems) = zone(
        "rpz-bind9/rpzextra/ns3/first-rpz.local.db",
        "first-rpz.local.",
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(qname(&feed, "allowed"), Some(PolicyAction::Passthru));
    assert_eq!(qname(&feed, "x.baddomain"), Some(PolicyAction::Nxdomain));
}

/// Every name of a `.domains` file.
fn domains(relative: &str) -> Vec<String> {
    read(relative)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn real_size_lists_agree_across_formats() {
    for list in ["easylist", "easyprivacy", "urlhaus"] {
        let names = domains(&format!("lists/{list}.domains"));
        let (rpz, problems) = zone(&format!("lists/{list}.rpz"), &format!("rpz.{list}."));
        assert!(
            problems.is_empty(),
            "{list}.rpz: {:?}",
            &problems[..problems.len().min(3)]
        );
        assert_eq!(
            rpz.counts().qname,
            names.len() * 2,
            "{list}.rpz: an exact and a wildcard trigger per name"
        );
        let (hosts, problems) = Feed::from_hosts("hosts", &read(&format!("lists/{list}.hosts")));
        assert!(
            problems.is_empty(),
            "{list}.hosts: {:?}",
            &problems[..problems.len().min(3)]
        );
        assert_eq!(hosts.counts().qname, names.len());
        let (plain, problems) =
            Feed::from_domains("domains", &read(&format!("lists/{list}.domains")));
        assert!(
            problems.is_empty(),
            "{list}.domains: {:?}",
            &problems[..problems.len().min(3)]
        );
        assert_eq!(plain.counts().qname, names.len());
        for entry in names.iter().step_by(97) {
            let below = format!("www.{entry}");
            assert_eq!(qname(&rpz, entry), Some(PolicyAction::Nxdomain), "{entry}");
            assert_eq!(qname(&rpz, &below), Some(PolicyAction::Nxdomain), "{below}");
            assert_eq!(qname(&hosts, entry), Some(PolicyAction::Block), "{entry}");
            assert_eq!(qname(&plain, &below), Some(PolicyAction::Block), "{below}");
        }
    }
    assert_eq!(
        qname(
            &Feed::from_domains("d", &read("lists/easylist.domains")).0,
            "0014b04291.com"
        ),
        Some(PolicyAction::Block)
    );
}

#[test]
fn adblock_sources_compile_to_the_same_names() {
    let names = domains("lists/easylist.domains");
    let (feed, problems) = Feed::from_adblock("easylist", &read("lists/src/easylist.txt"));
    // Every name of the derived list is blocked by the adblock source.
    for entry in &names {
        assert_eq!(qname(&feed, entry), Some(PolicyAction::Block), "{entry}");
    }
    // Cosmetic and URL rules are reported, each with its line.
    assert!(problems.len() > 10_000, "{}", problems.len());
    assert!(
        problems
            .iter()
            .all(|problem| matches!(problem.location, hanse_policy::Location::Line(_)))
    );
    let counts = feed.counts();
    assert!(
        counts.qname >= names.len() && counts.qname <= names.len() + 10,
        "{counts:?}"
    );

    let (feed, _) = Feed::from_adblock("easyprivacy", &read("lists/src/easyprivacy.txt"));
    assert_eq!(feed.counts().exceptions, 4);
}

#[test]
fn urlhaus_response_ip_triggers() {
    let (feed, problems) = zone("lists/urlhaus-ip.rpz", "rpz.urlhaus.");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(feed.counts().response_ip, 2307);
    assert_eq!(
        address(&feed, TriggerKind::ResponseIp, "1.1.104.12"),
        Some(PolicyAction::Nxdomain)
    );
    assert_eq!(address(&feed, TriggerKind::ResponseIp, "1.1.104.13"), None);
}

#[test]
fn hickory_domain_list() {
    let (feed, problems) =
        Feed::from_domains("hickory", &read("lists/hickory/default__blocklist.txt"));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(qname(&feed, "baddomain.com"), Some(PolicyAction::Block));
    assert_eq!(qname(&feed, "x.foo.com"), Some(PolicyAction::Block));
    assert_eq!(qname(&feed, "example.com"), Some(PolicyAction::Block));
    assert_eq!(qname(&feed, "good.com"), None);
}
