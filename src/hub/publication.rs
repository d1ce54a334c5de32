//! What the hub broadcasts: each event serialized once ([`EventFrame`]), the
//! events of one poll together ([`Published`]), and which of them one client
//! wants ([`Pick`]).

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;

use super::{frames, Hub, Routing, Subscription};

/// One event as every client receives it: its seq, what it is about, and its
/// JSON text. Transports add their own framing (`server/`), once per event.
#[derive(Debug)]
pub struct EventFrame {
    pub seq: u64,
    pub ts: i64,
    pub routing: Routing,
    /// The complete JSON text of the `update` or `remove` frame.
    pub bytes: Bytes,
}

impl EventFrame {
    pub(super) fn new(seq: u64, ts: i64, routing: Routing, json: Bytes) -> EventFrame {
        EventFrame { seq, ts, routing, bytes: json }
    }
}

/// The events of one poll, as broadcast together.
#[derive(Debug)]
pub struct Published {
    pub events: Vec<Arc<EventFrame>>,
    /// All of `events` as one `batch` frame, for the many clients that want them all
    /// (empty when there is a single event: its own frame is sent instead).
    pub batch: Bytes,
}

/// Which of a publication's events one client wants.
pub enum Pick<'a> {
    Nothing,
    One(&'a EventFrame),
    All,
    Some(Vec<&'a EventFrame>),
}

impl Published {
    /// Decides without allocating in the common cases (none, one, all): this
    /// runs once per client per publication. `One` and `All` name frames every
    /// such client shares; only `Some` needs a batch of its own.
    pub fn pick(&self, sub: &Subscription) -> Pick<'_> {
        let mut first = None;
        let mut count = 0;
        for e in &self.events {
            if sub.wants(e.seq, &e.routing) {
                count += 1;
                first.get_or_insert(&**e);
            }
        }
        match (count, first) {
            (1, Some(e)) => Pick::One(e),
            (0, _) | (_, None) => Pick::Nothing,
            (n, _) if n == self.events.len() => Pick::All,
            _ => Pick::Some(self.events.iter().filter(|e| sub.wants(e.seq, &e.routing)).map(|e| &**e).collect()),
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.events.last().map(|e| e.seq).unwrap_or(0)
    }
}

// Used only by the SSE stream the hyper path still serves (`server/sse`):
// these two go when it does.

impl Published {
    /// The one frame (JSON) this subscription should receive for this
    /// publication, if any. Clients that want every event share the pre-built
    /// bytes; only a partial match splices a batch of its own.
    pub fn frame_for(&self, sub: &Subscription) -> Option<Bytes> {
        match self.pick(sub) {
            Pick::Nothing => None,
            Pick::One(e) => Some(e.bytes.clone()),
            Pick::All => Some(self.batch.clone()),
            Pick::Some(events) => Some(frames::batch(events.iter().map(|e| &e.bytes[..]))),
        }
    }
}

impl Hub {
    /// Starts listening: the `hello` frame and a receiver that will see every
    /// event after the seq that hello announces.
    pub fn connect(&self, heartbeat_s: u64) -> (Bytes, u64, broadcast::Receiver<Arc<Published>>) {
        let state = self.lock();
        let rx = state.tx.subscribe();
        (frames::hello(&state.epoch, state.seq, heartbeat_s), state.seq, rx)
    }
}
