//! Adaptive polling: which of a feed's two schedules applies right now.
//!
//! A feed with `schedule_idle` is polled on its fast `schedule` while any of its
//! games is in play or about to start, and on the slow `schedule_idle` the rest
//! of the day. The choice is made from what the last good poll said (an
//! [`Outlook`]) and the clock, so a game whose start is coming up switches the
//! feed to the fast schedule on time, without waiting for an idle poll.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Game, GameState};

/// Which schedule a poll belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollMode {
    /// The feed has no `schedule_idle`: always its one `schedule`.
    Fixed,
    /// A game is in play or starts within `prestart`: the fast `schedule`.
    Live,
    /// Nothing in play and nothing about to start: `schedule_idle`.
    Idle,
}

impl PollMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PollMode::Fixed => "fixed",
            PollMode::Live => "live",
            PollMode::Idle => "idle",
        }
    }
}

/// What a feed's last good poll said, as far as the schedule cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outlook {
    /// Some game is live, at a break, or delayed mid-game.
    pub in_play: bool,
    /// The earliest start among games still `scheduled` (possibly in the past:
    /// a game whose start has passed but that still reads `scheduled` means the
    /// upstream is late, not the game).
    pub next_start: Option<DateTime<Utc>>,
}

impl Outlook {
    pub fn of(games: &[Game]) -> Outlook {
        let in_play = games.iter().any(|g| matches!(g.status.state, GameState::Live | GameState::Break | GameState::Delayed));
        let next_start = games
            .iter()
            .filter(|g| g.status.state == GameState::Scheduled)
            .filter_map(|g| g.start.as_deref())
            .filter_map(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .min();
        Outlook { in_play, next_start }
    }

    /// The mode at `now`: live while a game is in play or one starts within
    /// `prestart` (or should have started already), idle otherwise.
    pub fn mode(&self, now: DateTime<Utc>, prestart: Duration) -> PollMode {
        let prestart = chrono::Duration::from_std(prestart).unwrap_or(chrono::Duration::MAX);
        let starting = self.next_start.is_some_and(|start| now >= start - prestart);
        if self.in_play || starting {
            PollMode::Live
        } else {
            PollMode::Idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Status, Team};

    fn game(state: GameState, start: &str) -> Game {
        let team = |abbr: &str| Team { id: abbr.into(), name: abbr.into(), abbr: abbr.into(), ..Team::default() };
        Game {
            id: "f:1".into(),
            feed: "f".into(),
            league: "l".into(),
            sport: "s".into(),
            start: Some(start.into()),
            status: Status { state, period: None, clock: None, detail: None },
            home: team("H"),
            away: team("A"),
            ..Game::default()
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const HALF_HOUR: Duration = Duration::from_secs(1800);

    #[test]
    fn finished_games_are_idle() {
        let o = Outlook::of(&[game(GameState::Final, "2026-07-04T17:00:00Z"), game(GameState::Canceled, "2026-07-04T18:00:00Z")]);
        assert_eq!(o.mode(at("2026-07-04T20:00:00Z"), HALF_HOUR), PollMode::Idle);
    }

    #[test]
    fn a_start_within_prestart_is_live_and_one_further_away_is_not() {
        let o = Outlook::of(&[game(GameState::Scheduled, "2026-07-04T21:00:00Z")]);
        assert_eq!(o.mode(at("2026-07-04T20:29:59Z"), HALF_HOUR), PollMode::Idle);
        assert_eq!(o.mode(at("2026-07-04T20:30:00Z"), HALF_HOUR), PollMode::Live);
        // Past its start and still scheduled: the upstream is late, keep watching.
        assert_eq!(o.mode(at("2026-07-05T02:00:00Z"), HALF_HOUR), PollMode::Live);
    }

    #[test]
    fn games_in_play_are_live() {
        for state in [GameState::Live, GameState::Break, GameState::Delayed] {
            let o = Outlook::of(&[game(state, "2026-07-04T17:00:00Z"), game(GameState::Final, "2026-07-04T15:00:00Z")]);
            assert_eq!(o.mode(at("2026-07-04T18:00:00Z"), HALF_HOUR), PollMode::Live, "{state:?}");
        }
    }
}
