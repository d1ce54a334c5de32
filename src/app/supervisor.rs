//! The supervisor: the task that owns the running service after [`super::start`]
//! and changes it: reloads (asked for by [`super::Running::reload`], SIGHUP, or
//! a changed feeds directory), the status line systemd shows, and the orderly
//! stop.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::persistence;
use super::pipeline::LocalPipeline;
use super::Control;
use crate::cluster::{Cluster, ClusterStatus};
use crate::config::{self, Config};
use crate::feeds::HealthBoard;
use crate::hub::Hub;
use crate::readiness::Readiness;
use crate::server::{self, tls::CertStore};
use crate::{systemd, telemetry};

/// Everything that changes on reload or stop.
pub(super) struct Supervisor {
    pub config: Config,
    pub health: HealthBoard,
    pub hub: Arc<Hub>,
    pub certs: Option<Arc<CertStore>>,
    pub readiness: Arc<Readiness>,
    pub shutdown: watch::Sender<bool>,
    pub servers: Vec<JoinHandle<()>>,
    pub polling: Polling,
    /// Writes the state file after changes (not in cluster mode).
    pub saver: Option<JoinHandle<()>>,
    pub subscribers: Arc<server::Subscribers>,
}

/// Who polls the feeds.
pub(super) enum Polling {
    /// This node, into its own hub.
    Local(LocalPipeline),
    /// Whichever node leads the cluster, into Redis; this node's hub follows
    /// the stream.
    Cluster(Cluster),
}

impl Polling {
    pub(super) async fn start(config: &Config, hub: &Arc<Hub>, health: &HealthBoard, readiness: &Arc<Readiness>) -> Result<Polling, String> {
        match config.cluster.clone() {
            Some(cluster) => {
                // Every node shows every feed's series, whichever node polls.
                for feed in &config.feeds {
                    telemetry::register_feed(&feed.id, feed.schedule_idle.is_some());
                }
                let limits = &config.limits;
                Ok(Polling::Cluster(Cluster::start(cluster, config.feeds.clone(), limits, hub.clone(), health.clone(), readiness.clone())))
            }
            None => Ok(Polling::Local(LocalPipeline::start(&config.feeds, hub.clone(), health.clone(), readiness.clone()).await?)),
        }
    }

    /// Cluster mode: this node's role, the leader and the lag, for `/status`.
    pub(super) fn cluster_status(&self) -> Option<Arc<ClusterStatus>> {
        match self {
            Polling::Cluster(cluster) => Some(cluster.status()),
            Polling::Local(_) => None,
        }
    }
}

impl Supervisor {
    pub(super) async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        let mut feeds_dir = self.feeds_dir_fingerprint();
        let mut check = tokio::time::interval(Duration::from_secs(2));
        let mut status = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                message = control.recv() => match message {
                    Some(Control::Reload(reply)) => {
                        let result = self.reload().await;
                        feeds_dir = self.feeds_dir_fingerprint();
                        let _ = reply.send(result);
                    }
                    Some(Control::Stop(reply)) => {
                        self.stop().await;
                        let _ = reply.send(());
                        return;
                    }
                    None => {
                        self.stop().await;
                        return;
                    }
                },
                _ = check.tick() => {
                    // A feed file dropped into (or removed from, or edited in) the
                    // feeds directory is a reload, as SIGHUP is.
                    let now = self.feeds_dir_fingerprint();
                    if now != feeds_dir {
                        feeds_dir = now;
                        tracing::info!("the feeds directory changed; reloading");
                        let _ = self.reload().await;
                    }
                }
                _ = status.tick() => {
                    self.refresh_feed_gauges();
                    systemd::status(&format!("{} feeds, {} clients, seq {}", self.config.feeds.len(), self.subscribers.total(), self.hub.seq()));
                }
            }
        }
    }

    fn refresh_feed_gauges(&self) {
        for h in self.health.all() {
            metrics::gauge!(telemetry::FEED_STALE, "feed" => h.feed.clone()).set(if h.stale { 1.0 } else { 0.0 });
        }
    }

    /// Names and modification times of the feed files: cheap to compare every few seconds.
    fn feeds_dir_fingerprint(&self) -> Vec<(PathBuf, Option<SystemTime>)> {
        if self.config.source.is_none() {
            return Vec::new();
        }
        let mut entries: Vec<_> = std::fs::read_dir(&self.config.feeds_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .map(|p| {
                        let m = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
                        (p, m)
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort();
        entries
    }

    /// Re-reads the configuration and applies what changed; an invalid new
    /// configuration changes nothing.
    async fn reload(&mut self) -> Result<String, String> {
        if let Some(certs) = &self.certs {
            if let Err(e) = certs.reload() {
                tracing::error!(error = %e, "TLS certificate reload failed; still serving the previous one");
            }
        }
        let new = self.read_config()?;
        for (what, differs) in [
            ("listen", new.listen != self.config.listen),
            ("tls", new.tls != self.config.tls),
            ("admin.listen", new.admin_listen != self.config.admin_listen),
            ("state_dir", new.state_dir != self.config.state_dir),
            ("limits", new.limits != self.config.limits),
        ] {
            if differs {
                tracing::warn!(key = what, "this setting changed but takes effect only after a restart");
            }
        }
        let summary = match &self.polling {
            Polling::Cluster(cluster) => {
                let summary = format!("{} feeds, for whichever node leads", new.feeds.len());
                cluster.set_feeds(new.feeds.clone());
                tracing::info!(changes = %summary, "configuration reloaded (cluster mode)");
                summary
            }
            Polling::Local(pipeline) => {
                let changes = pipeline.reconfigure(new.feeds.clone()).await;
                report_ignored_feed_files(&new.ignored_feed_files);
                let summary = if changes.is_empty() { "no feed changed".to_string() } else { changes.join(" ") };
                tracing::info!(feeds = new.feeds.len(), changes = %summary, "configuration reloaded");
                summary
            }
        };
        self.config.feeds = new.feeds;
        metrics::counter!(telemetry::CONFIG_RELOADS, "result" => "ok").increment(1);
        Ok(summary)
    }

    /// The configuration file as it is now, or every problem with it.
    fn read_config(&self) -> Result<Config, String> {
        let Some(path) = &self.config.source else {
            return Err("the built-in demo has no configuration file to reload".into());
        };
        config::load(path).map_err(|errors| {
            metrics::counter!(telemetry::CONFIG_RELOADS, "result" => "error").increment(1);
            for e in &errors.0 {
                tracing::error!(problem = %e, "configuration reload refused; keeping the running configuration");
            }
            errors.to_string()
        })
    }

    /// Stop accepting, close clients with 1001, stop polling, save the state.
    async fn stop(self) {
        self.readiness.draining.store(true, Ordering::Relaxed);
        // Hand the lease over first, so another node polls while this one shuts down.
        let local = match self.polling {
            Polling::Cluster(cluster) => {
                cluster.stop().await;
                None
            }
            Polling::Local(pipeline) => Some(pipeline),
        };
        let _ = self.shutdown.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        // Give clients a moment to be closed (1001) before polling stops.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while self.subscribers.total() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The pipeline is the only publisher: once it has ended no event can
        // follow the save, so the file may say clean. (A poll still under way
        // is dropped; it is polled again by the next start.)
        if let Some(pipeline) = local {
            pipeline.stop().await;
        }
        // Shutdown was signalled above: the periodic saver ends after the write
        // under way, if any (aborting it would leave that write running, to land
        // after the final one).
        if let Some(saver) = self.saver {
            let _ = saver.await;
        }
        if let Some(dir) = persistence::state_dir(&self.config) {
            persistence::save_state(&self.hub, dir, true).await;
        }
    }
}

/// Warns about each `*.toml` entry of the feeds directory that is not a feed
/// file (its feed, if it had one, is not polled) and sets the gauge.
pub(super) fn report_ignored_feed_files(ignored: &[config::ConfigError]) {
    for problem in ignored {
        tracing::warn!(%problem, "feed file ignored");
    }
    metrics::gauge!(telemetry::FEED_FILES_IGNORED).set(ignored.len() as f64);
}
