//! One pipeline, for a single node and for the cluster's leader alike: the
//! feeds one publisher polls ([`FeedSet`]: their pollers and their diffs), and
//! the step that hands what a poll changed to a [`Publisher`].
//!
//! ```text
//! FeedSet (pollers ─► diffs) ─► events ─► publish: count, then a Publisher
//!                                                   ├─ the local hub (one node: `crate::app`)
//!                                                   └─ Redis, for every node (the leader: `crate::cluster`)
//! ```
//!
//! A feed set belongs to one task, which applies its polls and its
//! reconfigurations in the order they come: a feed removed by a reload leaves
//! through `remove` events at once, and a poll of it still under way then is
//! dropped, not applied after its games left.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{FeedScheduler, HealthBoard, Poller};
use crate::config::FeedConfig;
use crate::diff::{Event, FeedDiffs, FeedUpdate};
use crate::hub::Hub;
use crate::model::Game;
use crate::telemetry;

/// The feeds one publisher polls, and their diffs. See the module docs.
pub struct FeedSet {
    feeds: Vec<FeedConfig>,
    scheduler: FeedScheduler,
    diffs: FeedDiffs,
    polls: mpsc::Receiver<FeedUpdate>,
    /// Cloned into each poller.
    sender: mpsc::Sender<FeedUpdate>,
    client: reqwest::Client,
    health: HealthBoard,
}

/// What [`FeedSet::reconcile`] did.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// `-id` for a feed removed, `~id` for one changed (its poller restarted,
    /// its games kept), `+id` for one added: a reload's summary.
    pub changes: Vec<String>,
    /// The games that leave: those of removed feeds, and starting games whose
    /// feed is not configured (renamed or removed while nothing polled it; no
    /// poll would ever mention them again).
    pub events: Vec<Event>,
    /// Feeds that could not be scheduled, each with why.
    pub failed: Vec<String>,
}

impl FeedSet {
    /// A set polling nothing yet; its diffs start from the games the publisher
    /// already serves (a state file, Redis's snapshot hash), so its first polls
    /// emit only real changes.
    pub async fn start(games: impl IntoIterator<Item = Game>, client: reqwest::Client, health: HealthBoard) -> Result<FeedSet, String> {
        let scheduler = FeedScheduler::start().await?;
        let (sender, polls) = mpsc::channel(64);
        Ok(FeedSet { feeds: Vec::new(), scheduler, diffs: FeedDiffs::new(games), polls, sender, client, health })
    }

    /// Makes the set poll `feeds`: removed feeds stop and their games leave,
    /// changed ones restart, new ones start (each polls once right away).
    pub async fn reconcile(&mut self, feeds: Vec<FeedConfig>) -> Reconciled {
        let mut done = Reconciled::default();
        for old in &self.feeds {
            if !feeds.iter().any(|f| f.id == old.id) {
                self.scheduler.remove(&old.id).await;
                done.events.extend(self.diffs.retire(old));
                done.changes.push(format!("-{}", old.id));
            }
        }
        done.events.extend(self.diffs.orphans(&feeds));
        for feed in &feeds {
            match self.feeds.iter().find(|f| f.id == feed.id) {
                Some(previous) if previous == feed => continue,
                Some(_) => {
                    // Its games stay, diffed against the new poller's first answer.
                    self.scheduler.remove(&feed.id).await;
                    done.changes.push(format!("~{}", feed.id));
                }
                None => done.changes.push(format!("+{}", feed.id)),
            }
            telemetry::register_feed(&feed.id, feed.schedule_idle.is_some());
            let poller = Arc::new(Poller::new(feed.clone(), self.client.clone(), self.health.clone(), self.sender.clone()));
            if let Err(e) = self.scheduler.add(poller).await {
                tracing::error!(feed = %feed.id, error = %e, "cannot schedule feed");
                done.failed.push(e);
            }
        }
        self.feeds = feeds;
        done
    }

    /// What the next good poll of a feed in the set changed (often nothing).
    /// Cancel-safe, to wait on beside other work.
    pub async fn next_poll(&mut self) -> Vec<Event> {
        loop {
            let update = self.polls.recv().await.expect("the set holds a sender");
            if self.feeds.iter().any(|f| f.id == update.feed) {
                return self.diffs.apply(update);
            }
            tracing::debug!(feed = %update.feed, "a poll of a feed no longer polled; dropped");
        }
    }

    /// Stops every poller (their health records go too) and the scheduler.
    pub async fn stop(mut self) {
        for feed in &self.feeds {
            self.scheduler.remove(&feed.id).await;
        }
        self.scheduler.shutdown().await;
    }
}

/// Where a pipeline's events go: what numbers them and tells every client.
pub trait Publisher {
    /// Why a publication did not happen (the hub never refuses).
    type Refused;

    /// Numbers and publishes `events` (never empty); the last seq given.
    fn publish(&mut self, events: Vec<Event>) -> impl Future<Output = Result<u64, Self::Refused>> + Send;
}

/// A single node's publisher: its own hub numbers the events.
impl Publisher for Arc<Hub> {
    type Refused = Infallible;

    fn publish(&mut self, events: Vec<Event>) -> impl Future<Output = Result<u64, Infallible>> + Send {
        std::future::ready(Ok(Hub::publish(self, events)))
    }
}

/// The pipeline's last step: counts `events` (by change kind, in
/// `scoreticker_events_total`) and publishes them; the last seq, or `None`
/// when there was nothing to publish.
pub async fn publish<P: Publisher>(to: &mut P, events: Vec<Event>) -> Result<Option<u64>, P::Refused> {
    if events.is_empty() {
        return Ok(None);
    }
    count(&events);
    let published = events.len();
    let seq = to.publish(events).await?;
    tracing::debug!(events = published, seq, "published");
    Ok(Some(seq))
}

fn count(events: &[Event]) {
    for event in events {
        match event {
            Event::Update { changes, .. } => {
                for change in changes {
                    metrics::counter!(telemetry::EVENTS, "kind" => change.name()).increment(1);
                }
            }
            Event::Remove { .. } => metrics::counter!(telemetry::EVENTS, "kind" => "remove").increment(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::diff::Polled;
    use crate::model::{Game, Team};

    /// A feed whose upstream refuses connections (port 9, discard): its first
    /// poll fails at once and the next is an hour away, so only what a test
    /// hands the set is ever applied.
    fn feed(id: &str, league: &str) -> FeedConfig {
        let text = format!("id = \"{id}\"\nadapter = \"espn\"\nurl = \"http://127.0.0.1:9/\"\nschedule = \"3600s\"\nleague = \"{league}\"\nsport = \"s\"\n");
        crate::config::load_feed(Path::new("t.toml"), &text).unwrap()
    }

    fn game(feed: &str, id: &str, score: i64) -> Game {
        let team = |abbr: &str| Team { id: abbr.into(), name: abbr.into(), abbr: abbr.into(), score: Some(score), ..Team::default() };
        Game { id: Game::make_id(feed, id), feed: feed.into(), league: "l".into(), home: team("AAA"), away: team("BBB"), ..Game::default() }
    }

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        crate::feeds::fetch::client()
    }

    fn removed(events: &[Event]) -> Vec<String> {
        events.iter().filter(|e| matches!(e, Event::Remove { .. })).map(|e| e.game().id.clone()).collect()
    }

    #[tokio::test]
    async fn reconciling_stops_restarts_adds_and_retires() {
        let games = [game("a", "1", 1), game("b", "1", 1), game("gone", "1", 1)];
        let mut set = FeedSet::start(games, client(), HealthBoard::default()).await.unwrap();
        let first = set.reconcile(vec![feed("a", "l"), feed("b", "l")]).await;
        assert_eq!(first.changes, ["+a", "+b"]);
        assert_eq!(removed(&first.events), ["gone:1"], "the starting game of a feed no longer configured leaves");
        assert!(first.failed.is_empty());
        let second = set.reconcile(vec![feed("a", "other"), feed("c", "l")]).await;
        assert_eq!(second.changes, ["-b", "~a", "+c"]);
        assert_eq!(removed(&second.events), ["b:1"], "a removed feed's games leave, those it started with too");
        assert_eq!(set.reconcile(vec![feed("a", "other"), feed("c", "l")]).await.changes, Vec::<String>::new());
        set.stop().await;
    }

    #[tokio::test]
    async fn a_poll_of_a_feed_no_longer_polled_is_dropped() {
        let mut set = FeedSet::start([], client(), HealthBoard::default()).await.unwrap();
        set.reconcile(vec![feed("a", "l"), feed("b", "l")]).await;
        set.reconcile(vec![feed("a", "l")]).await;
        // A poll of `b` that was under way when it was removed, then one of `a`.
        for (id, score) in [("b", 5), ("a", 7)] {
            let polled = Polled::Games(vec![game(id, "1", score)]);
            set.sender.send(FeedUpdate { feed: id.into(), remove_after: 3, polled }).await.unwrap();
        }
        let events = tokio::time::timeout(Duration::from_secs(10), set.next_poll()).await.expect("a's poll");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].game().id, "a:1", "b's late poll is not applied: its games left for good");
        set.stop().await;
    }
}
