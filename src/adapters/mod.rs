//! Adapters: one upstream format in, the normalized [`Game`] list out.
//!
//! An adapter is a pure function of the response body (plus the feed's labels):
//! it knows nothing of HTTP, scheduling or what changed since the last poll.
//! A body it cannot read is an [`AdapterError`], which the poller counts as a bad
//! poll; it never becomes an empty scoreboard.

pub mod espn;
pub mod limits;
pub mod mapped;
pub mod read;

use std::collections::HashSet;
use std::sync::Mutex;

use crate::model::Game;
use crate::untrusted::Untrusted;

pub use mapped::JsonMapping;

/// What a feed's config says about itself that ends up in every game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLabels {
    pub feed: String,
    pub league: String,
    pub sport: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The body is not JSON at all (an HTML error page, a truncated body).
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not the shape this adapter expects.
    #[error("unexpected shape: {0}")]
    Shape(String),
}

/// Which upstream format a feed speaks. Chosen by the feed file's `adapter` key.
#[derive(Debug, Clone, PartialEq)]
pub enum AdapterKind {
    /// ESPN site-API scoreboard JSON, every sport.
    Espn,
    /// Any JSON, read through a mapping written in the feed file.
    Json(Box<JsonMapping>),
}

impl AdapterKind {
    pub const NAMES: [&'static str; 2] = ["espn", "json"];
}

/// An adapter bound to one feed. Holds the little state an adapter may keep:
/// which unknown status values (and over-long fields) it has already warned
/// about, so a strange upstream value is logged once rather than on every poll.
#[derive(Debug)]
pub struct Adapter {
    kind: AdapterKind,
    labels: FeedLabels,
    warned: Mutex<HashSet<String>>,
}

impl Adapter {
    pub fn new(kind: AdapterKind, labels: FeedLabels) -> Adapter {
        Adapter { kind, labels, warned: Mutex::new(HashSet::new()) }
    }

    pub fn labels(&self) -> &FeedLabels {
        &self.labels
    }

    /// Turns one response body into games.
    pub fn parse(&self, body: &[u8]) -> Result<Vec<Game>, AdapterError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| AdapterError::NotJson(e.to_string()))?;
        let mut unknown = Vec::new();
        let mut games = match &self.kind {
            AdapterKind::Espn => espn::parse(&self.labels, &value, &mut unknown)?,
            AdapterKind::Json(mapping) => mapped::parse(mapping, &self.labels, &value, &mut unknown)?,
        };
        self.warn_unknown(unknown);
        for game in &mut games {
            for field in limits::cap_game(game) {
                self.note_truncated(field, &game.id);
            }
        }
        Ok(games)
    }

    /// Counts a string cut to its cap, and logs it once per feed and field.
    fn note_truncated(&self, field: &'static str, game: &str) {
        metrics::counter!(crate::telemetry::UPSTREAM_TRUNCATED, "feed" => self.labels.feed.clone(), "field" => field)
            .increment(1);
        if self.warned.lock().unwrap_or_else(|p| p.into_inner()).insert(format!("truncated {field}")) {
            tracing::warn!(feed = %self.labels.feed, field, game = %Untrusted(game),
                "upstream string longer than its cap; cut (logged once per field)");
        }
    }

    /// Logs each unknown status value once per feed.
    fn warn_unknown(&self, unknown: Vec<String>) {
        if unknown.is_empty() {
            return;
        }
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        for value in unknown {
            if warned.insert(value.clone()) {
                tracing::warn!(feed = %self.labels.feed, status = %Untrusted(&value),
                    "unknown upstream status value; mapped to a safe state (logged once)");
            }
        }
    }
}
