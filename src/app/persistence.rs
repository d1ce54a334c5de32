//! The state file in the daemon's life ([`crate::state`] is the file itself):
//! read into a fresh hub at start, written shortly after changes while
//! running, and a last time, clean, at a graceful stop. Not in cluster mode,
//! where Redis is the state.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::hub::Hub;
use crate::readiness::Readiness;
use crate::{state, telemetry};

/// The hub, continued from the state file when there is one.
pub(super) fn restored_hub(config: &Config, readiness: &Readiness) -> Arc<Hub> {
    let limits = &config.limits;
    let hub = Hub::new(Hub::new_epoch(), limits.broadcast_capacity, limits.ring_capacity, limits.ring_max_age);
    let hub = Arc::new(hub.with_ring_max_bytes(limits.ring_max_bytes));
    if let Some(saved) = state_dir(config).and_then(state::load) {
        readiness.has_data.store(true, Ordering::Relaxed);
        saved.restore_into(&hub);
    }
    hub
}

/// Where the state file is kept: `state_dir`, unless in cluster mode.
pub(super) fn state_dir(config: &Config) -> Option<&Path> {
    config.state_dir.as_deref().filter(|_| config.cluster.is_none())
}

/// Starts the writer of [`save_after_changes`], when there is a state file.
pub(super) fn start_saver(config: &Config, hub: &Arc<Hub>, shutdown: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    state_dir(config).map(|dir| tokio::spawn(save_after_changes(hub.clone(), dir.to_path_buf(), shutdown)))
}

/// Writes the state file shortly after changes: at most once a second, so a
/// burst of polls costs one write. Ends at `shutdown`, but never in the middle
/// of a write: the final (clean) save waits for this task, so it is the last
/// word in the file.
async fn save_after_changes(hub: Arc<Hub>, dir: PathBuf, mut shutdown: watch::Receiver<bool>) {
    let mut seq = hub.watch_seq();
    loop {
        tokio::select! {
            changed = seq.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        seq.mark_unchanged();
        save_state(&hub, &dir, false).await;
    }
}

/// `clean` only from a graceful shutdown after the pipeline stopped: see
/// [`state`] for why only such a file continues its epoch.
pub(super) async fn save_state(hub: &Arc<Hub>, dir: &Path, clean: bool) {
    let saved = state::SavedHub::of(hub);
    let dir = dir.to_path_buf();
    let write = if clean { state::save_clean } else { state::save };
    let result = tokio::task::spawn_blocking(move || write(&dir, saved)).await;
    match result {
        Ok(Ok(())) => metrics::counter!(telemetry::STATE_WRITES, "result" => "ok").increment(1),
        Ok(Err(e)) => {
            metrics::counter!(telemetry::STATE_WRITES, "result" => "error").increment(1);
            tracing::error!(error = %e, "cannot write the state file");
        }
        Err(e) => tracing::error!(error = %e, "state writer panicked"),
    }
}
