//! Topics: what a client asks to hear about, and which events each one matches.

use std::fmt;
use std::str::FromStr;

use crate::model::Game;

/// One subscription topic, as written on the wire (`league:nba`, `team:nba:BOS`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    All,
    /// League names are kept lower-case and match case-insensitively, so
    /// `league:NBA` and `league:nba` are one topic (and one cache key).
    League(String),
    Feed(String),
    Game(String),
    /// League and team abbreviation; the abbreviation matches case-insensitively.
    Team { league: String, abbr: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError(pub String);

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Topic, TopicError> {
        let bad = || TopicError(format!("unknown topic `{s}` (use all, league:<league>, feed:<feed>, game:<id>, team:<league>:<abbr>)"));
        if s == "all" {
            return Ok(Topic::All);
        }
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() || s.len() > 200 {
            return Err(bad());
        }
        Ok(match kind {
            "league" => Topic::League(rest.to_ascii_lowercase()),
            "feed" => Topic::Feed(rest.to_string()),
            "game" => Topic::Game(rest.to_string()),
            "team" => {
                let (league, abbr) = rest.split_once(':').ok_or_else(bad)?;
                if league.is_empty() || abbr.is_empty() {
                    return Err(bad());
                }
                Topic::Team { league: league.to_ascii_lowercase(), abbr: abbr.to_ascii_uppercase() }
            }
            _ => return Err(bad()),
        })
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::All => write!(f, "all"),
            Topic::League(l) => write!(f, "league:{l}"),
            Topic::Feed(x) => write!(f, "feed:{x}"),
            Topic::Game(g) => write!(f, "game:{g}"),
            Topic::Team { league, abbr } => write!(f, "team:{league}:{abbr}"),
        }
    }
}

/// The few fields of a game that topics look at, kept beside each event so
/// routing never has to parse JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    pub id: String,
    pub feed: String,
    pub league: String,
    pub home_abbr: String,
    pub away_abbr: String,
}

impl Routing {
    pub fn of(game: &Game) -> Routing {
        Routing {
            id: game.id.clone(),
            feed: game.feed.clone(),
            league: game.league.clone(),
            home_abbr: game.home.abbr.to_ascii_uppercase(),
            away_abbr: game.away.abbr.to_ascii_uppercase(),
        }
    }
}

impl Topic {
    pub fn matches(&self, r: &Routing) -> bool {
        match self {
            Topic::All => true,
            Topic::League(l) => l.eq_ignore_ascii_case(&r.league),
            Topic::Feed(f) => *f == r.feed,
            Topic::Game(g) => *g == r.id,
            Topic::Team { league, abbr } => league.eq_ignore_ascii_case(&r.league) && (*abbr == r.home_abbr || *abbr == r.away_abbr),
        }
    }
}

/// The one canonical spelling of a topic list, as used in the snapshot URL
/// (`/api/v1/games?topics=…`): sorted, without duplicates, and just `all` when
/// `all` is among them (it already covers everything). Equivalent lists give
/// the same key, so a cache in front of the service keeps one entry for them.
pub fn canonical_key(topics: &[Topic]) -> String {
    if topics.is_empty() || topics.contains(&Topic::All) {
        return "all".to_string();
    }
    let mut names: Vec<String> = topics.iter().map(Topic::to_string).collect();
    names.sort();
    names.dedup();
    names.join(",")
}

/// A client's topics, each with the `seq` it is current as of: an event at or
/// before that seq is already in the snapshot (or replay) the client got for
/// that topic, so it must not be delivered again.
#[derive(Debug, Clone, Default)]
pub struct Subscription {
    topics: Vec<(Topic, u64)>,
}

impl Subscription {
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.iter().map(|(t, _)| t)
    }

    pub fn contains(&self, topic: &Topic) -> bool {
        self.topics.iter().any(|(t, _)| t == topic)
    }

    /// Adds topics current as of `seq` (those already present are refreshed).
    pub fn add(&mut self, topics: &[Topic], seq: u64) {
        for topic in topics {
            match self.topics.iter_mut().find(|(t, _)| t == topic) {
                Some(entry) => entry.1 = seq,
                None => self.topics.push((topic.clone(), seq)),
            }
        }
    }

    pub fn remove(&mut self, topics: &[Topic]) {
        self.topics.retain(|(t, _)| !topics.contains(t));
    }

    /// Marks every topic current as of `seq` (after a full resync snapshot).
    pub fn reset(&mut self, seq: u64) {
        for entry in &mut self.topics {
            entry.1 = seq;
        }
    }

    /// Whether an event with this seq and routing is due to this client:
    /// once, however many of its topics match.
    pub fn wants(&self, seq: u64, r: &Routing) -> bool {
        self.topics.iter().any(|(t, from)| seq > *from && t.matches(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing() -> Routing {
        Routing { id: "espn-nba:1".into(), feed: "espn-nba".into(), league: "nba".into(), home_abbr: "BOS".into(), away_abbr: "LAL".into() }
    }

    #[test]
    fn parses_and_prints_every_kind() {
        for s in ["all", "league:nba", "feed:espn-nba", "game:espn-nba:1", "team:nba:BOS"] {
            assert_eq!(s.parse::<Topic>().unwrap().to_string(), s);
        }
        assert_eq!("team:nba:bos".parse::<Topic>().unwrap().to_string(), "team:nba:BOS");
        for bad in ["", "nba", "league:", "colour:red", "team:nba", "team::BOS"] {
            assert!(bad.parse::<Topic>().is_err(), "{bad}");
        }
    }

    #[test]
    fn equivalent_topic_lists_share_one_canonical_key() {
        let key = |s: &str| canonical_key(&s.split(',').map(|t| t.parse::<Topic>().unwrap()).collect::<Vec<_>>());
        assert_eq!(key("team:NBA:bos,league:NFL,league:nfl"), "league:nfl,team:nba:BOS");
        assert_eq!(key("league:nfl,team:nba:BOS"), "league:nfl,team:nba:BOS");
        assert_eq!(key("league:nba,all"), "all");
        assert_eq!(canonical_key(&[]), "all");
        assert!("league:NBA".parse::<Topic>().unwrap().matches(&routing()), "leagues match whatever their case");
    }

    #[test]
    fn matching() {
        let r = routing();
        let yes = ["all", "league:nba", "feed:espn-nba", "game:espn-nba:1", "team:nba:BOS", "team:nba:lal"];
        let no = ["league:nfl", "feed:other", "game:espn-nba:2", "team:nfl:BOS", "team:nba:NYK"];
        for t in yes {
            assert!(t.parse::<Topic>().unwrap().matches(&r), "{t}");
        }
        for t in no {
            assert!(!t.parse::<Topic>().unwrap().matches(&r), "{t}");
        }
    }

    #[test]
    fn subscription_delivers_once_and_only_after_its_seq() {
        let mut s = Subscription::default();
        s.add(&["league:nba".parse().unwrap(), "team:nba:BOS".parse().unwrap()], 10);
        assert!(!s.wants(10, &routing()), "already in the snapshot");
        assert!(s.wants(11, &routing()));
        s.add(&["all".parse().unwrap()], 20);
        assert!(s.wants(15, &routing()), "older topics still deliver");
        s.remove(&["league:nba".parse().unwrap(), "team:nba:BOS".parse().unwrap()]);
        assert!(!s.wants(15, &routing()));
        assert!(s.wants(21, &routing()));
    }
}
