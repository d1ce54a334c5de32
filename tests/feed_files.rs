//! Entries of the feeds directory that look like feed files but are not: a
//! directory, a symlink loop, a dangling symlink. `check-config` calls each an
//! error; a running service warns and counts them on reload.

mod common;

use std::os::unix::fs::symlink;
use std::process::Command;

use common::*;

#[test]
fn check_config_names_every_ignored_feed_file() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds.d");
    std::fs::create_dir(&feeds).unwrap();
    std::fs::write(dir.path().join("scoreticker.toml"), "feeds_dir = \"feeds.d\"\n").unwrap();
    std::fs::write(feeds.join("good.toml"), feed_file("good", "http://127.0.0.1:9/x", "")).unwrap();
    std::fs::create_dir(feeds.join("folder.toml")).unwrap();
    symlink("loop.toml", feeds.join("loop.toml")).unwrap();
    symlink("../nowhere/gone.toml", feeds.join("gone.toml")).unwrap();
    std::fs::write(feeds.join("notes.txt"), "not a feed, not a .toml: not reported").unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_scoreticker"))
        .args(["check-config", "--config"])
        .arg(dir.path().join("scoreticker.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check-config must fail: {stderr}");
    let at = |name: &str| format!("{}: ignored: ", feeds.join(name).display());
    assert!(stderr.contains(&format!("{}is a directory", at("folder.toml"))), "{stderr}");
    assert!(stderr.contains(&format!("{}is a symlink that cannot be followed", at("loop.toml"))), "{stderr}");
    assert!(stderr.contains(&format!("{}is a symlink to ../nowhere/gone.toml, which does not exist", at("gone.toml"))), "{stderr}");
    assert!(stderr.contains("3 problem(s) found"), "{stderr}");
    assert!(!stderr.contains("notes.txt") && !stderr.contains("good.toml"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_whose_symlink_target_vanished_is_warned_about_and_counted() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[], "").await;
    // The feed file lives elsewhere and is linked in, as configuration
    // management tools often do.
    let elsewhere = service.dir.path().join("nba-real.toml");
    std::fs::write(&elsewhere, feed_file("nba", &upstream.url(), "")).unwrap();
    symlink(&elsewhere, service.dir.path().join("feeds.d/nba.toml")).unwrap();
    service.running.reload().await.unwrap();
    service.wait_for_games(1).await;
    assert_eq!(ignored_gauge(&service).await, 0.0);

    std::fs::remove_file(&elsewhere).unwrap();
    let summary = service.running.reload().await.expect("a reload is not refused for it");
    assert_eq!(summary, "-nba");
    assert_eq!(ignored_gauge(&service).await, 1.0, "the vanished target is counted");
    service.wait_for_games(0).await;
    service.running.stop().await;
}

async fn ignored_gauge(service: &Service) -> f64 {
    let text = reqwest::get(service.admin("/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("scoreticker_feed_files_ignored "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no scoreticker_feed_files_ignored in {text}"))
}
