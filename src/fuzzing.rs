//! The bodies of the fuzz targets, in the library so that two runners share them:
//! `fuzz/` (cargo-fuzz, libFuzzer) calls them with generated inputs, and
//! `tests/fuzz_corpus.rs` replays every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` through them as an ordinary test, so CI keeps
//! them honest without cargo-fuzz.
//!
//! Each function takes raw bytes, exactly what an attacker controls at that
//! entry point, and panics only on a bug: a broken invariant is an `assert!`.

use std::sync::OnceLock;
use std::time::Duration;

use crate::adapters::{Adapter, AdapterKind, FeedLabels};
use crate::diff::FeedDiff;
use crate::hub::{Catchup, Hub, Since, Subscription, Topic};
use crate::model::{Game, GameState, Status, Team};

/// A fuzz target's body: raw input in, a panic only on a bug.
pub type Target = fn(&[u8]);

/// The fuzz targets by name (the `fuzz/fuzz_targets/<name>.rs` files and the
/// corpus directories), with their bodies.
pub const TARGETS: [(&str, Target); 5] = [
    ("espn", espn),
    ("mapped", mapped),
    ("client_message", client_message),
    ("since", since),
    ("config", config),
];

/// An ESPN scoreboard body through the `espn` adapter, then the diff and the hub.
pub fn espn(data: &[u8]) {
    let adapter = Adapter::new(AdapterKind::Espn, labels("espn-fuzz"));
    downstream(&adapter, data);
}

/// Any JSON through the mapped-JSON adapter with the NBA CDN example mapping
/// (`feeds/examples/nba-cdn.toml`), then the diff and the hub.
pub fn mapped(data: &[u8]) {
    static ADAPTER: OnceLock<Adapter> = OnceLock::new();
    let adapter = ADAPTER.get_or_init(|| {
        let text = include_str!("../feeds/examples/nba-cdn.toml");
        let feed = crate::config::load_feed(std::path::Path::new("nba-cdn.toml"), text).expect("the example feed is valid");
        Adapter::new(feed.adapter, labels("nba-cdn"))
    });
    downstream(adapter, data);
}

/// A client's WebSocket text message, parsed as the server parses it, and a
/// subscribe carried out against a hub with history.
pub fn client_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(message) = crate::server::ws::ClientMessage::parse(text) else { return };
    let (topics, since) = message.into_parts();
    let max = crate::config::Limits::default().max_topics_per_client;
    let Ok(topics) = crate::server::api::check_topics(topics.iter().map(String::as_str), max) else { return };
    assert!(!topics.is_empty() && topics.len() <= max);
    subscribe(&topics, since.as_ref());
}

/// An SSE `Last-Event-ID` (or `lastEventId` query value), parsed, then used to resume.
pub fn since(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = crate::server::sse::parse_event_id(&text);
    if let Some(s) = &parsed {
        assert!(!s.epoch.is_empty(), "an empty epoch never resumes");
    }
    subscribe(&[Topic::All], parsed.as_ref());
}

/// A main config file and one feed file (split at the first NUL byte), loaded
/// from disk as `serve` loads them. A `feeds_dir` key is not followed (it could
/// point anywhere on the fuzzing machine).
pub fn config(data: &[u8]) {
    let (main, feed) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    if main.windows(5).any(|w| w == b"feeds") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("scoreticker-fuzz-config-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("feeds.d")).expect("temp dir is writable");
    let main_path = dir.join("scoreticker.toml");
    std::fs::write(&main_path, main).expect("temp dir is writable");
    std::fs::write(dir.join("feeds.d/feed.toml"), feed).expect("temp dir is writable");
    let loaded = crate::config::load(&main_path);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(errors) = loaded {
        assert!(!errors.0.is_empty(), "a refused config names at least one problem");
        let _ = errors.to_string();
    }
}

fn labels(feed: &str) -> FeedLabels {
    FeedLabels { feed: feed.into(), league: "fz".into(), sport: "fuzz".into() }
}

/// Parses a body and pushes the games through a fresh diff and hub twice (a
/// change, then an identical poll); every document the hub then serves must
/// be valid JSON.
fn downstream(adapter: &Adapter, data: &[u8]) {
    let Ok(games) = adapter.parse(data) else { return };
    let mut diff = FeedDiff::new(adapter.labels().feed.clone(), 2);
    let hub = Hub::new("fuzz".into(), 16, 1000, Duration::from_secs(600));
    let now = chrono::Utc::now();
    hub.publish(diff.apply(games.clone(), now));
    hub.publish(diff.apply(games, now));
    let doc = hub.games_document(&[Topic::All]).body;
    serde_json::from_slice::<serde_json::Value>(&doc).expect("the games document is JSON");
    let mut sub = Subscription::default();
    if let Catchup::Snapshot(frame) = hub.subscribe(&mut sub, &[Topic::All], None) {
        serde_json::from_slice::<serde_json::Value>(&frame).expect("a snapshot is JSON");
    }
}

/// Subscribes to a hub that has seen 20 events (ring of 8), as a client would.
fn subscribe(topics: &[Topic], since: Option<&Since>) {
    static HUB: OnceLock<Hub> = OnceLock::new();
    let hub = HUB.get_or_init(|| {
        let hub = Hub::new("fuzzepoch".into(), 16, 8, Duration::from_secs(3600));
        let mut diff = FeedDiff::new("f", 1);
        let now = chrono::Utc::now();
        for round in 0..10 {
            hub.publish(diff.apply(vec![sample_game("1", round), sample_game("2", round)], now));
        }
        hub
    });
    let mut sub = Subscription::default();
    let frame = match hub.subscribe(&mut sub, topics, since) {
        Catchup::Snapshot(frame) => Some(frame),
        Catchup::Replay(frame) => frame,
    };
    if let Some(frame) = frame {
        let value: serde_json::Value = serde_json::from_slice(&frame).expect("catch-up frames are JSON");
        if let Some(last) = crate::server::sse::last_seq_in(&frame) {
            assert!(last <= hub.seq(), "a catch-up never names a future seq: {value}");
        }
    }
}

fn sample_game(id: &str, score: i64) -> Game {
    let team = |abbr: &str, score| Team { id: abbr.into(), name: abbr.into(), short: None, abbr: abbr.into(), score, logo: None, ..Team::default() };
    Game {
        id: Game::make_id("f", id),
        feed: "f".into(),
        league: "l".into(),
        sport: "s".into(),
        start: None,
        status: Status { state: GameState::Live, period: Some(1), clock: None, detail: None },
        home: team("AAA", Some(score)),
        away: team("BBB", Some(0)),
        updated: None,
        ..Game::default()
    }
}
