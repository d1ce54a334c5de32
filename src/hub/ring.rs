//! The replay ring: the last events, kept so a client that resumes with
//! `since` gets what it missed rather than a snapshot. Bounded by count
//! (`limits.ring_capacity`), age (`ring_max_age`) and bytes (`ring_max_bytes`):
//! count and age alone would let a few huge events hold any amount of memory.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::activity::RingSpan;
use super::EventFrame;

#[derive(Debug)]
pub(super) struct Ring {
    events: VecDeque<Arc<EventFrame>>,
    /// Bytes held by `events` (their frames' JSON).
    bytes: usize,
    capacity: usize,
    max_age: Duration,
    max_bytes: usize,
}

impl Ring {
    pub(super) fn new(capacity: usize, max_age: Duration) -> Ring {
        Ring { events: VecDeque::new(), bytes: 0, capacity, max_age, max_bytes: usize::MAX }
    }

    pub(super) fn set_max_bytes(&mut self, max: usize) {
        self.max_bytes = max;
    }

    pub(super) fn push(&mut self, frame: Arc<EventFrame>) {
        self.bytes += frame.bytes.len();
        self.events.push_back(frame);
    }

    pub(super) fn clear(&mut self) {
        self.events.clear();
        self.bytes = 0;
    }

    /// Drops the oldest events while the ring is over any of its bounds as of `now` (ms).
    pub(super) fn trim(&mut self, now: i64) {
        let max_age_ms = self.max_age.as_millis() as i64;
        while self.events.len() > self.capacity
            || self.bytes > self.max_bytes
            || self.events.front().is_some_and(|f| now - f.ts > max_age_ms)
        {
            let Some(oldest) = self.events.pop_front() else { break };
            self.bytes -= oldest.bytes.len();
        }
    }

    /// The events after `seq` (a seq this history has reached), if the ring
    /// still holds every one of them.
    pub(super) fn after(&self, seq: u64) -> Option<Vec<&Arc<EventFrame>>> {
        let oldest = self.events.front()?.seq;
        if oldest > seq + 1 {
            return None;
        }
        Some(self.events.iter().filter(|e| e.seq > seq).collect())
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Arc<EventFrame>> {
        self.events.iter()
    }

    pub(super) fn span(&self) -> RingSpan {
        let (oldest, newest) = (self.events.front(), self.events.back());
        RingSpan {
            events: self.events.len(),
            bytes: self.bytes,
            oldest_seq: oldest.map(|f| f.seq),
            oldest_ts: oldest.map(|f| f.ts),
            newest_seq: newest.map(|f| f.seq),
            newest_ts: newest.map(|f| f.ts),
        }
    }
}
