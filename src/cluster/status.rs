//! What a node knows about the cluster, for `/status` and `/metrics`: its role,
//! who leads, whether Redis answers, and how far behind the stream it is.

use std::sync::Mutex;

pub const LEADER: &str = "scoreticker_cluster_leader";
pub const LEADER_CHANGES: &str = "scoreticker_cluster_leader_changes_total";
pub const REDIS_UP: &str = "scoreticker_cluster_redis_up";
pub const LAG_EVENTS: &str = "scoreticker_cluster_stream_lag_events";
pub const LAG_SECONDS: &str = "scoreticker_cluster_stream_lag_seconds";
pub const PUBLISH_FAILURES: &str = "scoreticker_cluster_publish_failures_total";
pub const RESYNCS: &str = "scoreticker_cluster_resyncs_total";
pub const CONFIG_MISMATCH: &str = "scoreticker_cluster_config_mismatch";

/// Why a publish failed (the label values of [`PUBLISH_FAILURES`]).
/// `timeout`: the lease ended before Redis answered (the publish may still
/// arrive; the script then refuses it).
pub const PUBLISH_REASONS: [&str; 6] = ["not_leader", "epoch", "seq", "stream", "redis", "timeout"];
/// Why a node rebuilt its state from Redis (the label values of [`RESYNCS`]).
pub const RESYNC_REASONS: [&str; 4] = ["start", "epoch", "gap", "diverged"];

/// Describes the cluster metrics and sets each to zero, so dashboards and
/// alerts see every series from the start (not only after a first failure).
pub fn register() {
    use metrics::{describe_counter, describe_gauge, Unit};
    describe_gauge!(LEADER, "1 while this node holds the leader lease (polls and publishes), else 0.");
    describe_counter!(LEADER_CHANGES, "Times this node became or stopped being the leader.");
    describe_gauge!(REDIS_UP, "1 when the last Redis command of this node succeeded, else 0.");
    describe_gauge!(LAG_EVENTS, "Events published to the stream that this node has not applied yet.");
    describe_gauge!(LAG_SECONDS, Unit::Seconds, "Time from the leader stamping the latest applied event to this node applying it.");
    describe_counter!(PUBLISH_FAILURES, "Publishes refused or failed, by reason (not_leader, epoch, seq, stream, redis, timeout).");
    describe_counter!(RESYNCS, "Times this node rebuilt its state from Redis, by reason (start, epoch, gap, diverged).");
    describe_gauge!(CONFIG_MISMATCH, "1 when this node's feed configuration differs from the leader's.");
    metrics::gauge!(LEADER).set(0.0);
    metrics::counter!(LEADER_CHANGES).absolute(0);
    metrics::gauge!(REDIS_UP).set(0.0);
    metrics::gauge!(LAG_EVENTS).set(0.0);
    metrics::gauge!(LAG_SECONDS).set(0.0);
    metrics::gauge!(CONFIG_MISMATCH).set(0.0);
    for reason in PUBLISH_REASONS {
        metrics::counter!(PUBLISH_FAILURES, "reason" => reason).absolute(0);
    }
    for reason in RESYNC_REASONS {
        metrics::counter!(RESYNCS, "reason" => reason).absolute(0);
    }
}

#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub leader: bool,
    pub leader_id: Option<String>,
    pub redis_up: bool,
    pub lag_events: u64,
    pub lag_ms: i64,
    pub config_mismatch: bool,
}

/// Shared between the cluster's tasks and the status page.
#[derive(Debug)]
pub struct ClusterStatus {
    pub node_id: String,
    inner: Mutex<Snapshot>,
}

impl ClusterStatus {
    pub fn new(node_id: String) -> ClusterStatus {
        ClusterStatus { node_id, inner: Mutex::new(Snapshot::default()) }
    }

    pub fn get(&self) -> Snapshot {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set_leader(&self, leader: bool) {
        self.update(|s| {
            if s.leader != leader {
                metrics::counter!(LEADER_CHANGES).increment(1);
            }
            s.leader = leader;
        });
        metrics::gauge!(LEADER).set(if leader { 1.0 } else { 0.0 });
    }

    pub fn set_leader_id(&self, id: Option<String>) {
        self.update(|s| s.leader_id = id);
    }

    /// Returns whether this changed it (to log transitions once).
    pub fn set_redis_up(&self, up: bool) -> bool {
        metrics::gauge!(REDIS_UP).set(if up { 1.0 } else { 0.0 });
        let mut changed = false;
        self.update(|s| {
            changed = s.redis_up != up;
            s.redis_up = up;
        });
        changed
    }

    pub fn set_lag(&self, events: u64, ms: i64) {
        metrics::gauge!(LAG_EVENTS).set(events as f64);
        metrics::gauge!(LAG_SECONDS).set(ms.max(0) as f64 / 1000.0);
        self.update(|s| {
            s.lag_events = events;
            s.lag_ms = ms.max(0);
        });
    }

    /// Returns whether this changed it.
    pub fn set_config_mismatch(&self, mismatch: bool) -> bool {
        metrics::gauge!(CONFIG_MISMATCH).set(if mismatch { 1.0 } else { 0.0 });
        let mut changed = false;
        self.update(|s| {
            changed = s.config_mismatch != mismatch;
            s.config_mismatch = mismatch;
        });
        changed
    }
}
