//! One WebSocket connection as everyone who writes to it sees it: the fan-out
//! shard (events, heartbeats), the client's own reader (replies), and, only
//! while the socket is full, a drain task.
//!
//! Writing is "try first, queue only if needed": a frame goes straight to the
//! kernel with one non-blocking `write()` when nothing is queued before it.
//! Only a socket that would block, or took part of a frame, gets a queue and a
//! task to drain it, so an idle, caught-up subscriber costs no task wake-up and
//! no allocation per event. All writes go through one lock, so frames never
//! interleave and each connection sees its frames in order.
//!
//! The queue is bounded like the broadcast it replaces: a client more than
//! `limits.broadcast_capacity` events behind drops them and gets a fresh
//! snapshot once it has taken what is under way; a client whose socket takes
//! nothing for `limits.send_timeout` gets the rest of the frame under way, a
//! close with 1013, and one more `send_timeout` before it is dropped.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::server::ws::deflate::Window;
use crate::server::ws::frame::{self, code};
use crate::config::Limits;
use crate::hub::{Catchup, Hub, Since, Subscription, Topic};
use crate::telemetry;

/// A connection that is not plain TCP (TLS): read and written through its halves.
pub type Io = TokioIo<hyper::upgrade::Upgraded>;

/// Where the bytes go.
enum Wire {
    /// Plain TCP: any writer may try a non-blocking write.
    Tcp(TcpStream),
    /// TLS: every frame is encrypted for this client alone, by its drain task.
    Stream(tokio::sync::Mutex<WriteHalf<Io>>),
}

/// The connection's read side, owned by its reader.
pub enum ReadSide {
    Tcp,
    Stream(ReadHalf<Io>),
}

/// How messages are framed on the connection: the only thing WebSocket and
/// Server-Sent Events subscribers do differently here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket frames, deflated with this window when permessage-deflate was agreed.
    WebSocket { deflate: Option<Window> },
    /// `text/event-stream` events, with `id: <epoch>:<seq>` when they move the client.
    EventStream,
}

/// What the connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `/ws`: events, heartbeats.
    Subscriber,
    /// `/ws/echo`: pings only; the reader echoes.
    Echo,
}

/// Why a connection ended, for the log and `scoreticker_clients_closed_total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    ClientClosed,
    Silent,
    TooSlow,
    TooLarge,
    Protocol,
    SocketError,
    HubRestarted,
    ServerShutdown,
}

impl End {
    /// The `reason` label, for ends the server chose.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            End::Silent => Some("silent"),
            End::TooSlow => Some("slow"),
            End::TooLarge => Some("too_large"),
            End::Protocol => Some("protocol"),
            End::ServerShutdown | End::HubRestarted => Some("shutdown"),
            End::ClientClosed | End::SocketError => None,
        }
    }
}

/// One message as written: up to three pieces, so that a message made for
/// one client (its snapshot, say) goes out as a small header and the JSON
/// itself, with no copy of the JSON into a frame.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    parts: [Bytes; 3],
}

impl Outgoing {
    pub fn parts(a: Bytes, b: Bytes, c: Bytes) -> Outgoing {
        Outgoing { parts: [a, b, c] }
    }

    fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }
}

impl From<Bytes> for Outgoing {
    fn from(frame: Bytes) -> Outgoing {
        Outgoing { parts: [frame, Bytes::new(), Bytes::new()] }
    }
}

/// What the writers share, under the connection's lock.
#[derive(Debug, Default)]
pub struct State {
    /// The client's topics (read by the shard for every event).
    pub sub: Subscription,
    queue: VecDeque<Piece>,
    /// A drain task owns the socket's writes until `queue` is empty.
    draining: bool,
    /// Frames at the queue's front handed to the write under way: they stay
    /// queued whatever is dropped, or the bytes written would be miscounted.
    in_flight: usize,
    /// Events were dropped for a full queue: a snapshot follows the queue.
    lagged: bool,
    /// A close frame is queued: nothing more is written.
    closing: bool,
    end: Option<End>,
}

impl State {
    /// Drops the queue but for what is being written: the write under way, or
    /// a frame already partly written, each to its last piece (a frame is never cut).
    fn keep_under_way(&mut self) {
        let mut keep = self.in_flight.max(1).min(self.queue.len());
        while self.queue.get(keep).is_some_and(|piece| !piece.starts) {
            keep += 1;
        }
        self.queue.truncate(keep);
    }
}

/// Queued bytes: a whole frame (or SSE event), or one of the pieces a message
/// made for one client goes out in ([`Outgoing`]).
#[derive(Debug)]
struct Piece {
    bytes: Bytes,
    /// The first piece of a frame: what is dropped from the queue is dropped
    /// from one of these on, never from the middle of a frame.
    starts: bool,
}

/// How the pieces handed to [`Connection::write_or_queue`] make frames.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pieces {
    /// Together, one frame (a message in up to three pieces).
    OneFrame,
    /// Each a frame of its own (events).
    EachAFrame,
}

/// Counters on the hot path, looked up once: WebSocket, then SSE.
static FRAMES_SENT: LazyLock<[metrics::Counter; 2]> =
    LazyLock::new(|| [metrics::counter!(telemetry::FRAMES_SENT), metrics::counter!(telemetry::FRAMES_SENT, "transport" => "sse")]);
static BYTES_SENT: LazyLock<[metrics::Counter; 2]> =
    LazyLock::new(|| [metrics::counter!(telemetry::BYTES_SENT), metrics::counter!(telemetry::BYTES_SENT, "transport" => "sse")]);

/// A monotonic clock in milliseconds for `last_heard` (an atomic, not a lock).
fn clock_ms() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    START.elapsed().as_millis() as u64
}

/// What every connection of a server needs and none owns.
#[derive(Debug)]
pub struct Shared {
    pub hub: Arc<Hub>,
    pub limits: Limits,
}

pub struct Connection {
    wire: Wire,
    state: Mutex<State>,
    pub role: Role,
    pub transport: Transport,
    /// Negotiated permessage-deflate.
    pub compressed: bool,
    /// The hub history it said hello to (see `Hub::generation`).
    pub generation: u64,
    shared: Arc<Shared>,
    last_heard_ms: AtomicU64,
    /// Told when a close frame is queued: the reader gives the client a grace period.
    closing: Notify,
    /// Told when the queue empties (the reader stops reading while replies wait).
    drained: Notify,
    /// The reader has ended: the shard drops the connection.
    dead: AtomicBool,
}

impl Connection {
    /// `tcp`: the plain TCP stream when there is one; otherwise `io` is split.
    pub fn new(io: Result<TcpStream, Io>, role: Role, transport: Transport, generation: u64, shared: Arc<Shared>) -> (Arc<Connection>, ReadSide) {
        let compressed = matches!(transport, Transport::WebSocket { deflate: Some(_) });
        let (wire, read) = match io {
            Ok(tcp) => (Wire::Tcp(tcp), ReadSide::Tcp),
            Err(io) => {
                let (r, w) = tokio::io::split(io);
                (Wire::Stream(tokio::sync::Mutex::new(w)), ReadSide::Stream(r))
            }
        };
        let conn = Connection {
            wire,
            state: Mutex::new(State::default()),
            role,
            transport,
            compressed,
            generation,
            shared,
            last_heard_ms: AtomicU64::new(clock_ms()),
            closing: Notify::new(),
            drained: Notify::new(),
            dead: AtomicBool::new(false),
        };
        (Arc::new(conn), read)
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A message (JSON) framed for this connection. `seq`: for SSE, the seq
    /// the message brings the client to (its `id:`), if it moves it.
    pub fn message(&self, json: &Bytes, seq: Option<u64>) -> Outgoing {
        match self.transport {
            Transport::WebSocket { deflate: Some(window) } if json.len() >= frame::COMPRESS_FROM_BYTES => {
                frame::compressed_text(&crate::server::ws::deflate::compress(json, window)).into()
            }
            Transport::WebSocket { .. } => Outgoing::parts(frame::text_header(json.len()), json.clone(), Bytes::new()),
            Transport::EventStream => {
                let epoch = seq.map(|_| self.shared.hub.epoch());
                let (head, tail) = crate::server::sse::event_head(epoch.as_deref().zip(seq), None);
                Outgoing::parts(head, json.clone(), tail)
            }
        }
    }

    /// Sends a frame made for this client (hello, snapshot, error, pong,
    /// heartbeat): never dropped for lag, only once closing.
    pub fn send(self: &Arc<Self>, frame: impl Into<Outgoing>) {
        let mut state = self.lock();
        self.push(&mut state, frame.into());
    }

    /// [`Connection::send`] under a lock the caller holds: a subscribe's
    /// catch-up is queued under the same lock as the topics it covers, so no
    /// event after it can be written before it.
    pub fn send_locked(self: &Arc<Self>, state: &mut State, frame: impl Into<Outgoing>) {
        self.push(state, frame.into());
    }

    /// Sends one event's frame: dropped while the client is being resynced,
    /// and the queue is bounded (see the module docs).
    pub fn send_event(self: &Arc<Self>, state: &mut State, frame: Bytes) {
        self.send_events(state, &[frame]);
    }

    /// Several events at once (publications that queued up while the shard
    /// was busy): one `write()` for all of them.
    pub fn send_events(self: &Arc<Self>, state: &mut State, frames: &[Bytes]) {
        if state.lagged || state.closing || frames.is_empty() {
            return;
        }
        if state.queue.len() >= self.shared.limits.broadcast_capacity.max(1) {
            tracing::debug!(queued = state.queue.len(), "client fell behind; resyncing with a snapshot");
            metrics::counter!(telemetry::RESYNCS).increment(1);
            state.keep_under_way();
            state.lagged = true;
            return;
        }
        self.count(frames.len(), frames.iter().map(Bytes::len).sum());
        self.write_or_queue(state, frames, Pieces::EachAFrame);
    }

    fn push(self: &Arc<Self>, state: &mut State, frame: Outgoing) {
        if state.closing {
            return;
        }
        self.count(1, frame.len());
        self.write_or_queue(state, &frame.parts, Pieces::OneFrame);
    }

    fn count(&self, frames: usize, bytes: usize) {
        let transport = (self.transport == Transport::EventStream) as usize;
        FRAMES_SENT[transport].increment(frames as u64);
        BYTES_SENT[transport].increment(bytes as u64);
    }

    /// Sends bytes that are not a message (pings, pongs, SSE comments and
    /// response head): not counted as frames.
    pub fn send_control(self: &Arc<Self>, bytes: Bytes) {
        let mut state = self.lock();
        if !state.closing {
            self.write_or_queue(&mut state, &[bytes], Pieces::OneFrame);
        }
    }

    /// Writes `pieces` (in order) straight to the socket when nothing waits
    /// before them; queues what it did not take (views of the same bytes, not
    /// copies) and starts the drain.
    fn write_or_queue(self: &Arc<Self>, state: &mut State, pieces: &[Bytes], shape: Pieces) {
        /// `writev` takes this many pieces at once; more are queued.
        const MOST: usize = 64;
        let mut written = 0;
        if state.queue.is_empty() && !state.draining {
            if let Wire::Tcp(tcp) = &self.wire {
                // On the stack: this runs once per delivery.
                let mut slices = [IoSlice::new(&[]); MOST];
                let (mut count, mut total, mut all) = (0, 0, true);
                for piece in pieces.iter().filter(|p| !p.is_empty()) {
                    if count == MOST {
                        all = false;
                        break;
                    }
                    slices[count] = IoSlice::new(piece);
                    count += 1;
                    total += piece.len();
                }
                match tcp.try_write_vectored(&slices[..count]) {
                    Ok(n) if n == total && all => return,
                    Ok(n) => written = n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return self.broken(state),
                }
            }
        }
        for (i, part) in pieces.iter().filter(|p| !p.is_empty()).enumerate() {
            if written >= part.len() {
                written -= part.len();
                continue;
            }
            let starts = written == 0 && (i == 0 || shape == Pieces::EachAFrame);
            state.queue.push_back(Piece { bytes: part.slice(written..), starts });
            written = 0;
        }
        if !state.draining {
            state.draining = true;
            tokio::spawn(self.clone().drain());
        }
    }

    /// Queues a close frame after the frame under way (whatever else waits is
    /// dropped) and tells the reader to give the client a last grace period.
    pub fn close(self: &Arc<Self>, code: u16, reason: &str, end: End) {
        let mut state = self.lock();
        self.close_locked(&mut state, code, reason, end);
    }

    fn close_locked(self: &Arc<Self>, state: &mut State, code: u16, reason: &str, end: End) {
        if state.closing {
            return;
        }
        state.end.get_or_insert(end);
        if self.transport == Transport::EventStream {
            // An event stream just ends (a partly written event is ignored by
            // the client); EventSource reconnects with its last id.
            return self.broken_with(state, None);
        }
        state.keep_under_way();
        state.lagged = false;
        self.write_or_queue(state, &[frame::close(code, reason)], Pieces::OneFrame);
        state.closing = true;
        self.closing.notify_one();
    }

    /// The socket failed: nothing more can be written.
    fn broken(&self, state: &mut State) {
        self.broken_with(state, Some(End::SocketError));
    }

    /// Nothing more is written, and the connection ends now.
    fn broken_with(&self, state: &mut State, end: Option<End>) {
        state.queue.clear();
        state.closing = true;
        if let Some(end) = end {
            state.end.get_or_insert(end);
        }
        self.shutdown();
        self.closing.notify_one();
    }

    /// Writes the queue out as the socket takes it (see the module docs).
    async fn drain(self: Arc<Self>) {
        let timeout = self.shared.limits.send_timeout;
        let mut timed_out = false;
        loop {
            let Some(bufs) = self.next_writes() else {
                self.flush().await;
                self.drained.notify_one();
                return;
            };
            let written = tokio::time::timeout(timeout, self.write_some(&bufs)).await;
            self.lock().in_flight = 0;
            match written {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    let mut state = self.lock();
                    self.broken(&mut state);
                    state.draining = false;
                    return;
                }
                Ok(Ok(mut n)) => {
                    let mut state = self.lock();
                    while n > 0 {
                        let Some(front) = state.queue.front_mut() else { break };
                        if n >= front.bytes.len() {
                            n -= front.bytes.len();
                            state.queue.pop_front();
                        } else {
                            *front = Piece { bytes: front.bytes.slice(n..), starts: false };
                            n = 0;
                        }
                    }
                }
                Err(_) if !timed_out => {
                    timed_out = true;
                    tracing::info!("client did not read for {timeout:?}; closing with 1013");
                    let mut state = self.lock();
                    self.close_locked(&mut state, code::TRY_AGAIN, "too slow: not reading", End::TooSlow);
                }
                Err(_) => {
                    // Not even the close went out: drop the connection.
                    let mut state = self.lock();
                    self.broken(&mut state);
                    state.draining = false;
                    return;
                }
            }
        }
    }

    /// The frames to write next (a lagged client's snapshot once its queue is
    /// out); `None` when all is written, which ends the drain.
    fn next_writes(&self) -> Option<Vec<Bytes>> {
        let mut state = self.lock();
        if state.queue.is_empty() && state.lagged && !state.closing {
            state.lagged = false;
            let snapshot = self.shared.hub.resync(&mut state.sub);
            let seq = crate::server::sse::last_seq_in(&snapshot);
            let pieces = self.message(&snapshot, seq).parts.into_iter().filter(|p| !p.is_empty());
            state.queue.extend(pieces.enumerate().map(|(i, bytes)| Piece { bytes, starts: i == 0 }));
        }
        if state.queue.is_empty() {
            state.draining = false;
            return None;
        }
        state.in_flight = state.queue.len().min(16);
        Some(state.queue.iter().take(16).map(|piece| piece.bytes.clone()).collect())
    }

    async fn write_some(&self, bufs: &[Bytes]) -> io::Result<usize> {
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        match &self.wire {
            Wire::Tcp(tcp) => loop {
                tcp.writable().await?;
                match tcp.try_write_vectored(&slices) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    result => return result,
                }
            },
            Wire::Stream(half) => half.lock().await.write_vectored(&slices).await,
        }
    }

    async fn flush(&self) {
        if let Wire::Stream(half) = &self.wire {
            let _ = tokio::time::timeout(self.shared.limits.send_timeout, half.lock().await.flush()).await;
        }
    }

    /// Reads what the client sent into `sink` (0: it closed).
    pub async fn read(&self, side: &mut ReadSide, mut sink: impl FnMut(&[u8])) -> io::Result<usize> {
        let n = match (&self.wire, side) {
            (Wire::Tcp(tcp), ReadSide::Tcp) => loop {
                tcp.readable().await?;
                match try_read_into(tcp, &mut sink) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    result => break result?,
                }
            },
            (_, ReadSide::Stream(half)) => {
                let mut buf = vec![0u8; 2048];
                let n = half.read(&mut buf).await?;
                sink(&buf[..n]);
                n
            }
            (Wire::Stream(_), ReadSide::Tcp) => unreachable!("a connection's sides come from one `new`"),
        };
        if n > 0 {
            self.last_heard_ms.store(clock_ms(), Ordering::Relaxed);
        }
        Ok(n)
    }

    /// How long since the client last sent anything.
    pub fn silent_for(&self) -> Duration {
        Duration::from_millis(clock_ms().saturating_sub(self.last_heard_ms.load(Ordering::Relaxed)))
    }

    /// Resolves once a close frame is queued.
    pub async fn closing(&self) {
        self.closing.notified().await
    }

    pub fn is_closing(&self) -> bool {
        self.lock().closing
    }

    /// How long the server waits for the client's close once it sent its own
    /// (and for its close frame to go out): a client too slow to read gets
    /// what its drain allows (the frame under way and the close, one
    /// `send_timeout` more); any other client a second.
    pub fn close_grace(&self) -> Duration {
        match self.lock().end {
            Some(End::TooSlow) => self.shared.limits.send_timeout * 2,
            _ => Duration::from_secs(1),
        }
    }

    /// Whether frames are waiting for the socket.
    pub fn backlogged(&self) -> bool {
        self.lock().draining
    }

    /// Resolves when the queue next empties.
    pub async fn drained(&self) {
        self.drained.notified().await
    }

    /// Adds `topics` and queues what the client must get to be current on
    /// them (a snapshot, or the events it missed since `since`), under the same
    /// lock as the topics, so no later event can be written before it. The
    /// same for every transport; `gauge` follows the subscription.
    pub async fn subscribe(self: &Arc<Self>, topics: &[Topic], since: Option<Since>, gauge: &mut telemetry::TopicGauge) {
        let hub = self.shared.hub.clone();
        if let Some(since) = &since {
            hub.catch_up_to(since).await;
        }
        let mut state = self.lock();
        let catchup = hub.subscribe(&mut state.sub, topics, since.as_ref());
        gauge.update(&state.sub);
        if let Catchup::Snapshot(frame) | Catchup::Replay(Some(frame)) = catchup {
            let seq = crate::server::sse::last_seq_in(&frame);
            self.push(&mut state, self.message(&frame, seq));
        }
    }

    /// The reader ended: no more writes, and the shard lets go of it.
    pub fn finish(&self) -> Option<End> {
        self.dead.store(true, Ordering::Release);
        self.shutdown();
        self.lock().end.clone()
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Ends the server's side of the connection once what is queued (the close
    /// frame last) is written, or `wait` has passed: a FIN right behind it
    /// (over TLS, close_notify first). The client's side stays open to read.
    pub async fn end_writing(&self, wait: Duration) {
        let _ = tokio::time::timeout(wait, async {
            while self.backlogged() {
                self.drained().await;
            }
        })
        .await;
        match &self.wire {
            Wire::Tcp(tcp) => {
                let _ = socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Write);
            }
            Wire::Stream(half) => {
                let _ = tokio::time::timeout(self.shared.limits.send_timeout, async { half.lock().await.shutdown().await }).await;
            }
        }
    }

    /// Ends the TCP connection both ways (what is already in the kernel is
    /// still sent); the reader sees it end.
    fn shutdown(&self) {
        if let Wire::Tcp(tcp) = &self.wire {
            let _ = socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.shared.hub
    }
}

/// One non-blocking read. The buffer lives on the stack for this read only,
/// never while the client is idle.
fn try_read_into(tcp: &TcpStream, sink: &mut impl FnMut(&[u8])) -> io::Result<usize> {
    let mut buf = [0u8; 2048];
    let n = tcp.try_read(&mut buf)?;
    sink(&buf[..n]);
    Ok(n)
}

/// A socket taken over from another task (hyper's connection, the accept
/// loop's peek) still has that task's wakers in its read and write slots. Our
/// reader waits on the socket another way, so nothing would replace them
/// while the client is idle, and the finished task's memory (5 KB) would stay
/// pinned by them for the connection's life (found with a counting allocator:
/// BENCHMARKS.md). Polling once with a no-op waker lets them go.
pub fn release_wakers(tcp: &TcpStream) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = tcp.poll_read_ready(&mut cx);
    let _ = tcp.poll_write_ready(&mut cx);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(pieces: &[(&'static str, bool)]) -> State {
        let mut state = State::default();
        state.queue.extend(pieces.iter().map(|&(text, starts)| Piece { bytes: Bytes::from_static(text.as_bytes()), starts }));
        state
    }

    fn kept(state: &State) -> Vec<&str> {
        state.queue.iter().map(|p| std::str::from_utf8(&p.bytes).unwrap()).collect()
    }

    /// A close (or a resync) drops what waits, but never the rest of the frame
    /// under way: a message for one client is a header and its JSON, and a
    /// header sent without its JSON would swallow the close frame behind it.
    #[test]
    fn what_is_dropped_never_cuts_a_frame() {
        let mut state = queued(&[("header1", true), ("json1", false), ("event2", true), ("header3", true), ("json3", false)]);
        state.keep_under_way();
        assert_eq!(kept(&state), ["header1", "json1"]);
        // A frame partly written: its rest, and the pieces after it that are its own.
        let mut state = queued(&[("der1", false), ("json1", false), ("event2", true)]);
        state.keep_under_way();
        assert_eq!(kept(&state), ["der1", "json1"]);
        // The write under way ends inside a frame: that frame is kept whole.
        let mut state = queued(&[("event1", true), ("header2", true), ("json2", false), ("event3", true)]);
        state.in_flight = 2;
        state.keep_under_way();
        assert_eq!(kept(&state), ["event1", "header2", "json2"]);
        let mut state = queued(&[("event1", true), ("event2", true)]);
        state.keep_under_way();
        assert_eq!(kept(&state), ["event1"]);
    }
}
