//! The service assembled: config → pollers → diff → hub → server.
//!
//! This is the only module that knows every stage; each stage knows only the
//! plain type the one before it hands over (`FeedUpdate`, `Event`, frames).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::diff::FeedDiff;
use crate::feeds::{fetch, FeedScheduler, FeedUpdate, HealthBoard, Polled, Poller};
use crate::hub::Hub;
use crate::server::{self, ServerContext};

/// A running service.
pub struct Running {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    pub health: HealthBoard,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    scheduler: FeedScheduler,
    pipeline: JoinHandle<()>,
}

/// Starts everything and returns once the listener is bound and every feed is
/// scheduled (their first polls are under way).
pub async fn start(config: Config) -> Result<Running, String> {
    // reqwest is built without a default crypto provider; pick rustls' ring.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let limits = config.limits.clone();
    let hub = Arc::new(Hub::new(Hub::new_epoch(), limits.broadcast_capacity, limits.ring_capacity, limits.ring_max_age));
    let health = HealthBoard::default();

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    let (updates_tx, updates_rx) = mpsc::channel::<FeedUpdate>(64);
    let remove_after: HashMap<String, u32> =
        config.feeds.iter().map(|f| (f.id.clone(), f.remove_after_missed_polls)).collect();
    let pipeline = tokio::spawn(run_pipeline(updates_rx, hub.clone(), remove_after));

    let client = fetch::client();
    let mut scheduler = FeedScheduler::start().await?;
    for feed in &config.feeds {
        let poller = Arc::new(Poller::new(feed.clone(), client.clone(), health.clone(), updates_tx.clone()));
        scheduler.add(poller).await?;
    }
    drop(updates_tx);

    let (shutdown, shutdown_rx) = watch::channel(false);
    let routes = server::routes(ServerContext { hub: hub.clone(), health: health.clone(), limits, shutdown: shutdown_rx.clone() });
    let server = tokio::spawn(server::serve(listener, routes, shutdown_rx));
    tracing::info!(%addr, feeds = config.feeds.len(), "scoreticker listening on http://{addr}/");
    Ok(Running { addr, hub, health, shutdown, server, scheduler, pipeline })
}

/// The diff stage: one [`FeedDiff`] per feed, fed by the pollers, publishing
/// to the hub. One task, so each feed's diffs are applied in poll order.
async fn run_pipeline(mut updates: mpsc::Receiver<FeedUpdate>, hub: Arc<Hub>, remove_after: HashMap<String, u32>) {
    let mut diffs: HashMap<String, FeedDiff> = HashMap::new();
    while let Some(update) = updates.recv().await {
        let k = remove_after.get(&update.feed).copied().unwrap_or(3);
        let diff = diffs.entry(update.feed.clone()).or_insert_with(|| FeedDiff::new(update.feed.clone(), k));
        let now = chrono::Utc::now();
        let events = match update.polled {
            Polled::Games(games) => diff.apply(games, now),
            Polled::Same => diff.apply_same(now),
        };
        if !events.is_empty() {
            let count = events.len();
            let seq = hub.publish(events);
            tracing::debug!(feed = %update.feed, events = count, seq, "published");
        }
    }
}

impl Running {
    /// Stops accepting, stops polling, and waits for the tasks to end.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        // Give sessions a moment to send their 1001 close frames.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while self.hub.subscriber_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.scheduler.shutdown().await;
        self.pipeline.abort();
    }

    /// Runs until Ctrl-C or SIGTERM.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.stop().await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("can listen for SIGTERM");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
