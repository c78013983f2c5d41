//! Zone transfer as a primary: the answers to AXFR (RFC 5936) and IXFR
//! (RFC 1995) requests for a served zone, with a bounded journal of changes
//! and TSIG (RFC 8945) on every response message. No sockets: the caller
//! reads a request, hands it here with the zone it names and who may
//! transfer it, and sends the messages of the [`ResponseStream`] in order.
//!
//! - [`ServedZone`] is one version of a zone (its SOA and other records)
//!   with the journal of the changes that led to it, oldest first;
//!   [`ServedZone::updated`] makes the next version and a journal entry
//!   from the difference of the record sets, keeping at most the
//!   configured number of entries.
//! - [`answer_transfer`] decides: AXFR → the whole zone (SOA, records,
//!   SOA); IXFR from a serial the journal reaches → the incremental form
//!   (RFC 1995 §4); IXFR from the current serial or a newer one → the
//!   single current SOA; IXFR from a serial the journal does not reach →
//!   the whole zone in AXFR form (RFC 1995 §4, last paragraph). Over UDP,
//!   IXFR is answered with the single current SOA (RFC 1995 §2: the client
//!   then asks over TCP) and AXFR is refused (RFC 5936 §4.2).
//! - Refusals ([`Refusal`]): a malformed request FORMERR; a zone not served
//!   NOTAUTH; a client outside the zone's access list REFUSED; an unsigned
//!   request for a zone that requires a key REFUSED; a signed request with an
//!   unknown key NOTAUTH with TSIG error BADKEY, a bad MAC NOTAUTH with
//!   BADSIG (both with an unsigned TSIG record), a time outside the fudge
//!   window NOTAUTH with BADTIME, signed (RFC 8945 §5.2).
//!
//! Response messages hold about 16 KiB of records each; with a key, every
//! message is signed (the first with the request MAC, RFC 8945 §5.3.1).
//! The messages are made one at a time as the caller asks for them, so a
//! large zone is never held twice in memory.
//!
//! # Limitations
//! - Class IN only; one question per request.
//! - The journal is bounded by a count of versions, not by bytes; a version
//!   that changes most of a large zone costs as much as the zone.
//! - Name compression within a message only; no EDNS in responses.

use crate::serial::serial_newer;
use crate::tsig::{self, RequestRejection, Signer, TsigAlgorithm, TsigKey};
use hanse_wire::{Class, Header, Message, MessageBuilder, Name, Question, RType, Rcode, Record};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The response code NOTAUTH (RFC 2136 §2.2, RFC 8945 §5.2).
const NOTAUTH: Rcode = Rcode(9);
/// TSIG error BADSIG (RFC 8945 §5.2.1).
const BADSIG: u16 = 16;
/// TSIG error BADKEY (RFC 8945 §5.2.2).
const BADKEY: u16 = 17;
/// TSIG error BADTIME (RFC 8945 §5.2.3).
const BADTIME: u16 = 18;
/// Once a response message holds this many octets, the next record starts
/// a new message.
const MESSAGE_TARGET: usize = 16 * 1024;
/// Room kept at the end of every message for the TSIG record.
const TSIG_ROOM: usize = 512;

/// One change between two versions of a served zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The SOA record of the version before the change.
    pub from_soa: Record,
    /// The SOA record of the version after the change.
    pub to_soa: Record,
    /// Records removed (the SOA excluded).
    pub removed: Arc<[Record]>,
    /// Records added (the SOA excluded).
    pub added: Arc<[Record]>,
}

/// A version of a served zone and the journal of changes that led to it.
/// Cheap to clone: the records are shared.
#[derive(Debug, Clone)]
pub struct ServedZone {
    zone: Name,
    soa: Record,
    records: Arc<[Record]>,
    journal: VecDeque<Arc<JournalEntry>>,
    journal_capacity: usize,
}

/// The identity of a record for comparing versions: owner (lower case),
/// type, class, TTL and data.
fn record_key(record: &Record) -> Vec<u8> {
    let owner = record.name.as_wire();
    let mut key = Vec::with_capacity(owner.len() + 10 + record.data.len());
    key.extend(owner.iter().map(u8::to_ascii_lowercase));
    key.extend_from_slice(&record.rtype.0.to_be_bytes());
    key.extend_from_slice(&record.class.0.to_be_bytes());
    key.extend_from_slice(&record.ttl.to_be_bytes());
    key.extend_from_slice(&record.data);
    key
}

/// The records of `old` missing from `new` (removed) and of `new` missing
/// from `old` (added). Duplicates count once.
pub fn diff_records(old: &[Record], new: &[Record]) -> (Vec<Record>, Vec<Record>) {
    let old_keys: HashMap<Vec<u8>, &Record> = old.iter().map(|r| (record_key(r), r)).collect();
    let new_keys: HashMap<Vec<u8>, &Record> = new.iter().map(|r| (record_key(r), r)).collect();
    let mut removed: Vec<Record> = old_keys
        .iter()
        .filter(|(key, _)| !new_keys.contains_key(*key))
        .map(|(_, record)| (*record).clone())
        .collect();
    let mut added: Vec<Record> = new_keys
        .iter()
        .filter(|(key, _)| !old_keys.contains_key(*key))
        .map(|(_, record)| (*record).clone())
        .collect();
    // A stable order, so that two primaries with the same versions send
    // the same transfer.
    removed.sort_by_cached_key(record_key);
    added.sort_by_cached_key(record_key);
    (removed, added)
}

impl ServedZone {
    /// The first version of `zone`: its SOA and the other records (SOA
    /// records among them are dropped), with an empty journal that will keep
    /// at most `journal_capacity` changes (0: no IXFR but the up-to-date
    /// answer; clients get the whole zone).
    pub fn new(
        zone: Name,
        soa: Record,
        records: Vec<Record>,
        journal_capacity: usize,
    ) -> ServedZone {
        let records: Vec<Record> = records
            .into_iter()
            .filter(|record| record.rtype != RType::SOA)
            .collect();
        ServedZone {
            zone,
            soa,
            records: records.into(),
            journal: VecDeque::new(),
            journal_capacity,
        }
    }

    /// The zone's name.
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// The current SOA record.
    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// The current serial.
    pub fn serial(&self) -> u32 {
        self.soa.soa_serial().unwrap_or(0)
    }

    /// The current records other than the SOA.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The journal, oldest change first.
    pub fn journal(&self) -> impl ExactSizeIterator<Item = &JournalEntry> {
        self.journal.iter().map(|entry| &**entry)
    }

    /// The same version with another journal capacity (older entries
    /// beyond it dropped).
    pub fn with_journal_capacity(mut self, journal_capacity: usize) -> ServedZone {
        self.journal_capacity = journal_capacity;
        while self.journal.len() > journal_capacity {
            self.journal.pop_front();
        }
        self
    }

    /// The next version, with `soa` and `records`, and a journal entry for
    /// the difference if `soa`'s serial is newer (RFC 1982) than the
    /// current one. A serial that is not newer cannot be described by IXFR:
    /// the journal is emptied and clients get the whole zone.
    pub fn updated(&self, soa: Record, records: Vec<Record>) -> ServedZone {
        let records: Vec<Record> = records
            .into_iter()
            .filter(|record| record.rtype != RType::SOA)
            .collect();
        let new_serial = soa.soa_serial().unwrap_or(0);
        let mut journal = self.journal.clone();
        if serial_newer(new_serial, self.serial()) && self.journal_capacity > 0 {
            let (removed, added) = diff_records(&self.records, &records);
            journal.push_back(Arc::new(JournalEntry {
                from_soa: self.soa.clone(),
                to_soa: soa.clone(),
                removed: removed.into(),
                added: added.into(),
            }));
            while journal.len() > self.journal_capacity {
                journal.pop_front();
            }
        } else {
            journal.clear();
        }
        ServedZone {
            zone: self.zone.clone(),
            soa,
            records: records.into(),
            journal,
            journal_capacity: self.journal_capacity,
        }
    }

    /// The journal entries from `serial` to the current version, if the
    /// journal reaches back that far.
    fn changes_since(&self, serial: u32) -> Option<Vec<Arc<JournalEntry>>> {
        let start = self
            .journal
            .iter()
            .position(|entry| entry.from_soa.soa_serial() == Some(serial))?;
        Some(self.journal.iter().skip(start).cloned().collect())
    }
}

/// The kind of transfer a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// AXFR: the whole zone.
    Axfr,
    /// IXFR: the changes since the client's serial.
    Ixfr,
    /// A query for the zone's SOA, as secondaries send before a transfer
    /// (RFC 1996 §3.11, RFC 1034 §4.3.5): answered from the served zone,
    /// with TSIG like a transfer.
    Soa,
}

/// A transfer request, as read by [`read_transfer_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// The message ID.
    pub id: u16,
    /// The zone asked for.
    pub zone: Name,
    /// AXFR or IXFR.
    pub kind: TransferKind,
    /// The client's serial (IXFR: the SOA in the authority section).
    pub client_serial: Option<u32>,
    /// The name and algorithm of the request's TSIG key, if it is signed.
    pub key: Option<(Name, Name)>,
    question: Question,
}

/// Reads a query whose question is AXFR, IXFR or SOA (class IN). `None` if the
/// packet is not such a query; `Some(Err)` FORMERR if it is one but
/// malformed (an IXFR without the client's SOA, a broken TSIG record).
pub fn read_transfer_request(packet: &[u8]) -> Option<Result<TransferRequest, ()>> {
    let message = Message::parse(packet).ok()?;
    if message.header.response || message.header.opcode != 0 {
        return None;
    }
    let [question] = message.questions.as_slice() else {
        return None;
    };
    let kind = match question.rtype {
        RType::AXFR => TransferKind::Axfr,
        RType::IXFR => TransferKind::Ixfr,
        RType::SOA => TransferKind::Soa,
        _ => return None,
    };
    let Ok(key) = tsig::request_key(packet) else {
        return Some(Err(()));
    };
    if question.class != Class::IN {
        return Some(Err(()));
    }
    let client_serial = message
        .authorities
        .iter()
        .find(|record| record.rtype == RType::SOA && record.name == question.name)
        .and_then(Record::soa_serial);
    if kind == TransferKind::Ixfr && client_serial.is_none() {
        return Some(Err(()));
    }
    Some(Ok(TransferRequest {
        id: message.header.id,
        zone: question.name.clone(),
        kind,
        client_serial,
        key,
        question: question.clone(),
    }))
}

/// Who may transfer a served zone.
#[derive(Debug, Clone, Default)]
pub struct TransferAccess {
    /// Whether the client's address is allowed.
    pub allowed: bool,
    /// The key requests must be signed with; `None`: no signature needed
    /// (a signed request is still checked against the keys known).
    pub required_key: Option<TsigKey>,
}

/// Why a transfer request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The request is malformed: FORMERR.
    Malformed,
    /// The zone is not served here: NOTAUTH.
    UnknownZone,
    /// The client's address may not transfer the zone: REFUSED.
    NotAllowed,
    /// AXFR over UDP: REFUSED.
    AxfrOverUdp,
    /// The zone needs a key and the request is unsigned: REFUSED.
    Unsigned,
    /// The request is signed with a key not known here, or not the zone's
    /// key: NOTAUTH, TSIG error BADKEY.
    BadKey,
    /// The request's MAC does not verify: NOTAUTH, TSIG error BADSIG.
    BadSignature,
    /// The request's time is outside the fudge window: NOTAUTH, BADTIME.
    BadTime,
}

impl Refusal {
    /// A short name for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::UnknownZone => "unknown_zone",
            Refusal::NotAllowed => "not_allowed",
            Refusal::AxfrOverUdp => "axfr_over_udp",
            Refusal::Unsigned => "unsigned",
            Refusal::BadKey => "bad_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::BadTime => "bad_time",
        }
    }
}

/// What a transfer request was answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    /// AXFR: the whole zone.
    Axfr,
    /// IXFR answered with the changes.
    Incremental,
    /// IXFR answered with the whole zone (the journal does not reach the
    /// client's serial).
    IxfrFull,
    /// IXFR answered with the single current SOA (the client is current,
    /// or asked over UDP).
    UpToDate,
    /// A query for the zone's SOA, answered.
    Soa,
    /// Refused.
    Refused(Refusal),
}

/// The answer to a transfer request: its outcome and its messages.
pub struct TransferAnswer {
    /// The zone asked for, if the request could be read.
    pub zone: Option<Name>,
    /// What was answered.
    pub outcome: TransferOutcome,
    /// The response messages, in order.
    pub messages: ResponseStream,
}

/// Answers a transfer request `packet` (see [`read_transfer_request`]).
/// `find` gives the served zone a name refers to and who may transfer it
/// (the caller matches the client's address); `keys` finds a TSIG key by
/// name and algorithm; `now` is the Unix time in seconds for TSIG.
pub fn answer_transfer(
    packet: &[u8],
    over_tcp: bool,
    find: impl FnOnce(&Name) -> Option<(ServedZone, TransferAccess)>,
    keys: impl Fn(&Name, TsigAlgorithm) -> Option<TsigKey>,
    now: u64,
) -> TransferAnswer {
    let refuse = |refusal: Refusal, request: Option<&TransferRequest>, tsig: ErrorSignature| {
        TransferAnswer {
            zone: request.map(|request| request.zone.clone()),
            outcome: TransferOutcome::Refused(refusal),
            messages: ResponseStream::error(packet, refusal, request, tsig, now),
        }
    };
    let Some(Ok(request)) = read_transfer_request(packet) else {
        return refuse(Refusal::Malformed, None, ErrorSignature::None);
    };
    // The signature first (RFC 8945 §5.2): a bad one is answered as such
    // whatever the zone.
    let mut signer = None;
    if let Some((key_name, algorithm_name)) = &request.key {
        let key = TsigAlgorithm::from_name(algorithm_name)
            .and_then(|algorithm| keys(key_name, algorithm));
        let Some(key) = key else {
            let tsig = ErrorSignature::Unsigned(key_name.clone(), algorithm_name.clone(), BADKEY);
            return refuse(Refusal::BadKey, Some(&request), tsig);
        };
        match tsig::verify_request(packet, &key, now) {
            Ok(mac) => signer = Some((key, mac)),
            Err(RequestRejection::BadSignature) => {
                let tsig = ErrorSignature::Unsigned(key.name.clone(), key.algorithm.name(), BADSIG);
                return refuse(Refusal::BadSignature, Some(&request), tsig);
            }
            Err(RequestRejection::BadTime) => {
                // Signed, with our time as other data (§5.2.3); the MAC of
                // the request verified, so it is used.
                let mac = tsig::request_mac(packet).unwrap_or_default();
                return refuse(
                    Refusal::BadTime,
                    Some(&request),
                    ErrorSignature::BadTime(key, mac),
                );
            }
        }
    }
    let error_signature = || match &signer {
        Some((key, mac)) => ErrorSignature::Signed(key.clone(), mac.clone()),
        None => ErrorSignature::None,
    };
    let Some((zone, access)) = find(&request.zone) else {
        return refuse(Refusal::UnknownZone, Some(&request), error_signature());
    };
    if !access.allowed {
        return refuse(Refusal::NotAllowed, Some(&request), error_signature());
    }
    if let Some(required) = &access.required_key {
        match &signer {
            None => return refuse(Refusal::Unsigned, Some(&request), ErrorSignature::None),
            Some((key, _)) if key.name != required.name || key.algorithm != required.algorithm => {
                let tsig = ErrorSignature::Unsigned(key.name.clone(), key.algorithm.name(), BADKEY);
                return refuse(Refusal::BadKey, Some(&request), tsig);
            }
            Some(_) => {}
        }
    }
    if !over_tcp && request.kind == TransferKind::Axfr {
        return refuse(Refusal::AxfrOverUdp, Some(&request), error_signature());
    }
    let current = Arc::new([zone.soa.clone()]) as Arc<[Record]>;
    let (outcome, segments) = match (request.kind, request.client_serial) {
        (TransferKind::Soa, _) => (TransferOutcome::Soa, vec![current]),
        (TransferKind::Ixfr, Some(serial)) if !serial_newer(zone.serial(), serial) || !over_tcp => {
            (TransferOutcome::UpToDate, vec![current])
        }
        (TransferKind::Ixfr, Some(serial)) => match zone.changes_since(serial) {
            Some(changes) => {
                let mut segments = vec![Arc::clone(&current)];
                for change in changes {
                    segments.push(Arc::new([change.from_soa.clone()]) as Arc<[Record]>);
                    segments.push(Arc::clone(&change.removed));
                    segments.push(Arc::new([change.to_soa.clone()]) as Arc<[Record]>);
                    segments.push(Arc::clone(&change.added));
                }
                segments.push(current);
                (TransferOutcome::Incremental, segments)
            }
            None => (
                TransferOutcome::IxfrFull,
                vec![Arc::clone(&current), Arc::clone(&zone.records), current],
            ),
        },
        _ => (
            TransferOutcome::Axfr,
            vec![Arc::clone(&current), Arc::clone(&zone.records), current],
        ),
    };
    TransferAnswer {
        zone: Some(request.zone.clone()),
        outcome,
        messages: ResponseStream {
            id: request.id,
            question: Some(request.question),
            segments: segments.into(),
            position: 0,
            signer: signer.map(|(key, mac)| Signer::new(&key, mac)),
            now,
            pending_error: None,
            done: false,
        },
    }
}

/// How an error response is signed.
enum ErrorSignature {
    /// Not at all.
    None,
    /// An unsigned TSIG record with this key name, algorithm and error.
    Unsigned(Name, Name, u16),
    /// Signed with the key of a verified request (and its MAC).
    Signed(TsigKey, Vec<u8>),
    /// Signed, with TSIG error BADTIME and our time.
    BadTime(TsigKey, Vec<u8>),
}

/// The response messages of a transfer, made one at a time.
pub struct ResponseStream {
    id: u16,
    question: Option<Question>,
    segments: VecDeque<Arc<[Record]>>,
    /// The next record of the first segment.
    position: usize,
    signer: Option<Signer>,
    now: u64,
    /// A complete error response to send (and then stop).
    pending_error: Option<Vec<u8>>,
    done: bool,
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ResponseStream")
            .field("id", &self.id)
            .field("segments", &self.segments.len())
            .field("signed", &self.signer.is_some())
            .finish_non_exhaustive()
    }
}

impl ResponseStream {
    fn error(
        packet: &[u8],
        refusal: Refusal,
        request: Option<&TransferRequest>,
        signature: ErrorSignature,
        now: u64,
    ) -> ResponseStream {
        let rcode = match refusal {
            Refusal::Malformed => Rcode::FORMERR,
            Refusal::UnknownZone | Refusal::BadKey | Refusal::BadSignature | Refusal::BadTime => {
                NOTAUTH
            }
            Refusal::NotAllowed | Refusal::AxfrOverUdp | Refusal::Unsigned => Rcode::REFUSED,
        };
        let id = match request {
            Some(request) => request.id,
            None => packet
                .get(0..2)
                .map_or(0, |bytes| u16::from_be_bytes([bytes[0], bytes[1]])),
        };
        let mut builder = MessageBuilder::new(
            Header {
                id,
                response: true,
                rcode: rcode.0 as u8,
                ..Header::default()
            },
            65535,
        );
        if let Some(request) = request {
            // One question always fits.
            let _ = builder.push_question(&request.question);
        }
        let mut message = builder.finish();
        match signature {
            ErrorSignature::None => {}
            ErrorSignature::Unsigned(key_name, algorithm, error) => {
                tsig::append_unsigned_error(&mut message, &key_name, &algorithm, now, error);
            }
            ErrorSignature::Signed(key, mac) => {
                Signer::new(&key, mac).sign(&mut message, now, true);
            }
            ErrorSignature::BadTime(key, mac) => {
                let mut time = [0u8; 6];
                time.copy_from_slice(&now.to_be_bytes()[2..]);
                Signer::new(&key, mac).sign_with_error(&mut message, now, BADTIME, &time);
            }
        }
        ResponseStream {
            id,
            question: None,
            segments: VecDeque::new(),
            position: 0,
            signer: None,
            now,
            pending_error: Some(message),
            done: false,
        }
    }

    /// The next response message, or `None` after the last.
    pub fn next_message(&mut self) -> Option<Vec<u8>> {
        if let Some(message) = self.pending_error.take() {
            self.done = true;
            return Some(message);
        }
        if self.done {
            return None;
        }
        let limit = 65535 - TSIG_ROOM;
        let mut builder = MessageBuilder::new(
            Header {
                id: self.id,
                response: true,
                authoritative: true,
                ..Header::default()
            },
            limit,
        );
        if let Some(question) = &self.question {
            // One question always fits in an empty message.
            let _ = builder.push_question(question);
        }
        let mut records_in_message = 0usize;
        while let Some(segment) = self.segments.front() {
            let Some(record) = segment.get(self.position) else {
                self.segments.pop_front();
                self.position = 0;
                continue;
            };
            if records_in_message > 0 && builder.len() >= MESSAGE_TARGET {
                break;
            }
            match builder.push_answer(record) {
                Ok(()) => {
                    records_in_message += 1;
                    self.position += 1;
                }
                Err(_) if records_in_message > 0 => break,
                // A record that does not fit an empty message cannot be
                // sent at all; it is left out rather than stopping the
                // transfer (records are at most 65535 octets of data, so
                // only a pathological zone gets here).
                Err(_) => self.position += 1,
            }
        }
        if self.segments.is_empty() {
            self.done = true;
        }
        let mut message = builder.finish();
        if let Some(signer) = self.signer.as_mut() {
            signer.sign(&mut message, self.now, true);
        }
        Some(message)
    }
}

impl Iterator for ResponseStream {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        self.next_message()
    }
}
