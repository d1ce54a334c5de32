//! Real components for integration tests: a scripted HTTP upstream on loopback,
//! the service itself started on a free port from real config files, and real
//! WebSocket clients.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub mod daemon;
pub mod raw_ws;
pub mod tls;
#[allow(unused_imports)] // not every suite starts the binary
pub use daemon::*;

pub fn fixture(path: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}

pub fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

// ---------------------------------------------------------------------------
// The upstream.

/// One scripted response.
#[derive(Clone, Debug)]
pub enum Step {
    /// 200 with this body and extra headers.
    Body { body: Vec<u8>, headers: Vec<(String, String)> },
    /// Any status, with headers and body.
    Status { code: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// 200 claiming `claimed` bytes but sending only `body`, then closing.
    Truncated { body: Vec<u8>, claimed: usize },
    /// Wait, then 200 with this body.
    Slow { delay: Duration, body: Vec<u8> },
    /// 304 when the request carries If-None-Match matching `etag`, else 200 with body and ETag.
    Conditional { etag: String, body: Vec<u8> },
}

impl Step {
    pub fn json(value: &Value) -> Step {
        Step::Body { body: serde_json::to_vec(value).unwrap(), headers: vec![] }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub at: Instant,
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct Script {
    steps: Vec<Step>,
    cursor: usize,
    requests: Vec<Request>,
}

/// A real HTTP/1.1 server on 127.0.0.1 that answers request N with step N of its
/// script; once the script runs out the last step repeats.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl Upstream {
    pub async fn start(steps: Vec<Step>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(Script { steps, ..Default::default() }));
        let s = script.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let s = s.clone();
                tokio::spawn(async move { serve_one(stream, s).await });
            }
        });
        Upstream { addr, script }
    }

    pub fn url(&self) -> String {
        format!("http://{}/apis/site/v2/sports/basketball/nba/scoreboard", self.addr)
    }

    /// Appends steps; they are served after the ones already queued.
    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        let mut s = self.script.lock().unwrap();
        // If the script had run out (repeating its last step), continue right after it.
        if s.cursor >= s.steps.len() {
            s.cursor = s.steps.len();
        }
        s.steps.extend(steps);
    }

    pub fn served(&self) -> usize {
        self.script.lock().unwrap().requests.len()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.script.lock().unwrap().requests.clone()
    }

    /// Waits until `n` requests in all have been answered.
    pub async fn wait_served(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.served() < n {
            assert!(Instant::now() < deadline, "upstream served {} of {n} requests in {limit:?}", self.served());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn serve_one(mut stream: TcpStream, script: Arc<Mutex<Script>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let headers: HashMap<String, String> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    let step = {
        let mut s = script.lock().unwrap();
        let index = s.cursor.min(s.steps.len().saturating_sub(1));
        s.cursor += 1;
        s.requests.push(Request { at: Instant::now(), headers: headers.clone() });
        s.steps.get(index).cloned()
    };
    let Some(step) = step else { return };
    let response = |code: u16, headers: &[(String, String)], body: &[u8], claimed: usize| {
        let mut r = format!("HTTP/1.1 {code} X\r\nContent-Length: {claimed}\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            r.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
        r.push_str("\r\n");
        let mut bytes = r.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    let bytes = match &step {
        Step::Body { body, headers } => response(200, headers, body, body.len()),
        Step::Status { code, headers, body } => response(*code, headers, body, body.len()),
        Step::Truncated { body, claimed } => response(200, &[], body, *claimed),
        Step::Slow { delay, body } => {
            tokio::time::sleep(*delay).await;
            response(200, &[], body, body.len())
        }
        Step::Conditional { etag, body } => {
            if headers.get("if-none-match") == Some(etag) {
                response(304, &[("ETag".into(), etag.clone())], b"", 0)
            } else {
                response(200, &[("ETag".into(), etag.clone())], body, body.len())
            }
        }
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

// ---------------------------------------------------------------------------
// ESPN-shaped payloads built from the real recorded sample.

/// The real recorded NBA playoff game in progress (one game).
pub fn espn_live() -> Value {
    fixture_json("espn/basketball-nba-live-playoffs.json")
}

/// Sets competitor `i`'s score in event `e`.
pub fn set_score(doc: &mut Value, e: usize, i: usize, score: i64) {
    doc["events"][e]["competitions"][0]["competitors"][i]["score"] = Value::String(score.to_string());
}

pub fn set_clock(doc: &mut Value, e: usize, clock: &str) {
    doc["events"][e]["status"]["displayClock"] = Value::String(clock.to_string());
    doc["events"][e]["competitions"][0]["status"]["displayClock"] = Value::String(clock.to_string());
}

/// A copy of event `e` with a new id (and its competition's id).
pub fn clone_event(doc: &mut Value, e: usize, new_id: &str) {
    let mut event = doc["events"][e].clone();
    event["id"] = Value::String(new_id.into());
    event["competitions"][0]["id"] = Value::String(new_id.into());
    doc["events"].as_array_mut().unwrap().push(event);
}

pub fn event_id(doc: &Value, e: usize) -> String {
    doc["events"][e]["id"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------
// The service.

pub struct Service {
    pub running: scoreticker::app::Running,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Service {
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("scoreticker.toml")
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until the service holds `n` games (the first polls went through the
    /// whole pipeline), so a snapshot taken next is not racing the first poll.
    pub async fn wait_for_games(&self, n: usize) {
        wait_for_games(self.addr, n).await;
    }

    /// A URL on the admin listener (metrics, status, feed health).
    pub fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.admin_addr)
    }

    pub fn ws(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }
}

/// The text of a feed file polling `url` every `schedule`.
pub fn feed_file(id: &str, url: &str, extra: &str) -> String {
    format!(
        "id = \"{id}\"\nadapter = \"espn\"\nurl = \"{url}\"\nschedule = \"1s\"\nleague = \"nba\"\nsport = \"basketball\"\ntimeout = \"2s\"\nbackoff_initial = \"500ms\"\nbackoff_max = \"1s\"\n{extra}"
    )
}

/// Writes a main config (with `main_extra` appended) and feed files into a
/// fresh directory, loads it the way `serve` does, and starts the service.
pub async fn start_service(feeds: &[(&str, String)], main_extra: &str) -> Service {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("feeds.d")).unwrap();
    for (name, text) in feeds {
        std::fs::write(dir.path().join("feeds.d").join(name), text).unwrap();
    }
    let mut main = format!("listen = \"127.0.0.1:0\"\nfeeds_dir = \"feeds.d\"\n{main_extra}");
    if !main_extra.contains("[admin]") {
        main.push_str("\n[admin]\nlisten = \"127.0.0.1:0\"\n");
    }
    std::fs::write(dir.path().join("scoreticker.toml"), main).unwrap();
    let config = scoreticker::config::load(&dir.path().join("scoreticker.toml")).unwrap_or_else(|e| panic!("config: {e}"));
    let running = scoreticker::app::start(config).await.unwrap();
    let addr = running.addr;
    Service { running, addr, dir }
}

/// Waits until the service at `addr` holds `n` games, and returns that
/// `/api/v1/games` document.
pub async fn wait_for_games(addr: SocketAddr, n: usize) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let doc: Value = reqwest::get(format!("http://{addr}/api/v1/games")).await.unwrap().json().await.unwrap();
        if doc["games"].as_array().unwrap().len() == n {
            return doc;
        }
        assert!(Instant::now() < deadline, "the service never held {n} games: {doc}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// A WebSocket client.

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub const WAIT: Duration = Duration::from_secs(10);

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, response) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert_eq!(response.status(), 101);
        Client { ws }
    }

    pub async fn send(&mut self, value: Value) {
        self.ws.send(Message::Text(value.to_string().into())).await.unwrap();
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.to_string().into())).await.unwrap();
    }

    /// The next JSON frame, skipping heartbeats; panics after `WAIT`.
    pub async fn next(&mut self) -> Value {
        self.next_within(WAIT).await.unwrap_or_else(|| panic!("no frame within {WAIT:?}"))
    }

    pub async fn next_within(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] != "heartbeat" {
                        return Some(v);
                    }
                }
                Some(Ok(Message::Close(frame))) => panic!("closed: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("socket error: {e}"),
                None => panic!("socket ended"),
            }
        }
    }

    /// Reads until the server closes; returns the close code.
    pub async fn close_code(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("not closed within {WAIT:?}"),
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_))) | Ok(None) => return None,
            }
        }
    }

    /// The hello frame and the snapshot that follows a subscription.
    pub async fn hello(&mut self) -> Value {
        let hello = self.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        hello
    }
}

/// The events of a frame: an update/remove alone, or a batch's list.
pub fn events_of(frame: &Value) -> Vec<Value> {
    match frame["type"].as_str() {
        Some("batch") => frame["events"].as_array().unwrap().clone(),
        _ => vec![frame.clone()],
    }
}

/// An ESPN scoreboard of `n` live games with only the fields the adapter reads
/// (the shape of the real recordings, trimmed), for tests that need many games.
pub fn espn_many(n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let status = serde_json::json!({"clock": 0.0, "displayClock": "12:00", "period": 1,
                "type": {"name": "STATUS_IN_PROGRESS", "state": "in", "completed": false, "shortDetail": "12:00 - 1st"}});
            serde_json::json!({
                "id": format!("{}", 500000 + i), "date": "2026-11-25T00:30Z", "status": status.clone(),
                "competitions": [{"id": format!("{}", 500000 + i), "status": status, "competitors": [
                    {"homeAway": "home", "score": "0", "team": {"id": format!("h{i}"), "abbreviation": format!("H{i}"), "displayName": format!("Home Team {i}"), "shortDisplayName": format!("Home {i}")}},
                    {"homeAway": "away", "score": "0", "team": {"id": format!("a{i}"), "abbreviation": format!("A{i}"), "displayName": format!("Away Team {i}"), "shortDisplayName": format!("Away {i}")}}
                ]}]
            })
        })
        .collect();
    serde_json::json!({ "events": events })
}

/// The load tool's binary (`scoreticker-load`, its own crate in tests/bench/load), in
/// the same target directory as the service's. Another package's binary has no
/// `CARGO_BIN_EXE_` variable here, so it is built once per test process (a no-op when
/// `cargo build --workspace --bins` already did it), in the service's profile.
pub fn load_tool() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let service = Path::new(env!("CARGO_BIN_EXE_scoreticker"));
            let mut build = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            build
                .args(["build", "--locked", "--quiet", "-p", "scoreticker-load", "--manifest-path"])
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
            if service.parent().is_some_and(|d| d.ends_with("release")) {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build -p scoreticker-load");
            assert!(status.success(), "cargo build -p scoreticker-load failed");
            let tool = service.with_file_name("scoreticker-load");
            assert!(tool.exists(), "{} is missing after cargo build", tool.display());
            tool
        })
        .clone()
}
