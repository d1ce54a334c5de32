//! The current state as documents: the `snapshot` frame a (re)subscribing
//! client gets, cached per topic list at the current seq (the clients of a
//! reconnect storm mostly ask for the same few), and the body of
//! `GET /api/v1/games` with its version.

use bytes::Bytes;

use super::{frames, Hub, HubState, Topic};

/// `GET /api/v1/games` for one topic list: the games its topics match, as of
/// `seq`, the last event that touched any of them ([`super::topic_seqs`]): the same
/// `(epoch, seq)` is always the same `body`.
#[derive(Debug)]
pub struct GamesDocument {
    pub epoch: String,
    pub seq: u64,
    pub body: Bytes,
}

/// Snapshot frames made at the current seq, by topic list; each says (`ts`)
/// when it was made. Emptied when the seq moves.
#[derive(Debug, Default)]
pub(super) struct Snapshots(Vec<(String, Bytes)>);

impl Snapshots {
    /// Distinct topic lists kept per seq.
    const CACHED: usize = 8;

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

impl Hub {
    pub(super) fn snapshot_frame(state: &mut HubState, topics: &[Topic], ts: i64) -> Bytes {
        let names: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let key = names.join(",");
        if let Some((_, frame)) = state.snapshots.0.iter().find(|(k, _)| *k == key) {
            return frame.clone();
        }
        let games = state.games.values().filter(|g| topics.iter().any(|t| t.matches(&g.routing))).map(|g| &g.json[..]);
        let frame = frames::snapshot(state.seq, ts, &names, games);
        if state.snapshots.0.len() >= Snapshots::CACHED {
            state.snapshots.0.remove(0);
        }
        state.snapshots.0.push((key, frame.clone()));
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
}
