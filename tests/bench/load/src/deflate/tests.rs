//! The `--deflate` client against a scripted server on a real loopback socket: the
//! server's side is written out byte by byte, so each test says exactly what went
//! over the wire.

use flate2::{Compress, Compression, FlushCompress};
use tokio::net::TcpListener;

use super::*;

const ACCEPT: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

#[test]
fn answers_the_client_understands() {
    let a = parse_accept(ACCEPT).unwrap();
    assert!(a.no_context_takeover);
    assert_eq!(a.response, ACCEPT);
    assert!(!parse_accept("permessage-deflate").unwrap().no_context_takeover);
    assert!(parse_accept("permessage-deflate; server_max_window_bits=10; client_max_window_bits=\"15\"").is_ok());
    for bad in [
        "x-webkit-deflate-frame",
        "permessage-deflate; mux",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate, permessage-deflate",
    ] {
        assert!(parse_accept(bad).is_err(), "{bad}");
    }
}

/// One message deflated as a permessage-deflate sender does: sync flush, tail removed.
/// `context` kept across calls is context takeover; a fresh one each time is not.
fn deflate_message(context: &mut Compress, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 64);
    context.compress_vec(payload, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

/// An unmasked server frame.
fn frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![(fin as u8) << 7 | (rsv1 as u8) << 6 | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=65535 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// Reads one masked client frame: (opcode, unmasked payload).
async fn read_client_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(head[1] & 0x80, 0x80, "client frames are masked");
    assert_eq!(head[0] & 0x40, 0, "the client sends uncompressed");
    let len = (head[1] & 0x7f) as usize;
    assert!(len < 126);
    let mut mask = [0u8; 4];
    s.read_exact(&mut mask).await.unwrap();
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    (head[0] & 0x0f, payload)
}

/// A server that answers the handshake with `extensions` (None: declines) and then
/// writes `after` in the same write as the 101 response, then runs `rest`.
async fn serve<F, Fut>(extensions: Option<&'static str>, after: Vec<u8>, rest: F) -> (DeflateWs, tokio::task::JoinHandle<()>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut req = Vec::new();
        while !req.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            req.push(b[0]);
        }
        let req = String::from_utf8(req).unwrap();
        assert!(req.starts_with("GET /ws?topics=all HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"), "{req}");
        let key = req.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
            derive_accept_key(key.as_bytes())
        );
        if let Some(e) = extensions {
            response.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
        }
        response.push_str("\r\n");
        let mut out = response.into_bytes();
        out.extend_from_slice(&after);
        s.write_all(&out).await.unwrap();
        rest(s).await;
    });
    let stream = TcpStream::connect(addr).await.unwrap();
    let ws = DeflateWs::handshake(stream, &addr.to_string(), "/ws?topics=all").await.unwrap();
    (ws, server)
}

#[tokio::test]
async fn compressed_fragmented_and_plain_messages_are_read_and_pings_answered() {
    let hello = br#"{"type":"hello","epoch":"e1","seq":4,"heartbeat_s":20}"#;
    let snapshot: Vec<u8> = format!(r#"{{"type":"snapshot","seq":4,"ts":1,"topics":["all"],"games":[{}]}}"#, vec![r#"{"id":"bench-0:1","home":{"score":1}}"#; 300].join(","))
        .into_bytes();
    let update = br#"{"type":"update","seq":5,"ts":2,"changes":["score"],"game":{"id":"bench-0:1","home":{"score":2}}}"#;
    let hello_z = deflate_message(&mut Compress::new(Compression::default(), false), hello);
    let snapshot_z = deflate_message(&mut Compress::new(Compression::default(), false), &snapshot);
    assert!(snapshot_z.len() > 20);
    let (first, second) = snapshot_z.split_at(10);
    let hello_frame = frame(true, true, 1, &hello_z);
    let mut after = hello_frame.clone();
    // The first message arrives with the handshake response, in one write.
    let (frag1, frag2) = (frame(false, true, 1, first), frame(true, false, 0, second));
    let (wire_hello, wire_snapshot) = (hello_frame.len(), frag1.len() + frag2.len());
    after.extend(frame(true, false, 9, b"are you there"));
    after.extend(frag1);
    after.extend(frame(true, false, 10, b"unsolicited pong"));
    after.extend(frag2);
    after.extend(frame(true, false, 1, update));
    let (mut ws, server) = serve(Some(ACCEPT), after, |mut s| async move {
        assert_eq!(read_client_frame(&mut s).await, (10, b"are you there".to_vec()), "the ping is answered");
        assert_eq!(read_client_frame(&mut s).await, (1, br#"{"type":"subscribe","topics":["all"]}"#.to_vec()));
        let mut close = 1001u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        s.write_all(&frame(true, false, 8, &close)).await.unwrap();
    })
    .await;
    assert_eq!(ws.accepted.as_ref().map(|a| a.response.as_str()), Some(ACCEPT));
    let t = ws.next_text().await.unwrap();
    assert_eq!((&t.payload[..], t.wire), (&hello[..], wire_hello));
    let t = ws.next_text().await.unwrap();
    assert_eq!(&t.payload[..], &snapshot[..]);
    assert_eq!(t.wire, wire_snapshot, "wire bytes are the compressed frames'");
    assert!(t.wire * 10 < snapshot.len());
    let t = ws.next_text().await.unwrap();
    assert_eq!((&t.payload[..], t.wire), (&update[..], update.len() + 2), "an uncompressed message in a compressed session");
    ws.send_text(r#"{"type":"subscribe","topics":["all"]}"#).await.unwrap();
    assert_eq!(ws.next_text().await.unwrap_err(), "close 1001 (bye)");
    server.await.unwrap();
}

#[tokio::test]
async fn without_server_no_context_takeover_the_window_carries_over() {
    let messages = [&br#"{"type":"update","seq":5,"ts":2,"game":{"id":"bench-0:1","name":"Los Angeles Lakers"}}"#[..], br#"{"type":"update","seq":6,"ts":3,"game":{"id":"bench-0:1","name":"Los Angeles Lakers"}}"#];
    let mut context = Compress::new(Compression::default(), false);
    let mut after = Vec::new();
    for m in messages {
        after.extend(frame(true, true, 1, &deflate_message(&mut context, m)));
    }
    let (mut ws, server) = serve(Some("permessage-deflate"), after, |_| async {}).await;
    assert!(!ws.accepted.as_ref().unwrap().no_context_takeover);
    for m in messages {
        assert_eq!(&ws.next_text().await.unwrap().payload[..], m);
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_declining_server_sends_plain_frames_and_rsv1_is_then_an_error() {
    let hello = br#"{"type":"hello","epoch":"e1","seq":4,"heartbeat_s":20}"#;
    let mut after = frame(true, false, 1, hello);
    after.extend(frame(true, true, 1, &deflate_message(&mut Compress::new(Compression::default(), false), hello)));
    let (mut ws, server) = serve(None, after, |_| async {}).await;
    assert_eq!(ws.accepted, None);
    let t = ws.next_text().await.unwrap();
    assert_eq!((&t.payload[..], t.wire), (&hello[..], hello.len() + 2));
    assert!(ws.next_text().await.unwrap_err().contains("reserved bits"));
    server.await.unwrap();
}

#[test]
fn wire_sizes_of_plain_frames() {
    assert_eq!(server_frame_wire(0), 2);
    assert_eq!(server_frame_wire(125), 127);
    assert_eq!(server_frame_wire(126), 130);
    assert_eq!(server_frame_wire(65535), 65539);
    assert_eq!(server_frame_wire(65536), 65546);
    assert_eq!(frame(true, false, 1, &[b'x'; 300]).len(), server_frame_wire(300));
}
