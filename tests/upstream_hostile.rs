//! Hostile and broken upstreams, served by real HTTP servers on 127.0.0.1:
//! whatever they send, the service keeps polling, keeps its state, and its
//! logs and memory stay its own.

mod common;

use common::*;
use serde_json::Value;

fn too_many_requests(retry_after: &str) -> Step {
    Step::Status { code: 429, headers: vec![("Retry-After".into(), retry_after.into())], body: b"slow down".to_vec() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_retry_after_waits_at_most_backoff_max() {
    // u64::MAX seconds used to panic on every poll ("overflow when adding
    // duration to instant"), a year used to silence the feed for a year. Both
    // now wait backoff_max (1s in these feeds), then the feed recovers.
    let upstream = Upstream::start(vec![
        too_many_requests("18446744073709551615"),
        too_many_requests("31536000"),
        Step::json(&espn_live()),
    ])
    .await;
    let service = start_service(&[("nba.toml", feed_file("nba", &upstream.url(), ""))], "").await;
    service.wait_for_games(1).await;
    let doc: Value = reqwest::get(service.admin("/api/v1/feeds")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["feeds"][0]["failures"], 2, "both 429s were recorded as failed polls: {doc}");
    assert_eq!(doc["feeds"][0]["last_outcome"], "ok", "{doc}");
    service.running.stop().await;
}

#[test]
fn upstream_control_characters_cannot_forge_log_lines() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    // The status name and state reach the log (an unknown status is warned
    // about once); each tries to start a fake ERROR record and paint the terminal.
    let forged_name = "STATUS_ODD\n2026-12-01T00:00:00.000000Z ERROR scoreticker::app: forged by the upstream\x1b[31m";
    let forged_state = "in\r\n2026-12-01T00:00:01.000000Z ERROR scoreticker::app: forged again\x1b]0;title\x07";
    let mut body = espn_live();
    body["events"][0]["status"]["type"]["name"] = forged_name.into();
    body["events"][0]["status"]["type"]["state"] = forged_state.into();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime.block_on(Upstream::start(vec![Step::json(&body)]));

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("feeds.d")).unwrap();
    std::fs::write(dir.path().join("feeds.d/nba.toml"), feed_file("nba", &upstream.url(), "")).unwrap();
    let main = "listen = \"127.0.0.1:0\"\nfeeds_dir = \"feeds.d\"\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    std::fs::write(dir.path().join("scoreticker.toml"), main).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_scoreticker"))
        .args(["--log-format", "plain", "serve", "--config"])
        .arg(dir.path().join("scoreticker.toml"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        // Raw bytes: a lossy line split on '\n' only, exactly what a log file holds.
        for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
            if tx.send(String::from_utf8_lossy(&line).into_owned()).is_err() {
                return;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + WAIT;
    while lines.iter().filter(|l: &&String| l.contains("unknown upstream status value")).count() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let warned: Vec<&String> = lines.iter().filter(|l| l.contains("unknown upstream status value")).collect();
    assert_eq!(warned.len(), 2, "both forged values are warned about: {lines:#?}");
    for line in &lines {
        assert!(!line.contains('\x1b') && !line.contains('\r') && !line.contains('\x07'), "a raw control character: {line:?}");
        if line.contains("forged") {
            assert!(line.contains("unknown upstream status value"), "a forged record: {line:?}");
        }
    }
    assert!(warned.iter().any(|l| l.contains("STATUS_ODD\\n2026-12-01T00:00:00.000000Z ERROR") && l.contains("\\u{1b}[31m")));
    drop(runtime);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_string_is_capped_at_its_documented_length() {
    let huge = "é".repeat(100_000); // 200 KB, two bytes per character (the body stays under max_body_bytes)
    let mut body = espn_live();
    let team = &mut body["events"][0]["competitions"][0]["competitors"][0]["team"];
    for key in ["displayName", "shortDisplayName", "abbreviation", "id"] {
        team[key] = huge.clone().into();
    }
    team["logo"] = format!("https://cdn.example/{huge}.png").into();
    body["events"][0]["status"]["type"]["shortDetail"] = huge.clone().into();
    body["events"][0]["status"]["type"]["detail"] = huge.clone().into();
    body["events"][0]["status"]["displayClock"] = huge.clone().into();
    body["events"][0]["id"] = huge.clone().into();
    let upstream = Upstream::start(vec![Step::json(&body)]).await;
    let service = start_service(&[("nba.toml", feed_file("nba", &upstream.url(), ""))], "").await;

    let doc = wait_for_games(service.addr, 1).await;
    let game = &doc["games"][0];
    let len = |v: &Value| v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).len();
    // The competitor edited may be home or away; check whichever carries it.
    let side = if game["home"]["name"].as_str().unwrap().starts_with('é') { "home" } else { "away" };
    for (path, cap) in [
        ("/id", 160),
        ("/status/detail", 128),
        ("/status/clock", 32),
        (&*format!("/{side}/id"), 64),
        (&*format!("/{side}/name"), 128),
        (&*format!("/{side}/short"), 64),
        (&*format!("/{side}/abbr"), 16),
        (&*format!("/{side}/logo"), 1024),
    ] {
        let value = game.pointer(path).unwrap();
        let n = len(value);
        assert!(n <= cap && n + 2 > cap, "{path}: {n} bytes, cap {cap}");
    }
    let metrics = reqwest::get(service.admin("/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("scoreticker_upstream_fields_truncated_total{")
            && l.contains("field=\"team.name\"")
            && l.contains("feed=\"nba\"")),
        "truncations are counted"
    );
    service.running.stop().await;
}

#[test]
fn the_replay_ring_is_bounded_by_bytes() {
    use scoreticker::diff::FeedDiff;
    use scoreticker::hub::{Catchup, Hub, Since, Subscription, Topic};
    use std::time::Duration;

    let hub = Hub::new("ep".into(), 16, 10_000, Duration::from_secs(3600)).with_ring_max_bytes(64 << 10);
    let labels = scoreticker::adapters::FeedLabels { feed: "nba".into(), league: "nba".into(), sport: "basketball".into() };
    let adapter = scoreticker::adapters::Adapter::new(scoreticker::adapters::AdapterKind::Espn, labels);
    let mut diff = FeedDiff::new("nba", 3);
    let mut body = espn_live();
    for score in 0..400 {
        set_score(&mut body, 0, 0, score);
        let games = adapter.parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        hub.publish(diff.apply(games, chrono::Utc::now()));
    }
    let saved = hub.history();
    let held: usize = saved.ring.iter().map(|e| e.bytes.len()).sum();
    assert!(held <= 64 << 10, "the ring holds {held} bytes");
    assert!(saved.ring.len() > 10 && saved.ring.len() < 400, "{} events kept", saved.ring.len());
    assert_eq!(saved.ring.last().unwrap().seq, hub.seq(), "the newest events are the ones kept");
    // Resuming from before the kept window is a snapshot; from inside it, a replay.
    let mut sub = Subscription::default();
    let old = Since { epoch: "ep".into(), seq: 1 };
    assert!(matches!(hub.subscribe(&mut sub, &[Topic::All], Some(&old)), Catchup::Snapshot(_)));
    let recent = Since { epoch: "ep".into(), seq: hub.seq() - 3 };
    assert!(matches!(hub.subscribe(&mut sub, &[Topic::All], Some(&recent)), Catchup::Replay(Some(_))));
}

#[test]
fn ring_max_bytes_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("feeds.d")).unwrap();
    let main = "feeds_dir = \"feeds.d\"\n\n[limits]\nring_max_bytes = \"1KiB\"\n";
    std::fs::write(dir.path().join("scoreticker.toml"), main).unwrap();
    let errors = scoreticker::config::load(&dir.path().join("scoreticker.toml")).unwrap_err().to_string();
    let expected = format!("{}:4: limits.ring_max_bytes: must be at least 64KiB", dir.path().join("scoreticker.toml").display());
    assert!(errors.contains(&expected), "{errors}");
    std::fs::write(dir.path().join("scoreticker.toml"), "[limits]\nring_max_bytes = \"lots\"\n").unwrap();
    let errors = scoreticker::config::load(&dir.path().join("scoreticker.toml")).unwrap_err().to_string();
    assert!(errors.contains(":2: limits.ring_max_bytes: "), "{errors}");
}
