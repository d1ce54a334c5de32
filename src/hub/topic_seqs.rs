//! The seq of the last event that touched each topic: what the snapshot API's
//! ETag is made of, so a change in one league leaves every other topic list's
//! cached copy valid (a CDN keeps serving `league:nfl` while `league:nba` moves).
//!
//! An event touches every topic its game matches: `league:`, `feed:`, `game:`
//! and the `team:` of either side, before and after the event (a game whose
//! team or league changed leaves the old topics as much as it joins the new).
//! A topic list's seq is the highest of its topics' (`all`: the hub's seq). It
//! never goes back, and it moves whenever the list's document changes, so
//! `"<epoch>-<seq>"` names one document exactly.
//!
//! Topics no event has touched count as the *floor*: the seq the hub's
//! history was taken up at (a restored or reset hub does not know which event
//! touched what before it). Topics that no longer match any game (finished
//! games, their teams) are forgotten once there are many of them, the floor
//! rising to the highest seq forgotten, so the table stays bounded by the
//! games held while no topic's seq ever goes back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::topics::{Routing, Topic};
use super::StoredGame;

/// See the module docs.
#[derive(Debug, Default)]
pub struct TopicSeqs {
    last: HashMap<Topic, u64>,
    floor: u64,
}

/// Topics per game: `league:`, `feed:`, `game:` and two `team:`.
const TOPICS_PER_GAME: usize = 5;
/// Forgotten topics are kept up to this many before a sweep, so sweeps are rare.
const SLACK: usize = 1024;

impl TopicSeqs {
    /// Forgets every topic: each counts as `floor` until an event touches it.
    pub fn reset(&mut self, floor: u64) {
        self.last.clear();
        self.floor = floor;
    }

    /// Records that the event `seq` touched the game routed by `routing`.
    pub fn touch(&mut self, routing: &Routing, seq: u64) {
        for topic in topics_of(routing) {
            self.last.insert(topic, seq);
        }
    }

    /// The seq of the last event that touched any of `topics`; `seq` is the
    /// hub's, which `all` (every event touches it) is at.
    pub fn of(&self, topics: &[Topic], seq: u64) -> u64 {
        if topics.contains(&Topic::All) {
            return seq;
        }
        topics.iter().filter_map(|t| self.last.get(t)).copied().fold(self.floor, u64::max)
    }

    /// Forgets the topics no game in `games` matches, once there are many:
    /// the floor rises to the highest seq forgotten (see the module docs).
    pub fn sweep(&mut self, games: &BTreeMap<String, Arc<StoredGame>>) {
        if self.last.len() <= games.len() * TOPICS_PER_GAME + SLACK {
            return;
        }
        let held: HashSet<Topic> = games.values().flat_map(|g| topics_of(&g.routing)).collect();
        let mut floor = self.floor;
        self.last.retain(|topic, seq| {
            let kept = held.contains(topic);
            if !kept {
                floor = floor.max(*seq);
            }
            kept
        });
        self.floor = floor;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.last.len()
    }
}

/// The topics a game matches, besides `all`, in the form clients name them
/// (league lower-case, abbreviations upper-case).
fn topics_of(routing: &Routing) -> [Topic; TOPICS_PER_GAME] {
    let league = routing.league.to_ascii_lowercase();
    [
        Topic::League(league.clone()),
        Topic::Feed(routing.feed.clone()),
        Topic::Game(routing.id.clone()),
        Topic::Team { league: league.clone(), abbr: routing.home_abbr.clone() },
        Topic::Team { league, abbr: routing.away_abbr.clone() },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(id: &str, league: &str, home: &str, away: &str) -> Routing {
        Routing { id: id.into(), feed: format!("{league}-feed"), league: league.into(), home_abbr: home.into(), away_abbr: away.into() }
    }

    fn topics(list: &[&str]) -> Vec<Topic> {
        list.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn each_list_moves_with_its_own_topics_only() {
        let mut seqs = TopicSeqs::default();
        seqs.reset(3);
        let (nba, nfl) = (topics(&["league:nba"]), topics(&["league:nfl", "team:nfl:KC"]));
        assert_eq!((seqs.of(&nba, 3), seqs.of(&nfl, 3)), (3, 3), "untouched: the floor");
        seqs.touch(&routing("g1", "NBA", "BOS", "LAL"), 4);
        assert_eq!((seqs.of(&nba, 4), seqs.of(&nfl, 4)), (4, 3));
        seqs.touch(&routing("g2", "nfl", "KC", "BUF"), 5);
        seqs.touch(&routing("g1", "nba", "BOS", "LAL"), 6);
        assert_eq!((seqs.of(&nba, 6), seqs.of(&nfl, 6)), (6, 5));
        assert_eq!(seqs.of(&topics(&["team:nba:LAL"]), 6), 6, "either side's team");
        assert_eq!(seqs.of(&topics(&["game:g2", "feed:nfl-feed"]), 6), 5);
        assert_eq!(seqs.of(&topics(&["all", "league:nfl"]), 6), 6, "all is every event");
    }

    #[test]
    fn a_sweep_forgets_gone_games_without_moving_any_list_back() {
        let mut seqs = TopicSeqs::default();
        let mut games = BTreeMap::new();
        let mut game = crate::model::Game { id: "kept".into(), feed: "nba-feed".into(), league: "nba".into(), ..Default::default() };
        (game.home.abbr, game.away.abbr) = ("BOS".into(), "LAL".into());
        let kept = Routing::of(&game);
        games.insert("kept".to_string(), Arc::new(StoredGame { game, routing: kept.clone(), json: bytes::Bytes::new() }));
        seqs.touch(&kept, 1);
        for i in 0..(TOPICS_PER_GAME + SLACK) {
            seqs.touch(&routing(&format!("gone{i}"), "nfl", &format!("T{i}"), "X"), 2 + i as u64);
        }
        let before: Vec<u64> = [topics(&["league:nba"]), topics(&["league:nfl"]), topics(&["game:gone0"])].iter().map(|t| seqs.of(t, 9999)).collect();
        seqs.sweep(&games);
        assert_eq!(seqs.len(), TOPICS_PER_GAME, "only the held game's topics are left");
        let after: Vec<u64> = [topics(&["league:nba"]), topics(&["league:nfl"]), topics(&["game:gone0"])].iter().map(|t| seqs.of(t, 9999)).collect();
        assert!(before.iter().zip(&after).all(|(b, a)| a >= b), "{before:?} -> {after:?}");
    }
}
