//! The core promise, as a property: whatever the polls do (games appearing,
//! changing, vanishing for fewer or more than K polls, identical polls, failed
//! polls) and whenever clients join, leave or resume with `since`, a client that
//! applies the frames it receives to its snapshot holds exactly the server's
//! games for its topic, sees seqs strictly increasing, and never gets an event twice.
//!
//! It runs the real diff ([`FeedDiff`]) and the real hub ([`Hub`]) — the same
//! calls a session makes: `connect`, `subscribe` (with or without `since`),
//! `frame_for` on each publication, `resync` when the broadcast lagged — with a
//! small broadcast channel and replay ring, so lag, resync and ring misses all
//! happen. 64 cases by default; `PROPTEST_CASES=5000 cargo test --test properties`
//! runs more.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use scoreticker::diff::FeedDiff;
use scoreticker::hub::{Catchup, Hub, Published, Since, Subscription, Topic};
use scoreticker::model::{Game, GameState, Status, Team};
use serde_json::Value;
use tokio::sync::broadcast::{self, error::TryRecvError};

const GAMES: u8 = 6;

#[derive(Debug, Clone)]
enum Op {
    /// A good poll: these games, with these scores (a small range, so polls
    /// often repeat a game unchanged); every other known game misses this poll.
    Poll(BTreeMap<u8, u8>),
    /// The upstream answered with what it answered last time (304 / same bytes).
    Same,
    /// A failed poll (timeout, HTTP error, bad body): it never reaches the diff.
    Failed,
    /// A new client, for every game (`None`) or one game's topic.
    Join(Option<u8>),
    /// A client goes away for good.
    Leave(usize),
    /// A client drops and comes back with `since` = the last seq it saw.
    Resume(usize),
    /// Clients read what is waiting for them.
    Deliver,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::btree_map(0..GAMES, 0u8..3, 0..=GAMES as usize).prop_map(Op::Poll),
        2 => Just(Op::Same),
        1 => Just(Op::Failed),
        2 => prop::option::of(0..GAMES).prop_map(Op::Join),
        1 => any::<usize>().prop_map(Op::Leave),
        2 => any::<usize>().prop_map(Op::Resume),
        3 => Just(Op::Deliver),
    ]
}

fn game(n: u8, score: u8) -> Game {
    let team = |abbr: &str, score| Team { id: abbr.into(), name: abbr.into(), short: None, abbr: abbr.into(), score, logo: None, ..Team::default() };
    Game {
        id: Game::make_id("f", &n.to_string()),
        feed: "f".into(),
        league: "l".into(),
        sport: "s".into(),
        start: None,
        status: Status { state: GameState::Live, period: Some(1), clock: None, detail: None },
        home: team(&format!("H{n}"), Some(score as i64)),
        away: team(&format!("A{n}"), Some(0)),
        updated: None,
        ..Game::default()
    }
}

/// A client as a widget is: its games, the last seq it saw, every event seq it got.
struct Client {
    topic: Topic,
    sub: Subscription,
    rx: broadcast::Receiver<Arc<Published>>,
    games: BTreeMap<String, Value>,
    last_seq: u64,
    seen: HashSet<u64>,
}

impl Client {
    fn join(hub: &Hub, topic: Topic) -> Result<Client, TestCaseError> {
        let (_, _, rx) = hub.connect(20);
        let mut client =
            Client { topic, sub: Subscription::default(), rx, games: BTreeMap::new(), last_seq: 0, seen: HashSet::new() };
        client.subscribe(hub, None)?;
        Ok(client)
    }

    /// Reconnects (a new broadcast receiver, a new subscription) and resumes.
    fn resume(&mut self, hub: &Hub) -> Result<(), TestCaseError> {
        let (_, _, rx) = hub.connect(20);
        self.rx = rx;
        self.sub = Subscription::default();
        let since = Since { epoch: hub.epoch().to_string(), seq: self.last_seq };
        self.subscribe(hub, Some(&since))
    }

    fn subscribe(&mut self, hub: &Hub, since: Option<&Since>) -> Result<(), TestCaseError> {
        match hub.subscribe(&mut self.sub, std::slice::from_ref(&self.topic), since) {
            Catchup::Snapshot(frame) => self.apply(&frame),
            Catchup::Replay(Some(frame)) => self.apply(&frame),
            Catchup::Replay(None) => Ok(()),
        }
    }

    fn deliver(&mut self, hub: &Hub) -> Result<(), TestCaseError> {
        loop {
            match self.rx.try_recv() {
                Ok(published) => {
                    if let Some(frame) = published.frame_for(&self.sub) {
                        self.apply(&frame)?;
                    }
                }
                Err(TryRecvError::Lagged(_)) => {
                    let snapshot = hub.resync(&mut self.sub);
                    self.apply(&snapshot)?;
                }
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Closed) => return Err(TestCaseError::fail("the hub closed")),
            }
        }
    }

    fn apply(&mut self, frame: &[u8]) -> Result<(), TestCaseError> {
        let v: Value = serde_json::from_slice(frame).map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
        self.apply_value(&v)
    }

    fn apply_value(&mut self, v: &Value) -> Result<(), TestCaseError> {
        let seq = v["seq"].as_u64().unwrap_or(0);
        match v["type"].as_str() {
            Some("snapshot") => {
                prop_assert!(seq >= self.last_seq, "a snapshot went back from {} to {seq}", self.last_seq);
                self.games = v["games"].as_array().unwrap().iter().map(|g| (g["id"].as_str().unwrap().to_string(), g.clone())).collect();
                self.last_seq = seq;
            }
            Some(kind @ ("update" | "remove")) => {
                prop_assert!(seq > self.last_seq, "seq {seq} after {}", self.last_seq);
                prop_assert!(self.seen.insert(seq), "event {seq} delivered twice");
                if kind == "update" {
                    self.games.insert(v["game"]["id"].as_str().unwrap().to_string(), v["game"].clone());
                } else {
                    self.games.remove(v["id"].as_str().unwrap());
                }
                self.last_seq = seq;
            }
            Some("batch") => {
                for event in v["events"].as_array().unwrap() {
                    self.apply_value(event)?;
                }
            }
            other => return Err(TestCaseError::fail(format!("unexpected frame type {other:?}"))),
        }
        Ok(())
    }
}

/// The server's games for one topic, as `GET /api/v1/games` serves them.
fn server_games(hub: &Hub, topic: &Topic) -> BTreeMap<String, Value> {
    let doc: Value = serde_json::from_slice(&hub.games_document(std::slice::from_ref(topic)).body).unwrap();
    doc["games"].as_array().unwrap().iter().map(|g| (g["id"].as_str().unwrap().to_string(), g.clone())).collect()
}

fn check(hub: &Hub, clients: &mut [Client]) -> Result<(), TestCaseError> {
    for client in clients.iter_mut() {
        client.deliver(hub)?;
        prop_assert_eq!(&client.games, &server_games(hub, &client.topic), "client on {} diverged", client.topic);
    }
    Ok(())
}

fn run(remove_after: u32, broadcast: usize, ring: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let hub = Hub::new("prop".into(), broadcast, ring, Duration::from_secs(3600));
    let mut diff = FeedDiff::new("f", remove_after);
    let mut clients: Vec<Client> = Vec::new();
    for op in ops {
        let now = chrono::Utc::now();
        match op {
            Op::Poll(present) => {
                hub.publish(diff.apply(present.into_iter().map(|(n, s)| game(n, s)).collect(), now));
            }
            Op::Same => {
                hub.publish(diff.apply_same(now));
            }
            Op::Failed => {}
            Op::Join(topic) => {
                let topic = match topic {
                    None => Topic::All,
                    Some(n) => Topic::Game(Game::make_id("f", &n.to_string())),
                };
                clients.push(Client::join(&hub, topic)?);
            }
            Op::Leave(i) if !clients.is_empty() => {
                clients.remove(i % clients.len());
            }
            Op::Resume(i) if !clients.is_empty() => {
                let n = clients.len();
                // What it had not read yet is lost with the old connection.
                clients[i % n].resume(&hub)?;
            }
            Op::Leave(_) | Op::Resume(_) => {}
            Op::Deliver => check(&hub, &mut clients)?,
        }
        prop_assert!(diff.len() <= GAMES as usize);
    }
    check(&hub, &mut clients)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn clients_converge_on_the_servers_games(
        remove_after in 1u32..4,
        broadcast in 2usize..12,
        ring in 2usize..24,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run(remove_after, broadcast, ring, ops)?;
    }
}
