//! One `/ws` client's side of the protocol (docs/PROTOCOL.md): what it sends
//! (subscribe, unsubscribe, pings, its close) and what each earns it.
//!
//! This is the connection's only task, and it sleeps until the client sends
//! something: events and heartbeats are written by the fan-out shard the
//! connection belongs to (`server/core/fanout.rs`). The closing handshake, in
//! whichever order it comes, is the [`Reader`]'s.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use tokio::time::Instant;

use crate::server::core::connection::{Connection, End, ReadSide};
use crate::server::core::Fanout;
use super::frame::{self, code, Inbound, Incoming};
use crate::hub::{frames, Since, Topic};
use crate::telemetry;

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ClientMessage {
    Subscribe {
        topics: Vec<String>,
        #[serde(default)]
        since: Option<SinceWire>,
    },
    Unsubscribe {
        topics: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
pub struct SinceWire {
    epoch: String,
    seq: u64,
}

impl ClientMessage {
    /// The wire parse, shared by the session and the `client_message` fuzz target.
    pub fn parse(text: &str) -> Result<ClientMessage, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The topics as written, and the resume point of a subscribe.
    pub fn into_parts(self) -> (Vec<String>, Option<Since>) {
        match self {
            ClientMessage::Subscribe { topics, since } => (topics, since.map(|s| Since { epoch: s.epoch, seq: s.seq })),
            ClientMessage::Unsubscribe { topics } => (topics, None),
        }
    }
}

/// Messages a client may send in a burst, and how fast the allowance refills.
const RATE_BURST: f64 = 20.0;
const RATE_PER_SEC: f64 = 2.0;

/// What the reader of one connection keeps.
pub struct Session {
    conn: Arc<Connection>,
    /// Token bucket against message floods.
    allowance: f64,
    last_refill: Instant,
    gauge: telemetry::TopicGauge,
}

/// Serves one connection from its first byte to its end. `leftover`: what
/// the client sent right behind its handshake.
pub async fn run(conn: Arc<Connection>, side: ReadSide, leftover: Bytes, hello: Bytes, fanout: Arc<Fanout>, url_topics: Vec<Topic>, shutting_down: bool) {
    conn.send(conn.message(&hello, None));
    drop(hello); // written (or queued as a view of its own): not kept for the session's life
    let shard = fanout.join(conn.clone());
    let mut session = Session { conn: conn.clone(), allowance: RATE_BURST, last_refill: Instant::now(), gauge: Default::default() };
    if !url_topics.is_empty() {
        session.subscribe(url_topics, None).await;
    }
    if shutting_down {
        conn.close(code::AWAY, "server shutting down", End::ServerShutdown);
    }
    session.read(Reader::new(&conn, side, &leftover)).await;
    session.gauge.clear();
    let end = fanout.leave(&conn, shard);
    tracing::debug!(?end, "WebSocket session ended");
}

/// The client's messages, read while the connection's replies are out; its
/// pings answered, and its closing handshake carried out (RFC 6455 §7) down to
/// the end of the TCP connection. Shared with `/ws/echo`.
///
/// - The client closes: the same code goes back (if it may be sent on the
///   wire: else the connection fails with 1002), and the handshake is done.
/// - The server closes (too slow, silent, shutdown): it reads on for the
///   client's close for [`Connection::close_grace`]; the client's close, or
///   the end of that wait, ends the handshake.
/// - A frame breaks the protocol: the connection fails (§7.1.7) with its code
///   (1002, 1007, 1009), and nothing more is processed, not even a close.
///
/// Each way, the server then closes TCP first, right behind its close frame
/// ([`Reader::hang_up`]).
pub struct Reader {
    side: ReadSide,
    incoming: Incoming,
    /// Set once the server has sent its close: the end of the wait for the client's.
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

/// What ended a [`Reader`]'s wait.
enum Woke {
    /// Bytes came in, the replies went out, or the server began its close.
    Read,
    /// The client closed TCP (or the socket failed).
    Gone,
    /// The client did not answer the server's close in time.
    GraceOver,
}

/// How long the server goes on reading, and dropping, what a client still
/// sends once the server has closed its side of TCP (see [`Reader::hang_up`]).
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

impl Reader {
    /// `leftover`: what the client sent right behind its handshake.
    pub fn new(conn: &Connection, side: ReadSide, leftover: &[u8]) -> Reader {
        let mut incoming = Incoming::new(conn.limits().max_message_bytes, conn.compressed);
        incoming.extend(leftover);
        Reader { side, incoming, deadline: None }
    }

    /// The next text or binary message; `None` once the connection is over
    /// (its TCP connection closed). Data that comes after the server's close
    /// is dropped.
    pub async fn next(&mut self, conn: &Arc<Connection>) -> Option<Inbound> {
        loop {
            // How long the server's close may take to go out, once the
            // handshake is over. (Nothing here is held across an await: an idle
            // connection's task stays small.)
            let over = match self.incoming.next_message() {
                Some(Ok(Inbound::Ping(payload))) => {
                    conn.send_control(frame::pong(&payload));
                    continue;
                }
                Some(Ok(Inbound::Pong)) => continue,
                Some(Ok(Inbound::Close(code_sent))) => {
                    // Answered with the same code, unless it answers ours.
                    conn.close(code_sent.unwrap_or(code::NORMAL), "", End::ClientClosed);
                    Some(conn.close_grace())
                }
                Some(Ok(_)) if conn.is_closing() => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(violation)) => {
                    let end = if violation.code == code::TOO_BIG { End::TooLarge } else { End::Protocol };
                    conn.close(violation.code, violation.reason, end);
                    Some(conn.close_grace())
                }
                None => None,
            };
            if let Some(wait) = over {
                self.hang_up(conn, wait).await;
                return None;
            }
            match self.wait(conn).await {
                Woke::Read => {}
                Woke::Gone => return None,
                Woke::GraceOver => {
                    // No close from the client in time: the server hangs up anyway.
                    self.hang_up(conn, std::time::Duration::ZERO).await;
                    return None;
                }
            }
        }
    }

    /// Waits for the client's next bytes (taken into `incoming`), but not while
    /// its replies are queued (flooding us only slows the flood), and not past
    /// the end of the wait for its close once the server has sent its own.
    async fn wait(&mut self, conn: &Arc<Connection>) -> Woke {
        let backlogged = self.deadline.is_none() && conn.backlogged();
        tokio::select! {
            read = conn.read(&mut self.side, |bytes| self.incoming.extend(bytes)), if !backlogged => match read {
                Ok(0) | Err(_) => Woke::Gone,
                Ok(_) => Woke::Read,
            },
            _ = conn.drained(), if backlogged => Woke::Read,
            _ = conn.closing(), if self.deadline.is_none() => {
                self.deadline = Some(Box::pin(tokio::time::sleep(conn.close_grace())));
                Woke::Read
            }
            _ = async { self.deadline.as_mut().expect("guarded").await }, if self.deadline.is_some() => Woke::GraceOver,
        }
    }

    /// Closes the server's side of TCP once its close frame is out (within
    /// `wait`): the server closes first (RFC 6455 §7.1.1), so the client sees
    /// the end of the stream right behind the close frame and need not wait.
    /// Then what the client still sends is read and dropped until it closes
    /// too, for at most [`LINGER`]: a socket closed with unread bytes sends a
    /// reset, and a reset can destroy the close frame before the client reads it.
    async fn hang_up(&mut self, conn: &Arc<Connection>, wait: std::time::Duration) {
        conn.end_writing(wait).await;
        let _ = tokio::time::timeout(LINGER, async {
            while let Ok(1..) = conn.read(&mut self.side, |_| {}).await {}
        })
        .await;
    }
}

impl Session {
    async fn read(&mut self, mut reader: Reader) {
        let conn = self.conn.clone();
        while let Some(message) = reader.next(&conn).await {
            match message {
                Inbound::Text(text) => self.on_text(&text).await,
                Inbound::Binary(_) => self.reject("bad_request", "binary messages are not part of this protocol; send JSON text"),
                // Control frames are the reader's: it never returns them.
                Inbound::Ping(_) | Inbound::Pong | Inbound::Close(_) => {}
            }
        }
    }

    async fn on_text(&mut self, text: &str) {
        if !self.take_allowance() {
            return self.reject("rate_limited", "too many messages; slow down");
        }
        let message = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                let message = format!("not a valid message ({e}); expected {{\"type\":\"subscribe\",\"topics\":[…]}}");
                return self.reject("bad_request", &message);
            }
        };
        let limit = self.conn.limits().max_topics_per_client;
        let subscribing = matches!(message, ClientMessage::Subscribe { .. });
        let (topics, since) = message.into_parts();
        let parsed = match super::super::api::check_topics(topics.iter().map(String::as_str), limit) {
            Ok(t) => t,
            Err((code, message)) => return self.reject(code, &message),
        };
        if !subscribing {
            let mut state = self.conn.lock();
            state.sub.remove(&parsed);
            self.gauge.update(&state.sub);
            return;
        }
        let over = {
            let state = self.conn.lock();
            let new = parsed.iter().filter(|t| !state.sub.contains(t)).count();
            state.sub.len() + new > limit
        };
        if over {
            return self.reject("too_many_topics", &format!("at most {limit} topics per connection"));
        }
        self.subscribe(parsed, since).await;
    }

    async fn subscribe(&mut self, topics: Vec<Topic>, since: Option<Since>) {
        self.conn.subscribe(&topics, since, &mut self.gauge).await;
    }

    /// Answers a bad message with an error frame (and counts it); the
    /// connection stays open.
    fn reject(&mut self, code: &'static str, message: &str) {
        metrics::counter!(telemetry::INBOUND_ERRORS, "code" => code).increment(1);
        self.conn.send(self.conn.message(&frames::error(code, message), None));
    }

    fn take_allowance(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last_refill).as_secs_f64() * RATE_PER_SEC;
        self.allowance = (self.allowance + refill).min(RATE_BURST);
        self.last_refill = now;
        if self.allowance >= 1.0 {
            self.allowance -= 1.0;
            true
        } else {
            false
        }
    }
}
