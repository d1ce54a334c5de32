//! The diffs of every feed one publisher runs: the single node's pipeline, or a
//! cluster leader during its term. Both start from the games they already
//! serve (a state file, Redis's snapshot hash), so a restart or a takeover
//! emits only real changes, not a burst of `added`.

use std::collections::HashMap;

use super::{Event, FeedDiff};
use crate::config::FeedConfig;
use crate::model::Game;

/// A good poll of one feed: what the pollers (`crate::feeds`) hand the diff.
#[derive(Debug)]
pub struct FeedUpdate {
    pub feed: String,
    /// The feed's current `remove_after_missed_polls` (it may change on reload).
    pub remove_after: u32,
    pub polled: Polled,
}

#[derive(Debug)]
pub enum Polled {
    /// A new body, parsed.
    Games(Vec<Game>),
    /// The upstream answered with what it answered last time (304, or the same
    /// bytes). Nothing to parse, but it still counts as a poll in which absent
    /// games stayed absent.
    Same,
    /// The feed was removed from the configuration: all its games leave.
    Retired,
}

/// One [`FeedDiff`] per feed, each seeded on its first poll from the games the
/// publisher started with.
#[derive(Debug, Default)]
pub struct FeedDiffs {
    diffs: HashMap<String, FeedDiff>,
    /// Games known at the start, by feed, until that feed's first poll.
    seeds: HashMap<String, Vec<Game>>,
}

impl FeedDiffs {
    /// Starts from the games already served.
    pub fn new(games: impl IntoIterator<Item = Game>) -> FeedDiffs {
        let mut seeds: HashMap<String, Vec<Game>> = HashMap::new();
        for game in games {
            seeds.entry(game.feed.clone()).or_default().push(game);
        }
        FeedDiffs { diffs: HashMap::new(), seeds }
    }

    /// What one poll of one feed changed.
    pub fn apply(&mut self, update: FeedUpdate) -> Vec<Event> {
        let seeds = &mut self.seeds;
        let diff = self.diffs.entry(update.feed.clone()).or_insert_with(|| {
            let mut diff = FeedDiff::new(update.feed.clone(), update.remove_after);
            diff.seed(seeds.remove(&update.feed).unwrap_or_default());
            diff
        });
        diff.set_remove_after(update.remove_after);
        let now = chrono::Utc::now();
        match update.polled {
            Polled::Games(games) => diff.apply(games, now),
            Polled::Same => diff.apply_same(now),
            Polled::Retired => {
                let events = diff.remove_all();
                self.diffs.remove(&update.feed);
                events
            }
        }
    }

    /// Removals for the starting games of feeds that are not in `feeds` (a feed
    /// renamed or deleted while the service was stopped): they would otherwise be
    /// served forever, since no poll will ever mention them again.
    pub fn orphans(&mut self, feeds: &[FeedConfig]) -> Vec<Event> {
        let gone: Vec<String> = self.seeds.keys().filter(|id| !feeds.iter().any(|f| &f.id == *id)).cloned().collect();
        let mut events = Vec::new();
        for feed in gone {
            let games = self.seeds.remove(&feed).unwrap_or_default();
            tracing::info!(feed = %feed, games = games.len(), "games of a feed that is no longer configured; removing them");
            events.extend(games.into_iter().map(|game| Event::Remove { game }));
        }
        events
    }

    /// A feed left the configuration: its games leave, starting ones included.
    pub fn retire(&mut self, feed: &FeedConfig) -> Vec<Event> {
        self.apply(FeedUpdate { feed: feed.id.clone(), remove_after: feed.remove_after_missed_polls, polled: Polled::Retired })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GameState, Status, Team};

    fn game(feed: &str, id: &str, home: i64) -> Game {
        let team = |abbr: &str, score| Team {
            id: abbr.into(),
            name: abbr.into(),
            short: None,
            abbr: abbr.into(),
            score: Some(score),
            logo: None,
            rank: None,
            record: None,
        };
        Game {
            id: Game::make_id(feed, id),
            feed: feed.into(),
            league: "l".into(),
            sport: "s".into(),
            start: None,
            status: Status { state: GameState::Live, period: None, clock: None, detail: None },
            home: team("AAA", home),
            away: team("BBB", 0),
            updated: None,
            winner: None,
            shootout: None,
            situation: None,
            series: None,
            note: None,
        }
    }

    fn poll(feed: &str, games: Vec<Game>) -> FeedUpdate {
        FeedUpdate { feed: feed.into(), remove_after: 2, polled: Polled::Games(games) }
    }

    #[test]
    fn a_seeded_feed_emits_only_real_changes() {
        let mut diffs = FeedDiffs::new([game("a", "1", 1), game("a", "2", 1)]);
        assert!(diffs.apply(poll("a", vec![game("a", "1", 1), game("a", "2", 1)])).is_empty());
        let events = diffs.apply(poll("a", vec![game("a", "1", 2), game("a", "2", 1)]));
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn starting_games_of_unconfigured_feeds_are_orphans_once() {
        let mut diffs = FeedDiffs::new([game("gone", "1", 1), game("kept", "1", 1)]);
        let feeds: Vec<FeedConfig> = Vec::new();
        let orphans = diffs.orphans(&feeds);
        assert_eq!(orphans.len(), 2, "no feed is configured: both leave");
        assert!(orphans.iter().all(|e| matches!(e, Event::Remove { .. })));
        assert!(diffs.orphans(&feeds).is_empty(), "each leaves once");
    }
}
