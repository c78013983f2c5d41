//! Profiles, clients and the precedence rules of draft-ietf-dnsop-dns-rpz
//! §5.4, each with its own test, plus block answers, overrides, schedules,
//! safe search, EDE and explanations.

use hanse_policy::{
    Action, BlockAnswer, ClientInfo, ClientRule, ClientSelector, EdeCode, Feed, FeedUse,
    PolicyOverride, PolicySet, ProfileSpec, ResponseFacts, SafeSearch, Synthesis, TimeWindow,
    TriggerKind, UnixTime, Verdict, Weekdays, synthesize,
};
use hanse_wire::{Name, RType, Rcode};
use std::net::IpAddr;

const HEADER: &str = "$TTL 300\n@ SOA ns. h. 42 3600 600 86400 60\n@ NS ns.\n";

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn rpz(feed_name: &str, body: &str) -> Feed {
    let origin = name(&format!("{feed_name}.rpz."));
    let records = hanse_zone::parse_zone(&format!("{HEADER}{body}"), &origin, 300).unwrap();
    let (feed, problems) = Feed::from_rpz(feed_name, &origin, &records);
    assert!(problems.is_empty(), "{problems:?}");
    feed
}

fn set(feeds: Vec<Feed>, order: &[&str]) -> PolicySet {
    PolicySet::build(vec![ProfileSpec::new("default", order)], vec![], feeds).unwrap()
}

/// (feed, trigger kind, trigger text) of the decision.
fn decided(verdict: &Verdict<'_>) -> Option<(String, TriggerKind, String)> {
    match verdict {
        Verdict::Match(hit) => Some((
            hit.feed.name().to_owned(),
            hit.rule.kind,
            hit.rule.trigger_text(),
        )),
        _ => None,
    }
}

fn query(
    set: &PolicySet,
    qname: &str,
    client: Option<&str>,
) -> Option<(String, TriggerKind, String)> {
    let profile = set.profile_id("default").unwrap();
    let client = client.map(|text| text.parse::<IpAddr>().unwrap());
    decided(&set.check_query(profile, name(qname).as_wire(), client, UnixTime(0)))
}

fn response(
    set: &PolicySet,
    qname: &str,
    facts: &ResponseFacts<'_>,
) -> Option<(String, TriggerKind, String)> {
    let profile = set.profile_id("default").unwrap();
    decided(&set.check_response(profile, name(qname).as_wire(), None, facts, UnixTime(0)))
}

fn hit(feed: &str, kind: TriggerKind, trigger: &str) -> Option<(String, TriggerKind, String)> {
    Some((feed.to_owned(), kind, trigger.to_owned()))
}

#[test]
fn earlier_zone_wins() {
    let set = set(
        vec![
            rpz("one", "bad.example CNAME .\n"),
            rpz("two", "*.example CNAME *.\n"),
        ],
        &["two", "one"],
    );
    assert_eq!(
        query(&set, "bad.example", None),
        hit("two", TriggerKind::Qname, "*.example")
    );
}

#[test]
fn client_ip_beats_qname_within_a_zone() {
    let set = set(
        vec![rpz(
            "one",
            "bad.example CNAME .\n24.0.2.0.192.rpz-client-ip CNAME rpz-drop.\n",
        )],
        &["one"],
    );
    assert_eq!(
        query(&set, "bad.example", Some("192.0.2.9")),
        hit("one", TriggerKind::ClientIp, "24.0.2.0.192.rpz-client-ip")
    );
    assert_eq!(
        query(&set, "bad.example", Some("198.51.100.1")),
        hit("one", TriggerKind::Qname, "bad.example")
    );
}

#[test]
fn qname_beats_response_ip_beats_nsdname_beats_nsip() {
    let set = set(
        vec![rpz(
            "one",
            "bad.example CNAME .\n32.1.2.0.192.rpz-ip CNAME .\nns.evil.rpz-nsdname CNAME .\n\
             32.53.2.0.192.rpz-nsip CNAME .\n",
        )],
        &["one"],
    );
    let addresses: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
    let servers = vec![name("ns.evil.")];
    let server_addresses: Vec<IpAddr> = vec!["192.0.2.53".parse().unwrap()];
    let mut facts = ResponseFacts {
        cname_chain: &[],
        addresses: &addresses,
        nameserver_names: &servers,
        nameserver_addresses: &server_addresses,
    };
    assert_eq!(
        response(&set, "bad.example", &facts),
        hit("one", TriggerKind::Qname, "bad.example")
    );
    assert_eq!(
        response(&set, "good.example", &facts),
        hit("one", TriggerKind::ResponseIp, "32.1.2.0.192.rpz-ip")
    );
    facts.addresses = &[];
    assert_eq!(
        response(&set, "good.example", &facts),
        hit("one", TriggerKind::Nsdname, "ns.evil.rpz-nsdname")
    );
    facts.nameserver_names = &[];
    assert_eq!(
        response(&set, "good.example", &facts),
        hit("one", TriggerKind::Nsip, "32.53.2.0.192.rpz-nsip")
    );
    // Before resolution only CLIENT-IP and QNAME count.
    assert_eq!(query(&set, "good.example", None), None);
    assert!(set.needs_response_phase(set.profile_id("default").unwrap()));
}

#[test]
fn exact_qname_beats_wildcard_and_longer_wildcard_beats_shorter() {
    let set = set(
        vec![rpz(
            "one",
            "a.b.example CNAME .\n*.b.example CNAME *.\n*.example CNAME rpz-drop.\n",
        )],
        &["one"],
    );
    assert_eq!(
        query(&set, "a.b.example", None),
        hit("one", TriggerKind::Qname, "a.b.example")
    );
    assert_eq!(
        query(&set, "c.b.example", None),
        hit("one", TriggerKind::Qname, "*.b.example")
    );
    assert_eq!(
        query(&set, "c.example", None),
        hit("one", TriggerKind::Qname, "*.example")
    );
    assert_eq!(query(&set, "example", None), None);
}

#[test]
fn longer_prefix_beats_shorter_and_then_the_smaller_address() {
    let set = set(
        vec![rpz(
            "one",
            "16.0.0.0.192.rpz-ip CNAME .\n24.0.2.0.192.rpz-ip CNAME *.\n32.7.2.0.192.rpz-ip CNAME rpz-drop.\n\
             32.5.2.0.192.rpz-ip CNAME rpz-tcp-only.\n",
        )],
        &["one"],
    );
    let check = |addresses: &[&str]| {
        let addresses: Vec<IpAddr> = addresses.iter().map(|text| text.parse().unwrap()).collect();
        let facts = ResponseFacts {
            addresses: &addresses,
            ..ResponseFacts::default()
        };
        response(&set, "x.example", &facts).map(|found| found.2)
    };
    assert_eq!(
        check(&["192.0.2.1", "192.0.9.9"]),
        Some("24.0.2.0.192.rpz-ip".into())
    );
    assert_eq!(
        check(&["192.0.2.1", "192.0.2.7"]),
        Some("32.7.2.0.192.rpz-ip".into())
    );
    assert_eq!(
        check(&["192.0.2.7", "192.0.2.5"]),
        Some("32.5.2.0.192.rpz-ip".into())
    );
    assert_eq!(check(&["192.0.9.9"]), Some("16.0.0.0.192.rpz-ip".into()));
}

#[test]
fn passthru_stops_evaluation() {
    let set = set(
        vec![
            rpz("allow", "good.example CNAME rpz-passthru.\n"),
            rpz("block", "*.example CNAME .\ngood.example CNAME .\n"),
        ],
        &["allow", "block"],
    );
    let profile = set.profile_id("default").unwrap();
    let verdict = set.check_query(profile, name("good.example").as_wire(), None, UnixTime(0));
    assert!(verdict.passes());
    assert_eq!(verdict.ede(), None);
    assert_eq!(
        synthesize(&verdict, &name("good.example"), RType::A),
        Synthesis::Resolve
    );
    assert_eq!(
        query(&set, "other.example", None),
        hit("block", TriggerKind::Qname, "*.example")
    );
}

#[test]
fn cname_chain_names_are_checked_after_resolution() {
    let set = set(vec![rpz("one", "target.example CNAME .\n")], &["one"]);
    let chain = vec![name("middle.example."), name("target.example.")];
    let facts = ResponseFacts {
        cname_chain: &chain,
        ..ResponseFacts::default()
    };
    let profile = set.profile_id("default").unwrap();
    let verdict = set.check_response(
        profile,
        name("alias.example").as_wire(),
        None,
        &facts,
        UnixTime(0),
    );
    let Verdict::Match(hit) = verdict else {
        panic!("hit expected");
    };
    assert_eq!(hit.chain_position, 2);
}

fn lists() -> Vec<Feed> {
    vec![
        Feed::from_domains("ads", "ads.example\n").0,
        Feed::from_domains("social", "social.example\n").0,
        rpz("malware", "evil.example CNAME .\n"),
    ]
}

#[test]
fn block_answers_and_their_ede() {
    let answer_for = |block_answer: BlockAnswer, qtype: RType| {
        let mut profile = ProfileSpec::new("default", &["ads"]);
        profile.block_answer = block_answer;
        let set = PolicySet::build(vec![profile], vec![], lists()).unwrap();
        let verdict = set.check_query(
            set.profile_id("default").unwrap(),
            name("x.ads.example").as_wire(),
            None,
            UnixTime(0),
        );
        let ede = verdict.ede();
        (synthesize(&verdict, &name("x.ads.example"), qtype), ede)
    };
    let (synthesis, ede) = answer_for(BlockAnswer::NullAddress, RType::AAAA);
    let Synthesis::Answer { rcode, answers, .. } = synthesis else {
        panic!()
    };
    assert_eq!(
        (rcode, answers[0].data.to_vec(), ede),
        (Rcode::NOERROR, vec![0; 16], Some(EdeCode::Blocked))
    );
    let page: IpAddr = "192.0.2.80".parse().unwrap();
    let (synthesis, _) = answer_for(
        BlockAnswer::Addresses(vec![page, "2001:db8::80".parse().unwrap()]),
        RType::A,
    );
    let Synthesis::Answer { answers, .. } = synthesis else {
        panic!()
    };
    assert_eq!(answers.len(), 1);
    assert_eq!(&*answers[0].data, &[192, 0, 2, 80]);
    let (synthesis, ede) = answer_for(BlockAnswer::Refused, RType::A);
    assert!(matches!(
        synthesis,
        Synthesis::Answer {
            rcode: Rcode::REFUSED,
            ..
        }
    ));
    assert_eq!(ede, Some(EdeCode::Prohibited));
    let (synthesis, _) = answer_for(BlockAnswer::Nxdomain, RType::A);
    assert!(matches!(
        synthesis,
        Synthesis::Answer {
            rcode: Rcode::NXDOMAIN,
            ..
        }
    ));
}

#[test]
fn rpz_nxdomain_carries_the_zone_soa_and_extra_text() {
    let set = PolicySet::build(
        vec![ProfileSpec::new("default", &["malware"])],
        vec![],
        lists(),
    )
    .unwrap();
    let verdict = set.check_query(
        set.profile_id("default").unwrap(),
        name("evil.example").as_wire(),
        None,
        UnixTime(0),
    );
    let Synthesis::Answer {
        rcode,
        authority,
        ede,
        ..
    } = synthesize(&verdict, &name("evil.example"), RType::A)
    else {
        panic!()
    };
    assert_eq!(rcode, Rcode::NXDOMAIN);
    assert_eq!(authority[0].rtype, RType::SOA);
    assert_eq!(authority[0].ttl, 60);
    let (code, text) = ede.unwrap();
    assert_eq!(code.info_code(), 15);
    assert_eq!(text, "policy malware serial 42: QNAME evil.example");
}

#[test]
fn feed_overrides_enable_and_log_switches() {
    let mut profile = ProfileSpec::new("default", &["malware", "ads"]);
    profile.feeds[0].policy_override = Some(PolicyOverride::Cname(name("garden.example.")));
    profile.feeds[0].log = false;
    profile.feeds[0].ede = EdeCode::Censored;
    profile.feeds[1].enabled = false;
    let set = PolicySet::build(vec![profile], vec![], lists()).unwrap();
    let id = set.profile_id("default").unwrap();
    let Verdict::Match(hit) =
        set.check_query(id, name("evil.example").as_wire(), None, UnixTime(0))
    else {
        panic!()
    };
    assert_eq!(hit.action, Action::Cname(&name("garden.example.")));
    assert!(!hit.log);
    assert_eq!(hit.ede, Some(EdeCode::Censored));
    assert!(
        set.check_query(id, name("ads.example").as_wire(), None, UnixTime(0))
            .passes()
    );
}

#[test]
fn allowlist_and_safe_search() {
    let mut profile = ProfileSpec::new("default", &["ads"]);
    profile.allowlist = vec![name("ok.ads.example.")];
    profile.safe_search = SafeSearch::ALL;
    let set = PolicySet::build(vec![profile], vec![], lists()).unwrap();
    let id = set.profile_id("default").unwrap();
    assert!(matches!(
        set.check_query(id, name("www.ok.ads.example").as_wire(), None, UnixTime(0)),
        Verdict::Allowed(_)
    ));
    assert!(
        !set.check_query(id, name("ads.example").as_wire(), None, UnixTime(0))
            .passes()
    );
    for (host, target) in [
        ("www.google.com", "forcesafesearch.google.com."),
        ("www.google.co.uk", "forcesafesearch.google.com."),
        ("www.bing.com", "strict.bing.com."),
        ("duckduckgo.com", "safe.duckduckgo.com."),
        ("m.youtube.com", "restrict.youtube.com."),
    ] {
        let verdict = set.check_query(id, name(host).as_wire(), None, UnixTime(0));
        let Synthesis::Answer {
            answers,
            follow,
            ede,
            ..
        } = synthesize(&verdict, &name(host), RType::A)
        else {
            panic!("{host}")
        };
        assert_eq!(answers[0].rtype, RType::CNAME, "{host}");
        assert_eq!(follow, Some(name(target)), "{host}");
        assert_eq!(ede.map(|(code, _)| code), Some(EdeCode::ForgedAnswer));
    }
    assert!(
        set.check_query(
            id,
            name("forcesafesearch.google.com").as_wire(),
            None,
            UnixTime(0)
        )
        .passes()
    );
}

#[test]
fn clients_map_to_profiles_longest_prefix_first() {
    let profiles = vec![
        ProfileSpec::new("default", &["malware"]),
        ProfileSpec::new("kids", &["malware", "social"]),
        ProfileSpec::new("office", &["ads"]),
    ];
    let clients = vec![
        ClientRule {
            selector: ClientSelector::Network("10.1.0.0/16".parse().unwrap()),
            profile: "kids".into(),
        },
        ClientRule {
            selector: ClientSelector::Network("10.1.2.0/24".parse().unwrap()),
            profile: "office".into(),
        },
        ClientRule {
            selector: ClientSelector::DohPath("/dns-query/abc".into()),
            profile: "kids".into(),
        },
        ClientRule {
            selector: ClientSelector::ServerName("office.dns.example".into()),
            profile: "office".into(),
        },
    ];
    let set = PolicySet::build(profiles, clients, lists()).unwrap();
    let profile_for =
        |client: ClientInfo<'_>| set.profile_name(set.select_profile(&client).0).to_owned();
    let address = |text: &str| Some(text.parse::<IpAddr>().unwrap());
    assert_eq!(
        profile_for(ClientInfo {
            address: address("10.1.9.9"),
            ..ClientInfo::default()
        }),
        "kids"
    );
    assert_eq!(
        profile_for(ClientInfo {
            address: address("10.1.2.3"),
            ..ClientInfo::default()
        }),
        "office"
    );
    assert_eq!(
        profile_for(ClientInfo {
            address: address("192.0.2.1"),
            ..ClientInfo::default()
        }),
        "default"
    );
    assert_eq!(
        profile_for(ClientInfo {
            address: address("10.1.2.3"),
            doh_path: Some("/dns-query/abc"),
            server_name: None
        }),
        "kids"
    );
    assert_eq!(
        profile_for(ClientInfo {
            address: None,
            doh_path: None,
            server_name: Some("Office.DNS.example.")
        }),
        "office"
    );
    assert!(
        PolicySet::build(
            vec![ProfileSpec::new("default", &["nope"])],
            vec![],
            lists()
        )
        .is_err()
    );
}

#[test]
fn time_windows_in_the_profile_zone() {
    let mut kids = ProfileSpec::new("default", &["social"]);
    kids.time_zone = "Europe/Berlin".into();
    kids.feeds[0].schedule =
        vec![TimeWindow::parse(Weekdays::parse("sun-thu").unwrap(), "21:00-07:00").unwrap()];
    let set = PolicySet::build(vec![kids], vec![], lists()).unwrap();
    let id = set.profile_id("default").unwrap();
    let blocked_at = |utc: &str| {
        let seconds = utc.parse::<jiff::Timestamp>().unwrap().as_second();
        !set.check_query(
            id,
            name("social.example").as_wire(),
            None,
            UnixTime(seconds),
        )
        .passes()
    };
    // Monday 2025-01-06 (CET, +01:00): 21:30 local is 20:30Z.
    assert!(blocked_at("2025-01-06T20:30:00Z"));
    assert!(!blocked_at("2025-01-06T19:30:00Z"));
    // Across midnight, into Tuesday morning.
    assert!(blocked_at("2025-01-07T05:30:00Z"));
    assert!(!blocked_at("2025-01-07T06:30:00Z"));
    // Friday night is free.
    assert!(!blocked_at("2025-01-10T21:30:00Z"));
    // DST: Sunday 2025-03-30 becomes +02:00 at 01:00Z; Monday 06:30 local is 04:30Z.
    assert!(blocked_at("2025-03-31T04:30:00Z"));
    assert!(!blocked_at("2025-03-31T05:30:00Z"));
}

#[test]
fn explanation_names_profile_rule_and_feed() {
    let mut kids = ProfileSpec::new("kids", &["malware", "social"]);
    kids.feeds[1].schedule = vec![TimeWindow::parse(Weekdays::ALL, "21:00-07:00").unwrap()];
    let profiles = vec![ProfileSpec::new("default", &["malware"]), kids];
    let clients = vec![ClientRule {
        selector: ClientSelector::Network("10.1.0.0/16".parse().unwrap()),
        profile: "kids".into(),
    }];
    let set = PolicySet::build(profiles, clients, lists()).unwrap();
    let client = ClientInfo {
        address: Some("10.1.0.7".parse().unwrap()),
        ..ClientInfo::default()
    };
    let explanation = set.explain(
        &name("evil.example."),
        RType::A,
        &client,
        UnixTime(1_736_200_000),
    );
    assert_eq!(explanation.profile, "kids");
    let text = explanation.to_string();
    assert!(
        text.contains("client rule 1: network 10.1.0.0/16"),
        "{text}"
    );
    assert!(text.contains("QNAME evil.example"), "{text}");
    assert!(text.contains("malware serial 42"), "{text}");
    assert!(text.contains("15 (Blocked)"), "{text}");
    assert!(text.contains("NXDOMAIN"), "{text}");
    let explanation = set.explain(
        &name("social.example."),
        RType::A,
        &client,
        UnixTime(1_736_164_800),
    );
    assert!(
        matches!(explanation.decision, hanse_policy::Decision::Pass),
        "{explanation}"
    );
    assert!(
        explanation.to_string().contains("outside its schedule"),
        "{explanation}"
    );
    let _ = FeedUse::new("x");
}

/// The hit of a response check: (feed, trigger kind, trigger, chain position).
fn response_hit(
    set: &PolicySet,
    qname: &str,
    facts: &ResponseFacts<'_>,
) -> Option<(String, TriggerKind, String, usize)> {
    let profile = set.profile_id("default").unwrap();
    match set.check_response(profile, name(qname).as_wire(), None, facts, UnixTime(0)) {
        Verdict::Match(hit) => Some((
            hit.feed.name().to_owned(),
            hit.rule.kind,
            hit.rule.trigger_text(),
            hit.chain_position,
        )),
        _ => None,
    }
}

// Found by bench/rpz-compare (BIND 9.18 as the reference): BIND walks a
// CNAME chain hop by hop, so a later zone's QNAME hit on an earlier name of
// the chain decides before an earlier zone's hit on a later name.
#[test]
fn issue_3_cname_chain_is_checked_hop_by_hop() {
    let two_zones = set(
        vec![
            rpz("one", "www.example A 192.0.2.27\n"),
            rpz("two", "cn1.example CNAME .\n"),
        ],
        &["one", "two"],
    );
    let chain = vec![name("cn1.example."), name("www.example.")];
    let facts = ResponseFacts {
        cname_chain: &chain,
        ..ResponseFacts::default()
    };
    assert_eq!(
        response_hit(&two_zones, "cn2.example", &facts),
        Some(("two".into(), TriggerKind::Qname, "cn1.example".into(), 1))
    );
    // Without the earlier name's rule, the later name's rule applies.
    let only_one = set(vec![rpz("one", "www.example A 192.0.2.27\n")], &["one"]);
    assert_eq!(
        response_hit(&only_one, "cn2.example", &facts),
        Some(("one".into(), TriggerKind::Qname, "www.example".into(), 2))
    );
}

// Found by bench/rpz-compare: a RESPONSE-IP or NSDNAME hit at the end of a
// CNAME chain replaces the last name's answer; BIND keeps the CNAMEs that
// lead there, so the hit must name the last position, not the query name.
#[test]
fn issue_3_response_triggers_replace_the_end_of_the_chain() {
    let set = set(
        vec![rpz(
            "one",
            "32.1.2.0.192.rpz-ip CNAME .\nns.evil.rpz-nsdname CNAME .\n",
        )],
        &["one"],
    );
    let chain = vec![name("cn1.example."), name("www.example.")];
    let addresses: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
    let facts = ResponseFacts {
        cname_chain: &chain,
        addresses: &addresses,
        ..ResponseFacts::default()
    };
    assert_eq!(
        response_hit(&set, "cn2.example", &facts),
        Some((
            "one".into(),
            TriggerKind::ResponseIp,
            "32.1.2.0.192.rpz-ip".into(),
            2
        ))
    );
    let servers = vec![name("ns.evil.")];
    let facts = ResponseFacts {
        cname_chain: &chain[..1],
        nameserver_names: &servers,
        ..ResponseFacts::default()
    };
    assert_eq!(
        response_hit(&set, "cn2.example", &facts),
        Some((
            "one".into(),
            TriggerKind::Nsdname,
            "ns.evil.rpz-nsdname".into(),
            1
        ))
    );
}
