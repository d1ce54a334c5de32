//! Every node's hub, the leader's included, is fed from the stream: one path
//! for every event, so all clients everywhere see the same frames with the
//! same seqs in the same order.
//!
//! The follower keeps its hub on Redis' history. At start (and whenever it
//! cannot simply continue) it *resyncs*: reads epoch, seq and the snapshot hash
//! in one script, fills the replay ring from the stream, and resets the hub.
//! Then it tails the stream with `XREAD BLOCK`. Between reads it checks the
//! meta hash, which tells it when Redis lost data:
//!
//! - no epoch: nothing to follow until a leader begins one (clients keep the last state);
//! - another epoch: resync (clients get a snapshot);
//! - a seq behind what this node applied, or (after a reconnect) a different
//!   event at the seq it applied last: Redis lost writes and the history
//!   forked. The node voids the epoch, so the leader begins a new one.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::RedisResult;
use tokio::sync::watch;

use super::link::Link;
use super::scripts::{self, Keys};
use super::status::{self, ClusterStatus};
use crate::config::ClusterConfig;
use crate::hub::{now_ms, Hub, Sequenced};
use crate::model::Game;
use crate::readiness::Readiness;

/// How long one `XREAD` waits for events; also how often the meta hash is
/// checked while nothing is published.
const BLOCK: Duration = Duration::from_secs(1);
/// Entries per `XREAD` / `XRANGE`.
const BATCH: usize = 1000;
/// After a Redis error, wait before trying again (no busy loop): first
/// `RETRY_FIRST`, doubling up to `RETRY_MAX` while Redis stays away. The short
/// first waits matter after a failover: the new primary is found as soon as
/// the sentinels name it, not up to a second later.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_millis(500);

pub struct Follower {
    pub keys: Keys,
    pub hub: Arc<Hub>,
    pub status: Arc<ClusterStatus>,
    pub readiness: Arc<Readiness>,
    pub ring_capacity: usize,
    /// This node's feed configuration hash, compared with the leader's.
    pub config_hash: watch::Receiver<String>,
    cmd: Link,
    block: Link,
    /// The hub holds Redis' current epoch (false until the first resync).
    synced: bool,
    /// After a reconnect: check the last applied event is still the same one.
    verify: bool,
    /// The `t` of the last event applied, to compare after a reconnect.
    last_ts: Option<i64>,
    /// The events read so far of a publication larger than one read.
    pending: Vec<Sequenced>,
}

/// What the meta hash says.
struct Meta {
    epoch: Option<String>,
    seq: u64,
    config: Option<String>,
    leader: Option<String>,
}

impl Follower {
    pub fn new(config: &ClusterConfig, keys: Keys, hub: Arc<Hub>, status: Arc<ClusterStatus>, readiness: Arc<Readiness>, ring_capacity: usize, config_hash: watch::Receiver<String>) -> Follower {
        Follower {
            keys,
            hub,
            status,
            readiness,
            ring_capacity,
            config_hash,
            cmd: Link::new(config, Duration::from_secs(2)),
            block: Link::new(config, BLOCK + Duration::from_secs(2)),
            synced: false,
            verify: false,
            last_ts: None,
            pending: Vec::new(),
        }
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut retry = RETRY_FIRST;
        loop {
            if *stop.borrow() {
                return;
            }
            let step = tokio::select! {
                r = self.step() => r,
                _ = stop.changed() => return,
            };
            match step {
                Ok(()) => {
                    retry = RETRY_FIRST;
                    if self.status.set_redis_up(true) {
                        tracing::info!("Redis answers again");
                    }
                }
                Err(e) => {
                    if self.status.set_redis_up(false) {
                        tracing::error!(error = %e, "Redis is unreachable; serving the last known state and retrying (at least every half second)");
                    }
                    self.cmd.broken();
                    self.block.broken();
                    self.verify = true;
                    self.pending.clear();
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = stop.changed() => return,
                    }
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }

    async fn meta(&mut self) -> RedisResult<Meta> {
        let (epoch, seq, config, leader): (Option<String>, Option<u64>, Option<String>, Option<String>) =
            self.cmd.query(redis::cmd("HMGET").arg(&self.keys.meta).arg("epoch").arg("seq").arg("config").arg("leader")).await?;
        Ok(Meta { epoch, seq: seq.unwrap_or(0), config, leader })
    }

    /// One round: check the meta hash, then read what the stream has.
    async fn step(&mut self) -> RedisResult<()> {
        let meta = self.meta().await?;
        self.status.set_leader_id(meta.leader.clone());
        if let Some(config) = &meta.config {
            let mismatch = *config != *self.config_hash.borrow();
            if self.status.set_config_mismatch(mismatch) && mismatch {
                tracing::warn!(leader = ?meta.leader, "this node's feed configuration differs from the leader's; all nodes should run the same feeds");
            }
        }
        let Some(epoch) = meta.epoch else {
            // A fresh Redis, or one that lost its data: wait for the leader to
            // begin an epoch; clients keep the last state meanwhile.
            tokio::time::sleep(BLOCK).await;
            return Ok(());
        };
        let (hub_epoch, hub_seq) = (self.hub.epoch(), self.hub.seq());
        if !self.synced || epoch != hub_epoch {
            let reason = if self.synced { "epoch" } else { "start" };
            return self.resync(reason).await;
        }
        if meta.seq < hub_seq {
            return self.diverged(&epoch, format!("Redis is at seq {} but this node applied {hub_seq}", meta.seq)).await;
        }
        if self.verify {
            if let (Some(ts), true) = (self.last_ts, hub_seq > 0) {
                let at = format!("{hub_seq}-0");
                let found: StreamRangeReply = self.cmd.query(redis::cmd("XRANGE").arg(&self.keys.events).arg(&at).arg(&at)).await?;
                if let Some(entry) = found.ids.first() {
                    if entry.get::<i64>("t") != Some(ts) || entry.get::<String>("e").as_deref() != Some(epoch.as_str()) {
                        return self.diverged(&epoch, format!("the event at seq {hub_seq} is not the one this node applied")).await;
                    }
                }
            }
            self.verify = false;
        }
        self.tail(&epoch, meta.seq).await
    }

    /// Reads what follows the hub's seq and applies it, one publication at a time.
    async fn tail(&mut self, epoch: &str, meta_seq: u64) -> RedisResult<()> {
        let from = format!("{}-0", self.pending.last().map(|e| e.seq).unwrap_or_else(|| self.hub.seq()));
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT").arg(BATCH).arg("BLOCK").arg(BLOCK.as_millis() as u64).arg("STREAMS").arg(&self.keys.events).arg(&from);
        let reply: Option<StreamReadReply> = self.block.query(&read).await?;
        let entries: Vec<StreamId> = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids).collect();
        let mut group: Vec<Sequenced> = std::mem::take(&mut self.pending);
        for entry in &entries {
            let Some((event_epoch, last, event)) = parse_entry(entry) else {
                tracing::error!(id = %entry.id, "unreadable stream entry; resyncing");
                return self.resync("gap").await;
            };
            if event_epoch != epoch {
                return self.resync("epoch").await;
            }
            let complete = event.seq == last;
            group.push(event);
            if complete {
                let ts = group.last().map(|e| e.ts).unwrap_or(0);
                if let Err(e) = self.hub.apply(epoch, std::mem::take(&mut group)) {
                    // Events trimmed away before this node read them (it was
                    // stopped or slow past the stream's retention).
                    tracing::warn!(expected = e.expected_seq, got = e.got_seq, "the stream no longer holds the next event; resyncing from the snapshot");
                    return self.resync("gap").await;
                }
                self.last_ts = Some(ts);
                let seq = self.hub.seq();
                self.status.set_lag(meta_seq.saturating_sub(seq), now_ms() - ts);
            }
        }
        // A publication cut by COUNT: the rest comes with the next read.
        self.pending = group;
        if entries.is_empty() {
            let seq = self.hub.seq();
            self.status.set_lag(meta_seq.saturating_sub(seq), 0);
        }
        Ok(())
    }

    /// Rebuilds the hub from Redis: games as of `seq` from the snapshot hash,
    /// and the ring from the stream's last events up to `seq`.
    async fn resync(&mut self, reason: &'static str) -> RedisResult<()> {
        let (epoch, seq, games, _config): (String, u64, Vec<String>, String) =
            self.cmd.invoke(scripts::LOAD.key(&self.keys.meta).key(&self.keys.games)).await?;
        if epoch.is_empty() {
            return Ok(());
        }
        let games: Vec<Game> = games.iter().filter_map(|g| serde_json::from_str(g).ok()).collect();
        let mut ring = Vec::new();
        let mut next = seq.saturating_sub(self.ring_capacity as u64).max(1);
        while next <= seq && seq > 0 {
            let mut range = redis::cmd("XRANGE");
            range.arg(&self.keys.events).arg(format!("{next}-0")).arg(format!("{seq}-0")).arg("COUNT").arg(BATCH);
            let page: StreamRangeReply = self.cmd.query(&range).await?;
            let Some(last) = page.ids.last().and_then(|e| stream_seq(&e.id)) else { break };
            for entry in &page.ids {
                if let Some((e, _, event)) = parse_entry(entry) {
                    if e == epoch {
                        ring.push(event);
                    }
                }
            }
            next = last + 1;
        }
        // Only a contiguous tail ending at `seq` can serve a replay.
        let mut start = ring.len();
        while start > 0 && ring[start - 1].seq == seq - (ring.len() - start) as u64 {
            start -= 1;
        }
        let ring: Vec<Sequenced> = ring.split_off(start);
        self.last_ts = ring.last().map(|e| e.ts);
        let changed = self.hub.epoch() != epoch;
        tracing::info!(reason, %epoch, seq, games = games.len(), ring = ring.len(), new_epoch = changed, "resynced from Redis");
        metrics::counter!(status::RESYNCS, "reason" => reason).increment(1);
        self.hub.reset(epoch, seq, games, ring);
        self.pending.clear();
        self.synced = true;
        self.verify = false;
        self.readiness.has_data.store(true, Ordering::Relaxed);
        self.status.set_lag(0, 0);
        Ok(())
    }

    /// Redis' history is not the one this node served: void the epoch, so the
    /// leader begins a new one (and every node resyncs to it).
    async fn diverged(&mut self, epoch: &str, why: String) -> RedisResult<()> {
        tracing::error!(%epoch, "{why}: Redis lost data; voiding the epoch so a new one begins");
        metrics::counter!(status::RESYNCS, "reason" => "diverged").increment(1);
        let _: i64 = self.cmd.invoke(scripts::VOID_EPOCH.key(&self.keys.meta).arg(epoch)).await?;
        self.verify = false;
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(())
    }
}

/// `<seq>-0` → seq.
fn stream_seq(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

/// A stream entry as (epoch, last seq of its publication, event).
fn parse_entry(entry: &StreamId) -> Option<(String, u64, Sequenced)> {
    let seq = stream_seq(&entry.id)?;
    let epoch: String = entry.get("e")?;
    let last: u64 = entry.get("l")?;
    let ts: i64 = entry.get("t")?;
    let kind: String = entry.get("k")?;
    let game_json: Vec<u8> = entry.get("g")?;
    let frame: Vec<u8> = entry.get("f")?;
    let game: Game = serde_json::from_slice(&game_json).ok()?;
    let removed = kind == "r";
    let game_json = if removed { Bytes::new() } else { Bytes::from(game_json) };
    Some((epoch, last, Sequenced { seq, ts, frame: Bytes::from(frame), game, game_json, removed }))
}
