//! The service assembled: config → pollers → diff → hub → server, plus the
//! daemon's life: state restored at start and saved after changes, reloads,
//! graceful shutdown, and what systemd is told along the way.
//!
//! This is the only module that knows every stage; each stage knows only the
//! plain type the one before it hands over (`FeedUpdate`, `Event`, frames).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::{self, Config, FeedConfig};
use crate::feeds::pipeline::{self, FeedSet};
use crate::feeds::{fetch, HealthBoard};
use crate::hub::Hub;
use crate::readiness::Readiness;
use crate::server::{self, guards::ConnectionGate, listen, tls::CertStore, ServerContext};
use crate::cluster::Cluster;
use crate::{state, systemd, telemetry};

/// A running service, and the handle to reload or stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    /// Where `/metrics` and `/status` are served (the public address when merged).
    pub admin_addr: SocketAddr,
    pub hub: Arc<Hub>,
    pub health: HealthBoard,
    /// WebSocket and SSE clients connected now.
    pub subscribers: Arc<server::Subscribers>,
    control: mpsc::Sender<Control>,
    supervisor: JoinHandle<()>,
}

enum Control {
    Reload(oneshot::Sender<Result<String, String>>),
    Stop(oneshot::Sender<()>),
}

/// What the supervisor task owns: everything that changes on reload or stop.
struct Supervisor {
    config: Config,
    health: HealthBoard,
    hub: Arc<Hub>,
    certs: Option<Arc<CertStore>>,
    readiness: Arc<Readiness>,
    shutdown: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    /// A single node's pipeline; `None` in cluster mode, where the leader
    /// polls and Redis is the state (no state file).
    pipeline: Option<LocalPipeline>,
    saver: Option<JoinHandle<()>>,
    cluster: Option<Cluster>,
    subscribers: Arc<server::Subscribers>,
}

/// A single node's pipeline task ([`run_local_pipeline`]), and how to give it
/// a new feed configuration.
struct LocalPipeline {
    reconfigure: mpsc::Sender<Reconfigure>,
    task: JoinHandle<()>,
}

/// New feeds for the local pipeline, and where it says what changed.
type Reconfigure = (Vec<FeedConfig>, oneshot::Sender<Vec<String>>);

/// Starts everything and returns once the listeners are bound and every feed is
/// scheduled (their first polls are under way).
pub async fn start(config: Config) -> Result<Running, String> {
    // reqwest and the TLS listener are built without a default crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    telemetry::install();

    let limits = config.limits.clone();
    let readiness = Arc::new(Readiness::default());

    // The hub: continued from the state file when there is one (not in
    // cluster mode, where Redis is the state).
    let clustered = config.cluster.is_some();
    let saved = if clustered { None } else { config.state_dir.as_deref().and_then(state::load) };
    let hub = Arc::new(
        Hub::new(Hub::new_epoch(), limits.broadcast_capacity, limits.ring_capacity, limits.ring_max_age).with_ring_max_bytes(limits.ring_max_bytes),
    );
    if let Some(saved) = saved {
        readiness.has_data.store(true, Ordering::Relaxed);
        saved.restore_into(&hub);
    }
    let health = HealthBoard::default();

    // Bind everything before starting anything, so a port in use fails cleanly.
    // The public addresses accept on every core (see `server::listen`).
    let per_address = listen::sockets_per_address();
    let listeners = listen::bind_shared(config.listen, "listen", per_address)?;
    let addr = listeners[0].local_addr().map_err(|e| e.to_string())?;
    let (certs, tls_listeners) = match &config.tls {
        None => (None, None),
        Some(tls) => {
            let store = CertStore::open(&tls.cert, &tls.key)?;
            (Some(store), Some(listen::bind_shared(tls.listen, "tls.listen", per_address)?))
        }
    };
    let tls_addr = tls_listeners.as_ref().and_then(|l| l[0].local_addr().ok());
    let admin_listener = match config.admin_listen {
        Some(a) => Some(listen::bind(a, "admin.listen")?),
        None => None,
    };
    let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok()).unwrap_or(addr);

    let (shutdown, shutdown_rx) = watch::channel(false);
    let saver = config.state_dir.clone().filter(|_| !clustered).map(|dir| tokio::spawn(save_after_changes(hub.clone(), dir, shutdown_rx.clone())));

    report_ignored_feed_files(&config.ignored_feed_files);
    let (pipeline, cluster) = match config.cluster.clone() {
        Some(c) => {
            // Every node shows every feed's series, whichever node polls.
            for feed in &config.feeds {
                telemetry::register_feed(&feed.id, feed.schedule_idle.is_some());
            }
            (None, Some(Cluster::start(c, config.feeds.clone(), &limits, hub.clone(), health.clone(), readiness.clone())))
        }
        None => (Some(start_local_pipeline(&config, hub.clone(), health.clone(), readiness.clone()).await?), None),
    };

    let ctx = ServerContext {
        hub: hub.clone(),
        health: health.clone(),
        limits: limits.clone(),
        http: config.http.clone(),
        readiness: readiness.clone(),
        gate: ConnectionGate::new(limits.max_connections, limits.max_connections_per_ip),
        shutdown: shutdown_rx.clone(),
        cluster: cluster.as_ref().map(Cluster::status),
        fanout: server::core::Fanout::start(hub.clone(), limits.clone(), shutdown_rx.clone()),
        subscribers: Arc::default(),
    };
    let subscribers = ctx.subscribers.clone();
    let public = server::public_routes(&ctx);
    let admin = server::admin_routes(&ctx);
    let mut servers = Vec::new();
    let public_routes = match admin_listener {
        Some(admin_listener) => {
            servers.push(tokio::spawn(server::serve(admin_listener, server::finish(admin), None, None, None, shutdown_rx.clone())));
            server::finish(public)
        }
        None => server::finish(warp::Filter::boxed(warp::Filter::unify(warp::Filter::or(public, admin)))),
    };
    // One accept loop per socket; the caps (`gate`) are shared by all of them.
    if let (Some(store), Some(tls_listeners)) = (&certs, tls_listeners) {
        store.watch(Duration::from_secs(2));
        let acceptor = tokio_rustls::TlsAcceptor::from(server::tls::server_config(store.clone()));
        for listener in tls_listeners {
            servers.push(tokio::spawn(server::serve(listener, public_routes.clone(), Some(acceptor.clone()), Some(ctx.gate.clone()), None, shutdown_rx.clone())));
        }
    }
    let direct = server::sse::direct::Direct::new(&ctx);
    for listener in listeners {
        servers.push(tokio::spawn(server::serve(listener, public_routes.clone(), None, Some(ctx.gate.clone()), Some(direct.clone()), shutdown_rx.clone())));
    }
    readiness.listening.store(true, Ordering::Relaxed);
    tracing::info!(%addr, tls = ?tls_addr, admin = %admin_addr, feeds = config.feeds.len(), "scoreticker listening on http://{addr}/");

    let (control, control_rx) = mpsc::channel(4);
    let supervisor = Supervisor {
        config,
        health: health.clone(),
        hub: hub.clone(),
        certs,
        readiness,
        shutdown,
        servers,
        subscribers: subscribers.clone(),
        pipeline,
        saver,
        cluster,
    };
    let supervisor = tokio::spawn(supervisor.run(control_rx));
    Ok(Running { addr, tls_addr, admin_addr, hub, health, subscribers, control, supervisor })
}

/// Starts polling the configured feeds into the hub. Restored games whose feed
/// is no longer configured (renamed or removed while the service was stopped)
/// leave through `remove` events now, before anything is served.
async fn start_local_pipeline(config: &Config, mut hub: Arc<Hub>, health: HealthBoard, readiness: Arc<Readiness>) -> Result<LocalPipeline, String> {
    let games = hub.games().iter().map(|g| g.game.clone()).collect::<Vec<_>>();
    let mut set = FeedSet::start(games, fetch::client(), health).await?;
    let started = set.reconcile(config.feeds.clone()).await;
    if let Some(error) = started.failed.into_iter().next() {
        set.stop().await;
        return Err(error);
    }
    let Ok(_) = pipeline::publish(&mut hub, started.events).await;
    let (reconfigure, requests) = mpsc::channel(4);
    let task = tokio::spawn(run_local_pipeline(set, hub, readiness, requests));
    Ok(LocalPipeline { reconfigure, task })
}

/// A single node's pipeline: one task owns the feed set, so each feed's polls
/// and reloads are applied in order. Ends when the supervisor drops its
/// sender; it is then the last to publish.
async fn run_local_pipeline(mut set: FeedSet, mut hub: Arc<Hub>, readiness: Arc<Readiness>, mut requests: mpsc::Receiver<Reconfigure>) {
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
async fn save_state(hub: &Arc<Hub>, dir: &std::path::Path, clean: bool) {
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

impl Supervisor {
    async fn run(mut self, mut control: mpsc::Receiver<Control>) {
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
    fn feeds_dir_fingerprint(&self) -> Vec<(PathBuf, Option<std::time::SystemTime>)> {
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
        let Some(path) = self.config.source.clone() else {
            return Err("the built-in demo has no configuration file to reload".into());
        };
        let new = match config::load(&path) {
            Ok(c) => c,
            Err(errors) => {
                metrics::counter!(telemetry::CONFIG_RELOADS, "result" => "error").increment(1);
                for e in &errors.0 {
                    tracing::error!(problem = %e, "configuration reload refused; keeping the running configuration");
                }
                return Err(errors.to_string());
            }
        };
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
        if let Some(cluster) = &self.cluster {
            let summary = format!("{} feeds, for whichever node leads", new.feeds.len());
            cluster.set_feeds(new.feeds.clone());
            self.config.feeds = new.feeds;
            metrics::counter!(telemetry::CONFIG_RELOADS, "result" => "ok").increment(1);
            tracing::info!(changes = %summary, "configuration reloaded (cluster mode)");
            return Ok(summary);
        }
        let mut summary = Vec::new();
        if let Some(pipeline) = &self.pipeline {
            let (reply, changes) = oneshot::channel();
            if pipeline.reconfigure.send((new.feeds.clone(), reply)).await.is_ok() {
                summary = changes.await.unwrap_or_default();
            }
        }
        self.config.feeds = new.feeds;
        report_ignored_feed_files(&new.ignored_feed_files);
        metrics::counter!(telemetry::CONFIG_RELOADS, "result" => "ok").increment(1);
        let summary = if summary.is_empty() { "no feed changed".to_string() } else { summary.join(" ") };
        tracing::info!(feeds = self.config.feeds.len(), changes = %summary, "configuration reloaded");
        Ok(summary)
    }

    /// Stop accepting, close clients with 1001, stop polling, save the state.
    async fn stop(self) {
        self.readiness.draining.store(true, Ordering::Relaxed);
        // Hand the lease over first, so another node polls while this one drains.
        if let Some(cluster) = self.cluster {
            cluster.stop().await;
        }
        let _ = self.shutdown.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        // Give sessions a moment to send their close frames.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while self.subscribers.total() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The pipeline is the only publisher: once it has ended no event can
        // follow the save, so the file may say clean. (A poll still under way
        // is dropped; it is polled again by the next start.)
        if let Some(pipeline) = self.pipeline {
            drop(pipeline.reconfigure);
            let _ = pipeline.task.await;
        }
        // Shutdown was signalled above: the periodic saver ends after the write
        // under way, if any (aborting it would leave that write running, to land
        // after the final one).
        if let Some(saver) = self.saver {
            let _ = saver.await;
        }
        if let Some(dir) = self.config.state_dir.as_ref().filter(|_| self.config.cluster.is_none()) {
            save_state(&self.hub, dir, true).await;
        }
    }
}

impl Running {
    /// Re-reads the configuration (what SIGHUP does). Returns a summary of the
    /// feeds added (+), removed (-) and changed (~), or every problem found.
    pub async fn reload(&self) -> Result<String, String> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Reload(tx)).await.map_err(|_| "the service has stopped".to_string())?;
        rx.await.map_err(|_| "the service has stopped".to_string())?
    }

    /// Graceful shutdown: stop accepting, close clients with 1001, stop polling,
    /// write the state file, and wait for all of it.
    pub async fn stop(self) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let _ = self.supervisor.await;
    }

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

/// Warns about each `*.toml` entry of the feeds directory that is not a feed
/// file (its feed, if it had one, is not polled) and sets the gauge.
fn report_ignored_feed_files(ignored: &[config::ConfigError]) {
    for problem in ignored {
        tracing::warn!(%problem, "feed file ignored");
    }
    metrics::gauge!(telemetry::FEED_FILES_IGNORED).set(ignored.len() as f64);
}
