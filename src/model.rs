//! The one normalized game model every adapter produces and every client sees.
//!
//! This is the contract between the upstream world (adapters) and everything
//! downstream (diff, hub, server, widget). Its JSON shape is the wire shape in
//! DESIGN.md / docs/PROTOCOL.md, so changing a field here is a protocol change.

use serde::{Deserialize, Serialize};

/// Where a game stands. The widget localizes these; the upstream's own words go
/// in [`Status::detail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GameState {
    #[default]
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

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<String>,
    pub abbr: String,
    pub score: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// Poll rank (college sports), 1..=99; absent when unranked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u32>,
    /// Season record as the upstream writes it ("45-20", "10-3-2").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

/// One side of a game, for facts that belong to a team without repeating it
/// (who won, who has the ball).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Home,
    Away,
}

/// A penalty shootout's own score, beside the game score it decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shootout {
    pub home: i64,
    pub away: i64,
}

/// Which half of a baseball inning, as a ticker shows it (▲7, ▼7, mid 7, end 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InningHalf {
    Top,
    Bottom,
    /// Between the top and the bottom half.
    Middle,
    /// After the bottom half, before the next inning.
    End,
}

/// Which bases are occupied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Runners {
    pub first: bool,
    pub second: bool,
    pub third: bool,
}

/// The moment of play beside the score, while a game is on. Every field is
/// optional: an adapter fills only what its upstream says, and invents nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Situation {
    // Baseball.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half: Option<InningHalf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balls: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strikes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runners: Option<Runners>,
    // American football.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub possession: Option<Side>,
    /// The upstream's own text, e.g. "3rd & 7 at NE 35".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_distance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub red_zone: Option<bool>,
}

impl Situation {
    /// `None` when nothing is known, so an empty `{}` never goes on the wire.
    pub fn non_empty(self) -> Option<Situation> {
        (self != Situation::default()).then_some(self)
    }
}

/// One game as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
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
    /// Who won, once the game is final and decided (a draw that stands has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<Side>,
    /// The penalty shootout's score, when the game went to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shootout: Option<Shootout>,
    /// The moment of play (inning and count, possession and down); only while live or at a break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub situation: Option<Situation>,
    /// A playoff series summary, e.g. "BOS leads series 3-2".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// The competition's headline for this game, e.g. "Round of 16", "Game 5".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
