//! The daemon's main loop: signals in, systemd notifications out.

use std::time::Duration;

use super::Running;
use crate::systemd;

impl Running {
    /// Runs as a daemon until SIGTERM or Ctrl-C; SIGHUP reloads. Tells systemd
    /// (when it started us) that we are ready, reloading and stopping, and
    /// keeps its watchdog fed.
    pub async fn run_until_signal(self) {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("can listen for SIGTERM");
        let mut hup = signal(SignalKind::hangup()).expect("can listen for SIGHUP");
        systemd::spawn_watchdog();
        systemd::ready();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = hup.recv() => {
                    systemd::reloading();
                    match self.reload().await {
                        Ok(summary) => tracing::info!(changes = %summary, "reloaded on SIGHUP"),
                        Err(e) => tracing::error!("reload on SIGHUP refused:\n{e}"),
                    }
                    systemd::ready();
                }
            }
        }
        tracing::info!("shutting down");
        systemd::stopping();
        // Bounded: a shutdown that hangs is killed by systemd anyway, but say so first.
        if tokio::time::timeout(Duration::from_secs(15), self.stop()).await.is_err() {
            tracing::error!("shutdown took longer than 15s; exiting anyway");
        }
    }
}
