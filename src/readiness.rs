//! What `/readyz` reports: whether this node should be sent clients now.
//!
//! A leaf: the app sets `listening` and `draining`, whoever first has data to
//! serve sets `has_data` (the single node's pipeline, or the cluster's stream
//! follower), and the server reads it.

use std::sync::atomic::{AtomicBool, Ordering};

/// What `/readyz` reports.
#[derive(Debug, Default)]
pub struct Readiness {
    /// The listeners are bound (the config was loaded before that).
    pub listening: AtomicBool,
    /// There is something to serve: a restored state or a first good poll.
    pub has_data: AtomicBool,
    /// Shutting down: load balancers should stop sending clients.
    pub draining: AtomicBool,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.listening.load(Ordering::Relaxed) && self.has_data.load(Ordering::Relaxed) && !self.draining.load(Ordering::Relaxed)
    }
}
