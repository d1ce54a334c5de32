//! WebSocket framing (RFC 6455), server side: the frames we write, and the
//! client's frames reassembled into messages.
//!
//! Server frames are never masked, so a frame's bytes are the same for every
//! client: data frames are built once per event and written to all. Client
//! frames are small (subscribe messages, pongs), so they are read from a buffer
//! that only exists while a frame is incomplete: an idle connection holds none.

use bytes::{BufMut, Bytes, BytesMut};

use super::deflate;


/// FIN and the opcodes we use.
const FIN: u8 = 0x80;
/// Marks a compressed message (permessage-deflate, RFC 7692 §6).
const RSV1: u8 = 0x40;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// A frame's header, with room for its payload: FIN, RSV1 and opcode, then
/// the payload length (server frames are not masked).
fn header(first: u8, len: usize, room: usize) -> BytesMut {
    let mut b = BytesMut::with_capacity(room + 10);
    b.put_u8(first);
    if len < 126 {
        b.put_u8(len as u8);
    } else if len <= u16::MAX as usize {
        b.put_u8(126);
        b.put_u16(len as u16);
    } else {
        b.put_u8(127);
        b.put_u64(len as u64);
    }
    b
}

fn frame(first: u8, payload: &[u8]) -> Bytes {
    let mut b = header(first, payload.len(), payload.len());
    b.put_slice(payload);
    b.freeze()
}

/// Just the header of a text frame of `len` bytes: a message made for one
/// client goes out as this and the JSON itself, never copied into a frame.
pub fn text_header(len: usize) -> Bytes {
    header(FIN | TEXT, len, 0).freeze()
}

/// A text message in one frame.
pub fn text(json: &[u8]) -> Bytes {
    frame(FIN | TEXT, json)
}

/// A text message already deflated (see [`deflate::compress`]), in one frame.
pub fn compressed_text(deflated: &[u8]) -> Bytes {
    frame(FIN | RSV1 | TEXT, deflated)
}

pub fn binary(payload: &[u8]) -> Bytes {
    frame(FIN | BINARY, payload)
}

/// Messages shorter than this go plain even to clients that negotiated
/// compression: deflating a heartbeat saves nothing and costs a context.
pub const COMPRESS_FROM_BYTES: usize = 128;

pub fn ping() -> Bytes {
    Bytes::from_static(&[FIN | PING, 0])
}

pub fn pong(payload: &[u8]) -> Bytes {
    frame(FIN | PONG, payload)
}

/// A close frame with a status code and a short reason (at most 123 bytes).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let reason = &reason[..cut];
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    frame(FIN | CLOSE, &payload)
}

/// Close codes (RFC 6455 §7.4): the ones we send, and which a close frame may carry.
pub mod code {
    pub const NORMAL: u16 = 1000;
    pub const AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const BAD_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const TRY_AGAIN: u16 = 1013;

    /// Whether a close frame may carry `code`: the codes RFC 6455 defines for
    /// the wire (1000-1003, 1007-1011) and those IANA registered since
    /// (1012-1014), and the ranges for libraries and applications (3000-4999).
    /// Never 1004 (reserved), 1005, 1006 or 1015 (for reporting only, never
    /// sent), nor the rest of 0-2999 (unassigned or reserved for the protocol).
    pub fn may_be_sent(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// A whole message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    /// The client's close, with its code if it gave one.
    Close(Option<u16>),
}

/// A client frame that breaks the protocol: the connection closes with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

impl Violation {
    fn protocol(reason: &'static str) -> Violation {
        Violation { code: code::PROTOCOL, reason }
    }

    fn not_utf8(reason: &'static str) -> Violation {
        Violation { code: code::BAD_DATA, reason }
    }

    fn too_big() -> Violation {
        Violation { code: code::TOO_BIG, reason: "message too large" }
    }
}

/// Reassembles the client's messages from what is read off its socket.
#[derive(Debug)]
pub struct Incoming {
    /// Bytes read and not yet parsed: empty between frames, so an idle
    /// connection holds no buffer.
    buf: Vec<u8>,
    /// A fragmented message's payload so far.
    message: Vec<u8>,
    /// The opcode and compression of the message under way, when fragmented.
    fragmented: Option<(u8, bool)>,
    /// How much of `message` (a plain text message) is known to be UTF-8: its
    /// fragments are checked as they come, so invalid text fails at once.
    checked: usize,
    /// The largest message taken (after inflating).
    max: usize,
    /// The client negotiated permessage-deflate.
    deflate: bool,
}

impl Incoming {
    pub fn new(max: usize, deflate: bool) -> Incoming {
        Incoming { buf: Vec::new(), message: Vec::new(), fragmented: None, checked: 0, max, deflate }
    }

    /// Takes bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, if the bytes so far hold one.
    pub fn next_message(&mut self) -> Option<Result<Inbound, Violation>> {
        loop {
            let (header, payload_len) = match self.frame_bounds() {
                Ok(Some(bounds)) => bounds,
                Ok(None) => {
                    if self.buf.is_empty() {
                        self.buf = Vec::new(); // give the capacity back
                    }
                    return None;
                }
                Err(v) => return Some(Err(v)),
            };
            let first = self.buf[0];
            let (fin, rsv1, opcode) = (first & FIN != 0, first & RSV1 != 0, first & 0x0F);
            let mask: [u8; 4] = self.buf[header - 4..header].try_into().expect("four bytes");
            let mut payload: Vec<u8> = self.buf.drain(..header + payload_len).skip(header).collect();
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
            match self.on_frame(fin, rsv1, opcode, payload) {
                Some(result) => return Some(result),
                None => continue,
            }
        }
    }

    /// The header length and payload length of the first frame in `buf`, once
    /// it is all there; checks what can be checked from the header alone.
    fn frame_bounds(&self) -> Result<Option<(usize, usize)>, Violation> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        if b[0] & 0x30 != 0 {
            return Err(Violation::protocol("reserved bits set"));
        }
        if b[1] & 0x80 == 0 {
            return Err(Violation::protocol("client frames must be masked"));
        }
        let (len, at) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as u64, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().expect("eight bytes")), 10),
            126 | 127 => return Ok(None),
            n => (n as u64, 2),
        };
        // A frame is never larger than the message it belongs to may be (a
        // compressed one a little over, for deflate's framing of incompressible data).
        let most = self.max as u64 + if self.deflate { 64 } else { 0 };
        if len + (self.message.len() as u64) > most {
            return Err(Violation::too_big());
        }
        let header = at + 4;
        if (b.len() as u64) < header as u64 + len {
            return Ok(None);
        }
        Ok(Some((header, len as usize)))
    }

    fn on_frame(&mut self, fin: bool, rsv1: bool, opcode: u8, payload: Vec<u8>) -> Option<Result<Inbound, Violation>> {
        if opcode >= CLOSE {
            if !fin || payload.len() > 125 {
                return Some(Err(Violation::protocol("control frames must be whole and short")));
            }
            if rsv1 {
                return Some(Err(Violation::protocol("control frames are never compressed")));
            }
            return Some(match opcode {
                CLOSE => close_payload(&payload),
                PING => Ok(Inbound::Ping(payload)),
                PONG => Ok(Inbound::Pong),
                _ => Err(Violation::protocol("unknown control opcode")),
            });
        }
        let (opcode, compressed) = match (opcode, self.fragmented) {
            (0, Some(started)) if !rsv1 => started,
            (0, Some(_)) => return Some(Err(Violation::protocol("RSV1 on a continuation frame"))),
            (0, None) => return Some(Err(Violation::protocol("continuation without a message"))),
            (TEXT | BINARY, None) if rsv1 && !self.deflate => return Some(Err(Violation::protocol("compressed frame without permessage-deflate"))),
            (TEXT | BINARY, None) => (opcode, rsv1),
            (TEXT | BINARY, Some(_)) => return Some(Err(Violation::protocol("a new message inside a fragmented one"))),
            _ => return Some(Err(Violation::protocol("unknown opcode"))),
        };
        if !fin {
            self.fragmented = Some((opcode, compressed));
            self.message.extend_from_slice(&payload);
            if opcode == TEXT && !compressed {
                return self.check_text_so_far().err().map(Err);
            }
            return None;
        }
        let whole = if self.fragmented.take().is_some() {
            self.checked = 0;
            let mut m = std::mem::take(&mut self.message);
            m.extend_from_slice(&payload);
            m
        } else {
            payload
        };
        let whole = if compressed {
            match deflate::inflate(&whole, self.max) {
                Ok(inflated) => inflated,
                Err(deflate::InflateError::TooLarge) => return Some(Err(Violation::too_big())),
                Err(deflate::InflateError::Corrupt) => return Some(Err(Violation::protocol("not valid deflate data"))),
            }
        } else {
            whole
        };
        Some(match opcode {
            TEXT => String::from_utf8(whole).map(Inbound::Text).map_err(|_| Violation::not_utf8("text is not UTF-8")),
            _ => Ok(Inbound::Binary(whole)),
        })
    }

    /// Checks the fragments of a plain text message received so far: an
    /// invalid sequence fails the connection now, not at the message's end; a
    /// code point cut between two fragments waits for the next one.
    fn check_text_so_far(&mut self) -> Result<(), Violation> {
        match std::str::from_utf8(&self.message[self.checked..]) {
            Ok(_) => self.checked = self.message.len(),
            Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
            Err(_) => return Err(Violation::not_utf8("text is not UTF-8")),
        }
        Ok(())
    }
}

/// A client's close frame (RFC 6455 §5.5.1): empty, or a code that may be sent
/// (else 1002) and a reason in UTF-8 (else 1007).
fn close_payload(payload: &[u8]) -> Result<Inbound, Violation> {
    match payload {
        [] => Ok(Inbound::Close(None)),
        [_] => Err(Violation::protocol("a close payload has a two-byte code")),
        [high, low, reason @ ..] => {
            let sent = u16::from_be_bytes([*high, *low]);
            if !code::may_be_sent(sent) {
                return Err(Violation::protocol("invalid close code"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(Violation::not_utf8("the close reason is not UTF-8"));
            }
            Ok(Inbound::Close(Some(sent)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;

    #[test]
    fn server_frames_match_tungstenite() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
            let json = vec![b'x'; len];
            let mut theirs = Vec::new();
            Frame::message(json.clone(), OpCode::Data(Data::Text), true).format(&mut theirs).unwrap();
            assert_eq!(&text(&json)[..], &theirs[..], "length {len}");
        }
    }

    /// A client frame as a browser writes it: masked.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Frame::message(payload.to_vec(), OpCode::Data(Data::Text), true);
        frame.header_mut().mask = Some([1, 2, 3, 4]);
        let mut out = Vec::new();
        frame.format(&mut out).unwrap();
        out[0] = first;
        out
    }

    #[test]
    fn reads_masked_messages_split_anywhere() {
        let mut wire = client_frame(FIN | TEXT, br#"{"type":"subscribe","topics":["all"]}"#);
        wire.extend(client_frame(FIN | PING, b"hi"));
        wire.extend(client_frame(TEXT, b"frag"));
        wire.extend(client_frame(FIN, b"mented"));
        wire.extend(client_frame(FIN | CLOSE, &1000u16.to_be_bytes()));
        for split in [1, 3, 7, wire.len()] {
            let mut incoming = Incoming::new(4096, false);
            let mut got = Vec::new();
            for chunk in wire.chunks(split) {
                incoming.extend(chunk);
                while let Some(m) = incoming.next_message() {
                    got.push(m.unwrap());
                }
            }
            assert_eq!(
                got,
                vec![
                    Inbound::Text(r#"{"type":"subscribe","topics":["all"]}"#.into()),
                    Inbound::Ping(b"hi".to_vec()),
                    Inbound::Text("fragmented".into()),
                    Inbound::Close(Some(1000)),
                ],
                "split {split}"
            );
            assert_eq!(incoming.buf.capacity(), 0, "no buffer kept between frames");
        }
    }

    #[test]
    fn violations_close_with_the_right_code() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (client_frame(FIN | TEXT, &[b'x'; 5000]), code::TOO_BIG),
            (client_frame(FIN | TEXT | 0x20, b"x"), code::PROTOCOL),
            (client_frame(FIN | RSV1 | TEXT, b"x"), code::PROTOCOL),
            (client_frame(FIN, b"x"), code::PROTOCOL),
            (client_frame(FIN | TEXT, &[0xff, 0xfe]), code::BAD_DATA),
            (client_frame(PING, b""), code::PROTOCOL),
            (vec![FIN | TEXT, 1, b'x'], code::PROTOCOL), // not masked
        ];
        for (wire, want) in cases {
            let mut incoming = Incoming::new(4096, false);
            incoming.extend(&wire);
            assert_eq!(incoming.next_message().unwrap().unwrap_err().code, want, "{wire:?}");
        }
        // A fragmented message is capped as a whole, before it is all read.
        let mut incoming = Incoming::new(4096, false);
        incoming.extend(&client_frame(TEXT, &[b'x'; 3000]));
        assert!(incoming.next_message().is_none());
        incoming.extend(&client_frame(0, &[b'x'; 3000]));
        assert_eq!(incoming.next_message().unwrap().unwrap_err().code, code::TOO_BIG);
    }

    /// RFC 6455 §7.4: a close frame's code must be one that may be sent, and
    /// its reason UTF-8 (Autobahn 7.5.1, 7.7.*, 7.9.*).
    #[test]
    fn close_frames_are_checked() {
        let close = |payload: &[u8]| {
            let mut incoming = Incoming::new(4096, false);
            incoming.extend(&client_frame(FIN | CLOSE, payload));
            incoming.next_message().unwrap()
        };
        for valid in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
            assert_eq!(close(&valid.to_be_bytes()), Ok(Inbound::Close(Some(valid))), "{valid}");
        }
        for invalid in [0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert_eq!(close(&invalid.to_be_bytes()).unwrap_err().code, code::PROTOCOL, "{invalid}");
        }
        assert_eq!(close(b""), Ok(Inbound::Close(None)));
        assert_eq!(close(b"\x03").unwrap_err().code, code::PROTOCOL, "a one-byte payload");
        let mut with_reason = 1000u16.to_be_bytes().to_vec();
        with_reason.extend_from_slice("bye, é".as_bytes());
        assert_eq!(close(&with_reason), Ok(Inbound::Close(Some(1000))));
        with_reason.extend_from_slice(&[0xce, 0xba, 0xed, 0xa0, 0x80]); // a UTF-16 surrogate
        assert_eq!(close(&with_reason).unwrap_err().code, code::BAD_DATA);
    }

    /// A fragmented text message fails at the fragment that breaks UTF-8, not
    /// at its end; a code point split across fragments is fine.
    #[test]
    fn text_fragments_are_checked_as_they_come() {
        let euro = "€".as_bytes(); // e2 82 ac
        let mut incoming = Incoming::new(4096, false);
        incoming.extend(&client_frame(TEXT, &[b'a', euro[0]]));
        incoming.extend(&client_frame(0, &euro[1..2]));
        incoming.extend(&client_frame(FIN, &[euro[2], b'b']));
        assert_eq!(incoming.next_message(), Some(Ok(Inbound::Text("a€b".into()))));
        // The next message starts checking afresh.
        incoming.extend(&client_frame(TEXT, b"ok "));
        assert_eq!(incoming.next_message(), None);
        incoming.extend(&client_frame(0, &[0xed, 0xa0, 0x80]));
        assert_eq!(incoming.next_message().unwrap().unwrap_err().code, code::BAD_DATA, "before the message's last fragment");
        // Binary fragments are not text.
        let mut incoming = Incoming::new(4096, false);
        incoming.extend(&client_frame(BINARY, &[0xff]));
        incoming.extend(&client_frame(FIN, &[0xfe]));
        assert_eq!(incoming.next_message(), Some(Ok(Inbound::Binary(vec![0xff, 0xfe]))));
    }

    #[test]
    fn a_text_header_and_its_json_are_the_text_frame() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let json = vec![b'x'; len];
            let mut joined = text_header(len).to_vec();
            joined.extend_from_slice(&json);
            assert_eq!(joined, text(&json).to_vec(), "length {len}");
        }
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        let f = close(1013, "too slow: not reading");
        assert_eq!(&f[..4], &[FIN | CLOSE, 23, 0x03, 0xF5]);
        assert_eq!(&f[4..], b"too slow: not reading");
        assert!(close(1000, &"é".repeat(100)).len() <= 2 + 125);
    }
}
