//! Resolver test scenarios in the `.rpl` replay format, and a simulated
//! transport that answers a resolver's upstream queries from them.
//!
//! The format comes from Unbound's testbound and is the one CZ.NIC's Deckard
//! uses (described in Deckard's `doc/scenario_guide.rst` and Unbound's
//! `testcode/replay.h`). A file has three parts:
//!
//! - a configuration block up to `CONFIG_END`: `key: value` lines such as
//!   `stub-addr`, `query-minimization`, `trust-anchor`, `val-override-date`
//!   ([`ScenarioConfig`]); Unbound-style `stub-zone:`/`forward-zone:` blocks
//!   with `name:` and `stub-addr:`/`forward-addr:` are read too, a
//!   `stub-addr` outside any block gives the root's servers;
//! - between `SCENARIO_BEGIN` and `SCENARIO_END`, `RANGE_BEGIN first last`
//!   blocks ([`Range`]): the servers at the `ADDRESS` lines answer queries
//!   sent while the current step is within `first..=last`, each from the first
//!   [`Entry`] whose `MATCH` criteria hold;
//! - `STEP id ACTION` lines ([`Step`]): `QUERY` (a client query), `CHECK_ANSWER`
//!   (the answer to the last query must match the entry), `TIME_PASSES ELAPSE
//!   seconds`, `REPLY` (a one-shot answer for the next matching upstream
//!   query), `CHECK_OUT_QUERY` (an upstream query that must have been sent).
//!
//! An entry (`ENTRY_BEGIN` … `ENTRY_END`) is a DNS message with metadata:
//! `MATCH` criteria ([`MatchCriterion`]), `ADJUST` actions ([`Adjustment`]),
//! `REPLY` flags, opcode and response code ([`ReplyFlags`]), `SECTION
//! QUESTION|ANSWER|AUTHORITY|ADDITIONAL` with records in master-file
//! presentation format (RFC 1035 §5, read by [`hanse_zone::parse_zone`],
//! `$ORIGIN` and `$TTL` included; names are relative to the root unless an
//! `$ORIGIN` says otherwise), or a `RAW` hexadecimal packet.
//!
//! Matching follows Deckard's rules: without a `MATCH` line an entry matches
//! on `opcode qtype qname`; without an `ADJUST` line it copies the query ID;
//! `copy_id` also copies the query name into the first question, so that the
//! case of the name survives; sections compare as multisets of records, owner
//! names and names inside record data without regard to case, TTLs only under
//! `MATCH ttl`; `all` is `opcode`, `flags`, `rcode` and every section the entry
//! defines, even empty. A `MANDATORY` entry must answer at least once
//! ([`ReplayTransport::unused_mandatory_entries`]).
//!
//! [`ReplayTransport`] implements [`hanse_resolve::Transport`] without sockets:
//! a query to an address that no eligible range or `REPLY` step answers times
//! out at once, and is recorded ([`UpstreamExchange`]). A reply that a real
//! network transport would discard (wrong ID or question, see RFC 5452) is
//! discarded too and also recorded.
//!
//! Every parse error carries the 1-based line number in the file.
//!
//! # Limitations
//! - EDNS data in entries (`HEX_EDNSDATA_BEGIN`), `MATCH` elements for EDNS
//!   options, cookies, `serial=` and `ADJUST sleep=`/`packet_sleep=` are kept
//!   as unsupported items and reported, not acted upon.
//! - `REPLY` steps answer in script order within the steps that follow the
//!   current `QUERY`, not in the pending-query model of testbound.
//! - Replies are never truncated to the requester's EDNS size; a UDP reply is
//!   cut to 4096 octets, what the resolver's network transport reads.
//! - The configuration is parsed, not applied: applying it is the runner's job,
//!   and options the resolver does not have are listed in
//!   [`ScenarioConfig::unknown`].

use hanse_resolve::{Protocol, Transport, TransportError, UpstreamQuery};
use hanse_wire::{
    Class, Edns, Header, Message, MessageBuilder, Name, Question, RType, Rcode, Record,
};
use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

/// The TTL of a record that gives none, as in testbound (ldns) and Deckard.
pub const DEFAULT_RECORD_TTL: u32 = 3600;
/// The largest UDP reply delivered, as the resolver's network transport reads no more.
pub const MAX_UDP_REPLY: usize = 4096;
/// The EDNS UDP payload size announced in replies.
const REPLY_UDP_SIZE: u16 = 4096;

/// Why a scenario could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The line in the file, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn error(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// A whole scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The text after `SCENARIO_BEGIN`.
    pub title: String,
    /// The configuration block.
    pub config: ScenarioConfig,
    /// The simulated servers.
    pub ranges: Vec<Range>,
    /// The script, in file order.
    pub steps: Vec<Step>,
}

/// A zone with the servers given for it in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredZone {
    /// The zone's apex.
    pub name: Name,
    /// The servers; port 53 unless `address@port` says otherwise.
    pub servers: Vec<SocketAddr>,
    /// Where the zone was declared.
    pub line: usize,
}

/// One `key: value` line of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigOption {
    /// Where it is.
    pub line: usize,
    /// The key, without the colon.
    pub key: String,
    /// The value, without surrounding quotes.
    pub value: String,
}

/// The configuration block, with the options a resolver runner needs parsed.
#[derive(Debug, Clone, Default)]
pub struct ScenarioConfig {
    /// Stub zones; a `stub-addr` outside any `stub-zone:` block belongs to the root.
    pub stub_zones: Vec<ConfiguredZone>,
    /// Forward zones (`forward-zone:` blocks).
    pub forward_zones: Vec<ConfiguredZone>,
    /// The root server's name (`stub-name`), for root hints.
    pub root_server_name: Option<Name>,
    /// `query-minimization` / `qname-minimisation`, if given.
    pub qname_minimisation: Option<bool>,
    /// `trust-anchor` values as written (DS or DNSKEY records).
    pub trust_anchors: Vec<String>,
    /// The time to run at, in seconds since the Unix epoch, from
    /// `val-override-date` (`YYYYMMDDHHMMSS`, UTC) or `val-override-timestamp`.
    pub override_time: Option<u64>,
    /// `do-not-query-localhost`, if given.
    pub do_not_query_localhost: Option<bool>,
    /// `do-ip4`, if given.
    pub do_ip4: Option<bool>,
    /// `do-ip6`, if given.
    pub do_ip6: Option<bool>,
    /// `harden-*` options.
    pub hardening: Vec<ConfigOption>,
    /// Everything else, for the report.
    pub unknown: Vec<ConfigOption>,
}

impl ScenarioConfig {
    /// The stub zone for the root, which stands for the root hints.
    pub fn root_stub(&self) -> Option<&ConfiguredZone> {
        self.stub_zones.iter().find(|zone| zone.name.is_root())
    }
}

/// A set of simulated servers, valid for a span of steps.
#[derive(Debug, Clone)]
pub struct Range {
    /// The first step it answers at.
    pub first_step: u64,
    /// The last step it answers at.
    pub last_step: u64,
    /// The server addresses; empty means any address.
    pub addresses: Vec<IpAddr>,
    /// The answers, tried in order.
    pub entries: Vec<Entry>,
    /// Where `RANGE_BEGIN` is.
    pub line: usize,
}

impl Range {
    /// Whether this range answers a query to `address` at `step`.
    pub fn covers(&self, step: u64, address: IpAddr) -> bool {
        (self.first_step..=self.last_step).contains(&step)
            && (self.addresses.is_empty() || self.addresses.contains(&address))
    }
}

/// What a `MATCH` line asks to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchCriterion {
    /// The opcode.
    Opcode,
    /// The first question's type.
    QueryType,
    /// The first question's name, without regard to case.
    QueryName,
    /// The first question's name, case included.
    QueryNameCase,
    /// The received question's name is at or below the entry's.
    Subdomain,
    /// The header flags QR AA TC RD RA AD CD.
    Flags,
    /// The response code, EDNS extension included.
    Rcode,
    /// The whole question section.
    Question,
    /// The whole answer section.
    Answer,
    /// The whole authority section.
    Authority,
    /// The whole additional section (the OPT record aside).
    Additional,
    /// Opcode, flags, response code and every section the entry defines.
    All,
    /// TTLs count when sections are compared.
    Ttl,
    /// The message came over TCP.
    Tcp,
    /// The message came over UDP.
    Udp,
    /// The EDNS DO bit is set.
    DnssecOk,
    /// The message has no OPT record.
    NoEdns,
    /// Anything else, kept for the report and otherwise ignored.
    Unsupported(String),
}

impl MatchCriterion {
    fn parse(token: &str) -> MatchCriterion {
        match token {
            "opcode" => MatchCriterion::Opcode,
            "qtype" => MatchCriterion::QueryType,
            "qname" => MatchCriterion::QueryName,
            "qcase" => MatchCriterion::QueryNameCase,
            "subdomain" => MatchCriterion::Subdomain,
            "flags" => MatchCriterion::Flags,
            "rcode" => MatchCriterion::Rcode,
            "question" => MatchCriterion::Question,
            "answer" => MatchCriterion::Answer,
            "authority" => MatchCriterion::Authority,
            "additional" => MatchCriterion::Additional,
            "all" => MatchCriterion::All,
            "ttl" => MatchCriterion::Ttl,
            "TCP" | "tcp" => MatchCriterion::Tcp,
            "UDP" | "udp" => MatchCriterion::Udp,
            "DO" => MatchCriterion::DnssecOk,
            "noedns" => MatchCriterion::NoEdns,
            other => MatchCriterion::Unsupported(other.to_string()),
        }
    }
}

/// What an `ADJUST` line changes in a reply built from an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adjustment {
    /// Copy the query's ID, and its name into the first question.
    CopyId,
    /// Copy the query's whole question section.
    CopyQuery,
    /// Copy the query's ID into the first two octets of a `RAW` reply.
    RawId,
    /// Send nothing: the query times out.
    DoNotAnswer,
    /// Anything else, kept for the report and otherwise ignored.
    Unsupported(String),
}

impl Adjustment {
    fn parse(token: &str) -> Adjustment {
        match token {
            "copy_id" => Adjustment::CopyId,
            "copy_query" => Adjustment::CopyQuery,
            "raw_id" => Adjustment::RawId,
            "do_not_answer" => Adjustment::DoNotAnswer,
            other => Adjustment::Unsupported(other.to_string()),
        }
    }
}

/// The `REPLY` line: opcode, response code and flags of the entry's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyFlags {
    /// The opcode (QUERY unless given).
    pub opcode: u8,
    /// The response code (NOERROR unless given), possibly extended.
    pub rcode: Rcode,
    /// QR.
    pub response: bool,
    /// AA.
    pub authoritative: bool,
    /// TC.
    pub truncated: bool,
    /// RD.
    pub recursion_desired: bool,
    /// RA.
    pub recursion_available: bool,
    /// AD.
    pub authentic_data: bool,
    /// CD.
    pub checking_disabled: bool,
    /// The EDNS DO bit.
    pub dnssec_ok: bool,
}

impl Default for ReplyFlags {
    fn default() -> ReplyFlags {
        ReplyFlags {
            opcode: 0,
            rcode: Rcode::NOERROR,
            response: false,
            authoritative: false,
            truncated: false,
            recursion_desired: false,
            recursion_available: false,
            authentic_data: false,
            checking_disabled: false,
            dnssec_ok: false,
        }
    }
}

impl ReplyFlags {
    fn parse(tokens: &[&str], line: usize) -> Result<ReplyFlags, ParseError> {
        let mut flags = ReplyFlags::default();
        for &token in tokens {
            match token {
                "QR" => flags.response = true,
                "AA" => flags.authoritative = true,
                "TC" => flags.truncated = true,
                "RD" => flags.recursion_desired = true,
                "RA" => flags.recursion_available = true,
                "AD" => flags.authentic_data = true,
                "CD" => flags.checking_disabled = true,
                "DO" => flags.dnssec_ok = true,
                "QUERY" => flags.opcode = 0,
                "IQUERY" => flags.opcode = 1,
                "STATUS" => flags.opcode = 2,
                "NOTIFY" => flags.opcode = 4,
                "UPDATE" => flags.opcode = 5,
                other => {
                    flags.rcode = parse_rcode(other).ok_or_else(|| {
                        error(
                            line,
                            format!("unknown REPLY flag or response code '{other}'"),
                        )
                    })?;
                }
            }
        }
        Ok(flags)
    }

    /// The header flags of a message, in the order of the `REPLY` line.
    fn of_header(header: &Header) -> String {
        let mut names = Vec::new();
        for (set, name) in [
            (header.response, "QR"),
            (header.authoritative, "AA"),
            (header.truncated, "TC"),
            (header.recursion_desired, "RD"),
            (header.recursion_available, "RA"),
            (header.authentic_data, "AD"),
            (header.checking_disabled, "CD"),
        ] {
            if set {
                names.push(name);
            }
        }
        names.join(" ")
    }

    fn header_flags(&self) -> String {
        ReplyFlags::of_header(&Header {
            response: self.response,
            authoritative: self.authoritative,
            truncated: self.truncated,
            recursion_desired: self.recursion_desired,
            recursion_available: self.recursion_available,
            authentic_data: self.authentic_data,
            checking_disabled: self.checking_disabled,
            ..Header::default()
        })
    }
}

fn parse_rcode(text: &str) -> Option<Rcode> {
    let value = match text {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" | "NOTIMPL" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        "BADVERS" => 16,
        "BADCOOKIE" => 23,
        _ => return None,
    };
    Some(Rcode(value))
}

fn rcode_name(rcode: Rcode) -> String {
    match rcode.0 {
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        _ => rcode.to_string(),
    }
}

/// One `ENTRY_BEGIN` … `ENTRY_END` block.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Where `ENTRY_BEGIN` is.
    pub line: usize,
    /// The `MATCH` criteria; `None` without a `MATCH` line.
    pub criteria: Option<Vec<MatchCriterion>>,
    /// The `ADJUST` actions; `None` without an `ADJUST` line.
    pub adjustments: Option<Vec<Adjustment>>,
    /// The `REPLY` line.
    pub flags: ReplyFlags,
    /// `SECTION QUESTION`, if the entry has it.
    pub question: Option<Vec<Question>>,
    /// `SECTION ANSWER`, if the entry has it.
    pub answer: Option<Vec<Record>>,
    /// `SECTION AUTHORITY`, if the entry has it.
    pub authority: Option<Vec<Record>>,
    /// `SECTION ADDITIONAL`, if the entry has it.
    pub additional: Option<Vec<Record>>,
    /// A `RAW` (or `HEX_ANSWER`) packet.
    pub raw: Option<Vec<u8>>,
    /// `MANDATORY` (Deckard): the scenario fails unless the entry answers
    /// at least one query.
    pub mandatory: bool,
    /// Blocks the parser skipped, such as `HEX_EDNSDATA_BEGIN`.
    pub unsupported: Vec<String>,
}

impl Entry {
    /// The criteria in force: the `MATCH` line, or `opcode qtype qname`.
    pub fn effective_criteria(&self) -> Vec<MatchCriterion> {
        self.criteria.clone().unwrap_or_else(|| {
            vec![
                MatchCriterion::Opcode,
                MatchCriterion::QueryType,
                MatchCriterion::QueryName,
            ]
        })
    }

    /// Whether the entry asks for `adjustment`; `copy_id` is the default.
    pub fn adjusts(&self, adjustment: &Adjustment) -> bool {
        match &self.adjustments {
            Some(adjustments) => adjustments.contains(adjustment),
            None => *adjustment == Adjustment::CopyId,
        }
    }

    /// The first question of the entry, if any.
    pub fn first_question(&self) -> Option<&Question> {
        self.question
            .as_ref()
            .and_then(|questions| questions.first())
    }

    /// Unsupported `MATCH` and `ADJUST` items and skipped blocks.
    pub fn unsupported_items(&self) -> Vec<String> {
        let mut items = self.unsupported.clone();
        for criterion in self.criteria.iter().flatten() {
            if let MatchCriterion::Unsupported(text) = criterion {
                items.push(format!("MATCH {text}"));
            }
        }
        for adjustment in self.adjustments.iter().flatten() {
            if let Adjustment::Unsupported(text) = adjustment {
                items.push(format!("ADJUST {text}"));
            }
        }
        items
    }

    /// The entry as a message, for sending as a client query: flags,
    /// question and sections; EDNS (DO as the flags say) when `edns` is set.
    pub fn to_message(&self, edns: bool) -> Message {
        let header = Header {
            response: self.flags.response,
            opcode: self.flags.opcode,
            authoritative: self.flags.authoritative,
            truncated: self.flags.truncated,
            recursion_desired: self.flags.recursion_desired,
            recursion_available: self.flags.recursion_available,
            authentic_data: self.flags.authentic_data,
            checking_disabled: self.flags.checking_disabled,
            rcode: self.flags.rcode.header_bits(),
            ..Header::default()
        };
        Message {
            header,
            questions: self.question.clone().unwrap_or_default(),
            answers: self.answer.clone().unwrap_or_default(),
            authorities: self.authority.clone().unwrap_or_default(),
            additionals: self.additional.clone().unwrap_or_default(),
            edns: (edns || self.flags.dnssec_ok || self.flags.rcode.0 > 15).then(|| Edns {
                udp_size: REPLY_UDP_SIZE,
                extended_rcode: self.flags.rcode.extended_bits(),
                dnssec_ok: self.flags.dnssec_ok,
                ..Edns::default()
            }),
        }
    }

    /// Builds the reply to `query` from this entry as a template: `RAW`
    /// data as is (with `raw_id`), otherwise the entry's message with the
    /// `ADJUST` actions applied. EDNS is added when the query has it.
    pub fn compose_reply(&self, query: &Message) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            let mut reply = raw.clone();
            if self.adjusts(&Adjustment::RawId) && reply.len() >= 2 {
                reply[..2].copy_from_slice(&query.header.id.to_be_bytes());
            }
            return reply;
        }
        let mut message = self.to_message(query.edns.is_some());
        if self.adjusts(&Adjustment::CopyId) {
            message.header.id = query.header.id;
            if let (Some(first), Some(asked)) = (message.questions.first_mut(), query.question()) {
                first.name = asked.name.clone();
            }
        }
        if self.adjusts(&Adjustment::CopyQuery) {
            message.questions = query.questions.clone();
        }
        compose(&message)
    }
}

/// Writes a message out; records that do not fit in 65535 octets are left out.
pub fn compose(message: &Message) -> Vec<u8> {
    let mut builder = MessageBuilder::new(message.header, 65535);
    if let Some(edns) = &message.edns {
        builder.set_edns(edns.clone());
    }
    for question in &message.questions {
        let _ = builder.push_question(question);
    }
    for record in &message.answers {
        let _ = builder.push_answer(record);
    }
    for record in &message.authorities {
        let _ = builder.push_authority(record);
    }
    for record in &message.additionals {
        let _ = builder.push_additional(record);
    }
    builder.finish()
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepAction {
    /// Send the entry to the resolver as a client query.
    Query(Entry),
    /// The answer to the last query must match the entry.
    CheckAnswer(Entry),
    /// The clock moves this many seconds forward.
    TimePasses(u64),
    /// A one-shot reply for the next upstream query the entry matches.
    Reply(Entry),
    /// An upstream query matching the entry must have been sent.
    CheckOutQuery(Entry),
    /// A step type this parser does not know, with its text.
    Unsupported(String),
}

/// One `STEP` of the script.
#[derive(Debug, Clone)]
pub struct Step {
    /// The step number.
    pub id: u64,
    /// Where the step is.
    pub line: usize,
    /// What it does.
    pub action: StepAction,
}

impl Scenario {
    /// Items the scenario uses that the parser or the transport does not
    /// act upon: unknown configuration options, unsupported `MATCH` and
    /// `ADJUST` elements, unknown step types.
    pub fn unsupported_items(&self) -> Vec<String> {
        let mut items: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |item: String| {
            if seen.insert(item.clone()) {
                items.push(item);
            }
        };
        for option in &self.config.unknown {
            add(format!("config {}: {}", option.key, option.value));
        }
        for entry in self.ranges.iter().flat_map(|range| &range.entries) {
            entry.unsupported_items().into_iter().for_each(&mut add);
        }
        for step in &self.steps {
            match &step.action {
                StepAction::Query(entry)
                | StepAction::CheckAnswer(entry)
                | StepAction::Reply(entry)
                | StepAction::CheckOutQuery(entry) => {
                    entry.unsupported_items().into_iter().for_each(&mut add)
                }
                StepAction::Unsupported(text) => add(format!("STEP {text}")),
                StepAction::TimePasses(_) => {}
            }
        }
        items
    }
}

// ---------------------------------------------------------------------------
// Parsing.

/// Removes a comment that starts with one of `markers` outside double quotes.
fn strip_comment<'a>(line: &'a str, markers: &[char]) -> &'a str {
    let mut quoted = false;
    let mut escaped = false;
    for (index, character) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match character {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            c if !quoted && markers.contains(&c) => return &line[..index],
            _ => {}
        }
    }
    line
}

/// The change in parenthesis depth over a line of master-file text.
fn parenthesis_change(line: &str) -> i32 {
    let mut change = 0;
    let mut quoted = false;
    let mut escaped = false;
    for character in line.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match character {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => break,
            '(' if !quoted => change += 1,
            ')' if !quoted => change -= 1,
            _ => {}
        }
    }
    change
}

fn unquote(text: &str) -> &str {
    let text = text.trim();
    text.strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(text)
}

fn parse_bool(text: &str, line: usize) -> Result<bool, ParseError> {
    match unquote(text).to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "1" => Ok(true),
        "no" | "off" | "false" | "0" => Ok(false),
        other => Err(error(
            line,
            format!("expected yes/no or on/off, found '{other}'"),
        )),
    }
}

fn parse_name(text: &str, line: usize) -> Result<Name, ParseError> {
    Name::from_ascii(unquote(text))
        .map_err(|problem| error(line, format!("bad domain name '{text}': {problem:?}")))
}

fn parse_server(text: &str, line: usize) -> Result<SocketAddr, ParseError> {
    let text = unquote(text);
    let (address, port) = match text.split_once('@') {
        Some((address, port)) => {
            let port = port
                .parse::<u16>()
                .map_err(|_| error(line, format!("bad port in '{text}'")))?;
            (address, port)
        }
        None => (text, 53),
    };
    let address: IpAddr = address
        .parse()
        .map_err(|_| error(line, format!("bad IP address '{address}'")))?;
    Ok(SocketAddr::new(address, port))
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads `YYYYMMDDHHMMSS` (UTC) into seconds since the Unix epoch.
fn parse_date(text: &str, line: usize) -> Result<u64, ParseError> {
    let text = unquote(text);
    let bad = || {
        error(
            line,
            format!("expected a date YYYYMMDDHHMMSS, found '{text}'"),
        )
    };
    if text.len() != 14 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(bad());
    }
    let field = |range: std::ops::Range<usize>| text[range].parse::<i64>().map_err(|_| bad());
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(seconds).map_err(|_| bad())
}

fn parse_hex(text: &str, line: usize) -> Result<Vec<u8>, ParseError> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(error(line, "odd number of hexadecimal digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| error(line, "not a hexadecimal digit"))
        })
        .collect()
}

/// Which block of the configuration a line belongs to.
enum ConfigBlock {
    Top,
    Stub(usize),
    Forward(usize),
    Other,
}

fn parse_config(lines: &[(usize, &str)]) -> Result<ScenarioConfig, ParseError> {
    let mut config = ScenarioConfig::default();
    let mut block = ConfigBlock::Top;
    for &(line, text) in lines {
        let text = strip_comment(text, &[';', '#']).trim();
        if text.is_empty() {
            continue;
        }
        let Some((key, value)) = text.split_once(':') else {
            config.unknown.push(ConfigOption {
                line,
                key: text.to_string(),
                value: String::new(),
            });
            continue;
        };
        let key = key.trim();
        let value = unquote(value).to_string();
        let option = ConfigOption {
            line,
            key: key.to_string(),
            value: value.clone(),
        };
        match key {
            "server" => block = ConfigBlock::Top,
            "stub-zone" => {
                config.stub_zones.push(ConfiguredZone {
                    name: Name::root(),
                    servers: Vec::new(),
                    line,
                });
                block = ConfigBlock::Stub(config.stub_zones.len() - 1);
            }
            "forward-zone" => {
                config.forward_zones.push(ConfiguredZone {
                    name: Name::root(),
                    servers: Vec::new(),
                    line,
                });
                block = ConfigBlock::Forward(config.forward_zones.len() - 1);
            }
            "name" => {
                let name = parse_name(&value, line)?;
                match block {
                    ConfigBlock::Stub(index) => config.stub_zones[index].name = name,
                    ConfigBlock::Forward(index) => config.forward_zones[index].name = name,
                    ConfigBlock::Top | ConfigBlock::Other => config.unknown.push(option),
                }
            }
            "stub-addr" => {
                let server = parse_server(&value, line)?;
                let index = match block {
                    ConfigBlock::Stub(index) => index,
                    _ => match config
                        .stub_zones
                        .iter()
                        .position(|zone| zone.name.is_root())
                    {
                        Some(index) => index,
                        None => {
                            config.stub_zones.push(ConfiguredZone {
                                name: Name::root(),
                                servers: Vec::new(),
                                line,
                            });
                            config.stub_zones.len() - 1
                        }
                    },
                };
                config.stub_zones[index].servers.push(server);
            }
            "forward-addr" => {
                let server = parse_server(&value, line)?;
                match block {
                    ConfigBlock::Forward(index) => config.forward_zones[index].servers.push(server),
                    _ => return Err(error(line, "forward-addr outside a forward-zone block")),
                }
            }
            "stub-name" => config.root_server_name = Some(parse_name(&value, line)?),
            "query-minimization" | "qname-minimisation" | "qname-minimization" => {
                config.qname_minimisation = Some(parse_bool(&value, line)?)
            }
            "trust-anchor" => config.trust_anchors.push(value),
            "val-override-date" => {
                // Unbound also accepts a plain timestamp here.
                config.override_time = Some(if value.len() == 14 {
                    parse_date(&value, line)?
                } else {
                    value
                        .parse()
                        .map_err(|_| error(line, format!("bad date '{value}'")))?
                });
            }
            "val-override-timestamp" => {
                config.override_time = Some(
                    value
                        .parse()
                        .map_err(|_| error(line, format!("bad timestamp '{value}'")))?,
                );
            }
            "do-not-query-localhost" => {
                config.do_not_query_localhost = Some(parse_bool(&value, line)?)
            }
            "do-ip4" => config.do_ip4 = Some(parse_bool(&value, line)?),
            "do-ip6" => config.do_ip6 = Some(parse_bool(&value, line)?),
            _ if key.starts_with("harden-") => config.hardening.push(option),
            _ if value.is_empty() => {
                // Another block header (e.g. `remote-control:`).
                block = ConfigBlock::Other;
                config.unknown.push(option);
            }
            _ => config.unknown.push(option),
        }
    }
    Ok(config)
}

/// The lines of a file with their numbers, and a position in them.
struct Lines<'a> {
    lines: Vec<(usize, &'a str)>,
    position: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<(usize, &'a str)> {
        let line = self.lines.get(self.position).copied();
        self.position += 1;
        line
    }

    fn last_line(&self) -> usize {
        self.lines.last().map_or(1, |&(line, _)| line)
    }

    /// The next line that is not blank or a comment, without consuming it.
    fn peek_content(&mut self) -> Option<(usize, &'a str)> {
        while let Some(&(line, text)) = self.lines.get(self.position) {
            if strip_comment(text, &[';']).trim().is_empty() {
                self.position += 1;
                continue;
            }
            return Some((line, text));
        }
        None
    }
}

/// Parses a whole `.rpl` file.
pub fn parse_scenario(text: &str) -> Result<Scenario, ParseError> {
    let all: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .collect();
    let config_end = all
        .iter()
        .position(|(_, line)| strip_comment(line, &[';', '#']).trim() == "CONFIG_END")
        .ok_or_else(|| error(1, "no CONFIG_END line"))?;
    let config = parse_config(&all[..config_end])?;
    let mut lines = Lines {
        lines: all[config_end + 1..].to_vec(),
        position: 0,
    };
    let (begin_line, begin) = lines
        .peek_content()
        .ok_or_else(|| error(lines.last_line(), "no SCENARIO_BEGIN after CONFIG_END"))?;
    let title = strip_comment(begin, &[])
        .trim()
        .strip_prefix("SCENARIO_BEGIN")
        .ok_or_else(|| error(begin_line, "expected SCENARIO_BEGIN"))?
        .trim()
        .to_string();
    lines.next();
    let mut scenario = Scenario {
        title,
        config,
        ranges: Vec::new(),
        steps: Vec::new(),
    };
    loop {
        let Some((line, text)) = lines.peek_content() else {
            return Err(error(lines.last_line(), "no SCENARIO_END"));
        };
        lines.next();
        let text = strip_comment(text, &[';']);
        let tokens: Vec<&str> = text.split_whitespace().collect();
        match tokens[0] {
            "SCENARIO_END" => break,
            "RANGE_BEGIN" => scenario
                .ranges
                .push(parse_range(&tokens, line, &mut lines)?),
            "STEP" => scenario.steps.push(parse_step(&tokens, line, &mut lines)?),
            other => return Err(error(line, format!("unexpected '{other}' in the scenario"))),
        }
    }
    Ok(scenario)
}

fn parse_number(text: Option<&&str>, what: &str, line: usize) -> Result<u64, ParseError> {
    text.and_then(|text| text.parse().ok())
        .ok_or_else(|| error(line, format!("expected {what}")))
}

fn parse_range(tokens: &[&str], line: usize, lines: &mut Lines<'_>) -> Result<Range, ParseError> {
    let first_step = parse_number(tokens.get(1), "the first step of the range", line)?;
    let last_step = parse_number(tokens.get(2), "the last step of the range", line)?;
    let mut range = Range {
        first_step,
        last_step,
        addresses: Vec::new(),
        entries: Vec::new(),
        line,
    };
    for address in &tokens[3.min(tokens.len())..] {
        range.addresses.push(parse_server(address, line)?.ip());
    }
    loop {
        let Some((line, text)) = lines.peek_content() else {
            return Err(error(range.line, "RANGE_BEGIN without RANGE_END"));
        };
        lines.next();
        let tokens: Vec<&str> = strip_comment(text, &[';']).split_whitespace().collect();
        match tokens[0] {
            "RANGE_END" => return Ok(range),
            "ADDRESS" => {
                let address = tokens
                    .get(1)
                    .ok_or_else(|| error(line, "ADDRESS without an address"))?;
                range.addresses.push(parse_server(address, line)?.ip());
            }
            "ENTRY_BEGIN" => range.entries.push(parse_entry(line, lines)?),
            other => return Err(error(line, format!("unexpected '{other}' in a range"))),
        }
    }
}

fn parse_step(tokens: &[&str], line: usize, lines: &mut Lines<'_>) -> Result<Step, ParseError> {
    let id = parse_number(tokens.get(1), "a step number", line)?;
    let kind = *tokens
        .get(2)
        .ok_or_else(|| error(line, "STEP without a type"))?;
    let mut entry = || -> Result<Entry, ParseError> {
        match lines.peek_content() {
            Some((entry_line, text)) if text.trim_start().starts_with("ENTRY_BEGIN") => {
                lines.next();
                parse_entry(entry_line, lines)
            }
            _ => Err(error(line, format!("STEP {kind} needs an entry"))),
        }
    };
    let action = match kind {
        "QUERY" => StepAction::Query(entry()?),
        "CHECK_ANSWER" => StepAction::CheckAnswer(entry()?),
        "REPLY" => StepAction::Reply(entry()?),
        "CHECK_OUT_QUERY" => StepAction::CheckOutQuery(entry()?),
        "TIME_PASSES" => {
            if tokens.get(3) != Some(&"ELAPSE") {
                return Err(error(line, "expected TIME_PASSES ELAPSE seconds"));
            }
            StepAction::TimePasses(parse_number(tokens.get(4), "seconds", line)?)
        }
        other => {
            // Skip an entry that belongs to the unknown step.
            if lines
                .peek_content()
                .is_some_and(|(_, text)| text.trim_start().starts_with("ENTRY_BEGIN"))
            {
                let (entry_line, _) = lines.next().unwrap_or((line, ""));
                parse_entry(entry_line, lines)?;
            }
            StepAction::Unsupported(
                format!("{other} {}", tokens[3..].join(" "))
                    .trim()
                    .to_string(),
            )
        }
    };
    Ok(Step { id, line, action })
}

/// Which section record lines go to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Question,
    Answer,
    Authority,
    Additional,
}

/// Lines collected for one section, parsed when the section ends.
struct PendingSection<'a> {
    section: Section,
    lines: Vec<(usize, &'a str)>,
}

fn parse_entry(begin_line: usize, lines: &mut Lines<'_>) -> Result<Entry, ParseError> {
    let mut entry = Entry {
        line: begin_line,
        ..Entry::default()
    };
    let mut pending: Option<PendingSection<'_>> = None;
    loop {
        let Some((line, text)) = lines.next() else {
            return Err(error(begin_line, "ENTRY_BEGIN without ENTRY_END"));
        };
        let content = strip_comment(text, &[';']);
        let tokens: Vec<&str> = content.split_whitespace().collect();
        let keyword = tokens.first().copied().unwrap_or("");
        let in_parentheses = pending.as_ref().is_some_and(|pending| {
            pending
                .lines
                .iter()
                .map(|(_, text)| parenthesis_change(text))
                .sum::<i32>()
                > 0
        });
        if in_parentheses {
            if let Some(pending) = pending.as_mut() {
                pending.lines.push((line, text));
            }
            continue;
        }
        match keyword {
            "ENTRY_END" => {
                finish_section(&mut entry, pending.take())?;
                return Ok(entry);
            }
            "MATCH" => entry
                .criteria
                .get_or_insert_with(Vec::new)
                .extend(tokens[1..].iter().map(|token| MatchCriterion::parse(token))),
            "ADJUST" => entry
                .adjustments
                .get_or_insert_with(Vec::new)
                .extend(tokens[1..].iter().map(|token| Adjustment::parse(token))),
            "REPLY" => entry.flags = ReplyFlags::parse(&tokens[1..], line)?,
            "MANDATORY" => entry.mandatory = true,
            "SECTION" => {
                finish_section(&mut entry, pending.take())?;
                let section = match tokens.get(1).copied() {
                    Some("QUESTION") => Section::Question,
                    Some("ANSWER") => Section::Answer,
                    Some("AUTHORITY") => Section::Authority,
                    Some("ADDITIONAL") => Section::Additional,
                    other => {
                        return Err(error(
                            line,
                            format!("unknown section '{}'", other.unwrap_or("")),
                        ));
                    }
                };
                pending = Some(PendingSection {
                    section,
                    lines: Vec::new(),
                });
            }
            "RAW" => {
                finish_section(&mut entry, pending.take())?;
                let (hex_line, hex) = lines
                    .peek_content()
                    .ok_or_else(|| error(line, "RAW without data"))?;
                lines.next();
                entry.raw = Some(parse_hex(strip_comment(hex, &[';']), hex_line)?);
            }
            "HEX_ANSWER_BEGIN" | "HEX_EDNSDATA_BEGIN" => {
                finish_section(&mut entry, pending.take())?;
                let end = keyword.replace("_BEGIN", "_END");
                let mut hex = String::new();
                loop {
                    let Some((_, text)) = lines.next() else {
                        return Err(error(line, format!("{keyword} without {end}")));
                    };
                    let content = strip_comment(text, &[';']).trim();
                    if content == end {
                        break;
                    }
                    hex.push_str(content);
                }
                let data = parse_hex(&hex, line)?;
                if keyword == "HEX_ANSWER_BEGIN" {
                    entry.raw = Some(data);
                } else {
                    entry.unsupported.push(keyword.to_string());
                }
            }
            "ENTRY_BEGIN" | "RANGE_END" | "RANGE_BEGIN" | "STEP" | "SCENARIO_END" => {
                return Err(error(
                    begin_line,
                    format!("ENTRY_BEGIN without ENTRY_END (found {keyword} at line {line})"),
                ));
            }
            _ => match pending.as_mut() {
                Some(pending) => pending.lines.push((line, text)),
                None if keyword.is_empty() => {}
                None => {
                    return Err(error(
                        line,
                        format!("unexpected '{keyword}' outside a SECTION"),
                    ));
                }
            },
        }
    }
}

fn finish_section(
    entry: &mut Entry,
    pending: Option<PendingSection<'_>>,
) -> Result<(), ParseError> {
    let Some(pending) = pending else {
        return Ok(());
    };
    if pending.section == Section::Question {
        let mut questions = Vec::new();
        for (line, text) in pending.lines {
            let content = strip_comment(text, &[';']);
            if content.trim().is_empty() {
                continue;
            }
            questions.push(parse_question(content, line)?);
        }
        entry
            .question
            .get_or_insert_with(Vec::new)
            .extend(questions);
        return Ok(());
    }
    let records = parse_records(&pending.lines)?;
    let target = match pending.section {
        Section::Answer => &mut entry.answer,
        Section::Authority => &mut entry.authority,
        Section::Additional | Section::Question => &mut entry.additional,
    };
    target.get_or_insert_with(Vec::new).extend(records);
    Ok(())
}

fn parse_question(text: &str, line: usize) -> Result<Question, ParseError> {
    let mut tokens = text.split_whitespace();
    let name = parse_name(tokens.next().unwrap_or("."), line)?;
    let mut class = Class::IN;
    let mut rtype = None;
    for token in tokens {
        if rtype.is_none()
            && let Ok(parsed) = token.parse::<Class>()
        {
            class = parsed;
            continue;
        }
        if token.bytes().all(|byte| byte.is_ascii_digit()) && rtype.is_none() {
            // A TTL, which a question does not need.
            continue;
        }
        if rtype.is_some() {
            return Err(error(line, format!("unexpected '{token}' in a question")));
        }
        rtype = Some(
            token
                .parse::<RType>()
                .map_err(|_| error(line, format!("unknown type '{token}'")))?,
        );
    }
    let rtype = rtype.ok_or_else(|| error(line, "a question needs a type"))?;
    Ok(Question { name, rtype, class })
}

/// Parses the record lines of a section as master-file text. A line that
/// starts a record may be indented in these files; it is not a blank owner.
fn parse_records(lines: &[(usize, &str)]) -> Result<Vec<Record>, ParseError> {
    let Some(&(first_line, _)) = lines.first() else {
        return Ok(Vec::new());
    };
    let mut text = String::new();
    let mut depth = 0;
    for &(_, line) in lines {
        if depth == 0 {
            text.push_str(line.trim_start());
        } else {
            text.push_str(line);
        }
        text.push('\n');
        depth += parenthesis_change(line);
    }
    hanse_zone::parse_zone(&text, &Name::root(), DEFAULT_RECORD_TTL)
        .map_err(|problem| error(first_line + problem.line - 1, problem.message))
}

// ---------------------------------------------------------------------------
// Matching.

/// One field in which a message differs from what an entry expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The field: `opcode`, `qname`, `flags`, `rcode`, `answer`, …
    pub field: &'static str,
    /// What the entry says.
    pub expected: String,
    /// What the message has.
    pub got: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected [{}], got [{}]",
            self.field, self.expected, self.got
        )
    }
}

/// Names embedded in record data, lower-cased, so that data compares
/// without regard to the case of those names (RFC 4034 §6.2 lists the types).
fn canonical_data(record: &Record) -> Vec<u8> {
    let data = &record.data;
    // (fixed octets before the names, number of names); the rest is copied.
    let layout: Option<(usize, usize)> = match record.rtype {
        RType::NS
        | RType::CNAME
        | RType::DNAME
        | RType::PTR
        | RType::MD
        | RType::MF
        | RType::MB
        | RType::MG
        | RType::MR
        | RType::NSEC => Some((0, 1)),
        RType::SOA | RType::MINFO | RType::RP => Some((0, 2)),
        RType::MX | RType::AFSDB | RType::RT | RType::KX => Some((2, 1)),
        RType::PX => Some((2, 2)),
        RType::SRV => Some((6, 1)),
        RType::RRSIG | RType::SIG => Some((18, 1)),
        _ => None,
    };
    let Some((fixed, count)) = layout else {
        return data.to_vec();
    };
    let Some(prefix) = data.get(..fixed) else {
        return data.to_vec();
    };
    let mut canonical = prefix.to_vec();
    let mut offset = fixed;
    for _ in 0..count {
        match Name::parse_compressed(data, offset) {
            Ok((name, next)) => {
                canonical.extend(name.as_wire().iter().map(u8::to_ascii_lowercase));
                offset = next;
            }
            Err(_) => return data.to_vec(),
        }
    }
    canonical.extend_from_slice(data.get(offset..).unwrap_or_default());
    canonical
}

/// A record reduced to what section comparison looks at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RecordKey {
    owner: Vec<u8>,
    rtype: RType,
    class: Class,
    ttl: Option<u32>,
    data: Vec<u8>,
}

fn record_key(record: &Record, with_ttl: bool) -> RecordKey {
    RecordKey {
        owner: record
            .name
            .as_wire()
            .iter()
            .map(u8::to_ascii_lowercase)
            .collect(),
        rtype: record.rtype,
        class: record.class,
        ttl: with_ttl.then_some(record.ttl),
        data: canonical_data(record),
    }
}

/// A record in presentation format, with its TTL only if `with_ttl`.
pub fn describe_record(record: &Record, with_ttl: bool) -> String {
    let data = hanse_zone::format_rdata(record.rtype, &record.data);
    if with_ttl {
        format!("{} {} {} {}", record.name, record.ttl, record.rtype, data)
    } else {
        format!("{} {} {}", record.name, record.rtype, data)
    }
}

fn describe_records(records: &[Record], with_ttl: bool) -> String {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|record| record_key(record, with_ttl));
    sorted
        .iter()
        .map(|record| describe_record(record, with_ttl))
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_questions(questions: &[Question]) -> String {
    questions
        .iter()
        .map(|question| format!("{} {} {}", question.name, question.class, question.rtype))
        .collect::<Vec<_>>()
        .join("; ")
}

fn same_records(expected: &[Record], got: &[Record], with_ttl: bool) -> bool {
    let mut expected: Vec<RecordKey> = expected
        .iter()
        .map(|record| record_key(record, with_ttl))
        .collect();
    let mut got: Vec<RecordKey> = got
        .iter()
        .map(|record| record_key(record, with_ttl))
        .collect();
    expected.sort();
    got.sort();
    expected == got
}

/// Compares `message` with what `entry` expects under the entry's `MATCH`
/// criteria. `protocol` is how the message travelled, for `MATCH TCP`/`UDP`
/// (`None`: not checked). Returns every differing field.
pub fn compare(
    entry: &Entry,
    message: &Message,
    protocol: Option<Protocol>,
) -> Result<(), Vec<Mismatch>> {
    let criteria = entry.effective_criteria();
    let has = |criterion: MatchCriterion| criteria.contains(&criterion);
    let all = has(MatchCriterion::All);
    let with_ttl = has(MatchCriterion::Ttl);
    let mut mismatches = Vec::new();
    let mut differ = |field: &'static str, expected: String, got: String| {
        mismatches.push(Mismatch {
            field,
            expected,
            got,
        });
    };
    if (all || has(MatchCriterion::Opcode)) && entry.flags.opcode != message.header.opcode {
        differ(
            "opcode",
            entry.flags.opcode.to_string(),
            message.header.opcode.to_string(),
        );
    }
    let expected_question = entry.first_question();
    let got_question = message.question();
    let got_name =
        || got_question.map_or_else(|| "no question".to_string(), |q| q.name.to_string());
    if let Some(expected) = expected_question {
        if has(MatchCriterion::QueryType) && got_question.map(|q| q.rtype) != Some(expected.rtype) {
            differ(
                "qtype",
                expected.rtype.to_string(),
                got_question.map_or_else(|| "no question".into(), |q| q.rtype.to_string()),
            );
        }
        if has(MatchCriterion::QueryName) && got_question.map(|q| &q.name) != Some(&expected.name) {
            differ("qname", expected.name.to_string(), got_name());
        }
        if has(MatchCriterion::QueryNameCase)
            && got_question.map(|q| q.name.as_wire()) != Some(expected.name.as_wire())
        {
            differ("qcase", expected.name.to_string(), got_name());
        }
        if has(MatchCriterion::Subdomain)
            && !got_question.is_some_and(|q| q.name.is_subdomain_of(&expected.name))
        {
            differ(
                "subdomain",
                format!("at or below {}", expected.name),
                got_name(),
            );
        }
    }
    if let Some(expected) = &entry.question
        && (has(MatchCriterion::Question) || all)
    {
        let key = |question: &Question| {
            (
                question.name.as_wire().to_ascii_lowercase(),
                question.rtype,
                question.class,
            )
        };
        let mut left: Vec<_> = expected.iter().map(key).collect();
        let mut right: Vec<_> = message.questions.iter().map(key).collect();
        left.sort();
        right.sort();
        if left != right {
            differ(
                "question",
                describe_questions(expected),
                describe_questions(&message.questions),
            );
        }
    }
    if (all || has(MatchCriterion::Rcode)) && entry.flags.rcode != message.rcode() {
        differ(
            "rcode",
            rcode_name(entry.flags.rcode),
            rcode_name(message.rcode()),
        );
    }
    if all || has(MatchCriterion::Flags) {
        let expected = entry.flags.header_flags();
        let got = ReplyFlags::of_header(&message.header);
        if expected != got {
            differ("flags", expected, got);
        }
    }
    let sections = [
        (
            "answer",
            MatchCriterion::Answer,
            &entry.answer,
            &message.answers,
        ),
        (
            "authority",
            MatchCriterion::Authority,
            &entry.authority,
            &message.authorities,
        ),
        (
            "additional",
            MatchCriterion::Additional,
            &entry.additional,
            &message.additionals,
        ),
    ];
    for (field, criterion, expected, got) in sections {
        let explicit = has(criterion);
        if !(explicit || (all && expected.is_some())) {
            continue;
        }
        let expected: &[Record] = expected.as_deref().unwrap_or_default();
        if !same_records(expected, got, with_ttl) {
            differ(
                field,
                describe_records(expected, with_ttl),
                describe_records(got, with_ttl),
            );
        }
    }
    if has(MatchCriterion::DnssecOk) && !message.edns.as_ref().is_some_and(|edns| edns.dnssec_ok) {
        differ("DO", "set".into(), "clear".into());
    }
    if has(MatchCriterion::NoEdns) && message.edns.is_some() {
        differ("noedns", "no OPT record".into(), "OPT record".into());
    }
    if let Some(protocol) = protocol {
        if has(MatchCriterion::Tcp) && protocol != Protocol::Tcp {
            differ("transport", "TCP".into(), "UDP".into());
        }
        if has(MatchCriterion::Udp) && protocol != Protocol::Udp {
            differ("transport", "UDP".into(), "TCP".into());
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches)
    }
}

// ---------------------------------------------------------------------------
// The simulated transport.

/// Where the reply to an upstream query came from, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeOutcome {
    /// An entry of a range answered.
    Range {
        /// The line of `RANGE_BEGIN`.
        range_line: usize,
        /// The line of the entry.
        entry_line: usize,
    },
    /// A `REPLY` step answered.
    ReplyStep {
        /// Its step number.
        step: u64,
    },
    /// No eligible range or `REPLY` step has a matching entry: a timeout.
    Unmatched,
    /// The entry says `ADJUST do_not_answer`: a timeout.
    NotAnswered {
        /// The line of the entry.
        entry_line: usize,
    },
    /// A reply was built but a network transport would discard it (wrong ID
    /// or question): a timeout.
    Discarded {
        /// The line of the entry.
        entry_line: usize,
        /// Why.
        reason: String,
    },
}

/// One upstream query as the simulated network saw it.
#[derive(Debug, Clone)]
pub struct UpstreamExchange {
    /// The step current when it was sent.
    pub step: u64,
    /// Where it went.
    pub server: SocketAddr,
    /// The question.
    pub name: Name,
    /// The question's type.
    pub rtype: RType,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Whether the query had RD set.
    pub recursion_desired: bool,
    /// Whether the query had an OPT record.
    pub edns: bool,
    /// What happened.
    pub outcome: ExchangeOutcome,
}

impl UpstreamExchange {
    /// Whether the query went unanswered for want of a matching entry.
    pub fn is_unmatched(&self) -> bool {
        self.outcome == ExchangeOutcome::Unmatched
    }
}

impl fmt::Display for UpstreamExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.protocol {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
            Protocol::Https => "HTTPS",
        };
        write!(
            f,
            "step {}: {} {} to {} over {}{}{}: ",
            self.step,
            self.name,
            self.rtype,
            self.server,
            protocol,
            if self.recursion_desired { " RD" } else { "" },
            if self.edns { "" } else { " without EDNS" },
        )?;
        match &self.outcome {
            ExchangeOutcome::Range {
                range_line,
                entry_line,
            } => write!(
                f,
                "answered by the entry at line {entry_line} (range at line {range_line})"
            ),
            ExchangeOutcome::ReplyStep { step } => write!(f, "answered by REPLY step {step}"),
            ExchangeOutcome::Unmatched => f.write_str("no matching entry, timed out"),
            ExchangeOutcome::NotAnswered { entry_line } => {
                write!(f, "do_not_answer (entry at line {entry_line}), timed out")
            }
            ExchangeOutcome::Discarded { entry_line, reason } => write!(
                f,
                "reply from the entry at line {entry_line} discarded ({reason}), timed out"
            ),
        }
    }
}

#[derive(Debug, Default)]
struct ReplayState {
    /// The current step number.
    step: u64,
    /// The index in `Scenario::steps` of the current step.
    step_index: usize,
    /// Indices of `REPLY` steps already used.
    used_replies: HashSet<usize>,
    /// Every exchange so far.
    log: Vec<UpstreamExchange>,
}

/// A [`Transport`] that answers from a [`Scenario`]: cheap to clone, clones
/// share the step counter and the log.
#[derive(Debug, Clone)]
pub struct ReplayTransport {
    scenario: Arc<Scenario>,
    state: Arc<Mutex<ReplayState>>,
}

impl ReplayTransport {
    /// A transport for `scenario`, at step 0.
    pub fn new(scenario: Arc<Scenario>) -> ReplayTransport {
        ReplayTransport {
            scenario,
            state: Arc::default(),
        }
    }

    /// The scenario it answers from.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    fn state(&self) -> MutexGuard<'_, ReplayState> {
        // A panic elsewhere must not hide the log.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the step at `index` of [`Scenario::steps`] the current one.
    pub fn enter_step(&self, index: usize) {
        let mut state = self.state();
        state.step_index = index;
        state.step = self.scenario.steps.get(index).map_or(0, |step| step.id);
    }

    /// The current step number.
    pub fn current_step(&self) -> u64 {
        self.state().step
    }

    /// Every upstream exchange so far.
    pub fn exchanges(&self) -> Vec<UpstreamExchange> {
        self.state().log.clone()
    }

    /// The lines of the `MANDATORY` range entries that have answered no query.
    pub fn unused_mandatory_entries(&self) -> Vec<usize> {
        let state = self.state();
        let used: HashSet<usize> = state
            .log
            .iter()
            .filter_map(|exchange| match exchange.outcome {
                ExchangeOutcome::Range { entry_line, .. } => Some(entry_line),
                _ => None,
            })
            .collect();
        self.scenario
            .ranges
            .iter()
            .flat_map(|range| &range.entries)
            .filter(|entry| entry.mandatory && !used.contains(&entry.line))
            .map(|entry| entry.line)
            .collect()
    }

    /// The upstream queries that no entry matched.
    pub fn unmatched(&self) -> Vec<UpstreamExchange> {
        self.state()
            .log
            .iter()
            .filter(|exchange| exchange.is_unmatched())
            .cloned()
            .collect()
    }

    /// Finds the entry that answers `query` sent to `server` over `protocol`.
    fn find_entry(
        &self,
        state: &mut ReplayState,
        server: IpAddr,
        query: &Message,
        protocol: Protocol,
    ) -> Option<(&Entry, ExchangeOutcome)> {
        for range in &self.scenario.ranges {
            if !range.covers(state.step, server) {
                continue;
            }
            if let Some(entry) = range
                .entries
                .iter()
                .find(|entry| compare(entry, query, Some(protocol)).is_ok())
            {
                let outcome = ExchangeOutcome::Range {
                    range_line: range.line,
                    entry_line: entry.line,
                };
                return Some((entry, outcome));
            }
        }
        // REPLY steps after the current step, up to the next query or check.
        for (index, step) in self
            .scenario
            .steps
            .iter()
            .enumerate()
            .skip(state.step_index + 1)
        {
            match &step.action {
                StepAction::Query(_) | StepAction::CheckAnswer(_) => break,
                StepAction::Reply(entry)
                    if !state.used_replies.contains(&index)
                        && compare(entry, query, Some(protocol)).is_ok() =>
                {
                    state.used_replies.insert(index);
                    state.step = state.step.max(step.id);
                    return Some((entry, ExchangeOutcome::ReplyStep { step: step.id }));
                }
                _ => {}
            }
        }
        None
    }

    fn answer(&self, query: UpstreamQuery<'_>) -> Result<Vec<u8>, TransportError> {
        let message = Message::parse(query.message).map_err(|_| TransportError::Malformed)?;
        let mut state = self.state();
        let mut exchange = UpstreamExchange {
            step: state.step,
            server: query.server,
            name: query.name.clone(),
            rtype: query.rtype,
            protocol: query.protocol,
            recursion_desired: message.header.recursion_desired,
            edns: message.edns.is_some(),
            outcome: ExchangeOutcome::Unmatched,
        };
        let found = self.find_entry(&mut state, query.server.ip(), &message, query.protocol);
        let Some((entry, outcome)) = found else {
            state.log.push(exchange);
            return Err(TransportError::Timeout);
        };
        if entry.adjusts(&Adjustment::DoNotAnswer) {
            exchange.outcome = ExchangeOutcome::NotAnswered {
                entry_line: entry.line,
            };
            state.log.push(exchange);
            return Err(TransportError::Timeout);
        }
        let mut reply = entry.compose_reply(&message);
        if query.protocol == Protocol::Udp {
            reply.truncate(MAX_UDP_REPLY);
        }
        if let Err(reason) = accepted(&reply, query.id, query.name, query.rtype) {
            exchange.outcome = ExchangeOutcome::Discarded {
                entry_line: entry.line,
                reason,
            };
            state.log.push(exchange);
            return Err(TransportError::Timeout);
        }
        exchange.outcome = outcome;
        state.log.push(exchange);
        Ok(reply)
    }
}

/// Whether a network transport would take `reply` as the response to the
/// query with `id` for `name`/`rtype` (RFC 5452 §9.1: ID and question).
fn accepted(reply: &[u8], id: u16, name: &Name, rtype: RType) -> Result<(), String> {
    let header = Header::parse(reply).map_err(|_| "no DNS header".to_string())?;
    if !header.response {
        return Err("QR clear".into());
    }
    if header.id != id {
        return Err(format!("ID {} instead of {id}", header.id));
    }
    if header.question_count == 0 && header.rcode != 0 {
        return Ok(());
    }
    if header.question_count != 1 {
        return Err(format!("{} questions", header.question_count));
    }
    let (question_name, next) =
        Name::parse_compressed(reply, 12).map_err(|_| "unreadable question".to_string())?;
    let question_type = reply
        .get(next..next + 2)
        .map(|octets| RType(u16::from_be_bytes([octets[0], octets[1]])))
        .ok_or_else(|| "short question".to_string())?;
    if question_name != *name || question_type != rtype {
        return Err(format!(
            "question {question_name} {question_type} instead of {name} {rtype}"
        ));
    }
    Ok(())
}

impl Transport for ReplayTransport {
    async fn exchange(&self, query: UpstreamQuery<'_>) -> Result<Vec<u8>, TransportError> {
        self.answer(query)
    }
}

/// Reads the list of scenarios expected to pass from a TOML text with a
/// `passing = ["name", …]` array (names without `.rpl`).
pub fn parse_expected_passing(text: &str) -> Result<Vec<String>, String> {
    let table: toml::Table = text.parse().map_err(|problem| format!("{problem}"))?;
    let Some(list) = table.get("passing") else {
        return Err("no `passing` array".into());
    };
    let list = list
        .as_array()
        .ok_or_else(|| "`passing` is not an array".to_string())?;
    list.iter()
        .map(|value| {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`passing` holds a non-string: {value}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "\
; comment
\tstub-addr: 193.0.14.129 \t# K.ROOT-SERVERS.NET.
\tquery-minimization: off
val-override-date: \"20070916134000\"
trust-anchor: \". IN DS 1 2 3 ABCD\"
features: min_ttl = 5
CONFIG_END

SCENARIO_BEGIN A small test.
RANGE_BEGIN 0 100
\tADDRESS 193.0.14.129
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR AA NOERROR
SECTION QUESTION
. IN NS
SECTION ANSWER
. IN NS\tK.ROOT-SERVERS.NET.
SECTION ADDITIONAL
\tK.ROOT-SERVERS.NET.\tIN\tA\t193.0.14.129
ENTRY_END
ENTRY_BEGIN
MATCH opcode subdomain TCP
ADJUST copy_id copy_query
REPLY QR NXDOMAIN
SECTION QUESTION
com. IN A
SECTION AUTHORITY
. 3600 IN SOA a. b. ( 1 2
  3 4 5 )
ENTRY_END
RANGE_END

STEP 1 QUERY
ENTRY_BEGIN
REPLY RD DO
SECTION QUESTION
www.example.com. IN A
ENTRY_END
STEP 5 TIME_PASSES ELAPSE 30
STEP 10 CHECK_ANSWER
ENTRY_BEGIN
MATCH all
REPLY QR RD RA NXDOMAIN
SECTION QUESTION
www.example.com. IN A
SECTION ANSWER
ENTRY_END
SCENARIO_END
";

    #[test]
    fn parses_config_ranges_and_steps() {
        let scenario = parse_scenario(SMALL).unwrap();
        assert_eq!(scenario.title, "A small test.");
        let root = scenario.config.root_stub().unwrap();
        assert_eq!(root.servers, vec!["193.0.14.129:53".parse().unwrap()]);
        assert_eq!(scenario.config.qname_minimisation, Some(false));
        assert_eq!(scenario.config.override_time, Some(1_189_950_000));
        assert_eq!(scenario.config.trust_anchors.len(), 1);
        assert_eq!(scenario.config.unknown[0].key, "features");
        assert_eq!(scenario.ranges.len(), 1);
        let range = &scenario.ranges[0];
        assert_eq!(range.entries.len(), 2);
        assert_eq!(range.entries[0].additional.as_ref().unwrap().len(), 1);
        assert_eq!(
            range.entries[1].authority.as_ref().unwrap()[0].rtype,
            RType::SOA
        );
        assert_eq!(scenario.steps.len(), 3);
        assert!(matches!(
            scenario.steps[1].action,
            StepAction::TimePasses(30)
        ));
        let StepAction::Query(query) = &scenario.steps[0].action else {
            panic!("not a query");
        };
        assert!(query.flags.recursion_desired && query.flags.dnssec_ok);
    }

    #[test]
    fn errors_carry_line_numbers() {
        let broken = SMALL.replace("193.0.14.129\nENTRY_BEGIN", "193.0.14.129\nBOGUS\n");
        let problem = parse_scenario(&broken).unwrap_err();
        assert_eq!(problem.line, 12, "{problem}");
        let bad_record = SMALL.replace("\tK.ROOT-SERVERS.NET.\tIN\tA\t193.0.14.129", "x. IN A 1.2");
        let problem = parse_scenario(&bad_record).unwrap_err();
        assert_eq!(problem.line, 21, "{problem}");
        assert!(parse_scenario("CONFIG_END\nSCENARIO_BEGIN x\n").is_err());
        assert!(parse_scenario("no end").is_err());
    }

    fn query(name: &str, rtype: RType) -> Message {
        let bytes =
            hanse_wire::compose_query(77, &Name::from_ascii(name).unwrap(), rtype, false, None);
        Message::parse(&bytes).unwrap()
    }

    #[test]
    fn entries_match_and_reply_with_adjustments() {
        let scenario = parse_scenario(SMALL).unwrap();
        let [prime, nxdomain] = &scenario.ranges[0].entries[..] else {
            panic!("two entries");
        };
        assert!(compare(prime, &query(".", RType::NS), Some(Protocol::Udp)).is_ok());
        assert!(compare(prime, &query(".", RType::A), Some(Protocol::Udp)).is_err());
        let below = query("www.example.com.", RType::A);
        assert!(
            compare(nxdomain, &below, Some(Protocol::Udp)).is_err(),
            "TCP only"
        );
        assert!(compare(nxdomain, &below, Some(Protocol::Tcp)).is_ok());
        let reply = Message::parse(&nxdomain.compose_reply(&below)).unwrap();
        assert_eq!(reply.header.id, 77);
        assert_eq!(reply.rcode(), Rcode::NXDOMAIN);
        assert_eq!(reply.questions, below.questions);
        let StepAction::CheckAnswer(check) = &scenario.steps[2].action else {
            panic!("not a check");
        };
        let mut answer = below;
        answer.header.response = true;
        answer.header.recursion_available = true;
        answer.header.rcode = 3;
        let mismatches = compare(check, &answer, None).unwrap_err();
        assert_eq!(mismatches.len(), 1);
        assert_eq!(mismatches[0].field, "flags");
        answer.header.recursion_desired = true;
        assert!(compare(check, &answer, None).is_ok());
        answer.answers.push(reply.authorities[0].clone());
        assert_eq!(
            compare(check, &answer, None).unwrap_err()[0].field,
            "answer"
        );
    }

    #[test]
    fn transport_answers_matching_queries_and_times_out_others() {
        let scenario = Arc::new(parse_scenario(SMALL).unwrap());
        let transport = ReplayTransport::new(scenario);
        transport.enter_step(0);
        let root = Name::root();
        let message = hanse_wire::compose_query(9, &root, RType::NS, false, None);
        let upstream = |server: &str, message: &'static [u8], name: &'static Name| UpstreamQuery {
            server: server.parse().unwrap(),
            message,
            id: 9,
            name,
            rtype: RType::NS,
            protocol: Protocol::Udp,
            timeout: std::time::Duration::from_secs(1),
            encryption: None,
        };
        let message: &'static [u8] = Box::leak(message.into_boxed_slice());
        let root: &'static Name = Box::leak(Box::new(root));
        let reply = transport
            .answer(upstream("193.0.14.129:53", message, root))
            .unwrap();
        assert_eq!(Message::parse(&reply).unwrap().answers.len(), 1);
        assert_eq!(
            transport.answer(upstream("192.0.2.1:53", message, root)),
            Err(TransportError::Timeout)
        );
        let unmatched = transport.unmatched();
        assert_eq!(unmatched.len(), 1);
        assert!(unmatched[0].to_string().contains("192.0.2.1"));
    }

    #[test]
    fn dates_convert_to_unix_time() {
        assert_eq!(parse_date("19700101000000", 1), Ok(0));
        assert_eq!(parse_date("20180601000000", 1), Ok(1_527_811_200));
        assert!(parse_date("20181301000000", 1).is_err());
    }

    #[test]
    fn expected_list_reads() {
        let list = parse_expected_passing("# x\npassing = [\n \"a\", # y\n \"b\",\n]\n").unwrap();
        assert_eq!(list, ["a", "b"]);
        assert!(parse_expected_passing("other = 1").is_err());
    }
}
