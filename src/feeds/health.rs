//! Each feed's health record: what operators look at when a ticker goes quiet.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct FeedHealth {
    pub feed: String,
    pub url_host: String,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// The outcome of the last poll: ok, unchanged, not_modified, http_error,
    /// timeout, too_large, transport_error, parse_error, skipped_backoff.
    pub last_outcome: Option<String>,
    pub consecutive_failures: u32,
    pub polls: u64,
    pub failures: u64,
    pub games: usize,
    /// Which schedule polls the feed now: `fixed` (no `schedule_idle`), `live`
    /// (a game in play or about to start) or `idle`.
    pub mode: &'static str,
    /// When the feed last switched mode (None: never switched).
    pub mode_since: Option<DateTime<Utc>>,
    /// No success for `stale_after_missed_polls` nominal intervals.
    pub stale: bool,
    /// When the schedule (or the backoff after a failure) polls the feed next,
    /// as far as the poller knows (a cron schedule: its nominal interval).
    pub next_poll: Option<DateTime<Utc>>,
    /// The polls of the last hour, oldest first, at most [`HISTORY_MAX`]: the
    /// status page's latency and failure charts. Not in `/api/v1/feeds`.
    #[serde(skip)]
    pub history: VecDeque<PollSample>,
    #[serde(skip)]
    pub started: DateTime<Utc>,
    #[serde(skip)]
    pub stale_after: Duration,
}

impl FeedHealth {
    pub fn new(feed: &str, url: &str, stale_after: Duration) -> FeedHealth {
        FeedHealth {
            feed: feed.to_string(),
            url_host: reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default(),
            last_attempt: None,
            last_success: None,
            last_error: None,
            last_error_at: None,
            last_outcome: None,
            consecutive_failures: 0,
            polls: 0,
            failures: 0,
            games: 0,
            mode: "fixed",
            mode_since: None,
            stale: false,
            next_poll: None,
            history: VecDeque::new(),
            started: Utc::now(),
            stale_after,
        }
    }

    /// Adds one poll to the history, dropping what is older than an hour or
    /// beyond [`HISTORY_MAX`] samples.
    pub fn record_poll(&mut self, sample: PollSample) {
        let horizon = sample.at - chrono::Duration::from_std(HISTORY_SPAN).expect("an hour fits");
        while self.history.front().is_some_and(|s| s.at < horizon) || self.history.len() >= HISTORY_MAX {
            self.history.pop_front();
        }
        self.history.push_back(sample);
    }

    /// Recomputes `stale` as of `now`.
    pub fn refresh(&mut self, now: DateTime<Utc>) {
        let since = self.last_success.unwrap_or(self.started);
        let age = (now - since).to_std().unwrap_or(Duration::ZERO);
        self.stale = age > self.stale_after;
    }
}

/// How far back a feed's poll history reaches.
pub const HISTORY_SPAN: Duration = Duration::from_secs(3600);
/// The most polls a history keeps: one an hour at a 1 s schedule would be 3,600;
/// a bound that keeps each record small whatever the schedule.
pub const HISTORY_MAX: usize = 720;

/// One poll, as the status page charts it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PollSample {
    pub at: DateTime<Utc>,
    /// How long the poll took, in milliseconds.
    pub ms: u32,
    /// False when the poll failed (any error outcome).
    pub ok: bool,
}

/// All feeds' health, shared between the pollers (writers) and the server (reader).
#[derive(Debug, Clone, Default)]
pub struct HealthBoard {
    inner: Arc<RwLock<BTreeMap<String, FeedHealth>>>,
}

impl HealthBoard {
    pub fn insert(&self, health: FeedHealth) {
        self.inner.write().unwrap_or_else(|p| p.into_inner()).insert(health.feed.clone(), health);
    }

    pub fn remove(&self, feed: &str) {
        self.inner.write().unwrap_or_else(|p| p.into_inner()).remove(feed);
    }

    pub fn update(&self, feed: &str, f: impl FnOnce(&mut FeedHealth)) {
        if let Some(h) = self.inner.write().unwrap_or_else(|p| p.into_inner()).get_mut(feed) {
            f(h);
        }
    }

    /// Every feed's record, staleness recomputed now.
    pub fn all(&self) -> Vec<FeedHealth> {
        let now = Utc::now();
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|h| {
                let mut h = h.clone();
                h.refresh(now);
                h
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_keeps_the_last_hour_and_at_most_its_cap() {
        let mut h = FeedHealth::new("f", "http://127.0.0.1/", Duration::from_secs(60));
        let t0 = Utc::now();
        for i in 0..(HISTORY_MAX as i64 + 50) {
            h.record_poll(PollSample { at: t0 + chrono::Duration::seconds(i), ms: i as u32, ok: true });
        }
        assert_eq!(h.history.len(), HISTORY_MAX);
        assert_eq!(h.history.back().map(|s| s.ms), Some(HISTORY_MAX as u32 + 49));
        // A poll two hours later leaves only itself.
        h.record_poll(PollSample { at: t0 + chrono::Duration::hours(2), ms: 1, ok: false });
        assert_eq!(h.history.len(), 1);
    }
}
