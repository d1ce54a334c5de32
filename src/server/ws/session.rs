//! One `/ws` client's side of the protocol (docs/PROTOCOL.md): what it sends
//! (subscribe, unsubscribe, pings, its close) and what each earns it.
//!
//! This is the connection's only task, and it sleeps until the client sends
//! something: events and heartbeats are written by the fan-out shard the
//! connection belongs to (`server/core/fanout.rs`). When the server closes the
//! connection (too slow, silent, shutdown), the task reads on for one
//! `send_timeout` so the client's close can be taken, then lets go.

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

/// Whether the reader goes on after a message.
pub enum Next {
    Read,
    Stop,
}

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

/// The client's messages, read while the connection's replies are out, and
/// for one grace period once it is closing. Shared with `/ws/echo`.
pub struct Reader {
    side: ReadSide,
    incoming: Incoming,
    /// Set once the connection is closing: when the reading stops.
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Reader {
    /// `leftover`: what the client sent right behind its handshake.
    pub fn new(conn: &Connection, side: ReadSide, leftover: &[u8]) -> Reader {
        let mut incoming = Incoming::new(conn.limits().max_message_bytes, conn.compressed);
        incoming.extend(leftover);
        Reader { side, incoming, deadline: None }
    }

    /// The next message; `None` once the connection is over. A message that
    /// breaks the protocol closes the connection with its code.
    pub async fn next(&mut self, conn: &Arc<Connection>) -> Option<Inbound> {
        loop {
            match self.incoming.next_message() {
                Some(Ok(message)) => return Some(message),
                Some(Err(violation)) => {
                    let end = if violation.code == code::TOO_BIG { End::TooLarge } else { End::Protocol };
                    conn.close(violation.code, violation.reason, end);
                    // Nothing more is parsed; the client gets the grace period to close.
                    self.discard_until_closed(conn, conn.close_grace()).await;
                    return None;
                }
                None => {}
            }
            // A client whose replies are still queued is not read until they are
            // out: flooding us only slows the flood.
            let backlogged = self.deadline.is_none() && conn.backlogged();
            tokio::select! {
                read = conn.read(&mut self.side, |bytes| self.incoming.extend(bytes)), if !backlogged => match read {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                },
                _ = conn.drained(), if backlogged => {}
                _ = conn.closing(), if self.deadline.is_none() => self.deadline = Some(Box::pin(tokio::time::sleep(conn.close_grace()))),
                _ = async { self.deadline.as_mut().expect("guarded").await }, if self.deadline.is_some() => return None,
            }
        }
    }

    async fn discard_until_closed(&mut self, conn: &Arc<Connection>, grace: std::time::Duration) {
        let _ = tokio::time::timeout(grace, async {
            while let Ok(1..) = conn.read(&mut self.side, |_| {}).await {}
        })
        .await;
    }
}

/// The answer to a client's close: the same code back, then the connection ends.
pub fn answer_close(conn: &Arc<Connection>, code_sent: Option<u16>) -> Next {
    if conn.is_closing() {
        return Next::Stop; // our close, answered
    }
    conn.close(code_sent.filter(|c| (1000..5000).contains(c)).unwrap_or(code::NORMAL), "", End::ClientClosed);
    Next::Read
}

impl Session {
    async fn read(&mut self, mut reader: Reader) {
        let conn = self.conn.clone();
        while let Some(message) = reader.next(&conn).await {
            match message {
                Inbound::Text(text) if !conn.is_closing() => self.on_text(&text).await,
                Inbound::Binary(_) if !conn.is_closing() => self.reject("bad_request", "binary messages are not part of this protocol; send JSON text"),
                Inbound::Ping(payload) => conn.send_control(frame::pong(&payload)),
                Inbound::Close(code_sent) => {
                    if let Next::Stop = answer_close(&conn, code_sent) {
                        return;
                    }
                }
                Inbound::Text(_) | Inbound::Binary(_) | Inbound::Pong => {}
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
