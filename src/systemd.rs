//! What the daemon tells systemd (`Type=notify`): ready, reloading, stopping,
//! a status line, and watchdog keep-alives. Every call is a no-op when systemd
//! did not start us (no `NOTIFY_SOCKET`).

use sd_notify::NotifyState;

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

pub fn ready() {
    notify(&[NotifyState::Ready]);
}

/// RELOADING=1 with the monotonic timestamp systemd wants alongside it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

pub fn status(line: &str) {
    notify(&[NotifyState::Status(line)]);
}

/// Sends WATCHDOG=1 at half the `WatchdogSec=` interval from a task on the
/// runtime, so a stuck runtime stops the keep-alives and systemd restarts us.
pub fn spawn_watchdog() {
    let Some(interval) = sd_notify::watchdog_enabled() else { return };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval / 2);
        loop {
            tick.tick().await;
            notify(&[NotifyState::Watchdog]);
        }
    });
}
