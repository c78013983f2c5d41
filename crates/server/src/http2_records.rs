//! A writer between an HTTP/2 server (RFC 9113) and TLS (RFC 8446) that
//! makes every TLS record end where a stream's response ends.
//!
//! Why: the HTTP/2 code of hyper (h2) gathers the frames of every response
//! that is ready into one buffer and writes it at once, so TLS puts the
//! answers to many DoH queries into one record. That is valid HTTP/2, but
//! some clients read one DNS answer per TLS record: dnsperf's DoH mode
//! (nghttp2 under it) feeds each record to nghttp2 and keeps only one
//! completed response per read, losing the others, and its queries then
//! time out. Ending each record after a frame that carries END_STREAM
//! (RFC 9113 §6.1, §6.2) gives each response its own record, as Unbound's
//! and BIND's DoH do.
//!
//! The writer reads only the nine-octet frame headers (RFC 9113 §4.1) of
//! what passes through and never changes a byte; it tracks a header cut
//! between two writes. Reads pass through untouched.
//!
//! # Limitations
//! - Only for HTTP/2 (ALPN `h2`): the octets written must be HTTP/2 frames
//!   from the first one on; an HTTP/1.1 connection must not be wrapped.
//! - A response larger than one TLS record still spans several records;
//!   what is guaranteed is that no record holds the end of two responses.
//! - Each response costs one TLS record and, under tokio-rustls, one write
//!   to the socket.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The length of an HTTP/2 frame header.
const FRAME_HEADER: usize = 9;
/// Frame types that can end a stream.
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
/// The END_STREAM flag of DATA and HEADERS frames.
const END_STREAM: u8 = 0x1;
/// The most slices one vectored write passes on.
const MAX_SLICES: usize = 64;

/// Where the writer is in the sequence of frames written.
#[derive(Debug, Clone, Copy, Default)]
struct FramePosition {
    /// The part of the current frame's header seen so far.
    header: [u8; FRAME_HEADER],
    header_seen: usize,
    /// Payload octets of the current frame still to come.
    payload_left: usize,
    /// Whether the current frame ends its stream.
    ends_stream: bool,
}

impl FramePosition {
    /// Moves over `octets` up to the end of the first frame that ends a
    /// stream; returns how many octets it passed and whether it stopped so.
    fn advance(&mut self, octets: &[u8]) -> (usize, bool) {
        let mut position = 0;
        while position < octets.len() {
            if self.header_seen < FRAME_HEADER {
                let count = (FRAME_HEADER - self.header_seen).min(octets.len() - position);
                self.header[self.header_seen..self.header_seen + count]
                    .copy_from_slice(&octets[position..position + count]);
                self.header_seen += count;
                position += count;
                if self.header_seen < FRAME_HEADER {
                    break;
                }
                let header = &self.header;
                self.payload_left = usize::from(header[0]) << 16
                    | usize::from(header[1]) << 8
                    | usize::from(header[2]);
                self.ends_stream =
                    matches!(header[3], DATA | HEADERS) && header[4] & END_STREAM != 0;
            } else {
                let count = self.payload_left.min(octets.len() - position);
                self.payload_left -= count;
                position += count;
            }
            if self.header_seen == FRAME_HEADER && self.payload_left == 0 {
                self.header_seen = 0;
                if self.ends_stream {
                    self.ends_stream = false;
                    return (position, true);
                }
            }
        }
        (position, false)
    }
}

/// A stream whose writes are cut after each frame that ends an HTTP/2
/// stream, so that the TLS layer under it makes each response end a record.
pub(crate) struct ResponseRecords<S> {
    inner: S,
    position: FramePosition,
}

impl<S> ResponseRecords<S> {
    /// Wraps the TLS stream of an HTTP/2 connection, before any frame.
    pub(crate) fn new(inner: S) -> ResponseRecords<S> {
        ResponseRecords {
            inner,
            position: FramePosition::default(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ResponseRecords<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(context, buffer)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ResponseRecords<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut probe = self.position;
        let (limit, _) = probe.advance(data);
        let polled = Pin::new(&mut self.inner).poll_write(context, &data[..limit]);
        if let Poll::Ready(Ok(written)) = polled {
            self.position.advance(&data[..written]);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        // The slices up to the end of the first response, the last cut short.
        let mut probe = self.position;
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for buffer in buffers.iter().take(MAX_SLICES) {
            let (passed, ended) = probe.advance(buffer);
            slices[count] = IoSlice::new(&buffer[..passed]);
            count += 1;
            if ended {
                break;
            }
        }
        let polled = Pin::new(&mut self.inner).poll_write_vectored(context, &slices[..count]);
        if let Poll::Ready(Ok(mut written)) = polled {
            for slice in &slices[..count] {
                let passed = written.min(slice.len());
                self.position.advance(&slice[..passed]);
                written -= passed;
                if written == 0 {
                    break;
                }
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP/2 frame: header and `length` octets of payload.
    fn frame(kind: u8, flags: u8, stream: u32, length: usize) -> Vec<u8> {
        let mut octets = vec![
            (length >> 16) as u8,
            (length >> 8) as u8,
            length as u8,
            kind,
            flags,
        ];
        octets.extend_from_slice(&stream.to_be_bytes());
        octets.resize(FRAME_HEADER + length, 0xab);
        octets
    }

    #[test]
    fn writes_stop_after_each_frame_that_ends_a_stream() {
        let settings = frame(0x4, 0, 0, 6);
        let headers_1 = frame(HEADERS, 0x4, 1, 20);
        let headers_3 = frame(HEADERS, 0x4, 3, 20);
        let data_1 = frame(DATA, END_STREAM, 1, 33);
        let data_3 = frame(DATA, END_STREAM, 3, 0);
        let empty_response = frame(HEADERS, 0x4 | END_STREAM, 5, 12);
        let mut all = Vec::new();
        for part in [
            &settings,
            &headers_1,
            &headers_3,
            &data_1,
            &data_3,
            &empty_response,
        ] {
            all.extend_from_slice(part);
        }
        let first = settings.len() + headers_1.len() + headers_3.len() + data_1.len();
        let mut position = FramePosition::default();
        assert_eq!(position.advance(&all), (first, true));
        assert_eq!(position.advance(&all[first..]), (data_3.len(), true));
        let rest = &all[first + data_3.len()..];
        assert_eq!(position.advance(rest), (rest.len(), true));
        assert_eq!(position.advance(&[]), (0, false));
    }

    #[test]
    fn frames_cut_anywhere_between_writes_are_followed() {
        let mut all = frame(HEADERS, 0x4, 1, 300);
        all.extend(frame(DATA, 0, 1, 70_000));
        all.extend(frame(DATA, END_STREAM, 1, 5));
        all.extend(frame(0x8, 0, 0, 4));
        for step in [1, 2, 5, 9, 10, 4096] {
            let mut position = FramePosition::default();
            let mut offset = 0;
            let mut ends = Vec::new();
            while offset < all.len() {
                let end = (offset + step).min(all.len());
                let (passed, ended) = position.advance(&all[offset..end]);
                offset += passed;
                if ended {
                    ends.push(offset);
                }
            }
            assert_eq!(ends, vec![all.len() - 13], "step {step}");
        }
    }
}
