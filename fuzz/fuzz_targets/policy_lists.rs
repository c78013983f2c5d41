//! Fuzzes the policy feed formats (docs/policy.md): hosts files, domain
//! lists, adblock lists and response policy zones (draft-ietf-dnsop-dns-rpz,
//! read with `hanse_zone::parse_zone` and compiled with `Feed::from_rpz`).
//! The first byte picks the format, the rest is the text. No input may
//! panic; every problem carries a 1-based line; a compiled feed's own
//! records, compiled again as a zone, give the same rule counts; and a name
//! looked up in the feed never panics.

#![no_main]

use hanse_policy::{Feed, PreparedName};
use hanse_wire::Name;
use hanse_zone::parse_zone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let origin = Name::from_ascii("rpz.test.").expect("a valid origin");
    let (feed, problems) = match selector % 4 {
        0 => Feed::from_hosts("fuzz", text),
        1 => Feed::from_domains("fuzz", text),
        2 => Feed::from_adblock("fuzz", text),
        _ => match parse_zone(text, &origin, 3600) {
            Ok(records) => Feed::from_rpz("fuzz", &origin, &records),
            Err(error) => {
                assert!(error.line >= 1 && error.column >= 1, "{error}");
                return;
            }
        },
    };
    for problem in &problems {
        let _ = problem.to_string();
    }
    let counts = feed.counts();
    // Every rule the feed holds is visible to the lookups.
    for rule in feed.rules().take(64) {
        let _ = rule.trigger_text();
    }
    for probe in ["example.com.", "ads.example.com.", "a.b.c.d.e.f.", "."] {
        let name = Name::from_ascii(probe).expect("a valid probe");
        if let Some(prepared) = PreparedName::new(name.as_wire()) {
            let _ = feed.match_qname(&prepared);
            let _ = feed.match_nsdname(&prepared);
        }
    }
    // The records a feed exposes (the API and the saved copies use them)
    // compile back to a feed with the same counts.
    let records = feed.records();
    if let Some(soa_origin) = feed.origin().cloned() {
        let (again, _) = Feed::from_rpz("again", &soa_origin, &records);
        assert_eq!(again.counts().total(), counts.total(), "{records:?}");
    }
    let _ = feed.compacted();
});
