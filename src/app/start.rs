//! Starting the service: bind every listener first (so a port in use fails
//! before anything runs), then the hub, the pipeline (or the cluster), the
//! servers, and the supervisor that owns them from then on.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::supervisor::{report_ignored_feed_files, Polling, Supervisor};
use super::{persistence, Running};
use crate::config::Config;
use crate::feeds::HealthBoard;
use crate::readiness::Readiness;
use crate::server::{self, guards::ConnectionGate, listen, tls::CertStore, ServerContext};
use crate::telemetry;

/// Starts everything and returns once the listeners are bound and every feed is
/// scheduled (their first polls are under way).
pub async fn start(config: Config) -> Result<Running, String> {
    // reqwest and the TLS listener are built without a default crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    telemetry::install();

    let readiness = Arc::new(Readiness::default());
    let hub = persistence::restored_hub(&config, &readiness);
    let health = HealthBoard::default();
    let listeners = Listeners::bind(&config)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let saver = persistence::start_saver(&config, &hub, shutdown_rx.clone());
    report_ignored_feed_files(&config.ignored_feed_files);
    let polling = Polling::start(&config, &hub, &health, &readiness).await?;

    let limits = config.limits.clone();
    let ctx = ServerContext {
        hub: hub.clone(),
        health: health.clone(),
        limits: limits.clone(),
        http: config.http.clone(),
        readiness: readiness.clone(),
        gate: ConnectionGate::new(limits.max_connections, limits.max_connections_per_ip),
        shutdown: shutdown_rx.clone(),
        cluster: polling.cluster_status(),
        fanout: server::core::Fanout::start(hub.clone(), limits.clone(), shutdown_rx.clone()),
        subscribers: Arc::default(),
    };
    let (addr, tls_addr, admin_addr) = (listeners.addr, listeners.tls_addr(), listeners.admin_addr());
    let certs = listeners.tls.as_ref().map(|(store, _)| store.clone());
    let servers = serve(&ctx, listeners, &shutdown_rx);
    readiness.listening.store(true, Ordering::Relaxed);
    tracing::info!(%addr, tls = ?tls_addr, admin = %admin_addr, feeds = config.feeds.len(), "scoreticker listening on http://{addr}/");

    let subscribers = ctx.subscribers.clone();
    let (control, control_rx) = mpsc::channel(4);
    let supervisor = Supervisor {
        config,
        health: health.clone(),
        hub: hub.clone(),
        certs,
        readiness,
        shutdown,
        servers,
        polling,
        saver,
        subscribers: subscribers.clone(),
    };
    let supervisor = tokio::spawn(supervisor.run(control_rx));
    Ok(Running { addr, tls_addr, admin_addr, hub, health, subscribers, control, supervisor })
}

/// Every socket the service listens on, bound. The public addresses accept on
/// every core (see `server::listen`).
struct Listeners {
    public: Vec<TcpListener>,
    addr: SocketAddr,
    /// The TLS listener's certificate and sockets.
    tls: Option<(Arc<CertStore>, Vec<TcpListener>)>,
    /// `None`: `/metrics` and `/status` are served on the public listener.
    admin: Option<TcpListener>,
}

impl Listeners {
    fn bind(config: &Config) -> Result<Listeners, String> {
        let per_address = listen::sockets_per_address();
        let public = listen::bind_shared(config.listen, "listen", per_address)?;
        let addr = public[0].local_addr().map_err(|e| e.to_string())?;
        let tls = match &config.tls {
            None => None,
            Some(tls) => Some((CertStore::open(&tls.cert, &tls.key)?, listen::bind_shared(tls.listen, "tls.listen", per_address)?)),
        };
        let admin = match config.admin_listen {
            Some(a) => Some(listen::bind(a, "admin.listen")?),
            None => None,
        };
        Ok(Listeners { public, addr, tls, admin })
    }

    fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(_, l)| l[0].local_addr().ok())
    }

    fn admin_addr(&self) -> SocketAddr {
        self.admin.as_ref().and_then(|l| l.local_addr().ok()).unwrap_or(self.addr)
    }
}

/// Starts one accept loop per socket; the caps (`ctx.gate`) are shared by all
/// of the public ones.
fn serve(ctx: &ServerContext, listeners: Listeners, shutdown: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let public = server::public_routes(ctx);
    let admin = server::admin_routes(ctx);
    let mut servers = Vec::new();
    let public_routes = match listeners.admin {
        Some(admin_listener) => {
            servers.push(tokio::spawn(server::serve(admin_listener, server::finish(admin), None, None, None, shutdown.clone())));
            server::finish(public)
        }
        None => server::finish(warp::Filter::boxed(warp::Filter::unify(warp::Filter::or(public, admin)))),
    };
    if let Some((store, tls_listeners)) = listeners.tls {
        store.watch(Duration::from_secs(2));
        let acceptor = tokio_rustls::TlsAcceptor::from(server::tls::server_config(store));
        for listener in tls_listeners {
            servers.push(tokio::spawn(server::serve(listener, public_routes.clone(), Some(acceptor.clone()), Some(ctx.gate.clone()), None, shutdown.clone())));
        }
    }
    let direct = server::sse::direct::Direct::new(ctx);
    for listener in listeners.public {
        servers.push(tokio::spawn(server::serve(listener, public_routes.clone(), None, Some(ctx.gate.clone()), Some(direct.clone()), shutdown.clone())));
    }
    servers
}
