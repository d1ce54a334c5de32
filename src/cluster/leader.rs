//! Leadership: exactly one node polls the upstreams and publishes.
//!
//! A node holds the lease `{name}:leader` (`SET NX PX`), renews it every
//! lease/3 with a compare-and-PEXPIRE, and releases it with a compare-and-DEL
//! when it stops; the others try for it every second. While it holds the lease
//! the node runs a *term*: it starts its diffs from the snapshot hash (so its
//! first poll emits only real changes), runs the pollers, and publishes each
//! poll's events with one atomic script that checks the lease and the seq it
//! expects. The term ends, and polling stops at once, when the script refuses
//! (NOT_LEADER after a pause, or Redis lost data), when the lease is lost, or
//! when the lease runs out because Redis does not answer: writes that cannot
//! be fenced are not made. The leader's own hub is fed from the stream, like
//! every other node's ([`super::follow`]).

use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use super::config::ClusterConfig;
use super::link::Link;
use super::scripts::{self, Keys};
use super::status::{self, ClusterStatus};
use crate::config::FeedConfig;
use crate::diff::{Event, FeedDiffs};
use crate::feeds::{FeedScheduler, FeedUpdate, HealthBoard, Poller};
use crate::hub::{self, now_ms, Hub};
use crate::model::Game;

/// Followers try for the lease at least this often, and again right when the
/// holder's lease runs out.
const ACQUIRE_EVERY: Duration = Duration::from_secs(1);

pub struct Leader {
    pub config: ClusterConfig,
    pub keys: Keys,
    /// `<node_id>:<nonce>`: the lease's value, unique to this process.
    pub token: String,
    pub hub: Arc<Hub>,
    pub health: HealthBoard,
    pub client: reqwest::Client,
    pub status: Arc<ClusterStatus>,
    pub feeds: watch::Receiver<Vec<FeedConfig>>,
    pub config_hash: watch::Receiver<String>,
    cmd: Link,
    /// The last (epoch, seq) a publish of this process was acknowledged at:
    /// Redis behind it means Redis lost acknowledged writes.
    acked: Option<(String, u64)>,
}

impl Leader {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: ClusterConfig,
        keys: Keys,
        hub: Arc<Hub>,
        health: HealthBoard,
        client: reqwest::Client,
        status: Arc<ClusterStatus>,
        feeds: watch::Receiver<Vec<FeedConfig>>,
        config_hash: watch::Receiver<String>,
    ) -> Leader {
        let token = format!("{}:{}", config.node_id, uuid::Uuid::new_v4().simple());
        let cmd = Link::new(&config, Duration::from_secs(2));
        Leader { config, keys, token, hub, health, client, status, feeds, config_hash, cmd, acked: None }
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            let mut retry_in = ACQUIRE_EVERY;
            match self.acquire().await {
                Ok(Ok(until)) => {
                    self.status.set_leader(true);
                    tracing::info!(node = %self.config.node_id, "became the leader: polling the feeds");
                    let why = self.term(until, &mut stop).await;
                    self.status.set_leader(false);
                    tracing::warn!(reason = why, "no longer the leader: stopped polling");
                    if why == "stopping" {
                        break;
                    }
                }
                Ok(Err(left)) => retry_in = (left + Duration::from_millis(10)).clamp(Duration::from_millis(50), ACQUIRE_EVERY),
                Err(e) => tracing::debug!(error = %e, "cannot try for the lease"),
            }
            tokio::select! {
                _ = tokio::time::sleep(retry_in) => {}
                _ = stop.changed() => break,
            }
        }
        // Hand over at once rather than after the lease runs out.
        let released: redis::RedisResult<i64> = self.cmd.invoke(scripts::RELEASE.key(&self.keys.leader).arg(&self.token)).await;
        if released == Ok(1) {
            tracing::info!("released the leader lease");
        }
    }

    fn lease_ms(&self) -> u64 {
        self.config.lease.as_millis() as u64
    }

    /// Takes (or keeps) the lease: until when it is surely held, or how long
    /// the other holder's lease has left.
    async fn acquire(&mut self) -> redis::RedisResult<Result<Instant, Duration>> {
        let sent = Instant::now();
        let held: i64 = self.cmd.invoke(scripts::ACQUIRE.key(&self.keys.leader).arg(&self.token).arg(self.lease_ms())).await?;
        Ok(if held == 1 { Ok(sent + self.config.lease) } else { Err(Duration::from_millis(held.unsigned_abs())) })
    }

    /// One term of leadership; returns why it ended.
    async fn term(&mut self, mut until: Instant, stop: &mut watch::Receiver<bool>) -> &'static str {
        let (epoch, mut seq, games) = match self.begin().await {
            Ok(begun) => begun,
            Err(why) => return why,
        };
        let mut diffs = FeedDiffs::new(games);
        let mut feeds: Vec<FeedConfig> = self.feeds.borrow_and_update().clone();
        // Games of feeds this configuration no longer has (removed while no
        // node led, or by a reload elsewhere) would stay forever: they leave.
        let orphans = diffs.orphans(&feeds);
        if !orphans.is_empty() {
            match self.publish(&epoch, seq, orphans, until).await {
                Ok(last) => seq = last,
                Err(why) => return why,
            }
        }
        let (tx, mut rx) = mpsc::channel::<FeedUpdate>(64);
        let mut scheduler = match FeedScheduler::start().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the feed scheduler");
                return "scheduler";
            }
        };
        for feed in &feeds {
            self.schedule(&mut scheduler, feed, &tx).await;
        }
        let every = self.config.renew_every();
        let mut renew = interval_at(Instant::now() + every, every);
        renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let why = loop {
            tokio::select! {
                _ = stop.changed() => break "stopping",
                _ = renew.tick() => {
                    let sent = Instant::now();
                    let mut renew = scripts::RENEW.prepare_invoke();
                    renew.key(&self.keys.leader).key(&self.keys.meta).arg(&self.token).arg(self.lease_ms()).arg(&epoch);
                    let renewed: redis::RedisResult<i64> = self.cmd.invoke(&renew).await;
                    match renewed {
                        Ok(1) => until = sent + self.config.lease,
                        Ok(2) => break "the epoch changed under it",
                        Ok(_) => break "lost the lease",
                        Err(e) if Instant::now() >= until => {
                            tracing::error!(error = %e, "cannot renew the lease and it has run out");
                            break "lease expired";
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot renew the lease; retrying"),
                    }
                }
                changed = self.feeds.changed() => {
                    if changed.is_err() {
                        break "stopping";
                    }
                    let new: Vec<FeedConfig> = self.feeds.borrow_and_update().clone();
                    let mut retired = Vec::new();
                    for old in &feeds {
                        match new.iter().find(|f| f.id == old.id) {
                            None => {
                                scheduler.remove(&old.id).await;
                                retired.extend(diffs.retire(old));
                            }
                            Some(f) if f != old => scheduler.remove(&old.id).await,
                            Some(_) => {}
                        }
                    }
                    for feed in &new {
                        if !feeds.iter().any(|f| f == feed) {
                            self.schedule(&mut scheduler, feed, &tx).await;
                        }
                    }
                    feeds = new;
                    if let Err(why) = self.announce().await {
                        break why;
                    }
                    if !retired.is_empty() {
                        match self.publish(&epoch, seq, retired, until).await {
                            Ok(last) => seq = last,
                            Err(why) => break why,
                        }
                    }
                }
                Some(update) = rx.recv() => {
                    let events = diffs.apply(update);
                    if events.is_empty() {
                        continue;
                    }
                    match self.publish(&epoch, seq, events, until).await {
                        Ok(last) => seq = last,
                        Err(why) => break why,
                    }
                }
            }
        };
        for feed in &feeds {
            scheduler.remove(&feed.id).await;
        }
        scheduler.shutdown().await;
        why
    }

    async fn schedule(&self, scheduler: &mut FeedScheduler, feed: &FeedConfig, tx: &mpsc::Sender<FeedUpdate>) {
        let poller = Arc::new(Poller::new(feed.clone(), self.client.clone(), self.health.clone(), tx.clone()));
        if let Err(e) = scheduler.add(poller).await {
            tracing::error!(feed = %feed.id, error = %e, "cannot schedule feed");
        }
    }

    /// Reads the state a term starts from; begins a new epoch when Redis has
    /// none, or has less than this node saw (it lost data).
    async fn begin(&mut self) -> Result<(String, u64, Vec<Game>), &'static str> {
        let loaded: redis::RedisResult<(String, u64, Vec<String>, String)> =
            self.cmd.invoke(scripts::LOAD.key(&self.keys.meta).key(&self.keys.games)).await;
        let (epoch, seq, games, _) = loaded.map_err(|e| {
            tracing::warn!(error = %e, "cannot read the cluster state");
            "redis"
        })?;
        let (hub_epoch, hub_seq) = (self.hub.epoch(), self.hub.seq());
        let behind_hub = epoch == hub_epoch && seq < hub_seq;
        let behind_acked = self.acked.as_ref().is_some_and(|(e, s)| *e == epoch && seq < *s);
        if epoch.is_empty() || behind_hub || behind_acked {
            return self.new_epoch(&epoch, seq).await;
        }
        self.announce().await?;
        let games = games.iter().filter_map(|g| serde_json::from_str(g).ok()).collect();
        Ok((epoch, seq, games))
    }

    /// Begins a new history with the games this node's hub holds.
    async fn new_epoch(&mut self, old: &str, old_seq: u64) -> Result<(String, u64, Vec<Game>), &'static str> {
        let epoch = Hub::new_epoch();
        let known = self.hub.games();
        let mut invocation = scripts::NEW_EPOCH.prepare_invoke();
        invocation.key(&self.keys.leader).key(&self.keys.meta).key(&self.keys.events).key(&self.keys.games);
        invocation.arg(&self.token).arg(&epoch);
        for g in &known {
            invocation.arg(&g.game.id).arg(&g.json[..]);
        }
        match self.cmd.invoke::<i64>(&invocation).await {
            Ok(1) => {}
            Ok(_) => return Err("not_leader"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot begin a new epoch");
                return Err("redis");
            }
        }
        if old.is_empty() {
            tracing::warn!(%epoch, games = known.len(), "Redis holds no epoch (a first start, or it lost its data): began a new epoch");
        } else {
            tracing::warn!(%epoch, old, old_seq, hub_seq = self.hub.seq(), "Redis is behind what this node saw (it lost writes): began a new epoch");
        }
        self.acked = Some((epoch.clone(), 0));
        self.announce().await?;
        Ok((epoch, 0, known.iter().map(|g| g.game.clone()).collect()))
    }

    /// Tells the other nodes who leads and which feed configuration it runs.
    async fn announce(&mut self) -> Result<(), &'static str> {
        let hash = self.config_hash.borrow().clone();
        let mut hset = redis::cmd("HSET");
        hset.arg(&self.keys.meta).arg("leader").arg(&self.config.node_id).arg("config").arg(hash);
        self.cmd.query::<i64>(&hset).await.map(|_| ()).map_err(|_| "redis")
    }

    /// Publishes one poll's events; returns the new last seq, or why not.
    async fn publish(&mut self, epoch: &str, seq: u64, events: Vec<Event>, until: Instant) -> Result<u64, &'static str> {
        if Instant::now() >= until {
            return Err("lease expired");
        }
        crate::app::count_events(&events);
        let ts = now_ms();
        let stamped: Vec<hub::Sequenced> = events.into_iter().enumerate().map(|(i, e)| hub::stamp(e, seq + 1 + i as u64, ts)).collect();
        let mut invocation = scripts::PUBLISH.prepare_invoke();
        invocation.key(&self.keys.leader).key(&self.keys.meta).key(&self.keys.events).key(&self.keys.games);
        invocation.arg(&self.token).arg(epoch).arg(seq).arg(self.config.stream_max_len).arg(stamped.len());
        for e in &stamped {
            let game_json = if e.removed { serde_json::to_vec(&e.game).expect("games serialize") } else { e.game_json.to_vec() };
            invocation.arg(if e.removed { "r" } else { "u" }).arg(&e.game.id).arg(game_json).arg(&e.frame[..]).arg(e.ts);
        }
        let reply: redis::RedisResult<Vec<Value>> = self.cmd.invoke(&invocation).await;
        let reason = match reply.as_deref() {
            Ok([Value::Int(1), Value::Int(last)]) => {
                self.acked = Some((epoch.to_string(), *last as u64));
                return Ok(*last as u64);
            }
            Ok([Value::Int(0), Value::BulkString(r)]) => match &r[..] {
                b"NOT_LEADER" => "not_leader",
                b"EPOCH" => "epoch",
                b"SEQ" => "seq",
                b"STREAM" => "stream",
                _ => "redis",
            },
            Ok(other) => {
                tracing::error!(reply = ?other, "unexpected reply from the publish script");
                "redis"
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot publish to Redis");
                "redis"
            }
        };
        metrics::counter!(status::PUBLISH_FAILURES, "reason" => reason).increment(1);
        tracing::warn!(reason, seq, "publish refused; this poll's events will be re-derived by the next term");
        Err(reason)
    }
}
