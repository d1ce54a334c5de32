//! Beyond WebSocket: `GET /sse` (Server-Sent Events) read with a real HTTP
//! client, and the echo socket `GET /ws/echo` with a real WebSocket client,
//! against the service fed by a scripted real upstream.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

fn feed(upstream: &Upstream) -> (&'static str, String) {
    ("nba.toml", feed_file("nba", &upstream.url(), ""))
}

/// One server-sent event, as an EventSource would dispatch it.
#[derive(Debug, Default, Clone)]
struct SseEvent {
    id: Option<String>,
    data: String,
    retry: Option<u64>,
    /// Only comment lines (keep-alives): never dispatched by a browser.
    comment: bool,
}

impl SseEvent {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("data is not JSON ({e}): {:?}", self.data))
    }
}

/// A streaming GET on /sse, parsed into events as the bytes arrive.
struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    async fn open(url: &str, last_event_id: Option<&str>) -> SseClient {
        let mut request = reqwest::Client::new().get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        SseClient { response, buffer: String::new() }
    }

    /// The next event, comments included; `None` when the stream ends or `limit` passes.
    async fn raw_within(&mut self, limit: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent { comment: true, ..Default::default() };
                let mut data = Vec::new();
                for line in block.lines().filter(|l| !l.is_empty()) {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "" => continue,
                        "data" => data.push(value.to_string()),
                        "id" => event.id = Some(value.to_string()),
                        "retry" => event.retry = value.parse().ok(),
                        other => panic!("unexpected field {other:?} in {block:?}"),
                    }
                    event.comment = false;
                }
                event.data = data.join("\n");
                return Some(event);
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(Ok(None)) | Ok(Err(_)) => return None,
            }
        }
    }

    /// The next JSON event, skipping comments and heartbeats.
    async fn next(&mut self) -> SseEvent {
        self.next_within(WAIT).await.unwrap_or_else(|| panic!("no event within {WAIT:?}"))
    }

    async fn next_within(&mut self, limit: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.raw_within(left).await?;
            if !event.comment && event.json()["type"] != "heartbeat" {
                return Some(event);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_the_same_frames_as_the_websocket_with_event_ids() {
    let mut doc = espn_live();
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[feed(&upstream)], "").await;
    service.wait_for_games(1).await;

    let mut sse = SseClient::open(&service.http("/sse?topics=league:nba"), None).await;
    let headers = sse.response.headers().clone();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert_eq!(headers["access-control-allow-origin"], "*");

    let hello = sse.next().await;
    let epoch = hello.json()["epoch"].as_str().unwrap().to_string();
    assert_eq!(hello.json(), json!({"type":"hello","epoch":epoch,"seq":1,"heartbeat_s":20}));
    assert_eq!(hello.id, None, "hello moves no resume point");
    assert!(hello.retry.is_some_and(|ms| (1000..5000).contains(&ms)), "{hello:?}");

    let snapshot = sse.next().await;
    assert_eq!(snapshot.json()["type"], "snapshot");
    assert_eq!(snapshot.json()["topics"], json!(["league:nba"]));
    assert_eq!(snapshot.json()["games"].as_array().unwrap().len(), 1);
    assert_eq!(snapshot.id.as_deref(), Some(format!("{epoch}:1").as_str()));

    // The same bytes a WebSocket client gets for the same change.
    let mut ws = Client::connect(&service.ws("?topics=league:nba")).await;
    ws.hello().await;
    ws.next().await;
    set_score(&mut doc, 0, 0, 120);
    upstream.push([Step::json(&doc)]);
    let update = sse.next().await;
    assert_eq!(update.json()["type"], "update");
    assert_eq!(update.json()["changes"], json!(["score"]));
    assert_eq!(update.id.as_deref(), Some(format!("{epoch}:2").as_str()));
    assert_eq!(update.json(), ws.next().await);

    // Topics are checked like everywhere else.
    let bad = reqwest::get(service.http("/sse?topics=colour:red")).await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["code"], "unknown_topic");
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_without_a_gap_or_falls_back_to_a_snapshot() {
    let mut doc = espn_live();
    clone_event(&mut doc, 0, "9001");
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[feed(&upstream)], "").await;
    service.wait_for_games(2).await;

    let mut first = SseClient::open(&service.http("/sse?topics=all"), None).await;
    first.next().await; // hello
    let snapshot = first.next().await;
    let last_id = snapshot.id.clone().expect("a snapshot carries an id");
    let (epoch, seen) = last_id.rsplit_once(':').unwrap();
    let seen: u64 = seen.parse().unwrap();
    drop(first);

    // Three events while the client is away, one of them in a poll of two.
    let mut watcher = Client::connect(&service.ws("?topics=all")).await;
    watcher.hello().await;
    watcher.next().await;
    set_score(&mut doc, 0, 0, 101);
    upstream.push([Step::json(&doc)]);
    watcher.next().await;
    set_clock(&mut doc, 0, "0:01");
    set_score(&mut doc, 1, 1, 55);
    upstream.push([Step::json(&doc)]);
    watcher.next().await;

    // What a reconnecting EventSource does: the same URL, plus Last-Event-ID.
    let mut back = SseClient::open(&service.http("/sse?topics=all"), Some(&last_id)).await;
    assert_eq!(back.next().await.json()["type"], "hello");
    let replay = back.next().await;
    let events = events_of(&replay.json());
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![seen + 1, seen + 2, seen + 3], "exactly the missed events, in order: {}", replay.data);
    assert_eq!(replay.id.as_deref(), Some(format!("{epoch}:{}", seen + 3).as_str()));
    // …and then live events, with nothing in between.
    set_score(&mut doc, 0, 0, 104);
    upstream.push([Step::json(&doc)]);
    let live = back.next().await;
    assert_eq!(live.json()["seq"], seen + 4, "{}", live.data);
    assert_eq!(live.id.as_deref(), Some(format!("{epoch}:{}", seen + 4).as_str()));

    // The query parameter does the same for clients (and proxies) without the header;
    // the header wins when both are there (EventSource reconnects to its first URL).
    let url = service.http(&format!("/sse?topics=all&lastEventId={epoch}:{}", seen + 2));
    let mut by_query = SseClient::open(&url, None).await;
    by_query.next().await;
    let replay = by_query.next().await;
    let seqs: Vec<u64> = events_of(&replay.json()).iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![seen + 3, seen + 4]);
    let mut both = SseClient::open(&url, Some(&format!("{epoch}:{}", seen + 3))).await;
    both.next().await;
    assert_eq!(both.next().await.json()["seq"], seen + 4);

    // Up to date: no replay at all, the next thing is the next live event.
    let mut current = SseClient::open(&service.http("/sse?topics=all"), Some(&format!("{epoch}:{}", seen + 4))).await;
    current.next().await;
    assert!(current.next_within(Duration::from_millis(1500)).await.is_none(), "nothing was missed, nothing is sent");

    // Another epoch: a snapshot, as with `since` on /ws.
    let mut stranger = SseClient::open(&service.http("/sse?topics=all"), Some("nope:3")).await;
    stranger.next().await;
    let snap = stranger.next().await;
    assert_eq!(snap.json()["type"], "snapshot");
    assert_eq!(snap.json()["seq"], seen + 4);
    assert_eq!(snap.id.as_deref(), Some(format!("{epoch}:{}", seen + 4).as_str()));
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_keep_alives_heartbeats_and_shutdown() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[feed(&upstream)], "[limits]\nheartbeat = \"1s\"\n").await;
    service.wait_for_games(1).await;
    let mut sse = SseClient::open(&service.http("/sse"), None).await;
    assert_eq!(sse.next().await.json()["heartbeat_s"], 1);
    assert_eq!(sse.next().await.json()["topics"], json!(["all"]), "no topics: all");
    let beat = sse.raw_within(Duration::from_secs(3)).await.unwrap();
    assert_eq!(beat.json()["type"], "heartbeat");
    assert_eq!(beat.id, None, "a heartbeat moves no resume point");
    // The keep-alive comment comes every 15 s whatever else is sent.
    let comment = loop {
        let e = sse.raw_within(Duration::from_secs(17)).await.expect("a keep-alive comment within 15 s");
        if e.comment {
            break e;
        }
    };
    assert!(comment.data.is_empty());
    // Shutdown ends the response (an EventSource then reconnects by itself).
    service.running.stop().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sse.raw_within(deadline.saturating_duration_since(tokio::time::Instant::now())).await.is_some() {}
    assert!(tokio::time::Instant::now() < deadline, "the stream did not end on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_client_that_stops_reading_is_dropped_and_others_carry_on() {
    // 1,500 games, every score changing on every poll: each poll's batch is
    // several hundred kilobytes.
    let doc = espn_many(1500);
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[feed(&upstream)], "[limits]\nsend_timeout = \"1s\"\n").await;
    service.wait_for_games(1500).await;
    let changing = {
        let upstream = upstream.clone();
        let mut doc = doc.clone();
        tokio::spawn(async move {
            for round in 1..=60 {
                for e in 0..1500 {
                    set_score(&mut doc, e, 0, round);
                }
                upstream.push([Step::json(&doc)]);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    let mut good = SseClient::open(&service.http("/sse?topics=all"), None).await;
    good.next().await;
    good.next().await;

    // A raw HTTP client with a tiny receive window that never reads a byte.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(service.addr).await.unwrap();
    stuck.write_all(b"GET /sse?topics=all HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while service.running.subscribers.total() < 2 {
        assert!(std::time::Instant::now() < deadline, "the stuck client never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The good reader keeps reading meanwhile, so only the stuck one falls behind.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut batches = 0;
        loop {
            tokio::select! {
                e = good.next_within(Duration::from_secs(5)) => match e {
                    Some(e) if e.json()["type"] == "batch" => batches += 1,
                    Some(_) => {}
                    None => return batches,
                },
                _ = &mut stopped => return batches,
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    while service.running.subscribers.total() > 1 {
        assert!(std::time::Instant::now() < deadline, "the stuck SSE client was never dropped");
        assert!(!reader.is_finished(), "the good reader stopped hearing events");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its connection is really closed: reading it to the end finishes.
    let mut sink = vec![0u8; 1 << 16];
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stuck.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the server kept the stuck client's connection open");
    // The reader that keeps up noticed nothing.
    assert!(!reader.is_finished(), "the good reader was dropped too");
    stop.send(()).unwrap();
    assert!(reader.await.unwrap() >= 2);
    changing.abort();
    service.running.stop().await;
}

async fn echoed<S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin>(ws: &mut S) -> Message {
    tokio::time::timeout(WAIT, ws.next()).await.expect("an echo in time").unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_socket_echoes_text_and_binary_and_closes_oversize_with_1009() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[feed(&upstream)], "[limits]\nheartbeat = \"1s\"\n").await;
    let url = format!("ws://{}/ws/echo", service.addr);
    let (mut echo, response) = tokio_tungstenite::connect_async(&url).await.unwrap();
    assert_eq!(response.status(), 101);

    echo.send(Message::Text("héllo, echo".into())).await.unwrap();
    assert_eq!(echoed(&mut echo).await, Message::Text("héllo, echo".into()));
    let binary: Vec<u8> = (0..=255u8).cycle().take(4000).collect();
    echo.send(Message::Binary(binary.clone().into())).await.unwrap();
    assert_eq!(echoed(&mut echo).await, Message::Binary(binary.into()));
    // Exactly at the cap (4 KiB by default) still passes.
    let largest = "x".repeat(4096);
    echo.send(Message::Text(largest.clone().into())).await.unwrap();
    assert_eq!(echoed(&mut echo).await, Message::Text(largest.into()));
    // The server pings like /ws (tungstenite answers for us while we read).
    let mut pinged = false;
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while !pinged {
        match tokio::time::timeout_at(until, echo.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pinged = true,
            Ok(Some(Ok(other))) => panic!("unexpected {other:?}"),
            _ => panic!("no ping within 3 s"),
        }
    }
    // One byte over the cap: closed with 1009.
    echo.send(Message::Text("x".repeat(4097).into())).await.unwrap();
    let mut client = Client { ws: echo };
    assert_eq!(client.close_code().await, Some(1009));

    // A plain request gets the same 426 as /ws.
    assert_eq!(reqwest::get(service.http("/ws/echo")).await.unwrap().status(), 426);
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_and_echo_obey_the_origin_list_and_the_diagnostics_page_is_served() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[feed(&upstream)], "[limits]\nallowed_origins = [\"https://news.example\"]\n").await;
    let http = reqwest::Client::new();
    let refused = http.get(service.http("/sse")).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let allowed = http.get(service.http("/sse")).header("origin", "https://news.example").send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    drop(allowed);
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{}/ws/echo", service.addr)).unwrap();
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err(), "a refused origin gets no echo socket");

    let page = http.get(service.http("/diagnostics")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(html.contains("/ws/echo") && html.contains("/sse"), "the page tests the echo socket and SSE");
    // Self-contained: nothing from another host.
    for needle in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(needle), "external resource in the diagnostics page: {needle}");
    }
    service.running.stop().await;
}
