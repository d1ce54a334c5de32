//! One WebSocket client: the protocol of DESIGN.md / docs/PROTOCOL.md.
//!
//! A session is one task that waits on three things: the client's messages, the
//! hub's broadcast, and a heartbeat timer. It holds no queue of its own: the
//! broadcast channel is the queue (bounded, shared by all clients), a client
//! that falls behind it is resynced with a snapshot, and a client whose socket
//! will not take a frame within `send_timeout` is closed with 1013.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::upgrade::Socket;
use crate::config::Limits;
use crate::hub::{frames, now_ms, Catchup, Hub, Since, Subscription, Topic};
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

/// Why a session ended, for the log (read through `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
enum End {
    ClientClosed,
    Silent,
    TooSlow,
    TooLarge,
    SocketError(String),
    HubClosed,
    ServerShutdown,
}

/// Messages a client may send in a burst, and how fast the allowance refills.
const RATE_BURST: f64 = 20.0;
const RATE_PER_SEC: f64 = 2.0;

pub async fn run(socket: Socket, hub: Arc<Hub>, limits: Limits, shutdown: watch::Receiver<bool>, url_topics: Vec<Topic>) {
    metrics::counter!(telemetry::CONNECTIONS).increment(1);
    metrics::gauge!(telemetry::CONNECTIONS_OPEN).increment(1.0);
    telemetry::WS_CLIENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut session = Session::new(socket, hub, limits);
    let end = session.serve(url_topics, shutdown).await;
    session.sub = Subscription::default();
    session.count_topics();
    metrics::gauge!(telemetry::CONNECTIONS_OPEN).decrement(1.0);
    telemetry::WS_CLIENTS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    let reason = match end {
        End::Silent => Some("silent"),
        End::TooSlow => Some("slow"),
        End::TooLarge => Some("too_large"),
        End::ServerShutdown | End::HubClosed => Some("shutdown"),
        End::ClientClosed | End::SocketError(_) => None,
    };
    if let Some(reason) = reason {
        metrics::counter!(telemetry::CLIENTS_CLOSED, "reason" => reason).increment(1);
    }
    tracing::debug!(?end, "WebSocket session ended");
}

/// Counters on the hot path, looked up once rather than per frame.
static FRAMES_SENT: LazyLock<metrics::Counter> = LazyLock::new(|| metrics::counter!(telemetry::FRAMES_SENT));
static BYTES_SENT: LazyLock<metrics::Counter> = LazyLock::new(|| metrics::counter!(telemetry::BYTES_SENT));

/// Topic kinds, the only subscription label (topics themselves are unbounded).
const TOPIC_KINDS: [&str; 5] = ["all", "league", "feed", "game", "team"];

fn topic_kind(t: &Topic) -> usize {
    match t {
        Topic::All => 0,
        Topic::League(_) => 1,
        Topic::Feed(_) => 2,
        Topic::Game(_) => 3,
        Topic::Team { .. } => 4,
    }
}

struct Session {
    socket: Socket,
    hub: Arc<Hub>,
    limits: Limits,
    sub: Subscription,
    /// Token bucket against message floods.
    allowance: f64,
    last_refill: Instant,
    /// Topics per kind as last reported to the subscriptions gauge.
    counted: [i64; 5],
}

impl Session {
    fn new(socket: Socket, hub: Arc<Hub>, limits: Limits) -> Session {
        Session { socket, hub, limits, sub: Subscription::default(), allowance: RATE_BURST, last_refill: Instant::now(), counted: [0; 5] }
    }

    async fn serve(&mut self, url_topics: Vec<Topic>, mut shutdown: watch::Receiver<bool>) -> End {
        let heartbeat = self.limits.heartbeat;
        let (hello, _, mut events) = self.hub.connect(heartbeat.as_secs().max(1));
        if let Err(end) = self.send(hello).await {
            return end;
        }
        if !url_topics.is_empty() {
            if let Err(end) = self.subscribe(url_topics, None).await {
                return end;
            }
        }
        if *shutdown.borrow() {
            self.close(CloseCode::Away, "server shutting down").await;
            return End::ServerShutdown;
        }
        let mut ticker = interval_at(Instant::now() + heartbeat, heartbeat);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();

        loop {
            tokio::select! {
                inbound = self.socket.next() => {
                    last_heard = Instant::now();
                    match inbound {
                        None => return End::ClientClosed,
                        Some(Ok(Message::Close(_))) => {
                            let _ = self.socket.close(None).await;
                            return End::ClientClosed;
                        }
                        Some(Ok(Message::Text(text))) => {
                            if let Err(end) = self.on_text(text.as_str()).await {
                                return end;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            if let Err(end) = self.reject("bad_request", "binary messages are not part of this protocol; send JSON text").await {
                                return end;
                            }
                        }
                        Some(Ok(_)) => {} // ping (answered by tungstenite), pong, raw frames
                        Some(Err(WsError::Capacity(_))) => {
                            self.close(CloseCode::Size, "message too large").await;
                            return End::TooLarge;
                        }
                        Some(Err(e)) => return End::SocketError(e.to_string()),
                    }
                }
                published = events.recv() => match published {
                    Ok(p) => {
                        if let Some(frame) = p.ws_frame_for(&self.sub) {
                            if let Err(end) = self.write_frame(frame).await {
                                return end;
                            }
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "client fell behind the broadcast; resyncing with a snapshot");
                        metrics::counter!(telemetry::RESYNCS).increment(1);
                        let snapshot = self.hub.resync(&mut self.sub);
                        if let Err(end) = self.send(snapshot).await {
                            return end;
                        }
                    }
                    Err(RecvError::Closed) => {
                        // The hub began a new history (cluster mode: a new epoch, or a
                        // resync past the stream); shutdown comes through `shutdown`.
                        self.close(CloseCode::Away, "history restarted; reconnect with since").await;
                        return End::HubClosed;
                    }
                },
                _ = shutdown.changed() => {
                    // The flag only ever turns true; a dropped sender means the same.
                    self.close(CloseCode::Away, "server shutting down").await;
                    return End::ServerShutdown;
                }
                _ = ticker.tick() => {
                    if last_heard.elapsed() > heartbeat * 2 {
                        self.close(CloseCode::Policy, "no traffic for two heartbeats").await;
                        return End::Silent;
                    }
                    // A WebSocket ping for liveness, and an application heartbeat
                    // for browsers, whose JavaScript never sees pings.
                    if let Err(end) = self.send_message(Message::Ping(Bytes::new())).await {
                        return end;
                    }
                    if let Err(end) = self.send(frames::heartbeat(self.hub.seq(), now_ms())).await {
                        return end;
                    }
                }
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        if !self.take_allowance() {
            return self.reject("rate_limited", "too many messages; slow down").await;
        }
        let message = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                let message = format!("not a valid message ({e}); expected {{\"type\":\"subscribe\",\"topics\":[…]}}");
                return self.reject("bad_request", &message).await;
            }
        };
        match message {
            ClientMessage::Subscribe { topics, since } => {
                let parsed = match self.parse_topics(&topics) {
                    Ok(t) => t,
                    Err((code, message)) => return self.reject(code, &message).await,
                };
                let new = parsed.iter().filter(|t| !self.sub.contains(t)).count();
                if self.sub.len() + new > self.limits.max_topics_per_client {
                    let message = format!("at most {} topics per connection", self.limits.max_topics_per_client);
                    return self.reject("too_many_topics", &message).await;
                }
                let since = since.map(|s| Since { epoch: s.epoch, seq: s.seq });
                self.subscribe(parsed, since).await
            }
            ClientMessage::Unsubscribe { topics } => {
                let parsed = match self.parse_topics(&topics) {
                    Ok(t) => t,
                    Err((code, message)) => return self.reject(code, &message).await,
                };
                self.sub.remove(&parsed);
                self.count_topics();
                Ok(())
            }
        }
    }

    fn parse_topics(&self, topics: &[String]) -> Result<Vec<Topic>, (&'static str, String)> {
        super::api::check_topics(topics.iter().map(String::as_str), self.limits.max_topics_per_client)
    }

    /// Answers a bad message with an error frame (and counts it); the
    /// connection stays open.
    async fn reject(&mut self, code: &'static str, message: &str) -> Result<(), End> {
        metrics::counter!(telemetry::INBOUND_ERRORS, "code" => code).increment(1);
        self.send(frames::error(code, message)).await
    }

    /// Brings the subscriptions gauge in line with this client's topics.
    fn count_topics(&mut self) {
        let mut now = [0i64; 5];
        for t in self.sub.topics() {
            now[topic_kind(t)] += 1;
        }
        for (kind, (new, old)) in now.iter().zip(self.counted).enumerate() {
            if *new != old {
                metrics::gauge!(telemetry::SUBSCRIPTIONS, "kind" => TOPIC_KINDS[kind]).increment((new - old) as f64);
            }
        }
        self.counted = now;
    }

    async fn subscribe(&mut self, topics: Vec<Topic>, since: Option<Since>) -> Result<(), End> {
        if let Some(since) = &since {
            self.hub.catch_up_to(since).await;
        }
        let catchup = self.hub.subscribe(&mut self.sub, &topics, since.as_ref());
        self.count_topics();
        match catchup {
            Catchup::Snapshot(frame) => self.send(frame).await,
            Catchup::Replay(Some(frame)) => self.send(frame).await,
            Catchup::Replay(None) => Ok(()),
        }
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

    /// Sends one JSON frame built for this client alone (hello, snapshot, error…).
    async fn send(&mut self, json: Bytes) -> Result<(), End> {
        self.write_frame(frames::ws_text(&json)).await
    }

    /// Writes a ready WebSocket frame straight to the connection. Broadcast frames
    /// are encoded once in the hub and the same bytes go to every client; going
    /// around tungstenite's writer also means no per-client copy and no write
    /// buffer that keeps the largest frame ever sent alive for the connection's life.
    async fn write_frame(&mut self, frame: Bytes) -> Result<(), End> {
        let len = frame.len() as u64;
        let send_timeout = self.limits.send_timeout;
        // How much of the frame the socket took, kept if the write times out.
        let mut written = 0;
        let result = {
            let socket = &mut self.socket;
            let written = &mut written;
            let frame = &frame;
            let write = async move {
                // tungstenite may still hold part of a pong or close frame it wrote
                // itself: finish that first, so our frame never lands inside another.
                socket.flush().await.map_err(|e| End::SocketError(e.to_string()))?;
                while *written < frame.len() {
                    match socket.get_mut().write(&frame[*written..]).await {
                        Ok(0) => return Err(End::SocketError("the socket took no bytes".into())),
                        Ok(n) => *written += n,
                        Err(e) => return Err(End::SocketError(e.to_string())),
                    }
                }
                Ok(())
            };
            let mut write = std::pin::pin!(write);
            // Almost every frame fits in the socket's buffer at once: try that first,
            // and arm the send timeout (a timer per frame otherwise) only for a
            // client whose buffer is full.
            match (&mut write).now_or_never() {
                Some(result) => Some(result),
                None => tokio::time::timeout(send_timeout, write).await.ok(),
            }
        };
        let Some(result) = result else {
            tracing::info!("client did not read for {send_timeout:?}; closing with 1013");
            self.close_too_slow(frame.slice(written..)).await;
            return Err(End::TooSlow);
        };
        result?;
        FRAMES_SENT.increment(1);
        BYTES_SENT.increment(len);
        Ok(())
    }

    /// Control frames (pings) go through tungstenite, which owns the protocol state.
    async fn send_message(&mut self, message: Message) -> Result<(), End> {
        match tokio::time::timeout(self.limits.send_timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(End::SocketError(e.to_string())),
            Err(_) => {
                // tungstenite keeps the unsent part of its frame and sends it before the close.
                self.close(CloseCode::Again, "too slow: not reading").await;
                Err(End::TooSlow)
            }
        }
    }

    /// Closes a client that stopped reading with 1013, at a frame boundary: the
    /// rest of the frame under way (`rest`, a view of the shared bytes, not a
    /// copy) goes first, so the close frame is not read as part of it. The client
    /// gets one more `send_timeout` to take both; one that still reads nothing
    /// is dropped, and if it ever reads again it finds the stream ending inside
    /// a frame (browsers report 1006).
    async fn close_too_slow(&mut self, rest: Bytes) {
        let grace = self.limits.send_timeout;
        let finished = tokio::time::timeout(grace, self.socket.get_mut().write_all(&rest)).await;
        if matches!(finished, Ok(Ok(()))) {
            self.close(CloseCode::Again, "too slow: not reading").await;
            // Closing the socket now would reset the connection at the client's
            // next pong and throw away what the kernel still holds for it (the
            // close frame too): wait for its close frame, as the protocol says.
            let _ = tokio::time::timeout(grace, async {
                while let Some(Ok(message)) = self.socket.next().await {
                    if let Message::Close(_) = message {
                        break;
                    }
                }
            })
            .await;
        }
    }

    /// Best-effort close: a peer that is not reading may never take the frame.
    async fn close(&mut self, code: CloseCode, reason: &'static str) {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = tokio::time::timeout(Duration::from_secs(1), self.socket.close(Some(frame))).await;
    }
}
