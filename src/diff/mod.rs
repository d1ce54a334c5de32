//! The diff: per feed, the last known games, and what changed since.
//!
//! Pollers hand the diff every *good* parse; everything else (timeouts, HTTP
//! errors, bodies that are not JSON) never reaches it, so a bad poll cannot lose
//! state. The diff stays suspicious of good-looking polls too: a game is removed
//! only after it has been missing from several polls in a row, and a scoreboard
//! that suddenly comes back empty is not believed until it stays empty.

mod feeds;

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::{Game, Team};
use crate::telemetry;
pub use feeds::{FeedDiffs, FeedUpdate, Polled};

/// What about a game changed. The names are the wire vocabulary of `changes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Score,
    /// The state, the start time, or the upstream detail when it changed on its
    /// own (see [`changes_between`]).
    Status,
    Period,
    Clock,
    /// Names, abbreviations, logos, ranks, records; or the feed's labels.
    Teams,
    Winner,
    Shootout,
    Situation,
    Series,
    Note,
}

impl Change {
    /// The wire name, as serialized (also the `kind` label of the events metric).
    pub fn name(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Score => "score",
            Change::Status => "status",
            Change::Period => "period",
            Change::Clock => "clock",
            Change::Teams => "teams",
            Change::Winner => "winner",
            Change::Shootout => "shootout",
            Change::Situation => "situation",
            Change::Series => "series",
            Change::Note => "note",
        }
    }
}

/// One thing the hub should tell clients about. The hub stamps `seq` and `ts`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Update { changes: Vec<Change>, game: Game },
    /// The game left the feed for good; the last known game rides along so the
    /// hub can route the removal to the same topics the game was on.
    Remove { game: Game },
}

impl Event {
    pub fn game(&self) -> &Game {
        match self {
            Event::Update { game, .. } | Event::Remove { game } => game,
        }
    }
}

#[derive(Debug)]
struct Tracked {
    game: Game,
    /// Consecutive good polls this game was absent from.
    missed: u32,
    /// Whether an unreadable score of this game has been logged already.
    bad_score_logged: bool,
}

impl Tracked {
    fn new(game: Game) -> Tracked {
        Tracked { game, missed: 0, bad_score_logged: false }
    }
}

/// The last known state of one feed.
#[derive(Debug)]
pub struct FeedDiff {
    feed: String,
    remove_after: u32,
    games: HashMap<String, Tracked>,
    /// Consecutive polls that came back empty while we knew games.
    empty_streak: u32,
}

impl FeedDiff {
    pub fn new(feed: impl Into<String>, remove_after: u32) -> FeedDiff {
        FeedDiff { feed: feed.into(), remove_after: remove_after.max(1), games: HashMap::new(), empty_streak: 0 }
    }

    /// The config may change K on reload; games already missing keep their count.
    pub fn set_remove_after(&mut self, remove_after: u32) {
        self.remove_after = remove_after.max(1);
    }

    /// Restores known games (from a saved state) without emitting anything.
    pub fn seed(&mut self, games: impl IntoIterator<Item = Game>) {
        for game in games {
            self.games.insert(game.id.clone(), Tracked::new(game));
        }
    }

    pub fn len(&self) -> usize {
        self.games.len()
    }

    pub fn is_empty(&self) -> bool {
        self.games.is_empty()
    }

    /// Compares one good poll with the last known state and returns what changed,
    /// in upstream order, removals last.
    pub fn apply(&mut self, polled: Vec<Game>, now: DateTime<Utc>) -> Vec<Event> {
        // An empty scoreboard where there were games is more often an upstream
        // hiccup than the end of the day: believe it only once it persists.
        if polled.is_empty() && !self.games.is_empty() {
            self.empty_streak += 1;
            if self.empty_streak < self.remove_after {
                tracing::warn!(feed = %self.feed, known = self.games.len(), streak = self.empty_streak,
                    "poll returned no games while games were known; ignoring it for now");
                return Vec::new();
            }
            self.empty_streak = 0;
            return self.remove_all();
        }
        self.empty_streak = 0;

        let stamp = now.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut events = Vec::new();
        let mut seen = std::collections::HashSet::with_capacity(polled.len());
        for mut game in polled {
            if !seen.insert(game.id.clone()) {
                tracing::debug!(feed = %self.feed, id = %game.id, "duplicate game id in one poll; keeping the first");
                continue;
            }
            match self.games.get_mut(&game.id) {
                None => {
                    let unreadable = keep_good_scores(None, &mut game);
                    game.updated = Some(stamp.clone());
                    let mut tracked = Tracked::new(game.clone());
                    if unreadable {
                        Self::report_unreadable_score(&self.feed, &mut tracked);
                    }
                    events.push(Event::Update { changes: vec![Change::Added], game });
                    self.games.insert(tracked.game.id.clone(), tracked);
                }
                Some(known) => {
                    known.missed = 0;
                    if keep_good_scores(Some(&known.game), &mut game) {
                        Self::report_unreadable_score(&self.feed, known);
                    }
                    let changes = changes_between(&known.game, &game);
                    if !changes.is_empty() {
                        game.updated = Some(stamp.clone());
                        known.game = game.clone();
                        events.push(Event::Update { changes, game });
                    }
                }
            }
        }

        let mut gone: Vec<String> = Vec::new();
        for (id, known) in self.games.iter_mut() {
            if !seen.contains(id) {
                known.missed += 1;
                if known.missed >= self.remove_after {
                    gone.push(id.clone());
                }
            }
        }
        events.extend(self.remove(gone));
        events
    }

    /// The upstream repeated its last answer: games absent from it stay absent
    /// one poll longer, and nothing else can have changed.
    pub fn apply_same(&mut self, now: DateTime<Utc>) -> Vec<Event> {
        if self.empty_streak > 0 {
            return self.apply(Vec::new(), now);
        }
        let mut gone: Vec<String> = Vec::new();
        for (id, known) in self.games.iter_mut() {
            // `missed > 0` means absent from the last poll, which is this one again.
            if known.missed > 0 {
                known.missed += 1;
                if known.missed >= self.remove_after {
                    gone.push(id.clone());
                }
            }
        }
        self.remove(gone)
    }

    /// Counts an unreadable live score (kept at its last good value by
    /// [`keep_good_scores`]) and logs it the first time for this game.
    fn report_unreadable_score(feed: &str, tracked: &mut Tracked) {
        metrics::counter!(telemetry::UNREADABLE_SCORES, "feed" => feed.to_string()).increment(1);
        if !tracked.bad_score_logged {
            tracked.bad_score_logged = true;
            tracing::warn!(feed = %feed, game = %tracked.game.id,
                "unreadable or impossible score for a game that has begun; keeping the last good score (logged once per game)");
        }
    }

    fn remove(&mut self, mut ids: Vec<String>) -> Vec<Event> {
        ids.sort();
        ids.into_iter().filter_map(|id| self.games.remove(&id)).map(|t| Event::Remove { game: t.game }).collect()
    }

    /// Removes every known game at once: the feed itself was removed.
    pub fn remove_all(&mut self) -> Vec<Event> {
        let mut games: Vec<Game> = self.games.drain().map(|(_, t)| t.game).collect();
        games.sort_by(|a, b| a.id.cmp(&b.id));
        games.into_iter().map(|game| Event::Remove { game }).collect()
    }
}

/// Keeps a game's last good scores where a fresh poll of a game that has begun
/// has none: the adapters read an unreadable or impossible score (`"12abc"`,
/// `1e300`, `[1,2]`, `null`, `-5`) as no score, and a score never goes back to
/// `null` once the game is on (docs/PROTOCOL.md). Returns whether a side had no
/// score, so the caller can log and count it; the rest of the game goes through.
/// With no last good score (a game first seen live) the side stays `null`.
pub fn keep_good_scores(known: Option<&Game>, game: &mut Game) -> bool {
    if !game.status.state.has_score() {
        return false;
    }
    let mut unreadable = false;
    for (fresh, last) in [
        (&mut game.home.score, known.and_then(|k| k.home.score)),
        (&mut game.away.score, known.and_then(|k| k.away.score)),
    ] {
        if fresh.is_none() {
            unreadable = true;
            *fresh = last;
        }
    }
    unreadable
}

/// What differs between the known game and a fresh poll of it, ignoring `updated`.
///
/// `status` is reported for a change of state or start time, and for a change of
/// the upstream detail **while the clock stands still**: where the detail is the
/// clock ("14'" → "86'", "8:41 - 4th" → "8:20 - 4th") its change is reported as
/// `clock` (with `period` when that moved), not as `status`, so that `status`
/// means the game's standing changed ("HT", "Top 9th" → "Bot 9th", "Delayed").
pub fn changes_between(old: &Game, new: &Game) -> Vec<Change> {
    let mut changes = Vec::new();
    if old.home.score != new.home.score || old.away.score != new.away.score {
        changes.push(Change::Score);
    }
    let detail_moved_on_its_own = old.status.detail != new.status.detail && old.status.clock == new.status.clock;
    if old.status.state != new.status.state || detail_moved_on_its_own || old.start != new.start {
        changes.push(Change::Status);
    }
    if old.status.period != new.status.period {
        changes.push(Change::Period);
    }
    if old.status.clock != new.status.clock {
        changes.push(Change::Clock);
    }
    let team_changed = |a: &Team, b: &Team| {
        a.id != b.id
            || a.name != b.name
            || a.short != b.short
            || a.abbr != b.abbr
            || a.logo != b.logo
            || a.rank != b.rank
            || a.record != b.record
    };
    if team_changed(&old.home, &new.home)
        || team_changed(&old.away, &new.away)
        || old.league != new.league
        || old.sport != new.sport
    {
        changes.push(Change::Teams);
    }
    for (changed, change) in [
        (old.winner != new.winner, Change::Winner),
        (old.shootout != new.shootout, Change::Shootout),
        (old.situation != new.situation, Change::Situation),
        (old.series != new.series, Change::Series),
        (old.note != new.note, Change::Note),
    ] {
        if changed {
            changes.push(change);
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GameState, Status, Team};

    fn team(abbr: &str, score: Option<i64>) -> Team {
        Team { id: abbr.into(), name: abbr.into(), short: None, abbr: abbr.into(), score, logo: None, ..Team::default() }
    }

    fn game(id: &str, home: Option<i64>, away: Option<i64>, state: GameState, clock: Option<&str>) -> Game {
        Game {
            id: format!("f:{id}"),
            feed: "f".into(),
            league: "nba".into(),
            sport: "basketball".into(),
            start: Some("2026-11-25T00:00:00Z".into()),
            status: Status { state, period: Some(1), clock: clock.map(Into::into), detail: clock.map(|c| format!("{c} - 1st")) },
            home: team("BOS", home),
            away: team("LAL", away),
            updated: None,
            ..Game::default()
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn kinds(events: &[Event]) -> Vec<(String, Vec<Change>)> {
        events
            .iter()
            .map(|e| match e {
                Event::Update { changes, game } => (game.id.clone(), changes.clone()),
                Event::Remove { game } => (format!("-{}", game.id), vec![]),
            })
            .collect()
    }

    #[test]
    fn first_poll_adds_everything_second_identical_poll_emits_nothing() {
        let mut d = FeedDiff::new("f", 3);
        let poll = vec![game("1", Some(0), Some(0), GameState::Live, Some("12:00")), game("2", None, None, GameState::Scheduled, None)];
        let ev = d.apply(poll.clone(), now());
        assert_eq!(kinds(&ev), vec![("f:1".into(), vec![Change::Added]), ("f:2".into(), vec![Change::Added])]);
        assert_eq!(ev[0].game().updated.as_deref(), Some("2026-11-25T12:00:00Z"));
        assert!(d.apply(poll, now()).is_empty());
    }

    #[test]
    fn emits_only_what_changed() {
        let mut d = FeedDiff::new("f", 3);
        d.apply(vec![game("1", Some(0), Some(0), GameState::Live, Some("12:00"))], now());
        let ev = d.apply(vec![game("1", Some(2), Some(0), GameState::Live, Some("11:40"))], now());
        assert_eq!(kinds(&ev), vec![("f:1".into(), vec![Change::Score, Change::Clock])]);
        let mut g = game("1", Some(2), Some(0), GameState::Break, Some("11:40"));
        g.status.period = Some(2);
        g.status.detail = Some("Half".into());
        let ev = d.apply(vec![g], now());
        assert_eq!(kinds(&ev), vec![("f:1".into(), vec![Change::Status, Change::Period])]);
        let mut g = game("1", Some(2), Some(0), GameState::Break, Some("11:40"));
        g.status.period = Some(2);
        g.status.detail = Some("Half".into());
        g.away.name = "Los Angeles".into();
        assert_eq!(kinds(&d.apply(vec![g], now())), vec![("f:1".into(), vec![Change::Teams])]);
    }

    #[test]
    fn a_detail_that_moves_with_the_clock_is_clock_not_status() {
        let mut d = FeedDiff::new("f", 3);
        let soccer = |clock: &str, detail: &str, state| {
            let mut g = game("1", Some(0), Some(1), state, Some(clock));
            g.status.detail = Some(detail.into());
            g
        };
        d.apply(vec![soccer("14'", "14'", GameState::Live)], now());
        // ESPN's soccer detail *is* the clock: one change, `clock`.
        assert_eq!(kinds(&d.apply(vec![soccer("86'", "86'", GameState::Live)], now())), vec![("f:1".into(), vec![Change::Clock])]);
        // The detail moving while the clock stands still is news: `status`.
        assert_eq!(kinds(&d.apply(vec![soccer("86'", "86' VAR", GameState::Live)], now())), vec![("f:1".into(), vec![Change::Status])]);
        // A change of state is `status` whatever the clock does.
        assert_eq!(
            kinds(&d.apply(vec![soccer("45'+2'", "HT", GameState::Break)], now())),
            vec![("f:1".into(), vec![Change::Status, Change::Clock])]
        );
    }

    #[test]
    fn the_new_fields_have_their_own_change_kinds_and_only_when_they_change() {
        use crate::model::{InningHalf, Shootout, Side, Situation};
        let mut d = FeedDiff::new("f", 3);
        let base = game("1", Some(1), Some(1), GameState::Live, Some("90'"));
        d.apply(vec![base.clone()], now());

        let mut g = base.clone();
        g.situation = Some(Situation { half: Some(InningHalf::Top), outs: Some(2), ..Situation::default() });
        g.series = Some("Series tied 3-3".into());
        g.note = Some("East 1st Round - Game 7".into());
        assert_eq!(kinds(&d.apply(vec![g.clone()], now())), vec![("f:1".into(), vec![Change::Situation, Change::Series, Change::Note])]);
        assert!(d.apply(vec![g.clone()], now()).is_empty(), "unchanged new fields emit nothing");

        g.situation.as_mut().unwrap().outs = Some(3);
        assert_eq!(kinds(&d.apply(vec![g.clone()], now())), vec![("f:1".into(), vec![Change::Situation])]);

        g.home.rank = Some(5);
        assert_eq!(kinds(&d.apply(vec![g.clone()], now())), vec![("f:1".into(), vec![Change::Teams])]);
        g.away.record = Some("45-20".into());
        assert_eq!(kinds(&d.apply(vec![g.clone()], now())), vec![("f:1".into(), vec![Change::Teams])]);

        g.status.state = GameState::Final;
        g.status.clock = None;
        g.situation = None;
        g.shootout = Some(Shootout { home: 3, away: 4 });
        g.winner = Some(Side::Away);
        assert_eq!(
            kinds(&d.apply(vec![g.clone()], now())),
            vec![("f:1".into(), vec![Change::Status, Change::Clock, Change::Winner, Change::Shootout, Change::Situation])]
        );
        let names: Vec<&str> = [Change::Winner, Change::Shootout, Change::Situation, Change::Series, Change::Note]
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(serde_json::to_value([Change::Winner, Change::Shootout, Change::Situation, Change::Series, Change::Note]).unwrap(), serde_json::json!(names));
    }

    #[test]
    fn an_unreadable_live_score_keeps_the_last_good_one_and_the_rest_goes_through() {
        let mut d = FeedDiff::new("f", 3);
        d.apply(vec![game("1", Some(2), Some(1), GameState::Live, Some("60'"))], now());
        // The adapter read "12abc" (or 1e300, [1,2], null, -5) as no score.
        let ev = d.apply(vec![game("1", None, Some(1), GameState::Live, Some("61'"))], now());
        assert_eq!(kinds(&ev), vec![("f:1".into(), vec![Change::Clock])], "the clock still moves, the score does not blank");
        assert_eq!((ev[0].game().home.score, ev[0].game().away.score), (Some(2), Some(1)));
        assert!(d.games["f:1"].bad_score_logged);
        // Both sides unreadable, and the game goes final: the state goes through, the scores stay.
        let ev = d.apply(vec![game("1", None, None, GameState::Final, None)], now());
        assert_eq!(kinds(&ev), vec![("f:1".into(), vec![Change::Status, Change::Clock])]);
        assert_eq!((ev[0].game().home.score, ev[0].game().away.score), (Some(2), Some(1)));
        // A good score is taken as usual.
        let ev = d.apply(vec![game("1", Some(3), Some(1), GameState::Final, None)], now());
        assert_eq!(kinds(&ev), vec![("f:1".into(), vec![Change::Score])]);
    }

    #[test]
    fn scores_are_null_before_the_start_and_kept_only_for_begun_games() {
        let mut g = game("1", None, None, GameState::Scheduled, None);
        assert!(!keep_good_scores(None, &mut g), "no score before the start is normal");
        let mut first_seen_live = game("1", None, Some(0), GameState::Live, Some("1'"));
        assert!(keep_good_scores(None, &mut first_seen_live), "reported, though nothing can be kept");
        assert_eq!((first_seen_live.home.score, first_seen_live.away.score), (None, Some(0)));

        let mut d = FeedDiff::new("f", 3);
        d.apply(vec![first_seen_live], now());
        assert!(d.games["f:1"].bad_score_logged);
        let known = game("1", Some(4), Some(0), GameState::Live, Some("9'"));
        let mut postponed = game("1", None, None, GameState::Postponed, None);
        assert!(!keep_good_scores(Some(&known), &mut postponed));
        assert_eq!(postponed.home.score, None);
    }

    #[test]
    fn removal_waits_for_k_consecutive_absences() {
        let mut d = FeedDiff::new("f", 3);
        let a = game("a", None, None, GameState::Scheduled, None);
        let b = game("b", None, None, GameState::Scheduled, None);
        d.apply(vec![a.clone(), b.clone()], now());
        assert!(d.apply(vec![a.clone()], now()).is_empty());
        assert!(d.apply(vec![a.clone()], now()).is_empty());
        // Back once: the count starts over.
        assert!(d.apply(vec![a.clone(), b.clone()], now()).is_empty());
        assert!(d.apply(vec![a.clone()], now()).is_empty());
        assert!(d.apply(vec![a.clone()], now()).is_empty());
        assert_eq!(kinds(&d.apply(vec![a.clone()], now())), vec![("-f:b".into(), vec![])]);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_repeated_answer_still_counts_towards_removal() {
        let mut d = FeedDiff::new("f", 3);
        let a = game("a", None, None, GameState::Scheduled, None);
        let b = game("b", None, None, GameState::Scheduled, None);
        d.apply(vec![a.clone(), b], now());
        assert!(d.apply(vec![a.clone()], now()).is_empty());
        assert!(d.apply_same(now()).is_empty());
        assert_eq!(kinds(&d.apply_same(now())), vec![("-f:b".into(), vec![])]);
        assert!(d.apply_same(now()).is_empty(), "a, present all along, stays");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn an_empty_poll_is_not_believed_until_it_persists() {
        let mut d = FeedDiff::new("f", 2);
        d.apply(vec![game("a", None, None, GameState::Scheduled, None)], now());
        assert!(d.apply(vec![], now()).is_empty(), "one empty poll loses nothing");
        assert_eq!(d.len(), 1);
        let ev = d.apply(vec![], now());
        assert_eq!(kinds(&ev), vec![("-f:a".into(), vec![])]);
    }

    #[test]
    fn remove_all_empties_the_feed() {
        let mut d = FeedDiff::new("f", 3);
        d.apply(vec![game("b", None, None, GameState::Scheduled, None), game("a", None, None, GameState::Scheduled, None)], now());
        assert_eq!(kinds(&d.remove_all()), vec![("-f:a".into(), vec![]), ("-f:b".into(), vec![])]);
        assert!(d.is_empty());
    }

    #[test]
    fn duplicate_ids_in_one_poll_count_once() {
        let mut d = FeedDiff::new("f", 3);
        let g = game("a", None, None, GameState::Scheduled, None);
        assert_eq!(d.apply(vec![g.clone(), g], now()).len(), 1);
    }
}
