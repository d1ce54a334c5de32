//! The mapped adapter: any JSON scoreboard, read through a mapping that the
//! operator writes in the feed file's `[mapping]` table (adapter name `json` in
//! feed files).
//!
//! A mapping is a handful of RFC 6901 JSON pointers (`/homeTeam/abbrev`): one to
//! the list of games, the rest relative to each game. Pointers, not a query
//! language, because every upstream we have met puts each fact at one fixed place,
//! and a pointer can be checked when the config loads (see [`JsonMapping::validate`])
//! instead of failing on the first poll.
//!
//! Single values (scores, start times, periods) are read by [`super::read`], as
//! in the ESPN adapter, so both treat odd upstream values the same way.

use std::collections::BTreeMap;

use chrono::DateTime;
use serde::Deserialize;
use serde_json::Value;

mod extras;
mod rules;

pub use extras::SituationMapping;
pub use rules::StateRule;

use super::read::{integer_of, normalize_start, period_of, score_of, shows_clock, text_of, utc_text};
use super::{AdapterError, FeedLabels};
use crate::model::{Game, GameState, Status, Team};

/// The `[mapping]` table of a feed file whose adapter is `json`.
///
/// Plain serde (the config module reads it with `toml`), and `deny_unknown_fields`
/// so a misspelt key is a config error rather than a silently missing field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonMapping {
    /// Pointer from the document to the array of games; `""` when the document is the array.
    pub games: String,
    pub id: String,
    pub start: Option<String>,
    #[serde(default)]
    pub start_format: StartFormat,
    pub state: String,
    /// Upstream state value (as text: `2`, `true` and `"LIVE"` all read as keys) → model state word.
    #[serde(default)]
    pub states: BTreeMap<String, String>,
    /// What a value missing from `states` becomes (default `scheduled`, which shows no score).
    pub states_default: Option<String>,
    /// `[[mapping.state_rules]]`: state from several fields, checked in order before `states`.
    #[serde(default)]
    pub state_rules: Vec<StateRule>,
    pub period: Option<String>,
    pub clock: Option<String>,
    #[serde(default)]
    pub clock_format: ClockFormat,
    pub detail: Option<String>,
    /// A game-level value naming the winner, looked up in `winner_values`.
    pub winner: Option<String>,
    /// Upstream winner value → `home` or `away` (football-data's `HOME_TEAM` → home).
    #[serde(default)]
    pub winner_values: BTreeMap<String, String>,
    /// With no winner value or flag: a final game's higher score wins (not for sports with draws).
    #[serde(default)]
    pub winner_from_score: bool,
    pub series: Option<String>,
    pub note: Option<String>,
    pub situation: Option<SituationMapping>,
    pub home: TeamMapping,
    pub away: TeamMapping,
}

/// `[mapping.home]` / `[mapping.away]`: pointers relative to the game object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamMapping {
    pub id: String,
    pub name: String,
    pub abbr: String,
    pub short: Option<String>,
    pub score: Option<String>,
    pub logo: Option<String>,
    pub rank: Option<String>,
    /// Text ("45-20") or an object of `wins`, `losses` and maybe `ties`/`otLosses`.
    pub record: Option<String>,
    /// A boolean: `true` for the team that won.
    pub winner: Option<String>,
    /// This team's goals in a penalty shootout.
    pub shootout: Option<String>,
}

/// How the value at `start` encodes the start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFormat {
    /// `"2026-04-11T16:30:00Z"`, any offset; `"2026-06-28T19:00Z"` (no seconds) is accepted too.
    #[default]
    Rfc3339,
    /// Milliseconds since the Unix epoch (number or numeric string).
    UnixMs,
    /// Seconds since the Unix epoch (number or numeric string).
    UnixS,
}

/// How the value at `clock` encodes the game clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockFormat {
    /// Shown as the upstream writes it.
    #[default]
    Text,
    /// An ISO 8601 duration, as NBA's CDN writes it: `"PT07M15.00S"` → `"7:15"`.
    Iso8601,
}

impl JsonMapping {
    /// Every problem in the mapping, as (key relative to `[mapping]`, message),
    /// so the config loader can report them all at once with their lines.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (key, pointer) in self.pointers() {
            if let Some(message) = pointer_problem(pointer) {
                problems.push((key, message));
            }
        }
        if self.states.is_empty() && self.state_rules.is_empty() {
            problems.push((
                "states".to_string(),
                "map at least one upstream state value to a state; otherwise every game is `states_default`".to_string(),
            ));
        }
        for (index, rule) in self.state_rules.iter().enumerate() {
            if GameState::parse(&rule.state).is_none() {
                problems.push((format!("state_rules.{index}.state"), not_a_state(&rule.state)));
            }
            if rule.when.is_empty() {
                problems.push((format!("state_rules.{index}.when"), "give at least one `\"/pointer\" = value`".to_string()));
            }
            for pointer in rule.when.keys() {
                if let Some(message) = pointer_problem(pointer) {
                    problems.push((format!("state_rules.{index}.when.{}", toml_key(pointer)), message));
                }
            }
        }
        problems.extend(extras::winner_values_problems(&self.winner_values, toml_key));
        for (upstream, word) in &self.states {
            if GameState::parse(word).is_none() {
                problems.push((format!("states.{}", toml_key(upstream)), not_a_state(word)));
            }
        }
        if let Some(word) = &self.states_default {
            if GameState::parse(word).is_none() {
                problems.push(("states_default".to_string(), not_a_state(word)));
            }
        }
        problems
    }

    /// Every pointer of the mapping with its key, for validation.
    fn pointers(&self) -> Vec<(String, &str)> {
        let mut all: Vec<(String, &str)> = vec![
            ("games".into(), &self.games),
            ("id".into(), &self.id),
            ("state".into(), &self.state),
        ];
        for (key, pointer) in [
            ("start", &self.start),
            ("period", &self.period),
            ("clock", &self.clock),
            ("detail", &self.detail),
            ("winner", &self.winner),
            ("series", &self.series),
            ("note", &self.note),
        ] {
            if let Some(p) = pointer {
                all.push((key.into(), p));
            }
        }
        if let Some(situation) = &self.situation {
            for (key, pointer) in situation.pointers() {
                all.push((format!("situation.{key}"), pointer));
            }
        }
        for (side, team) in [("home", &self.home), ("away", &self.away)] {
            all.push((format!("{side}.id"), &team.id));
            all.push((format!("{side}.name"), &team.name));
            all.push((format!("{side}.abbr"), &team.abbr));
            for (key, pointer) in [
                ("short", &team.short),
                ("score", &team.score),
                ("logo", &team.logo),
                ("rank", &team.rank),
                ("record", &team.record),
                ("winner", &team.winner),
                ("shootout", &team.shootout),
            ] {
                if let Some(p) = pointer {
                    all.push((format!("{side}.{key}"), p));
                }
            }
        }
        all
    }

    /// The model state for an upstream value, or the default (noting the value as unknown).
    fn state_of(&self, upstream: &str, unknown: &mut Vec<String>) -> GameState {
        match self.states.get(upstream).and_then(|word| GameState::parse(word)) {
            Some(state) => state,
            None => {
                unknown.push(upstream.to_string());
                self.states_default.as_deref().and_then(GameState::parse).unwrap_or(GameState::Scheduled)
            }
        }
    }
}

/// Why a pointer cannot be an RFC 6901 pointer, if it cannot.
fn pointer_problem(pointer: &str) -> Option<String> {
    if pointer.is_empty() {
        return None;
    }
    if !pointer.starts_with('/') {
        // Dotted paths (`homeTeam.abbrev`) are the usual slip: suggest the pointer.
        let suggestion = format!("/{}", pointer.replace('.', "/"));
        return Some(format!(
            "`{pointer}` is not a JSON pointer: it must start with '/' (did you mean \"{suggestion}\"?), or be empty for the whole object"
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Some(format!(
                "`{pointer}`: in a JSON pointer '~' must be written ~0, and a '/' inside a key ~1"
            ));
        }
    }
    None
}

fn not_a_state(word: &str) -> String {
    format!("`{word}` is not a state; use one of {}", GameState::ALL.join(", "))
}

/// An upstream value as a TOML key, quoted so values with spaces or dots stay one key.
fn toml_key(key: &str) -> String {
    format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Reads every game the mapping can read.
///
/// A game without an id, a state or the required team fields is skipped (logged
/// at debug): one odd entry, such as a placeholder for an undecided fixture, must
/// not blank the whole scoreboard. But when none of a non-empty list can be read
/// the mapping is wrong for this body, and that is a bad poll.
pub fn parse(
    mapping: &JsonMapping,
    labels: &FeedLabels,
    value: &Value,
    unknown: &mut Vec<String>,
) -> Result<Vec<Game>, AdapterError> {
    let list = match value.pointer(&mapping.games) {
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(AdapterError::Shape(format!(
                "games pointer `{}` points at {}, not an array",
                mapping.games,
                kind_of(other)
            )))
        }
        None => {
            return Err(AdapterError::Shape(format!(
                "games pointer `{}` finds nothing in this body",
                mapping.games
            )))
        }
    };
    let mut games = Vec::with_capacity(list.len());
    let mut first_problem = None;
    for (index, item) in list.iter().enumerate() {
        match read_game(mapping, labels, item, unknown) {
            Ok(game) => games.push(game),
            Err(why) => {
                tracing::debug!(feed = %labels.feed, index, reason = %why, "skipping a game the mapping cannot read");
                first_problem.get_or_insert(format!("game {index}: {why}"));
            }
        }
    }
    match first_problem {
        Some(why) if games.is_empty() => Err(AdapterError::Shape(format!(
            "none of the {} games could be read (first: {why})",
            list.len()
        ))),
        _ => Ok(games),
    }
}

fn read_game(
    mapping: &JsonMapping,
    labels: &FeedLabels,
    game: &Value,
    unknown: &mut Vec<String>,
) -> Result<Game, String> {
    let id = required_text(game, &mapping.id)?;
    let state = match rules::state_by_rules(&mapping.state_rules, game) {
        Some(state) => state,
        None => mapping.state_of(&required_text(game, &mapping.state)?, unknown),
    };

    let start = mapping.start.as_deref().and_then(|p| game.pointer(p)).and_then(|v| {
        let start = match mapping.start_format {
            StartFormat::Rfc3339 => v.as_str().and_then(normalize_start),
            StartFormat::UnixMs => integer_of(v).and_then(DateTime::from_timestamp_millis).map(utc_text),
            StartFormat::UnixS => integer_of(v).and_then(|s| DateTime::from_timestamp(s, 0)).map(utc_text),
        };
        if start.is_none() {
            tracing::debug!(feed = %labels.feed, game = %id, value = %v, "start time not readable; left out");
        }
        start
    });

    let clock = if shows_clock(state) {
        let raw = optional_text(game, mapping.clock.as_deref());
        match mapping.clock_format {
            ClockFormat::Text => raw,
            ClockFormat::Iso8601 => raw.and_then(|text| iso8601_clock(&text)),
        }
    } else {
        None
    };

    let period = mapping
        .period
        .as_deref()
        .and_then(|p| game.pointer(p))
        .and_then(period_of)
        .filter(|_| state.has_score());

    let mut read = Game {
        id: Game::make_id(&labels.feed, &id),
        feed: labels.feed.clone(),
        league: labels.league.clone(),
        sport: labels.sport.clone(),
        start,
        status: Status { state, period, clock, detail: optional_text(game, mapping.detail.as_deref()) },
        home: read_team(&mapping.home, game, state).map_err(|why| format!("home {why}"))?,
        away: read_team(&mapping.away, game, state).map_err(|why| format!("away {why}"))?,
        ..Game::default()
    };
    extras::fill(mapping, game, &mut read);
    Ok(read)
}

fn read_team(mapping: &TeamMapping, game: &Value, state: GameState) -> Result<Team, String> {
    Ok(Team {
        id: required_text(game, &mapping.id)?,
        name: required_text(game, &mapping.name)?,
        short: optional_text(game, mapping.short.as_deref()),
        abbr: required_text(game, &mapping.abbr)?,
        score: mapping
            .score
            .as_deref()
            .and_then(|p| game.pointer(p))
            .and_then(score_of)
            .filter(|_| state.has_score()),
        logo: optional_text(game, mapping.logo.as_deref()),
        ..Team::default()
    })
}

fn required_text(game: &Value, pointer: &str) -> Result<String, String> {
    game.pointer(pointer).and_then(text_of).ok_or_else(|| format!("has no value at `{pointer}`"))
}

fn optional_text(game: &Value, pointer: Option<&str>) -> Option<String> {
    pointer.and_then(|p| game.pointer(p)).and_then(text_of)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `"PT07M15.00S"` → `"7:15"`. Hours fold into minutes; fractions of a second are
/// dropped, as a ticker shows whole seconds. Anything else is not shown: a raw
/// `PT…` string on screen would be worse than no clock.
fn iso8601_clock(text: &str) -> Option<String> {
    let mut rest = text.strip_prefix("PT")?;
    let (mut minutes, mut seconds) = (0u64, 0u64);
    while !rest.is_empty() {
        let end = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, unit) = (&rest[..end], &rest[end..end + 1]);
        let whole: u64 = number.split('.').next()?.parse().ok()?;
        match unit {
            "H" => minutes += whole * 60,
            "M" => minutes += whole,
            "S" => seconds = whole,
            _ => return None,
        }
        rest = &rest[end + 1..];
    }
    Some(format!("{minutes}:{seconds:02}"))
}

#[cfg(test)]
mod tests;
