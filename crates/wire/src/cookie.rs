//! DNS cookies (RFC 7873) with the interoperable server cookie of RFC 9018,
//! and the few allocation-free message walks they need: finding an EDNS
//! option in a message and appending one to a composed message in place.
//!
//! - [`Cookie::parse`] reads the data of a COOKIE option (code 10): an
//!   8-octet client cookie, then nothing or a server cookie of 8 to 32
//!   octets. Any other length is malformed (RFC 7873 §5.2.2: FORMERR).
//! - [`siphash24`] is SipHash-2-4 (Aumasson and Bernstein, 2012) with a
//!   128-bit key, the function RFC 9018 §4.4 names.
//! - [`ServerSecrets`] makes and checks RFC 9018 server cookies: version 1,
//!   three reserved octets, a 32-bit timestamp in seconds and the SipHash of
//!   client cookie | version | reserved | timestamp | client address under a
//!   128-bit secret. A cookie is good from one hour in the past to five
//!   minutes in the future (RFC 9018 §4.3, timestamps compared in RFC 1982
//!   serial arithmetic) and is renewed when older than half an hour. A
//!   previous secret stays accepted during a rotation.
//! - [`client_cookie`] derives the client cookie a resolver sends to one
//!   server from its own secret, its address and the server's address
//!   (RFC 7873 §4.1, the SipHash form of Appendix A.2 of RFC 7873).
//!
//! # Limitations
//! - Only the first COOKIE option of a message counts (RFC 7873 §5.2).
//! - Server cookies of other constructions (older BIND or Knot forms) are
//!   never valid here: the client simply learns a new one.
//! - The walks read names by their label lengths only; they trust nothing
//!   but also check nothing beyond what they need to find the OPT record.

use std::net::IpAddr;

/// The EDNS option code of COOKIE (RFC 7873 §4).
pub const COOKIE_OPTION: u16 = 10;
/// The length of a client cookie.
pub const CLIENT_COOKIE_LENGTH: usize = 8;
/// The length of an RFC 9018 server cookie.
pub const SERVER_COOKIE_LENGTH: usize = 16;
/// The data of a COOKIE option carrying a client cookie and an RFC 9018
/// server cookie.
pub const COOKIE_DATA_LENGTH: usize = CLIENT_COOKIE_LENGTH + SERVER_COOKIE_LENGTH;
/// The version octet of RFC 9018 server cookies.
const VERSION: u8 = 1;
/// Seconds a server cookie stays good (RFC 9018 §4.3).
const LIFETIME: u32 = 3600;
/// Seconds after which a good server cookie is replaced by a new one.
const RENEW_AFTER: u32 = 1800;
/// Seconds a server cookie may come from the future (clock skew in a fleet).
const FUTURE_SKEW: u32 = 300;

/// Why a COOKIE option is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// The option is not 8 octets, nor 16 to 40.
    #[error("COOKIE option of {0} octets: a client cookie is 8, a server cookie 8 to 32")]
    BadLength(usize),
}

/// The contents of a COOKIE option, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie<'a> {
    /// The client cookie.
    pub client: [u8; CLIENT_COOKIE_LENGTH],
    /// The server cookie; empty when the sender had none.
    pub server: &'a [u8],
}

impl<'a> Cookie<'a> {
    /// Reads the data of a COOKIE option (RFC 7873 §4, §5.2.2).
    pub fn parse(data: &'a [u8]) -> Result<Cookie<'a>, CookieError> {
        let length = data.len();
        if length != CLIENT_COOKIE_LENGTH
            && !(CLIENT_COOKIE_LENGTH + 8..=CLIENT_COOKIE_LENGTH + 32).contains(&length)
        {
            return Err(CookieError::BadLength(length));
        }
        let mut client = [0u8; CLIENT_COOKIE_LENGTH];
        client.copy_from_slice(&data[..CLIENT_COOKIE_LENGTH]);
        Ok(Cookie {
            client,
            server: &data[CLIENT_COOKIE_LENGTH..],
        })
    }
}

/// SipHash-2-4 of `data` under the 128-bit `key` (the key's first eight
/// octets are k0, little-endian, as in the reference implementation).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes(key[..8].try_into().unwrap_or([0; 8]));
    let k1 = u64::from_le_bytes(key[8..].try_into().unwrap_or([0; 8]));
    let mut state = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        state[3] ^= word;
        sip_round(&mut state);
        sip_round(&mut state);
        state[0] ^= word;
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let word = u64::from_le_bytes(last);
    state[3] ^= word;
    sip_round(&mut state);
    sip_round(&mut state);
    state[0] ^= word;
    state[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut state);
    }
    state[0] ^ state[1] ^ state[2] ^ state[3]
}

fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// Writes the octets of `address` (4 or 16) into `buffer` from `at`; returns
/// the end.
fn put_address(buffer: &mut [u8], at: usize, address: IpAddr) -> usize {
    match address {
        IpAddr::V4(v4) => {
            buffer[at..at + 4].copy_from_slice(&v4.octets());
            at + 4
        }
        IpAddr::V6(v6) => {
            buffer[at..at + 16].copy_from_slice(&v6.octets());
            at + 16
        }
    }
}

/// The client cookie a resolver with `secret` at `client` sends to `server`
/// (RFC 7873 §4.1: different per server, unpredictable without the secret).
pub fn client_cookie(secret: &[u8; 16], client: IpAddr, server: IpAddr) -> [u8; 8] {
    let mut input = [0u8; 32];
    let end = put_address(&mut input, 0, client);
    let end = put_address(&mut input, end, server);
    siphash24(secret, &input[..end]).to_be_bytes()
}

/// What a server cookie received with a query is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCookieCheck {
    /// Made by us for this client and client cookie, and young enough to be
    /// sent back as it is.
    Good,
    /// Made by us and still good, but old (or made with the previous
    /// secret): answer with a new one.
    Renew,
    /// Not ours, for another client, expired, from too far in the future,
    /// or of another construction.
    Bad,
}

impl ServerCookieCheck {
    /// Whether the query counts as cookie-verified.
    pub fn is_valid(self) -> bool {
        self != ServerCookieCheck::Bad
    }
}

/// The secrets of a server's RFC 9018 cookies: the one new cookies are made
/// with, and the one before it, still accepted during a rotation.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSecrets {
    /// The secret new cookies are made with.
    pub current: [u8; 16],
    /// The secret in force before the last rotation.
    pub previous: Option<[u8; 16]>,
}

impl std::fmt::Debug for ServerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecrets(..)")
    }
}

/// The hash part of an RFC 9018 server cookie whose first eight octets
/// (version, reserved, timestamp) are `head`.
fn cookie_hash(secret: &[u8; 16], client_cookie: &[u8; 8], head: &[u8], client: IpAddr) -> u64 {
    let mut input = [0u8; 8 + 8 + 16];
    input[..8].copy_from_slice(client_cookie);
    input[8..16].copy_from_slice(head);
    let end = put_address(&mut input, 16, client);
    siphash24(secret, &input[..end])
}

impl ServerSecrets {
    /// Secrets with no previous one.
    pub fn new(current: [u8; 16]) -> ServerSecrets {
        ServerSecrets {
            current,
            previous: None,
        }
    }

    /// The server cookie for `client_cookie` from `client` at `now`
    /// (seconds since 1970, modulo 2^32).
    pub fn make(
        &self,
        client_cookie: &[u8; 8],
        client: IpAddr,
        now: u32,
    ) -> [u8; SERVER_COOKIE_LENGTH] {
        let mut cookie = [0u8; SERVER_COOKIE_LENGTH];
        cookie[0] = VERSION;
        cookie[4..8].copy_from_slice(&now.to_be_bytes());
        let hash = cookie_hash(&self.current, client_cookie, &cookie[..8], client);
        cookie[8..].copy_from_slice(&hash.to_le_bytes());
        cookie
    }

    /// Checks a server cookie received from `client` with `client_cookie`
    /// at `now` (RFC 9018 §4.3). The reserved octets are hashed as sent.
    pub fn check(
        &self,
        client_cookie: &[u8; 8],
        server_cookie: &[u8],
        client: IpAddr,
        now: u32,
    ) -> ServerCookieCheck {
        if server_cookie.len() != SERVER_COOKIE_LENGTH || server_cookie[0] != VERSION {
            return ServerCookieCheck::Bad;
        }
        let timestamp = u32::from_be_bytes([
            server_cookie[4],
            server_cookie[5],
            server_cookie[6],
            server_cookie[7],
        ]);
        // Serial arithmetic: the age is negative for a cookie from the future.
        let age = now.wrapping_sub(timestamp) as i32;
        if age > LIFETIME as i32 || age < -(FUTURE_SKEW as i32) {
            return ServerCookieCheck::Bad;
        }
        let hash = &server_cookie[8..];
        let head = &server_cookie[..8];
        if cookie_hash(&self.current, client_cookie, head, client).to_le_bytes() == hash {
            return if age > RENEW_AFTER as i32 {
                ServerCookieCheck::Renew
            } else {
                ServerCookieCheck::Good
            };
        }
        match &self.previous {
            Some(previous)
                if cookie_hash(previous, client_cookie, head, client).to_le_bytes() == hash =>
            {
                ServerCookieCheck::Renew
            }
            _ => ServerCookieCheck::Bad,
        }
    }

    /// The COOKIE option data of a response to a query that carried
    /// `cookie` from `client` at `now`: the client cookie and either the
    /// server cookie it sent back (when [`ServerCookieCheck::Good`]) or a
    /// new one. Returns it with the check of the server cookie received.
    pub fn respond(
        &self,
        cookie: &Cookie<'_>,
        client: IpAddr,
        now: u32,
    ) -> ([u8; COOKIE_DATA_LENGTH], ServerCookieCheck) {
        let check = if cookie.server.is_empty() {
            ServerCookieCheck::Bad
        } else {
            self.check(&cookie.client, cookie.server, client, now)
        };
        let mut data = [0u8; COOKIE_DATA_LENGTH];
        data[..CLIENT_COOKIE_LENGTH].copy_from_slice(&cookie.client);
        if check == ServerCookieCheck::Good {
            data[CLIENT_COOKIE_LENGTH..].copy_from_slice(cookie.server);
        } else {
            data[CLIENT_COOKIE_LENGTH..].copy_from_slice(&self.make(&cookie.client, client, now));
        }
        (data, check)
    }
}

/// Where the OPT record of a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptLocation {
    /// The offset of the OPT record's owner name (the root, one octet).
    pub record: usize,
    /// The offset of its RDATA (the options).
    pub data: usize,
    /// The length of its RDATA.
    pub data_length: usize,
}

impl OptLocation {
    /// The extended RCODE octet (the upper eight bits of a 12-bit RCODE).
    pub fn extended_rcode(&self, message: &[u8]) -> u8 {
        message.get(self.record + 5).copied().unwrap_or(0)
    }
}

/// The offset after the name at `at`, read by its label lengths (a
/// compression pointer ends it).
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    // At most 128 labels fit a 255-octet name; more is garbage.
    for _ in 0..=128 {
        let length = *message.get(at)?;
        match length {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return message.get(at + 1).map(|_| at + 2),
            l if l & 0xc0 == 0 => at += 1 + usize::from(l),
            _ => return None,
        }
    }
    None
}

/// Finds the OPT record of the additional section of `message`, without
/// allocating. `None` if there is none or the message is cut short.
pub fn find_opt(message: &[u8]) -> Option<OptLocation> {
    let count = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *message.get(at)?,
            *message.get(at + 1)?,
        ])))
    };
    let questions = count(4)?;
    let records_before = count(6)? + count(8)?;
    let additional = count(10)?;
    if additional == 0 {
        return None;
    }
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(message, at)? + 4;
    }
    for index in 0..records_before + additional {
        let owner = at;
        at = skip_name(message, at)?;
        let fixed = message.get(at..at + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let data_length = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data = at + 10;
        if data + data_length > message.len() {
            return None;
        }
        if index >= records_before && rtype == crate::RType::OPT.0 {
            return Some(OptLocation {
                record: owner,
                data,
                data_length,
            });
        }
        at = data + data_length;
    }
    None
}

/// The data of the first EDNS option with `code` in the OPT record at
/// `opt` of `message`.
pub fn find_option<'m>(message: &'m [u8], opt: &OptLocation, code: u16) -> Option<&'m [u8]> {
    let mut options = message.get(opt.data..opt.data + opt.data_length)?;
    while options.len() >= 4 {
        let option_code = u16::from_be_bytes([options[0], options[1]]);
        let length = usize::from(u16::from_be_bytes([options[2], options[3]]));
        let data = options.get(4..4 + length)?;
        if option_code == code {
            return Some(data);
        }
        options = &options[4 + length..];
    }
    None
}

/// The COOKIE option of `message`: `None` without one, an error when its
/// length is wrong.
pub fn find_cookie(message: &[u8]) -> Option<Result<Cookie<'_>, CookieError>> {
    let opt = find_opt(message)?;
    find_option(message, &opt, COOKIE_OPTION).map(Cookie::parse)
}

/// Appends an EDNS option to the OPT record of the message in
/// `buffer[..length]`, in place, when that record is the message's last
/// (as [`crate::MessageBuilder`] writes it) and its options are well
/// formed. Returns the new length, or `None` (nothing changed) without such
/// an OPT record or without room.
pub fn append_option(buffer: &mut [u8], length: usize, code: u16, data: &[u8]) -> Option<usize> {
    let opt = find_opt(buffer.get(..length)?)?;
    if opt.data + opt.data_length != length {
        return None;
    }
    // The options already there must tile the data exactly, or the new one
    // would be read as part of a broken one.
    let mut options = &buffer[opt.data..length];
    while !options.is_empty() {
        let option_length = usize::from(u16::from_be_bytes([*options.get(2)?, *options.get(3)?]));
        options = options.get(4 + option_length..)?;
    }
    let new_length = length + 4 + data.len();
    let new_data_length = u16::try_from(opt.data_length + 4 + data.len()).ok()?;
    if new_length > buffer.len() || new_length > 65535 {
        return None;
    }
    buffer[length..length + 2].copy_from_slice(&code.to_be_bytes());
    buffer[length + 2..length + 4].copy_from_slice(&(data.len() as u16).to_be_bytes());
    buffer[length + 4..new_length].copy_from_slice(data);
    buffer[opt.data - 2..opt.data].copy_from_slice(&new_data_length.to_be_bytes());
    Some(new_length)
}

/// [`append_option`] on a vector, which grows as needed. Returns whether the
/// option was added.
pub fn push_option(message: &mut Vec<u8>, code: u16, data: &[u8]) -> bool {
    let length = message.len();
    message.resize(length + 4 + data.len(), 0);
    match append_option(message, length, code, data) {
        Some(new_length) => {
            message.truncate(new_length);
            true
        }
        None => {
            message.truncate(length);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Edns, EdnsOption, Message, Name, RType, compose_query};

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key(text: &str) -> [u8; 16] {
        hex(text).try_into().unwrap()
    }

    fn eight(text: &str) -> [u8; 8] {
        hex(text).try_into().unwrap()
    }

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // The paper's key 00..0f and messages 00..(n-1); outputs as the
        // reference code prints them (little-endian octets).
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        let message: Vec<u8> = (0u8..64).collect();
        let expected = [
            (0, "310e0edd47db6f72"),
            (1, "fd67dc93c539f874"),
            (2, "5a4fa9d909806c0d"),
            (15, "e545be4961ca29a1"),
        ];
        for (length, output) in expected {
            assert_eq!(
                siphash24(&key, &message[..length]).to_le_bytes().to_vec(),
                hex(output),
                "length {length}"
            );
        }
        // Every length up to 64 against the standard library's SipHash-2-4.
        #[allow(deprecated)]
        for length in 0..64 {
            use std::hash::Hasher;
            let k0 = u64::from_le_bytes(key[..8].try_into().unwrap());
            let k1 = u64::from_le_bytes(key[8..].try_into().unwrap());
            let mut hasher = std::hash::SipHasher::new_with_keys(k0, k1);
            hasher.write(&message[..length]);
            assert_eq!(siphash24(&key, &message[..length]), hasher.finish());
        }
    }

    const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";

    #[test]
    fn server_cookies_match_rfc_9018_appendix_a() {
        let secrets = ServerSecrets::new(key(SECRET));
        let client: IpAddr = "198.51.100.100".parse().unwrap();
        // A.1: a client learns a new server cookie.
        let made = secrets.make(&eight("2464c4abcf10c957"), client, 1_559_731_985);
        assert_eq!(made.to_vec(), hex("010000005cf79f111f8130c3eee29480"));
        // A.2: 40 minutes later it is still good but renewed.
        let query = hex("2464c4abcf10c957010000005cf79f111f8130c3eee29480");
        let cookie = Cookie::parse(&query).unwrap();
        let (data, check) = secrets.respond(&cookie, client, 1_559_734_385);
        assert_eq!(check, ServerCookieCheck::Renew);
        assert_eq!(
            data.to_vec(),
            hex("2464c4abcf10c957010000005cf7a871d4a564a1442aca77")
        );
        // A.3: another client, whose cookie has reserved octets set.
        let other: IpAddr = "203.0.113.203".parse().unwrap();
        let query = hex("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
        let cookie = Cookie::parse(&query).unwrap();
        // Made at 1559727985, it was good then (the reserved octets are
        // hashed as sent) but is almost two hours old now: a new one.
        assert_eq!(
            secrets.check(&cookie.client, cookie.server, other, 1_559_727_985),
            ServerCookieCheck::Good
        );
        let (data, check) = secrets.respond(&cookie, other, 1_559_734_700);
        assert_eq!(check, ServerCookieCheck::Bad);
        assert_eq!(
            data.to_vec(),
            hex("fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e")
        );
        // The same cookie from another address is not ours.
        let elsewhere: IpAddr = "203.0.113.204".parse().unwrap();
        assert_eq!(
            secrets.check(&cookie.client, cookie.server, elsewhere, 1_559_727_985),
            ServerCookieCheck::Bad
        );
        // A.4: IPv6, after the secret rolled over.
        let rolled = ServerSecrets {
            current: key("445536bcd2513298075a5d379663c962"),
            previous: Some(key("dd3bdf9344b678b185a6f5cb60fca715")),
        };
        let v6: IpAddr = "2001:db8:220:1:59de:d0f4:8769:82b8".parse().unwrap();
        let query = hex("22681ab97d52c298010000005cf7c57926556bd0934c72f8");
        let cookie = Cookie::parse(&query).unwrap();
        let (data, check) = rolled.respond(&cookie, v6, 1_559_741_961);
        assert_eq!(check, ServerCookieCheck::Renew);
        assert_eq!(
            data.to_vec(),
            hex("22681ab97d52c298010000005cf7c609a6bb79d16625507a")
        );
        let without_previous = ServerSecrets::new(rolled.current);
        assert_eq!(
            without_previous.check(&cookie.client, cookie.server, v6, 1_559_741_961),
            ServerCookieCheck::Bad
        );
    }

    #[test]
    fn server_cookies_are_good_for_an_hour_and_five_minutes_ahead() {
        let secrets = ServerSecrets::new(key(SECRET));
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        let client_cookie = eight("0102030405060708");
        for (made, now, expected) in [
            (1000u32, 1000u32, ServerCookieCheck::Good),
            (1000, 2800, ServerCookieCheck::Good),
            (1000, 2801, ServerCookieCheck::Renew),
            (1000, 4600, ServerCookieCheck::Renew),
            (1000, 4601, ServerCookieCheck::Bad),
            (1300, 1000, ServerCookieCheck::Good),
            (1301, 1000, ServerCookieCheck::Bad),
            // Across the wrap of the 32-bit timestamp.
            (u32::MAX - 100, 100, ServerCookieCheck::Good),
        ] {
            let cookie = secrets.make(&client_cookie, client, made);
            assert_eq!(
                secrets.check(&client_cookie, &cookie, client, now),
                expected,
                "made {made}, checked {now}"
            );
        }
        let cookie = secrets.make(&client_cookie, client, 1000);
        let mut wrong_client_cookie = client_cookie;
        wrong_client_cookie[0] ^= 1;
        assert_eq!(
            secrets.check(&wrong_client_cookie, &cookie, client, 1000),
            ServerCookieCheck::Bad
        );
        assert_eq!(
            secrets.check(&client_cookie, &cookie[..8], client, 1000),
            ServerCookieCheck::Bad
        );
        // A good cookie is echoed as it is.
        let mut query = client_cookie.to_vec();
        query.extend_from_slice(&cookie);
        let (data, check) = secrets.respond(&Cookie::parse(&query).unwrap(), client, 1010);
        assert_eq!(check, ServerCookieCheck::Good);
        assert_eq!(data.to_vec(), query);
    }

    #[test]
    fn cookie_lengths_follow_rfc_7873() {
        for length in 0..=48 {
            let data = vec![7u8; length];
            let valid = length == 8 || (16..=40).contains(&length);
            assert_eq!(Cookie::parse(&data).is_ok(), valid, "length {length}");
        }
        let data = hex("00112233445566778899");
        assert_eq!(Cookie::parse(&data), Err(CookieError::BadLength(10)));
    }

    #[test]
    fn client_cookies_differ_per_server_and_secret() {
        let secret = key(SECRET);
        let me: IpAddr = "127.0.0.1".parse().unwrap();
        let one = client_cookie(&secret, me, "127.0.0.2".parse().unwrap());
        let two = client_cookie(&secret, me, "127.0.0.3".parse().unwrap());
        assert_ne!(one, two);
        assert_eq!(
            one,
            client_cookie(&secret, me, "127.0.0.2".parse().unwrap())
        );
        let mut other = secret;
        other[0] ^= 1;
        assert_ne!(one, client_cookie(&other, me, "127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn options_are_found_and_appended_in_place() {
        let name = Name::from_ascii("www.example.com.").unwrap();
        let edns = Edns {
            options: vec![EdnsOption {
                code: 8,
                data: vec![0, 1, 24, 0, 192, 0, 2].into(),
            }],
            ..Edns::default()
        };
        let mut message = compose_query(9, &name, RType::A, true, Some(edns));
        assert!(find_cookie(&message).is_none());
        let data = hex("2464c4abcf10c957");
        assert!(push_option(&mut message, COOKIE_OPTION, &data));
        let cookie = find_cookie(&message).unwrap().unwrap();
        assert_eq!(cookie.client.to_vec(), data);
        assert!(cookie.server.is_empty());
        let parsed = Message::parse(&message).unwrap();
        let options = parsed.edns.unwrap().options;
        assert_eq!(options.len(), 2);
        assert_eq!(options[1].code, COOKIE_OPTION);
        // No room, no OPT record: nothing changes.
        let length = message.len();
        let mut exact = message.clone();
        assert_eq!(append_option(&mut exact, length, 10, &data), None);
        assert_eq!(exact, message);
        let mut plain = compose_query(9, &name, RType::A, true, None);
        assert!(!push_option(&mut plain, COOKIE_OPTION, &data));
        assert_eq!(plain, compose_query(9, &name, RType::A, true, None));
        // A wrong length is reported.
        let mut bad = compose_query(9, &name, RType::A, true, Some(Edns::default()));
        assert!(push_option(&mut bad, COOKIE_OPTION, &[1, 2, 3]));
        assert_eq!(find_cookie(&bad), Some(Err(CookieError::BadLength(3))));
        // Options that do not tile the OPT data: nothing is appended.
        let mut broken = compose_query(9, &name, RType::A, true, Some(Edns::default()));
        let end = broken.len();
        broken.extend_from_slice(&[0, 8, 0, 9, 1]);
        broken[end - 1] = 5;
        assert!(!push_option(&mut broken, COOKIE_OPTION, &data));
        // Cut-short and garbage messages find nothing and do not panic.
        for end in 0..message.len() {
            let _ = find_cookie(&message[..end]);
        }
        assert!(find_opt(&[0xff; 40]).is_none());
    }
}
