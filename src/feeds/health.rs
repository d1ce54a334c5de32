//! Each feed's health record: what operators look at when a ticker goes quiet.

use std::collections::BTreeMap;
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
            started: Utc::now(),
            stale_after,
        }
    }

    /// Recomputes `stale` as of `now`.
    pub fn refresh(&mut self, now: DateTime<Utc>) {
        let since = self.last_success.unwrap_or(self.started);
        let age = (now - since).to_std().unwrap_or(Duration::ZERO);
        self.stale = age > self.stale_after;
    }
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
