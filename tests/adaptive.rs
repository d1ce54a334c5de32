//! Adaptive polling: a feed with `schedule_idle` polls fast only while a game
//! is in play or about to start. Against a real loopback upstream serving the
//! real World Cup recordings (feeds/demo/worldcup-2026, dates moved to now), and
//! a replay of the recorded days that counts the requests each schedule makes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::*;
use serde_json::Value;

use scoreticker::adapters::{Adapter, AdapterKind, FeedLabels};
use scoreticker::feeds::mode::{Outlook, PollMode};

/// A recording of ESPN's World Cup scoreboard from the demo data.
fn recording(n: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("feeds/demo/worldcup-2026/{n}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Recording 004 holds finals, one game in its second half and scheduled games.
/// Keeps `count` events in ESPN state `state` (pre, in, post), each starting at `start`.
fn games(state: &str, count: usize, start: DateTime<Utc>) -> Vec<Value> {
    let doc = recording("004");
    let mut events: Vec<Value> = doc["events"].as_array().unwrap().iter().filter(|e| e["status"]["type"]["state"] == state).take(count).cloned().collect();
    assert_eq!(events.len(), count, "recording 004 has {count} `{state}` games");
    for e in &mut events {
        e["date"] = Value::String(start.format("%Y-%m-%dT%H:%MZ").to_string());
    }
    events
}

fn board(events: Vec<Value>) -> Step {
    let mut doc = recording("004");
    doc["events"] = Value::Array(events);
    Step::json(&doc)
}

fn adaptive_feed(id: &str, upstream: &Upstream, idle: &str) -> (String, String) {
    (format!("{id}.toml"), feed_file(id, &upstream.url(), &format!("schedule_idle = \"{idle}\"\nprestart = \"30m\"\n")))
}

async fn start(feeds: &[(String, String)]) -> Service {
    let feeds: Vec<(&str, String)> = feeds.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    start_service(&feeds, "").await
}

/// The feed's health record from `/api/v1/feeds`.
async fn health(service: &Service, feed: &str) -> Value {
    let doc: Value = reqwest::get(service.admin("/api/v1/feeds")).await.unwrap().json().await.unwrap();
    doc["feeds"].as_array().unwrap().iter().find(|f| f["feed"] == feed).cloned().unwrap()
}

async fn wait_for_mode(service: &Service, feed: &str, mode: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = health(service, feed).await;
        if h["mode"] == mode {
            return;
        }
        assert!(Instant::now() < deadline, "feed {feed} never switched to {mode}: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `scoreticker_polls_total` for one feed and mode, summed over outcomes.
async fn polls(service: &Service, feed: &str, mode: &str) -> u64 {
    let text = reqwest::get(service.admin("/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("scoreticker_polls_total{"))
        .filter(|l| l.contains(&format!("feed=\"{feed}\"")) && l.contains(&format!("mode=\"{mode}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_finished_games_poll_at_the_idle_rate() {
    let upstream = Upstream::start(vec![board(games("post", 3, Utc::now() - chrono::Duration::hours(5)))]).await;
    let service = start(&[adaptive_feed("finals", &upstream, "1h")]).await;
    wait_for_mode(&service, "finals", "idle").await;
    // The fast schedule ticks every second; none of its ticks may poll now.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(upstream.served(), 1, "only the first poll: the idle schedule is hourly");
    assert_eq!(polls(&service, "finals", "live").await, 1);
    assert_eq!(polls(&service, "finals", "idle").await, 0);
    let h = health(&service, "finals").await;
    assert!(h["mode_since"].is_string() && h["stale"] == false, "{h}");
    let status: serde_json::Value = reqwest::get(service.admin("/status?format=json")).await.unwrap().json().await.unwrap();
    assert_eq!(status["feeds"][0]["mode"], "idle", "the status page shows the mode: {status}");
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_about_to_start_or_late_to_start_polls_fast() {
    let mut soon = games("post", 2, Utc::now() - chrono::Duration::hours(5));
    soon.extend(games("pre", 1, Utc::now() + chrono::Duration::minutes(10)));
    let soon = Upstream::start(vec![board(soon)]).await;
    // Its start passed an hour ago but it still reads `scheduled`: the upstream is late.
    let late = Upstream::start(vec![board(games("pre", 1, Utc::now() - chrono::Duration::hours(1)))]).await;
    let later = Upstream::start(vec![board(games("pre", 1, Utc::now() + chrono::Duration::hours(2)))]).await;
    let service = start(&[adaptive_feed("soon", &soon, "1h"), adaptive_feed("late", &late, "1h"), adaptive_feed("later", &later, "1h")]).await;
    wait_for_mode(&service, "later", "idle").await;
    soon.wait_served(4, Duration::from_secs(60)).await;
    late.wait_served(4, Duration::from_secs(60)).await;
    assert_eq!(health(&service, "soon").await["mode"], "live");
    assert_eq!(health(&service, "late").await["mode"], "live");
    assert_eq!(later.served(), 1, "two hours away is beyond prestart: idle");
    assert_eq!(polls(&service, "soon", "idle").await, 0);
    service.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_live_polls_fast_from_the_next_poll_and_back_to_idle_after_the_last_final() {
    let kickoff = Utc::now() + chrono::Duration::hours(2);
    let upstream = Upstream::start(vec![board(games("pre", 1, kickoff))]).await;
    // Idle every 2 s so the test sees the game go live soon; the fast schedule is 1 s.
    let service = start(&[adaptive_feed("cup", &upstream, "2s")]).await;
    wait_for_mode(&service, "cup", "idle").await;

    // The game goes live: the idle poll that reads it switches the feed.
    upstream.push([board(games("in", 1, kickoff))]);
    wait_for_mode(&service, "cup", "live").await;
    let idle_polls = polls(&service, "cup", "idle").await;
    let live_polls = polls(&service, "cup", "live").await;
    assert!(idle_polls >= 1, "the switch came from an idle poll");
    let served = upstream.served();
    upstream.wait_served(served + 3, Duration::from_secs(60)).await;
    assert!(polls(&service, "cup", "live").await >= live_polls + 3, "the next polls run on the fast schedule");
    assert_eq!(polls(&service, "cup", "idle").await, idle_polls, "no idle-schedule poll while live");

    // The last game ends: back to the idle schedule.
    upstream.push([board(games("post", 1, kickoff))]);
    wait_for_mode(&service, "cup", "idle").await;
    let live_polls = polls(&service, "cup", "live").await;
    let served = upstream.served();
    upstream.wait_served(served + 2, Duration::from_secs(60)).await;
    assert_eq!(polls(&service, "cup", "live").await, live_polls, "idle again: the fast schedule no longer polls");
    service.running.stop().await;
}

// ---------------------------------------------------------------------------
// The recorded days, replayed.

/// Recording times from the demo data's README table (`| 017.json | 2026-07-03 23:56:34 UTC | …`).
fn recordings() -> Vec<(DateTime<Utc>, Outlook)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds/demo");
    let table = std::fs::read_to_string(root.join("README.md")).unwrap();
    let adapter = Adapter::new(AdapterKind::Espn, FeedLabels { feed: "cup".into(), league: "fifa.world".into(), sport: "soccer".into() });
    let mut out = Vec::new();
    for line in table.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(file) = cells.get(1).filter(|c| c.ends_with(".json") && c.len() == 8) else { continue };
        let at = chrono::NaiveDateTime::parse_from_str(cells[2].trim_end_matches(" UTC"), "%Y-%m-%d %H:%M:%S").unwrap().and_utc();
        let body = std::fs::read(root.join("worldcup-2026").join(file)).unwrap();
        out.push((at, Outlook::of(&adapter.parse(&body).unwrap())));
    }
    assert_eq!(out.len(), 40, "the README lists every recording");
    out
}

/// Requests in one day from `from`, with the two schedules' ticks aligned at
/// `from` (as the scheduler's repeating jobs are) and the upstream answering
/// with the latest recording: the poller's own [`Outlook::mode`] decides which
/// ticks poll.
fn requests(recordings: &[(DateTime<Utc>, Outlook)], from: DateTime<Utc>, fast: i64, idle: Option<i64>, prestart: Duration) -> u64 {
    let answer = |t: DateTime<Utc>| recordings.iter().rev().find(|(at, _)| *at <= t).map(|(_, o)| o.clone()).unwrap_or_default();
    let mut outlook: Option<Outlook> = None;
    let mut count = 0;
    for s in 0..86_400 {
        let t = from + chrono::Duration::seconds(s);
        let mode = match (idle, &outlook) {
            (None, _) => PollMode::Fixed,
            (Some(_), None) => PollMode::Live,
            (Some(_), Some(o)) => o.mode(t, prestart),
        };
        let due = match mode {
            PollMode::Fixed | PollMode::Live => s % fast == 0,
            PollMode::Idle => s % idle.unwrap() == 0,
        };
        if due {
            count += 1;
            outlook = Some(answer(t));
        }
    }
    count
}

#[test]
fn a_recorded_day_costs_far_fewer_requests_with_adaptive_polling() {
    let recordings = recordings();
    let prestart = Duration::from_secs(30 * 60);
    let mut total = (0, 0);
    for day in 1..=7 {
        let from = DateTime::parse_from_rfc3339(&format!("2026-07-0{day}T00:00:00Z")).unwrap().with_timezone(&Utc);
        let fixed = requests(&recordings, from, 5, None, prestart);
        let adaptive = requests(&recordings, from, 5, Some(600), prestart);
        assert_eq!(fixed, 17_280);
        assert!(adaptive < fixed, "2026-07-0{day}: {adaptive} adaptive vs {fixed} fixed");
        println!("2026-07-0{day} UTC: schedule 5s: {fixed} requests; schedule 5s + schedule_idle 10m + prestart 30m: {adaptive} ({:.0}% fewer)", 100.0 * (1.0 - adaptive as f64 / fixed as f64));
        total = (total.0 + fixed, total.1 + adaptive);
    }
    println!("7 recorded days: {} fixed vs {} adaptive", total.0, total.1);
}
