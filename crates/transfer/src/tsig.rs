//! Transaction signatures (TSIG, RFC 8945) for zone transfers.
//!
//! The request is signed (§5.1); every response message is checked
//! (§5.3, §5.4): the first against the request MAC with all TSIG variables,
//! later ones per §5.3.1 against the previous MAC, the messages since the
//! last signed one, and the timers only. Up to 99 unsigned messages may
//! follow a signed one; the first and the last message must be signed.
//!
//! # Limitations
//! hmac-sha256 and hmac-sha512 only; MACs must have the full length of the
//! hash (no truncation, RFC 8945 §5.2.2.1).

use crate::base64;
use crate::error::TsigError;
use hanse_wire::{Name, RType};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The allowed difference between the signer's clock and ours, in seconds
/// (RFC 8945 §10 recommends 300).
pub(crate) const FUDGE: u16 = 300;

/// The most unsigned messages that may follow a signed one (RFC 8945 §5.3.1).
const MAX_UNSIGNED_RUN: usize = 99;

/// The class of a TSIG record: ANY.
const CLASS_ANY: u16 = 255;

/// A TSIG algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsigAlgorithm {
    /// `hmac-sha256.` (RFC 4635).
    HmacSha256,
    /// `hmac-sha512.` (RFC 4635).
    HmacSha512,
}

impl TsigAlgorithm {
    /// The algorithm's name as it appears in the TSIG record.
    pub fn name(self) -> Name {
        let text = match self {
            TsigAlgorithm::HmacSha256 => "hmac-sha256.",
            TsigAlgorithm::HmacSha512 => "hmac-sha512.",
        };
        Name::from_ascii(text).unwrap_or_else(|_| Name::root())
    }

    /// The algorithm with this name, if supported.
    pub fn from_name(name: &Name) -> Option<TsigAlgorithm> {
        [TsigAlgorithm::HmacSha256, TsigAlgorithm::HmacSha512]
            .into_iter()
            .find(|algorithm| algorithm.name() == *name)
    }

    /// The length of a full MAC in octets.
    pub fn mac_length(self) -> usize {
        match self {
            TsigAlgorithm::HmacSha256 => 32,
            TsigAlgorithm::HmacSha512 => 64,
        }
    }
}

impl FromStr for TsigAlgorithm {
    type Err = TsigKeyError;

    /// Parses `hmac-sha256` or `hmac-sha512`, with or without the final dot.
    fn from_str(text: &str) -> Result<TsigAlgorithm, TsigKeyError> {
        let name = Name::from_ascii(text).map_err(|_| TsigKeyError::UnknownAlgorithm)?;
        TsigAlgorithm::from_name(&name).ok_or(TsigKeyError::UnknownAlgorithm)
    }
}

/// Why a TSIG key could not be made from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TsigKeyError {
    /// The secret is not valid base64.
    #[error("the secret is not valid base64")]
    BadBase64,
    /// The secret is empty.
    #[error("the secret is empty")]
    EmptySecret,
    /// The algorithm is not hmac-sha256 or hmac-sha512.
    #[error("unsupported TSIG algorithm")]
    UnknownAlgorithm,
}

/// A TSIG key: its name, algorithm and shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key name, as configured on both sides.
    pub name: Name,
    /// The MAC algorithm.
    pub algorithm: TsigAlgorithm,
    secret: Box<[u8]>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TsigKey {
    /// A key with a binary secret.
    pub fn new(
        name: Name,
        algorithm: TsigAlgorithm,
        secret: &[u8],
    ) -> Result<TsigKey, TsigKeyError> {
        if secret.is_empty() {
            return Err(TsigKeyError::EmptySecret);
        }
        Ok(TsigKey {
            name,
            algorithm,
            secret: secret.into(),
        })
    }

    /// A key with its secret in base64, as in BIND, NSD and Knot
    /// configuration files.
    pub fn from_base64(
        name: Name,
        algorithm: TsigAlgorithm,
        secret: &str,
    ) -> Result<TsigKey, TsigKeyError> {
        let secret = base64::decode(secret).ok_or(TsigKeyError::BadBase64)?;
        TsigKey::new(name, algorithm, &secret)
    }

    fn mac(&self) -> MacState {
        // HMAC accepts keys of any length, so these never fail; an empty
        // secret is refused by the constructors anyway.
        match self.algorithm {
            TsigAlgorithm::HmacSha256 => MacState::Sha256(
                Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length"),
            ),
            TsigAlgorithm::HmacSha512 => MacState::Sha512(
                Hmac::<Sha512>::new_from_slice(&self.secret).expect("HMAC takes any key length"),
            ),
        }
    }
}

/// A running HMAC computation.
enum MacState {
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl MacState {
    fn update(&mut self, data: &[u8]) {
        match self {
            MacState::Sha256(mac) => mac.update(data),
            MacState::Sha512(mac) => mac.update(data),
        }
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            MacState::Sha256(mac) => mac.finalize().into_bytes().to_vec(),
            MacState::Sha512(mac) => mac.finalize().into_bytes().to_vec(),
        }
    }

    /// Compares in constant time.
    fn verify(self, expected: &[u8]) -> bool {
        match self {
            MacState::Sha256(mac) => mac.verify_slice(expected).is_ok(),
            MacState::Sha512(mac) => mac.verify_slice(expected).is_ok(),
        }
    }
}

/// Seconds since the epoch, as TSIG counts time.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn push_u48(buffer: &mut Vec<u8>, value: u64) {
    buffer.extend_from_slice(&value.to_be_bytes()[2..]);
}

/// Signs `message` (a complete request without TSIG) in place: appends the
/// TSIG record and counts it in ARCOUNT. Returns the request MAC, which
/// the first response message is verified against.
pub(crate) fn sign_request(key: &TsigKey, message: &mut Vec<u8>, time: u64) -> Vec<u8> {
    let algorithm = key.algorithm.name();
    let mut variables = Vec::with_capacity(64);
    variables.extend_from_slice(key.name.to_lowercase().as_wire());
    variables.extend_from_slice(&CLASS_ANY.to_be_bytes());
    variables.extend_from_slice(&0u32.to_be_bytes());
    variables.extend_from_slice(algorithm.as_wire());
    push_u48(&mut variables, time);
    variables.extend_from_slice(&FUDGE.to_be_bytes());
    variables.extend_from_slice(&0u16.to_be_bytes()); // error
    variables.extend_from_slice(&0u16.to_be_bytes()); // other length

    let mut state = key.mac();
    state.update(message);
    state.update(&variables);
    let mac = state.finalize();

    let mut data = Vec::with_capacity(algorithm.as_wire().len() + 16 + mac.len());
    data.extend_from_slice(algorithm.as_wire());
    push_u48(&mut data, time);
    data.extend_from_slice(&FUDGE.to_be_bytes());
    data.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    data.extend_from_slice(&mac);
    data.extend_from_slice(&message[0..2]); // original ID
    data.extend_from_slice(&0u16.to_be_bytes()); // error
    data.extend_from_slice(&0u16.to_be_bytes()); // other length

    message.extend_from_slice(key.name.as_wire());
    message.extend_from_slice(&RType::TSIG.0.to_be_bytes());
    message.extend_from_slice(&CLASS_ANY.to_be_bytes());
    message.extend_from_slice(&0u32.to_be_bytes());
    message.extend_from_slice(&(data.len() as u16).to_be_bytes());
    message.extend_from_slice(&data);
    let additional_count = u16::from_be_bytes([message[10], message[11]]).wrapping_add(1);
    message[10..12].copy_from_slice(&additional_count.to_be_bytes());
    mac
}

/// The fields of a TSIG record found at the end of a message.
struct Found<'a> {
    /// Where the TSIG record starts.
    offset: usize,
    key_name: Name,
    class: u16,
    ttl: u32,
    algorithm: Name,
    algorithm_wire: &'a [u8],
    time: u64,
    fudge: u16,
    mac: &'a [u8],
    original_id: [u8; 2],
    error: u16,
    other: &'a [u8],
}

/// The length of the uncompressed name at the start of `data`.
fn uncompressed_name_length(data: &[u8]) -> Option<usize> {
    let mut position = 0;
    loop {
        let length = usize::from(*data.get(position)?);
        if length & 0xc0 != 0 || position > 255 {
            return None;
        }
        position += length + 1;
        if length == 0 {
            return Some(position);
        }
    }
}

/// Skips a possibly compressed name at `position`; returns the position after it.
fn skip_name(packet: &[u8], mut position: usize) -> Option<usize> {
    loop {
        let length = *packet.get(position)?;
        match length & 0xc0 {
            0xc0 => return Some(position + 2).filter(|&next| next <= packet.len()),
            0x00 if length == 0 => return Some(position + 1),
            0x00 => position += usize::from(length) + 1,
            _ => return None,
        }
    }
}

fn read_u16(data: &[u8], position: usize) -> Option<u16> {
    let bytes = data.get(position..position + 2)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Finds the TSIG record of `packet`, if the last record is one.
/// `Err` if the packet cannot be walked or the TSIG record is malformed.
fn find_tsig(packet: &[u8]) -> Result<Option<Found<'_>>, TsigError> {
    let count = |index: usize| read_u16(packet, index).map(usize::from);
    let (Some(questions), Some(answers), Some(authorities), Some(additionals)) =
        (count(4), count(6), count(8), count(10))
    else {
        return Err(TsigError::Malformed);
    };
    if additionals == 0 {
        return Ok(None);
    }
    let mut position = 12;
    for _ in 0..questions {
        position = skip_name(packet, position).ok_or(TsigError::Malformed)? + 4;
    }
    let mut last = position;
    for _ in 0..answers + authorities + additionals {
        last = position;
        position = skip_name(packet, position).ok_or(TsigError::Malformed)?;
        let length = read_u16(packet, position + 8).ok_or(TsigError::Malformed)?;
        position += 10 + usize::from(length);
        if position > packet.len() {
            return Err(TsigError::Malformed);
        }
    }
    let (key_name, after_name) =
        Name::parse_compressed(packet, last).map_err(|_| TsigError::Malformed)?;
    if read_u16(packet, after_name) != Some(RType::TSIG.0) {
        return Ok(None);
    }
    // The TSIG record must be the last thing in the message (§5.4).
    if position != packet.len() {
        return Err(TsigError::Malformed);
    }
    let class = read_u16(packet, after_name + 2).ok_or(TsigError::Malformed)?;
    let ttl_bytes = packet
        .get(after_name + 4..after_name + 8)
        .ok_or(TsigError::Malformed)?;
    let ttl = u32::from_be_bytes([ttl_bytes[0], ttl_bytes[1], ttl_bytes[2], ttl_bytes[3]]);
    let data = &packet[after_name + 10..];
    let name_length = uncompressed_name_length(data).ok_or(TsigError::Malformed)?;
    let algorithm_wire = &data[..name_length];
    let algorithm = Name::from_wire(algorithm_wire).map_err(|_| TsigError::Malformed)?;
    let fixed = data
        .get(name_length..name_length + 10)
        .ok_or(TsigError::Malformed)?;
    let mut time_bytes = [0u8; 8];
    time_bytes[2..].copy_from_slice(&fixed[..6]);
    let time = u64::from_be_bytes(time_bytes);
    let fudge = u16::from_be_bytes([fixed[6], fixed[7]]);
    let mac_length = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let mac_start = name_length + 10;
    let mac = data
        .get(mac_start..mac_start + mac_length)
        .ok_or(TsigError::Malformed)?;
    let rest = &data[mac_start + mac_length..];
    let tail = rest.get(..6).ok_or(TsigError::Malformed)?;
    let original_id = [tail[0], tail[1]];
    let error = u16::from_be_bytes([tail[2], tail[3]]);
    let other_length = usize::from(u16::from_be_bytes([tail[4], tail[5]]));
    let other = rest.get(6..6 + other_length).ok_or(TsigError::Malformed)?;
    if 6 + other_length != rest.len() {
        return Err(TsigError::Malformed);
    }
    Ok(Some(Found {
        offset: last,
        key_name,
        class,
        ttl,
        algorithm,
        algorithm_wire,
        time,
        fudge,
        mac,
        original_id,
        error,
        other,
    }))
}

/// The message as it was before the TSIG record was added: without the
/// record, ARCOUNT one less, and the original ID (RFC 8945 §4.3.1).
fn strip(packet: &[u8], found: &Found<'_>) -> Vec<u8> {
    let mut stripped = packet[..found.offset].to_vec();
    stripped[0..2].copy_from_slice(&found.original_id);
    let additional_count = u16::from_be_bytes([stripped[10], stripped[11]]).wrapping_sub(1);
    stripped[10..12].copy_from_slice(&additional_count.to_be_bytes());
    stripped
}

/// Checks the response messages of one transfer, in order.
pub(crate) struct Verifier<'k> {
    key: &'k TsigKey,
    /// The MAC of the last signed message (at first, of the request).
    prior_mac: Vec<u8>,
    /// The digest of the prior MAC and the unsigned messages since.
    pending: MacState,
    unsigned_run: usize,
    first: bool,
    last_signed: bool,
}

impl<'k> Verifier<'k> {
    pub(crate) fn new(key: &'k TsigKey, request_mac: Vec<u8>) -> Verifier<'k> {
        let pending = Verifier::start(key, &request_mac);
        Verifier {
            key,
            prior_mac: request_mac,
            pending,
            unsigned_run: 0,
            first: true,
            last_signed: false,
        }
    }

    fn start(key: &TsigKey, prior_mac: &[u8]) -> MacState {
        let mut state = key.mac();
        state.update(&(prior_mac.len() as u16).to_be_bytes());
        state.update(prior_mac);
        state
    }

    /// Checks one response message, as received.
    pub(crate) fn check(&mut self, packet: &[u8], now: u64) -> Result<(), TsigError> {
        let Some(found) = find_tsig(packet)? else {
            if self.first || self.unsigned_run >= MAX_UNSIGNED_RUN {
                return Err(TsigError::Missing);
            }
            self.pending.update(packet);
            self.unsigned_run += 1;
            self.last_signed = false;
            return Ok(());
        };
        if found.class != CLASS_ANY {
            return Err(TsigError::Malformed);
        }
        if found.key_name != self.key.name || found.algorithm != self.key.algorithm.name() {
            return Err(TsigError::WrongKey);
        }
        if found.error != 0 {
            return Err(TsigError::Refused(found.error));
        }
        if found.mac.len() != self.key.algorithm.mac_length() {
            return Err(TsigError::BadSignature);
        }
        let stripped = strip(packet, &found);
        let mut state = std::mem::replace(&mut self.pending, self.key.mac());
        state.update(&stripped);
        if self.first {
            let mut variables = Vec::with_capacity(64);
            variables.extend_from_slice(found.key_name.to_lowercase().as_wire());
            variables.extend_from_slice(&found.class.to_be_bytes());
            variables.extend_from_slice(&found.ttl.to_be_bytes());
            variables.extend_from_slice(found.algorithm_wire.to_ascii_lowercase().as_slice());
            push_u48(&mut variables, found.time);
            variables.extend_from_slice(&found.fudge.to_be_bytes());
            variables.extend_from_slice(&found.error.to_be_bytes());
            variables.extend_from_slice(&(found.other.len() as u16).to_be_bytes());
            variables.extend_from_slice(found.other);
            state.update(&variables);
        } else {
            let mut timers = Vec::with_capacity(8);
            push_u48(&mut timers, found.time);
            timers.extend_from_slice(&found.fudge.to_be_bytes());
            state.update(&timers);
        }
        if !state.verify(found.mac) {
            return Err(TsigError::BadSignature);
        }
        if now.abs_diff(found.time) > u64::from(found.fudge) {
            return Err(TsigError::BadTime);
        }
        self.prior_mac = found.mac.to_vec();
        self.pending = Verifier::start(self.key, &self.prior_mac);
        self.unsigned_run = 0;
        self.first = false;
        self.last_signed = true;
        Ok(())
    }

    /// Checks that the last message was signed.
    pub(crate) fn finish(&self) -> Result<(), TsigError> {
        if self.last_signed {
            Ok(())
        } else {
            Err(TsigError::Missing)
        }
    }
}

/// Signs the response messages of one transfer, in order (RFC 8945 §5.3):
/// the first with the request MAC and all TSIG variables, later ones with
/// the previous MAC, the messages since, and the timers only.
pub(crate) struct Signer {
    key: TsigKey,
    pending: MacState,
    first: bool,
}

impl Signer {
    pub(crate) fn new(key: &TsigKey, request_mac: Vec<u8>) -> Signer {
        let pending = Verifier::start(key, &request_mac);
        Signer {
            key: key.clone(),
            pending,
            first: true,
        }
    }

    /// Signs `message` (or, with `sign` false, only feeds it to the digest).
    pub(crate) fn sign(&mut self, message: &mut Vec<u8>, time: u64, sign: bool) {
        if !sign {
            self.pending.update(message);
            return;
        }
        self.sign_with_error(message, time, 0, &[]);
    }

    /// Signs `message` with a TSIG error code and other data (BADTIME
    /// carries the server's time there, RFC 8945 §5.2.3).
    pub(crate) fn sign_with_error(
        &mut self,
        message: &mut Vec<u8>,
        time: u64,
        error: u16,
        other: &[u8],
    ) {
        let mut state = std::mem::replace(&mut self.pending, self.key.mac());
        state.update(message);
        let algorithm = self.key.algorithm.name();
        let mut variables = Vec::new();
        if self.first {
            variables.extend_from_slice(self.key.name.to_lowercase().as_wire());
            variables.extend_from_slice(&CLASS_ANY.to_be_bytes());
            variables.extend_from_slice(&0u32.to_be_bytes());
            variables.extend_from_slice(algorithm.as_wire());
            push_u48(&mut variables, time);
            variables.extend_from_slice(&FUDGE.to_be_bytes());
            variables.extend_from_slice(&error.to_be_bytes());
            variables.extend_from_slice(&(other.len() as u16).to_be_bytes());
            variables.extend_from_slice(other);
        } else {
            push_u48(&mut variables, time);
            variables.extend_from_slice(&FUDGE.to_be_bytes());
        }
        state.update(&variables);
        let mac = state.finalize();
        append_tsig(
            message,
            &self.key.name,
            &algorithm,
            time,
            &mac,
            error,
            other,
        );
        self.pending = Verifier::start(&self.key, &mac);
        self.first = false;
    }
}

/// Appends a TSIG record to `message` and counts it in ARCOUNT.
fn append_tsig(
    message: &mut Vec<u8>,
    key_name: &Name,
    algorithm: &Name,
    time: u64,
    mac: &[u8],
    error: u16,
    other: &[u8],
) {
    let mut data = Vec::with_capacity(algorithm.as_wire().len() + 16 + mac.len() + other.len());
    data.extend_from_slice(algorithm.as_wire());
    push_u48(&mut data, time);
    data.extend_from_slice(&FUDGE.to_be_bytes());
    data.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    data.extend_from_slice(mac);
    data.extend_from_slice(&message[0..2]);
    data.extend_from_slice(&error.to_be_bytes());
    data.extend_from_slice(&(other.len() as u16).to_be_bytes());
    data.extend_from_slice(other);
    message.extend_from_slice(key_name.as_wire());
    message.extend_from_slice(&RType::TSIG.0.to_be_bytes());
    message.extend_from_slice(&CLASS_ANY.to_be_bytes());
    message.extend_from_slice(&0u32.to_be_bytes());
    message.extend_from_slice(&(data.len() as u16).to_be_bytes());
    message.extend_from_slice(&data);
    let count = u16::from_be_bytes([message[10], message[11]]).wrapping_add(1);
    message[10..12].copy_from_slice(&count.to_be_bytes());
}

/// Appends an unsigned TSIG record carrying `error` (BADKEY, BADSIG) to an
/// error response: no MAC, as RFC 8945 §5.3.2 asks when the request's
/// signature could not be checked.
pub(crate) fn append_unsigned_error(
    message: &mut Vec<u8>,
    key_name: &Name,
    algorithm: &Name,
    time: u64,
    error: u16,
) {
    append_tsig(message, key_name, algorithm, time, &[], error, &[]);
}

/// The key name and algorithm of a request's TSIG record, if it has one.
/// `Err` if the TSIG record is malformed.
pub(crate) fn request_key(packet: &[u8]) -> Result<Option<(Name, Name)>, TsigError> {
    Ok(find_tsig(packet)?.map(|found| (found.key_name, found.algorithm)))
}

/// Why a signed request was not accepted (RFC 8945 §5.2): the TSIG error
/// code to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestRejection {
    /// The MAC does not verify: BADSIG (16).
    BadSignature,
    /// The time is outside the fudge window: BADTIME (18), signed.
    BadTime,
}

/// Verifies a signed request with `key` (whose name and algorithm the caller
/// matched with [`request_key`]). Returns the request MAC, which the
/// response's first message is signed with.
pub(crate) fn verify_request(
    packet: &[u8],
    key: &TsigKey,
    now: u64,
) -> Result<Vec<u8>, RequestRejection> {
    let Ok(Some(found)) = find_tsig(packet) else {
        return Err(RequestRejection::BadSignature);
    };
    if found.class != CLASS_ANY || found.mac.len() != key.algorithm.mac_length() {
        return Err(RequestRejection::BadSignature);
    }
    let stripped = strip(packet, &found);
    let mut state = key.mac();
    state.update(&stripped);
    let mut variables = Vec::with_capacity(64);
    variables.extend_from_slice(found.key_name.to_lowercase().as_wire());
    variables.extend_from_slice(&found.class.to_be_bytes());
    variables.extend_from_slice(&found.ttl.to_be_bytes());
    variables.extend_from_slice(found.algorithm_wire.to_ascii_lowercase().as_slice());
    push_u48(&mut variables, found.time);
    variables.extend_from_slice(&found.fudge.to_be_bytes());
    variables.extend_from_slice(&found.error.to_be_bytes());
    variables.extend_from_slice(&(found.other.len() as u16).to_be_bytes());
    variables.extend_from_slice(found.other);
    state.update(&variables);
    if !state.verify(found.mac) {
        return Err(RequestRejection::BadSignature);
    }
    if now.abs_diff(found.time) > u64::from(found.fudge) {
        return Err(RequestRejection::BadTime);
    }
    Ok(found.mac.to_vec())
}

/// Reads the MAC of a signed request without checking it.
pub(crate) fn request_mac(packet: &[u8]) -> Option<Vec<u8>> {
    find_tsig(packet).ok()?.map(|found| found.mac.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::compose_query;

    fn key(secret: &[u8]) -> TsigKey {
        TsigKey::new(
            Name::from_ascii("key.example.").unwrap(),
            TsigAlgorithm::HmacSha256,
            secret,
        )
        .unwrap()
    }

    fn response(id: u16) -> Vec<u8> {
        let mut message = compose_query(
            id,
            &Name::from_ascii("example.").unwrap(),
            RType::AXFR,
            false,
            None,
        );
        message[2] |= 0x80;
        message
    }

    #[test]
    fn signs_and_verifies_a_multi_message_response() {
        let key = key(b"0123456789abcdef");
        let mut request = compose_query(
            7,
            &Name::from_ascii("example.").unwrap(),
            RType::AXFR,
            false,
            None,
        );
        let mac = sign_request(&key, &mut request, 1_000_000);
        assert_eq!(request_mac(&request), Some(mac.clone()));
        let mut signer = Signer::new(&key, mac.clone());
        let mut verifier = Verifier::new(&key, mac);
        for index in 0..5 {
            let mut message = response(7);
            let sign = index == 0 || index == 2 || index == 4;
            signer.sign(&mut message, 1_000_000, sign);
            verifier.check(&message, 1_000_100).unwrap();
        }
        verifier.finish().unwrap();
    }

    #[test]
    fn refuses_wrong_key_time_and_missing_signatures() {
        let right = key(b"0123456789abcdef");
        let wrong = key(b"fedcba9876543210");
        let mut request = compose_query(
            7,
            &Name::from_ascii("example.").unwrap(),
            RType::AXFR,
            false,
            None,
        );
        let mac = sign_request(&right, &mut request, 1_000_000);

        let mut message = response(7);
        Signer::new(&wrong, mac.clone()).sign(&mut message, 1_000_000, true);
        let result = Verifier::new(&right, mac.clone()).check(&message, 1_000_000);
        assert_eq!(result, Err(TsigError::BadSignature));

        let mut message = response(7);
        Signer::new(&right, mac.clone()).sign(&mut message, 1_000_000, true);
        let result = Verifier::new(&right, mac.clone()).check(&message, 1_000_301);
        assert_eq!(result, Err(TsigError::BadTime));

        // A flipped bit in a signed message.
        let mut message = response(7);
        Signer::new(&right, mac.clone()).sign(&mut message, 1_000_000, true);
        message[3] ^= 1;
        let result = Verifier::new(&right, mac.clone()).check(&message, 1_000_000);
        assert_eq!(result, Err(TsigError::BadSignature));

        // An unsigned first message.
        let result = Verifier::new(&right, mac.clone()).check(&response(7), 1_000_000);
        assert_eq!(result, Err(TsigError::Missing));

        // An unsigned last message, and 100 unsigned in a row.
        let mut signer = Signer::new(&right, mac.clone());
        let mut verifier = Verifier::new(&right, mac);
        let mut message = response(7);
        signer.sign(&mut message, 1_000_000, true);
        verifier.check(&message, 1_000_000).unwrap();
        for _ in 0..MAX_UNSIGNED_RUN {
            verifier.check(&response(7), 1_000_000).unwrap();
        }
        assert_eq!(verifier.finish(), Err(TsigError::Missing));
        assert_eq!(
            verifier.check(&response(7), 1_000_000),
            Err(TsigError::Missing)
        );
    }

    #[test]
    fn never_panics_on_truncated_messages() {
        let key = key(b"0123456789abcdef");
        let mut request = compose_query(
            7,
            &Name::from_ascii("example.").unwrap(),
            RType::AXFR,
            false,
            None,
        );
        let mac = sign_request(&key, &mut request, 1_000_000);
        let mut message = response(7);
        Signer::new(&key, mac.clone()).sign(&mut message, 1_000_000, true);
        for length in 0..message.len() {
            let result = Verifier::new(&key, mac.clone()).check(&message[..length], 1_000_000);
            assert!(result.is_err(), "{length}");
        }
    }

    #[test]
    fn algorithm_names() {
        assert_eq!("hmac-sha256".parse(), Ok(TsigAlgorithm::HmacSha256));
        assert_eq!("HMAC-SHA512.".parse(), Ok(TsigAlgorithm::HmacSha512));
        assert_eq!(
            "hmac-md5".parse::<TsigAlgorithm>(),
            Err(TsigKeyError::UnknownAlgorithm)
        );
    }
}
