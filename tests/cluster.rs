//! Cluster mode against real Redis and Valkey: real `redis-server` and
//! `valkey-server` processes the tests start, stop, kill and restart
//! (replicas and three sentinels for a failover, a TCP proxy for a network
//! partition); real `scoreticker` nodes; a real upstream on 127.0.0.1 serving
//! the recorded ESPN payload; real WebSocket clients that check every seq (no
//! gap, no duplicate).
//!
//! Scenarios about the server run on every engine ([`harness::engines`]);
//! those about the nodes alone run once. Leases are 1 s here so takeovers are
//! quick; each scenario runs on its own servers and nodes, so the scenarios
//! run in parallel.

mod common;
#[path = "cluster/harness.rs"]
mod harness;
#[path = "cluster/partition.rs"]
mod partition;
#[path = "cluster/proxy.rs"]
mod proxy;
#[path = "cluster/sentinel_failover.rs"]
mod sentinel_failover;

use std::time::{Duration, Instant};

use common::{espn_live, espn_many, set_score, Step, Upstream};
use harness::*;
use serde_json::Value;

/// The upstream's scoreboard; each `bump` serves a new score from the next poll on.
struct Scores {
    upstream: Upstream,
    doc: Value,
    score: i64,
}

impl Scores {
    async fn start(doc: Value) -> Scores {
        let upstream = Upstream::start(vec![Step::json(&doc)]).await;
        Scores { upstream, doc, score: 100 }
    }

    fn url(&self) -> String {
        self.upstream.url()
    }

    /// Changes every game's home score.
    fn bump(&mut self) -> i64 {
        self.next_doc();
        self.upstream.push([Step::json(&self.doc)]);
        self.score
    }

    /// Changes every game's home score; the upstream answers each poll `delay` late.
    fn bump_slow(&mut self, delay: Duration) -> i64 {
        self.next_doc();
        self.upstream.push([Step::Slow { delay, body: serde_json::to_vec(&self.doc).unwrap() }]);
        self.score
    }

    fn next_doc(&mut self) {
        self.score += 1;
        for e in 0..self.doc["events"].as_array().unwrap().len() {
            set_score(&mut self.doc, e, 0, self.score);
        }
    }
}

/// The home score of the (first) game in a frame.
fn home_score(game: &Value) -> i64 {
    game["home"]["score"].as_i64().unwrap()
}

/// Reads frames until an event carrying `score`; returns the frames read.
async fn until_score(c: &mut Client, score: i64) -> Vec<Frame> {
    let mut frames = Vec::new();
    loop {
        let f = c.next().await.unwrap_or_else(|| panic!("no event with score {score}; got {frames:?}"));
        let done = events_of(&f.json).iter().any(|e| e.get("game").is_some_and(|g| home_score(g) == score));
        frames.push(f);
        if done {
            return frames;
        }
    }
}

/// Two nodes, ready, on one Redis, with the one game loaded.
async fn two_nodes(redis: &Redis, scores: &Scores, extra: &str) -> (Node, Node) {
    let a = Node::start("node-a", &redis.url(), &scores.url(), extra);
    let b = Node::start("node-b", &redis.url(), &scores.url(), extra);
    for n in [&a, &b] {
        n.wait_ready().await;
        wait_until("the game reaches the node", || async { !n.games().await["games"].as_array().unwrap().is_empty() }).await;
    }
    (a, b)
}

/// Subscribes to everything and reads the snapshot.
async fn subscribed(node: &Node) -> Client {
    let (mut c, _) = Client::subscribe(&node.ws(), None).await;
    let snap = c.next().await.unwrap();
    assert_eq!(snap.json["type"], "snapshot", "{}", snap.text);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poller_and_identical_frames_on_every_node() {
    for engine in engines() {
        let redis = Redis::start(engine, true).await;
        let mut scores = Scores::start(espn_live()).await;
        let (a, b) = two_nodes(&redis, &scores, "").await;
        let leader = the_leader(&[&a, &b]).await;
        // Both at the same seq before subscribing, so both see the same events next.
        wait_until("both nodes at the same seq", || async { a.games().await["seq"] == b.games().await["seq"] }).await;
        let mut ca = subscribed(&a).await;
        let mut cb = subscribed(&b).await;
        assert_eq!(ca.epoch, cb.epoch, "one history");
        for _ in 0..4 {
            let score = scores.bump();
            let fa = until_score(&mut ca, score).await;
            let fb = until_score(&mut cb, score).await;
            let texts = |f: &[Frame]| f.iter().map(|f| f.text.clone()).collect::<Vec<_>>();
            assert_eq!(texts(&fa), texts(&fb), "{engine}: the same bytes on both nodes");
        }
        assert_eq!(ca.seq, cb.seq);
        // Exactly one node polled: the follower made no request at all.
        let (l, f) = if leader == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(f.metric("scoreticker_polls_total", &[]).await, 0.0, "{engine}: the follower polled");
        let polls = l.metric("scoreticker_polls_total", &[]).await;
        let served = scores.upstream.served() as f64;
        assert!(served >= polls && served <= polls + 1.0, "{engine}: upstream served {served}, leader polled {polls}");
        // Every cluster series the shipped alerts and dashboard use is there from the start.
        let shipped = std::fs::read_to_string(manifest_dir().join("deploy/monitoring/alerts.yml")).unwrap()
            + &std::fs::read_to_string(manifest_dir().join("deploy/monitoring/grafana-dashboard.json")).unwrap();
        let names: std::collections::BTreeSet<&str> =
            shipped.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("scoreticker_cluster_")).collect();
        assert!(names.len() >= 7, "{names:?}");
        let metrics = reqwest::get(format!("http://{}/metrics", f.admin)).await.unwrap().text().await.unwrap();
        for name in names {
            assert!(metrics.contains(&format!("\n{name}")), "{name} missing from the follower's /metrics");
        }
        let status = f.status_page().await;
        assert!(status["cluster"]["role"] == "follower" && status["cluster"]["leader"] == l.name.as_str(), "{status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_and_its_clients_resume_elsewhere() {
    for engine in engines() {
        let redis = Redis::start(engine, true).await;
        let mut scores = Scores::start(espn_live()).await;
        let (a, b) = two_nodes(&redis, &scores, "").await;
        let (mut leader, survivor) = if the_leader(&[&a, &b]).await == 0 { (a, b) } else { (b, a) };
        wait_until("same seq", || async { leader.games().await["seq"] == survivor.games().await["seq"] }).await;
        let mut on_survivor = subscribed(&survivor).await;
        let mut on_leader = subscribed(&leader).await;
        let score = scores.bump();
        until_score(&mut on_survivor, score).await;
        until_score(&mut on_leader, score).await;

        leader.kill9();
        let killed = Instant::now();
        let score = scores.bump();
        // Contiguous seqs across the takeover (the client checks every one).
        until_score(&mut on_survivor, score).await;
        let takeover = killed.elapsed();
        eprintln!("{engine}: kill -9 → first event from the new leader: {takeover:?}");
        assert!(survivor.is_leader().await);
        assert!(takeover < Duration::from_secs(15), "{engine}: takeover took {takeover:?}");

        // The dead node's client resumes on the survivor by replay, no gap.
        assert!(on_leader.next_within(Duration::from_secs(5)).await.is_none(), "the dead node's socket ends");
        let (mut resumed, hello) = Client::subscribe(&survivor.ws(), Some((&on_leader.epoch, on_leader.seq))).await;
        assert_eq!(hello.json["epoch"].as_str(), Some(on_leader.epoch.as_str()));
        let replay = resumed.next().await.unwrap();
        assert_ne!(replay.json["type"], "snapshot", "{engine}: resumed by replay: {}", replay.text);
        assert_eq!(resumed.seq, on_survivor.seq);
        let score = scores.bump();
        until_score(&mut resumed, score).await;
        until_score(&mut on_survivor, score).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_publishes_nothing_and_follows() {
    for engine in engines() {
        let redis = Redis::start(engine, true).await;
        let mut scores = Scores::start(espn_live()).await;
        let (a, b) = two_nodes(&redis, &scores, "").await;
        let (paused, other) = if the_leader(&[&a, &b]).await == 0 { (a, b) } else { (b, a) };
        wait_until("same seq", || async { paused.games().await["seq"] == other.games().await["seq"] }).await;
        let mut on_other = subscribed(&other).await;
        let mut on_paused = subscribed(&paused).await;

        paused.signal("STOP");
        // Past the lease: the other node takes over and publishes.
        let first = scores.bump();
        until_score(&mut on_other, first).await;
        let second = scores.bump();
        until_score(&mut on_other, second).await;
        assert!(other.is_leader().await);
        paused.signal("CONT");
        wait_until("the paused node steps down", || async { !paused.is_leader().await }).await;
        // Its clients get what the new leader published, contiguous.
        until_score(&mut on_paused, second).await;
        let third = scores.bump();
        until_score(&mut on_paused, third).await;
        until_score(&mut on_other, third).await;
        assert_eq!(on_paused.seq, on_other.seq);
        assert!(other.is_leader().await && !paused.is_leader().await);
        // No fork: one stream entry per seq, and meta agrees.
        let seq: u64 = redis.cmd(redis::cmd("HGET").arg("{scoreticker}:meta").arg("seq")).await;
        let len: u64 = redis.cmd(redis::cmd("XLEN").arg("{scoreticker}:events")).await;
        assert_eq!(seq, len, "{engine}");
        assert_eq!(seq, on_other.seq);
        assert!(paused.logged("no longer the leader"), "{}", paused.logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_begins_a_new_epoch_with_a_snapshot() {
    for engine in engines() {
        let mut redis = Redis::start(engine, false).await;
        let mut scores = Scores::start(espn_live()).await;
        let (a, b) = two_nodes(&redis, &scores, "").await;
        the_leader(&[&a, &b]).await;
        let mut ca = subscribed(&a).await;
        let score = scores.bump();
        until_score(&mut ca, score).await;
        wait_until("b has the score", || async { home_score(&b.games().await["games"][0]) == score }).await;
        let old_epoch = ca.epoch.clone();

        redis.shutdown_nosave().await;
        redis.restart().await;
        // A new epoch: the node ends its sessions; the client comes back with
        // `since` and gets a snapshot of the new history, with the right score.
        assert!(ca.next().await.is_none(), "{engine}: the old history's session ends");
        for node in [&a, &b] {
            wait_until("new epoch", || async { node.games().await["epoch"] != old_epoch.as_str() }).await;
            let (mut c, hello) = Client::subscribe(&node.ws(), Some((&old_epoch, ca.seq))).await;
            assert_ne!(hello.json["epoch"], old_epoch.as_str());
            let snap = c.next().await.unwrap();
            assert_eq!(snap.json["type"], "snapshot", "{engine}: {}", snap.text);
            assert_eq!(home_score(&snap.json["games"][0]), score, "{engine}: {}", snap.text);
        }
        assert!(a.metric("scoreticker_cluster_resyncs_total", &[("reason", "epoch")]).await >= 1.0);
        // And the new history goes on.
        let (mut c, _) = Client::subscribe(&b.ws(), None).await;
        c.next().await.unwrap();
        let score = scores.bump();
        until_score(&mut c, score).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_with_its_aof_keeps_the_epoch_and_every_event() {
    for engine in engines() {
        let mut redis = Redis::start(engine, true).await;
        let mut scores = Scores::start(espn_live()).await;
        let (a, b) = two_nodes(&redis, &scores, "").await;
        the_leader(&[&a, &b]).await;
        wait_until("same seq", || async { a.games().await["seq"] == b.games().await["seq"] }).await;
        let mut ca = subscribed(&a).await;
        let mut cb = subscribed(&b).await;
        let score = scores.bump();
        until_score(&mut ca, score).await;
        until_score(&mut cb, score).await;
        let epoch = ca.epoch.clone();

        redis.kill9();
        redis.restart().await;
        let score = scores.bump();
        // Same connections, same epoch, contiguous seqs.
        until_score(&mut ca, score).await;
        until_score(&mut cb, score).await;
        assert_eq!(a.games().await["epoch"], epoch.as_str(), "{engine}");
        assert_eq!(ca.seq, cb.seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_past_the_streams_retention_resyncs_with_a_snapshot() {
    for engine in engines() {
        let redis = Redis::start(engine, true).await;
        let mut scores = Scores::start(espn_many(50)).await;
        let (a, b) = two_nodes(&redis, &scores, "stream_max_len = 100\n").await;
        let (leader, follower) = if the_leader(&[&a, &b]).await == 0 { (a, b) } else { (b, a) };
        let mut on_follower = subscribed(&follower).await;
        follower.signal("STOP");
        // 50 events a poll: several hundred while the follower sleeps.
        let mut score = 0;
        for _ in 0..8 {
            score = scores.bump();
            wait_until("the leader published the bump", || async {
                leader.games().await["games"].as_array().unwrap().iter().all(|g| home_score(g) == score)
            })
            .await;
        }
        let first: Vec<(String, Vec<(String, String)>)> = redis.cmd(redis::cmd("XRANGE").arg("{scoreticker}:events").arg("-").arg("+").arg("COUNT").arg(1)).await;
        let oldest: u64 = first[0].0.split('-').next().unwrap().parse().unwrap();
        assert!(oldest > on_follower.seq + 1, "{engine}: the stream was trimmed past the follower ({oldest} vs {})", on_follower.seq);
        follower.signal("CONT");
        // Its session ends (the node rebuilt its state); resuming gives a snapshot.
        while let Some(f) = on_follower.next().await {
            assert_ne!(f.json["type"], "snapshot");
        }
        let (mut c, _) = Client::subscribe(&follower.ws(), Some((&on_follower.epoch, on_follower.seq))).await;
        let snap = c.next().await.unwrap();
        assert_eq!(snap.json["type"], "snapshot", "{engine}: {}", snap.text);
        assert!(snap.json["games"].as_array().unwrap().iter().all(|g| home_score(g) == score), "{engine}");
        assert!(follower.metric("scoreticker_cluster_resyncs_total", &[("reason", "gap")]).await >= 1.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_for_ten_seconds_keeps_clients_and_loses_nothing() {
    for engine in engines() {
        let redis = Redis::start(engine, true).await;
        let mut scores = Scores::start(espn_live()).await;
        let (a, b) = two_nodes(&redis, &scores, "").await;
        the_leader(&[&a, &b]).await;
        wait_until("same seq", || async { a.games().await["seq"] == b.games().await["seq"] }).await;
        let mut ca = subscribed(&a).await;
        let mut cb = subscribed(&b).await;
        let score = scores.bump();
        until_score(&mut ca, score).await;
        until_score(&mut cb, score).await;

        redis.signal("STOP");
        let cut = Instant::now();
        for n in [&a, &b] {
            wait_until("Redis down in the metrics", || async { n.metric("scoreticker_cluster_redis_up", &[]).await == 0.0 }).await;
            wait_until("no leader polls", || async { !n.is_leader().await }).await;
            assert!(n.games().await["games"].as_array().unwrap().len() == 1, "the last state is served");
        }
        let polls = scores.upstream.served();
        tokio::time::sleep(Duration::from_secs(10).saturating_sub(cut.elapsed())).await;
        assert!(scores.upstream.served() <= polls + 1, "{engine}: polled while Redis was unreachable");
        redis.signal("CONT");

        let score = scores.bump();
        // The same connections, no gap (the clients check every seq).
        until_score(&mut ca, score).await;
        until_score(&mut cb, score).await;
        assert_eq!(ca.seq, cb.seq);
        for n in [&a, &b] {
            wait_until("Redis up again", || async { n.metric("scoreticker_cluster_redis_up", &[]).await == 1.0 }).await;
            assert_eq!(n.metric("scoreticker_clients_closed_total", &[]).await, 0.0, "{engine}: a client was disconnected");
        }
    }
}

#[test]
fn check_config_names_file_line_and_key_for_cluster_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("feeds.d")).unwrap();
    let config = dir.path().join("scoreticker.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nfeeds_dir = \"feeds.d\"\n\n[cluster]\nredis = \"http://:hunter2@127.0.0.1:6379\"\nlease = \"1h\"\nstream_max_len = 5\nname = \"bad name\"\npassword_file = \"missing.pass\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scoreticker")).arg("check-config").arg("--config").arg(&config).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let path = config.display().to_string();
    for (line, key) in [(5, "cluster.redis"), (6, "cluster.lease"), (7, "cluster.stream_max_len"), (8, "cluster.name"), (9, "cluster.password_file")] {
        assert!(text.contains(&format!("{path}:{line}: {key}: ")), "{key} at line {line} missing from:\n{text}");
    }
    assert!(!text.contains("hunter2"), "a password in the URL is never printed:\n{text}");

    // An unknown key, and a section without an engine.
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nfeeds_dir = \"feeds.d\"\n[cluster]\nredis_url = \"redis://x\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scoreticker")).arg("check-config").arg("--config").arg(&config).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{path}:4: cluster.redis_url: unknown field")), "{text}");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nfeeds_dir = \"feeds.d\"\n[cluster]\nname = \"x\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scoreticker")).arg("check-config").arg("--config").arg(&config).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{path}:3: cluster: needs")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_clients_move_to_another_node_at_once_and_resume_by_replay() {
    // Once, on the first engine: this is about the nodes' rings, not the engine.
    let engine = engines()[0];
    let redis = Redis::start(engine, true).await;
    let upstream = LoadUpstream::start(1, 5, "1s");
    let a = Node::start("node-a", &redis.url(), &upstream.url(0), "");
    let b = Node::start("node-b", &redis.url(), &upstream.url(0), "");
    for n in [&a, &b] {
        n.wait_ready().await;
        wait_until("games", || async { n.games().await["games"].as_array().unwrap().len() == 5 }).await;
    }
    let out = tokio::process::Command::new(common::load_tool())
        .args(["storm", "--json", "-n", "5000", "--down", "1500ms", "--observe", "2s"])
        .args(["--url", &format!("ws://{}/ws?topics=all", a.addr), "--storm-url", &format!("ws://{}/ws", b.addr)])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(r["connected"], 5000, "{r:#}");
    let storm = &r["storm"];
    assert_eq!(storm["resumed"], 5000, "{storm:#}");
    assert_eq!(storm["failed"], 0, "{storm:#}");
    assert!(storm["catch"]["snapshot"].is_null(), "nobody needed a snapshot: {storm:#}");
    assert!(storm["catch"]["replay"].as_u64().unwrap_or(0) > 0, "{storm:#}");
    assert_eq!(storm["missed"], 0, "{storm:#}");
    assert_eq!(storm["duplicates"], 0, "{storm:#}");
    assert_eq!(storm["disconnects"], 0, "{storm:#}");
    eprintln!("storm A → B: {}", storm["resume_ms"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_on_the_leader_removes_a_feed_everywhere_and_a_differing_node_says_so() {
    let engine = engines()[0];
    let redis = Redis::start(engine, true).await;
    let scores = Scores::start(espn_live()).await;
    // Two feeds on the same upstream: two games, `nba:…` and `wnba:…`.
    let feeds = [("nba.toml", feed_file_with_id("nba", &scores.url())), ("wnba.toml", feed_file_with_id("wnba", &scores.url()))];
    let a = Node::start_with_feeds("node-a", &redis.url(), &feeds, "");
    let b = Node::start_with_feeds("node-b", &redis.url(), &feeds, "");
    for n in [&a, &b] {
        n.wait_ready().await;
        wait_until("both games", || async { n.games().await["games"].as_array().unwrap().len() == 2 }).await;
    }
    let (leader, follower) = if the_leader(&[&a, &b]).await == 0 { (&a, &b) } else { (&b, &a) };
    wait_until("same seq", || async { a.games().await["seq"] == b.games().await["seq"] }).await;
    let mut on_leader = subscribed(leader).await;
    let mut on_follower = subscribed(follower).await;
    assert_eq!(follower.metric("scoreticker_cluster_config_mismatch", &[]).await, 0.0);

    std::fs::remove_file(leader.dir.path().join("feeds.d/wnba.toml")).unwrap();
    leader.signal("HUP");
    for c in [&mut on_leader, &mut on_follower] {
        let f = c.next().await.unwrap();
        assert_eq!(f.json["type"], "remove", "{}", f.text);
        assert!(f.json["id"].as_str().unwrap().starts_with("wnba:"), "{}", f.text);
    }
    assert_eq!(on_leader.seq, on_follower.seq);
    // The follower still has wnba.toml: it says its feeds differ from the leader's.
    wait_until("mismatch reported", || async { follower.metric("scoreticker_cluster_config_mismatch", &[]).await == 1.0 }).await;
    assert_eq!(follower.status_page().await["cluster"]["config_mismatch"], true);
    assert!(follower.logged("differs from the leader"), "{}", follower.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_losing_its_last_writes_begins_a_new_epoch_not_a_forked_history() {
    let engine = engines()[0];
    let redis = Redis::start(engine, true).await;
    let mut scores = Scores::start(espn_live()).await;
    let (a, b) = two_nodes(&redis, &scores, "").await;
    the_leader(&[&a, &b]).await;
    let mut ca = subscribed(&a).await;
    let mut score = 0;
    for _ in 0..2 {
        score = scores.bump();
        until_score(&mut ca, score).await;
    }
    let old_epoch = ca.epoch.clone();
    // What a failover that dropped unreplicated writes leaves: the last event gone,
    // and meta's seq one behind what the nodes applied.
    let seq: u64 = redis.cmd(redis::cmd("HGET").arg("{scoreticker}:meta").arg("seq")).await;
    let _: i64 = redis.cmd(redis::cmd("XDEL").arg("{scoreticker}:events").arg(format!("{seq}-0"))).await;
    let _: i64 = redis.cmd(redis::cmd("HSET").arg("{scoreticker}:meta").arg("seq").arg(seq - 1)).await;
    // Both nodes notice; a new epoch begins; the client gets a snapshot of it.
    assert!(ca.next().await.is_none(), "the forked history's session ends");
    for node in [&a, &b] {
        wait_until("new epoch", || async { node.games().await["epoch"] != old_epoch.as_str() }).await;
    }
    let (mut c, hello) = Client::subscribe(&a.ws(), Some((&old_epoch, ca.seq))).await;
    assert_ne!(hello.json["epoch"], old_epoch.as_str());
    let snap = c.next().await.unwrap();
    assert_eq!(snap.json["type"], "snapshot", "{}", snap.text);
    assert_eq!(home_score(&snap.json["games"][0]), score);
    assert!(a.metric("scoreticker_cluster_resyncs_total", &[("reason", "diverged")]).await + b.metric("scoreticker_cluster_resyncs_total", &[("reason", "diverged")]).await >= 1.0);
    let score = scores.bump();
    until_score(&mut c, score).await;
}
