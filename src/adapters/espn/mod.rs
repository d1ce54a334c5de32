//! ESPN's site-API scoreboard (`/apis/site/v2/sports/{sport}/{league}/scoreboard`),
//! one reader for every sport ESPN covers: the shape is the same for basketball,
//! football, baseball, hockey and soccer; only the status names differ.
//!
//! What we read, and nothing else (the demo's trimmed recordings keep exactly this):
//!
//! ```text
//! events[].id, .date
//! events[].status.{period, displayClock, type.{name, state, completed, shortDetail, detail, description}}
//! events[].competitions[0].competitors[].{id, homeAway, score, winner, shootoutScore,
//!     curatedRank.current, records[].{type, summary},
//!     team.{id, displayName, name, location, shortDisplayName, abbreviation, logo, logos[0].href}}
//! events[].competitions[0].{notes[0].headline, altGameNote, series.summary,
//!     situation.{balls, strikes, outs, onFirst, onSecond, onThird,
//!                possession, downDistanceText, isRedZone}}
//! ```
//! (`competitions[0].status` / `.date` stand in when the event lacks its own.)

use serde_json::Value;

use super::read::{
    clear_count_between_halves, count_of, inning_half, integer_of, normalize_start, period_of, score_of, shows_clock,
    side_of, text_of,
};
use super::{AdapterError, FeedLabels};
use crate::model::{Game, GameState, Runners, Shootout, Side, Situation, Status, Team};

/// Reads a scoreboard body into games.
///
/// A body without an `events` array is not a scoreboard (ESPN's edge answers
/// some requests with other JSON), so it is a bad poll; `events: []` is a real,
/// empty scoreboard. One malformed event is skipped rather than failing the body,
/// unless every event is malformed.
pub fn parse(labels: &FeedLabels, value: &Value, unknown: &mut Vec<String>) -> Result<Vec<Game>, AdapterError> {
    let events = value.get("events").and_then(Value::as_array).ok_or_else(|| {
        AdapterError::Shape(match value.as_object() {
            Some(fields) => format!(
                "no `events` array; top-level keys are [{}]",
                fields.keys().take(12).cloned().collect::<Vec<_>>().join(", ")
            ),
            None => "no `events` array; the body is not a JSON object".to_string(),
        })
    })?;

    let mut games = Vec::with_capacity(events.len());
    let mut first_problem = None;
    for (index, event) in events.iter().enumerate() {
        match read_event(labels, event, unknown) {
            Ok(game) => games.push(game),
            Err(why) => {
                tracing::debug!(feed = %labels.feed, index, reason = %why, "skipping a malformed ESPN event");
                first_problem.get_or_insert(format!("event {index}: {why}"));
            }
        }
    }
    match first_problem {
        Some(why) if games.is_empty() => Err(AdapterError::Shape(format!(
            "none of the {} events could be read (first: {why})",
            events.len()
        ))),
        _ => Ok(games),
    }
}

fn read_event(labels: &FeedLabels, event: &Value, unknown: &mut Vec<String>) -> Result<Game, String> {
    let id = event.get("id").and_then(text_of).ok_or("no id")?;
    let competition = event.pointer("/competitions/0").ok_or("no competitions")?;
    let competitors = competition.get("competitors").and_then(Value::as_array).ok_or("no competitors")?;
    let side = |which: &str| {
        competitors
            .iter()
            .find(|c| c.get("homeAway").and_then(Value::as_str) == Some(which))
            .ok_or(format!("no {which} competitor"))
    };
    let (home, away) = (side("home")?, side("away")?);

    // The event and its first competition carry the same status; either will do.
    let status = event.get("status").or_else(|| competition.get("status")).ok_or("no status")?;
    let kind = status.get("type").ok_or("no status.type")?;
    let state = map_status(
        kind.get("state").and_then(Value::as_str).unwrap_or(""),
        kind.get("completed").and_then(Value::as_bool).unwrap_or(false),
        kind.get("name").and_then(Value::as_str).unwrap_or(""),
        unknown,
    );

    // Baseball has no game clock, yet ESPN sends "0:00" through every inning.
    let clock = if shows_clock(state) && labels.sport != "baseball" {
        status.get("displayClock").and_then(text_of)
    } else {
        None
    };
    let detail = ["shortDetail", "detail", "description"].iter().find_map(|k| kind.get(*k).and_then(text_of));
    let start = event.get("date").or_else(|| competition.get("date")).and_then(Value::as_str);
    // At half time ESPN still sends the first half's last down and distance, which
    // no longer apply (the second half starts with a kickoff): no situation then.
    let half_time = kind.get("name").and_then(Value::as_str) == Some("STATUS_HALFTIME");
    let situation = competition
        .get("situation")
        .filter(|_| shows_clock(state) && !half_time)
        .and_then(|situation| situation_of(situation, labels, detail.as_deref(), home, away));

    Ok(Game {
        id: Game::make_id(&labels.feed, &id),
        feed: labels.feed.clone(),
        league: labels.league.clone(),
        sport: labels.sport.clone(),
        start: start.and_then(|s| {
            let normalized = normalize_start(s);
            if normalized.is_none() {
                tracing::debug!(feed = %labels.feed, game = %id, date = s, "event date not readable; left out");
            }
            normalized
        }),
        status: Status {
            state,
            // A period before the game has begun is a placeholder (0, or 1 for a postponed MLB game).
            period: status.get("period").and_then(period_of).filter(|_| state.has_score()),
            clock,
            detail,
        },
        home: read_team(home, state).map_err(|why| format!("home {why}"))?,
        away: read_team(away, state).map_err(|why| format!("away {why}"))?,
        winner: winner_of(home, away, state),
        shootout: shootout_of(home, away, state),
        situation,
        series: competition.pointer("/series/summary").and_then(text_of),
        // The game's own headline ("East 1st Round - Game 7", "Paraguay advance 4-3
        // on penalties"); the World Cup's round ("FIFA World Cup, Round of 32") otherwise.
        note: competition
            .pointer("/notes/0/headline")
            .and_then(text_of)
            .or_else(|| competition.get("altGameNote").and_then(text_of)),
        updated: None,
    })
}

/// ESPN marks the winning competitor `winner: true` (the shootout's winner after
/// penalties); a draw has neither. Believed only once the game is final: before
/// that ESPN sends `false` for both.
fn winner_of(home: &Value, away: &Value, state: GameState) -> Option<Side> {
    if state != GameState::Final {
        return None;
    }
    let won = |c: &Value| c.get("winner").and_then(Value::as_bool) == Some(true);
    match (won(home), won(away)) {
        (true, false) => Some(Side::Home),
        (false, true) => Some(Side::Away),
        _ => None,
    }
}

/// `shootoutScore` on both competitors, once the game has begun (it runs live during a shootout).
fn shootout_of(home: &Value, away: &Value, state: GameState) -> Option<Shootout> {
    let goals = |c: &Value| c.get("shootoutScore").and_then(score_of);
    match (goals(home), goals(away)) {
        (Some(home), Some(away)) if state.has_score() => Some(Shootout { home, away }),
        _ => None,
    }
}

/// `competitions[0].situation` while the game is on. Baseball: the half-inning
/// (from ESPN's own detail, "Top 9th", "Bot 5th", "Mid 3rd", "End 3rd"), and, in
/// a top or bottom half, outs, count and runners. American football: possession
/// (a team id), down and distance, red zone. Basketball and hockey situations
/// carry only a last play: nothing.
fn situation_of(
    situation: &Value,
    labels: &FeedLabels,
    detail: Option<&str>,
    home: &Value,
    away: &Value,
) -> Option<Situation> {
    let count = |key: &str, most: i64| situation.get(key).and_then(|v| count_of(v, most));
    let mut read = Situation::default();
    if labels.sport == "baseball" {
        read.half = detail.and_then(inning_half);
        read.outs = count("outs", 3);
        read.balls = count("balls", 4);
        read.strikes = count("strikes", 3);
        let base = |key: &str| situation.get(key).and_then(Value::as_bool);
        if let (Some(first), Some(second), Some(third)) = (base("onFirst"), base("onSecond"), base("onThird")) {
            read.runners = Some(Runners { first, second, third });
        }
        clear_count_between_halves(&mut read);
    }
    let team_id = |c: &Value| c.get("id").or_else(|| c.pointer("/team/id")).and_then(text_of).unwrap_or_default();
    read.possession =
        situation.get("possession").and_then(text_of).and_then(|id| side_of(&id, &team_id(home), &team_id(away)));
    read.down_distance = situation.get("downDistanceText").and_then(text_of);
    // ESPN sends `isRedZone: false` between drives too; it means something only beside a down.
    read.red_zone = situation.get("isRedZone").and_then(Value::as_bool).filter(|_| read.down_distance.is_some());
    read.non_empty()
}

fn read_team(competitor: &Value, state: GameState) -> Result<Team, String> {
    let team = competitor.get("team").ok_or("competitor has no team")?;
    let field = |key: &str| team.get(key).and_then(text_of);
    Ok(Team {
        id: field("id").ok_or("team has no id")?,
        name: field("displayName").or_else(|| field("name")).or_else(|| field("location")).ok_or("team has no name")?,
        short: field("shortDisplayName"),
        abbr: field("abbreviation").ok_or("team has no abbreviation")?,
        score: competitor.get("score").and_then(score_of).filter(|_| state.has_score()),
        logo: field("logo").or_else(|| team.pointer("/logos/0/href").and_then(text_of)),
        // 99 is ESPN's "unranked".
        rank: competitor
            .pointer("/curatedRank/current")
            .and_then(integer_of)
            .filter(|r| (1..99).contains(r))
            .map(|r| r as u32),
        record: record_of(competitor),
    })
}

/// The season record: the `total` one ("45-20"; soccer's "20-6-12"), else the first.
fn record_of(competitor: &Value) -> Option<String> {
    let records = competitor.get("records").and_then(Value::as_array)?;
    records
        .iter()
        .find(|r| r.get("type").and_then(Value::as_str) == Some("total"))
        .or_else(|| records.first())
        .and_then(|r| r.get("summary"))
        .and_then(text_of)
}

/// What a known `status.type.name` says on its own. A name missing here is
/// reported as unknown (logged once per feed), so a new ESPN status is noticed
/// even when `type.state` already tells us what to do with it.
fn named_state(name: &str) -> Option<GameState> {
    use GameState::*;
    Some(match name {
        "STATUS_SCHEDULED" | "STATUS_TBD" => Scheduled,
        "STATUS_IN_PROGRESS" | "STATUS_FIRST_HALF" | "STATUS_SECOND_HALF" | "STATUS_OVERTIME"
        | "STATUS_SHOOTOUT" => Live,
        // Half time, between periods, before extra time or before a shootout.
        "STATUS_HALFTIME" | "STATUS_HALFTIME_ET" | "STATUS_END_PERIOD" | "STATUS_END_OF_PERIOD"
        | "STATUS_END_OF_REGULATION" | "STATUS_END_OF_EXTRATIME" => Break,
        "STATUS_FINAL" | "STATUS_FULL_TIME" | "STATUS_FINAL_AET" | "STATUS_FINAL_PEN" | "STATUS_FINAL_OT"
        | "STATUS_FORFEIT" => Final,
        // A suspended game resumes another day with its score: closest to delayed.
        "STATUS_DELAYED" | "STATUS_RAIN_DELAY" | "STATUS_SUSPENDED" => Delayed,
        "STATUS_POSTPONED" => Postponed,
        "STATUS_CANCELED" | "STATUS_CANCELLED" | "STATUS_ABANDONED" => Canceled,
        _ => return None,
    })
}

/// `type.state` (pre/in/post) and `completed` decide first, as they are ESPN's
/// coarse truth for every sport; `type.name` refines within what the state allows.
fn map_status(state: &str, completed: bool, name: &str, unknown: &mut Vec<String>) -> GameState {
    use GameState::*;
    let named = named_state(name);
    if named.is_none() && !name.is_empty() {
        unknown.push(name.to_string());
    }
    match state {
        "pre" => match named {
            Some(refined @ (Postponed | Canceled | Delayed)) => refined,
            _ => Scheduled,
        },
        "in" => match named {
            Some(Break) => Break,
            Some(Delayed | Postponed | Canceled) => Delayed,
            _ => Live,
        },
        "post" if completed => Final,
        "post" => match named {
            Some(refined @ (Postponed | Canceled | Delayed | Final)) => refined,
            // Over but not completed, for a reason we do not know. `delayed`
            // keeps the last score visible without claiming a result.
            Some(_) => {
                unknown.push(format!("{name} (post, not completed)"));
                Delayed
            }
            None => Delayed,
        },
        other => {
            unknown.push(format!("type.state `{other}`"));
            match (completed, named) {
                (true, _) => Final,
                (false, Some(refined)) => refined,
                (false, None) => Scheduled,
            }
        }
    }
}

#[cfg(test)]
mod tests;
