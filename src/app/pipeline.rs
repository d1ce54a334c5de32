//! A single node's pipeline ([`crate::feeds::pipeline`]) with its own hub as
//! the publisher, run by one task. (In cluster mode the leader runs the same
//! pipeline, publishing to Redis: `crate::cluster::leader`.)

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::FeedConfig;
use crate::feeds::pipeline::{self, FeedSet};
use crate::feeds::{fetch, HealthBoard};
use crate::hub::Hub;
use crate::readiness::Readiness;

/// The running pipeline task, and how to give it a new feed configuration.
pub(super) struct LocalPipeline {
    requests: mpsc::Sender<Reconfigure>,
    task: JoinHandle<()>,
}

/// New feeds, and where the task says what changed (`-id`, `~id`, `+id`).
type Reconfigure = (Vec<FeedConfig>, oneshot::Sender<Vec<String>>);

impl LocalPipeline {
    /// Starts polling `feeds` into the hub. Restored games whose feed is no
    /// longer configured (renamed or removed while the service was stopped)
    /// leave through `remove` events now, before anything is served.
    pub(super) async fn start(feeds: &[FeedConfig], mut hub: Arc<Hub>, health: HealthBoard, readiness: Arc<Readiness>) -> Result<LocalPipeline, String> {
        let games: Vec<_> = hub.games().iter().map(|g| g.game.clone()).collect();
        let mut set = FeedSet::start(games, fetch::client(), health).await?;
        let started = set.reconcile(feeds.to_vec()).await;
        if let Some(error) = started.failed.into_iter().next() {
            set.stop().await;
            return Err(error);
        }
        let Ok(_) = pipeline::publish(&mut hub, started.events).await;
        let (requests, received) = mpsc::channel(4);
        let task = tokio::spawn(run(set, hub, readiness, received));
        Ok(LocalPipeline { requests, task })
    }

    /// Polls `feeds` from now on; what changed (`-id`, `~id`, `+id`).
    pub(super) async fn reconfigure(&self, feeds: Vec<FeedConfig>) -> Vec<String> {
        let (reply, changes) = oneshot::channel();
        if self.requests.send((feeds, reply)).await.is_err() {
            return Vec::new();
        }
        changes.await.unwrap_or_default()
    }

    /// Stops polling and waits for the task: after this nothing more is published.
    pub(super) async fn stop(self) {
        drop(self.requests);
        let _ = self.task.await;
    }
}

/// One task owns the feed set, so each feed's polls and reloads are applied
/// in order. Ends when [`LocalPipeline::stop`] drops the sender.
async fn run(mut set: FeedSet, mut hub: Arc<Hub>, readiness: Arc<Readiness>, mut requests: mpsc::Receiver<Reconfigure>) {
    loop {
        tokio::select! {
            events = set.next_poll() => {
                readiness.has_data.store(true, Ordering::Relaxed);
                let Ok(_) = pipeline::publish(&mut hub, events).await;
            }
            request = requests.recv() => {
                let Some((feeds, reply)) = request else { break };
                let reconciled = set.reconcile(feeds).await;
                let Ok(_) = pipeline::publish(&mut hub, reconciled.events).await;
                let _ = reply.send(reconciled.changes);
            }
        }
    }
    set.stop().await;
}
