//! The hub's tests: sequencing, catch-up, routing, the snapshot API's versions, resets.

use super::*;
use crate::diff::{Change, Event};
use crate::model::{GameState, Status, Team};
use serde_json::Value;

fn game(id: &str, league: &str, home: i64) -> Game {
    let team = |abbr: &str, score| Team { id: abbr.into(), name: abbr.into(), short: None, abbr: abbr.into(), score: Some(score), logo: None, ..Team::default() };
    Game {
        id: format!("f:{id}"),
        feed: "f".into(),
        league: league.into(),
        sport: "x".into(),
        start: None,
        status: Status { state: GameState::Live, period: None, clock: None, detail: None },
        home: team("AAA", home),
        away: team("BBB", 0),
        updated: None,
        ..Game::default()
    }
}

fn update(g: Game) -> Event {
    Event::Update { changes: vec![Change::Score], game: g }
}

fn hub() -> Hub {
    Hub::new("ep".into(), 16, 100, Duration::from_secs(600))
}

fn json(b: &Bytes) -> Value {
    serde_json::from_slice(b).unwrap()
}

fn topics(list: &[&str]) -> Vec<Topic> {
    list.iter().map(|t| t.parse().unwrap()).collect()
}

#[test]
fn seq_is_global_and_strictly_increasing() {
    let h = hub();
    assert_eq!(h.publish(vec![update(game("1", "nba", 1)), update(game("2", "nfl", 1))]), 2);
    assert_eq!(h.publish(vec![]), 2);
    assert_eq!(h.publish(vec![update(game("1", "nba", 2))]), 3);
}

#[test]
fn snapshot_then_live_events_without_gap_or_duplicate() {
    let h = hub();
    let (hello, seq, mut rx) = h.connect(20);
    assert_eq!(json(&hello)["seq"], 0);
    assert_eq!(seq, 0);
    h.publish(vec![update(game("1", "nba", 1))]);
    let mut sub = Subscription::default();
    let Catchup::Snapshot(snap) = h.subscribe(&mut sub, &topics(&["league:nba"]), None) else { panic!() };
    let snap = json(&snap);
    assert_eq!(snap["seq"], 1);
    assert_eq!(snap["games"][0]["home"]["score"], 1);
    // The receiver holds seq 1 too, but the snapshot covered it.
    let first = rx.try_recv().unwrap();
    assert_eq!(first.frame_for(&sub), None);
    h.publish(vec![update(game("1", "nba", 2)), update(game("2", "nfl", 5))]);
    let next = rx.try_recv().unwrap();
    let frame = json(&next.frame_for(&sub).unwrap());
    assert_eq!(frame["type"], "update", "only the nba event, as a plain update");
    assert_eq!(frame["seq"], 2);
}

#[test]
fn since_replays_missed_events_or_falls_back_to_a_snapshot() {
    let h = Hub::new("ep".into(), 16, 3, Duration::from_secs(600));
    for i in 1..=5 {
        h.publish(vec![update(game("1", "nba", i))]);
    }
    let mut sub = Subscription::default();
    let since = Since { epoch: "ep".into(), seq: 3 };
    let Catchup::Replay(Some(replay)) = h.subscribe(&mut sub, &topics(&["all"]), Some(&since)) else { panic!() };
    let replay = json(&replay);
    assert_eq!(replay["type"], "batch");
    let seqs: Vec<u64> = replay["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![4, 5]);
    // Up to date: nothing to replay.
    let mut sub = Subscription::default();
    let since = Since { epoch: "ep".into(), seq: 5 };
    assert!(matches!(h.subscribe(&mut sub, &topics(&["all"]), Some(&since)), Catchup::Replay(None)));
    // The ring (3 events) no longer holds seq 2: snapshot.
    let since = Since { epoch: "ep".into(), seq: 1 };
    assert!(matches!(h.subscribe(&mut sub, &topics(&["all"]), Some(&since)), Catchup::Snapshot(_)));
    // Another epoch, or a seq from the future: snapshot.
    let since = Since { epoch: "other".into(), seq: 4 };
    assert!(matches!(h.subscribe(&mut sub, &topics(&["all"]), Some(&since)), Catchup::Snapshot(_)));
    let since = Since { epoch: "ep".into(), seq: 99 };
    assert!(matches!(h.subscribe(&mut sub, &topics(&["all"]), Some(&since)), Catchup::Snapshot(_)));
}

/// The snapshot API's version moves per topic list: an NBA event leaves the
/// NFL's document (and its ETag) as it was.
#[test]
fn each_topic_lists_document_has_its_own_version() {
    let hub = hub();
    hub.publish(vec![update(game("1", "nba", 1)), update(game("2", "nfl", 1))]);
    let (nba, nfl) = (topics(&["league:nba"]), topics(&["league:NFL"]));
    let before = (hub.games_version(&nba), hub.games_version(&nfl));
    assert_eq!((before.0 .1, before.1 .1), (1, 2));
    let nfl_doc = hub.games_document(&nfl);
    hub.publish(vec![update(game("1", "nba", 2))]);
    assert_eq!(hub.games_version(&nfl), before.1, "untouched");
    assert_eq!(hub.games_document(&nfl).body, nfl_doc.body, "the same version is the same document");
    assert_eq!(hub.games_version(&nba).1, 3);
    assert_eq!(hub.games_version(&topics(&["all"])).1, 3);
    let doc = hub.games_document(&nba);
    assert_eq!((doc.seq, json(&doc.body)["seq"].as_u64()), (3, Some(3)), "the document says the seq it is current as of");
    // A game that moves to another league leaves the old league's list too.
    hub.publish(vec![update(game("1", "nfl", 2))]);
    assert_eq!((hub.games_version(&nba).1, hub.games_version(&nfl).1), (4, 4));
    // Removal touches the list the game was in.
    hub.publish(vec![Event::Remove { game: game("2", "nfl", 1) }]);
    assert_eq!((hub.games_version(&nba).1, hub.games_version(&nfl).1), (4, 5));
    // A reset (another history) knows no topic's last event: all are at its seq.
    hub.reset("ep2".into(), 9, vec![game("1", "nba", 1)], vec![]);
    assert_eq!(hub.games_version(&nfl), ("ep2".to_string(), 9));
}

#[test]
fn removal_is_routed_like_the_game_was() {
    let h = hub();
    let (_, _, mut rx) = h.connect(20);
    let mut sub = Subscription::default();
    h.subscribe(&mut sub, &topics(&["team:nba:AAA"]), None);
    h.publish(vec![update(game("1", "nba", 1))]);
    h.publish(vec![Event::Remove { game: game("1", "nba", 1) }]);
    rx.try_recv().unwrap();
    let removed = json(&rx.try_recv().unwrap().frame_for(&sub).unwrap());
    assert_eq!(removed, serde_json::json!({"type":"remove","seq":2,"ts":removed["ts"],"id":"f:1"}));
    assert!(h.games().is_empty());
}

#[test]
fn a_lagging_receiver_is_resynced_with_a_snapshot_not_a_gap() {
    let h = Hub::new("ep".into(), 2, 100, Duration::from_secs(600));
    let (_, _, mut rx) = h.connect(20);
    let mut sub = Subscription::default();
    h.subscribe(&mut sub, &topics(&["all"]), None);
    for i in 1..=5 {
        h.publish(vec![update(game(&i.to_string(), "nba", i))]);
    }
    assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(3))));
    let snapshot = json(&h.resync(&mut sub));
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["seq"], 5);
    assert_eq!(snapshot["games"].as_array().unwrap().len(), 5);
    // What the receiver still holds is covered by the snapshot: not sent again.
    while let Ok(p) = rx.try_recv() {
        assert_eq!(p.frame_for(&sub), None);
    }
    h.publish(vec![update(game("1", "nba", 9))]);
    assert_eq!(json(&rx.try_recv().unwrap().frame_for(&sub).unwrap())["seq"], 6);
}

#[test]
fn applied_events_must_continue_the_history_exactly() {
    let leader = hub();
    leader.publish(vec![update(game("1", "nba", 1))]);
    let follower = hub();
    let (_, _, mut rx) = follower.connect(20);
    let e1 = stamp(update(game("1", "nba", 1)), 1, 10);
    let e3 = stamp(update(game("1", "nba", 3)), 3, 30);
    assert_eq!(follower.apply("other", vec![e1.clone()]), Err(NotNext { expected_seq: 1, got_seq: 1 }), "another epoch");
    assert_eq!(follower.apply("ep", vec![e3.clone()]), Err(NotNext { expected_seq: 1, got_seq: 3 }), "a gap");
    assert_eq!(follower.apply("ep", vec![e1.clone()]), Ok(1));
    assert_eq!(follower.apply("ep", vec![e1]), Err(NotNext { expected_seq: 2, got_seq: 1 }), "a duplicate");
    let p = rx.try_recv().unwrap();
    assert_eq!(p.events[0].bytes, stamp(update(game("1", "nba", 1)), 1, 10).frame, "the frame as given");
    assert_eq!(follower.games()[0].game.home.score, Some(1));
}

#[test]
fn a_reset_closes_receivers_and_starts_the_new_history() {
    let h = hub();
    h.publish(vec![update(game("1", "nba", 1)), update(game("2", "nba", 1))]);
    let (_, _, mut rx) = h.connect(20);
    let ring = vec![stamp(update(game("3", "nfl", 7)), 5, now_ms())];
    h.reset("ep2".into(), 5, vec![game("3", "nfl", 7)], ring);
    assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Closed)), "old receivers close");
    assert_eq!((h.epoch(), h.seq(), h.games().len()), ("ep2".to_string(), 5, 1));
    let mut sub = Subscription::default();
    let since = Since { epoch: "ep2".into(), seq: 4 };
    let Catchup::Replay(Some(replay)) = h.subscribe(&mut sub, &topics(&["all"]), Some(&since)) else { panic!() };
    assert_eq!(events_seqs(&json(&replay)), vec![5]);
    let since = Since { epoch: "ep".into(), seq: 2 };
    assert!(matches!(h.subscribe(&mut sub, &topics(&["all"]), Some(&since)), Catchup::Snapshot(_)), "the old epoch gets a snapshot");
}

#[tokio::test]
async fn a_since_ahead_waits_for_the_hub_only_in_cluster_mode() {
    let h = Arc::new(hub());
    let ahead = Since { epoch: "ep".into(), seq: 1 };
    h.catch_up_to(&ahead).await; // zero wait: returns at once
    h.set_catch_up_wait(Duration::from_secs(30));
    let waiter = tokio::spawn({
        let h = h.clone();
        async move { h.catch_up_to(&Since { epoch: "ep".into(), seq: 1 }).await }
    });
    tokio::task::yield_now().await;
    h.publish(vec![update(game("1", "nba", 1))]);
    tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("returns once caught up").unwrap();
}

fn events_seqs(frame: &Value) -> Vec<u64> {
    match frame["type"].as_str() {
        Some("batch") => frame["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect(),
        _ => vec![frame["seq"].as_u64().unwrap()],
    }
}

#[test]
fn clients_that_want_everything_share_the_batch() {
    let h = hub();
    let (_, _, mut rx) = h.connect(20);
    let mut all = Subscription::default();
    h.subscribe(&mut all, &topics(&["all"]), None);
    let mut nba = Subscription::default();
    h.subscribe(&mut nba, &topics(&["league:nba"]), None);
    h.publish(vec![update(game("1", "nba", 1)), update(game("2", "nfl", 1))]);
    let p = rx.try_recv().unwrap();
    assert!(matches!(p.pick(&all), Pick::All));
    assert_eq!(p.frame_for(&all).unwrap().as_ptr(), p.batch.as_ptr(), "the shared bytes, not a copy");
    assert!(matches!(p.pick(&nba), Pick::One(e) if e.seq == 1));
    assert_eq!(p.frame_for(&nba).unwrap(), p.events[0].bytes);
}
