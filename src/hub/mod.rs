//! The hub: the current state of every game, one global event sequence, and the
//! broadcast that fans each event out to every connected client.
//!
//! Every event is serialized once, here, into shared bytes ([`EventFrame`]);
//! the server's transports only pick which of those bytes to write. One lock
//! guards the state, the sequence and the replay ring, and events are
//! broadcast while it is held, so "take a snapshot" and "start listening" can
//! be done atomically: a client never misses an event between its snapshot and
//! its first update.
//!
//! - [`sequence`]: numbering, storing and broadcasting events (publish, apply);
//! - [`subscribe`]: hello, listening, and a client's catch-up (replay or snapshot);
//! - [`publication`]: what is broadcast, and which part of it a client wants;
//! - `ring`: the replay ring behind `since`;
//! - [`snapshot`]: the current state as a snapshot frame or the REST document;
//! - [`topics`], [`topic_seqs`], [`frames`], [`activity`]: routing, the
//!   snapshot API's versions, the JSON of every frame, the status page's numbers.
//!
//! This module holds the hub itself and its history as a whole: a new one,
//! a reset to another (cluster mode; and restoring a saved one, `crate::state`).

pub mod activity;
pub mod frames;
pub mod publication;
mod ring;
pub mod sequence;
pub mod snapshot;
pub mod subscribe;
pub mod topic_seqs;
pub mod topics;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

use crate::model::Game;
pub use publication::{EventFrame, Pick, Published};
use ring::Ring;
pub use sequence::{stamp, NotNext, Sequenced};
pub use snapshot::GamesDocument;
use snapshot::Snapshots;
pub use subscribe::{Catchup, Since};
pub use topics::{Routing, Subscription, Topic};

/// A game as currently known, with its JSON ready to splice into frames.
#[derive(Debug)]
pub struct StoredGame {
    pub game: Game,
    pub routing: Routing,
    pub json: Bytes,
}

/// One history as of its last seq: what [`Hub::history`] reads and
/// [`Hub::reset_to`] starts over from (the state file keeps one).
#[derive(Debug)]
pub struct History {
    pub epoch: String,
    pub seq: u64,
    pub games: Vec<Game>,
    /// The replay ring, oldest first; events after `seq` are left out.
    pub ring: Vec<Arc<EventFrame>>,
}

#[derive(Debug)]
struct HubState {
    /// Changes only in cluster mode, when [`Hub::reset`] starts another history.
    epoch: String,
    seq: u64,
    games: BTreeMap<String, Arc<StoredGame>>,
    ring: Ring,
    /// Events committed per minute, for the status page.
    rate: activity::EventRate,
    /// Replaced by [`Hub::reset`]: dropping the old sender closes every
    /// receiver of the old history, and their clients resume from their `since`.
    tx: broadcast::Sender<Arc<Published>>,
    /// How long a `since` ahead of this hub waits for it (cluster mode: a
    /// client may come from a node further along the stream). Zero by default.
    catch_up_wait: Duration,
    /// Counts [`Hub::reset`]s: which history a client said hello to.
    generation: u64,
    /// Snapshot frames made at the current seq.
    snapshots: Snapshots,
    /// Which event last touched each topic: the snapshot API's ETags.
    topic_seqs: topic_seqs::TopicSeqs,
}

/// See the module docs.
#[derive(Debug)]
pub struct Hub {
    state: Mutex<HubState>,
    broadcast_capacity: usize,
    /// The last published seq, for whoever wants to react to changes (the state file writer).
    changed: watch::Sender<u64>,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Hub {
    pub fn new(epoch: String, broadcast_capacity: usize, ring_capacity: usize, ring_max_age: Duration) -> Hub {
        let (tx, _) = broadcast::channel(broadcast_capacity.max(1));
        Hub {
            state: Mutex::new(HubState {
                epoch,
                seq: 0,
                games: BTreeMap::new(),
                ring: Ring::new(ring_capacity, ring_max_age),
                rate: activity::EventRate::default(),
                tx,
                catch_up_wait: Duration::ZERO,
                generation: 0,
                snapshots: Snapshots::default(),
                topic_seqs: topic_seqs::TopicSeqs::default(),
            }),
            broadcast_capacity,
            changed: watch::channel(0).0,
        }
    }

    /// Bounds the replay ring memory too (`limits.ring_max_bytes`): count and
    /// age alone let a few huge events hold any amount of memory.
    pub fn with_ring_max_bytes(self, max: usize) -> Hub {
        let mut state = self.lock();
        state.ring.set_max_bytes(max);
        state.ring.trim(now_ms());
        drop(state);
        self
    }

    /// A fresh random epoch: the identity of one history of `seq`s.
    pub fn new_epoch() -> String {
        uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn epoch(&self) -> String {
        self.lock().epoch.clone()
    }

    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// Watches the last published seq.
    pub fn watch_seq(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Every known game (for status pages and state files).
    pub fn games(&self) -> Vec<Arc<StoredGame>> {
        self.lock().games.values().cloned().collect()
    }

    /// Events per minute and the replay ring's span, as of now.
    pub fn activity(&self) -> activity::Activity {
        let state = self.lock();
        activity::Activity { ring: state.ring.span(), events_per_minute: state.rate.per_minute(now_ms()) }
    }

    /// Cluster mode: a `since` ahead of this hub waits up to `wait` for it.
    pub fn set_catch_up_wait(&self, wait: Duration) {
        self.lock().catch_up_wait = wait;
    }

    /// The whole history as of now, read at once.
    pub fn history(&self) -> History {
        let state = self.lock();
        History {
            epoch: state.epoch.clone(),
            seq: state.seq,
            games: state.games.values().map(|g| g.game.clone()).collect(),
            ring: state.ring.iter().cloned().collect(),
        }
    }

    /// Starts over from a known state (cluster mode: another epoch, or a node
    /// that fell behind the stream's retention): the games as of `seq`, and a
    /// ring of the events up to `seq` that are still known.
    pub fn reset(&self, epoch: String, seq: u64, games: Vec<Game>, ring: Vec<Sequenced>) {
        let ring = ring.into_iter().map(|e| Arc::new(EventFrame::new(e.seq, e.ts, Routing::of(&e.game), e.frame))).collect();
        self.reset_to(History { epoch, seq, games, ring });
    }

    /// Starts over from `history`. Every current receiver closes, and its
    /// client resumes with `since`, by replay when the new
    /// ring covers it, else by snapshot: never a gap. A fresh hub reset to a
    /// saved history continues it.
    pub fn reset_to(&self, history: History) {
        let History { epoch, seq, games, ring } = history;
        let mut state = self.lock();
        state.epoch = epoch;
        state.seq = seq;
        state.topic_seqs.reset(seq);
        state.games.clear();
        for game in games {
            let json = Bytes::from(serde_json::to_vec(&game).expect("games serialize"));
            let routing = Routing::of(&game);
            state.games.insert(game.id.clone(), Arc::new(StoredGame { game, routing, json }));
        }
        state.ring.clear();
        for e in ring.into_iter().filter(|e| e.seq <= seq) {
            state.ring.push(e);
        }
        state.ring.trim(now_ms());
        state.tx = broadcast::channel(self.broadcast_capacity.max(1)).0;
        state.generation += 1;
        state.snapshots.clear();
        self.changed.send_replace(seq);
    }
}

#[cfg(test)]
mod tests;
