//! The built-in demo: the real World Cup recordings replayed over HTTP on
//! loopback, polled through the real poller and `espn` adapter.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_ticks_through_the_real_pipeline() {
    let upstream = scoreticker::demo::start_replay(Duration::from_millis(700)).await.unwrap();
    let config = scoreticker::demo::config("127.0.0.1:0".parse().unwrap(), &upstream, Duration::from_millis(1000)).unwrap();
    let running = scoreticker::app::start(config).await.unwrap();
    let mut client = Client::connect(&format!("ws://{}/ws?topics=league:worldcup", running.addr)).await;
    client.hello().await;
    let snapshot = client.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    // The first poll may land just after the snapshot; either way games arrive.
    let mut games = snapshot["games"].as_array().unwrap().len();
    let mut kinds = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    // Read until the replay has shown more than additions: a real change of score,
    // status, period or clock, or a removal.
    while !kinds.iter().any(|k: &String| k != "added") {
        assert!(std::time::Instant::now() < deadline, "only {kinds:?} after 40s");
        let frame = client.next().await;
        for event in events_of(&frame) {
            match event["type"].as_str() {
                Some("update") => {
                    assert_eq!(event["game"]["sport"], "soccer");
                    assert_eq!(event["game"]["feed"], "demo-worldcup");
                    for c in event["changes"].as_array().unwrap() {
                        kinds.insert(c.as_str().unwrap().to_string());
                    }
                    games += 1;
                }
                Some("remove") => {
                    kinds.insert("remove".into());
                }
                _ => panic!("unexpected event {event}"),
            }
        }
    }
    assert!(games > 0);
    assert!(kinds.contains("added"), "{kinds:?}");
    running.stop().await;
}

#[test]
fn the_binary_serves_the_demo_with_no_config() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scoreticker"))
        .args(["demo", "--listen", "127.0.0.1:0", "--step", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no URL in {line:?}")).to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (page, games) = runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let page = reqwest::get(&url).await.unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        let mut games = 0;
        for _ in 0..50 {
            let doc: serde_json::Value = reqwest::get(format!("{url}api/v1/games")).await.unwrap().json().await.unwrap();
            games = doc["games"].as_array().unwrap().len();
            if games > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (page, games)
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(page.contains("<html") || page.contains("<!doctype") || page.contains("<!DOCTYPE"), "{page}");
    assert!(games > 0, "the demo serves games within seconds");
}
