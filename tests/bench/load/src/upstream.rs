//! `upstream`: a synthetic ESPN site-API scoreboard whose scores change on a clock,
//! so the service's real poller → adapter → diff → hub path makes the events.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::child::emit;
use crate::cli::UpstreamArgs;

pub const TEAMS: [(&str, &str); 30] = [
    ("ATL", "Atlanta Hawks"), ("BOS", "Boston Celtics"), ("BKN", "Brooklyn Nets"), ("CHA", "Charlotte Hornets"),
    ("CHI", "Chicago Bulls"), ("CLE", "Cleveland Cavaliers"), ("DAL", "Dallas Mavericks"), ("DEN", "Denver Nuggets"),
    ("DET", "Detroit Pistons"), ("GS", "Golden State Warriors"), ("HOU", "Houston Rockets"), ("IND", "Indiana Pacers"),
    ("LAC", "LA Clippers"), ("LAL", "Los Angeles Lakers"), ("MEM", "Memphis Grizzlies"), ("MIA", "Miami Heat"),
    ("MIL", "Milwaukee Bucks"), ("MIN", "Minnesota Timberwolves"), ("NO", "New Orleans Pelicans"), ("NY", "New York Knicks"),
    ("OKC", "Oklahoma City Thunder"), ("ORL", "Orlando Magic"), ("PHI", "Philadelphia 76ers"), ("PHX", "Phoenix Suns"),
    ("POR", "Portland Trail Blazers"), ("SAC", "Sacramento Kings"), ("SA", "San Antonio Spurs"), ("TOR", "Toronto Raptors"),
    ("UTAH", "Utah Jazz"), ("WSH", "Washington Wizards"),
];

pub struct UpState {
    pub games: usize,
    /// Per feed: (home, away) score of every game.
    pub scores: Mutex<Vec<Vec<(u32, u32)>>>,
    pub bodies: Vec<Mutex<Bytes>>,
    pub active: AtomicUsize,
    pub per_tick: AtomicUsize,
    pub ticks: AtomicU64,
    pub requests: AtomicU64,
    pub started: std::time::Instant,
    /// ms since `started` of the last scoreboard request.
    pub last_request_ms: AtomicU64,
}

impl UpState {
    pub fn body(&self, feed: usize, scores: &[(u32, u32)]) -> Bytes {
        let team = |side: &str, i: usize, score: u32| {
            let (abbr, name) = TEAMS[i % TEAMS.len()];
            json!({"homeAway": side, "score": score.to_string(),
                "team": {"id": (i % TEAMS.len() + 1).to_string(), "abbreviation": abbr, "displayName": name}})
        };
        let events: Vec<Value> = scores
            .iter()
            .enumerate()
            .map(|(g, (home, away))| {
                let id = (400_000_000 + feed * 1000 + g).to_string();
                json!({
                    "id": id,
                    "status": {"period": 3, "displayClock": "5:32",
                        "type": {"name": "STATUS_IN_PROGRESS", "state": "in", "completed": false, "shortDetail": "5:32 - 3rd"}},
                    "competitions": [{"id": id, "competitors": [team("home", 2 * g, *home), team("away", 2 * g + 1, *away)]}]
                })
            })
            .collect();
        Bytes::from(serde_json::to_vec(&json!({"leagues": [{"abbreviation": "NBA"}], "events": events})).expect("json"))
    }

    pub fn tick(&self) {
        let tick = self.ticks.fetch_add(1, Relaxed) as usize + 1;
        let active = self.active.load(Relaxed).min(self.bodies.len());
        let per_tick = self.per_tick.load(Relaxed);
        let mut scores = self.scores.lock().unwrap();
        for f in 0..active {
            for k in 0..per_tick {
                let n = tick * per_tick + k;
                let g = n % self.games;
                let (home, away) = &mut scores[f][g];
                if (n / self.games).is_multiple_of(2) {
                    *home += 2;
                } else {
                    *away += 2;
                }
            }
            *self.bodies[f].lock().unwrap() = self.body(f, &scores[f]);
        }
    }
}

pub fn upstream(a: UpstreamArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime");
    runtime.block_on(async move {
        use warp::Filter;
        let feeds = a.feeds.max(1);
        let games = a.games.max(1);
        let scores: Vec<Vec<(u32, u32)>> = (0..feeds).map(|_| (0..games).map(|g| (60 + g as u32, 58 + g as u32)).collect()).collect();
        let state = Arc::new(UpState {
            games,
            bodies: Vec::new(),
            scores: Mutex::new(Vec::new()),
            active: AtomicUsize::new(a.active_feeds.unwrap_or(feeds)),
            per_tick: AtomicUsize::new(a.changes_per_tick),
            ticks: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            started: std::time::Instant::now(),
            last_request_ms: AtomicU64::new(u64::MAX),
        });
        let state = {
            let mut s = Arc::into_inner(state).expect("not shared yet");
            s.bodies = scores.iter().enumerate().map(|(f, sc)| Mutex::new(s.body(f, sc))).collect();
            s.scores = Mutex::new(scores);
            Arc::new(s)
        };

        let s = state.clone();
        let scoreboard = warp::path!("feed" / usize / "scoreboard").map(move |f: usize| {
            s.requests.fetch_add(1, Relaxed);
            s.last_request_ms.store(s.started.elapsed().as_millis() as u64, Relaxed);
            match s.bodies.get(f) {
                Some(body) => warp::http::Response::builder()
                    .header("content-type", "application/json;charset=UTF-8")
                    .body(body.lock().unwrap().clone())
                    .expect("response"),
                None => warp::http::Response::builder().status(404).body(Bytes::from_static(b"no such feed\n")).expect("response"),
            }
        });
        let s = state.clone();
        let control = warp::path!("control").and(warp::query::raw().or(warp::any().map(String::new)).unify()).map(move |q: String| {
            for pair in q.split('&') {
                let Some((k, v)) = pair.split_once('=') else { continue };
                let Ok(v) = v.parse::<usize>() else { continue };
                match k {
                    "rate" | "active_feeds" => s.active.store(v, Relaxed),
                    "changes_per_tick" => s.per_tick.store(v, Relaxed),
                    _ => {}
                }
            }
            warp::reply::json(&json!({"active_feeds": s.active.load(Relaxed), "changes_per_tick": s.per_tick.load(Relaxed)}))
        });
        let s = state.clone();
        let status = warp::path!("status").map(move || {
            warp::reply::json(&json!({"ticks": s.ticks.load(Relaxed), "requests": s.requests.load(Relaxed),
                "active_feeds": s.active.load(Relaxed), "changes_per_tick": s.per_tick.load(Relaxed),
                "feeds": s.bodies.len(), "games": s.games}))
        });
        let listener = match tokio::net::TcpListener::bind(a.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("scoreticker-load upstream: cannot listen on {}: {e}", a.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().expect("bound");
        emit(json!({"listening": addr.to_string(), "feeds": feeds, "games": games,
            "scoreboard": format!("http://{addr}/feed/0/scoreboard")}));

        // Tick halfway between the service's polls, so each poll sees exactly one
        // tick's change (the poll schedule's phase is the service's own).
        let s = state.clone();
        let period = a.change_every.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut next = std::time::Instant::now() + period;
            loop {
                tokio::time::sleep_until(next.into()).await;
                s.tick();
                let now = std::time::Instant::now();
                let last = s.last_request_ms.load(Relaxed);
                next = if last == u64::MAX {
                    now + period
                } else {
                    let mut t = s.started + Duration::from_millis(last) + period / 2;
                    while t <= now + period / 4 {
                        t += period;
                    }
                    t
                };
            }
        });
        warp::serve(scoreboard.or(control).or(status)).incoming(listener).run().await;
        ExitCode::SUCCESS
    })
}
