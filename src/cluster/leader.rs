//! Leadership: exactly one node polls the upstreams and publishes.
//!
//! A node holds the lease `{name}:leader` ([`super::lease`]: taken with a
//! script, renewed every lease/3 by a task of its own, released with a
//! compare-and-DEL when the node stops); the others try for it every second.
//! While it holds the lease the node runs a *term*: the pipeline a single node
//! runs too ([`crate::feeds::pipeline`]), its diffs started from the snapshot
//! hash (so its first poll emits only real changes), with the term as its
//! publisher: each poll's events go out in one atomic script that checks the
//! lease and the seq it expects. The term ends, and polling stops
//! at once, when the script refuses (NOT_LEADER after a pause, or Redis lost
//! data), when the lease is lost, or when it runs out because Redis does not
//! answer in time (an error, or silence behind a partition): every call to
//! Redis during a term is raced against the lease, and writes that cannot be
//! fenced are not made. The leader's own hub is fed from the stream, like
//! every other node's ([`super::follow`]).

use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::lease::{self, Held, Lease};
use super::link::Link;
use super::scripts::{self, Keys};
use super::status::{self, ClusterStatus};
use crate::config::{ClusterConfig, FeedConfig};
use crate::diff::Event;
use crate::feeds::pipeline::{self, FeedSet, Publisher};
use crate::feeds::HealthBoard;
use crate::hub::{self, now_ms, Hub};
use crate::model::Game;

/// Followers try for the lease at least this often, and again right when the
/// holder's lease runs out.
const ACQUIRE_EVERY: Duration = Duration::from_secs(1);
/// After an error, try again this soon, then twice as late each time up to
/// half of [`ACQUIRE_EVERY`] (a promoted replica is found quickly).
const RETRY_FIRST: Duration = Duration::from_millis(100);

pub struct Leader {
    pub config: ClusterConfig,
    pub keys: Keys,
    pub hub: Arc<Hub>,
    pub health: HealthBoard,
    pub client: reqwest::Client,
    pub status: Arc<ClusterStatus>,
    pub feeds: watch::Receiver<Vec<FeedConfig>>,
    pub config_hash: watch::Receiver<String>,
    lease: Lease,
    cmd: Link,
    /// The last (epoch, seq) a publish of this process was acknowledged at:
    /// Redis behind it means Redis lost acknowledged writes.
    acked: Option<(String, u64)>,
}

/// One term of leadership: the history it continues (its epoch, and the last
/// seq Redis holds) for as long as its lease is held. Its pipeline publishes
/// through it: each publication is one PUBLISH script, raced against the lease.
struct Term<'a> {
    leader: &'a mut Leader,
    epoch: String,
    seq: u64,
    held: watch::Receiver<Held>,
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
        let lease = Lease::new(&config, keys.clone(), token);
        let cmd = Link::new(&config, Duration::from_secs(2));
        Leader { config, keys, hub, health, client, status, feeds, config_hash, lease, cmd, acked: None }
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut after_error = RETRY_FIRST;
        loop {
            if *stop.borrow() {
                break;
            }
            let mut retry_in = ACQUIRE_EVERY;
            let acquired = self.lease.acquire().await;
            if acquired.is_ok() {
                after_error = RETRY_FIRST;
            }
            match acquired {
                Ok(Ok(until)) => {
                    self.status.set_leader(true);
                    tracing::info!(node = %self.config.node_id, "became the leader: polling the feeds");
                    if self.term(until, &mut stop).await == "stopping" {
                        break;
                    }
                }
                Ok(Err(wait)) => retry_in = (wait + Duration::from_millis(10)).clamp(Duration::from_millis(50), ACQUIRE_EVERY),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot try for the lease");
                    retry_in = after_error;
                    after_error = (after_error * 2).min(ACQUIRE_EVERY / 2);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(retry_in) => {}
                _ = stop.changed() => break,
            }
        }
        self.lease.release().await;
    }

    /// One term of leadership; returns why it ended.
    async fn term(&mut self, until: Instant, stop: &mut watch::Receiver<bool>) -> &'static str {
        let begun = match tokio::time::timeout_at(until, self.begin()).await {
            Ok(begun) => begun,
            Err(_) => Err("lease expired"),
        };
        let (epoch, seq, games) = match begun {
            Ok(begun) => begun,
            Err(why) => return self.step_down(why),
        };
        let keeper = self.lease.keep(&epoch, until);
        let mut feeds = match FeedSet::start(games, self.client.clone(), self.health.clone()).await {
            Ok(feeds) => feeds,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the feed scheduler");
                return self.step_down("scheduler");
            }
        };
        let held = keeper.held.clone();
        let why = Term { leader: self, epoch, seq, held }.run(&mut feeds, stop).await;
        drop(keeper);
        let why = self.step_down(why);
        feeds.stop().await;
        why
    }

    /// Says this node no longer leads, the moment its term ends (before the
    /// pollers are taken down: they publish nothing more either way).
    fn step_down(&mut self, why: &'static str) -> &'static str {
        self.status.set_leader(false);
        // A connection that stopped answering is not used again.
        self.cmd.broken();
        tracing::warn!(reason = why, "no longer the leader: stopped polling and publishing");
        why
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
        invocation.arg(&self.lease.token).arg(&epoch);
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
        let ts = now_ms();
        let stamped: Vec<hub::Sequenced> = events.into_iter().enumerate().map(|(i, e)| hub::stamp(e, seq + 1 + i as u64, ts)).collect();
        let mut invocation = scripts::PUBLISH.prepare_invoke();
        invocation.key(&self.keys.leader).key(&self.keys.meta).key(&self.keys.events).key(&self.keys.games);
        invocation.arg(&self.lease.token).arg(&self.config.node_id).arg(epoch).arg(seq).arg(self.config.stream_max_len).arg(stamped.len());
        for e in &stamped {
            let game_json = if e.removed { serde_json::to_vec(&e.game).expect("games serialize") } else { e.game_json.to_vec() };
            invocation.arg(if e.removed { "r" } else { "u" }).arg(&e.game.id).arg(game_json).arg(&e.frame[..]).arg(e.ts);
        }
        // Nothing is sent once this node's lease has ended (Redis would refuse
        // it anyway; this keeps it off the wire).
        if Instant::now() >= until {
            return Err("lease expired");
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

impl Term<'_> {
    /// The term's work: poll the feeds the configuration names and publish
    /// what they change, while the lease lasts; returns why it ended.
    async fn run(&mut self, feeds: &mut FeedSet, stop: &mut watch::Receiver<bool>) -> &'static str {
        // The first reconcile also retires the games of feeds this
        // configuration no longer has (removed while no node led, or by a
        // reload elsewhere): they would stay forever.
        let configured = self.leader.feeds.borrow_and_update().clone();
        let started = feeds.reconcile(configured).await;
        if let Err(why) = pipeline::publish(self, started.events).await {
            return why;
        }
        loop {
            tokio::select! {
                _ = stop.changed() => return "stopping",
                why = lease::ends(&mut self.held) => return why,
                changed = self.leader.feeds.changed() => {
                    if changed.is_err() {
                        return "stopping";
                    }
                    let configured = self.leader.feeds.borrow_and_update().clone();
                    let reconciled = feeds.reconcile(configured).await;
                    if let Err(why) = lease::within(&mut self.held, self.leader.announce()).await {
                        return why;
                    }
                    if let Err(why) = pipeline::publish(self, reconciled.events).await {
                        return why;
                    }
                }
                events = feeds.next_poll() => {
                    if let Err(why) = pipeline::publish(self, events).await {
                        return why;
                    }
                }
            }
        }
    }
}

/// The leader's publisher: Redis numbers the events for every node.
impl Publisher for Term<'_> {
    type Refused = &'static str;

    /// Publishes unless the lease ends first; moves the term's seq on.
    async fn publish(&mut self, events: Vec<Event>) -> Result<u64, &'static str> {
        let until = lease::until(&self.held).ok_or("lease expired")?;
        tokio::select! {
            biased;
            published = self.leader.publish(&self.epoch, self.seq, events, until) => {
                self.seq = published?;
                Ok(self.seq)
            }
            why = lease::ends(&mut self.held) => {
                // Sent, unanswered when the lease ended: should it ever reach
                // Redis, the script refuses it.
                metrics::counter!(status::PUBLISH_FAILURES, "reason" => "timeout").increment(1);
                tracing::warn!(reason = why, seq = self.seq, "the lease ended while a publish was unanswered");
                Err(why)
            }
        }
    }
}
