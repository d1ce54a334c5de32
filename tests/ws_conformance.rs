//! The WebSocket stack against RFC 6455 and 7692 where Autobahn|Testsuite
//! found it wanting (tests/conformance/run.sh runs the suite itself): close
//! codes and reasons checked, the server closing TCP first once the closing
//! handshake is done or the connection failed, a limited deflate window, and
//! a flooding echo client closed with 1013 at a frame boundary. A raw client
//! over TCP against `/ws/echo` of the real service.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::raw_ws::{self, End, RawWs, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
use common::*;

/// The server used to wait this long for the client to hang up after a
/// closing handshake (the close grace): closing TCP first means well before.
const GRACE: Duration = Duration::from_secs(1);

async fn echo_socket(addr: SocketAddr, headers: &[(&str, &str)]) -> RawWs {
    RawWs::connect(addr, "/ws/echo", headers, None).await
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// The server's close frame (pings skipped): its code.
async fn server_close(ws: &mut RawWs) -> Option<u16> {
    loop {
        let frame = ws.next_frame().await.unwrap_or_else(|end| panic!("no close frame: {end:?}"));
        match frame.opcode {
            OP_CLOSE => return raw_ws::close_code(&frame.payload),
            OP_PING | OP_PONG => {}
            other => panic!("a frame with opcode {other} where a close was due"),
        }
    }
}

/// Asserts the server ends the TCP connection right behind its close frame,
/// while this client keeps its side open and sends nothing more.
async fn server_hangs_up_first(ws: &mut RawWs, since: Instant, what: &str) {
    let end = ws.next_frame().await.map(|f| f.opcode);
    assert_eq!(end.err(), Some(End::Eof), "{what}: the stream after the close frame");
    let took = since.elapsed();
    assert!(took < GRACE - Duration::from_millis(100), "{what}: the server closed TCP {took:?} after the close, as if it waited for the client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_with_a_code_not_for_the_wire_is_answered_1002() {
    let service = start_service(&[], "").await;
    // RFC 6455 §7.4: 1004 reserved, 1005, 1006 and 1015 never sent, the rest
    // of 0-2999 unassigned or the protocol's; Autobahn 7.9.1-7.9.9 and more.
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        let mut ws = echo_socket(service.addr, &[]).await;
        let sent = Instant::now();
        ws.send_frame(true, false, OP_CLOSE, &close_payload(code, b"")).await;
        assert_eq!(server_close(&mut ws).await, Some(1002), "close code {code}");
        server_hangs_up_first(&mut ws, sent, &format!("close code {code}")).await;
    }
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_reason_that_is_not_utf8_is_answered_1007() {
    let service = start_service(&[], "").await;
    // Autobahn 7.5.1: valid text, then a UTF-16 surrogate encoded as UTF-8.
    let mut ws = echo_socket(service.addr, &[]).await;
    let sent = Instant::now();
    ws.send_frame(true, false, OP_CLOSE, &close_payload(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64")).await;
    assert_eq!(server_close(&mut ws).await, Some(1007));
    server_hangs_up_first(&mut ws, sent, "a reason that is not UTF-8").await;
    // A valid reason is fine.
    let mut ws = echo_socket(service.addr, &[]).await;
    ws.send_frame(true, false, OP_CLOSE, &close_payload(1000, "au revoir, déjà".as_bytes())).await;
    assert_eq!(server_close(&mut ws).await, Some(1000));
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_close_is_echoed_and_the_server_closes_tcp_first() {
    let service = start_service(&[], "").await;
    for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
        let mut ws = echo_socket(service.addr, &[]).await;
        ws.send_text("before the close").await;
        assert_eq!(ws.next_message().await.unwrap().payload, b"before the close");
        let sent = Instant::now();
        ws.send_frame(true, false, OP_CLOSE, &close_payload(code, b"bye")).await;
        assert_eq!(server_close(&mut ws).await, Some(code), "the same code back");
        server_hangs_up_first(&mut ws, sent, &format!("close code {code}")).await;
    }
    // No code: answered with 1000.
    let mut ws = echo_socket(service.addr, &[]).await;
    let sent = Instant::now();
    ws.send_frame(true, false, OP_CLOSE, b"").await;
    assert_eq!(server_close(&mut ws).await, Some(1000));
    server_hangs_up_first(&mut ws, sent, "a close without a code").await;
    service.running.stop().await;
}

/// Frames that arrive in one read are all handled at once: ten pings and a
/// close written together get ten pongs and the close (Autobahn 2.10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_arrive_together_are_all_answered() {
    let service = start_service(&[], "").await;
    let mut ws = echo_socket(service.addr, &[]).await;
    let mut burst = Vec::new();
    for i in 0..10 {
        burst.extend(raw_ws::client_frame(true, false, OP_PING, format!("ping {i}").as_bytes()));
    }
    burst.extend(raw_ws::client_frame(true, false, OP_TEXT, b"and a message"));
    burst.extend(raw_ws::client_frame(true, false, OP_CLOSE, &close_payload(1000, b"")));
    let sent = Instant::now();
    ws.send_bytes(&burst).await;
    for i in 0..10 {
        let pong = ws.next_frame().await.unwrap();
        assert_eq!((pong.opcode, pong.payload), (OP_PONG, format!("ping {i}").into_bytes()));
    }
    assert_eq!(ws.next_frame().await.unwrap().payload, b"and a message");
    assert_eq!(server_close(&mut ws).await, Some(1000));
    server_hangs_up_first(&mut ws, sent, "a burst of pings and a close").await;
    service.running.stop().await;
}

/// Failing the connection (RFC 6455 §7.1.7): the close frame, then TCP closes
/// at once; the client need not answer, and what it sends after is not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_closes_tcp_right_behind_the_close_frame() {
    let service = start_service(&[], "").await;
    let mut ws = echo_socket(service.addr, &[]).await;
    let sent = Instant::now();
    ws.send_frame(true, false, 0x3, b"reserved opcode").await;
    assert_eq!(server_close(&mut ws).await, Some(1002));
    server_hangs_up_first(&mut ws, sent, "a reserved opcode").await;

    let mut ws = echo_socket(service.addr, &[]).await;
    let sent = Instant::now();
    ws.send_frame(true, false, OP_TEXT, b"\xce\xba\xed\xa0\x80").await;
    assert_eq!(server_close(&mut ws).await, Some(1007));
    server_hangs_up_first(&mut ws, sent, "text that is not UTF-8").await;

    // Fail fast: the fragment that breaks UTF-8 fails the connection, before
    // the message's last fragment (Autobahn 6.4.1).
    let mut ws = echo_socket(service.addr, &[]).await;
    ws.send_frame(false, false, OP_TEXT, "κόσμε".as_bytes()).await;
    ws.send_frame(false, false, 0x0, b"\xf4\x90\x80\x80").await;
    assert_eq!(server_close(&mut ws).await, Some(1007), "the message is still open");
    ws.send_frame(true, false, 0x0, b"edited").await;

    // Over the size cap: 1009, and TCP closes behind it.
    let mut ws = echo_socket(service.addr, &[]).await;
    let sent = Instant::now();
    ws.send_frame(true, false, OP_BINARY, &[7u8; 4097]).await;
    assert_eq!(server_close(&mut ws).await, Some(1009));
    server_hangs_up_first(&mut ws, sent, "a message over the cap").await;
    service.running.stop().await;
}

/// When the server starts the close (here: a peer that answers no ping), it
/// waits for the client's close within the grace, and the client's close ends
/// the wait: TCP closes then, not at the grace's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_answer_to_the_servers_close_ends_the_handshake() {
    let service = start_service(&[], "[limits]\nheartbeat = \"1s\"\n").await;
    let mut ws = echo_socket(service.addr, &[]).await;
    // Pings unanswered (server_close skips them): silent for two intervals.
    assert_eq!(server_close(&mut ws).await, Some(1008));
    let answered = Instant::now();
    ws.send_frame(true, false, OP_CLOSE, &close_payload(1000, b"")).await;
    server_hangs_up_first(&mut ws, answered, "the answer to the server's close").await;

    // A client that never answers is let go after the grace, TCP closed by the server.
    let mut ws = echo_socket(service.addr, &[]).await;
    assert_eq!(server_close(&mut ws).await, Some(1008));
    assert_eq!(ws.next_frame().await.map(|f| f.opcode).err(), Some(End::Eof));
    service.running.stop().await;
}

/// RFC 7692 §7.1.2.1: a client may limit the window the server deflates with
/// (Autobahn 13.3 and 13.5 ask for 9 bits). The server echoes the limit and
/// deflates that client's messages with it: the bytes are the library's own
/// deflate with that window, which its unit tests inflate with an inflater held
/// to that window (src/server/ws/deflate.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_deflate_window_is_agreed_and_used() {
    use scoreticker::server::ws::deflate::{compress, Window};
    let service = start_service(&[], "").await;
    // Text that repeats itself every 1.2 KB, and with smaller likenesses nearer.
    let block: String = (0..40).map(|i| format!("{{\"game\":{},\"home\":{},\"away\":{}}},", i * 7919 % 1000, i % 5, i % 3)).collect();
    let text = block.repeat(3);
    for bits in 8..=15u8 {
        let offer = format!("permessage-deflate; client_max_window_bits; server_max_window_bits={bits}");
        let mut ws = echo_socket(service.addr, &[("Sec-WebSocket-Extensions", &offer)]).await;
        let agreed = raw_ws::header(&ws.response, "sec-websocket-extensions").unwrap_or_else(|| panic!("{bits} bits declined: {}", ws.response));
        assert!(agreed.contains(&format!("server_max_window_bits={bits}")), "{bits} bits: {agreed}");
        ws.send_text(&text).await;
        let frame = ws.next_frame().await.unwrap();
        assert!(frame.rsv1 && frame.opcode == OP_TEXT, "{bits} bits: the echo is deflated");
        assert_eq!(raw_ws::inflate(&frame.payload, 1 << 20), text.as_bytes());
        let window = Window::new(bits).unwrap();
        assert_eq!(frame.payload, compress(text.as_bytes(), window), "{bits} bits: deflated with the window agreed");
        if 1 << bits < block.len() {
            assert_ne!(frame.payload, compress(text.as_bytes(), Window::FULL), "{bits} bits: not the full window's form");
        }
    }
    service.running.stop().await;
}

/// A client that floods the echo socket with 4 KB messages and reads nothing
/// fills both ways; the server stops reading, and after `send_timeout` closes
/// with 1013 at a frame boundary (reading again, so the client's writes
/// move). A client that then reads finds whole echoes, then the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_flood_is_closed_with_1013_at_a_frame_boundary() {
    let send_timeout = Duration::from_secs(2);
    let service = start_service(&[], &format!("[limits]\nsend_timeout = \"{}s\"\n", send_timeout.as_secs())).await;
    let mut ws = RawWs::connect(service.addr, "/ws/echo", &[], Some(16 * 1024)).await;
    let message: Vec<u8> = (0..4000).map(|i| b'a' + (i % 26) as u8).collect();
    let started = Instant::now();
    let mut sent = 0;
    loop {
        let write = Instant::now();
        ws.send_frame(true, false, OP_TEXT, &message).await;
        sent += 1;
        // A write held up that long, then taken: the server had stopped
        // reading, and reads again because it is closing.
        if write.elapsed() > send_timeout / 2 {
            break;
        }
        assert!(started.elapsed() < 10 * send_timeout, "the server kept taking the flood: {sent} messages");
    }
    let mut echoes = 0;
    let code = loop {
        let frame = ws.next_frame().await.unwrap_or_else(|end| panic!("after {echoes} whole echoes of {sent}: {end:?}, no close frame"));
        match frame.opcode {
            OP_TEXT => {
                assert!(frame.fin && frame.payload == message, "echo {echoes} is not the message sent");
                echoes += 1;
            }
            OP_PING | OP_PONG => {}
            OP_CLOSE => break raw_ws::close_code(&frame.payload),
            other => panic!("opcode {other}"),
        }
    };
    assert_eq!(code, Some(1013), "after {echoes} echoes");
    assert!(echoes > 0 && echoes < sent, "{echoes} echoes of {sent} messages");
    ws.send_frame(true, false, OP_CLOSE, &close_payload(1000, b"")).await;
    assert_eq!(ws.next_frame().await.map(|f| f.opcode).err(), Some(End::Eof));
    service.running.stop().await;
}
