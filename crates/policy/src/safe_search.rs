//! Safe-search enforcement: queries for the big search engines' hosts are
//! answered with a CNAME to the host each engine documents for networks that
//! enforce its safe mode. The host names and their sources are listed in
//! `docs/policy.md`.
//!
//! # Limitations
//! - Google's country domains are the common ones, not the whole list that
//!   <https://www.google.com/supported_domains> publishes.
//! - DuckDuckGo enforces through `safe.duckduckgo.com` for its web search
//!   only; the apps use their own settings.

use crate::name_table::{NameTable, NameTableBuilder};
use hanse_wire::Name;
use std::fmt;

/// Which engines to enforce safe search for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SafeSearch {
    /// Google web search.
    pub google: bool,
    /// Microsoft Bing.
    pub bing: bool,
    /// DuckDuckGo.
    pub duckduckgo: bool,
    /// YouTube Restricted Mode.
    pub youtube: Option<YoutubeRestriction>,
}

impl SafeSearch {
    /// Every engine, YouTube strict.
    pub const ALL: SafeSearch = SafeSearch {
        google: true,
        bing: true,
        duckduckgo: true,
        youtube: Some(YoutubeRestriction::Strict),
    };
}

/// YouTube's two Restricted Mode levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YoutubeRestriction {
    /// `restrict.youtube.com`.
    Strict,
    /// `restrictmoderate.youtube.com`.
    Moderate,
}

/// A search engine whose safe mode can be enforced through DNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchEngine {
    /// Google.
    Google,
    /// Bing.
    Bing,
    /// DuckDuckGo.
    DuckDuckGo,
    /// YouTube.
    Youtube,
}

impl fmt::Display for SearchEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SearchEngine::Google => "Google",
            SearchEngine::Bing => "Bing",
            SearchEngine::DuckDuckGo => "DuckDuckGo",
            SearchEngine::Youtube => "YouTube",
        })
    }
}

/// Google's safe-search host (Google Search Help, "Lock SafeSearch for
/// devices & networks you manage").
pub const GOOGLE_SAFE_HOST: &str = "forcesafesearch.google.com";
/// Bing's (Microsoft Support, "Block adult content with SafeSearch").
pub const BING_SAFE_HOST: &str = "strict.bing.com";
/// DuckDuckGo's (DuckDuckGo Help Pages, "Safe Search").
pub const DUCKDUCKGO_SAFE_HOST: &str = "safe.duckduckgo.com";
/// YouTube strict Restricted Mode (Google Workspace Admin Help, "Restrict
/// YouTube content on your network or managed devices").
pub const YOUTUBE_STRICT_HOST: &str = "restrict.youtube.com";
/// YouTube moderate Restricted Mode (same source).
pub const YOUTUBE_MODERATE_HOST: &str = "restrictmoderate.youtube.com";

/// The suffixes after `google.` that are rewritten (with and without `www.`).
const GOOGLE_SUFFIXES: &[&str] = &[
    "com", "ad", "ae", "com.af", "com.ag", "al", "am", "co.ao", "com.ar", "as", "at", "com.au",
    "az", "ba", "com.bd", "be", "bf", "bg", "com.bh", "bi", "bj", "com.bn", "com.bo", "com.br",
    "bs", "bt", "co.bw", "by", "com.bz", "ca", "cd", "cf", "cg", "ch", "ci", "co.ck", "cl", "cm",
    "cn", "com.co", "co.cr", "com.cu", "cv", "com.cy", "cz", "de", "dj", "dk", "dm", "com.do",
    "dz", "com.ec", "ee", "com.eg", "es", "com.et", "fi", "com.fj", "fm", "fr", "ga", "ge", "gg",
    "com.gh", "com.gi", "gl", "gm", "gr", "com.gt", "gy", "com.hk", "hn", "hr", "ht", "hu",
    "co.id", "ie", "co.il", "im", "co.in", "iq", "is", "it", "je", "com.jm", "jo", "co.jp",
    "co.ke", "com.kh", "ki", "kg", "co.kr", "com.kw", "kz", "la", "com.lb", "li", "lk", "co.ls",
    "lt", "lu", "lv", "com.ly", "co.ma", "md", "me", "mg", "mk", "ml", "com.mm", "mn", "com.mt",
    "mu", "mv", "mw", "com.mx", "com.my", "co.mz", "com.na", "com.ng", "com.ni", "ne", "nl", "no",
    "com.np", "nr", "nu", "co.nz", "com.om", "com.pa", "com.pe", "com.pg", "com.ph", "com.pk",
    "pl", "pn", "com.pr", "ps", "pt", "com.py", "com.qa", "ro", "rs", "ru", "rw", "com.sa",
    "com.sb", "sc", "se", "com.sg", "sh", "si", "sk", "com.sl", "sn", "so", "sm", "sr", "st",
    "com.sv", "td", "tg", "co.th", "com.tj", "tl", "tm", "tn", "to", "com.tr", "tt", "com.tw",
    "co.tz", "com.ua", "co.ug", "co.uk", "com.uy", "co.uz", "com.vc", "co.ve", "co.vi", "com.vn",
    "vu", "ws", "co.za", "co.zm", "co.zw", "cat",
];

const BING_HOSTS: &[&str] = &["bing.com", "www.bing.com"];
const DUCKDUCKGO_HOSTS: &[&str] = &[
    "duckduckgo.com",
    "www.duckduckgo.com",
    "start.duckduckgo.com",
];
const YOUTUBE_HOSTS: &[&str] = &[
    "www.youtube.com",
    "m.youtube.com",
    "youtubei.googleapis.com",
    "youtube.googleapis.com",
    "www.youtube-nocookie.com",
];

/// The host names rewritten for `engine`, and the target.
pub fn safe_search_hosts(
    engine: SearchEngine,
    youtube: YoutubeRestriction,
) -> (Vec<String>, &'static str) {
    match engine {
        SearchEngine::Google => (
            GOOGLE_SUFFIXES
                .iter()
                .flat_map(|suffix| [format!("google.{suffix}"), format!("www.google.{suffix}")])
                .collect(),
            GOOGLE_SAFE_HOST,
        ),
        SearchEngine::Bing => (
            BING_HOSTS.iter().map(|host| (*host).to_owned()).collect(),
            BING_SAFE_HOST,
        ),
        SearchEngine::DuckDuckGo => (
            DUCKDUCKGO_HOSTS
                .iter()
                .map(|host| (*host).to_owned())
                .collect(),
            DUCKDUCKGO_SAFE_HOST,
        ),
        SearchEngine::Youtube => (
            YOUTUBE_HOSTS
                .iter()
                .map(|host| (*host).to_owned())
                .collect(),
            match youtube {
                YoutubeRestriction::Strict => YOUTUBE_STRICT_HOST,
                YoutubeRestriction::Moderate => YOUTUBE_MODERATE_HOST,
            },
        ),
    }
}

/// The exact-name table of a profile's safe-search rewrites, with the
/// (engine, target) each value points at.
pub(crate) fn safe_search_table(settings: &SafeSearch) -> (NameTable, Vec<(SearchEngine, Name)>) {
    let mut engines = Vec::new();
    if settings.google {
        engines.push(SearchEngine::Google);
    }
    if settings.bing {
        engines.push(SearchEngine::Bing);
    }
    if settings.duckduckgo {
        engines.push(SearchEngine::DuckDuckGo);
    }
    if settings.youtube.is_some() {
        engines.push(SearchEngine::Youtube);
    }
    let youtube = settings.youtube.unwrap_or(YoutubeRestriction::Strict);
    let mut table = NameTableBuilder::with_capacity(0, 0);
    let mut targets = Vec::new();
    for engine in engines {
        let (hosts, target) = safe_search_hosts(engine, youtube);
        let Ok(target) = Name::from_ascii(target) else {
            continue;
        };
        let value = targets.len() as u32;
        targets.push((engine, target));
        for host in hosts {
            if let Ok(name) = Name::from_ascii(&host) {
                let _ = table.insert(name.as_wire(), value, false);
            }
        }
    }
    (table.finish(), targets)
}
