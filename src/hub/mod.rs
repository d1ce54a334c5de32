//! The hub: the current state of every game, one global event sequence, and the
//! broadcast that fans each event out to every connected client.
//!
//! Every event is serialized once, here, into shared bytes ([`EventFrame`]);
//! client sessions only pick which of those bytes to write. One lock guards the
//! state, the sequence and the replay ring, and events are broadcast while it is
//! held, so "take a snapshot" and "start listening" can be done atomically: a
//! client never misses an event between its snapshot and its first update.

pub mod activity;
pub mod frames;
pub mod topic_seqs;
pub mod topics;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::diff::Event;
use crate::model::Game;
pub use topics::{Routing, Subscription, Topic};

/// One event as every client receives it: its seq, what it is about, and its
/// JSON text. Transports add their own framing (`server/`), once per event.
#[derive(Debug)]
pub struct EventFrame {
    pub seq: u64,
    pub ts: i64,
    pub routing: Routing,
    /// The complete JSON text of the `update` or `remove` frame.
    pub bytes: Bytes,
}

impl EventFrame {
    fn new(seq: u64, ts: i64, routing: Routing, json: Bytes) -> EventFrame {
        EventFrame { seq, ts, routing, bytes: json }
    }
}

/// The events of one poll, as broadcast together.
#[derive(Debug)]
pub struct Published {
    pub events: Vec<Arc<EventFrame>>,
    /// All of `events` as one `batch` frame, for the many clients that want them all
    /// (empty when there is a single event: its own frame is sent instead).
    pub batch: Bytes,
}

/// Which of a publication's events one client wants.
pub enum Pick<'a> {
    Nothing,
    One(&'a EventFrame),
    All,
    Some(Vec<&'a EventFrame>),
}

impl Published {
    /// Decides without allocating in the common cases (none, one, all): this
    /// runs once per client per publication. `One` and `All` name frames every
    /// such client shares; only `Some` needs a batch of its own.
    pub fn pick(&self, sub: &Subscription) -> Pick<'_> {
        let mut first = None;
        let mut count = 0;
        for e in &self.events {
            if sub.wants(e.seq, &e.routing) {
                count += 1;
                first.get_or_insert(&**e);
            }
        }
        match (count, first) {
            (1, Some(e)) => Pick::One(e),
            (0, _) | (_, None) => Pick::Nothing,
            (n, _) if n == self.events.len() => Pick::All,
            _ => Pick::Some(self.events.iter().filter(|e| sub.wants(e.seq, &e.routing)).map(|e| &**e).collect()),
        }
    }

    /// The one frame (JSON) this subscription should receive for this
    /// publication, if any. Clients that want every event share the pre-built
    /// bytes; only a partial match splices a batch of its own.
    pub fn frame_for(&self, sub: &Subscription) -> Option<Bytes> {
        match self.pick(sub) {
            Pick::Nothing => None,
            Pick::One(e) => Some(e.bytes.clone()),
            Pick::All => Some(self.batch.clone()),
            Pick::Some(events) => Some(frames::batch(events.iter().map(|e| &e.bytes[..]))),
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.events.last().map(|e| e.seq).unwrap_or(0)
    }
}

/// `GET /api/v1/games` for one topic list: the games its topics match, as of
/// `seq`, the last event that touched any of them ([`topic_seqs`]): the same
/// `(epoch, seq)` is always the same `body`.
#[derive(Debug)]
pub struct GamesDocument {
    pub epoch: String,
    pub seq: u64,
    pub body: Bytes,
}

/// A game as currently known, with its JSON ready to splice into frames.
#[derive(Debug)]
pub struct StoredGame {
    pub game: Game,
    pub routing: Routing,
    pub json: Bytes,
}

/// A client's resume point, from `subscribe.since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    pub epoch: String,
    pub seq: u64,
}

/// What a client gets right after (re)subscribing.
#[derive(Debug)]
pub enum Catchup {
    /// The current state of every matching game.
    Snapshot(Bytes),
    /// The events the client missed since its `since` (none if it missed nothing).
    Replay(Option<Bytes>),
}

/// One event with its seq and time already stamped: what [`Hub::apply`] takes
/// from the cluster's stream (where the leader numbered it), and what
/// [`Hub::publish`] makes of a diff's event.
#[derive(Debug, Clone)]
pub struct Sequenced {
    pub seq: u64,
    pub ts: i64,
    /// The complete `update` or `remove` frame, exactly as clients receive it.
    pub frame: Bytes,
    /// The game (for `remove`, its last known state, which routes the removal).
    pub game: Game,
    /// `game` as JSON, spliced into snapshots as is.
    pub game_json: Bytes,
    pub removed: bool,
}

/// [`Hub::apply`] refused events that do not continue this hub's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotNext {
    pub expected_seq: u64,
    pub got_seq: u64,
}

#[derive(Debug)]
struct HubState {
    /// Changes only in cluster mode, when [`Hub::reset`] starts another history.
    epoch: String,
    seq: u64,
    games: BTreeMap<String, Arc<StoredGame>>,
    ring: VecDeque<Arc<EventFrame>>,
    /// Bytes held by `ring` (its frames' JSON).
    ring_bytes: usize,
    /// Events committed per minute, for the status page.
    rate: activity::EventRate,
    /// Replaced by [`Hub::reset`]: dropping the old sender ends every session
    /// of the old history, and their clients resume from their `since`.
    tx: broadcast::Sender<Arc<Published>>,
    /// How long a `since` ahead of this hub waits for it (cluster mode: a
    /// client may come from a node further along the stream). Zero by default.
    catch_up_wait: Duration,
    /// Counts [`Hub::reset`]s: which history a client said hello to.
    generation: u64,
    /// Snapshots made at the current seq, by topic list: the
    /// clients of a reconnect storm mostly ask for the same few, and share
    /// one (its `ts` says when it was made). Emptied when the seq moves.
    snapshots: Vec<(String, Bytes)>,
    /// Which event last touched each topic: the snapshot API's ETags.
    topic_seqs: topic_seqs::TopicSeqs,
}

/// See the module docs.
#[derive(Debug)]
pub struct Hub {
    state: Mutex<HubState>,
    broadcast_capacity: usize,
    ring_capacity: usize,
    ring_max_age: Duration,
    /// …and at most this many bytes of frames (see [`Hub::with_ring_max_bytes`]).
    ring_max_bytes: usize,
    /// The last published seq, for whoever wants to react to changes (the state file writer).
    changed: watch::Sender<u64>,
}

/// Everything needed to bring a hub back after a restart: clients resume with
/// `since` across it with no gap and no duplicate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedHub {
    pub epoch: String,
    pub seq: u64,
    pub games: Vec<Game>,
    pub ring: Vec<SavedEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedEvent {
    pub seq: u64,
    pub ts: i64,
    pub id: String,
    pub feed: String,
    pub league: String,
    pub home_abbr: String,
    pub away_abbr: String,
    /// The frame's JSON text, exactly as sent.
    pub frame: String,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Hub {
    pub fn new(epoch: String, broadcast_capacity: usize, ring_capacity: usize, ring_max_age: Duration) -> Hub {
        let (tx, _) = broadcast::channel(broadcast_capacity.max(1));
        Hub {
            state: Mutex::new(HubState {
                epoch,
                seq: 0,
                games: BTreeMap::new(),
                ring: VecDeque::new(),
                ring_bytes: 0,
                rate: activity::EventRate::default(),
                tx,
                catch_up_wait: Duration::ZERO,
                generation: 0,
                snapshots: Vec::new(),
                topic_seqs: topic_seqs::TopicSeqs::default(),
            }),
            broadcast_capacity,
            ring_capacity,
            ring_max_age,
            ring_max_bytes: usize::MAX,
            changed: watch::channel(0).0,
        }
    }

    /// A hub that continues a saved history: same epoch, same seq, same games,
    /// same replay ring.
    pub fn restore(saved: SavedHub, broadcast_capacity: usize, ring_capacity: usize, ring_max_age: Duration) -> Hub {
        let hub = Hub::new(saved.epoch, broadcast_capacity, ring_capacity, ring_max_age);
        {
            let mut state = hub.lock();
            state.seq = saved.seq;
            state.topic_seqs.reset(saved.seq);
            for game in saved.games {
                let json = Bytes::from(serde_json::to_vec(&game).expect("games serialize"));
                let routing = Routing::of(&game);
                state.games.insert(game.id.clone(), Arc::new(StoredGame { game, routing, json }));
            }
            for e in saved.ring.into_iter().filter(|e| e.seq <= saved.seq) {
                let routing = Routing { id: e.id, feed: e.feed, league: e.league, home_abbr: e.home_abbr, away_abbr: e.away_abbr };
                let frame = EventFrame::new(e.seq, e.ts, routing, Bytes::from(e.frame));
                state.ring_bytes += frame.bytes.len();
                state.ring.push_back(Arc::new(frame));
            }
            let now = now_ms();
            hub.trim_ring(&mut state, now);
            hub.changed.send_replace(state.seq);
        }
        hub
    }

    /// The hub's state, for the state file.
    pub fn save(&self) -> SavedHub {
        let state = self.lock();
        SavedHub {
            epoch: state.epoch.clone(),
            seq: state.seq,
            games: state.games.values().map(|g| g.game.clone()).collect(),
            ring: state
                .ring
                .iter()
                .map(|e| SavedEvent {
                    seq: e.seq,
                    ts: e.ts,
                    id: e.routing.id.clone(),
                    feed: e.routing.feed.clone(),
                    league: e.routing.league.clone(),
                    home_abbr: e.routing.home_abbr.clone(),
                    away_abbr: e.routing.away_abbr.clone(),
                    frame: String::from_utf8_lossy(&e.bytes).into_owned(),
                })
                .collect(),
        }
    }

    /// Watches the last published seq.
    pub fn watch_seq(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// A fresh random epoch: the identity of one history of `seq`s.
    pub fn new_epoch() -> String {
        uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
    }

    pub fn epoch(&self) -> String {
        self.lock().epoch.clone()
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// Events per minute and the replay ring's span, as of now.
    pub fn activity(&self) -> activity::Activity {
        let state = self.lock();
        let (oldest, newest) = (state.ring.front(), state.ring.back());
        activity::Activity {
            ring: activity::RingSpan {
                events: state.ring.len(),
                bytes: state.ring_bytes,
                oldest_seq: oldest.map(|f| f.seq),
                oldest_ts: oldest.map(|f| f.ts),
                newest_seq: newest.map(|f| f.seq),
                newest_ts: newest.map(|f| f.ts),
            },
            events_per_minute: state.rate.per_minute(now_ms()),
        }
    }

    /// Stamps, serializes, stores and broadcasts the events of one poll.
    /// Returns the last seq assigned (the current seq when `events` is empty).
    pub fn publish(&self, events: Vec<Event>) -> u64 {
        let mut state = self.lock();
        if events.is_empty() {
            return state.seq;
        }
        let ts = now_ms();
        let first = state.seq + 1;
        let stamped = events.into_iter().enumerate().map(|(i, e)| stamp(e, first + i as u64, ts)).collect();
        self.commit(&mut state, stamped, ts)
    }

    /// Applies events numbered elsewhere (the cluster leader, through the
    /// stream): they must be of this hub's epoch and continue its seq exactly.
    pub fn apply(&self, epoch: &str, events: Vec<Sequenced>) -> Result<u64, NotNext> {
        let mut state = self.lock();
        let Some(first) = events.first() else { return Ok(state.seq) };
        let contiguous = events.iter().enumerate().all(|(i, e)| e.seq == first.seq + i as u64);
        if epoch != state.epoch || first.seq != state.seq + 1 || !contiguous {
            return Err(NotNext { expected_seq: state.seq + 1, got_seq: first.seq });
        }
        Ok(self.commit(&mut state, events, now_ms()))
    }

    /// Starts over from a known state (cluster mode: another epoch, or a node
    /// that fell behind the stream's retention): the games as of `seq`, and a
    /// ring of the events up to `seq` that are still known. Every current
    /// session ends (its broadcast closes) and its client resumes with `since`,
    /// by replay when the new ring covers it, else by snapshot: never a gap.
    pub fn reset(&self, epoch: String, seq: u64, games: Vec<Game>, ring: Vec<Sequenced>) {
        let mut state = self.lock();
        state.epoch = epoch;
        state.seq = seq;
        state.topic_seqs.reset(seq);
        state.games.clear();
        for game in games {
            let json = Bytes::from(serde_json::to_vec(&game).expect("games serialize"));
            let routing = Routing::of(&game);
            state.games.insert(game.id.clone(), Arc::new(StoredGame { game, routing, json }));
        }
        state.ring.clear();
        state.ring_bytes = 0;
        for e in ring.into_iter().filter(|e| e.seq <= seq) {
            let frame = EventFrame::new(e.seq, e.ts, Routing::of(&e.game), e.frame);
            state.ring_bytes += frame.bytes.len();
            state.ring.push_back(Arc::new(frame));
        }
        self.trim_ring(&mut state, now_ms());
        state.tx = broadcast::channel(self.broadcast_capacity.max(1)).0;
        state.generation += 1;
        state.snapshots.clear();
        self.changed.send_replace(seq);
    }

    /// Cluster mode: a `since` ahead of this hub waits up to `wait` for it.
    pub fn set_catch_up_wait(&self, wait: Duration) {
        self.lock().catch_up_wait = wait;
    }

    /// Waits (up to the catch-up wait) until this hub has reached `since`, when
    /// `since` is of this epoch and ahead of it; returns at once otherwise.
    pub async fn catch_up_to(&self, since: &Since) {
        let (wait, mut seq) = {
            let state = self.lock();
            if state.catch_up_wait.is_zero() || since.epoch != state.epoch || since.seq <= state.seq {
                return;
            }
            (state.catch_up_wait, self.changed.subscribe())
        };
        let _ = tokio::time::timeout(wait, seq.wait_for(|s| *s >= since.seq)).await;
    }

    /// Stores, rings and broadcasts events already stamped, in seq order.
    fn commit(&self, state: &mut HubState, events: Vec<Sequenced>, now: i64) -> u64 {
        let mut frames = Vec::with_capacity(events.len());
        for e in events {
            state.seq = e.seq;
            let routing = if e.removed {
                match state.games.remove(&e.game.id) {
                    Some(stored) => stored.routing.clone(),
                    None => Routing::of(&e.game),
                }
            } else {
                let routing = Routing::of(&e.game);
                let stored = Arc::new(StoredGame { game: e.game, routing: routing.clone(), json: e.game_json });
                // A game that changed team or league leaves its old topics' documents too.
                if let Some(before) = state.games.insert(stored.game.id.clone(), stored).filter(|b| b.routing != routing) {
                    state.topic_seqs.touch(&before.routing, e.seq);
                }
                routing
            };
            state.topic_seqs.touch(&routing, e.seq);
            frames.push(Arc::new(EventFrame::new(e.seq, e.ts, routing, e.frame)));
        }
        for f in &frames {
            state.ring_bytes += f.bytes.len();
            state.ring.push_back(f.clone());
        }
        state.topic_seqs.sweep(&state.games);
        self.trim_ring(state, now);
        state.rate.add(now, frames.len() as u64);
        state.snapshots.clear();
        let batch = if frames.len() > 1 { frames::batch(frames.iter().map(|f| &f.bytes[..])) } else { Bytes::new() };
        let seq = state.seq;
        // No receivers is not an error: nobody is listening yet.
        let _ = state.tx.send(Arc::new(Published { events: frames, batch }));
        self.changed.send_replace(seq);
        seq
    }

    /// Bounds the replay ring memory too (`limits.ring_max_bytes`): count and
    /// age alone let a few huge events hold any amount of memory.
    pub fn with_ring_max_bytes(mut self, max: usize) -> Hub {
        self.ring_max_bytes = max;
        let mut state = self.lock();
        self.trim_ring(&mut state, now_ms());
        drop(state);
        self
    }

    fn trim_ring(&self, state: &mut HubState, now: i64) {
        let max_age_ms = self.ring_max_age.as_millis() as i64;
        while state.ring.len() > self.ring_capacity
            || state.ring_bytes > self.ring_max_bytes
            || state.ring.front().is_some_and(|f| now - f.ts > max_age_ms)
        {
            let Some(oldest) = state.ring.pop_front() else { break };
            state.ring_bytes -= oldest.bytes.len();
        }
    }

    /// Starts listening: the `hello` frame and a receiver that will see every
    /// event after the seq that hello announces.
    pub fn connect(&self, heartbeat_s: u64) -> (Bytes, u64, broadcast::Receiver<Arc<Published>>) {
        let state = self.lock();
        let rx = state.tx.subscribe();
        (frames::hello(&state.epoch, state.seq, heartbeat_s), state.seq, rx)
    }

    /// The `hello` frame, and the history it belongs to (which a receiver from
    /// [`Hub::listen`] of the same generation continues).
    pub fn hello(&self, heartbeat_s: u64) -> (Bytes, u64) {
        let state = self.lock();
        (frames::hello(&state.epoch, state.seq, heartbeat_s), state.generation)
    }

    /// A receiver of every publication from now on, and the history it is of:
    /// it closes when [`Hub::reset`] begins another.
    pub fn listen(&self) -> (u64, broadcast::Receiver<Arc<Published>>) {
        let state = self.lock();
        (state.generation, state.tx.subscribe())
    }

    /// Adds `topics` to a subscription and returns what the client must get to be
    /// current on them: a replay of what it missed when `since` allows, else a
    /// snapshot. Atomic with respect to publishing (see module docs).
    pub fn subscribe(&self, sub: &mut Subscription, topics: &[Topic], since: Option<&Since>) -> Catchup {
        let mut state = self.lock();
        let seq = state.seq;
        let ts = now_ms();
        self.trim_ring(&mut state, ts);
        if let Some(since) = since {
            if let Some(missed) = Self::missed_since(&state, since) {
                let mut temp = Subscription::default();
                temp.add(topics, since.seq);
                let wanted: Vec<&[u8]> =
                    missed.iter().filter(|e| temp.wants(e.seq, &e.routing)).map(|e| &e.bytes[..]).collect();
                sub.add(topics, seq);
                return Catchup::Replay(match wanted.len() {
                    0 => None,
                    1 => Some(Bytes::copy_from_slice(wanted[0])),
                    _ => Some(frames::batch(wanted.into_iter())),
                });
            }
        }
        sub.add(topics, seq);
        Catchup::Snapshot(Self::snapshot_frame(&mut state, topics, ts))
    }

    /// A fresh snapshot of everything a subscription covers, after the client fell
    /// too far behind the broadcast to be caught up event by event.
    pub fn resync(&self, sub: &mut Subscription) -> Bytes {
        let mut state = self.lock();
        let topics: Vec<Topic> = sub.topics().cloned().collect();
        sub.reset(state.seq);
        Self::snapshot_frame(&mut state, &topics, now_ms())
    }

    /// The ring entries after `since`, if the ring still holds all of them.
    fn missed_since<'a>(state: &'a HubState, since: &Since) -> Option<Vec<&'a Arc<EventFrame>>> {
        if since.epoch != state.epoch || since.seq > state.seq {
            return None;
        }
        if since.seq == state.seq {
            return Some(Vec::new());
        }
        let oldest = state.ring.front()?.seq;
        if oldest > since.seq + 1 {
            return None;
        }
        Some(state.ring.iter().filter(|e| e.seq > since.seq).collect())
    }

    fn snapshot_frame(state: &mut HubState, topics: &[Topic], ts: i64) -> Bytes {
        /// Distinct topic lists kept per seq.
        const CACHED: usize = 8;
        let names: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let key = names.join(",");
        if let Some((_, frame)) = state.snapshots.iter().find(|(k, _)| *k == key) {
            return frame.clone();
        }
        let games = state.games.values().filter(|g| topics.iter().any(|t| t.matches(&g.routing))).map(|g| &g.json[..]);
        let frame = frames::snapshot(state.seq, ts, &names, games);
        if state.snapshots.len() >= CACHED {
            state.snapshots.remove(0);
        }
        state.snapshots.push((key, frame.clone()));
        frame
    }

    /// The body of `GET /api/v1/games` for `topics`, and its version.
    pub fn games_document(&self, topics: &[Topic]) -> GamesDocument {
        let state = self.lock();
        let seq = state.topic_seqs.of(topics, state.seq);
        let games = state.games.values().filter(|g| topics.iter().any(|t| t.matches(&g.routing))).map(|g| &g.json[..]);
        GamesDocument { body: frames::games_document(&state.epoch, seq, games), epoch: state.epoch.clone(), seq }
    }

    /// The version [`Hub::games_document`] would have now (epoch and seq),
    /// without making the document: enough to answer a matching `If-None-Match`.
    pub fn games_version(&self, topics: &[Topic]) -> (String, u64) {
        let state = self.lock();
        (state.epoch.clone(), state.topic_seqs.of(topics, state.seq))
    }

    /// Every known game (for status pages and state files).
    pub fn games(&self) -> Vec<Arc<StoredGame>> {
        self.lock().games.values().cloned().collect()
    }
}

/// A diff's event, numbered and serialized once.
pub fn stamp(event: Event, seq: u64, ts: i64) -> Sequenced {
    match event {
        Event::Update { changes, game } => {
            let game_json = Bytes::from(serde_json::to_vec(&game).expect("games serialize"));
            let frame = frames::update(seq, ts, &changes, &game_json);
            Sequenced { seq, ts, frame, game, game_json, removed: false }
        }
        Event::Remove { game } => {
            let frame = frames::remove(seq, ts, &game.id);
            Sequenced { seq, ts, frame, game, game_json: Bytes::new(), removed: true }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Change;
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
    fn a_restored_hub_continues_the_same_history() {
        let h = hub();
        h.publish(vec![update(game("1", "nba", 1)), update(game("2", "nfl", 1))]);
        h.publish(vec![Event::Remove { game: game("2", "nfl", 1) }]);
        let saved = h.save();
        let json_text = serde_json::to_string(&saved).unwrap();
        let restored = Hub::restore(serde_json::from_str(&json_text).unwrap(), 16, 100, Duration::from_secs(600));
        assert_eq!(restored.epoch(), "ep");
        assert_eq!(restored.seq(), 3);
        assert_eq!(restored.games().len(), 1);
        let mut sub = Subscription::default();
        let since = Since { epoch: "ep".into(), seq: 1 };
        let Catchup::Replay(Some(replay)) = restored.subscribe(&mut sub, &topics(&["league:nfl"]), Some(&since)) else { panic!() };
        let replay = json(&replay);
        assert_eq!(events_seqs(&replay), vec![2, 3], "the nfl add and its removal, from the saved ring");
        assert_eq!(restored.publish(vec![update(game("1", "nba", 5))]), 4);
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
    fn a_reset_ends_sessions_and_starts_the_new_history() {
        let h = hub();
        h.publish(vec![update(game("1", "nba", 1)), update(game("2", "nba", 1))]);
        let (_, _, mut rx) = h.connect(20);
        let ring = vec![stamp(update(game("3", "nfl", 7)), 5, now_ms())];
        h.reset("ep2".into(), 5, vec![game("3", "nfl", 7)], ring);
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Closed)), "old sessions end");
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
}
