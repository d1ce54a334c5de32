//! The operator's status page (`/status` on the admin listener): its JSON
//! document, checked against a real service polling a real 127.0.0.1 upstream
//! with real WebSocket and SSE clients connected, and its live stream
//! (`/status/events`) read as an EventSource would.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use tokio::time::Instant;

async fn get_json(url: &str) -> Value {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(r.headers()["content-type"], "application/json", "{url}");
    r.json().await.unwrap()
}

/// Polls the document until `ok` holds (event-driven deadline, no fixed sleep).
async fn wait_doc(service: &Service, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let doc = get_json(&service.admin("/status?format=json")).await;
        if ok(&doc) {
            return doc;
        }
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}: {doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `data:` of each event of a text/event-stream response, as they arrive.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn next(&mut self) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("data:")).collect();
                if !data.is_empty() {
                    return serde_json::from_str(&data.join("\n")).unwrap();
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.expect("an event within WAIT").unwrap().expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

fn score_of(doc: &Value, game: &str) -> (Value, Value) {
    let g = doc["games"].as_array().unwrap().iter().find(|g| g["id"] == game).unwrap_or_else(|| panic!("{game} in {doc}"));
    (g["away_score"].clone(), g["home_score"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_document_describes_the_running_service_and_follows_it_live() {
    let mut doc = espn_live();
    let games = doc["events"].as_array().unwrap().len();
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[("nba.toml", feed_file("status-feed", &upstream.url(), ""))], "").await;
    service.wait_for_games(games).await;

    // One client of each transport.
    let mut ws = Client::connect(&service.ws("?topics=all")).await;
    ws.hello().await;
    ws.next().await;
    let mut sse = reqwest::get(service.http("/sse?topics=all")).await.unwrap();
    assert_eq!(sse.status(), 200);
    sse.chunk().await.unwrap();

    let status = wait_doc(&service, "a second poll", |d| d["feeds"][0]["polls"].as_u64() >= Some(2)).await;
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["ready"], true);
    assert!(status["clients"]["ws"].as_i64() >= Some(1) && status["clients"]["sse"].as_i64() >= Some(1), "{status}");
    assert!(status["clients"]["total"].as_u64() >= Some(2), "{status}");
    assert_eq!(status["game_count"], games);
    assert!(status["cluster"].is_null(), "no cluster section outside cluster mode");

    let feed = &status["feeds"][0];
    assert_eq!(feed["feed"], "status-feed");
    assert_eq!(feed["url_host"], "127.0.0.1");
    assert_eq!(feed["state"], "ok");
    assert_eq!(feed["mode"], "fixed");
    assert_eq!(feed["games"], games);
    let last = chrono::DateTime::parse_from_rfc3339(feed["last_poll"].as_str().unwrap()).unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(feed["next_poll"].as_str().unwrap()).unwrap();
    assert_eq!(next - last, chrono::Duration::seconds(1), "next poll: one `schedule` (1s) after the last");
    let history = &feed["history"];
    assert_eq!(history["polls"].as_array().unwrap().len(), 60, "an hour, per minute");
    let polled: u64 = history["polls"].as_array().unwrap().iter().filter_map(Value::as_u64).sum();
    assert!(polled >= 2 && polled <= feed["polls"].as_u64().unwrap(), "{history}");
    assert!(history["max_ms"].as_array().unwrap().iter().any(Value::is_u64), "a latency was recorded: {history}");

    // Every game came in as an event: the ring holds them and this minute counted them.
    let ring = &status["ring"];
    assert_eq!(ring["oldest_seq"], 1, "{ring}");
    assert_eq!(ring["newest_seq"], status["seq"], "{ring}");
    assert!(ring["oldest_ts"].as_i64() <= ring["newest_ts"].as_i64());
    let per_minute: u64 = status["events_per_minute"].as_array().unwrap().iter().filter_map(Value::as_u64).sum();
    assert_eq!(per_minute, status["seq"].as_u64().unwrap(), "every event so far was in the last hour");

    // The same document for a client that asks with Accept; the page for a browser.
    let by_accept = reqwest::Client::new().get(service.admin("/status")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(by_accept.headers()["content-type"], "application/json");
    assert!(by_accept.json::<Value>().await.unwrap()["feeds"].is_array());
    let page = reqwest::Client::new().get(service.admin("/status")).header("accept", "text/html,*/*").send().await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(html.contains("/status/events"), "the page follows the live stream");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("@import"), "nothing loaded from elsewhere");
    // Admin-only: not on the public listener (this service has a separate admin one).
    for path in ["/status", "/status/events", "/status.html"] {
        assert_eq!(reqwest::get(service.http(path)).await.unwrap().status(), 404, "{path}");
    }

    // The live stream: a score change upstream shows up in a later document.
    let response = reqwest::get(service.admin("/status/events")).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = Events { response, buffer: String::new() };
    let first = events.next().await;
    let game = format!("status-feed:{}", event_id(&doc, 0));
    let before = score_of(&first, &game);
    set_score(&mut doc, 0, 0, 151);
    upstream.push([Step::json(&doc)]);
    let deadline = Instant::now() + WAIT;
    let changed = loop {
        let d = events.next().await;
        if score_of(&d, &game) != before {
            break d;
        }
        assert!(Instant::now() < deadline, "the score change never reached /status/events");
    };
    assert!(changed["seq"].as_u64() > first["seq"].as_u64());
    let (away, home) = score_of(&changed, &game);
    assert!(away == 151 || home == 151, "{away} {home}");

    // A failing upstream: the feed turns `failing` and the failure is charted.
    upstream.push([Step::Status { code: 500, headers: vec![], body: b"boom".to_vec() }]);
    let failing = wait_doc(&service, "a failed poll", |d| d["feeds"][0]["state"] == "failing").await;
    let feed = &failing["feeds"][0];
    let failed: u64 = feed["history"]["failures"].as_array().unwrap().iter().filter_map(Value::as_u64).sum();
    assert!(failed >= 1, "{feed}");
    assert!(feed["last_error"].as_str().is_some_and(|e| e.contains("500")), "{feed}");
    service.running.stop().await;
}
