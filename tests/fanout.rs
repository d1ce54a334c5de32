//! The fan-out path under clients that do not keep up, against the real binary:
//! a slow reader among fast ones, a reader that stops in the middle of a large
//! frame, and permessage-deflate (compressed and plain clients side by side, a
//! deflate bomb). The clients are hand-written (`common::raw_ws`), so every
//! frame header on the wire is checked, not only what a WebSocket library would
//! let through.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::raw_ws::{self, End, RawWs};
use common::*;
use serde_json::Value;
use tokio::sync::watch;

/// The rcvbuf of a client that stops reading: small, so the server's side fills quickly.
const SMALL_RCVBUF: u32 = 4096;

/// A daemon polling `upstream` every second, with `limits` under `[limits]`.
fn start_daemon(dir: &tempfile::TempDir, upstream: &Upstream, limits: &str) -> Daemon {
    // For the test's own HTTP client (reqwest is built without a default provider).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config: PathBuf = write_config(dir.path(), &format!("[limits]\n{limits}\n"));
    std::fs::write(dir.path().join("feeds.d/nba.toml"), feed_file("nba", &upstream.url(), "max_body_bytes = \"32MiB\"\n")).unwrap();
    Daemon::start(&config, None)
}

/// `espn_many(n)` with every team's name and logo near their longest (about
/// 2.6 KB a game). A client that stops reading must hold more than the kernel
/// buffers on loopback (a few MB: the server's send buffer grows to 4 MiB) before
/// the server's writes block, so the slow paths need large frames.
fn heavy_games(n: usize) -> Value {
    let mut doc = espn_many(n);
    for (i, event) in doc["events"].as_array_mut().unwrap().iter_mut().enumerate() {
        for (side, competitor) in event["competitions"][0]["competitors"].as_array_mut().unwrap().iter_mut().enumerate() {
            let team = &mut competitor["team"];
            team["displayName"] = Value::String(format!("{:-<120}", format!("Team {i}-{side} ")));
            team["logo"] = Value::String(format!("https://logos.example/{i}/{side}/{}.png", "x".repeat(960)));
        }
    }
    doc
}

/// Queues `rounds` polls in each of which games `0..changed` score again (the
/// round's number), so each poll makes `changed` events.
fn push_rounds(upstream: &Upstream, doc: &mut Value, changed: usize, rounds: std::ops::RangeInclusive<i64>) {
    for round in rounds {
        for e in 0..changed {
            set_score(doc, e, 0, round);
        }
        upstream.push([Step::json(doc)]);
    }
}

/// Waits until `changed` games show `round` as the home score, and returns the
/// server's seq then: the last event of that round.
async fn wait_for_round(addr: SocketAddr, changed: usize, round: i64, mut each: impl FnMut()) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let doc: Value = reqwest::get(format!("http://{addr}/api/v1/games")).await.unwrap().json().await.unwrap();
        let done = doc["games"].as_array().unwrap().iter().filter(|g| g["home"]["score"] == round).count();
        if done >= changed {
            return doc["seq"].as_u64().unwrap();
        }
        assert!(Instant::now() < deadline, "round {round} never reached the server ({done} of {changed} games)");
        each();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The seq of a frame that carries events or state, checked to follow `last`:
/// events one by one with no gap and no repeat; a snapshot (a resync) is
/// allowed only where `resync_ok`, at or after `last`.
fn check_order(frame: &Value, last: &mut u64, resync_ok: bool) {
    match frame["type"].as_str() {
        Some("snapshot") => {
            assert!(resync_ok, "a resync: the client fell behind the broadcast (last seq {last})");
            let seq = frame["seq"].as_u64().unwrap();
            assert!(seq >= *last, "a snapshot at seq {seq} after seq {last}");
            *last = seq;
        }
        Some("update" | "remove" | "batch") => {
            for event in events_of(frame) {
                let seq = event["seq"].as_u64().unwrap();
                assert_eq!(seq, *last + 1, "after seq {last}: {}", event["type"]);
                *last = seq;
            }
        }
        other => panic!("an unexpected frame: {other:?}"),
    }
}

/// Reads a subscribed client's hello and snapshot; the snapshot's seq.
async fn hello_and_snapshot(ws: &mut RawWs) -> u64 {
    let hello = ws.next_json().await.unwrap();
    assert_eq!(hello["type"], "hello", "{hello}");
    let snapshot = ws.next_json().await.unwrap();
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    snapshot["seq"].as_u64().unwrap()
}

/// Reads `ws` until it has seen the seq `target` announces, checking the
/// order of every event from `last` on; the number of events read.
async fn read_in_order(ws: &mut RawWs, mut last: u64, mut target: watch::Receiver<u64>, resync_ok: bool) -> u64 {
    let first = last;
    loop {
        if last >= *target.borrow_and_update() {
            return last - first;
        }
        let frame = tokio::select! {
            frame = ws.next_json() => frame.unwrap_or_else(|end| panic!("the stream ended after seq {last}: {end:?}")),
            _ = target.changed() => continue,
        };
        check_order(&frame, &mut last, resync_ok);
    }
}

/// A client that stops reading while the broadcast goes on is closed (1013, or
/// cut off if it never reads again) and its memory is bounded; the fast clients
/// beside it get every event, in order, with no gap and no resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_closed_and_fast_readers_miss_nothing() {
    const GAMES: usize = 400;
    const FAST: usize = 20;
    const ROUNDS: i64 = 6;
    let mut doc = heavy_games(GAMES);
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&dir, &upstream, "send_timeout = \"2s\"");
    wait_for_games(daemon.addr, GAMES).await;

    let (target_tx, target) = watch::channel(u64::MAX);
    let mut fast = Vec::new();
    for _ in 0..FAST {
        let mut ws = RawWs::connect(daemon.addr, "/ws?topics=all", &[], None).await;
        let seq = hello_and_snapshot(&mut ws).await;
        let target = target.clone();
        fast.push(tokio::spawn(async move { read_in_order(&mut ws, seq, target, false).await }));
    }
    // The slow one takes its hello and snapshot, then reads nothing more.
    let mut slow = RawWs::connect(daemon.addr, "/ws?topics=all", &[], Some(SMALL_RCVBUF)).await;
    hello_and_snapshot(&mut slow).await;
    let rss_before = daemon.rss_kib();

    push_rounds(&upstream, &mut doc, GAMES, 1..=ROUNDS);
    let mut rss_max = rss_before;
    let last = wait_for_round(daemon.addr, GAMES, ROUNDS, || rss_max = rss_max.max(daemon.rss_kib())).await;
    let _ = target_tx.send(last);
    for (i, reader) in fast.into_iter().enumerate() {
        let events = tokio::time::timeout(Duration::from_secs(60), reader).await.expect("a fast client keeps up").unwrap();
        assert_eq!(events, GAMES as u64 * ROUNDS as u64, "fast client {i}");
    }

    // The server gave up on the slow one, and on no other.
    let deadline = Instant::now() + Duration::from_secs(60);
    while daemon.metric("scoreticker_clients_closed_total", &[("reason", "slow")]).await < 1.0 {
        assert!(Instant::now() < deadline, "the slow client was never closed");
        rss_max = rss_max.max(daemon.rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(daemon.metric("scoreticker_clients_closed_total", &[("reason", "slow")]).await, 1.0);
    rss_max = rss_max.max(daemon.rss_kib());

    // What the slow one finds when it reads again: whole, valid frames, then a
    // 1013 close or the end of the stream (1006); never another close code.
    let mut frames = 0;
    let end = loop {
        match slow.next_json().await {
            Ok(_) => frames += 1,
            Err(end) => break end,
        }
    };
    assert!(matches!(end, End::Closed(Some(1013)) | End::Eof | End::Cut { .. }), "after {frames} frames: {end:?}");

    // Memory stayed bounded: generous, since RSS counts allocator slack too.
    let grown = rss_max.saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB ({rss_before} KiB → {rss_max} KiB)");
}

/// A client that stops reading inside a snapshot of about 5 MB (more than the
/// kernel buffers, so the server's write is partial) and reads again before `send_timeout` gets the
/// rest of the stream intact: valid frames, JSON, seqs in order. One that
/// pauses past `send_timeout` gets whole frames and then a 1013 close at a frame
/// boundary, never a cut or mixed-up frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_paused_inside_a_large_frame_gets_a_valid_stream() {
    const GAMES: usize = 2000;
    const CHANGED: usize = 50;
    const PAUSED_AT: usize = 64 * 1024;
    const PAUSED_RCVBUF: u32 = 32 * 1024;
    let mut doc = heavy_games(GAMES);
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&dir, &upstream, "send_timeout = \"8s\"");
    wait_for_games(daemon.addr, GAMES).await;

    // Paused shorter than send_timeout: the stream goes on. (The whole snapshot
    // must be written within send_timeout: the receive buffer is small enough
    // that the server's write is partial, large enough to take 5 MB quickly.)
    let mut ws = RawWs::connect(daemon.addr, "/ws?topics=all", &[], Some(PAUSED_RCVBUF)).await;
    ws.read_until_received(PAUSED_AT).await;
    push_rounds(&upstream, &mut doc, CHANGED, 1..=3);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (target_tx, target) = watch::channel(u64::MAX);
    let resumed = Instant::now();
    let reader = tokio::spawn(async move {
        let seq = hello_and_snapshot(&mut ws).await;
        eprintln!("the rest of the snapshot took {:?} to read", resumed.elapsed());
        assert!(ws.received > 64 * PAUSED_AT, "the snapshot is large ({} bytes so far): the pause was inside it", ws.received);
        read_in_order(&mut ws, seq, target, false).await
    });
    let last = wait_for_round(daemon.addr, CHANGED, 3, || ()).await;
    let _ = target_tx.send(last);
    let events = tokio::time::timeout(Duration::from_secs(60), reader).await.expect("the paused client catches up").unwrap();
    assert_eq!(events, 3 * CHANGED as u64, "every event after the snapshot");

    // Paused past send_timeout: the server closes it, at a frame boundary.
    let mut ws = RawWs::connect(daemon.addr, "/ws?topics=all", &[], Some(PAUSED_RCVBUF)).await;
    ws.read_until_received(PAUSED_AT).await;
    push_rounds(&upstream, &mut doc, CHANGED, 4..=4);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !daemon.logged("closing with 1013") {
        assert!(Instant::now() < deadline, "the server never found the paused client too slow");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut last = 0;
    let mut frames = 0;
    let end = loop {
        match ws.next_json().await {
            Ok(frame) if frame["type"] == "hello" => frames += 1,
            Ok(frame) => {
                check_order(&frame, &mut last, true);
                frames += 1;
            }
            Err(end) => break end,
        }
    };
    assert!(matches!(end, End::Closed(Some(1013)) | End::Eof), "after {frames} frames: {end:?}");
}

/// What a client asking for compression sends.
const DEFLATE_OFFER: (&str, &str) = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits");

/// The next message that is not a heartbeat (each connection has its own timer).
async fn next_data(ws: &mut RawWs) -> raw_ws::Message {
    loop {
        let m = ws.next_message().await.unwrap_or_else(|end| panic!("the stream ended: {end:?}"));
        if serde_json::from_slice::<Value>(&m.payload).map_or(true, |v| v["type"] != "heartbeat") {
            return m;
        }
    }
}

/// A client that negotiated permessage-deflate and one that did not receive the
/// same JSON for the same events: the compressed frames (RSV1) inflate to the
/// plain frames' bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_and_plain_clients_receive_the_same_json() {
    let mut doc = espn_many(200);
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&dir, &upstream, "");
    wait_for_games(daemon.addr, 200).await;

    let mut plain = RawWs::connect(daemon.addr, "/ws?topics=all", &[], None).await;
    let mut packed = RawWs::connect(daemon.addr, "/ws?topics=all", &[DEFLATE_OFFER], None).await;
    assert!(!plain.deflate, "compression without an offer: {}", plain.response);
    let agreed = raw_ws::header(&packed.response, "sec-websocket-extensions").unwrap_or_else(|| panic!("no extension agreed: {}", packed.response));
    for word in ["permessage-deflate", "server_no_context_takeover", "client_no_context_takeover"] {
        assert!(agreed.contains(word), "{word} missing from {agreed:?}");
    }

    // The hello and the snapshot: the same server state, the same JSON (the
    // snapshot's `ts` is when each was taken).
    let (plain_hello, packed_hello) = (next_data(&mut plain).await, next_data(&mut packed).await);
    assert_eq!(String::from_utf8_lossy(&packed_hello.payload), String::from_utf8_lossy(&plain_hello.payload));
    let (plain_snap, packed_snap) = (next_data(&mut plain).await, next_data(&mut packed).await);
    assert!(packed_snap.compressed && !plain_snap.compressed);
    let without_ts = |m: &raw_ws::Message| {
        let mut v: Value = serde_json::from_slice(&m.payload).unwrap();
        v.as_object_mut().unwrap().remove("ts");
        v
    };
    assert_eq!(without_ts(&packed_snap), without_ts(&plain_snap));
    println!("snapshot: {} bytes plain, {} on the wire compressed", plain_snap.wire_len, packed_snap.wire_len);

    // The updates after a change: the bytes the hub encoded once, compressed once.
    push_rounds(&upstream, &mut doc, 3, 1..=1);
    let last = wait_for_round(daemon.addr, 3, 1, || ()).await;
    let mut seen = 0;
    while seen < last {
        let (p, c) = (next_data(&mut plain).await, next_data(&mut packed).await);
        assert!(c.compressed, "an update sent plain to the compressed client");
        assert_eq!(String::from_utf8_lossy(&c.payload), String::from_utf8_lossy(&p.payload));
        let frame: Value = serde_json::from_slice(&p.payload).unwrap();
        seen = events_of(&frame).iter().filter_map(|e| e["seq"].as_u64()).max().unwrap_or(seen);
        println!("{}: {} bytes plain, {} on the wire compressed", frame["type"], p.wire_len, c.wire_len);
    }
}

/// The next deflated frame (hello and heartbeats go plain): its bytes on the
/// wire and the JSON they inflate to.
async fn next_deflated(ws: &mut RawWs) -> (Vec<u8>, Vec<u8>) {
    loop {
        let frame = ws.next_frame().await.unwrap_or_else(|end| panic!("the stream ended: {end:?}"));
        if frame.rsv1 {
            let json = raw_ws::inflate(&frame.payload, 64 << 20);
            return (frame.payload, json);
        }
    }
}

/// A client that limited the window the server deflates with (RFC 7692
/// `server_max_window_bits`) gets its snapshot and the events deflated with
/// that window, byte for byte the library's deflate with it (whose unit tests
/// inflate it with an inflater held to the window); the full-window clients
/// get the one form shared by all. Each event is deflated once per window in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_limits_our_window_gets_events_deflated_with_it() {
    use scoreticker::server::ws::deflate::{compress, Window};
    let mut doc = espn_many(50);
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&dir, &upstream, "");
    wait_for_games(daemon.addr, 50).await;

    let mut clients = Vec::new();
    for bits in [15u8, 9, 8, 15] {
        let offer = format!("permessage-deflate; client_max_window_bits; server_max_window_bits={bits}");
        let ws = RawWs::connect(daemon.addr, "/ws?topics=all", &[("Sec-WebSocket-Extensions", offer.as_str())], None).await;
        let agreed = raw_ws::header(&ws.response, "sec-websocket-extensions").unwrap_or_else(|| panic!("declined: {}", ws.response));
        assert!(agreed.ends_with(&format!("server_max_window_bits={bits}")), "{agreed}");
        clients.push((Window::new(bits).unwrap(), ws));
    }
    for (window, ws) in &mut clients {
        let (deflated, json) = next_deflated(ws).await;
        assert_eq!(serde_json::from_slice::<Value>(&json).unwrap()["type"], "snapshot");
        assert!(deflated == compress(&json, *window), "{} bits: the snapshot is not deflated with the window agreed", window.bits());
    }

    push_rounds(&upstream, &mut doc, 3, 1..=2);
    let last = wait_for_round(daemon.addr, 3, 2, || ()).await;
    let mut told_apart = 0;
    for (window, ws) in &mut clients {
        let mut seen = 0;
        while seen < last {
            let (deflated, json) = next_deflated(ws).await;
            assert!(deflated == compress(&json, *window), "{} bits: an event not deflated with the window agreed", window.bits());
            told_apart += usize::from(compress(&json, Window::FULL) != compress(&json, *window));
            let frame: Value = serde_json::from_slice(&json).unwrap();
            seen = events_of(&frame).iter().filter_map(|e| e["seq"].as_u64()).max().unwrap_or(seen);
        }
    }
    assert!(told_apart > 0, "no event whose forms differ: the test could not tell the windows apart");
}

/// A compressed client message that inflates past `limits.max_message_bytes`
/// closes that client with 1009; the others never notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deflate_bomb_gets_1009_and_others_keep_receiving() {
    let mut doc = espn_many(20);
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&dir, &upstream, "max_message_bytes = \"4KiB\"");
    wait_for_games(daemon.addr, 20).await;

    let mut bystander = RawWs::connect(daemon.addr, "/ws?topics=all", &[], None).await;
    let seq = hello_and_snapshot(&mut bystander).await;
    let mut bomber = RawWs::connect(daemon.addr, "/ws", &[DEFLATE_OFFER], None).await;
    assert!(bomber.deflate, "no compression agreed: {}", bomber.response);
    assert_eq!(bomber.next_json().await.unwrap()["type"], "hello");

    // A valid subscribe message padded with 1 MiB of spaces: about 1 KiB on the wire.
    let mut message = br#"{"type":"subscribe","topics":["all"]"#.to_vec();
    message.resize(message.len() + (1 << 20), b' ');
    message.push(b'}');
    let bomb = raw_ws::deflate(&message);
    assert!(bomb.len() < 4096, "the bomb itself is under the limit: {} bytes", bomb.len());
    bomber.send_frame(true, true, raw_ws::OP_TEXT, &bomb).await;
    let end = loop {
        match bomber.next_json().await {
            Ok(frame) => assert_ne!(frame["type"], "snapshot", "the inflated message was served: {frame}"),
            Err(end) => break end,
        }
    };
    assert_eq!(end, End::Closed(Some(1009)));

    let (target_tx, target) = watch::channel(u64::MAX);
    let reader = tokio::spawn(async move { read_in_order(&mut bystander, seq, target, false).await });
    push_rounds(&upstream, &mut doc, 5, 1..=1);
    target_tx.send(wait_for_round(daemon.addr, 5, 1, || ()).await).unwrap();
    let events = tokio::time::timeout(Duration::from_secs(60), reader).await.expect("the bystander keeps receiving").unwrap();
    assert_eq!(events, 5);
}

/// The deflate helpers the compression tests lean on agree with each other and
/// with RFC 7692's own example (section 7.2.3.1: "Hello", one compressed block).
#[test]
fn the_test_clients_deflate_follows_rfc_7692() {
    assert_eq!(raw_ws::inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 16), b"Hello");
    let message = format!("{{\"type\":\"subscribe\",\"topics\":[\"all\"]{}}}", " ".repeat(100_000));
    let packed = raw_ws::deflate(message.as_bytes());
    assert!(packed.len() < 1000, "{} bytes", packed.len());
    assert_eq!(raw_ws::inflate(&packed, 1 << 20), message.as_bytes());
}
