//! A quick run of the load tool (`scoreticker-load`) against the real service, fed by
//! the tool's own synthetic ESPN upstream: a few hundred subscribers for a few seconds.
//! It checks that the tool and the service work together (everyone connects, events
//! arrive, nothing is missed, a reconnect storm resumes everyone, the JSON parses);
//! performance numbers belong in BENCHMARKS.md and are never asserted here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::load_tool;

const SERVICE: &str = env!("CARGO_BIN_EXE_scoreticker");

/// A child process killed when the test ends, pass or fail.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The synthetic upstream on a free port; returns it and its address.
fn upstream() -> (Proc, String) {
    let mut child = Command::new(load_tool())
        .args(["upstream", "--listen", "127.0.0.1:0", "--games", "5", "--change-every", "1s"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the upstream");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("upstream said {line:?}: {e}"));
    (Proc(child), v["listening"].as_str().unwrap().to_string())
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The service from a config file polling `upstream` every second; waits for its games.
fn service(upstream: &str, dir: &Path) -> (Proc, String) {
    let free = || TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{}", free());
    std::fs::create_dir_all(dir.join("feeds.d")).unwrap();
    // The admin listener has a fixed default port; tests run side by side.
    let main = format!("listen = \"{addr}\"\nfeeds_dir = \"feeds.d\"\n\n[admin]\nlisten = \"127.0.0.1:{}\"\n", free());
    std::fs::write(dir.join("scoreticker.toml"), main).unwrap();
    std::fs::write(
        dir.join("feeds.d/bench-0.toml"),
        format!(
            "id = \"bench-0\"\nadapter = \"espn\"\nurl = \"http://{upstream}/feed/0/scoreboard\"\nschedule = \"1s\"\nleague = \"nba\"\nsport = \"basketball\"\ntimeout = \"5s\"\n"
        ),
    )
    .unwrap();
    let child = Command::new(SERVICE)
        .args(["serve", "--config"])
        .arg(dir.join("scoreticker.toml"))
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start the service");
    let proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http_get(&addr, "/api/v1/games").is_some_and(|body| body.contains(r#""games":[{"#)) {
            return (proc, addr);
        }
        assert!(Instant::now() < deadline, "the service did not serve the upstream's games within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the load tool with `--json` and returns its result.
fn load(args: &[&str]) -> Value {
    let out = Command::new(load_tool()).args(args).arg("--json").stderr(Stdio::inherit()).output().expect("run scoreticker-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "scoreticker-load {args:?} failed: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn subscribers_over_two_processes_get_every_event_and_the_server_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, up) = upstream();
    let (svc, addr) = service(&up, dir.path());
    let url = format!("ws://{addr}/ws?topics=all");
    let pid = svc.0.id().to_string();
    // `--retries 0`: nothing here is a measurement, so a window disturbed by other work
    // on the machine is not measured again after waiting (up to minutes) for quiet.
    let r = load(&[
        "subscribe", "--url", &url, "-n", "300", "--procs", "2", "--sources-count", "3", "--duration", "3s", "--server-pid", &pid,
        "--retries", "0",
    ]);
    assert_eq!(r["connected"], 300, "{r:#}");
    assert_eq!(r["failed"], 0, "{r:#}");
    assert_eq!(r["procs"], 2);
    assert_eq!(r["sources"], serde_json::json!(["127.0.0.2", "127.0.0.3", "127.0.0.4"]));
    let phase = &r["phases"][0];
    // One change a second for 3 s reaches all 300 subscribers (at least once, even on a
    // loaded machine).
    assert!(phase["deliveries"].as_u64().unwrap() >= 300, "{phase:#}");
    assert_eq!(phase["deliveries"], phase["latency_ms"]["count"]);
    assert_eq!(phase["missed"], 0, "{phase:#}");
    assert_eq!(phase["duplicates"], 0, "{phase:#}");
    assert_eq!(phase["disconnects"], 0, "{phase:#}");
    assert_eq!(phase["resyncs"], 0, "{phase:#}");
    for key in ["p50", "p90", "p99", "max"] {
        assert!(phase["latency_ms"][key].is_number(), "{key}: {phase:#}");
    }
    assert!(phase["update_frame_bytes"].as_f64().unwrap() > 100.0, "{phase:#}");
    assert!(phase["cpu_us_per_delivery"].is_number(), "{phase:#}");
    assert!(r["server"]["rss_before_kib"].as_u64().unwrap() > 0);
    assert!(r["server"]["rss_per_subscriber_kib"].is_number(), "{r:#}");

    // The table reads the result.
    let file = dir.path().join("main.json");
    std::fs::write(&file, r.to_string()).unwrap();
    let out = Command::new(load_tool()).args(["table", "--service-main"]).arg(&file).output().unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("| scoreticker | 300 / 300 |"), "{table}");
}

#[test]
fn a_reconnect_storm_resumes_everyone_with_a_replay_and_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, up) = upstream();
    let (svc, addr) = service(&up, dir.path());
    let url = format!("ws://{addr}/ws?topics=all");
    let pid = svc.0.id().to_string();
    // Away for 2.5 s while the upstream changes every second: there is something to replay.
    let r = load(&["storm", "--url", &url, "-n", "200", "--down", "2500ms", "--observe", "2s", "--server-pid", &pid]);
    assert_eq!(r["connected"], 200, "{r:#}");
    let storm = &r["storm"];
    assert_eq!(storm["expected"], 200, "{storm:#}");
    assert_eq!(storm["resumed"], 200, "{storm:#}");
    assert_eq!(storm["failed"], 0, "{storm:#}");
    // The ring holds everything they missed: nobody needs a snapshot.
    assert!(storm["catch"]["snapshot"].is_null(), "{storm:#}");
    assert!(storm["catch"]["replay"].as_u64().unwrap_or(0) > 0, "{storm:#}");
    assert_eq!(storm["missed"], 0, "{storm:#}");
    assert_eq!(storm["duplicates"], 0, "{storm:#}");
    assert_eq!(storm["disconnects"], 0, "{storm:#}");
    assert!(storm["all_resumed_ms"].is_number());
    assert!(storm["deliveries"].as_u64().unwrap() >= 200, "replayed and live events: {storm:#}");
}

/// `--deflate` (the benchmark's compressed-clients row) against the real service: the
/// clients offer permessage-deflate as Chromium does. Whether or not the server
/// accepts, every event arrives and the result says which it was; if it accepted,
/// the frames on the wire are smaller than the JSON they carry.
#[test]
fn clients_offering_permessage_deflate_get_every_event_and_the_wire_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, up) = upstream();
    let (_svc, addr) = service(&up, dir.path());
    let url = format!("ws://{addr}/ws?topics=all");
    let r = load(&["subscribe", "--deflate", "--url", &url, "-n", "100", "--duration", "3s", "--retries", "0"]);
    assert_eq!(r["connected"], 100, "{r:#}");
    let phase = &r["phases"][0];
    assert!(phase["deliveries"].as_u64().unwrap() >= 100, "{phase:#}");
    assert_eq!(phase["missed"], 0, "{phase:#}");
    assert_eq!(phase["disconnects"], 0, "{phase:#}");
    let c = &r["compression"];
    assert_eq!(c["offered"], "permessage-deflate; client_max_window_bits");
    assert_eq!(c["accepted"].as_u64().unwrap() + c["declined"].as_u64().unwrap(), 100, "{c:#}");
    let (snapshot, snapshot_wire) = (r["snapshot_bytes"].as_u64().unwrap(), r["snapshot_wire_bytes"].as_u64().unwrap());
    let (update, update_wire) = (phase["update_frame_bytes"].as_f64().unwrap(), phase["update_frame_wire_bytes"].as_f64().unwrap());
    match c["state"].as_str().unwrap() {
        "accepted" => {
            assert!(c["response"].as_str().unwrap().contains("server_no_context_takeover"), "{c:#}");
            assert!(snapshot_wire < snapshot, "{r:#}");
            assert!(update_wire < update, "{phase:#}");
        }
        "plain (server declined)" => {
            // A plain frame's wire size is its payload and a 4-byte header (126 to 65,535 bytes).
            assert_eq!(snapshot_wire, snapshot + 4, "{r:#}");
            assert_eq!(update_wire, update + 4.0, "{phase:#}");
        }
        other => panic!("some accepted, some declined: {other} {c:#}"),
    }
}
