//! Resident memory of the caches alone: fills an RRset cache and an answer
//! cache with N distinct A RRsets and answers, shaped like the ones a
//! resolution stores, and prints the growth of the process's resident set
//! per entry. No network, no resolver: this isolates the caches' own cost.
//!
//! Run: `cargo run --release -p hanse-cache --example cache_memory -- [N]`

use hanse_cache::{AnswerCache, CacheConfig, RrsetCache, StoredAnswer, Trust};
use hanse_wire::{
    CacheKey, Class, Header, KeyFlags, MessageBuilder, Name, Question, RType, Record,
};

fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    let rrsets = RrsetCache::new(CacheConfig {
        max_bytes: 8 << 30,
        ..CacheConfig::default()
    });
    let answers = AnswerCache::new(8 << 30);
    let before = resident_bytes();
    for index in 0..count {
        let name =
            Name::from_ascii(&format!("h{index:07}.z{:03}.bench.", index % 100)).expect("a name");
        let record = Record {
            name: name.clone(),
            rtype: RType::A,
            class: Class::IN,
            ttl: 86_400,
            data: (index as u32).to_be_bytes().into(),
        };
        rrsets.insert(std::slice::from_ref(&record), Trust::AnswerAuthoritative, 1);
        let question = Question {
            name: name.clone(),
            rtype: RType::A,
            class: Class::IN,
        };
        let mut builder = MessageBuilder::new(
            Header {
                response: true,
                ..Header::default()
            },
            65_535,
        );
        builder.push_question(&question).expect("fits");
        builder.push_answer(&record).expect("fits");
        let offsets = builder.ttl_offsets().to_vec();
        let wire = builder.finish();
        let key = CacheKey::new(
            name.as_wire(),
            RType::A,
            Class::IN,
            KeyFlags::new(false, false, false, true),
        )
        .expect("a key");
        answers.insert(key.as_bytes(), StoredAnswer::new(wire, offsets, 1, 86_401));
    }
    let after = resident_bytes();
    let grown = after.saturating_sub(before);
    println!(
        "{count} RRsets + {count} answers: resident +{} MiB, {} bytes per RRset+answer; \
         estimated weights: RRset cache {} bytes/entry, answer cache {} bytes/entry",
        grown >> 20,
        grown / count.max(1),
        rrsets.weight() / count.max(1) as u64,
        answers.weight() / count.max(1) as u64,
    );
}
