//! Joining the history: the `hello` a client is greeted with, the receiver of
//! every publication after it, and what a client gets when it (re)subscribes
//! (a replay of what it missed since its `since`, or a snapshot). Each is
//! taken under the lock publishing holds, so a client never misses an event
//! between its catch-up and its first live one.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;

use super::{frames, now_ms, EventFrame, Hub, HubState, Published, Subscription, Topic};

/// A client's resume point, from `subscribe.since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    pub epoch: String,
    pub seq: u64,
}

/// What a client gets right after (re)subscribing.
#[derive(Debug)]
pub enum Catchup {
    /// The current state of every matching game.
    Snapshot(Bytes),
    /// The events the client missed since its `since` (none if it missed nothing).
    Replay(Option<Bytes>),
}

impl Hub {
    /// The `hello` frame, and the history it belongs to (which a receiver from
    /// [`Hub::listen`] of the same generation continues).
    pub fn hello(&self, heartbeat_s: u64) -> (Bytes, u64) {
        let state = self.lock();
        (frames::hello(&state.epoch, state.seq, heartbeat_s), state.generation)
    }

    /// A receiver of every publication from now on, and the history it is of:
    /// it closes when [`Hub::reset`] begins another.
    pub fn listen(&self) -> (u64, broadcast::Receiver<Arc<Published>>) {
        let state = self.lock();
        (state.generation, state.tx.subscribe())
    }

    /// Adds `topics` to a subscription and returns what the client must get to be
    /// current on them: a replay of what it missed when `since` allows, else a
    /// snapshot. Atomic with respect to publishing (see module docs).
    pub fn subscribe(&self, sub: &mut Subscription, topics: &[Topic], since: Option<&Since>) -> Catchup {
        let mut state = self.lock();
        let seq = state.seq;
        let ts = now_ms();
        state.ring.trim(ts);
        if let Some(since) = since {
            if let Some(missed) = Self::missed_since(&state, since) {
                let mut temp = Subscription::default();
                temp.add(topics, since.seq);
                let wanted: Vec<&[u8]> =
                    missed.iter().filter(|e| temp.wants(e.seq, &e.routing)).map(|e| &e.bytes[..]).collect();
                sub.add(topics, seq);
                return Catchup::Replay(match wanted.len() {
                    0 => None,
                    1 => Some(Bytes::copy_from_slice(wanted[0])),
                    _ => Some(frames::batch(wanted.into_iter())),
                });
            }
        }
        sub.add(topics, seq);
        Catchup::Snapshot(Self::snapshot_frame(&mut state, topics, ts))
    }

    /// A fresh snapshot of everything a subscription covers, after the client fell
    /// too far behind the broadcast to be caught up event by event.
    pub fn resync(&self, sub: &mut Subscription) -> Bytes {
        let mut state = self.lock();
        let topics: Vec<Topic> = sub.topics().cloned().collect();
        sub.reset(state.seq);
        Self::snapshot_frame(&mut state, &topics, now_ms())
    }

    /// The ring entries after `since`, if the ring still holds all of them.
    fn missed_since<'a>(state: &'a HubState, since: &Since) -> Option<Vec<&'a Arc<EventFrame>>> {
        if since.epoch != state.epoch || since.seq > state.seq {
            return None;
        }
        if since.seq == state.seq {
            return Some(Vec::new());
        }
        state.ring.after(since.seq)
    }

    /// Waits (up to the catch-up wait) until this hub has reached `since`, when
    /// `since` is of this epoch and ahead of it; returns at once otherwise.
    pub async fn catch_up_to(&self, since: &Since) {
        let (wait, mut seq) = {
            let state = self.lock();
            if state.catch_up_wait.is_zero() || since.epoch != state.epoch || since.seq <= state.seq {
                return;
            }
            (state.catch_up_wait, self.changed.subscribe())
        };
        let _ = tokio::time::timeout(wait, seq.wait_for(|s| *s >= since.seq)).await;
    }
}
