//! AXFR (RFC 5936) and IXFR (RFC 1995) over TCP.
//!
//! The request goes out as one TCP message (RFC 1035 §4.2.2 framing); the
//! answer records of all response messages form one stream, read as:
//! - AXFR: SOA, the zone's records, the same SOA (RFC 5936 §2.2);
//! - IXFR, up to date: a single SOA whose serial is not newer than ours;
//! - IXFR, incremental: SOA(new), then for each change SOA(old), the deleted
//!   records, SOA(next), the added records; then SOA(new) (RFC 1995 §4);
//! - IXFR, full zone: as AXFR, when the primary has no history for our serial.
//!
//! The transfer must end exactly with the last record of a message; nothing
//! of it is returned unless the whole of it arrived and checked out.

use crate::error::{TransferError, TsigError};
use crate::serial::serial_newer;
use crate::tsig::{self, TsigKey, Verifier};
use hanse_wire::{
    Class, Header, Message, MessageBuilder, Name, Question, RType, Rcode, Record, WireError,
};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The result of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// IXFR: the primary's serial is not newer than ours.
    UpToDate,
    /// The whole zone: the SOA and every other record (the SOA is not
    /// repeated in `records`).
    Full {
        /// The zone's SOA record.
        soa: Record,
        /// The zone's records other than the SOA, in the order received.
        records: Vec<Record>,
    },
    /// IXFR: the changes to apply in order to the copy with our serial.
    Incremental {
        /// The SOA record of the new version.
        soa: Record,
        /// The changes, oldest first.
        changes: Vec<Change>,
    },
}

/// One step of an incremental transfer: records to remove, then records to
/// add. The SOA records that frame each step are not included: after the
/// last change the zone's SOA is [`Transfer::Incremental::soa`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    /// The serial this change applies to.
    pub from_serial: u32,
    /// The serial after this change.
    pub to_serial: u32,
    /// Records to remove.
    pub removed: Vec<Record>,
    /// Records to add.
    pub added: Vec<Record>,
}

/// Bounds on what a primary may send in one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of response messages, TCP length prefixes excluded.
    pub max_bytes: u64,
    /// The most answer records in all messages together.
    pub max_records: usize,
}

impl Default for Limits {
    /// 500 MB and 10 million records.
    fn default() -> Limits {
        Limits {
            max_bytes: 500_000_000,
            max_records: 10_000_000,
        }
    }
}

/// Transfers `zone` from `primary` with the default [`Limits`]: AXFR when
/// `current_serial` is `None`, else IXFR from that serial. With a `key`,
/// the request is signed and every response must verify. The whole
/// transfer, connection included, must finish within `timeout`.
pub async fn transfer(
    primary: SocketAddr,
    zone: &Name,
    current_serial: Option<u32>,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<Transfer, TransferError> {
    transfer_with_limits(
        primary,
        zone,
        current_serial,
        key,
        timeout,
        Limits::default(),
    )
    .await
}

/// [`transfer`] with explicit [`Limits`].
pub async fn transfer_with_limits(
    primary: SocketAddr,
    zone: &Name,
    current_serial: Option<u32>,
    key: Option<&TsigKey>,
    timeout: Duration,
    limits: Limits,
) -> Result<Transfer, TransferError> {
    tokio::time::timeout(timeout, run(primary, zone, current_serial, key, limits))
        .await
        .map_err(|_| TransferError::Timeout)?
}

/// Composes the request: an AXFR query, or an IXFR query with our SOA
/// (serial only; RFC 1995 §3) in the authority section.
pub(crate) fn compose_request(
    id: u16,
    zone: &Name,
    current_serial: Option<u32>,
) -> Result<Vec<u8>, WireError> {
    let mut builder = MessageBuilder::new(
        Header {
            id,
            ..Header::default()
        },
        65535,
    );
    let rtype = if current_serial.is_some() {
        RType::IXFR
    } else {
        RType::AXFR
    };
    builder.push_question(&Question {
        name: zone.clone(),
        rtype,
        class: Class::IN,
    })?;
    if let Some(serial) = current_serial {
        // MNAME and RNAME are the root; only the serial matters.
        let mut data = vec![0u8, 0u8];
        data.extend_from_slice(&serial.to_be_bytes());
        data.extend_from_slice(&[0; 16]);
        builder.push_authority(&Record {
            name: zone.clone(),
            rtype: RType::SOA,
            class: Class::IN,
            ttl: 0,
            data: data.into(),
        })?;
    }
    Ok(builder.finish())
}

async fn run(
    primary: SocketAddr,
    zone: &Name,
    current_serial: Option<u32>,
    key: Option<&TsigKey>,
    limits: Limits,
) -> Result<Transfer, TransferError> {
    let id: u16 = rand::random();
    let mut request = compose_request(id, zone, current_serial).map_err(TransferError::Request)?;
    let mut verifier = key.map(|key| {
        let mac = tsig::sign_request(key, &mut request, tsig::now());
        Verifier::new(key, mac)
    });
    let length = u16::try_from(request.len())
        .map_err(|_| TransferError::Request(WireError::MessageTooLong))?;
    let mut stream = TcpStream::connect(primary).await?;
    let mut framed = Vec::with_capacity(2 + request.len());
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(&request);
    stream.write_all(&framed).await?;

    let rtype = if current_serial.is_some() {
        RType::IXFR
    } else {
        RType::AXFR
    };
    let mut reader = Reader::new(zone.clone(), current_serial, limits);
    let mut total_bytes: u64 = 0;
    let mut first = true;
    loop {
        let mut prefix = [0u8; 2];
        match stream.read_exact(&mut prefix).await {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(TransferError::Incomplete);
            }
            Err(error) => return Err(error.into()),
        }
        let length = usize::from(u16::from_be_bytes(prefix));
        total_bytes += length as u64;
        if total_bytes > limits.max_bytes {
            return Err(TransferError::TooLarge(limits.max_bytes));
        }
        let mut packet = vec![0u8; length];
        match stream.read_exact(&mut packet).await {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(TransferError::Incomplete);
            }
            Err(error) => return Err(error.into()),
        }
        let message = Message::parse(&packet)?;
        check_envelope(&message, id)?;
        if message.rcode() != Rcode::NOERROR {
            // A refused signature comes back unsigned with the TSIG error
            // (RFC 8945 §5.3.2): report that rather than the bare rcode.
            if let Some(verifier) = verifier.as_mut()
                && let Err(TsigError::Refused(error)) = verifier.check(&packet, tsig::now())
            {
                return Err(TsigError::Refused(error).into());
            }
            return Err(TransferError::Rcode(message.rcode()));
        }
        check_question(&message, zone, rtype, first)?;
        if let Some(verifier) = verifier.as_mut() {
            verifier.check(&packet, tsig::now())?;
        }
        first = false;
        let done = reader.feed(message.answers)?;
        if done {
            if let Some(verifier) = verifier.as_ref() {
                verifier.finish()?;
            }
            return reader.finish();
        }
    }
}

/// Checks that `message` answers our request: ID, QR, opcode, no TC.
fn check_envelope(message: &Message, id: u16) -> Result<(), TransferError> {
    let header = &message.header;
    if header.id != id {
        return Err(TransferError::Mismatch("message ID"));
    }
    if !header.response {
        return Err(TransferError::Mismatch("not a response"));
    }
    if header.opcode != 0 {
        return Err(TransferError::Mismatch("opcode"));
    }
    if header.truncated {
        return Err(TransferError::Truncated);
    }
    Ok(())
}

/// Checks the question of a successful response message.
fn check_question(
    message: &Message,
    zone: &Name,
    rtype: RType,
    first: bool,
) -> Result<(), TransferError> {
    // The first message repeats the question; later ones may omit it
    // (RFC 5936 §2.2.1), but if present it must be the same.
    match message.questions.as_slice() {
        [] if !first => {}
        [question] => {
            if question.name != *zone || question.rtype != rtype || question.class != Class::IN {
                return Err(TransferError::Mismatch("question"));
            }
        }
        _ => return Err(TransferError::Mismatch("question")),
    }
    Ok(())
}

/// Where the reader is in the record stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first record.
    Start,
    /// After the first SOA, before the second record.
    AfterFirstSoa,
    /// In a full zone.
    Full,
    /// Incremental: reading deleted records.
    Removing,
    /// Incremental: reading added records.
    Adding,
    /// The closing SOA was read.
    Done,
}

/// Turns the answer records of a transfer into a [`Transfer`].
pub(crate) struct Reader {
    zone: Name,
    current_serial: Option<u32>,
    limits: Limits,
    state: State,
    record_count: usize,
    soa: Option<Record>,
    serial: u32,
    up_to_date: bool,
    records: Vec<Record>,
    changes: Vec<Change>,
}

impl Reader {
    pub(crate) fn new(zone: Name, current_serial: Option<u32>, limits: Limits) -> Reader {
        Reader {
            zone,
            current_serial,
            limits,
            state: State::Start,
            record_count: 0,
            soa: None,
            serial: 0,
            up_to_date: false,
            records: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// Takes the answer records of one message. Returns whether the
    /// transfer is complete; records after the end are an error.
    pub(crate) fn feed(&mut self, answers: Vec<Record>) -> Result<bool, TransferError> {
        let count = answers.len();
        for (index, record) in answers.into_iter().enumerate() {
            if self.state == State::Done {
                return Err(TransferError::Malformed("records after the closing SOA"));
            }
            self.record_count += 1;
            if self.record_count > self.limits.max_records {
                return Err(TransferError::TooManyRecords(self.limits.max_records));
            }
            if record.class != Class::IN {
                return Err(TransferError::WrongClass(record.name));
            }
            if !record.name.is_subdomain_of(&self.zone) {
                return Err(TransferError::OutOfZone(record.name));
            }
            let last_in_message = index + 1 == count;
            self.record(record, last_in_message)?;
        }
        Ok(self.state == State::Done)
    }

    fn apex_soa_serial(&self, record: &Record) -> Result<Option<u32>, TransferError> {
        if record.rtype != RType::SOA {
            return Ok(None);
        }
        if record.name != self.zone {
            return Err(TransferError::Malformed("SOA record below the zone apex"));
        }
        record
            .soa_serial()
            .map(Some)
            .ok_or(TransferError::Malformed("SOA record too short"))
    }

    fn record(&mut self, record: Record, last_in_message: bool) -> Result<(), TransferError> {
        let soa_serial = self.apex_soa_serial(&record)?;
        match self.state {
            State::Start => {
                let Some(serial) = soa_serial else {
                    return Err(TransferError::Malformed("the first record is not the SOA"));
                };
                self.serial = serial;
                self.soa = Some(record);
                match self.current_serial {
                    Some(current) if !serial_newer(serial, current) => {
                        if !last_in_message {
                            return Err(TransferError::Malformed(
                                "records after an up-to-date SOA",
                            ));
                        }
                        self.up_to_date = true;
                        self.state = State::Done;
                    }
                    _ => self.state = State::AfterFirstSoa,
                }
            }
            State::AfterFirstSoa => match (soa_serial, self.current_serial) {
                // IXFR, incremental: the SOA of the version we hold.
                (Some(serial), Some(current)) if serial != self.serial => {
                    if serial != current {
                        return Err(TransferError::Malformed(
                            "the first change does not start at our serial",
                        ));
                    }
                    self.start_change(serial);
                }
                // A zone holding only its SOA.
                (Some(serial), _) => self.close(serial)?,
                (None, _) => {
                    self.records.push(record);
                    self.state = State::Full;
                }
            },
            State::Full => match soa_serial {
                Some(serial) => self.close(serial)?,
                None => self.records.push(record),
            },
            State::Removing => match soa_serial {
                Some(serial) => {
                    if let Some(change) = self.changes.last_mut() {
                        change.to_serial = serial;
                    }
                    self.state = State::Adding;
                }
                None => {
                    if let Some(change) = self.changes.last_mut() {
                        change.removed.push(record);
                    }
                }
            },
            State::Adding => match soa_serial {
                Some(serial) => {
                    let reached = self.changes.last().map(|change| change.to_serial);
                    if serial == self.serial && reached == Some(serial) {
                        self.close(serial)?;
                    } else if reached == Some(serial) {
                        self.start_change(serial);
                    } else {
                        return Err(TransferError::Malformed("changes out of sequence"));
                    }
                }
                None => {
                    if let Some(change) = self.changes.last_mut() {
                        change.added.push(record);
                    }
                }
            },
            State::Done => return Err(TransferError::Malformed("records after the closing SOA")),
        }
        if self.state == State::Done && !last_in_message {
            return Err(TransferError::Malformed("records after the closing SOA"));
        }
        Ok(())
    }

    fn start_change(&mut self, from_serial: u32) {
        self.changes.push(Change {
            from_serial,
            to_serial: from_serial,
            removed: Vec::new(),
            added: Vec::new(),
        });
        self.state = State::Removing;
    }

    fn close(&mut self, serial: u32) -> Result<(), TransferError> {
        if serial != self.serial {
            return Err(TransferError::Malformed(
                "the closing SOA differs from the first",
            ));
        }
        self.state = State::Done;
        Ok(())
    }

    /// The transfer, once [`Reader::feed`] returned `true`.
    pub(crate) fn finish(self) -> Result<Transfer, TransferError> {
        let (State::Done, Some(soa)) = (self.state, self.soa) else {
            return Err(TransferError::Incomplete);
        };
        if self.up_to_date {
            return Ok(Transfer::UpToDate);
        }
        if self.changes.is_empty() {
            Ok(Transfer::Full {
                soa,
                records: self.records,
            })
        } else {
            Ok(Transfer::Incremental {
                soa,
                changes: self.changes,
            })
        }
    }
}
