//! ESPN's site-API scoreboard (`/apis/site/v2/sports/{sport}/{league}/scoreboard`),
//! one reader for every sport ESPN covers: the shape is the same for basketball,
//! football, baseball, hockey and soccer; only the status names differ.
//!
//! What we read, and nothing else (the demo's trimmed recordings keep exactly this):
//!
//! ```text
//! events[].id, .date
//! events[].status.{period, displayClock, type.{name, state, completed, shortDetail, detail, description}}
//! events[].competitions[0].competitors[].{homeAway, score,
//!     team.{id, displayName, name, location, shortDisplayName, abbreviation, logo, logos[0].href}}
//! ```
//! (`competitions[0].status` / `.date` stand in when the event lacks its own.)

use serde_json::Value;

use super::read::{normalize_start, period_of, score_of, shows_clock, text_of};
use super::{AdapterError, FeedLabels};
use crate::model::{Game, GameState, Status, Team};

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
        updated: None,
        ..Game::default()
    })
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
        ..Team::default()
    })
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
mod tests {
    use super::*;
    use crate::adapters::{Adapter, AdapterKind};
    use serde_json::json;
    use GameState::*;

    fn labels(feed: &str, league: &str, sport: &str) -> FeedLabels {
        FeedLabels { feed: feed.into(), league: league.into(), sport: sport.into() }
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/espn/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// Parses a fixture, asserting no status name was unknown (every recorded one is known).
    fn parse_fixture(name: &str, labels: &FeedLabels) -> Vec<Game> {
        let mut unknown = Vec::new();
        let games = parse(labels, &fixture(name), &mut unknown).unwrap();
        assert!(unknown.is_empty(), "{name}: unknown statuses {unknown:?}");
        games
    }

    fn game<'a>(games: &'a [Game], upstream_id: &str) -> &'a Game {
        games
            .iter()
            .find(|g| g.id.rsplit(':').next() == Some(upstream_id))
            .unwrap_or_else(|| panic!("no game {upstream_id}"))
    }

    fn count(games: &[Game], state: GameState) -> usize {
        games.iter().filter(|g| g.status.state == state).count()
    }

    fn scores(g: &Game) -> (Option<i64>, Option<i64>) {
        (g.home.score, g.away.score)
    }

    /// Rules every parsed game obeys, whatever the sport.
    fn assert_invariants(name: &str, games: &[Game]) {
        for g in games {
            let state = g.status.state;
            assert_eq!(g.home.score.is_some(), state.has_score(), "{name} {}: home score vs {state:?}", g.id);
            assert_eq!(g.away.score.is_some(), state.has_score(), "{name} {}: away score vs {state:?}", g.id);
            if !matches!(state, Live | Break) {
                assert_eq!(g.status.clock, None, "{name} {}: clock while {state:?}", g.id);
            }
            if !state.has_score() {
                assert_eq!(g.status.period, None, "{name} {}: period while {state:?}", g.id);
            }
            let start = g.start.as_deref().unwrap_or_else(|| panic!("{name} {}: no start", g.id));
            assert!(start.ends_with('Z') && start.len() == 20, "{name} {}: start {start}", g.id);
            assert!(chrono::DateTime::parse_from_rfc3339(start).is_ok());
            assert_eq!(g.updated, None);
            assert!(g.status.detail.is_some(), "{name} {}: no detail", g.id);
        }
    }

    /// Every ESPN fixture: how many games, and how many in each state.
    #[test]
    fn every_fixture_parses_with_the_expected_states() {
        // (file, sport, games, [scheduled, live, break, final, postponed])
        let table: &[(&str, &str, usize, [usize; 5])] = &[
            ("basketball-nba-20241215.json", "basketball", 7, [0, 0, 0, 7, 0]),
            ("basketball-nba-scheduled.json", "basketball", 1, [1, 0, 0, 0, 0]),
            ("basketball-nba-live-playoffs.json", "basketball", 1, [0, 1, 0, 0, 0]),
            ("basketball-wnba-scheduled.json", "basketball", 2, [2, 0, 0, 0, 0]),
            ("football-nfl-20241215.json", "football", 13, [0, 0, 0, 13, 0]),
            ("football-nfl-scheduled.json", "football", 16, [16, 0, 0, 0, 0]),
            ("football-college-sec-week1.json", "football", 16, [16, 0, 0, 0, 0]),
            ("hockey-nhl-live.json", "hockey", 1, [0, 1, 0, 0, 0]),
            ("hockey-nhl.json", "hockey", 1, [0, 0, 0, 1, 0]),
            ("baseball-mlb-20250604.json", "baseball", 15, [0, 6, 0, 8, 1]),
            ("soccer-eng1.json", "soccer", 10, [0, 0, 0, 10, 0]),
            ("soccer-usa1.json", "soccer", 1, [1, 0, 0, 0, 0]),
            ("worldcup-004-20260701T215700Z.json", "soccer", 32, [23, 1, 0, 8, 0]),
            ("worldcup-010-20260703T000112Z.json", "soccer", 32, [20, 0, 1, 11, 0]),
            ("worldcup-011-20260703T041507Z.json", "soccer", 32, [19, 1, 0, 12, 0]),
            ("worldcup-013-20260703T184422Z.json", "soccer", 32, [18, 1, 0, 13, 0]),
            ("worldcup-014-20260703T200949Z.json", "soccer", 32, [18, 1, 0, 13, 0]),
            ("worldcup-015-20260703T213749Z.json", "soccer", 32, [18, 0, 0, 14, 0]),
            ("worldcup-039-20260707T234706Z.json", "soccer", 32, [8, 0, 0, 24, 0]),
        ];
        for &(name, sport, total, [scheduled, live, brk, fin, postponed]) in table {
            let games = parse_fixture(name, &labels("f", "l", sport));
            assert_eq!(games.len(), total, "{name}");
            let counts = [count(&games, Scheduled), count(&games, Live), count(&games, Break), count(&games, Final), count(&games, Postponed)];
            assert_eq!(counts, [scheduled, live, brk, fin, postponed], "{name}");
            assert_eq!(count(&games, Delayed) + count(&games, Canceled), 0, "{name}");
            assert_invariants(name, &games);
        }
    }

    #[test]
    fn nba_finals_carry_labels_ids_teams_and_scores() {
        let games = parse_fixture("basketball-nba-20241215.json", &labels("espn-nba", "nba", "basketball"));
        let g = game(&games, "401736810");
        assert_eq!(g.id, "espn-nba:401736810");
        assert_eq!((g.feed.as_str(), g.league.as_str(), g.sport.as_str()), ("espn-nba", "nba", "basketball"));
        assert_eq!(g.start.as_deref(), Some("2024-12-15T22:00:00Z"));
        assert_eq!(g.status, Status { state: Final, period: Some(4), clock: None, detail: Some("Final".into()) });
        assert_eq!(
            g.home,
            Team {
                id: "11".into(),
                name: "Indiana Pacers".into(),
                short: Some("Pacers".into()),
                abbr: "IND".into(),
                score: Some(119),
                logo: Some("https://a.espncdn.com/i/teamlogos/nba/500/scoreboard/ind.png".into()),
                ..Team::default()
            }
        );
        assert_eq!((g.away.abbr.as_str(), g.away.score), ("NO", Some(104)));
        let dal = game(&games, "401737912");
        assert_eq!((dal.home.abbr.as_str(), dal.away.abbr.as_str(), scores(dal)), ("GS", "DAL", (Some(133), Some(143))));
    }

    #[test]
    fn a_live_nba_game_has_clock_period_and_detail() {
        let games = parse_fixture("basketball-nba-live-playoffs.json", &labels("espn-nba", "nba", "basketball"));
        let g = game(&games, "401869412");
        assert_eq!(g.status, Status { state: Live, period: Some(4), clock: Some("8:41".into()), detail: Some("8:41 - 4th".into()) });
        assert_eq!((g.home.abbr.as_str(), g.home.name.as_str()), ("BOS", "Boston Celtics"));
        assert_eq!(scores(g), (Some(87), Some(92)));
        assert_eq!(g.away.short.as_deref(), Some("76ers"));
    }

    #[test]
    fn scheduled_games_have_no_score_period_or_clock() {
        let games = parse_fixture("basketball-nba-scheduled.json", &labels("espn-nba", "nba", "basketball"));
        let g = game(&games, "401766122");
        // ESPN writes "0" scores, period 0 and clock "0.0" before the tip.
        assert_eq!(g.status, Status { state: Scheduled, period: None, clock: None, detail: Some("6/5 - 8:30 PM EDT".into()) });
        assert_eq!(scores(g), (None, None));
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str()), ("OKC", "IND"));
        // "2025-06-06T00:30:00+00:00" in this recording: same normal form.
        assert_eq!(g.start.as_deref(), Some("2025-06-06T00:30:00Z"));

        let wnba = parse_fixture("basketball-wnba-scheduled.json", &labels("espn-wnba", "wnba", "basketball"));
        let g = game(&wnba, "401736160");
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("PHX", "GS", (None, None)));
        assert_eq!(g.start.as_deref(), Some("2025-06-06T02:00:00Z"));

        let nfl = parse_fixture("football-nfl-scheduled.json", &labels("espn-nfl", "nfl", "football"));
        let g = game(&nfl, "401772510");
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str()), ("PHI", "DAL"));
        assert_eq!(g.start.as_deref(), Some("2025-09-05T00:20:00Z"));
        assert_eq!(g.status.detail.as_deref(), Some("9/4 - 8:20 PM EDT"));

        let mls = parse_fixture("soccer-usa1.json", &labels("espn-mls", "mls", "soccer"));
        let g = game(&mls, "727049");
        // No `period` at all in this soccer recording, and a "0'" clock.
        assert_eq!(g.status, Status { state: Scheduled, period: None, clock: None, detail: Some("Scheduled".into()) });
        assert_eq!((g.home.short.as_deref(), g.away.abbr.as_str()), (Some("Seattle"), "MIN"));
        assert_eq!(g.start.as_deref(), Some("2025-06-01T22:00:00Z"));
    }

    #[test]
    fn football_finals_and_college_schedule() {
        let nfl = parse_fixture("football-nfl-20241215.json", &labels("espn-nfl", "nfl", "football"));
        let g = game(&nfl, "401671681");
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("DET", "BUF", (Some(42), Some(48))));
        assert_eq!(g.status.period, Some(4));
        assert_eq!(g.start.as_deref(), Some("2024-12-15T21:25:00Z"));

        let sec = parse_fixture("football-college-sec-week1.json", &labels("espn-sec", "college-football", "football"));
        let g = game(&sec, "401752678");
        assert_eq!((g.home.abbr.as_str(), g.home.name.as_str()), ("TA&M", "Texas A&M Aggies"));
        assert_eq!((g.away.abbr.as_str(), g.status.state, scores(g)), ("UTSA", Scheduled, (None, None)));
    }

    #[test]
    fn hockey_live_overtime_and_final() {
        let live = parse_fixture("hockey-nhl-live.json", &labels("espn-nhl", "nhl", "hockey"));
        let g = game(&live, "401777455");
        assert_eq!(g.status, Status { state: Live, period: Some(4), clock: Some("17:09".into()), detail: Some("17:09 - OT".into()) });
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("EDM", "FLA", (Some(3), Some(3))));

        let fin = parse_fixture("hockey-nhl.json", &labels("espn-nhl", "nhl", "hockey"));
        let g = game(&fin, "401672881");
        assert_eq!(g.status, Status { state: Final, period: Some(3), clock: None, detail: Some("Final".into()) });
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("FLA", "NYR", (Some(2), Some(1))));
        assert_eq!(g.start.as_deref(), Some("2024-06-02T00:00:00Z"));
    }

    #[test]
    fn baseball_postponed_live_and_final() {
        let games = parse_fixture("baseball-mlb-20250604.json", &labels("espn-mlb", "mlb", "baseball"));
        // Recorded as state "post", completed false, STATUS_POSTPONED, scores "0", period 1.
        let ppd = game(&games, "401695827");
        assert_eq!(ppd.status, Status { state: Postponed, period: None, clock: None, detail: Some("Postponed".into()) });
        assert_eq!((ppd.home.abbr.as_str(), ppd.away.abbr.as_str(), scores(ppd)), ("STL", "KC", (None, None)));

        // Baseball has no clock, though ESPN sends "0:00".
        let live = game(&games, "401695818");
        assert_eq!(live.status, Status { state: Live, period: Some(9), clock: None, detail: Some("Top 9th".into()) });
        assert_eq!((live.home.abbr.as_str(), scores(live)), ("ATL", (Some(0), Some(1))));
        let between = game(&games, "401764549");
        assert_eq!((between.status.state, between.status.detail.as_deref()), (Live, Some("End 3rd")));

        let fin = game(&games, "401695817");
        assert_eq!((fin.home.abbr.as_str(), fin.away.abbr.as_str(), scores(fin)), ("BOS", "LAA", (Some(11), Some(9))));
        assert_eq!(fin.start.as_deref(), Some("2025-06-04T17:35:00Z"));
    }

    #[test]
    fn premier_league_full_time() {
        let games = parse_fixture("soccer-eng1.json", &labels("espn-epl", "epl", "soccer"));
        let g = game(&games, "704649");
        assert_eq!(g.status, Status { state: Final, period: Some(2), clock: None, detail: Some("FT".into()) });
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("BOU", "LEI", (Some(2), Some(0))));
        assert_eq!(g.start.as_deref(), Some("2025-05-25T15:00:00Z"));
    }

    #[test]
    fn world_cup_through_a_knockout_day() {
        let wc = labels("espn-worldcup", "worldcup", "soccer");

        // Second half, stoppage time.
        let games = parse_fixture("worldcup-004-20260701T215700Z.json", &wc);
        let g = game(&games, "760493");
        assert_eq!(g.status, Status { state: Live, period: Some(2), clock: Some("90'+4'".into()), detail: Some("90'+4'".into()) });
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("BEL", "SEN", (Some(2), Some(2))));
        assert_eq!(g.start.as_deref(), Some("2026-07-01T20:00:00Z"));

        // STATUS_HALFTIME → break, with ESPN's "HT" and the clock where the half ended.
        let games = parse_fixture("worldcup-010-20260703T000112Z.json", &wc);
        let g = game(&games, "760496");
        assert_eq!(g.status, Status { state: Break, period: Some(1), clock: Some("45'+4'".into()), detail: Some("HT".into()) });
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("POR", "CRO", (Some(0), Some(0))));
        // STATUS_FINAL_AET → final.
        let aet = game(&games, "760493");
        assert_eq!(aet.status, Status { state: Final, period: Some(4), clock: None, detail: Some("AET".into()) });
        assert_eq!(scores(aet), (Some(3), Some(2)));

        // STATUS_IN_PROGRESS in a soccer feed.
        let games = parse_fixture("worldcup-011-20260703T041507Z.json", &wc);
        let g = game(&games, "760498");
        assert_eq!((g.status.state, g.status.clock.as_deref(), scores(g)), (Live, Some("55'"), (Some(2), Some(0))));

        // STATUS_FIRST_HALF.
        let games = parse_fixture("worldcup-013-20260703T184422Z.json", &wc);
        let g = game(&games, "760499");
        assert_eq!(g.status, Status { state: Live, period: Some(1), clock: Some("44'".into()), detail: Some("44'".into()) });
        assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("AUS", "EGY", (Some(0), Some(1))));

        // STATUS_OVERTIME: extra time is play.
        let games = parse_fixture("worldcup-014-20260703T200949Z.json", &wc);
        let g = game(&games, "760499");
        assert_eq!(g.status, Status { state: Live, period: Some(3), clock: Some("96'".into()), detail: Some("96'".into()) });
        assert_eq!(scores(g), (Some(1), Some(1)));

        // STATUS_FINAL_PEN: the score stays the 120' score, the detail says penalties.
        let games = parse_fixture("worldcup-015-20260703T213749Z.json", &wc);
        let g = game(&games, "760499");
        assert_eq!(g.status, Status { state: Final, period: Some(5), clock: None, detail: Some("FT-Pens".into()) });
        assert_eq!(scores(g), (Some(1), Some(1)));
    }

    #[test]
    fn world_cup_placeholders_for_undecided_fixtures() {
        let games = parse_fixture("worldcup-039-20260707T234706Z.json", &labels("espn-worldcup", "worldcup", "soccer"));
        let g = game(&games, "760508");
        assert_eq!((g.status.state, g.status.detail.as_deref(), scores(g)), (Final, Some("FT-Pens"), (Some(0), Some(0))));
        // Undecided pairings are teams too, with an empty logo (left out).
        let g = game(&games, "760516");
        assert_eq!((g.home.abbr.as_str(), g.home.name.as_str(), g.home.logo.as_deref()), ("SF L1", "Semifinal 1 Loser", None));
        assert_eq!((g.status.state, scores(g)), (Scheduled, (None, None)));
        assert_eq!(g.start.as_deref(), Some("2026-07-18T21:00:00Z"));
    }

    #[test]
    fn status_names_refine_the_state() {
        let cases: &[(&str, bool, &str, GameState)] = &[
            ("pre", false, "STATUS_SCHEDULED", Scheduled),
            ("pre", false, "STATUS_POSTPONED", Postponed),
            ("pre", false, "STATUS_CANCELED", Canceled),
            ("pre", false, "STATUS_CANCELLED", Canceled),
            ("pre", false, "STATUS_DELAYED", Delayed),
            ("pre", false, "STATUS_RAIN_DELAY", Delayed),
            ("in", false, "STATUS_IN_PROGRESS", Live),
            ("in", false, "STATUS_HALFTIME", Break),
            ("in", false, "STATUS_END_PERIOD", Break),
            ("in", false, "STATUS_END_OF_EXTRATIME", Break),
            ("in", false, "STATUS_RAIN_DELAY", Delayed),
            ("in", false, "STATUS_DELAYED", Delayed),
            ("in", false, "STATUS_SHOOTOUT", Live),
            ("post", true, "STATUS_FINAL", Final),
            ("post", true, "STATUS_FINAL_PEN", Final),
            ("post", false, "STATUS_POSTPONED", Postponed),
            ("post", false, "STATUS_CANCELED", Canceled),
            ("post", false, "STATUS_SUSPENDED", Delayed),
            ("post", false, "STATUS_ABANDONED", Canceled),
        ];
        for &(state, completed, name, expected) in cases {
            let mut unknown = Vec::new();
            assert_eq!(map_status(state, completed, name, &mut unknown), expected, "{state} {completed} {name}");
            assert!(unknown.is_empty(), "{name}: {unknown:?}");
        }
    }

    #[test]
    fn unknown_status_names_are_reported_even_when_the_state_decides() {
        let cases: &[(&str, bool, &str, GameState)] = &[
            ("in", false, "STATUS_SOMETHING_NEW", Live),
            ("pre", false, "STATUS_SOMETHING_NEW", Scheduled),
            ("post", true, "STATUS_SOMETHING_NEW", Final),
            // Over, not completed, and we cannot tell why: keep the score, claim no result.
            ("post", false, "STATUS_SOMETHING_NEW", Delayed),
        ];
        for &(state, completed, name, expected) in cases {
            let mut unknown = Vec::new();
            assert_eq!(map_status(state, completed, name, &mut unknown), expected, "{state} {completed}");
            assert_eq!(unknown, vec![name.to_string()]);
        }
        // A known name where its state makes no sense is reported with its context.
        let mut unknown = Vec::new();
        assert_eq!(map_status("post", false, "STATUS_IN_PROGRESS", &mut unknown), Delayed);
        assert_eq!(unknown, vec!["STATUS_IN_PROGRESS (post, not completed)".to_string()]);
        // An unknown state is reported; the name still helps.
        let mut unknown = Vec::new();
        assert_eq!(map_status("weird", false, "STATUS_HALFTIME", &mut unknown), Break);
        assert_eq!(unknown, vec!["type.state `weird`".to_string()]);
    }

    #[test]
    fn an_unknown_status_in_a_real_body_lands_in_unknown() {
        let mut body = fixture("worldcup-010-20260703T000112Z.json");
        let event = body["events"].as_array_mut().unwrap().iter_mut().find(|e| e["id"] == "760496").unwrap();
        event["status"]["type"]["name"] = json!("STATUS_WATER_BREAK");
        let mut unknown = Vec::new();
        let games = parse(&labels("f", "l", "soccer"), &body, &mut unknown).unwrap();
        assert_eq!(unknown, vec!["STATUS_WATER_BREAK".to_string()]);
        // type.state is "in": live, whatever the new name means.
        assert_eq!(game(&games, "760496").status.state, Live);
        assert_eq!(games.len(), 32);
    }

    #[test]
    fn scores_may_be_strings_objects_or_numbers() {
        let body = json!({"events": [{
            "id": 1, "date": "2026-01-02T03:04Z",
            "status": {"period": 2, "displayClock": "1:00", "type": {"name": "STATUS_IN_PROGRESS", "state": "in", "completed": false, "detail": "1:00 - 2nd"}},
            "competitions": [{"competitors": [
                {"homeAway": "away", "score": {"value": 7.0, "displayValue": "7"}, "team": {"id": "2", "name": "Away", "abbreviation": "AW", "logos": [{"href": "https://x/aw.png"}]}},
                {"homeAway": "home", "score": 10, "team": {"id": "1", "displayName": "Home", "abbreviation": "HO"}}
            ]}]
        }]});
        let games = parse(&labels("f", "l", "football"), &body, &mut Vec::new()).unwrap();
        let g = &games[0];
        assert_eq!(g.id, "f:1");
        assert_eq!(scores(g), (Some(10), Some(7)));
        assert_eq!((g.home.name.as_str(), g.away.name.as_str()), ("Home", "Away"));
        assert_eq!(g.away.logo.as_deref(), Some("https://x/aw.png"));
        // No shortDetail: ESPN's longer detail stands in.
        assert_eq!(g.status.detail.as_deref(), Some("1:00 - 2nd"));
        assert_eq!(g.start.as_deref(), Some("2026-01-02T03:04:00Z"));
    }

    #[test]
    fn malformed_events_are_skipped_unless_all_are() {
        let mut body = fixture("hockey-nhl.json");
        let good = body["events"][0].clone();
        let mut no_home = good.clone();
        no_home["competitions"][0]["competitors"][0]["homeAway"] = json!("away");
        let mut no_competitors = good.clone();
        no_competitors["competitions"][0].as_object_mut().unwrap().remove("competitors");
        body["events"] = json!([no_home, good, no_competitors]);
        let games = parse(&labels("f", "nhl", "hockey"), &body, &mut Vec::new()).unwrap();
        assert_eq!(games.len(), 1);
        assert_eq!(games[0].id, "f:401672881");

        body["events"] = json!([no_home, no_competitors]);
        match parse(&labels("f", "nhl", "hockey"), &body, &mut Vec::new()) {
            Err(AdapterError::Shape(m)) => assert!(m.contains("none of the 2 events"), "{m}"),
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_scoreboard_is_valid_but_other_json_is_not() {
        let games = parse(&labels("f", "l", "s"), &json!({"leagues": [], "events": []}), &mut Vec::new()).unwrap();
        assert!(games.is_empty());
        for body in [json!({"foo": 1}), json!({"events": null}), json!([1, 2]), json!("events")] {
            assert!(matches!(parse(&labels("f", "l", "s"), &body, &mut Vec::new()), Err(AdapterError::Shape(_))), "{body}");
        }
    }

    #[test]
    fn bodies_that_are_not_json_are_bad_polls() {
        let adapter = Adapter::new(AdapterKind::Espn, labels("espn-nba", "nba", "basketball"));
        let denied = b"<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n\
You don't have permission to access \"http&#58;&#47;&#47;site&#46;api&#46;espn&#46;com&#47;apis&#47;site&#47;v2&#47;sports&#47;basketball&#47;nba&#47;scoreboard\" on this server.<P>\n\
Reference&#32;&#35;18&#46;5f3c1002&#46;1718000000&#46;1a2b3c4d\n</BODY>\n</HTML>\n";
        assert!(matches!(adapter.parse(denied), Err(AdapterError::NotJson(_))));

        let path = format!("{}/tests/fixtures/espn/basketball-nba-20241215.json", env!("CARGO_MANIFEST_DIR"));
        let full = std::fs::read(path).unwrap();
        assert!(matches!(adapter.parse(&full[..full.len() / 2]), Err(AdapterError::NotJson(_))));
        assert_eq!(adapter.parse(&full).unwrap().len(), 7);

        assert!(matches!(adapter.parse(br#"{"foo":1}"#), Err(AdapterError::Shape(_))));
        assert!(matches!(adapter.parse(b""), Err(AdapterError::NotJson(_))));
    }

    /// The demo's trimmed recordings (feeds/demo/worldcup-2026, made by
    /// feeds/demo/trim-espn.py) read exactly as the untrimmed recordings do.
    #[test]
    fn trimmed_demo_recordings_lose_nothing_the_adapter_reads() {
        let wc = labels("demo-worldcup", "worldcup", "soccer");
        let dir = format!("{}/feeds/demo/worldcup-2026", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        assert_eq!(names.len(), 40, "{names:?}");
        assert_eq!((names[0].as_str(), names[39].as_str()), ("000.json", "039.json"));

        let mut compared = 0;
        let untrimmed_dir = format!("{}/tests/fixtures/espn", env!("CARGO_MANIFEST_DIR"));
        for name in &names {
            let trimmed: Value = serde_json::from_slice(&std::fs::read(format!("{dir}/{name}")).unwrap()).unwrap();
            let mut unknown = Vec::new();
            let games = parse(&wc, &trimmed, &mut unknown).unwrap();
            assert!(!games.is_empty(), "{name}");
            assert!(unknown.is_empty(), "{name}: {unknown:?}");
            assert_invariants(name, &games);

            let prefix = format!("worldcup-{}-", name.trim_end_matches(".json"));
            let original = std::fs::read_dir(&untrimmed_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with(&prefix));
            if let Some(original) = original {
                assert_eq!(games, parse_fixture(&original, &wc), "{name} vs {original}");
                compared += 1;
            }
        }
        assert_eq!(compared, 7);
    }
}
