//! The whole path a score travels, with real components: a scripted HTTP
//! upstream serving the real recorded ESPN payload, the service on a free port,
//! and real WebSocket clients asserting exact frames.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// The feed file for a test: polls `upstream` every second.
fn feed(upstream: &Upstream, extra: &str) -> (&'static str, String) {
    ("nba.toml", feed_file("nba", &upstream.url(), extra))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_snapshot_then_only_what_changed() {
    let base = espn_live();
    let mut scored = base.clone();
    set_score(&mut scored, 0, 0, 90);
    let upstream = Upstream::start(vec![Step::json(&base), Step::json(&base)]).await;
    let service = start_service(&[feed(&upstream, "")], "").await;

    // Wait for the first poll so the snapshot has the game.
    service.wait_for_games(1).await;
    let mut client = Client::connect(&service.ws("?topics=league:nba")).await;
    let hello = client.hello().await;
    assert_eq!(hello["heartbeat_s"], 20);
    assert!(hello["epoch"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(hello["seq"], 1, "one event so far: the game was added");
    let snapshot = client.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["seq"], 1);
    assert_eq!(snapshot["topics"], json!(["league:nba"]));
    let games = snapshot["games"].as_array().unwrap();
    assert_eq!(games.len(), 1);
    let id = format!("nba:{}", event_id(&base, 0));
    assert_eq!(games[0]["id"], id.as_str());
    assert_eq!(games[0]["league"], "nba");
    assert_eq!(games[0]["status"]["state"], "live");
    let home_before = games[0]["home"]["score"].clone();

    // The identical second poll emits nothing: the next frame is the score change
    // served third.
    upstream.wait_served(2, WAIT).await;
    upstream.push([Step::json(&scored)]);
    let update = client.next().await;
    assert!(upstream.served() >= 3, "no frame may come from the identical poll");
    assert_eq!(update["type"], "update", "{update}");
    assert_eq!(update["seq"], 2);
    assert_eq!(update["changes"], json!(["score"]));
    assert!(update["ts"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(update["game"]["id"], id.as_str());
    let (home, away) = (&update["game"]["home"]["score"], &update["game"]["away"]["score"]);
    assert!(home == 90 || away == 90, "{update}");
    assert!(home_before != 90);
    // And nothing more while the upstream repeats itself.
    assert_eq!(client.next_within(Duration::from_millis(2500)).await, None);
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_responses_emit_nothing_and_lose_nothing() {
    let base = espn_live();
    let mut changed = base.clone();
    set_score(&mut changed, 0, 1, 77);
    let big = vec![b' '; 300_000];
    let upstream = Upstream::start(vec![Step::json(&base)]).await;
    let service = start_service(&[feed(&upstream, "max_body_bytes = \"256KiB\"\n")], "").await;
    service.wait_for_games(1).await;
    let mut client = Client::connect(&service.ws("?topics=all")).await;
    client.hello().await;
    let snapshot = client.next().await;
    assert_eq!(snapshot["games"].as_array().unwrap().len(), 1);
    let before = snapshot["games"][0].clone();

    let bad = vec![
        Step::Status { code: 500, headers: vec![], body: b"oops".to_vec() },
        Step::Body { body: b"{\"events\": [".to_vec(), headers: vec![] },
        Step::Status {
            code: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: b"<html><body><h1>Access Denied</h1></body></html>".to_vec(),
        },
        Step::Truncated { body: serde_json::to_vec(&changed).unwrap()[..500].to_vec(), claimed: 5000 },
        Step::Body { body: big, headers: vec![] },
        Step::Slow { delay: Duration::from_secs(4), body: serde_json::to_vec(&changed).unwrap() },
        Step::Body { body: b"{\"leagues\": []}".to_vec(), headers: vec![] },
    ];
    let bad_count = bad.len();
    let start = upstream.served();
    upstream.push(bad);
    upstream.wait_served(start + bad_count, Duration::from_secs(40)).await;

    // Nothing was emitted, and the snapshot API still has the game as it was.
    assert_eq!(client.next_within(Duration::from_millis(200)).await, None);
    let doc: Value = reqwest::get(service.http("/api/v1/games")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["games"][0], before);
    let feeds: Value = reqwest::get(service.admin("/api/v1/feeds")).await.unwrap().json().await.unwrap();
    let health = &feeds["feeds"][0];
    assert_eq!(health["feed"], "nba");
    assert!(health["failures"].as_u64().unwrap() >= bad_count as u64, "{health}");
    assert!(health["consecutive_failures"].as_u64().unwrap() >= 1, "{health}");
    assert!(health["last_error"].as_str().unwrap().starts_with("parse_error"), "{health}");

    // Recovery: the good change gets through as exactly one update.
    upstream.push([Step::json(&changed)]);
    let update = client.next().await;
    assert_eq!(update["type"], "update", "{update}");
    assert_eq!(update["changes"], json!(["score"]));
    assert_eq!(update["seq"], snapshot["seq"].as_u64().unwrap() + 1);
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_get_and_retry_after_are_honoured() {
    let base = espn_live();
    let body = serde_json::to_vec(&base).unwrap();
    let upstream = Upstream::start(vec![Step::Conditional { etag: "\"v1\"".into(), body }]).await;
    // Retry-After is honoured up to backoff_max (a larger value is capped there).
    let (name, text) = feed(&upstream, "");
    let text = text.replace("backoff_max = \"1s\"", "backoff_max = \"5s\"");
    let service = start_service(&[(name, text)], "").await;
    upstream.wait_served(3, WAIT).await;
    let requests = upstream.requests();
    assert_eq!(requests[0].headers.get("if-none-match"), None);
    assert_eq!(requests[1].headers.get("if-none-match").map(String::as_str), Some("\"v1\""));
    let mut client = Client::connect(&service.ws("?topics=all")).await;
    client.hello().await;
    client.next().await; // snapshot
    assert_eq!(client.next_within(Duration::from_millis(1500)).await, None, "a 304 emits nothing");
    let feeds: Value = reqwest::get(service.admin("/api/v1/feeds")).await.unwrap().json().await.unwrap();
    assert_eq!(feeds["feeds"][0]["last_outcome"], "not_modified");

    // 429 with Retry-After: 3 → the next request waits at least that long,
    // although the schedule says every second.
    let n = upstream.served();
    upstream.push([
        Step::Status { code: 429, headers: vec![("Retry-After".into(), "3".into())], body: vec![] },
        Step::json(&base),
    ]);
    upstream.wait_served(n + 2, Duration::from_secs(15)).await;
    let requests = upstream.requests();
    let gap = requests[n + 1].at - requests[n].at;
    assert!(gap >= Duration::from_millis(2900), "retried after {gap:?}");
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_is_removed_only_after_k_absent_polls() {
    let mut two = espn_live();
    clone_event(&mut two, 0, "999001");
    let one = espn_live();
    let upstream = Upstream::start(vec![Step::json(&two)]).await;
    let service = start_service(&[feed(&upstream, "remove_after_missed_polls = 2\n")], "").await;
    service.wait_for_games(2).await;
    let mut client = Client::connect(&service.ws("?topics=feed:nba")).await;
    client.hello().await;
    assert_eq!(client.next().await["games"].as_array().unwrap().len(), 2);

    let n = upstream.served();
    upstream.push([Step::json(&one)]);
    let removed = client.next().await;
    assert_eq!(removed["type"], "remove", "{removed}");
    assert_eq!(removed["id"], "nba:999001");
    assert!(upstream.served() >= n + 2, "removed after {} absent polls", upstream.served() - n);
    // It comes back: added again.
    upstream.push([Step::json(&two)]);
    let added = client.next().await;
    assert_eq!(added["changes"], json!(["added"]));
    assert_eq!(added["game"]["id"], "nba:999001");
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_replays_exactly_the_missed_events_and_falls_back_to_a_snapshot() {
    let mut doc = espn_live();
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[feed(&upstream, "")], "").await;
    service.wait_for_games(1).await;

    let mut first = Client::connect(&service.ws("")).await;
    let hello = first.hello().await;
    let epoch = hello["epoch"].as_str().unwrap().to_string();
    first.send(json!({"type":"subscribe","topics":["all"]})).await;
    let snapshot = first.next().await;
    let seen = snapshot["seq"].as_u64().unwrap();
    drop(first);

    // Two changes while the client is away.
    set_score(&mut doc, 0, 0, 101);
    upstream.push([Step::json(&doc)]);
    let mut watcher = Client::connect(&service.ws("?topics=all")).await;
    watcher.hello().await;
    watcher.next().await;
    watcher.next().await;
    set_clock(&mut doc, 0, "0:01");
    upstream.push([Step::json(&doc)]);
    watcher.next().await;

    let mut back = Client::connect(&service.ws("")).await;
    back.hello().await;
    back.send(json!({"type":"subscribe","topics":["all"],"since":{"epoch":epoch,"seq":seen}})).await;
    let replay = back.next().await;
    assert_eq!(replay["type"], "batch", "{replay}");
    let events = events_of(&replay);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![seen + 1, seen + 2], "exactly the missed events, in order");
    assert_eq!(events[0]["changes"], json!(["score"]));
    assert_eq!(events[1]["changes"], json!(["clock"]));

    // A since from another epoch gets a snapshot instead.
    let mut stranger = Client::connect(&service.ws("")).await;
    stranger.hello().await;
    stranger.send(json!({"type":"subscribe","topics":["all"],"since":{"epoch":"nope","seq":1}})).await;
    let snap = stranger.next().await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["seq"], seen + 2);
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_topics_deliver_each_event_once() {
    let mut doc = espn_live();
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[feed(&upstream, "")], "").await;
    service.wait_for_games(1).await;
    let snapshot: Value = reqwest::get(service.http("/api/v1/games")).await.unwrap().json().await.unwrap();
    let abbr = snapshot["games"][0]["home"]["abbr"].as_str().unwrap().to_string();
    let id = snapshot["games"][0]["id"].as_str().unwrap().to_string();

    let topics = format!("all,league:nba,feed:nba,game:{id},team:nba:{abbr}");
    let mut client = Client::connect(&service.ws(&format!("?topics={topics}"))).await;
    client.hello().await;
    let snap = client.next().await;
    assert_eq!(snap["games"].as_array().unwrap().len(), 1, "the game once in the snapshot");
    let mut other_league = Client::connect(&service.ws("?topics=league:nfl")).await;
    other_league.hello().await;
    assert_eq!(other_league.next().await["games"], json!([]));

    set_score(&mut doc, 0, 0, 120);
    upstream.push([Step::json(&doc)]);
    let update = client.next().await;
    assert_eq!(update["type"], "update");
    assert_eq!(client.next_within(Duration::from_millis(1500)).await, None, "delivered once");
    assert_eq!(other_league.next_within(Duration::from_millis(100)).await, None);
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_messages_get_errors_and_other_clients_never_notice() {
    let mut doc = espn_live();
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[feed(&upstream, "")], "[limits]\nmax_topics_per_client = 3\n").await;
    service.wait_for_games(1).await;

    let mut good = Client::connect(&service.ws("?topics=all")).await;
    good.hello().await;
    good.next().await;

    let mut bad = Client::connect(&service.ws("")).await;
    bad.hello().await;
    let cases = [
        ("not json", "bad_request"),
        (r#"{"type":"dance"}"#, "bad_request"),
        (r#"{"type":"subscribe"}"#, "bad_request"),
        (r#"{"type":"subscribe","topics":[]}"#, "bad_request"),
        (r#"{"type":"subscribe","topics":["colour:red"]}"#, "unknown_topic"),
        (r#"{"type":"subscribe","topics":["all","league:a","league:b","league:c"]}"#, "too_many_topics"),
    ];
    for (message, code) in cases {
        bad.send_text(message).await;
        let error = bad.next().await;
        assert_eq!(error["type"], "error", "{message}: {error}");
        assert_eq!(error["code"], code, "{message}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Still usable after errors.
    bad.send(json!({"type":"subscribe","topics":["league:nba"]})).await;
    assert_eq!(bad.next().await["type"], "snapshot");

    // Over the 4 KiB cap: closed with 1009 (message too big).
    let mut huge = Client::connect(&service.ws("")).await;
    huge.hello().await;
    huge.send_text(&format!(r#"{{"type":"subscribe","topics":["{}"]}}"#, "x".repeat(5000))).await;
    assert_eq!(huge.close_code().await, Some(1009));

    // The well-behaved client saw none of it and still gets updates.
    set_score(&mut doc, 0, 0, 130);
    upstream.push([Step::json(&doc)]);
    let update = good.next().await;
    assert_eq!(update["type"], "update", "{update}");
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_api_with_etag_and_plain_http_to_ws_is_refused() {
    let doc = espn_live();
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[feed(&upstream, "")], "").await;
    service.wait_for_games(1).await;
    let http = reqwest::Client::new();
    let first = http.get(service.http("/api/v1/games?topics=league:nba")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let doc: Value = first.json().await.unwrap();
    assert_eq!(doc["games"].as_array().unwrap().len(), 1);
    assert!(doc["epoch"].is_string() && doc["seq"] == 1);
    let again = http.get(service.http("/api/v1/games?topics=league:nba")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    let none: Value = reqwest::get(service.http("/api/v1/games?topics=league:nhl")).await.unwrap().json().await.unwrap();
    assert_eq!(none["games"], json!([]));
    let bad = reqwest::get(service.http("/api/v1/games?topics=nope")).await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["code"], "unknown_topic");

    let plain = reqwest::get(service.http("/ws")).await.unwrap();
    assert_eq!(plain.status(), 426);
    assert_eq!(reqwest::get(service.http("/healthz")).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(service.http("/no/such/page")).await.unwrap().status(), 404);
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_clients_with_going_away() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[feed(&upstream, "")], "").await;
    let mut client = Client::connect(&service.ws("?topics=all")).await;
    client.hello().await;
    client.next().await;
    service.running.stop().await;
    assert_eq!(client.close_code().await, Some(1001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_others_carry_on() {
    // 2,000 games make each snapshot about half a megabyte.
    let mut doc = espn_many(2000);
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[feed(&upstream, "")], "[limits]\nsend_timeout = \"1s\"\n").await;
    service.wait_for_games(2000).await;

    let mut good = Client::connect(&service.ws("?topics=league:nba")).await;
    good.hello().await;
    assert_eq!(good.next().await["games"].as_array().unwrap().len(), 2000);

    // A client with a tiny receive window asks for snapshot after snapshot and
    // never reads a byte.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(service.addr).await.unwrap();
    let (mut stuck, _) = tokio_tungstenite::client_async(service.ws(""), stream).await.unwrap();
    use futures_util::SinkExt;
    for _ in 0..15 {
        let msg = json!({"type":"subscribe","topics":["all"]}).to_string();
        stuck.send(tokio_tungstenite::tungstenite::Message::Text(msg.into())).await.unwrap();
    }
    assert_eq!(service.running.subscribers.total(), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while service.running.subscribers.total() > 1 {
        assert!(std::time::Instant::now() < deadline, "the stuck client was never dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The reader that keeps up noticed nothing.
    set_score(&mut doc, 0, 0, 3);
    upstream.push([Step::json(&doc)]);
    let update = good.next().await;
    assert_eq!(update["type"], "update", "{update}");
    assert_eq!(update["changes"], json!(["score"]));
    drop(stuck);
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peers_are_dropped_and_answering_peers_kept() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[feed(&upstream, "")], "[limits]\nheartbeat = \"1s\"\n").await;
    // A peer that completed the handshake and then went silent: it never reads,
    // so it never answers a ping.
    let (silent, _) = tokio_tungstenite::connect_async(service.ws("?topics=all")).await.unwrap();
    // A peer that reads (tungstenite answers pings while reading).
    let mut alive = Client::connect(&service.ws("?topics=all")).await;
    alive.hello().await;
    // The silent peer's handshake is done on its side; the server counts it once
    // its task has joined (which may come just after the reader's hello).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while service.running.subscribers.total() < 2 {
        assert!(std::time::Instant::now() < deadline, "both peers were never counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut heartbeats = 0;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(200), futures_util::StreamExt::next(&mut alive.ws)).await
        {
            if t.as_str().contains("\"heartbeat\"") {
                heartbeats += 1;
            }
        }
    }
    assert_eq!(service.running.subscribers.total(), 1, "the silent peer was dropped, the reader kept");
    assert!(heartbeats >= 3, "application heartbeats every second: got {heartbeats}");
    drop(silent);
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_is_served_compressed_and_pinnable() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[feed(&upstream, "")], "").await;
    let http = reqwest::Client::new();
    let plain = http.get(service.http("/ticker.js")).header("accept-encoding", "identity").send().await.unwrap();
    assert_eq!(plain.headers()["access-control-allow-origin"], "*");
    let source = plain.bytes().await.unwrap();
    assert!(source.len() > 1000);
    let br = http.get(service.http("/ticker.js")).header("accept-encoding", "gzip;q=0.5, br").send().await.unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["vary"], "Accept-Encoding");
    let etag = br.headers()["etag"].to_str().unwrap().to_string();
    let compressed = br.bytes().await.unwrap();
    assert!(compressed.len() < source.len() / 2);
    let again = http.get(service.http("/ticker.js")).header("accept-encoding", "br").header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    // The content-addressed URL and its SRI hash, for publishers who pin.
    let info: Value = http.get(service.http("/api/v1/widget")).send().await.unwrap().json().await.unwrap();
    let url = info["url"].as_str().unwrap();
    assert!(url.starts_with("/ticker.") && url.ends_with(".js"), "{info}");
    assert!(info["integrity"].as_str().unwrap().starts_with("sha384-"));
    let pinned = http.get(service.http(url)).header("accept-encoding", "identity").send().await.unwrap();
    assert_eq!(pinned.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(pinned.bytes().await.unwrap(), source);
    assert_eq!(http.get(service.http("/ticker.0000000000000000.js")).send().await.unwrap().status(), 404);
    assert_eq!(http.head(service.http("/")).send().await.unwrap().status(), 200);
    service.running.stop().await;
}
