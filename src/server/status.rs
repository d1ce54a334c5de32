//! `/status`: the operator's page, and the document behind it.
//!
//! One JSON document says how the service is doing: each feed's state, last
//! and next poll, polling mode and its last hour of polls (per minute: polls,
//! failures, slowest latency), the clients by transport, events per minute,
//! the replay ring's span, the games, and in cluster mode this node's role,
//! the leader and the lag. It is served three ways on the admin listener:
//!
//! - `GET /status?format=json` (or with `Accept: application/json`): the document;
//! - `GET /status/events`: the same document once a second as Server-Sent
//!   Events (written by the `/sse` encoder), which keeps the page live;
//! - `GET /status`: the page (`web/status.html`, embedded), which renders the
//!   document and follows the events. It loads nothing from elsewhere.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use warp::http::{header, StatusCode};
use warp::Filter;

use super::sse::{event_stream, Event};
use super::{api, assets, query_param, with_ctx, Routes, ServerContext};
use crate::feeds::{FeedHealth, PollSample};
use crate::hub::activity::{RingSpan, MINUTES};

/// How often `/status/events` sends the document.
pub const EVENT_INTERVAL: Duration = Duration::from_secs(1);
/// The most games the document lists (the count is always exact).
const MAX_GAMES: usize = 500;

/// The status document (`/status?format=json`). Fields are only ever added.
#[derive(Debug, Serialize)]
pub struct StatusDocument {
    pub version: &'static str,
    pub now: DateTime<Utc>,
    pub ready: bool,
    pub epoch: String,
    pub seq: u64,
    pub clients: Clients,
    /// Events per minute over the last hour, oldest first; the last is the minute in progress.
    pub events_per_minute: Vec<u64>,
    pub ring: RingSpan,
    pub feeds: Vec<FeedStatus>,
    /// Games held now (all of them, even past the `games` list's cap).
    pub game_count: usize,
    pub games: Vec<GameLine>,
    /// Present in cluster mode only.
    pub cluster: Option<ClusterLine>,
}

/// Clients connected to this node now.
#[derive(Debug, Serialize)]
pub struct Clients {
    pub ws: usize,
    pub sse: usize,
    /// Every listener of the hub's broadcast (`ws` + `sse`, and echo sessions).
    pub total: usize,
}

/// One feed, as the page shows it.
#[derive(Debug, Serialize)]
pub struct FeedStatus {
    pub feed: String,
    pub url_host: String,
    /// `ok`, `failing` (the last poll failed), `stale` (no success for its
    /// staleness window) or `waiting` (not polled yet).
    pub state: &'static str,
    pub last_outcome: Option<String>,
    /// `fixed`, `live` or `idle` (adaptive polling).
    pub mode: &'static str,
    pub mode_since: Option<DateTime<Utc>>,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub next_poll: Option<DateTime<Utc>>,
    pub games: usize,
    pub polls: u64,
    pub failures: u64,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub history: History,
}

/// A feed's last hour, per minute, oldest first (the last is the minute in progress).
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct History {
    pub polls: Vec<u32>,
    pub failures: Vec<u32>,
    /// The slowest poll of each minute (None: no poll in it).
    pub max_ms: Vec<Option<u32>>,
}

impl History {
    pub fn of(samples: impl IntoIterator<Item = PollSample>, now: DateTime<Utc>) -> History {
        let mut h = History { polls: vec![0; MINUTES], failures: vec![0; MINUTES], max_ms: vec![None; MINUTES] };
        let this_minute = now.timestamp().div_euclid(60);
        for s in samples {
            let back = this_minute - s.at.timestamp().div_euclid(60);
            if !(0..MINUTES as i64).contains(&back) {
                continue;
            }
            let i = MINUTES - 1 - back as usize;
            h.polls[i] += 1;
            h.failures[i] += u32::from(!s.ok);
            h.max_ms[i] = Some(h.max_ms[i].map_or(s.ms, |m| m.max(s.ms)));
        }
        h
    }
}

/// One game: enough to see scores move.
#[derive(Debug, Serialize)]
pub struct GameLine {
    pub id: String,
    pub away: String,
    pub home: String,
    pub away_score: Option<i64>,
    pub home_score: Option<i64>,
    pub state: String,
    pub detail: Option<String>,
    pub updated: Option<String>,
}

/// This node in the cluster.
#[derive(Debug, Serialize)]
pub struct ClusterLine {
    pub node: String,
    /// `leader` or `follower`.
    pub role: &'static str,
    pub leader: Option<String>,
    pub redis_up: bool,
    pub lag_events: u64,
    pub lag_ms: i64,
    pub config_mismatch: bool,
}

fn feed_status(f: FeedHealth, now: DateTime<Utc>) -> FeedStatus {
    let state = if f.stale {
        "stale"
    } else if f.last_attempt.is_none() {
        "waiting"
    } else if f.consecutive_failures > 0 {
        "failing"
    } else {
        "ok"
    };
    FeedStatus {
        history: History::of(f.history.iter().copied(), now),
        feed: f.feed,
        url_host: f.url_host,
        state,
        last_outcome: f.last_outcome,
        mode: f.mode,
        mode_since: f.mode_since,
        last_poll: f.last_attempt,
        last_success: f.last_success,
        next_poll: f.next_poll,
        games: f.games,
        polls: f.polls,
        failures: f.failures,
        consecutive_failures: f.consecutive_failures,
        last_error: f.last_error,
    }
}

/// The document as of now.
pub fn document(ctx: &ServerContext) -> StatusDocument {
    let now = Utc::now();
    let activity = ctx.hub.activity();
    let games = ctx.hub.games();
    StatusDocument {
        version: env!("CARGO_PKG_VERSION"),
        now,
        ready: ctx.readiness.is_ready(),
        epoch: ctx.hub.epoch(),
        seq: ctx.hub.seq(),
        clients: Clients {
            ws: ctx.subscribers.websocket(),
            sse: ctx.subscribers.sse(),
            total: ctx.subscribers.total(),
        },
        events_per_minute: activity.events_per_minute,
        ring: activity.ring,
        feeds: ctx.health.all().into_iter().map(|f| feed_status(f, now)).collect(),
        game_count: games.len(),
        games: games
            .iter()
            .take(MAX_GAMES)
            .map(|g| {
                let g = &g.game;
                GameLine {
                    id: g.id.clone(),
                    away: g.away.abbr.clone(),
                    home: g.home.abbr.clone(),
                    away_score: g.away.score,
                    home_score: g.home.score,
                    state: serde_json::to_value(g.status.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                    detail: g.status.detail.clone(),
                    updated: g.updated.clone(),
                }
            })
            .collect(),
        cluster: ctx.cluster.as_ref().map(|c| {
            let s = c.get();
            ClusterLine {
                node: c.node_id.clone(),
                role: if s.leader { "leader" } else { "follower" },
                leader: s.leader_id,
                redis_up: s.redis_up,
                lag_events: s.lag_events,
                lag_ms: s.lag_ms,
                config_mismatch: s.config_mismatch,
            }
        }),
    }
}

fn document_bytes(ctx: &ServerContext) -> bytes::Bytes {
    serde_json::to_vec(&document(ctx)).expect("the status document serializes").into()
}

/// Whether a request for `/status` asks for the JSON document rather than the page.
fn wants_json(query: &str, accept: Option<&str>) -> bool {
    match query_param(query, "format").as_deref() {
        Some("json") => true,
        Some(_) => false,
        None => accept.is_some_and(|a| {
            a.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).find(|t| *t == "application/json" || *t == "text/html") == Some("application/json")
        }),
    }
}

/// `GET /status` and `GET /status/events`, for the admin routes.
pub fn routes(ctx: &ServerContext) -> Routes {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let status = warp::path!("status")
        .and(warp::get())
        .and(query)
        .and(warp::header::optional::<String>("accept"))
        .and(warp::header::optional::<String>("accept-encoding"))
        .and(warp::header::optional::<String>("if-none-match"))
        .and(with_ctx(ctx))
        .map(|query: String, accept: Option<String>, encoding: Option<String>, inm: Option<String>, ctx: ServerContext| {
            let mut response = if wants_json(&query, accept.as_deref()) {
                api::json_response(StatusCode::OK, document_bytes(&ctx))
            } else {
                match assets::find("status.html") {
                    Some(page) => assets::respond(page, encoding.as_deref(), inm.as_deref(), "no-cache"),
                    None => api::error_response(StatusCode::NOT_FOUND, "not_found", "this build has no status page"),
                }
            };
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
            headers.insert(header::VARY, header::HeaderValue::from_static("Accept, Accept-Encoding"));
            // The admin page's data is for the operator's own browser only.
            headers.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
            warp::Reply::into_response(response)
        });
    let events = warp::path!("status" / "events").and(warp::get()).and(with_ctx(ctx)).map(|ctx: ServerContext| {
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(send_documents(tx, ctx));
        event_stream(rx)
    });
    status.or(events).unify().boxed()
}

/// Sends the document every [`EVENT_INTERVAL`] until the page goes away (or
/// stops reading for `send_timeout`) or the server shuts down.
async fn send_documents(tx: mpsc::Sender<Event>, ctx: ServerContext) {
    let mut shutdown = ctx.shutdown.clone();
    let mut tick = tokio::time::interval(EVENT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let event = Event::new(None, None, document_bytes(&ctx));
                match tokio::time::timeout(ctx.limits.send_timeout, tx.send(event)).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
            _ = shutdown.changed() => return,
            _ = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_asked_for_by_query_or_accept() {
        assert!(wants_json("format=json", None));
        assert!(!wants_json("format=html", Some("application/json")));
        assert!(wants_json("", Some("application/json")));
        assert!(!wants_json("", Some("text/html,application/xhtml+xml,application/json;q=0.9")));
        assert!(!wants_json("", None));
    }

    #[test]
    fn history_is_bucketed_per_minute() {
        let now = DateTime::parse_from_rfc3339("2026-06-11T20:30:30Z").unwrap().with_timezone(&Utc);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let samples = [
            PollSample { at: at("2026-06-11T19:30:59Z"), ms: 5, ok: true }, // an hour ago: out
            PollSample { at: at("2026-06-11T20:29:10Z"), ms: 40, ok: true },
            PollSample { at: at("2026-06-11T20:29:50Z"), ms: 90, ok: false },
            PollSample { at: at("2026-06-11T20:30:01Z"), ms: 12, ok: true },
        ];
        let h = History::of(samples, now);
        assert_eq!(h.polls.iter().sum::<u32>(), 3);
        assert_eq!((h.polls[58], h.failures[58], h.max_ms[58]), (2, 1, Some(90)));
        assert_eq!((h.polls[59], h.failures[59], h.max_ms[59]), (1, 0, Some(12)));
        assert_eq!(h.max_ms[0], None);
    }
}
