//! WebSocket compression: RFC 7692 `permessage-deflate`, negotiated with no context
//! takeover in both directions.
//!
//! Why no context takeover: with a shared sliding window each connection's deflate
//! stream depends on everything it was sent before, so every message would be
//! compressed once *per client*. Without it a message's compressed form depends only
//! on the message, so the server deflates each event **once** and writes the same
//! bytes (in a frame with RSV1 set) to every client that negotiated the extension;
//! the others get the plain frame. Client messages are inflated with a fresh context
//! too, and never past a size cap (a deflate bomb is refused, not expanded).
//!
//! Window bits: a client may limit the LZ77 window we deflate with
//! (`server_max_window_bits`, 8 to 15: a client with little memory). flate2 runs
//! here on its zlib-rs backend (zlib in Rust), which deflates with a given window,
//! so we accept the limit, echo it, and deflate that client's messages with that
//! window: each message is then deflated once per window size in use (a
//! [`Window`] of its own), still never per client; the common case (15 bits,
//! every browser) is one form for everyone. zlib cannot deflate raw with an 8-bit
//! window; with 9 bits it never reaches back more than 250 bytes (the window less
//! the 262 bytes of lookahead it keeps: `MAX_DIST`), which a 256-byte window
//! holds, so 8 is served with 9 (the tests inflate it with an 8-bit inflater). A
//! client's own window limit (`client_max_window_bits`, with or without a value)
//! needs nothing from us: a 15-bit inflater reads any smaller window.
//!
//! What it costs and saves, measured with flate2's earlier backend, miniz_oxide
//! (release build, this 2-core box shared with other builds, load average ~4, so
//! ±20 % on the times) on frames the service sent
//! (tests/fixtures/ws/: the benchmark's 20-game feed and the built-in demo), level 6,
//! the reset per-thread context `compress` uses:
//!
//! | frame | plain bytes | deflated bytes | deflated / plain | compress µs | inflate µs |
//! |---|---|---|---|---|---|
//! | snapshot, benchmark feed (20 games) | 6,540 | 1,014 | 15.5 % | 51 | 8 |
//! | snapshot, demo (6 games) | 3,421 | 756 | 22.1 % | 32–39 | 7 |
//! | update, benchmark feed (one score) | 394 | 247 | 62.7 % | 17–22 | 5 |
//! | update, demo (score, status, clock) | 647 | 349 | 53.9 % | 19–25 | 5 |
//! | batch, demo (29 updates) | 16,685 | 1,839 | 11.0 % | 108 | 12 |
//!
//! On the wire (frame header included) the benchmark's snapshot is 1,018 of 6,544
//! bytes (15.6 %) and its update 251 of 398 (63.1 %). An update costs ~20 µs once
//! per event: for 10,000 subscribers that is 0.002 µs per delivery. Level 1 would
//! deflate the snapshot in 21 µs but larger (19.3 %) and save little on updates
//! (64.7 %, 15 µs: the context reset dominates); level 9 gains nothing. A
//! fresh context per message instead of the reset one costs 117–150 µs for a
//! snapshot. The numbers come from
//! `cargo test --release --lib server::ws::deflate::tests::measure -- --ignored --nocapture`.
//! On zlib-rs (the backend now) the sizes are within 1-4 % of these: 762, 1,013,
//! 352, 245 and 1,913 bytes for the five frames above; its times are yet to be
//! measured in a release build.

use std::cell::RefCell;

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The extension's token in `Sec-WebSocket-Extensions`.
const EXTENSION: &str = "permessage-deflate";

/// What a sync flush ends with, and what the receiver appends back (§7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The level every event is deflated at: paid once per event, not per client.
const LEVEL: Compression = Compression::new(6);

/// Our answer: the server may add both `no_context_takeover` parameters (§7.1.1.1,
/// §7.1.1.2), and does, so neither side keeps a window across messages.
const ACCEPT: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// The LZ77 window the server deflates a client's messages with, in bits: 15
/// (32 KiB) unless the client limited it (`server_max_window_bits`, 8 to 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window(u8);

impl Window {
    pub const FULL: Window = Window(15);

    /// A window of `bits` (8 to 15, what `server_max_window_bits` may say).
    pub fn new(bits: u8) -> Option<Window> {
        (8..=15).contains(&bits).then_some(Window(bits))
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    /// The window the deflater is built with: 9 for 8 (see the module docs).
    fn deflater_bits(self) -> u8 {
        self.0.max(9)
    }
}

/// What the handshake agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// The `Sec-WebSocket-Extensions` response value.
    pub response: String,
    /// The window our messages to this client are deflated with.
    pub window: Window,
}

/// What we answer when one of the client's offers can be accepted with
/// server_no_context_takeover and client_no_context_takeover; None otherwise
/// (then the session is uncompressed).
///
/// `offers` are the raw header values: several headers and comma-separated lists
/// both work, parameters are `;`-separated and values may be quoted. The first
/// acceptable `permessage-deflate` offer wins; an offer with an unknown parameter,
/// a repeated one or an invalid value is declined and the next one tried (§7.1).
/// Other extensions (`x-webkit-deflate-frame`, …) are ignored.
pub fn negotiate<'a>(offers: impl Iterator<Item = &'a str>) -> Option<Agreement> {
    // A comma inside a quoted value would split an offer here; no valid value
    // contains one (a quoted value must still be a token), so such an offer is
    // declined either way.
    offers.flat_map(|value| value.split(',')).find_map(accept_offer)
}

/// One offer (`name; param; param=value`): our response if we can accept it.
fn accept_offer(offer: &str) -> Option<Agreement> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case(EXTENSION) {
        return None;
    }
    #[derive(Default)]
    struct Seen {
        server_no_context_takeover: bool,
        client_no_context_takeover: bool,
        server_max_window_bits: bool,
        client_max_window_bits: bool,
    }
    let mut seen = Seen::default();
    let mut limited = None;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim())?)),
            None => (param, None),
        };
        let once = |flag: &mut bool| (!std::mem::replace(flag, true)).then_some(());
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => once(&mut seen.server_no_context_takeover)?,
            "client_no_context_takeover" if value.is_none() => once(&mut seen.client_no_context_takeover)?,
            // The client limits our window (a value is required, §7.1.2.1).
            "server_max_window_bits" => {
                once(&mut seen.server_max_window_bits)?;
                limited = Some(window_bits(value?)?);
            }
            // The client may say it supports limiting its window (no value) or that
            // it will use a smaller one (a value): a 15-bit inflater reads both, so we
            // never answer with a limit.
            "client_max_window_bits" => {
                once(&mut seen.client_max_window_bits)?;
                if let Some(v) = value {
                    window_bits(v)?;
                }
            }
            _ => return None,
        }
    }
    // Accepting a limit means echoing it with a value no larger (§7.1.2.1): the same.
    Some(match limited {
        Some(window) => Agreement { response: format!("{ACCEPT}; server_max_window_bits={}", window.0), window },
        None => Agreement { response: ACCEPT.to_string(), window: Window::FULL },
    })
}

/// A parameter value: a token, or a quoted-string whose unescaped content is one
/// (RFC 6455 §9.1). None if malformed.
fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return (!v.is_empty() && !v.contains('"')).then(|| v.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A `*_max_window_bits` value: a decimal integer 8..=15 without leading zeros (§7.1.2).
fn window_bits(v: String) -> Option<Window> {
    if !v.bytes().all(|b| b.is_ascii_digit()) || v.starts_with('0') {
        return None;
    }
    Window::new(v.parse().ok()?)
}

thread_local! {
    /// One deflate context per thread and deflater window (9 to 15 bits), made when
    /// first needed and reset before each message (a reset context is a fresh one:
    /// the tests check the bytes are the same). Allocating a context (its window and
    /// hash tables: over 200 KiB at 15 bits) per message cost 2 to 6 times the
    /// deflating itself.
    static CONTEXTS: RefCell<[Option<Compress>; 7]> = const { RefCell::new([const { None }; 7]) };
}

/// A fresh raw-deflate context with `window`.
fn new_context(window: Window) -> Compress {
    Compress::new_with_window_bits(LEVEL, false, window.deflater_bits())
}

/// One message's payload, deflated with a fresh raw-deflate context and `window`,
/// with the 00 00 ff ff tail removed (RFC 7692 §7.2.1). The result goes in a frame
/// with RSV1 set. An empty payload gives the single byte 00 (§7.2.3.6).
pub fn compress(payload: &[u8], window: Window) -> Bytes {
    CONTEXTS.with_borrow_mut(|contexts| {
        let context = contexts[usize::from(window.deflater_bits() - 9)].get_or_insert_with(|| new_context(window));
        context.reset();
        Bytes::from(deflate_message(context, payload))
    })
}

/// [`compress`] with a given fresh (or reset) context.
fn deflate_message(deflate: &mut Compress, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        let consumed = deflate.total_in() as usize;
        deflate.compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync).expect("deflating a buffer cannot fail");
        // The flush is complete once all input is in and the output was not filled.
        if deflate.total_in() as usize == payload.len() && out.len() < out.capacity() {
            break;
        }
    }
    debug_assert!(out.ends_with(&TAIL), "a sync flush ends with an empty stored block");
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    out
}

/// Why a compressed client message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates to more than the cap (close 1009, "message too big").
    TooLarge,
    /// It is not a valid deflate stream (close 1007, "invalid payload data").
    Corrupt,
}

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InflateError::TooLarge => "the message inflates past the size limit",
            InflateError::Corrupt => "the message is not valid deflate data",
        })
    }
}

impl std::error::Error for InflateError {}

/// One compressed client message (RSV1 set), inflated with a fresh context after
/// appending 00 00 ff ff (§7.2.2). Never produces more than `max` bytes: past that it
/// stops and returns [`InflateError::TooLarge`] (a deflate bomb → close 1009).
pub fn inflate(payload: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    inflate_into(payload, max, &mut out)?;
    Ok(out)
}

/// [`inflate`] into `out`, whose capacity never exceeds `max + 1` bytes (the one
/// byte past the cap is how a too-large message is noticed).
fn inflate_into(payload: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), InflateError> {
    let limit = max.saturating_add(1);
    let mut inflater = Decompress::new(false);
    // JSON deflates about 3-10x; start there and grow, never past the limit.
    out.reserve_exact(payload.len().saturating_mul(4).saturating_add(64).min(limit));
    for input in [payload, &TAIL[..]] {
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                if out.len() >= limit {
                    return Err(InflateError::TooLarge);
                }
                out.reserve_exact(out.capacity().max(64).min(limit - out.len()));
            }
            let (in_before, out_before) = (inflater.total_in(), out.len());
            let status = inflater.decompress_vec(&input[pos..], out, FlushDecompress::Sync).map_err(|_| InflateError::Corrupt)?;
            pos += (inflater.total_in() - in_before) as usize;
            if out.len() > max {
                return Err(InflateError::TooLarge);
            }
            if status == Status::StreamEnd {
                // A final block (BFINAL) ends the message; the tail is not needed.
                return Ok(());
            }
            let progressed = inflater.total_in() != in_before || out.len() != out_before;
            // Done with this input once it is all in and the output was not filled
            // (so nothing is pending); no progress with room left means the same.
            if (pos == input.len() && out.len() < out.capacity()) || (!progressed && out.len() < out.capacity()) {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Instant;

    use super::*;

    /// Frames the service sent to a WebSocket client in `scoreticker demo` (see tests/fixtures/ws/README.md).
    const SNAPSHOT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws/snapshot-demo.json"));
    const UPDATE: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws/update-demo.json"));
    const BATCH: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws/batch-demo.json"));
    const UPDATE_BENCH: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws/update-bench.json"));
    const SNAPSHOT_20: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws/snapshot-bench-20.json"));

    fn nego(headers: &[&str]) -> Option<String> {
        negotiate(headers.iter().copied()).map(|agreed| agreed.response)
    }

    /// Our response to an accepted offer, with the window limit it echoes.
    fn accepted(window_bits: Option<u8>) -> Option<String> {
        Some(match window_bits {
            None => ACCEPT.to_string(),
            Some(bits) => format!("{ACCEPT}; server_max_window_bits={bits}"),
        })
    }

    #[test]
    fn browsers_offers_are_accepted_without_context_takeover() {
        // Chromium (and Safari) offer this; Firefox offers the bare token.
        assert_eq!(nego(&["permessage-deflate; client_max_window_bits"]), accepted(None));
        assert_eq!(nego(&["permessage-deflate"]), accepted(None));
        assert_eq!(ACCEPT, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        // Everything a client may say that we can honour.
        assert_eq!(
            nego(&["permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10"]),
            accepted(None)
        );
        assert_eq!(nego(&["permessage-deflate;client_max_window_bits=\"15\""]), accepted(None));
        assert_eq!(nego(&["permessage-deflate; client_max_window_bits=\"1\\5\""]), accepted(None), "a quoted-pair unescapes");
        assert_eq!(nego(&["Permessage-Deflate ;  Client_Max_Window_Bits "]), accepted(None));
        // Limiting our window to 15 bits limits nothing; accepting it echoes it.
        assert_eq!(nego(&["permessage-deflate; server_max_window_bits=15"]), accepted(Some(15)));
        assert_eq!(nego(&["permessage-deflate; server_max_window_bits=\"15\"; client_max_window_bits"]), accepted(Some(15)));
    }

    #[test]
    fn offers_with_bad_parameters_are_declined() {
        for offer in [
            "permessage-deflate; unknown",
            "permessage-deflate; mux=1",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=08",
            "permessage-deflate; client_max_window_bits=+9",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; client_max_window_bits=\"10",
            "permessage-deflate; client_max_window_bits=\"\"",
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"x\"",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=09",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=15; server_max_window_bits=15",
        ] {
            assert_eq!(nego(&[offer]), None, "{offer}");
        }
        assert_eq!(nego(&[]), None);
        assert_eq!(nego(&[""]), None);
    }

    #[test]
    fn the_first_acceptable_offer_wins_and_other_extensions_are_ignored() {
        // A comma-separated list: the first offer is declined, the second accepted.
        assert_eq!(nego(&["permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits"]), accepted(None));
        assert_eq!(
            nego(&["permessage-deflate; server_max_window_bits=15, permessage-deflate"]),
            accepted(Some(15)),
            "the first acceptable offer decides the response"
        );
        // Several headers, an old WebKit extension first.
        assert_eq!(nego(&["x-webkit-deflate-frame", "permessage-deflate; client_max_window_bits"]), accepted(None));
        assert_eq!(nego(&["x-webkit-deflate-frame; no_context_takeover"]), None);
        assert_eq!(nego(&["deflate-frame", "permessage-deflate-x"]), None);
        assert_eq!(nego(&["foo, , permessage-deflate; bogus", "permessage-deflate; client_no_context_takeover"]), accepted(None));
    }

    /// The receiving side in one call: what a client does with one of our messages.
    fn standard_inflate(compressed: &[u8]) -> Vec<u8> {
        let mut with_tail = compressed.to_vec();
        with_tail.extend_from_slice(&TAIL);
        let mut out = Vec::new();
        // A raw-deflate stream without a final block: the reader stops with
        // UnexpectedEof after the last complete block, having produced it all.
        let mut decoder = flate2::read::DeflateDecoder::new(&with_tail[..]);
        let mut buf = [0u8; 8192];
        loop {
            match decoder.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("not raw deflate: {e}"),
            }
        }
        out
    }

    /// A snapshot-like frame of about `size` bytes: the real snapshot's games, repeated with other ids and scores.
    fn big_snapshot(size: usize) -> Vec<u8> {
        let v: serde_json::Value = serde_json::from_slice(SNAPSHOT).unwrap();
        let games = v["games"].as_array().unwrap();
        let mut out = br#"{"type":"snapshot","seq":1,"ts":1796103566957,"topics":["all"],"games":["#.to_vec();
        let mut i = 0;
        while out.len() < size {
            let mut g = games[i % games.len()].clone();
            g["id"] = serde_json::json!(format!("demo-worldcup:{}", 700000 + i * 7919 % 99991));
            g["home"]["score"] = serde_json::json!(i % 7);
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(serde_json::to_string(&g).unwrap().as_bytes());
            i += 1;
        }
        out.extend_from_slice(b"]}");
        out
    }

    #[test]
    fn compress_then_inflate_gives_the_message_back() {
        let big = big_snapshot(300 * 1024);
        for payload in [&b""[..], b"{}", UPDATE, BATCH, SNAPSHOT, SNAPSHOT_20, &big] {
            let compressed = compress(payload, Window::FULL);
            assert!(!compressed.ends_with(&TAIL), "the tail is removed");
            assert_eq!(inflate(&compressed, payload.len()).unwrap(), payload, "{} bytes", payload.len());
            assert_eq!(standard_inflate(&compressed), payload, "a standard raw-deflate decoder reads it");
            // Fresh context every time: the same message always gives the same bytes,
            // which is what lets one compressed frame go to every client. The reset
            // thread-local context gives what a new one gives.
            assert_eq!(compress(payload, Window::FULL), compressed);
            assert_eq!(deflate_message(&mut new_context(Window::FULL), payload), compressed);
        }
        // §7.2.3.6: an empty message compresses to one 00 byte.
        assert_eq!(&compress(b"", Window::FULL)[..], &[0x00]);
        assert!(compress(&big, Window::FULL).len() * 4 < big.len(), "JSON of repeated games compresses well");
    }

    #[test]
    fn a_client_may_limit_our_window_from_8_to_15_bits() {
        for bits in 8..=15u8 {
            let offer = format!("permessage-deflate; server_max_window_bits={bits}");
            let agreed = negotiate([offer.as_str()].into_iter()).unwrap();
            assert_eq!(agreed.response, format!("{ACCEPT}; server_max_window_bits={bits}"), "the limit echoed as asked");
            assert_eq!(agreed.window.bits(), bits);
            // With the other parameters, quoted, in any order (Autobahn 13.3 to 13.6).
            let offer = format!("permessage-deflate; client_max_window_bits; server_max_window_bits=\"{bits}\"; server_no_context_takeover");
            assert_eq!(negotiate([offer.as_str()].into_iter()).unwrap().window.bits(), bits);
        }
        assert_eq!(negotiate(["permessage-deflate"].into_iter()).unwrap().window, Window::FULL);
        assert_eq!(negotiate(["permessage-deflate; client_max_window_bits=9"].into_iter()).unwrap().window, Window::FULL, "the client's own window is not ours");
    }

    /// Inflates a message with an inflater whose window is `bits` (8 to 15) and
    /// nothing more: what a client that limited our window may do; an error for a
    /// reference past it. (miniz_oxide's inflater with a wrapping output buffer of
    /// 2^bits bytes: zlib's, zlib-rs' too, keep a 32 KiB window whatever is asked.)
    fn inflate_with_window(compressed: &[u8], bits: u8) -> Result<Vec<u8>, String> {
        use miniz_oxide::inflate::core::{decompress, inflate_flags::TINFL_FLAG_HAS_MORE_INPUT, DecompressorOxide};
        use miniz_oxide::inflate::TINFLStatus;
        let mut input = compressed.to_vec();
        input.extend_from_slice(&TAIL);
        let mut window = vec![0u8; 1 << bits];
        let mut inflater = DecompressorOxide::new();
        let (mut taken, mut at, mut out) = (0, 0, Vec::new());
        loop {
            let (status, read, written) = decompress(&mut inflater, &input[taken..], &mut window, at, TINFL_FLAG_HAS_MORE_INPUT);
            out.extend_from_slice(&window[at..at + written]);
            taken += read;
            at = (at + written) & (window.len() - 1);
            match status {
                TINFLStatus::HasMoreOutput => {}
                TINFLStatus::NeedsMoreInput if taken == input.len() => return Ok(out),
                other => return Err(format!("{other:?} after {} bytes", out.len())),
            }
        }
    }

    /// Bytes that repeat at every distance from 2 to 64 KiB: a deflater reaches
    /// as far back as its window allows.
    fn repeats_at_every_distance() -> Vec<u8> {
        let mut state = 0x2545f491u32;
        let mut noise = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 251) as u8
        };
        let mut data = Vec::new();
        for block in [200usize, 300, 700, 1500, 3000, 6000, 12000, 24000, 48000] {
            let chunk: Vec<u8> = (0..block).map(|_| noise()).collect();
            data.extend_from_slice(&chunk);
            data.extend_from_slice(&chunk);
        }
        data
    }

    #[test]
    fn a_limited_window_is_honoured() {
        let data = repeats_at_every_distance();
        let full = compress(&data, Window::FULL);
        assert_eq!(inflate_with_window(&full, 15).unwrap(), data);
        for bits in 8..=14u8 {
            let window = Window(bits);
            let limited = compress(&data, window);
            assert_eq!(inflate_with_window(&limited, bits).unwrap(), data, "{bits} bits");
            assert_eq!(standard_inflate(&limited), data, "any inflater with a larger window reads it too");
            assert!(limited.len() > full.len(), "{bits} bits: repeats farther back than the window are not found");
            // The check is real: the full window's output does not fit a smaller one.
            assert!(inflate_with_window(&full, bits).is_err(), "{bits} bits");
            // One form per window, the same for every client: a reset context as a fresh one.
            assert_eq!(compress(&data, window), limited);
            assert_eq!(deflate_message(&mut new_context(window), &data), limited);
        }
        assert_eq!(compress(&data, Window(8)), compress(&data, Window(9)), "8 is served with 9");
    }

    /// What a client's permessage-deflate does: a sync flush, the tail removed.
    fn client_style(payload: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(payload).unwrap();
        encoder.flush().unwrap();
        let mut out = std::mem::take(encoder.get_mut());
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - TAIL.len());
        out
    }

    #[test]
    fn client_messages_compressed_elsewhere_inflate() {
        let subscribe = br#"{"type":"subscribe","topics":["league:nba","team:nba:lal"],"since":{"epoch":"e1","seq":41}}"#;
        assert_eq!(inflate(&client_style(subscribe), 4096).unwrap(), subscribe);
        assert_eq!(inflate(&client_style(b""), 4096).unwrap(), b"");
        // The same message deflated by zlib (what browsers use): Python's
        // zlib.compressobj(6, DEFLATED, -15), sync flush, tail removed.
        let by_zlib = "148c310ac0201004ffb2b58d90eabe12529c7224825193d322887f8f76cb30b31df52b028236a7fe0d4e605073095e413ba2f0d98492e38585ef352972c461a021f9997648c9fe9a1f62a7a5f280363bc60f";
        let by_zlib: Vec<u8> = (0..by_zlib.len()).step_by(2).map(|i| u8::from_str_radix(&by_zlib[i..i + 2], 16).unwrap()).collect();
        assert_eq!(inflate(&by_zlib, 4096).unwrap(), subscribe);
        // A client may end its message with a final block (BFINAL) instead.
        let mut finished = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        finished.write_all(subscribe).unwrap();
        assert_eq!(inflate(&finished.finish().unwrap(), 4096).unwrap(), subscribe);
        // Exactly at the cap is allowed; one byte more is not.
        assert_eq!(inflate(&client_style(subscribe), subscribe.len()).unwrap(), subscribe);
        assert_eq!(inflate(&client_style(subscribe), subscribe.len() - 1), Err(InflateError::TooLarge));
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_cap_without_allocating_the_output() {
        // 64 MiB of zeros deflate to ~64 KiB: expanded, it would take 64 MiB.
        let bomb = client_style(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 100 << 10, "{}", bomb.len());
        assert_eq!(inflate(&bomb, 4096), Err(InflateError::TooLarge));
        let mut out = Vec::new();
        assert_eq!(inflate_into(&bomb, 4096, &mut out), Err(InflateError::TooLarge));
        assert!(out.capacity() <= 4097, "the output never grows past the cap: {}", out.capacity());
        // A large cap is no larger than what is needed.
        let mut out = Vec::new();
        assert_eq!(inflate_into(&bomb, 1 << 20, &mut out), Err(InflateError::TooLarge));
        assert!(out.capacity() <= (1 << 20) + 1, "{}", out.capacity());
    }

    #[test]
    fn corrupt_input_is_refused() {
        // BTYPE 11 is reserved: not deflate.
        assert_eq!(inflate(&[0xff, 0xff, 0xff], 4096), Err(InflateError::Corrupt));
        // A stored block whose length and its complement disagree.
        assert_eq!(inflate(&[0x00, 0x05, 0x00, 0x00, 0x00, b'h'], 4096), Err(InflateError::Corrupt));
        // Plain JSON sent with RSV1 set by mistake.
        assert_eq!(inflate(br#"{"type":"subscribe","topics":["all"]}"#, 4096), Err(InflateError::Corrupt));
    }

    /// Prints the compress cost and ratio of the fixture frames (the module doc's table):
    /// `cargo test --release --lib server::ws::deflate::tests::measure -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test: run it by hand with --release"]
    fn measure() {
        let time = |payload: &[u8], rounds: usize, f: &mut dyn FnMut(&[u8]) -> usize| {
            let t = Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(f(std::hint::black_box(payload)));
            }
            t.elapsed().as_secs_f64() * 1e6 / rounds as f64
        };
        println!("| frame | level | plain bytes | deflated | ratio | µs, fresh context | µs, one context reset each time |");
        for (name, payload) in [("snapshot, demo", SNAPSHOT), ("snapshot, bench", SNAPSHOT_20), ("update, demo", UPDATE), ("update, bench", UPDATE_BENCH), ("batch, demo", BATCH)] {
            for level in [1, 6, 9] {
                let rounds = (2_000_000 / payload.len()).clamp(50, 5_000);
                let size = deflate_message(&mut Compress::new(Compression::new(level), false), payload).len();
                let fresh = time(payload, rounds, &mut |p| deflate_message(&mut Compress::new(Compression::new(level), false), p).len());
                let mut ctx = Compress::new(Compression::new(level), false);
                let reset = time(payload, rounds, &mut |p| {
                    ctx.reset();
                    deflate_message(&mut ctx, p).len()
                });
                println!("| {name} | {level} | {} | {size} | {:.1} % | {fresh:.1} | {reset:.1} |", payload.len(), 100.0 * size as f64 / payload.len() as f64);
            }
        }
        for (name, payload) in [("snapshot, demo", SNAPSHOT), ("snapshot, bench (20 games)", SNAPSHOT_20), ("update, demo", UPDATE), ("update, bench", UPDATE_BENCH), ("batch, demo", BATCH)] {
            let rounds = (2_000_000 / payload.len()).clamp(50, 5_000);
            let compressed = compress(payload, Window::FULL);
            let t = Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(compress(std::hint::black_box(payload), Window::FULL));
            }
            let compress_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
            let t = Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(inflate(std::hint::black_box(&compressed), 1 << 24).unwrap());
            }
            let inflate_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
            println!(
                "| {name} | {} | {} | {:.1} % | {compress_us:.1} | {inflate_us:.1} |",
                payload.len(),
                compressed.len(),
                100.0 * compressed.len() as f64 / payload.len() as f64
            );
        }
    }
}
