//! The fan-out: each event, framed once, written to every subscriber's socket
//! by a few shard tasks that walk their subscribers, instead of a task per
//! client woken per event.
//!
//! The hub's broadcast stays the bus. One relay task takes each publication
//! from it and hands it to the shards over a second broadcast; each of its
//! frames (WebSocket plain or deflated, SSE) is made once, the first time a
//! shard needs it. Each shard (one per core) owns a set of connections: for
//! each event it picks what each of them wants and writes it with one
//! non-blocking `write()` (see [`Connection`]). It also sends every
//! subscriber's heartbeat at once, one timer per shard, and drops clients
//! that stopped answering.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::{broadcast, watch, Notify};
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use super::connection::{Connection, End, Role, Shared, Transport};
use crate::server::sse;
use crate::server::ws::{deflate, frame};
use crate::config::Limits;
use crate::hub::{frames, now_ms, Hub, Pick, Published};

/// One message's frames, made once and shared by every client that gets it.
pub struct Framed {
    json: Bytes,
    /// The seq a client is current as of once it has this message (SSE `id:`).
    seq: u64,
    plain: OnceLock<Bytes>,
    /// Deflated with the full window: what every browser gets.
    deflated: OnceLock<Bytes>,
    /// Deflated with a smaller window (9 to 14 bits, and 8 served with 9), for
    /// clients that asked for one: made only while such a client is about.
    narrower: OnceLock<Box<[OnceLock<Bytes>; 6]>>,
    event_stream: OnceLock<Bytes>,
}

impl Framed {
    fn new(json: Bytes, seq: u64) -> Framed {
        Framed { json, seq, plain: OnceLock::new(), deflated: OnceLock::new(), narrower: OnceLock::new(), event_stream: OnceLock::new() }
    }

    /// The message deflated with `window`, in a frame: made once per window size.
    fn deflated(&self, window: deflate::Window) -> Bytes {
        let form = match window.bits() {
            15.. => &self.deflated,
            bits => &self.narrower.get_or_init(Default::default)[usize::from(bits.max(9) - 9)],
        };
        form.get_or_init(|| frame::compressed_text(&deflate::compress(&self.json, window))).clone()
    }

    /// The frame for a client: deflated when it negotiated compression and
    /// the message is worth it, an SSE event for an event stream. Each form is
    /// made once, by whichever shard first needs it, and only if one does
    /// (clients that want every event of a publication take its batch, and
    /// its events' own frames are never made).
    fn for_client(&self, transport: Transport, epoch: &str) -> Bytes {
        match transport {
            Transport::WebSocket { deflate: Some(window) } if self.json.len() >= frame::COMPRESS_FROM_BYTES => self.deflated(window),
            Transport::WebSocket { .. } => self.plain.get_or_init(|| frame::text(&self.json)).clone(),
            Transport::EventStream => self.event_stream.get_or_init(|| sse::encode(Some((epoch, self.seq)), None, &self.json)).clone(),
        }
    }
}

/// A publication, framed.
pub struct FramedPublication {
    published: Arc<Published>,
    /// The hub's epoch as of this publication (SSE ids).
    epoch: String,
    /// One per event, in the publication's order.
    events: Vec<Framed>,
    /// All the events as one batch (absent for a single event).
    batch: Option<Framed>,
}

impl FramedPublication {
    fn new(published: Arc<Published>, epoch: String) -> FramedPublication {
        let events = published.events.iter().map(|e| Framed::new(e.bytes.clone(), e.seq)).collect();
        let batch = (!published.batch.is_empty()).then(|| Framed::new(published.batch.clone(), published.last_seq()));
        FramedPublication { published, epoch, events, batch }
    }

    /// What this connection should get of it, if anything.
    fn frame_for(&self, conn: &Connection, state: &super::connection::State) -> Option<Bytes> {
        match self.published.pick(&state.sub) {
            Pick::Nothing => None,
            Pick::One(e) => {
                let first = self.published.events.first().map_or(e.seq, |f| f.seq);
                self.events.get((e.seq - first) as usize).map(|f| f.for_client(conn.transport, &self.epoch))
            }
            Pick::All => self.batch.as_ref().or(self.events.first()).map(|f| f.for_client(conn.transport, &self.epoch)),
            // A batch of its own: rare, and sent uncompressed (compression is
            // per message). It brings the client to the publication's last seq,
            // whichever of its events matched.
            Pick::Some(events) => {
                let batch = frames::batch(events.iter().map(|e| &e.bytes[..]));
                Some(match conn.transport {
                    Transport::WebSocket { .. } => frame::text(&batch),
                    Transport::EventStream => sse::encode(Some((&self.epoch, self.published.last_seq())), None, &batch),
                })
            }
        }
    }
}

/// What the relay tells the shards.
#[derive(Clone)]
enum Note {
    Published(Arc<FramedPublication>),
    /// The hub began a new history (cluster mode): connections that said
    /// hello to an older one close, and their clients resume with `since`.
    Restarted { generation: u64 },
    /// The relay fell behind the hub: every subscriber gets a snapshot.
    Lagged,
}

/// Connections joining or leaving a shard, applied by the shard between walks.
#[derive(Default)]
struct Members {
    joined: Vec<Arc<Connection>>,
    left: usize,
}

struct Shard {
    members: Mutex<Members>,
    changed: Notify,
}

/// Publications the relay may be ahead of a shard. A shard only falls behind
/// when starved of CPU (each walk is a few milliseconds); a small bus keeps
/// few framed publications alive (a broadcast holds its last `capacity`
/// values whoever has read them).
const BUS_CAPACITY: usize = 64;

/// Publications written together at most, when they queued up.
const COALESCE: usize = 32;

/// See the module docs.
pub struct Fanout {
    shards: Vec<Arc<Shard>>,
    next: AtomicUsize,
    /// The hub and limits, for each connection to point at.
    pub shared: Arc<Shared>,
}

impl Fanout {
    /// Starts the relay and one shard per core.
    pub fn start(hub: Arc<Hub>, limits: Limits, shutdown: watch::Receiver<bool>) -> Arc<Fanout> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        let (generation, events) = hub.listen();
        let shards: Vec<Arc<Shard>> = (0..cores).map(|_| Arc::new(Shard { members: Mutex::default(), changed: Notify::new() })).collect();
        for shard in &shards {
            tokio::spawn(shard.clone().run(bus.subscribe(), generation, hub.clone(), limits.clone(), shutdown.clone()));
        }
        tokio::spawn(frame_publications(hub.clone(), events, bus));
        Arc::new(Fanout { shards, next: AtomicUsize::new(0), shared: Arc::new(Shared { hub, limits }) })
    }

    /// Adds a connection; from now on it gets the events its subscription
    /// wants (join before subscribing, so nothing after the snapshot is
    /// missed). Returns its shard, for [`Fanout::leave`].
    pub fn join(&self, conn: Arc<Connection>) -> usize {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        let shard = &self.shards[index];
        shard.members.lock().unwrap_or_else(|p| p.into_inner()).joined.push(conn);
        shard.changed.notify_one();
        index
    }

    /// A connection of `shard` ended (its reader saw to that): it is finished
    /// ([`Connection::finish`]), its shard lets go of it and of its socket, and
    /// why it ended is counted when the server chose it. Every transport ends
    /// its connections here.
    pub fn leave(&self, conn: &Connection, shard: usize) -> Option<End> {
        let end = conn.finish();
        let shard = &self.shards[shard];
        shard.members.lock().unwrap_or_else(|p| p.into_inner()).left += 1;
        shard.changed.notify_one();
        if let Some(reason) = end.as_ref().and_then(End::reason) {
            metrics::counter!(crate::telemetry::CLIENTS_CLOSED, "reason" => reason).increment(1);
        }
        end
    }
}

/// The relay: from the hub's broadcast to the shards', each publication framed once.
async fn frame_publications(hub: Arc<Hub>, mut events: broadcast::Receiver<Arc<Published>>, bus: broadcast::Sender<Note>) {
    use broadcast::error::RecvError;
    loop {
        let note = match events.recv().await {
            Ok(published) => Note::Published(Arc::new(FramedPublication::new(published, hub.epoch()))),
            Err(RecvError::Lagged(_)) => Note::Lagged,
            Err(RecvError::Closed) => {
                let (generation, next) = hub.listen();
                events = next;
                Note::Restarted { generation }
            }
        };
        let _ = bus.send(note);
    }
}

impl Shard {
    async fn run(self: Arc<Self>, mut bus: broadcast::Receiver<Note>, mut generation: u64, hub: Arc<Hub>, limits: Limits, mut shutdown: watch::Receiver<bool>) {
        use broadcast::error::RecvError;
        let mut conns: Vec<Arc<Connection>> = Vec::new();
        // Connections that left since the last pass that let go of them.
        let mut dead = 0;
        let heartbeat = limits.heartbeat;
        let mut beat = interval_at(Instant::now() + heartbeat, heartbeat);
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut keep_alive = interval_at(Instant::now() + sse::KEEP_ALIVE, sse::KEEP_ALIVE);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    self.apply_members(&mut conns, generation, &mut dead);
                    for conn in &conns {
                        conn.close(frame::code::AWAY, "server shutting down", End::ServerShutdown);
                    }
                    // Later joiners were refused at admission, or see the flag themselves.
                    return;
                }
                _ = self.changed.notified() => self.apply_members(&mut conns, generation, &mut dead),
                note = bus.recv() => {
                    self.apply_members(&mut conns, generation, &mut dead);
                    match note {
                        Ok(Note::Published(p)) => {
                            // Publications that queued up meanwhile (feeds polled at
                            // the same second) go out together: one write per socket.
                            let mut ready = vec![p];
                            let mut after = None;
                            while ready.len() < COALESCE {
                                match bus.try_recv() {
                                    Ok(Note::Published(p)) => ready.push(p),
                                    Ok(other) => {
                                        after = Some(other);
                                        break;
                                    }
                                    Err(broadcast::error::TryRecvError::Lagged(_)) => {
                                        after = Some(Note::Lagged);
                                        break;
                                    }
                                    Err(_) => break,
                                }
                            }
                            let mut frames = Vec::with_capacity(ready.len());
                            conns.retain(|conn| {
                                if conn.is_dead() {
                                    return false;
                                }
                                let mut state = conn.lock();
                                frames.clear();
                                frames.extend(ready.iter().filter_map(|p| p.frame_for(conn, &state)));
                                conn.send_events(&mut state, &frames);
                                true
                            });
                            dead = 0;
                            match after {
                                Some(Note::Restarted { generation: now }) => {
                                    generation = now;
                                    close_older(&conns, generation);
                                }
                                Some(Note::Lagged) => resync_all(&conns, &hub),
                                _ => {}
                            }
                        }
                        Ok(Note::Restarted { generation: now }) => {
                            generation = now;
                            close_older(&conns, generation);
                        }
                        Ok(Note::Lagged) | Err(RecvError::Lagged(_)) => resync_all(&conns, &hub),
                        Err(RecvError::Closed) => return,
                    }
                }
                _ = beat.tick() => {
                    self.apply_members(&mut conns, generation, &mut dead);
                    beat_all(&conns, &hub, heartbeat);
                }
                // A comment line keeps idle proxies from closing event streams.
                _ = keep_alive.tick() => {
                    let comment = Bytes::from_static(b":keep-alive\n\n");
                    for conn in conns.iter().filter(|c| c.transport == Transport::EventStream) {
                        conn.send_control(comment.clone());
                    }
                }
            }
        }
    }

    /// Takes in joiners (closing one that said hello to an older hub history)
    /// and lets go of the dead. Letting go is a pass over every connection, so
    /// it waits until a sixteenth of them have left (a publication's walk, which
    /// passes over them anyway, lets go of the rest): a reconnect storm's
    /// thousands of leavers cost a few passes, not one each.
    fn apply_members(&self, conns: &mut Vec<Arc<Connection>>, generation: u64, dead: &mut usize) {
        let (joined, left) = {
            let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
            (std::mem::take(&mut members.joined), std::mem::take(&mut members.left))
        };
        close_older(&joined, generation);
        conns.extend(joined);
        *dead += left;
        if *dead > 0 && *dead * 16 >= conns.len() {
            conns.retain(|c| !c.is_dead());
            *dead = 0;
        }
    }
}

/// After the shard fell behind the bus: every subscriber gets a snapshot.
fn resync_all(conns: &[Arc<Connection>], hub: &Hub) {
    for conn in conns.iter().filter(|c| c.role == Role::Subscriber) {
        let snapshot = { hub.resync(&mut conn.lock().sub) };
        conn.send(conn.message(&snapshot, sse::last_seq_in(&snapshot)));
    }
}

/// Closes the subscribers that said hello to a hub history older than `generation`.
fn close_older(conns: &[Arc<Connection>], generation: u64) {
    for conn in conns.iter().filter(|c| c.role == Role::Subscriber && c.generation < generation) {
        conn.close(frame::code::AWAY, "history restarted; reconnect with since", End::HubRestarted);
    }
}

/// Every connection's heartbeat at once: a ping for liveness, and for
/// subscribers the application heartbeat (browsers' JavaScript never sees
/// pings), both framed once for all. A client silent for two heartbeats is closed.
/// (An event stream has no pings: a dead SSE client is found by its writes.)
fn beat_all(conns: &[Arc<Connection>], hub: &Hub, heartbeat: std::time::Duration) {
    let ping = frame::ping();
    let json = frames::heartbeat(hub.seq(), now_ms());
    let beat = frame::text(&json);
    let mut both = BytesMut::with_capacity(ping.len() + beat.len());
    both.put_slice(&ping);
    both.put_slice(&beat);
    let both = both.freeze();
    let event = sse::encode(None, None, &json);
    for conn in conns {
        match (conn.transport, conn.role) {
            (Transport::EventStream, _) => conn.send(event.clone()),
            _ if conn.silent_for() > heartbeat * 2 => conn.close(frame::code::POLICY, "no traffic for two heartbeats", End::Silent),
            (_, Role::Subscriber) => conn.send(both.clone()),
            (_, Role::Echo) => conn.send_control(ping.clone()),
        }
    }
}
