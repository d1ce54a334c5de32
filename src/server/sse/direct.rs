//! `/sse` on the connection core: an event stream asked for as a plain TCP
//! connection's first request is answered here, not through hyper, and its
//! socket joins the fan-out like a WebSocket's (`server/core`): each
//! event written once for all, straight to the socket, a queue only while it
//! is full. A stalled SSE client then costs what a stalled WebSocket client
//! costs, instead of hyper's connection state, buffers and a task.
//!
//! The accept loop peeks at the first bytes of each plain connection. Only a
//! complete `GET /sse` head that passes the same checks as the hyper route
//! ([`super::request`]) and the `Host` rule of every listener
//! ([`crate::server::semantics::host_rule`]) is taken; everything else (another
//! path, a head split over packets, a bad topic, a refused origin, a missing or
//! repeated `Host`, TLS, a later request on a kept-alive connection) goes to
//! hyper untouched, which answers it as before.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::{request, retry_jitter};
use crate::hub::{Since, Topic};
use crate::server::guards::Admission;
use crate::server::core::connection::{Connection, End, ReadSide, Role, Transport};
use crate::server::ws::frame::code;
use crate::server::{OpenClient, ServerContext};

/// The response head: no length, no chunking; the stream ends when the
/// connection does.
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nx-accel-buffering: no\r\naccess-control-allow-origin: *\r\nconnection: close\r\n\r\n";

/// How an event stream's request starts.
const START: &[u8; 8] = b"GET /sse";

/// The most of a request head we look at; a longer one goes to hyper.
const PEEK_BYTES: usize = 4096;

/// Takes `/sse` connections for the connection core (see the module docs).
pub struct Direct {
    ctx: ServerContext,
}

impl Direct {
    pub fn new(ctx: &ServerContext) -> Arc<Direct> {
        Arc::new(Direct { ctx: ctx.clone() })
    }

    /// Serves the connection here if it opens with an `/sse` request we take;
    /// otherwise hands it back, unread.
    pub async fn take(&self, mut stream: TcpStream, admission: Option<Admission>) -> Result<(), (TcpStream, Option<Admission>)> {
        // The first bytes decide, without a buffer for every connection: only
        // one that starts like an /sse request gets its head looked at.
        let mut start = [0u8; START.len()];
        match tokio::time::timeout(crate::server::HEAD_TIMEOUT, stream.peek(&mut start)).await {
            Ok(Ok(n)) if n == START.len() && start == *START => {}
            Ok(Ok(n)) if n > 0 => return Err((stream, admission)),
            // Silent for as long as hyper would have waited for a head, or gone.
            _ => return Ok(()),
        }
        let Some((head_len, topics, since)) = self.peek(&stream).await else { return Err((stream, admission)) };
        // The head is in the socket's buffer: read it off.
        let mut head = vec![0u8; head_len];
        if stream.read_exact(&mut head).await.is_err() {
            return Ok(());
        }
        drop(head);
        // The stream's own task, sized for it alone: this one (sized for
        // hyper's connection too) ends here, and lets go of the socket.
        crate::server::core::connection::release_wakers(&stream);
        tokio::spawn(stream_events(self.ctx.clone(), stream, topics, since, admission));
        Ok(())
    }

    /// The request, if the connection's first bytes are a whole `/sse` head we take.
    async fn peek(&self, stream: &TcpStream) -> Option<(usize, Vec<Topic>, Option<Since>)> {
        let mut buf = vec![0u8; PEEK_BYTES];
        let n = stream.peek(&mut buf).await.ok()?;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let head_len = match req.parse(&buf[..n]) {
            Ok(httparse::Status::Complete(len)) => len,
            _ => return None,
        };
        let (path, query) = req.path?.split_once('?').unwrap_or((req.path?, ""));
        if req.method? != "GET" || path != "/sse" {
            return None;
        }
        let header = |name: &str| req.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(h.value).ok());
        if header("upgrade").is_some() {
            return None;
        }
        // A request the Host rule refuses is hyper's to answer (400), as on every listener.
        let hosts = req.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("host")).map(|h| h.value);
        crate::server::semantics::host_rule(req.version? == 1, hosts).ok()?;
        let (topics, since) = request(&self.ctx, query, header("last-event-id"), header("origin")).ok()?;
        Some((head_len, topics, since))
    }
}

/// One event stream, from its response head to its end.
async fn stream_events(ctx: ServerContext, stream: TcpStream, topics: Vec<Topic>, since: Option<Since>, admission: Option<Admission>) {
    let shared = ctx.fanout.shared.clone();
    let (hello, generation) = shared.hub.hello(shared.limits.heartbeat.as_secs().max(1));
    let (conn, side) = Connection::new(Ok(stream), Role::Subscriber, Transport::EventStream, generation, shared);
    let open = OpenClient::sse(&ctx.subscribers);
    conn.send_control(Bytes::from_static(HEAD));
    let (head, tail) = super::event_head(None, Some(retry_jitter()));
    conn.send(crate::server::core::connection::Outgoing::parts(head, hello, tail));
    let shard = ctx.fanout.join(conn.clone());
    let mut gauge = crate::telemetry::TopicGauge::default();
    conn.subscribe(&topics, since, &mut gauge).await;
    if *ctx.shutdown.borrow() {
        conn.close(code::AWAY, "server shutting down", End::ServerShutdown);
    }
    wait_for_the_end(&conn, side).await;
    gauge.clear();
    let end = ctx.fanout.leave(&conn, shard);
    if end == Some(End::TooSlow) {
        tracing::info!("SSE client did not read for {:?}; closing its connection", ctx.limits.send_timeout);
    }
    drop(open);
    drop(admission);
    tracing::debug!(?end, "SSE stream ended");
}

/// An event stream's client sends nothing after its request: read (and drop)
/// until it hangs up, or until the server ends the stream.
async fn wait_for_the_end(conn: &Arc<Connection>, mut side: ReadSide) {
    loop {
        tokio::select! {
            read = conn.read(&mut side, |_| {}) => if !matches!(read, Ok(1..)) { return },
            _ = conn.closing() => return,
        }
    }
}
