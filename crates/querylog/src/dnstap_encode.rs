//! The encoding half of the dnstap export: `Dnstap` protocol-buffer messages
//! written by hand (no generated code), and Frame Streams frames.
//!
//! dnstap is defined by the schema `dnstap.proto` of the dnstap project
//! (<https://dnstap.info>); its messages are protocol buffers (proto2 wire
//! format: varints, length-delimited fields, little-endian fixed32). This
//! module writes the subset Hanse sends: a `Dnstap` of type `MESSAGE`
//! carrying one `Message` of type `CLIENT_QUERY` or `CLIENT_RESPONSE` with the
//! socket family and protocol, the client's address and port, the query and
//! response times and the DNS messages in wire form (RFC 1035 §4).
//!
//! Frame Streams (the fstrm protocol of the same project) carries them: a
//! data frame is a 32-bit big-endian length and the payload; a control frame
//! is an escape (a zero length), its own 32-bit length, a 32-bit control type
//! and fields (here only the content type). [`read_control`] parses the
//! control frames a collector sends back (ACCEPT, FINISH), every length
//! checked.
//!
//! Limitations: only the fields above are written (no `response_address`,
//! no `query_zone`, no `policy`); unknown control fields are skipped.

/// The content type of dnstap over Frame Streams.
pub const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";

/// Control frame types (Frame Streams).
pub(crate) const CONTROL_ACCEPT: u32 = 0x01;
pub(crate) const CONTROL_START: u32 = 0x02;
pub(crate) const CONTROL_STOP: u32 = 0x03;
pub(crate) const CONTROL_READY: u32 = 0x04;
pub(crate) const CONTROL_FINISH: u32 = 0x05;
/// The control field that names a content type.
const FIELD_CONTENT_TYPE: u32 = 0x01;
/// The largest control frame accepted from a collector.
pub(crate) const CONTROL_FRAME_MAX: usize = 512;

/// `Message.type` values Hanse sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnstapMessageType {
    /// A query a client sent to Hanse (`CLIENT_QUERY`, 5).
    ClientQuery,
    /// The response Hanse sent to a client (`CLIENT_RESPONSE`, 6).
    ClientResponse,
}

impl DnstapMessageType {
    fn number(self) -> u64 {
        match self {
            DnstapMessageType::ClientQuery => 5,
            DnstapMessageType::ClientResponse => 6,
        }
    }
}

/// `SocketProtocol` values: where the query came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketProtocol {
    Udp,
    Tcp,
    /// DNS over TLS.
    Tls,
    /// DNS over HTTPS.
    Https,
}

impl SocketProtocol {
    fn number(self) -> u64 {
        match self {
            SocketProtocol::Udp => 1,
            SocketProtocol::Tcp => 2,
            SocketProtocol::Tls => 3,
            SocketProtocol::Https => 4,
        }
    }

    /// The protocol for a transport name of the server (`udp`, `tcp`,
    /// `tls`, `https`); UDP for anything else.
    pub fn from_transport(name: &str) -> SocketProtocol {
        match name {
            "tcp" => SocketProtocol::Tcp,
            "tls" => SocketProtocol::Tls,
            "https" => SocketProtocol::Https,
            _ => SocketProtocol::Udp,
        }
    }
}

/// What one dnstap message says, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnstapMessage<'a> {
    pub message_type: DnstapMessageType,
    pub protocol: SocketProtocol,
    /// The client's address (4 or 16 bytes); `None` leaves out the address,
    /// the family and the port.
    pub client: Option<(std::net::IpAddr, u16)>,
    /// Seconds and nanoseconds since 1970 UTC.
    pub query_time: (u64, u32),
    /// The query in wire form; empty leaves it out.
    pub query_message: &'a [u8],
    /// For responses: when it was sent, and the response in wire form.
    pub response_time: Option<(u64, u32)>,
    pub response_message: &'a [u8],
}

/// A protocol-buffer writer over a byte vector.
struct ProtobufWriter<'o> {
    output: &'o mut Vec<u8>,
}

const WIRE_VARINT: u64 = 0;
const WIRE_LENGTH_DELIMITED: u64 = 2;
const WIRE_FIXED32: u64 = 5;

impl ProtobufWriter<'_> {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.output.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.output.push(value as u8);
    }

    fn key(&mut self, field: u64, wire_type: u64) {
        self.varint((field << 3) | wire_type);
    }

    fn uint(&mut self, field: u64, value: u64) {
        self.key(field, WIRE_VARINT);
        self.varint(value);
    }

    fn fixed32(&mut self, field: u64, value: u32) {
        self.key(field, WIRE_FIXED32);
        self.output.extend_from_slice(&value.to_le_bytes());
    }

    fn bytes(&mut self, field: u64, value: &[u8]) {
        self.key(field, WIRE_LENGTH_DELIMITED);
        self.varint(value.len() as u64);
        self.output.extend_from_slice(value);
    }
}

fn varint_length(mut value: u64) -> usize {
    let mut length = 1;
    while value >= 0x80 {
        value >>= 7;
        length += 1;
    }
    length
}

/// Appends the `Message` fields of `message` to `output`.
fn encode_message(message: &DnstapMessage<'_>, output: &mut Vec<u8>) {
    let mut writer = ProtobufWriter { output };
    writer.uint(1, message.message_type.number());
    if let Some((address, port)) = message.client {
        match address.to_canonical() {
            std::net::IpAddr::V4(v4) => {
                writer.uint(2, 1);
                writer.uint(3, message.protocol.number());
                writer.bytes(4, &v4.octets());
            }
            std::net::IpAddr::V6(v6) => {
                writer.uint(2, 2);
                writer.uint(3, message.protocol.number());
                writer.bytes(4, &v6.octets());
            }
        }
        writer.uint(6, u64::from(port));
    } else {
        writer.uint(3, message.protocol.number());
    }
    writer.uint(8, message.query_time.0);
    writer.fixed32(9, message.query_time.1);
    if !message.query_message.is_empty() {
        writer.bytes(10, message.query_message);
    }
    if let Some((seconds, nanoseconds)) = message.response_time {
        writer.uint(12, seconds);
        writer.fixed32(13, nanoseconds);
    }
    if !message.response_message.is_empty() {
        writer.bytes(14, message.response_message);
    }
}

/// Appends one data frame (length, then a `Dnstap` of type MESSAGE) to
/// `output`. `extra` goes in `Dnstap.extra` when not empty.
pub fn encode_data_frame(
    identity: &[u8],
    version: &[u8],
    extra: &[u8],
    message: &DnstapMessage<'_>,
    output: &mut Vec<u8>,
) {
    let frame_start = output.len();
    output.extend_from_slice(&[0; 4]);
    let mut inner = Vec::with_capacity(64 + message.query_message.len());
    encode_message(message, &mut inner);
    {
        let mut writer = ProtobufWriter {
            output: &mut *output,
        };
        if !identity.is_empty() {
            writer.bytes(1, identity);
        }
        if !version.is_empty() {
            writer.bytes(2, version);
        }
        if !extra.is_empty() {
            writer.bytes(3, extra);
        }
        writer.bytes(14, &inner);
        writer.uint(15, 1);
    }
    let length = (output.len() - frame_start - 4) as u32;
    output[frame_start..frame_start + 4].copy_from_slice(&length.to_be_bytes());
    debug_assert!(varint_length(u64::from(length)) <= 5);
}

/// One control frame (escape, length, type, and a content type field for
/// READY, ACCEPT and START).
pub(crate) fn encode_control(control_type: u32, content_type: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + CONTENT_TYPE.len());
    body.extend_from_slice(&control_type.to_be_bytes());
    if let Some(content_type) = content_type {
        body.extend_from_slice(&FIELD_CONTENT_TYPE.to_be_bytes());
        body.extend_from_slice(&(content_type.len() as u32).to_be_bytes());
        body.extend_from_slice(content_type);
    }
    let mut frame = Vec::with_capacity(8 + body.len());
    frame.extend_from_slice(&0u32.to_be_bytes());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// A control frame read from a collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Control {
    pub(crate) control_type: u32,
    pub(crate) content_types: Vec<Vec<u8>>,
}

/// Why a control frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("expected a control frame, got a data frame")]
    NotControl,
    #[error("control frame of {0} bytes is too short or too long")]
    BadLength(usize),
    #[error("control field runs past the end of its frame")]
    Truncated,
}

/// Parses the body of a control frame (after the escape and the length).
pub(crate) fn read_control(body: &[u8]) -> Result<Control, FrameError> {
    if body.len() < 4 || body.len() > CONTROL_FRAME_MAX {
        return Err(FrameError::BadLength(body.len()));
    }
    let control_type = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let mut content_types = Vec::new();
    let mut rest = &body[4..];
    while !rest.is_empty() {
        if rest.len() < 8 {
            return Err(FrameError::Truncated);
        }
        let field = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let length = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let value = rest.get(8..8 + length).ok_or(FrameError::Truncated)?;
        if field == FIELD_CONTENT_TYPE {
            content_types.push(value.to_vec());
        }
        rest = &rest[8 + length..];
    }
    Ok(Control {
        control_type,
        content_types,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::IpAddr;

    /// A minimal protocol-buffer reader for the tests: (field, value) pairs.
    #[derive(Debug, PartialEq, Eq)]
    pub(crate) enum Value {
        Varint(u64),
        Fixed32(u32),
        Bytes(Vec<u8>),
    }

    pub(crate) fn decode(mut input: &[u8]) -> Option<Vec<(u64, Value)>> {
        fn varint(input: &mut &[u8]) -> Option<u64> {
            let mut value = 0u64;
            for shift in (0..64).step_by(7) {
                let (&byte, rest) = input.split_first()?;
                *input = rest;
                value |= u64::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    return Some(value);
                }
            }
            None
        }
        let mut fields = Vec::new();
        while !input.is_empty() {
            let key = varint(&mut input)?;
            let value = match key & 7 {
                0 => Value::Varint(varint(&mut input)?),
                5 => {
                    let bytes = input.get(..4)?;
                    let value = u32::from_le_bytes(bytes.try_into().ok()?);
                    input = &input[4..];
                    Value::Fixed32(value)
                }
                2 => {
                    let length = usize::try_from(varint(&mut input)?).ok()?;
                    let bytes = input.get(..length)?.to_vec();
                    input = &input[length..];
                    Value::Bytes(bytes)
                }
                _ => return None,
            };
            fields.push((key >> 3, value));
        }
        Some(fields)
    }

    fn field(fields: &[(u64, Value)], number: u64) -> Option<&Value> {
        fields
            .iter()
            .find(|(field, _)| *field == number)
            .map(|(_, value)| value)
    }

    #[test]
    fn varints_match_the_protobuf_examples() {
        let mut output = Vec::new();
        let mut writer = ProtobufWriter {
            output: &mut output,
        };
        writer.varint(1);
        writer.varint(150);
        writer.varint(300);
        writer.varint(u64::MAX);
        assert_eq!(
            output,
            [
                0x01, 0x96, 0x01, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0x01
            ]
        );
        assert_eq!(varint_length(u64::MAX), 10);
    }

    #[test]
    fn a_response_frame_decodes_to_what_was_given() {
        let client: IpAddr = "2001:db8::7".parse().expect("address");
        let message = DnstapMessage {
            message_type: DnstapMessageType::ClientResponse,
            protocol: SocketProtocol::Tls,
            client: Some((client, 40000)),
            query_time: (1_700_000_000, 123_456_789),
            query_message: b"query bytes",
            response_time: Some((1_700_000_001, 5)),
            response_message: b"response bytes",
        };
        let mut output = vec![0xaa];
        encode_data_frame(b"host", b"hanse 1", b"", &message, &mut output);
        assert_eq!(output[0], 0xaa);
        let length = u32::from_be_bytes(output[1..5].try_into().expect("length")) as usize;
        assert_eq!(length, output.len() - 5);
        let outer = decode(&output[5..]).expect("outer message");
        assert_eq!(field(&outer, 1), Some(&Value::Bytes(b"host".to_vec())));
        assert_eq!(field(&outer, 2), Some(&Value::Bytes(b"hanse 1".to_vec())));
        assert_eq!(field(&outer, 3), None);
        assert_eq!(field(&outer, 15), Some(&Value::Varint(1)));
        let Some(Value::Bytes(inner)) = field(&outer, 14) else {
            panic!("no message field in {outer:?}");
        };
        let inner = decode(inner).expect("inner message");
        assert_eq!(field(&inner, 1), Some(&Value::Varint(6)));
        assert_eq!(field(&inner, 2), Some(&Value::Varint(2)));
        assert_eq!(field(&inner, 3), Some(&Value::Varint(3)));
        let IpAddr::V6(v6) = client else {
            unreachable!()
        };
        assert_eq!(field(&inner, 4), Some(&Value::Bytes(v6.octets().to_vec())));
        assert_eq!(field(&inner, 6), Some(&Value::Varint(40000)));
        assert_eq!(field(&inner, 8), Some(&Value::Varint(1_700_000_000)));
        assert_eq!(field(&inner, 9), Some(&Value::Fixed32(123_456_789)));
        assert_eq!(
            field(&inner, 10),
            Some(&Value::Bytes(b"query bytes".to_vec()))
        );
        assert_eq!(field(&inner, 12), Some(&Value::Varint(1_700_000_001)));
        assert_eq!(field(&inner, 13), Some(&Value::Fixed32(5)));
        assert_eq!(
            field(&inner, 14),
            Some(&Value::Bytes(b"response bytes".to_vec()))
        );
    }

    #[test]
    fn a_query_without_client_leaves_out_address_family_and_port() {
        let message = DnstapMessage {
            message_type: DnstapMessageType::ClientQuery,
            protocol: SocketProtocol::Udp,
            client: None,
            query_time: (1, 2),
            query_message: b"q",
            response_time: None,
            response_message: b"",
        };
        let mut output = Vec::new();
        encode_data_frame(b"", b"", b"client=c-0011", &message, &mut output);
        let outer = decode(&output[4..]).expect("outer");
        assert_eq!(field(&outer, 1), None);
        assert_eq!(
            field(&outer, 3),
            Some(&Value::Bytes(b"client=c-0011".to_vec()))
        );
        let Some(Value::Bytes(inner)) = field(&outer, 14) else {
            panic!("no message");
        };
        let inner = decode(inner).expect("inner");
        assert_eq!(field(&inner, 1), Some(&Value::Varint(5)));
        for absent in [2, 4, 6, 12, 13, 14] {
            assert_eq!(field(&inner, absent), None, "field {absent}");
        }
    }

    #[test]
    fn control_frames_round_trip_and_bad_ones_are_refused() {
        let frame = encode_control(CONTROL_READY, Some(CONTENT_TYPE));
        assert_eq!(&frame[..4], &[0, 0, 0, 0]);
        let length = u32::from_be_bytes(frame[4..8].try_into().expect("length")) as usize;
        assert_eq!(length, frame.len() - 8);
        let control = read_control(&frame[8..]).expect("control");
        assert_eq!(control.control_type, CONTROL_READY);
        assert_eq!(control.content_types, vec![CONTENT_TYPE.to_vec()]);
        let stop = encode_control(CONTROL_STOP, None);
        assert_eq!(stop, [0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3]);
        assert_eq!(read_control(&[0, 0, 1]), Err(FrameError::BadLength(3)));
        assert_eq!(
            read_control(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, b'x']),
            Err(FrameError::Truncated)
        );
        assert_eq!(
            read_control(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0]),
            Err(FrameError::Truncated)
        );
        assert!(read_control(&vec![0; CONTROL_FRAME_MAX + 1]).is_err());
    }

    #[test]
    fn arbitrary_control_bodies_never_panic() {
        // A small deterministic fuzz: every prefix and many byte patterns.
        let mut state = 0x1234_5678_u32;
        for round in 0..20_000 {
            let length = round % 64;
            let body: Vec<u8> = (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    // Small values make plausible field lengths.
                    if state.is_multiple_of(3) {
                        0
                    } else {
                        (state % 12) as u8
                    }
                })
                .collect();
            let _ = read_control(&body);
        }
    }

    #[test]
    fn encoded_frames_always_decode() {
        let mut state = 0x9e37_79b9_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let query: Vec<u8> = (0..(next() % 600)).map(|_| next() as u8).collect();
            let response: Vec<u8> = (0..(next() % 1500)).map(|_| next() as u8).collect();
            let client = if next().is_multiple_of(2) {
                Some((IpAddr::from((next() as u32).to_be_bytes()), next() as u16))
            } else {
                None
            };
            let message = DnstapMessage {
                message_type: DnstapMessageType::ClientResponse,
                protocol: SocketProtocol::Udp,
                client,
                query_time: (next(), next() as u32),
                query_message: &query,
                response_time: Some((next(), next() as u32)),
                response_message: &response,
            };
            let mut output = Vec::new();
            encode_data_frame(b"id", b"v", b"", &message, &mut output);
            let outer = decode(&output[4..]).expect("decodes");
            let Some(Value::Bytes(inner)) = field(&outer, 14) else {
                panic!("no message");
            };
            let inner = decode(inner).expect("inner decodes");
            if !query.is_empty() {
                assert_eq!(field(&inner, 10), Some(&Value::Bytes(query.clone())));
            }
            if !response.is_empty() {
                assert_eq!(field(&inner, 14), Some(&Value::Bytes(response.clone())));
            }
        }
    }
}
