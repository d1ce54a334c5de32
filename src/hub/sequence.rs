//! Sequencing: every event gets the next `seq` of the history, is stored,
//! rung and broadcast under the hub's one lock. A single node's hub numbers
//! the diff's events itself ([`Hub::publish`]); in cluster mode the leader
//! numbers them and every hub applies them as given ([`Hub::apply`]).

use std::sync::Arc;

use bytes::Bytes;

use super::{frames, now_ms, EventFrame, Hub, HubState, Published, Routing, StoredGame};
use crate::diff::Event;
use crate::model::Game;

/// One event with its seq and time already stamped: what [`Hub::apply`] takes
/// from the cluster's stream (where the leader numbered it), and what
/// [`Hub::publish`] makes of a diff's event.
#[derive(Debug, Clone)]
pub struct Sequenced {
    pub seq: u64,
    pub ts: i64,
    /// The complete `update` or `remove` frame, exactly as clients receive it.
    pub frame: Bytes,
    /// The game (for `remove`, its last known state, which routes the removal).
    pub game: Game,
    /// `game` as JSON, spliced into snapshots as is.
    pub game_json: Bytes,
    pub removed: bool,
}

/// [`Hub::apply`] refused events that do not continue this hub's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotNext {
    pub expected_seq: u64,
    pub got_seq: u64,
}

/// A diff's event, numbered and serialized once.
pub fn stamp(event: Event, seq: u64, ts: i64) -> Sequenced {
    match event {
        Event::Update { changes, game } => {
            let game_json = Bytes::from(serde_json::to_vec(&game).expect("games serialize"));
            let frame = frames::update(seq, ts, &changes, &game_json);
            Sequenced { seq, ts, frame, game, game_json, removed: false }
        }
        Event::Remove { game } => {
            let frame = frames::remove(seq, ts, &game.id);
            Sequenced { seq, ts, frame, game, game_json: Bytes::new(), removed: true }
        }
    }
}

impl Hub {
    /// Stamps, serializes, stores and broadcasts the events of one poll.
    /// Returns the last seq assigned (the current seq when `events` is empty).
    pub fn publish(&self, events: Vec<Event>) -> u64 {
        let mut state = self.lock();
        if events.is_empty() {
            return state.seq;
        }
        let ts = now_ms();
        let first = state.seq + 1;
        let stamped = events.into_iter().enumerate().map(|(i, e)| stamp(e, first + i as u64, ts)).collect();
        self.commit(&mut state, stamped, ts)
    }

    /// Applies events numbered elsewhere (the cluster leader, through the
    /// stream): they must be of this hub's epoch and continue its seq exactly.
    pub fn apply(&self, epoch: &str, events: Vec<Sequenced>) -> Result<u64, NotNext> {
        let mut state = self.lock();
        let Some(first) = events.first() else { return Ok(state.seq) };
        let contiguous = events.iter().enumerate().all(|(i, e)| e.seq == first.seq + i as u64);
        if epoch != state.epoch || first.seq != state.seq + 1 || !contiguous {
            return Err(NotNext { expected_seq: state.seq + 1, got_seq: first.seq });
        }
        Ok(self.commit(&mut state, events, now_ms()))
    }

    /// Stores, rings and broadcasts events already stamped, in seq order.
    fn commit(&self, state: &mut HubState, events: Vec<Sequenced>, now: i64) -> u64 {
        let mut frames = Vec::with_capacity(events.len());
        for e in events {
            state.seq = e.seq;
            let routing = if e.removed {
                match state.games.remove(&e.game.id) {
                    Some(stored) => stored.routing.clone(),
                    None => Routing::of(&e.game),
                }
            } else {
                let routing = Routing::of(&e.game);
                let stored = Arc::new(StoredGame { game: e.game, routing: routing.clone(), json: e.game_json });
                // A game that changed team or league leaves its old topics' documents too.
                if let Some(before) = state.games.insert(stored.game.id.clone(), stored).filter(|b| b.routing != routing) {
                    state.topic_seqs.touch(&before.routing, e.seq);
                }
                routing
            };
            state.topic_seqs.touch(&routing, e.seq);
            frames.push(Arc::new(EventFrame::new(e.seq, e.ts, routing, e.frame)));
        }
        for f in &frames {
            state.ring.push(f.clone());
        }
        state.topic_seqs.sweep(&state.games);
        state.ring.trim(now);
        state.rate.add(now, frames.len() as u64);
        state.snapshots.clear();
        let batch = if frames.len() > 1 { frames::batch(frames.iter().map(|f| &f.bytes[..])) } else { Bytes::new() };
        let seq = state.seq;
        // No receivers is not an error: nobody is listening yet.
        let _ = state.tx.send(Arc::new(Published { events: frames, batch }));
        self.changed.send_replace(seq);
        seq
    }
}
