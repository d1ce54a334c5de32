//! Cluster mode: several nodes serve clients from one truth kept in Redis (or
//! Valkey). Present when the main config has a `[cluster]` section; without
//! it a node runs on its own exactly as before, state file included.
//!
//! ```text
//!             leader only                      every node, the leader too
//! feeds ─► diff ─► PUBLISH script ─► Redis stream ─► XREAD ─► hub ─► clients
//!                  (lease + seq check)  + snapshot hash
//! ```
//!
//! - [`leader`]: the one node that polls: it runs the pipeline
//!   (`crate::feeds::pipeline`) for a term, publishing with the atomic script.
//! - [`lease`]: the leader lease, its keeper, and the term's deadline.
//! - [`follow`]: every node's stream reader: catch-up at start, tailing, epochs.
//! - [`scripts`]: the keys and the Lua scripts (the only writers).
//! - [`link`]: connections (plain URL or Sentinel, optional password file).
//! - [`status`]: role, leader, lag and Redis health for `/status` and `/metrics`.
//!
//! The `[cluster]` section itself is read by [`crate::config::cluster`].

pub mod follow;
pub mod leader;
pub mod lease;
pub mod link;
pub mod scripts;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use status::ClusterStatus;

use crate::config::{ClusterConfig, FeedConfig, Limits};
use crate::feeds::HealthBoard;
use crate::hub::Hub;
use crate::readiness::Readiness;

/// A client whose `since` is ahead of this node (it came from a node further
/// along the stream) waits this long for this node to catch up.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(1);

/// The running cluster tasks of one node.
pub struct Cluster {
    status: Arc<ClusterStatus>,
    feeds: watch::Sender<Vec<FeedConfig>>,
    config_hash: watch::Sender<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Identifies a feed configuration, so nodes can tell they run the same feeds.
/// Where each file lives does not count; what it says does.
pub fn feeds_hash(feeds: &[FeedConfig]) -> String {
    let mut feeds: Vec<FeedConfig> = feeds.iter().map(|f| FeedConfig { source: Default::default(), ..f.clone() }).collect();
    feeds.sort_by(|a, b| a.id.cmp(&b.id));
    let digest = Sha256::digest(format!("{feeds:?}").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Cluster {
    /// Starts following the stream and trying for the lease.
    pub fn start(config: ClusterConfig, feeds: Vec<FeedConfig>, limits: &Limits, hub: Arc<Hub>, health: HealthBoard, readiness: Arc<Readiness>) -> Cluster {
        status::register();
        hub.set_catch_up_wait(CATCH_UP_WAIT);
        let keys = scripts::Keys::new(&config.name);
        let status = Arc::new(ClusterStatus::new(config.node_id.clone()));
        let hash = feeds_hash(&feeds);
        let (feeds_tx, feeds_rx) = watch::channel(feeds);
        let (hash_tx, hash_rx) = watch::channel(hash);
        let (stop, stop_rx) = watch::channel(false);
        tracing::info!(node = %config.node_id, engine = ?config.engine, name = %config.name, lease = ?config.lease, "cluster mode");
        let follower = follow::Follower::new(&config, keys.clone(), hub.clone(), status.clone(), readiness, limits.ring_capacity, hash_rx.clone());
        let leader = leader::Leader::new(config, keys, hub, health, crate::feeds::fetch::client(), status.clone(), feeds_rx, hash_rx);
        let tasks = vec![tokio::spawn(follower.run(stop_rx.clone())), tokio::spawn(leader.run(stop_rx))];
        Cluster { status, feeds: feeds_tx, config_hash: hash_tx, stop, tasks }
    }

    pub fn status(&self) -> Arc<ClusterStatus> {
        self.status.clone()
    }

    /// A reload: the leader (whichever node it is now or later) polls these.
    pub fn set_feeds(&self, feeds: Vec<FeedConfig>) {
        self.config_hash.send_replace(feeds_hash(&feeds));
        self.feeds.send_replace(feeds);
    }

    /// Stops polling, releases the lease (another node takes over at once)
    /// and stops following.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}
