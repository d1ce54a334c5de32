//! How busy the hub is, for the status page: events per minute over the last
//! hour, and the span of the replay ring (what a reconnecting client can resume).

use std::collections::VecDeque;

use serde::Serialize;

/// Minutes of event counts kept.
pub const MINUTES: usize = 60;

/// Events counted per wall-clock minute, the last [`MINUTES`] of them.
#[derive(Debug, Default)]
pub struct EventRate {
    /// (minute since the epoch, events in it), oldest first; minutes with no
    /// events are absent.
    buckets: VecDeque<(i64, u64)>,
}

impl EventRate {
    /// Counts `n` events at `now_ms`.
    pub fn add(&mut self, now_ms: i64, n: u64) {
        let minute = now_ms.div_euclid(60_000);
        match self.buckets.back_mut() {
            Some((m, count)) if *m == minute => *count += n,
            _ => self.buckets.push_back((minute, n)),
        }
        while self.buckets.front().is_some_and(|(m, _)| *m <= minute - MINUTES as i64) {
            self.buckets.pop_front();
        }
    }

    /// The counts of the last [`MINUTES`] minutes as of `now_ms`, oldest first;
    /// the last one is the minute in progress.
    pub fn per_minute(&self, now_ms: i64) -> Vec<u64> {
        let now = now_ms.div_euclid(60_000);
        let mut out = vec![0; MINUTES];
        for (m, count) in &self.buckets {
            let back = now - m;
            if (0..MINUTES as i64).contains(&back) {
                out[MINUTES - 1 - back as usize] = *count;
            }
        }
        out
    }
}

/// The replay ring's extent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RingSpan {
    /// Events held.
    pub events: usize,
    pub bytes: usize,
    /// The oldest event still held: a client whose `since` is older gets a snapshot.
    pub oldest_seq: Option<u64>,
    pub oldest_ts: Option<i64>,
    pub newest_seq: Option<u64>,
    pub newest_ts: Option<i64>,
}

/// What [`super::Hub::activity`] reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Activity {
    pub ring: RingSpan,
    /// Events per minute, the last 60 minutes, oldest first (the last is the
    /// minute in progress).
    pub events_per_minute: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_counted_and_forgotten_after_an_hour() {
        let mut rate = EventRate::default();
        let t = 1_000 * 60_000;
        rate.add(t, 2);
        rate.add(t + 30_000, 1);
        rate.add(t + 60_000, 5);
        let now = t + 60_000;
        let per = rate.per_minute(now);
        assert_eq!(per.len(), MINUTES);
        assert_eq!(&per[MINUTES - 2..], &[3, 5]);
        // An hour on, only the newest minute's count is left, at the oldest slot.
        let later = now + 59 * 60_000;
        assert_eq!(rate.per_minute(later)[0], 5);
        assert_eq!(rate.per_minute(later).iter().sum::<u64>(), 5);
        rate.add(later + 60_000, 1);
        assert_eq!(rate.per_minute(later + 60_000).iter().sum::<u64>(), 1);
    }
}
