//! The service assembled: config → pollers → diff → hub → server, plus the
//! daemon's life: state restored at start and saved after changes, reloads,
//! graceful shutdown, and what systemd is told along the way.
//!
//! This is the only module that knows every stage; each stage knows only the
//! plain type the one before it hands over (`FeedUpdate`, `Event`, frames).
//!
//! - [`start`]: binds the listeners and starts the hub, the pipeline (or the
//!   cluster) and the servers;
//! - `supervisor`: the task that owns it all afterwards: reloads (SIGHUP, a
//!   changed feeds directory), status, the orderly stop;
//! - `pipeline`: a single node's pipeline task (feeds → diff → its hub);
//! - `persistence`: the state file, read at start and written after changes;
//! - `signals`: [`Running::run_until_signal`], the daemon's main loop.

mod persistence;
mod pipeline;
mod signals;
mod start;
mod supervisor;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::feeds::HealthBoard;
use crate::hub::Hub;
use crate::server;
pub use start::start;

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

/// What [`Running`] asks of the supervisor.
enum Control {
    Reload(oneshot::Sender<Result<String, String>>),
    Stop(oneshot::Sender<()>),
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
}
