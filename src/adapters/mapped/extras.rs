//! What a mapping reads beside the score: who won, the shootout, the moment of
//! play (`[mapping.situation]`), and the teams' ranks and records.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::super::read::{
    clear_count_between_halves, count_of, inning_half, integer_of, score_of, shows_clock, side_of, text_of,
};
use super::{optional_text, JsonMapping};
use crate::model::{Game, GameState, Runners, Shootout, Side, Situation};

/// `[mapping.situation]`: pointers relative to the game object, all optional.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SituationMapping {
    /// Text whose first word is top, bot(tom), mid(dle) or end (MLB's `inningState`).
    pub half: Option<String>,
    pub outs: Option<String>,
    pub balls: Option<String>,
    pub strikes: Option<String>,
    /// A base is taken when its value is `true`, an object (MLB's runner) or any
    /// other non-empty value; `false`, `null` or nothing means empty.
    pub first: Option<String>,
    pub second: Option<String>,
    pub third: Option<String>,
    /// The id of the team with the ball (compared with `home.id`/`away.id`), or `home`/`away`.
    pub possession: Option<String>,
    pub down_distance: Option<String>,
    pub red_zone: Option<String>,
}

impl SituationMapping {
    pub(super) fn pointers(&self) -> Vec<(&'static str, &String)> {
        [
            ("half", &self.half),
            ("outs", &self.outs),
            ("balls", &self.balls),
            ("strikes", &self.strikes),
            ("first", &self.first),
            ("second", &self.second),
            ("third", &self.third),
            ("possession", &self.possession),
            ("down_distance", &self.down_distance),
            ("red_zone", &self.red_zone),
        ]
        .into_iter()
        .filter_map(|(key, pointer)| pointer.as_ref().map(|p| (key, p)))
        .collect()
    }
}

/// The side a `winner_values` word names.
pub(super) fn side_word(word: &str) -> Option<Side> {
    match word {
        "home" => Some(Side::Home),
        "away" => Some(Side::Away),
        _ => None,
    }
}

/// Who won, once final: the game's `winner` value looked up in `winner_values`,
/// else a team's `winner` flag, else (with `winner_from_score`) the higher score.
pub(super) fn winner_of(mapping: &JsonMapping, game: &Value, scores: (Option<i64>, Option<i64>), state: GameState) -> Option<Side> {
    if state != GameState::Final {
        return None;
    }
    let by_value = mapping
        .winner
        .as_deref()
        .and_then(|p| game.pointer(p))
        .and_then(text_of)
        .and_then(|value| mapping.winner_values.get(&value))
        .and_then(|word| side_word(word));
    let flag = |pointer: Option<&str>| pointer.and_then(|p| game.pointer(p)).and_then(Value::as_bool) == Some(true);
    let by_flag = match (flag(mapping.home.winner.as_deref()), flag(mapping.away.winner.as_deref())) {
        (true, false) => Some(Side::Home),
        (false, true) => Some(Side::Away),
        _ => None,
    };
    let by_score = match scores {
        (Some(home), Some(away)) if mapping.winner_from_score && home != away => {
            Some(if home > away { Side::Home } else { Side::Away })
        }
        _ => None,
    };
    by_value.or(by_flag).or(by_score)
}

/// The shootout's score when both sides have one and the game has begun.
pub(super) fn shootout_of(mapping: &JsonMapping, game: &Value, state: GameState) -> Option<Shootout> {
    let goals = |pointer: Option<&str>| pointer.and_then(|p| game.pointer(p)).and_then(score_of);
    match (goals(mapping.home.shootout.as_deref()), goals(mapping.away.shootout.as_deref())) {
        (Some(home), Some(away)) if state.has_score() => Some(Shootout { home, away }),
        _ => None,
    }
}

/// The moment of play, while live or at a break; `None` when nothing is mapped or found.
pub(super) fn situation_of(mapping: &SituationMapping, game: &Value, home_id: &str, away_id: &str) -> Option<Situation> {
    let at = |pointer: &Option<String>| pointer.as_deref().and_then(|p| game.pointer(p));
    let mut read = Situation {
        half: at(&mapping.half).and_then(text_of).and_then(|text| inning_half(&text)),
        outs: at(&mapping.outs).and_then(|v| count_of(v, 3)),
        balls: at(&mapping.balls).and_then(|v| count_of(v, 4)),
        strikes: at(&mapping.strikes).and_then(|v| count_of(v, 3)),
        runners: None,
        possession: at(&mapping.possession).and_then(text_of).and_then(|team| side_of(&team, home_id, away_id)),
        down_distance: at(&mapping.down_distance).and_then(text_of),
        red_zone: at(&mapping.red_zone).and_then(Value::as_bool),
    };
    if mapping.first.is_some() || mapping.second.is_some() || mapping.third.is_some() {
        let taken = |pointer: &Option<String>| match at(pointer) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
        };
        read.runners = Some(Runners { first: taken(&mapping.first), second: taken(&mapping.second), third: taken(&mapping.third) });
    }
    clear_count_between_halves(&mut read);
    read.non_empty()
}

/// A poll rank, 1 to 98 (99 and 0 mean unranked at ESPN and elsewhere).
pub(super) fn rank_of(game: &Value, pointer: Option<&str>) -> Option<u32> {
    pointer.and_then(|p| game.pointer(p)).and_then(integer_of).filter(|r| (1..99).contains(r)).map(|r| r as u32)
}

/// A record: text as written ("45-20"), or an object of counts, written
/// wins-losses[-ties or overtime losses] (MLB's `leagueRecord`, NBA's team object).
pub(super) fn record_of(game: &Value, pointer: Option<&str>) -> Option<String> {
    let value = pointer.and_then(|p| game.pointer(p))?;
    if let Value::Object(fields) = value {
        let count = |key: &str| fields.get(key).and_then(integer_of).filter(|n| *n >= 0);
        let (wins, losses) = (count("wins")?, count("losses")?);
        let third = count("ties").or_else(|| count("otLosses")).or_else(|| count("ot"));
        return Some(match third {
            Some(third) => format!("{wins}-{losses}-{third}"),
            None => format!("{wins}-{losses}"),
        });
    }
    text_of(value)
}

/// Fills the fields beside the score of a game read by the mapping.
pub(super) fn fill(mapping: &JsonMapping, item: &Value, game: &mut Game) {
    let state = game.status.state;
    game.winner = winner_of(mapping, item, (game.home.score, game.away.score), state);
    game.shootout = shootout_of(mapping, item, state);
    game.situation = mapping
        .situation
        .as_ref()
        .filter(|_| shows_clock(state))
        .and_then(|situation| situation_of(situation, item, &game.home.id, &game.away.id));
    game.series = optional_text(item, mapping.series.as_deref());
    game.note = optional_text(item, mapping.note.as_deref());
    for (team, side) in [(&mut game.home, &mapping.home), (&mut game.away, &mapping.away)] {
        team.rank = rank_of(item, side.rank.as_deref());
        team.record = record_of(item, side.record.as_deref());
    }
}

/// Problems of `winner_values`: each value must be `home` or `away`.
pub(super) fn winner_values_problems(values: &BTreeMap<String, String>, key_of: impl Fn(&str) -> String) -> Vec<(String, String)> {
    values
        .iter()
        .filter(|(_, word)| side_word(word).is_none())
        .map(|(upstream, word)| (format!("winner_values.{}", key_of(upstream)), format!("`{word}` is not a side; use home or away")))
        .collect()
}
