//! The one normalized game model every adapter produces and every client sees.
//!
//! This is the contract between the upstream world (adapters) and everything
//! downstream (diff, hub, server, widget). Its JSON shape is the wire shape in
//! DESIGN.md / docs/PROTOCOL.md, so changing a field here is a protocol change.

use serde::{Deserialize, Serialize};

/// Where a game stands. The widget localizes these; the upstream's own words go
/// in [`Status::detail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GameState {
    Scheduled,
    Live,
    /// Half time, intermission, between periods: the game is on but the clock is not.
    Break,
    Final,
    Postponed,
    Delayed,
    Canceled,
}

impl GameState {
    /// Parses the model's own vocabulary (as written in feed config value maps).
    pub fn parse(s: &str) -> Option<GameState> {
        Some(match s {
            "scheduled" => GameState::Scheduled,
            "live" => GameState::Live,
            "break" => GameState::Break,
            "final" => GameState::Final,
            "postponed" => GameState::Postponed,
            "delayed" => GameState::Delayed,
            "canceled" => GameState::Canceled,
            _ => return None,
        })
    }

    pub const ALL: [&'static str; 7] =
        ["scheduled", "live", "break", "final", "postponed", "delayed", "canceled"];

    /// Whether a score means anything yet: before the start (and for games that
    /// never started) scores are `null`, whatever the upstream put there.
    pub fn has_score(self) -> bool {
        matches!(self, GameState::Live | GameState::Break | GameState::Final | GameState::Delayed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub state: GameState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
    /// The upstream's own short text for this moment ("8:41 - 4th", "HT", "FT-Pens").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<String>,
    pub abbr: String,
    pub score: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
}

/// One game as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Game {
    /// `<feed-id>:<upstream id>`: unique across all feeds of one server.
    pub id: String,
    pub feed: String,
    pub league: String,
    pub sport: String,
    /// RFC 3339, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    pub status: Status,
    pub home: Team,
    pub away: Team,
    /// When this server last saw the game change (RFC 3339, UTC). Set by the diff,
    /// not the adapter, and ignored when comparing two polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

impl Game {
    /// Joins a feed id and an upstream id into the server-wide game id.
    pub fn make_id(feed: &str, upstream_id: &str) -> String {
        format!("{feed}:{upstream_id}")
    }
}
