//! The `--deflate` client: a WebSocket subscriber that offers RFC 7692
//! `permessage-deflate` and reads compressed frames.
//!
//! tungstenite 0.29 has no permessage-deflate (it fails the connection on any frame
//! with RSV1 set, and its handshake keeps the bytes read past the response), so this
//! mode does its own handshake, offering `permessage-deflate; client_max_window_bits`
//! as Chromium does, and reads frames itself: headers are parsed by tungstenite's
//! own [`FrameHeader`], messages with RSV1 set are inflated (flate2) before anyone
//! reads their seq and ts. What it sends (subscribe, pong, close) is masked and
//! uncompressed, which permessage-deflate allows message by message.
//!
//! If the server declines (no `Sec-WebSocket-Extensions` in its answer) the
//! connection simply carries plain frames, and the result says so.

use std::cell::RefCell;
use std::io::Cursor;

use bytes::{Buf, Bytes, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

/// What the client offers: Chromium's offer.
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// What a sync flush ends with; the sender removes it, the receiver appends it (§7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// No message the service sends comes near this; a larger one is a broken server.
const MAX_MESSAGE: usize = 64 << 20;

/// One text message: its payload (inflated) and what it took on the wire
/// (frame headers plus payloads as sent, compressed when RSV1 was set).
#[derive(Debug)]
pub struct Text {
    pub payload: Bytes,
    pub wire: usize,
}

/// The server's acceptance, as this client understands it.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The `Sec-WebSocket-Extensions` value, as the server sent it.
    pub response: String,
    /// `server_no_context_takeover`: each message inflates with a fresh context;
    /// without it the inflater keeps its window from message to message.
    pub no_context_takeover: bool,
}

/// Reads the server's `Sec-WebSocket-Extensions` answer to [`OFFER`]: anything but
/// permessage-deflate with parameters the RFC allows in an answer fails the
/// connection (RFC 6455 §4.1, RFC 7692 §7.1).
pub fn parse_accept(value: &str) -> Result<Accepted, String> {
    let mut parts = value.split(';').map(str::trim);
    if parts.next() != Some("permessage-deflate") || value.contains(',') {
        return Err(format!("the server answered with extensions we did not offer: {value}"));
    }
    let mut no_context_takeover = false;
    for p in parts {
        let (name, v) = p.split_once('=').map_or((p, None), |(n, v)| (n.trim(), Some(v.trim().trim_matches('"'))));
        let bits_ok = |v: Option<&str>| v.and_then(|v| v.parse::<u8>().ok()).is_some_and(|b| (8..=15).contains(&b));
        match name {
            "server_no_context_takeover" if v.is_none() => no_context_takeover = true,
            "client_no_context_takeover" if v.is_none() => {} // we never compress
            "server_max_window_bits" | "client_max_window_bits" if bits_ok(v) => {} // a 15-bit inflater reads any window
            _ => return Err(format!("permessage-deflate answer with a bad parameter `{p}`: {value}")),
        }
    }
    Ok(Accepted { response: value.to_string(), no_context_takeover })
}

pub struct DeflateWs {
    stream: TcpStream,
    /// Bytes read and not yet parsed.
    buf: BytesMut,
    /// `None`: the server declined, frames are plain.
    pub accepted: Option<Accepted>,
    /// Only without `server_no_context_takeover`: the window kept between messages.
    /// (Otherwise one inflater per thread serves every connection: a process with
    /// thousands of connections must not hold ~40 KiB of inflater state for each.)
    kept: Option<Box<Decompress>>,
    /// A fragmented message in progress: (compressed, payload so far, wire bytes so far).
    partial: Option<(bool, Vec<u8>, usize)>,
}

impl DeflateWs {
    /// The opening handshake over `stream` (connected already) for `host` and `path`.
    pub async fn handshake(mut stream: TcpStream, host: &str, path: &str) -> Result<DeflateWs, String> {
        let key = generate_key();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {OFFER}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("handshake: {e}"))?;
        let mut buf = BytesMut::with_capacity(8192);
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 16 << 10 {
                return Err("handshake: response headers too long".into());
            }
            if stream.read_buf(&mut buf).await.map_err(|e| format!("handshake: {e}"))? == 0 {
                return Err("handshake: eof".into());
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.advance(end);
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or("");
        if status.split_whitespace().nth(1) != Some("101") {
            return Err(format!("handshake: HTTP error: {status}"));
        }
        let (mut accept, mut extensions) = (None, Vec::new());
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            match name.trim().to_ascii_lowercase().as_str() {
                "sec-websocket-accept" => accept = Some(value.trim().to_string()),
                "sec-websocket-extensions" => extensions.push(value.trim().to_string()),
                _ => {}
            }
        }
        if accept.as_deref() != Some(derive_accept_key(key.as_bytes()).as_str()) {
            return Err("handshake: bad Sec-WebSocket-Accept".into());
        }
        let accepted = match extensions.len() {
            0 => None,
            1 => Some(parse_accept(&extensions[0]).map_err(|e| format!("handshake: {e}"))?),
            _ => return Err(format!("handshake: several extensions answered: {extensions:?}")),
        };
        Ok(DeflateWs { stream, buf, accepted, kept: None, partial: None })
    }

    /// The next text message. Answers pings on the way; a close frame or the end of
    /// the stream is an `Err` with the reason. Cancel-safe between frames (the
    /// storm drops connections while they wait here).
    pub async fn next_text(&mut self) -> Result<Text, String> {
        loop {
            let mut cursor = Cursor::new(&self.buf[..]);
            let parsed = FrameHeader::parse(&mut cursor).map_err(|e| format!("error: {e}"))?;
            if let Some((header, len)) = parsed {
                let head_len = cursor.position() as usize;
                let len = usize::try_from(len).ok().filter(|l| *l <= MAX_MESSAGE).ok_or("error: frame too large")?;
                if self.buf.len() >= head_len + len {
                    self.buf.advance(head_len);
                    let payload = self.buf.split_to(len).freeze();
                    if let Some(text) = self.on_frame(header, payload, head_len + len).await? {
                        return Ok(text);
                    }
                    continue;
                }
                self.buf.reserve(head_len + len - self.buf.len());
            }
            if self.stream.read_buf(&mut self.buf).await.map_err(|e| format!("error: {e}"))? == 0 {
                return Err("eof".into());
            }
        }
    }

    async fn on_frame(&mut self, header: FrameHeader, payload: Bytes, wire: usize) -> Result<Option<Text>, String> {
        if header.rsv2 || header.rsv3 || (header.rsv1 && self.accepted.is_none()) {
            return Err("error: reserved bits set that no extension defines".into());
        }
        match header.opcode {
            OpCode::Control(Control::Ping) => {
                self.send(Frame::pong(payload)).await?;
                Ok(None)
            }
            OpCode::Control(Control::Pong) => Ok(None),
            OpCode::Control(Control::Close) => Err(match payload.len() {
                0 | 1 => "close (no code)".into(),
                _ => format!("close {} ({})", u16::from_be_bytes([payload[0], payload[1]]), String::from_utf8_lossy(&payload[2..])),
            }),
            OpCode::Data(Data::Continue) => {
                let (compressed, mut message, so_far) = self.partial.take().ok_or("error: continuation without a message")?;
                message.extend_from_slice(&payload);
                self.finish(header.is_final, compressed, message, so_far + wire)
            }
            OpCode::Data(data) => {
                if self.partial.is_some() {
                    return Err("error: a new message inside a fragmented one".into());
                }
                if data != Data::Text {
                    return Ok(None);
                }
                self.finish(header.is_final, header.rsv1, payload.to_vec(), wire)
            }
            OpCode::Control(_) => Err("error: reserved opcode".into()),
        }
    }

    fn finish(&mut self, is_final: bool, compressed: bool, message: Vec<u8>, wire: usize) -> Result<Option<Text>, String> {
        if !is_final {
            self.partial = Some((compressed, message, wire));
            return Ok(None);
        }
        let payload = if compressed { Bytes::from(self.inflate(&message)?) } else { Bytes::from(message) };
        Ok(Some(Text { payload, wire }))
    }

    /// Sends one text message, masked and uncompressed.
    pub async fn send_text(&mut self, text: &str) -> Result<(), String> {
        self.send(Frame::message(Bytes::copy_from_slice(text.as_bytes()), OpCode::Data(Data::Text), true)).await
    }

    async fn send(&mut self, mut frame: Frame) -> Result<(), String> {
        frame.header_mut().mask = Some(rand_mask());
        let mut out = Vec::with_capacity(frame.len());
        frame.format(&mut out).map_err(|e| format!("error: {e}"))?;
        self.stream.write_all(&out).await.map_err(|e| format!("error: {e}"))
    }

    /// Inflates one message (RFC 7692 §7.2.2) with the negotiated context: fresh
    /// each time, or kept from the previous message.
    fn inflate(&mut self, compressed: &[u8]) -> Result<Vec<u8>, String> {
        match &self.accepted {
            Some(a) if !a.no_context_takeover => {
                inflate_with(self.kept.get_or_insert_with(|| Box::new(Decompress::new(false))), compressed)
            }
            _ => FRESH.with_borrow_mut(|inflater| {
                inflater.reset(false);
                inflate_with(inflater, compressed)
            }),
        }
    }
}

thread_local! {
    /// The inflater of every connection without context takeover, reset per message.
    static FRESH: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// One message: append the tail and inflate, never past [`MAX_MESSAGE`].
fn inflate_with(inflater: &mut Decompress, compressed: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(compressed.len() * 4 + 64);
    for input in [compressed, &TAIL[..]] {
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_MESSAGE {
                    return Err("error: a compressed message inflates past 64 MiB".into());
                }
                out.reserve(out.capacity());
            }
            let before = inflater.total_in();
            let status =
                inflater.decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync).map_err(|e| format!("error: bad deflate data: {e}"))?;
            pos += (inflater.total_in() - before) as usize;
            if status == Status::StreamEnd {
                // A final block: the next message starts a new stream.
                inflater.reset(false);
                return Ok(out);
            }
            if pos == input.len() && out.len() < out.capacity() {
                break;
            }
        }
    }
    Ok(out)
}

/// A client frame's mask: it only has to be unpredictable to the network, not secret.
fn rand_mask() -> [u8; 4] {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::measure::now_us() as u64);
    (h.finish() as u32).to_ne_bytes()
}

/// The header length of an unmasked server frame with `len` payload bytes (RFC 6455
/// §5.2): what a plain frame read through tungstenite took on the wire.
pub fn server_frame_wire(len: usize) -> usize {
    len + match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

#[cfg(test)]
mod tests;
