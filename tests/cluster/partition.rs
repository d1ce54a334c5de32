//! A network partition between one node and Redis, made by a TCP proxy in the
//! test (not a SIGSTOP: the node keeps running and serving its clients).
//!
//! Node A reaches Redis only through the proxy; node B directly. A leads;
//! its path is black-holed just as it publishes, so that publish is sent into
//! the hole. A's lease runs out: it stops publishing before B takes over, and
//! when the path returns the stale publish reaches Redis and is refused (the
//! script counts it). Then, with B leading, A's path is delayed by 500 ms each
//! way and later cut. All along A's clients keep their connections and get
//! every event, in order, once the path lets them.

use std::time::{Duration, Instant};

use crate::harness::*;
use crate::proxy::{Path, Proxy};
use crate::{home_score, subscribed, until_score, Scores};
use crate::common::espn_live;

/// Every stream entry's (seq, publishing node).
async fn publishers(redis: &Redis) -> Vec<(u64, String)> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis.cmd(redis::cmd("XRANGE").arg("{scoreticker}:events").arg("-").arg("+")).await;
    entries
        .into_iter()
        .map(|(id, fields)| {
            let seq = id.split('-').next().unwrap().parse().unwrap();
            let node = fields.into_iter().find(|(k, _)| k == "n").map(|(_, v)| v).unwrap_or_default();
            (seq, node)
        })
        .collect()
}

async fn refused(redis: &Redis, reason: &str) -> u64 {
    let n: Option<u64> = redis.cmd(redis::cmd("HGET").arg("{scoreticker}:meta").arg(format!("refused:{reason}"))).await;
    n.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_stops_before_the_next_one_starts_and_its_clients_catch_up() {
    // Once, on the first engine: this is about the nodes, not the server.
    let redis = Redis::start(engines()[0], true).await;
    let proxy = Proxy::start(redis.port).await;
    let mut scores = Scores::start(espn_live()).await;
    let a = Node::start("node-a", &proxy.url(), &scores.url(), "");
    a.wait_ready().await;
    wait_until("node-a leads", || async { a.is_leader().await }).await;
    let b = Node::start("node-b", &redis.url(), &scores.url(), "");
    b.wait_ready().await;
    wait_until("same seq", || async { a.games().await["seq"] == b.games().await["seq"] }).await;
    let mut on_a = subscribed(&a).await;
    let mut on_b = subscribed(&b).await;
    let score = scores.bump();
    until_score(&mut on_a, score).await;
    until_score(&mut on_b, score).await;

    // Black hole, timed so A's next publish goes into it: the upstream holds
    // A's poll 300 ms; the path closes as soon as the poll arrives.
    let polls = scores.upstream.served();
    let score = scores.bump_slow(Duration::from_millis(300));
    let deadline = Instant::now() + WAIT;
    while scores.upstream.served() == polls {
        assert!(Instant::now() < deadline, "the leader did not poll");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    proxy.set(Path::BlackHole);
    let holed = Instant::now();
    until_score(&mut on_b, score).await;
    eprintln!("MEASURED partition: black hole on the leader → its successor's first event on a client: {:?}", holed.elapsed());
    assert!(b.is_leader().await);
    wait_until("A counts its unanswered publish", || async { a.metric("scoreticker_cluster_publish_failures_total", &[("reason", "timeout")]).await >= 1.0 }).await;
    let stopped = a.logged_at("no longer the leader").expect("A stepped down");
    let started = b.logged_at("became the leader").expect("B took over");
    assert!(stopped < started, "A stopped at {stopped}, B started at {started}:\n{}", a.logs());
    assert!(!a.is_leader().await);
    assert!(on_a.next_within(Duration::from_millis(500)).await.is_none_or(|f| f.json["type"] == "heartbeat"));

    // The path returns: the publish held in the hole reaches Redis and is refused.
    proxy.set(Path::Open);
    until_score(&mut on_a, score).await;
    wait_until("the stale publish is refused", || async { refused(&redis, "not_leader").await >= 1 }).await;
    let score = scores.bump();
    until_score(&mut on_a, score).await;
    until_score(&mut on_b, score).await;

    // 500 ms each way: A (a follower now) lags but loses nothing and takes nothing.
    proxy.set(Path::Delay(Duration::from_millis(500)));
    for _ in 0..2 {
        let score = scores.bump();
        until_score(&mut on_b, score).await;
        let published = Instant::now();
        until_score(&mut on_a, score).await;
        eprintln!("MEASURED partition: behind a 500 ms delay, node-a's client got the event {:?} after node-b's", published.elapsed());
    }
    assert!(b.is_leader().await && !a.is_leader().await, "the delayed node took nothing");
    proxy.set(Path::Open);

    // Cut: A's connections to Redis reset, new ones refused; its clients stay.
    proxy.set(Path::Cut);
    wait_until("A sees Redis down", || async { a.metric("scoreticker_cluster_redis_up", &[]).await == 0.0 }).await;
    let score = scores.bump();
    until_score(&mut on_b, score).await;
    proxy.set(Path::Open);
    until_score(&mut on_a, score).await;

    // One history, each client current, no client of A ever disconnected.
    assert_eq!(on_a.seq, on_b.seq);
    assert_eq!(a.metric("scoreticker_clients_closed_total", &[]).await, 0.0, "a client of the partitioned node was disconnected");
    let seq: u64 = redis.cmd(redis::cmd("HGET").arg("{scoreticker}:meta").arg("seq")).await;
    let entries = publishers(&redis).await;
    assert_eq!(entries.len() as u64, seq, "one stream entry per seq");
    // No two leaders published: node-a's entries all come before node-b's first.
    let first_b = entries.iter().position(|(_, n)| n == "node-b").expect("node-b published");
    assert!(first_b > 0 && entries[..first_b].iter().all(|(_, n)| n == "node-a"), "{entries:?}");
    assert!(entries[first_b..].iter().all(|(_, n)| n == "node-b"), "node-a published after node-b began: {entries:?}");
    assert_eq!(home_score(&a.games().await["games"][0]), score);
}
