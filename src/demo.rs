//! The built-in demo: ESPN's real World Cup 2026 scoreboard, recorded over two
//! weeks, replayed as if live.
//!
//! The replay is a real HTTP upstream on loopback, started by the binary, and
//! the demo feed polls it through the real poller and the real `espn` adapter,
//! so the demo exercises exactly the path a production feed takes. Each
//! recording is served for `step`, then the next; at the end it loops.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use warp::http::{header, Response};
use warp::Filter;

use crate::config::{self, Config, Limits};

include!(concat!(env!("OUT_DIR"), "/demo_recordings.rs"));

/// The replay's path, as on ESPN's site API.
pub const SCOREBOARD_PATH: &str = "/apis/site/v2/sports/soccer/fifa.world/scoreboard";

/// Serves the recordings in turn on `127.0.0.1:<free port>` and returns the
/// scoreboard URL.
pub async fn start_replay(step: Duration) -> Result<String, String> {
    if DEMO_RECORDINGS.is_empty() {
        return Err("this binary was built without the demo recordings (feeds/demo/worldcup-2026/)".into());
    }
    let started = Arc::new(Instant::now());
    let route = warp::path!("apis" / "site" / "v2" / "sports" / "soccer" / "fifa.world" / "scoreboard").map(move || {
        let index = (started.elapsed().as_millis() / step.as_millis().max(1)) as usize % DEMO_RECORDINGS.len();
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json;charset=UTF-8")
            .body(bytes::Bytes::from_static(DEMO_RECORDINGS[index].1))
            .expect("valid response")
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| format!("demo replay: {e}"))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Ok(format!("http://{addr}{SCOREBOARD_PATH}"))
}

/// The demo's config: the World Cup feed, polled every `poll`, served on `listen`.
pub fn config(listen: SocketAddr, upstream: &str, poll: Duration) -> Result<Config, String> {
    let feed_text = format!(
        r#"id = "demo-worldcup"
adapter = "espn"
url = "{upstream}"
schedule = "{}s"
league = "worldcup"
sport = "soccer"
timeout = "5s"
"#,
        poll.as_secs().max(1)
    );
    let feed = config::load_feed(&PathBuf::from("<built-in demo>/worldcup.toml"), &feed_text).map_err(|e| e.to_string())?;
    Ok(Config {
        ignored_feed_files: Vec::new(),
        source: None,
        listen,
        feeds_dir: PathBuf::new(),
        state_dir: None,
        tls: None,
        // The demo runs on loopback: one listener serves everything.
        admin_listen: None,
        limits: Limits::default(),
        http: Default::default(),
        feeds: vec![feed],
        cluster: None,
    })
}
