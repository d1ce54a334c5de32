//! A WebSocket client written out by hand (RFC 6455): the handshake, every frame
//! header read and checked, masked frames sent, permessage-deflate (RFC 7692)
//! inflated. For the tests that need what a library client hides: a socket that
//! stops reading in the middle of a frame, the exact bytes and reserved bits of
//! each frame, a frame no library would send.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::WAIT;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// One frame as it came off the wire (unmasked: a server never masks).
#[derive(Debug, Clone)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// A whole message: its frames joined, inflated when it was compressed.
#[derive(Debug, Clone)]
pub struct Message {
    pub opcode: u8,
    /// It came with RSV1 set (permessage-deflate).
    pub compressed: bool,
    /// The bytes on the wire, before inflating.
    pub wire_len: usize,
    pub payload: Vec<u8>,
}

/// How the stream ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// The server sent a close frame with this code (none when it sent no code).
    Closed(Option<u16>),
    /// The connection ended at a frame boundary without a close frame.
    Eof,
    /// The connection ended inside a frame (`buffered` bytes of it had arrived):
    /// a browser reports 1006.
    Cut { buffered: usize },
}

pub struct RawWs {
    stream: TcpStream,
    /// Bytes read but not yet parsed into frames.
    buf: Vec<u8>,
    /// Bytes read since the handshake's response.
    pub received: usize,
    /// The response's status line and headers.
    pub response: String,
    /// The server agreed to permessage-deflate: RSV1 may be set on data frames.
    pub deflate: bool,
}

impl RawWs {
    /// Connects and upgrades `path` (with its query) on `addr`, sending `headers`
    /// besides the handshake's own. `recv_buffer` sets `SO_RCVBUF` before
    /// connecting, so a client that stops reading fills up after a few KiB.
    /// Panics unless the answer is 101.
    pub async fn connect(addr: SocketAddr, path: &str, headers: &[(&str, &str)], recv_buffer: Option<u32>) -> RawWs {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let mut stream = socket.connect(addr).await.unwrap();
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(WAIT, stream.read(&mut chunk)).await.expect("a handshake response").unwrap();
            assert!(n > 0, "the server closed during the handshake: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        };
        let response = String::from_utf8(buf[..end].to_vec()).unwrap();
        assert!(response.starts_with("HTTP/1.1 101"), "not upgraded: {response}");
        // The answer to the fixed key of RFC 6455's own example (section 1.3).
        assert!(response.to_ascii_lowercase().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{response}");
        let deflate = header(&response, "sec-websocket-extensions").is_some_and(|v| v.contains("permessage-deflate"));
        let buf = buf[end..].to_vec();
        RawWs { stream, received: buf.len(), buf, response, deflate }
    }

    /// Reads from the socket, without parsing, until `total` bytes in all have
    /// arrived since the handshake: to stop reading at a chosen point of a frame.
    pub async fn read_until_received(&mut self, total: usize) {
        while self.received < total {
            assert!(self.fill().await, "the stream ended after {} bytes", self.received);
        }
    }

    /// Reads what the socket has; false at end of stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = match tokio::time::timeout(WAIT, self.stream.read(&mut chunk)).await.unwrap_or_else(|_| panic!("nothing to read for {WAIT:?}")) {
            Ok(n) => n,
            // A reset after the server gave up on us: the end of the stream too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read: {e}"),
        };
        self.buf.extend_from_slice(&chunk[..n]);
        self.received += n;
        n > 0
    }

    /// The next frame, its header checked against RFC 6455 (and 7692 for RSV1);
    /// a header that breaks a rule panics: that is a corrupt stream. Safe to
    /// cancel (in a `select!`): bytes read stay buffered. So are the calls below
    /// while the server sends whole messages in single frames, as it does.
    pub async fn next_frame(&mut self) -> Result<Frame, End> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf, self.deflate) {
                self.buf.drain(..used);
                return Ok(frame);
            }
            if !self.fill().await {
                return Err(if self.buf.is_empty() { End::Eof } else { End::Cut { buffered: self.buf.len() } });
            }
        }
    }

    /// The next data message, fragments joined and inflated; pings answered,
    /// pongs skipped; a close frame ends the stream with its code.
    pub async fn next_message(&mut self) -> Result<Message, End> {
        let mut message: Option<Message> = None;
        loop {
            let frame = self.next_frame().await?;
            match frame.opcode {
                OP_PING => self.send_frame(true, false, OP_PONG, &frame.payload).await,
                OP_PONG => {}
                OP_CLOSE => return Err(End::Closed(close_code(&frame.payload))),
                OP_CONTINUATION => {
                    let m = message.as_mut().expect("a continuation frame without a message under way");
                    m.wire_len += frame.payload.len();
                    m.payload.extend_from_slice(&frame.payload);
                }
                opcode => {
                    assert!(message.is_none(), "a new message inside a fragmented one");
                    message = Some(Message { opcode, compressed: frame.rsv1, wire_len: frame.payload.len(), payload: frame.payload.clone() });
                }
            }
            if frame.fin && !matches!(frame.opcode, OP_PING | OP_PONG) {
                let mut m = message.take().expect("a message");
                if m.compressed {
                    m.payload = inflate(&m.payload, 64 * 1024 * 1024);
                }
                return Ok(m);
            }
        }
    }

    /// The next JSON text message, heartbeats skipped; panics on a text frame
    /// that is not JSON (a cut or mixed-up frame would be that).
    pub async fn next_json(&mut self) -> Result<Value, End> {
        loop {
            let m = self.next_message().await?;
            assert_eq!(m.opcode, OP_TEXT, "a data frame that is not text");
            let text = std::str::from_utf8(&m.payload).expect("text frames are UTF-8");
            let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("a text frame that is not JSON ({e}): {text:.200}"));
            if value["type"] != "heartbeat" {
                return Ok(value);
            }
        }
    }

    /// Sends one frame, masked as a client must.
    pub async fn send_frame(&mut self, fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) {
        self.send_bytes(&client_frame(fin, rsv1, opcode, payload)).await;
    }

    /// Sends bytes as they are, in one write: several frames at once, say.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        // A server that already closed may reset the connection: the reply says so.
        let _ = self.stream.write_all(bytes).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(true, false, OP_TEXT, text.as_bytes()).await;
    }
}

/// One frame as a client writes it: masked.
pub fn client_frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key: [u8; 4] = rand::random();
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// One frame from the start of `buf`, and how many bytes it took; None until
/// all of it has arrived.
fn parse_frame(buf: &[u8], deflate: bool) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (b0, b1) = (buf[0], buf[1]);
    let (fin, rsv1, opcode) = (b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x0F);
    let head = || format!("header {:02x} {:02x}", b0, b1);
    assert_eq!(b0 & 0x30, 0, "RSV2/RSV3 set: {}", head());
    assert!(matches!(opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG), "unknown opcode: {}", head());
    assert_eq!(b1 & 0x80, 0, "a masked frame from the server: {}", head());
    let control = opcode >= OP_CLOSE;
    assert!(!rsv1 || (deflate && !control && opcode != OP_CONTINUATION), "RSV1 where it may not be: {} (deflate negotiated: {deflate})", head());
    let (len, at) = match b1 & 0x7F {
        126 => {
            let len = u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap()) as usize;
            assert!(len >= 126, "a 16-bit length for {len} bytes");
            (len, 4)
        }
        127 => {
            let len = u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap());
            assert!(len >> 63 == 0 && len > 0xFFFF, "a 64-bit length of {len}");
            (len as usize, 10)
        }
        n => (n as usize, 2),
    };
    assert!(!control || (fin && len <= 125), "a fragmented or long control frame: {}, {len} bytes", head());
    let payload = buf.get(at..at + len)?.to_vec();
    Some((Frame { fin, rsv1, opcode, payload }, at + len))
}

/// The code of a close frame's payload.
pub fn close_code(payload: &[u8]) -> Option<u16> {
    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

/// A response header's value (case-insensitive name).
pub fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

/// Inflates one permessage-deflate message (RFC 7692 7.2.2: the sender drops the
/// final `00 00 ff ff`, the receiver puts it back), allowing at most `limit` bytes.
pub fn inflate(payload: &[u8], limit: usize) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut inflater = flate2::Decompress::new(false);
    let mut out = Vec::new();
    loop {
        out.reserve(64 * 1024);
        let before = (inflater.total_in(), out.len());
        let rest = &input[inflater.total_in() as usize..];
        inflater.decompress_vec(rest, &mut out, flate2::FlushDecompress::Sync).expect("valid deflate data");
        assert!(out.len() <= limit, "inflates to more than {limit} bytes");
        if inflater.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
        assert_ne!((inflater.total_in(), out.len()), before, "inflating made no progress");
    }
}

/// Deflates one message the way a permessage-deflate sender does (a sync flush,
/// its `00 00 ff ff` tail dropped), with no context kept between messages.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut deflater = flate2::Compress::new(flate2::Compression::best(), false);
    let mut out = Vec::new();
    loop {
        out.reserve(64 * 1024);
        let rest = &data[deflater.total_in() as usize..];
        deflater.compress_vec(rest, &mut out, flate2::FlushCompress::Sync).expect("deflate");
        if deflater.total_in() as usize == data.len() && out.len() < out.capacity() {
            assert!(out.ends_with(&[0x00, 0x00, 0xff, 0xff]), "a sync flush ends with an empty stored block");
            out.truncate(out.len() - 4);
            return out;
        }
    }
}
