//! Binding the listeners: the public ones accept on every core.
//!
//! A reconnect storm (thousands of clients coming back at once) is bound by
//! accepting: one listening socket has one accept queue, drained by one accept
//! loop, and SYNs that find the queue full are dropped (the clients wait out 1 s,
//! 3 s, 7 s retries). So a public address gets one `SO_REUSEPORT` socket per core,
//! each with its own queue and its own accept loop ([`serve`](super::serve)): the
//! kernel spreads incoming connections over the sockets' queues by a hash of the
//! client's address and port, and accepting runs on every core.
//!
//! `SO_REUSEPORT` lets only sockets of the same user share a port, and a port
//! held by another program without it still fails to bind, as before. A second
//! copy of the service started by the same user on the same port would share it
//! rather than fail: the price of the option.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// How many connections may wait to be accepted, per socket. tokio's
/// `TcpListener::bind` asks for 128, which a reconnect storm of thousands of
/// clients overflows; the kernel caps this at `net.core.somaxconn` anyway.
pub const LISTEN_BACKLOG: u32 = 4096;

/// How many sockets a public address gets: four per core the process may
/// use. One per core spreads accepting over the cores; four gives a reconnect
/// storm four times the queue (each socket has its own `LISTEN_BACKLOG`):
/// measured at 19,000 clients reconnecting at once on 2 cores, one per core
/// still overflowed 924-3,803 times, four per core none.
pub const SOCKETS_PER_CORE: usize = 4;

pub fn sockets_per_address() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) * SOCKETS_PER_CORE
}

/// One listening socket on `addr`. `key` is the config key that named the
/// address, for the error message.
pub fn bind(addr: SocketAddr, key: &str) -> Result<TcpListener, String> {
    bind_socket(addr, key, false)
}

/// `count` listening sockets sharing `addr` (`SO_REUSEPORT`), at least one. With
/// port 0 the first socket picks the port and the others join it.
pub fn bind_shared(addr: SocketAddr, key: &str, count: usize) -> Result<Vec<TcpListener>, String> {
    let first = bind_socket(addr, key, true)?;
    let port = first.local_addr().map_err(|e| format!("cannot listen on {addr} ({key}): {e}"))?.port();
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(bind_socket(SocketAddr::new(addr.ip(), port), key, true)?);
    }
    Ok(listeners)
}

fn bind_socket(addr: SocketAddr, key: &str, shared: bool) -> Result<TcpListener, String> {
    let fail = |e: std::io::Error| format!("cannot listen on {addr} ({key}): {e}");
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(fail)?;
    // A restarted service can bind again while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true).map_err(fail)?;
    if shared {
        socket.set_reuseport(true).map_err(fail)?;
    }
    socket.bind(addr).map_err(fail)?;
    socket.listen(LISTEN_BACKLOG).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Each of the shared sockets accepts some of the connections: the kernel
    /// spreads them (by source port here, every client being 127.0.0.1).
    #[tokio::test]
    async fn every_shared_socket_accepts() {
        const SOCKETS: usize = 3;
        const CLIENTS: usize = 96;
        let listeners = bind_shared("127.0.0.1:0".parse().unwrap(), "listen", SOCKETS).unwrap();
        let addr = listeners[0].local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let counts: Arc<Vec<AtomicUsize>> = Arc::new((0..SOCKETS).map(|_| AtomicUsize::new(0)).collect());
        let total = Arc::new(tokio::sync::Semaphore::new(0));
        for (i, listener) in listeners.into_iter().enumerate() {
            assert_eq!(listener.local_addr().unwrap(), addr, "every socket on the first one's port");
            let (counts, total) = (counts.clone(), total.clone());
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((stream, _)) = listener.accept().await {
                    held.push(stream);
                    counts[i].fetch_add(1, Ordering::SeqCst);
                    total.add_permits(1);
                }
            });
        }
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        let _all = total.acquire_many(CLIENTS as u32).await.unwrap();
        let counts: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        assert_eq!(counts.iter().sum::<usize>(), CLIENTS);
        assert!(counts.iter().all(|&c| c > 0), "every socket accepted at least one connection: {counts:?}");
    }

    /// A port another socket holds without `SO_REUSEPORT` still fails, naming the key.
    #[tokio::test]
    async fn a_port_in_use_fails_with_the_key() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind_shared(addr, "tls.listen", 2).unwrap_err();
        assert!(err.starts_with(&format!("cannot listen on {addr} (tls.listen): ")), "{err}");
        let err = bind(addr, "admin.listen").unwrap_err();
        assert!(err.starts_with(&format!("cannot listen on {addr} (admin.listen): ")), "{err}");
    }
}
