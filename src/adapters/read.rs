//! Readers of single upstream values, shared by every adapter, so all of them
//! treat odd upstream values (numbers as strings, empty strings, minute-precision
//! times) the same way.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::model::{GameState, InningHalf, Side, Situation};

/// A JSON value as display text: strings trimmed, numbers and booleans by their
/// JSON form (so numeric ids become text). Empty strings count as absent: an
/// upstream writes `""` where it has nothing (ESPN's placeholder logos, NBA's
/// clock after the final buzzer).
pub(crate) fn text_of(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// A score: a whole number of at least 0, as a number, a numeric string (ESPN's
/// site API), or an object `{value, displayValue}` (ESPN's partner API).
/// Anything else (`"12abc"`, `1e300`, `[1,2]`, `null`, `-5`) is no score; the
/// diff then keeps a begun game's last good score.
pub(crate) fn score_of(value: &Value) -> Option<i64> {
    let score = match value {
        Value::Object(fields) => fields
            .get("value")
            .and_then(integer_of)
            .or_else(|| fields.get("displayValue").and_then(integer_of)),
        other => integer_of(other),
    };
    score.filter(|&s| s >= 0)
}

/// A whole number from a JSON number (`3`, `3.0`) or a numeric string (`"3"`).
pub(crate) fn integer_of(value: &Value) -> Option<i64> {
    let whole = |f: f64| (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64);
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        _ => None,
    }
}

/// A period number; `0` is every upstream's "not started" and means none.
pub(crate) fn period_of(value: &Value) -> Option<u32> {
    integer_of(value).and_then(|p| u32::try_from(p).ok()).filter(|&p| p > 0)
}

/// Whether a clock means anything: only while the game is on. Scheduled and
/// final games still carry a clock upstream ("0:00", NHL's "03:41" after an
/// overtime win), which would only mislead.
pub(crate) fn shows_clock(state: GameState) -> bool {
    matches!(state, GameState::Live | GameState::Break)
}

/// Any RFC 3339 time, or ESPN's minute-precision `"2026-06-28T19:00Z"`, as
/// RFC 3339 UTC with seconds (`"2026-06-28T19:00:00Z"`), the one form clients see.
pub(crate) fn normalize_start(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(utc_text(time));
    }
    let with_offset = match text.strip_suffix(['Z', 'z']) {
        Some(local) => format!("{local}+00:00"),
        None => text.to_string(),
    };
    DateTime::parse_from_str(&with_offset, "%Y-%m-%dT%H:%M%:z").ok().map(utc_text)
}

pub(crate) fn utc_text<Tz: chrono::TimeZone>(time: DateTime<Tz>) -> String {
    time.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A count (outs, balls, strikes) of at most `most`; anything else is not shown.
pub(crate) fn count_of(value: &Value, most: i64) -> Option<u32> {
    integer_of(value).filter(|n| (0..=most).contains(n)).map(|n| n as u32)
}

/// The half-inning from the first word of an upstream's text: ESPN's detail
/// ("Top 9th", "Bot 5th", "Mid 3rd", "End 3rd"), MLB's `inningState` ("Middle").
pub(crate) fn inning_half(text: &str) -> Option<InningHalf> {
    let first = text.split_whitespace().next()?.to_ascii_lowercase();
    Some(match first.as_str() {
        "top" => InningHalf::Top,
        "bot" | "bottom" => InningHalf::Bottom,
        "mid" | "middle" => InningHalf::Middle,
        "end" => InningHalf::End,
        _ => return None,
    })
}

/// Between two halves of an inning upstreams still send a count and runners
/// (zeros, or the last batter's): they mean nothing until the next half starts.
pub(crate) fn clear_count_between_halves(situation: &mut Situation) {
    if matches!(situation.half, Some(InningHalf::Middle | InningHalf::End)) {
        situation.outs = None;
        situation.balls = None;
        situation.strikes = None;
        situation.runners = None;
    }
}

/// Which side a team id names (upstreams name the team with the ball by its id);
/// the words `home` and `away` are taken as they are.
pub(crate) fn side_of(team: &str, home_id: &str, away_id: &str) -> Option<Side> {
    match team {
        _ if team == home_id || team.eq_ignore_ascii_case("home") => Some(Side::Home),
        _ if team == away_id || team.eq_ignore_ascii_case("away") => Some(Side::Away),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn situation_readers() {
        assert_eq!(count_of(&json!(2), 3), Some(2));
        assert_eq!(count_of(&json!("3"), 3), Some(3));
        assert_eq!(count_of(&json!(4), 3), None);
        assert_eq!(count_of(&json!(-1), 3), None);
        assert_eq!(inning_half("Middle"), Some(InningHalf::Middle));
        assert_eq!(inning_half("bottom"), Some(InningHalf::Bottom));
        assert_eq!(inning_half("Final"), None);
        assert_eq!(side_of("12", "5", "12"), Some(Side::Away));
        assert_eq!(side_of("HOME", "5", "12"), Some(Side::Home));
        assert_eq!(side_of("7", "5", "12"), None);
        let mut between = Situation { half: Some(InningHalf::End), outs: Some(0), balls: Some(0), ..Situation::default() };
        clear_count_between_halves(&mut between);
        assert_eq!(between, Situation { half: Some(InningHalf::End), ..Situation::default() });
        let mut top = Situation { half: Some(InningHalf::Top), outs: Some(1), ..Situation::default() };
        clear_count_between_halves(&mut top);
        assert_eq!(top.outs, Some(1));
    }

    #[test]
    fn single_value_readers() {
        assert_eq!(score_of(&json!("3")), Some(3));
        assert_eq!(score_of(&json!(" 12 ")), Some(12));
        assert_eq!(score_of(&json!(4.0)), Some(4));
        assert_eq!(score_of(&json!({"value": 2.0, "displayValue": "2"})), Some(2));
        assert_eq!(score_of(&json!({"displayValue": "5"})), Some(5));
        for none in [json!(""), json!("W"), json!(2.5), json!(null), json!([1]), json!("12abc"), json!(1e300),
            json!([1, 2]), json!(-5), json!("-5"), json!({"value": -1})] {
            assert_eq!(score_of(&none), None, "{none}");
        }
        assert_eq!(period_of(&json!(0)), None);
        assert_eq!(period_of(&json!("3")), Some(3));
        assert_eq!(period_of(&json!(-1)), None);
        assert_eq!(text_of(&json!(1610612744)), Some("1610612744".into()));
        assert_eq!(text_of(&json!("  ")), None);
        assert_eq!(text_of(&json!({"default": "Bruins"})), None);
        assert_eq!(normalize_start("2026-06-28T19:00Z").as_deref(), Some("2026-06-28T19:00:00Z"));
        assert_eq!(normalize_start("2025-06-06T00:30:00+00:00").as_deref(), Some("2025-06-06T00:30:00Z"));
        assert_eq!(normalize_start("2023-04-20T22:00:00-04:00").as_deref(), Some("2023-04-21T02:00:00Z"));
        assert_eq!(normalize_start("2026-06-28"), None);
    }
}
