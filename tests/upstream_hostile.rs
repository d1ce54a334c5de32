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
