//! A TCP proxy between one node and Redis, to break the path between them the
//! ways a network does: cut it (every connection reset, new ones refused),
//! delay it (each byte forwarded a fixed time after it arrived, both ways),
//! or black-hole it (nothing forwarded, nothing refused, nothing closed:
//! silence). Bytes held by a black hole are delivered, in order, once the path
//! is open again — as TCP retransmissions would after a partition heals — so a
//! command sent into the hole reaches Redis late, after its sender gave up on it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Path {
    Open,
    /// Each chunk leaves this long after it came in, in each direction.
    Delay(Duration),
    /// Nothing passes; connections stay open and new ones are accepted.
    BlackHole,
    /// Every connection reset, and new ones reset at once.
    Cut,
}

pub struct Proxy {
    pub port: u16,
    path: watch::Sender<Path>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port and forwards to `target_port` on 127.0.0.1.
    pub async fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (path, rx) = watch::channel(Path::Open);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let rx = rx.clone();
                tokio::spawn(connection(client, target_port, rx));
            }
        });
        Proxy { port, path, accept }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn set(&self, path: Path) {
        self.path.send_replace(path);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set(Path::Cut);
    }
}

async fn connection(client: TcpStream, target_port: u16, path: watch::Receiver<Path>) {
    let _ = client.set_nodelay(true);
    if *path.borrow() == Path::Cut {
        // Dropped with linger 0, a socket is reset (RST), not closed (FIN).
        let _ = client.set_zero_linger();
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else { return };
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = tokio::spawn(pump(client_read, server_write, path.clone()));
    let down = tokio::spawn(pump(server_read, client_write, path));
    let _ = tokio::join!(up, down);
}

/// Copies one direction as the path allows; returns when the reader ends or
/// the path is cut.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut path: watch::Receiver<Path>) {
    if !copy(&mut from, &mut to, &mut path).await {
        // Cut: both sockets are reset (RST) when closed, not closed in order.
        let _ = from.as_ref().set_zero_linger();
        let _ = to.as_ref().set_zero_linger();
    }
}

/// The copy loop of [`pump`]; false when the path was cut.
async fn copy(from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf, path: &mut watch::Receiver<Path>) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if !passable(path).await {
            return false;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    // Held bytes went first; now the end of the stream follows them.
                    let _ = to.shutdown().await;
                    return true;
                }
                Ok(n) => n,
            },
            _ = cut(path) => return false,
        };
        let arrived = Instant::now();
        // A chunk read just before the hole opened is held in it too.
        if !passable(path).await {
            return false;
        }
        let delay = match *path.borrow() {
            Path::Delay(d) => Some(d),
            _ => None,
        };
        if let Some(d) = delay {
            tokio::select! {
                _ = tokio::time::sleep_until(arrived + d) => {}
                _ = cut(path) => return false,
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return true;
        }
    }
}

/// Waits while the path is a black hole; false once it is cut.
async fn passable(path: &mut watch::Receiver<Path>) -> bool {
    match path.wait_for(|p| *p != Path::BlackHole).await {
        Ok(p) => *p != Path::Cut,
        Err(_) => false,
    }
}

/// Resolves when the path is cut.
async fn cut(path: &mut watch::Receiver<Path>) {
    let _ = path.wait_for(|p| *p == Path::Cut).await;
}
