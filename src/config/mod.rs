//! Configuration: one main TOML file plus a directory of feed files.
//!
//! Loading is two passes. serde (with `deny_unknown_fields`) turns each file into
//! its raw shape; then the `validate_*` functions check every value and turn
//! the raw shapes into the typed [`Config`] the rest of the service uses. Both passes report
//! *every* problem as `file:line: key: message`, so an operator fixes a broken
//! config in one round instead of one error per restart.
//!
//! This module holds the main file's sections; [`cluster`] the `[cluster]`
//! section, `feed` the feed files, [`window`] their active windows, [`units`]
//! durations and sizes, `report` and [`locate`] the `file:line: key` of each problem.

pub mod cluster;
mod feed;
pub mod locate;
mod report;
pub mod units;
pub mod window;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::adapters::AdapterKind;

pub use cluster::ClusterConfig;
pub use feed::{load_feed, origin_of, parse_schedule};
pub use report::{ConfigError, ConfigErrors};
pub use units::{parse_bytes, parse_duration};
pub use window::ActiveWindow;
use feed::{check_unique_ids, feed_files, load_feed_text, FeedDefaultsFile};
use report::{parse_toml, FileCtx, Report};

/// Everything the service needs to run, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main file this was read from (None for the built-in demo).
    pub source: Option<PathBuf>,
    pub listen: SocketAddr,
    pub feeds_dir: PathBuf,
    pub state_dir: Option<PathBuf>,
    /// A second, TLS listener (`wss://`, `https://`).
    pub tls: Option<TlsConfig>,
    /// Where `/metrics` and `/status` are served; `None` serves them on the
    /// public listener (the demo does this).
    pub admin_listen: Option<SocketAddr>,
    pub limits: Limits,
    pub http: HttpSettings,
    pub feeds: Vec<FeedConfig>,
    /// `[cluster]`: several nodes share one Redis (see `crate::cluster`);
    /// `None` runs one node on its own, state file included.
    pub cluster: Option<ClusterConfig>,
    /// Entries of the feeds directory named `*.toml` that are not readable feed
    /// files (a directory, a dangling symlink, a symlink loop). `check-config`
    /// reports them as errors; a running service warns and counts them, since
    /// refusing a reload would not bring the file back.
    pub ignored_feed_files: Vec<ConfigError>,
}

/// `[http]`: how shared caches (a CDN, nginx) may keep the snapshot API.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// `Cache-Control: max-age` of `/api/v1/games`, and the poll interval it
    /// advertises to polling widgets. Whole seconds, at least 1.
    pub snapshot_max_age: Duration,
    /// `stale-while-revalidate`: how long a cache may serve an expired snapshot
    /// while it fetches the next one. Whole seconds.
    pub snapshot_stale: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { snapshot_max_age: Duration::from_secs(1), snapshot_stale: Duration::from_secs(10) }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Bounds that keep one client, one feed or one burst from costing the server
/// more than its share.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest client → server WebSocket message; larger ones close the socket with 1009.
    pub max_message_bytes: usize,
    pub max_topics_per_client: usize,
    /// Ping and application heartbeat interval; a peer silent for two is dropped.
    pub heartbeat: Duration,
    /// How long one frame may wait for a client's socket before the client is
    /// closed with 1013: a reader that stopped reading must not hold memory.
    pub send_timeout: Duration,
    /// Replay ring for `since` resume: at most this many events…
    pub ring_capacity: usize,
    /// …and none older than this…
    pub ring_max_age: Duration,
    /// …and no more than this many bytes of frames.
    pub ring_max_bytes: usize,
    /// Events a slow client may fall behind the broadcast before it is resynced.
    pub broadcast_capacity: usize,
    /// Origins allowed to open `/ws` (empty: any). Others get 403.
    pub allowed_origins: Vec<String>,
    /// Open connections one IP address may hold, of any kind (0: no cap).
    pub max_connections_per_ip: usize,
    /// Open connections of the public listeners in all, of any kind (0: no cap).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 4096,
            max_topics_per_client: 64,
            heartbeat: Duration::from_secs(20),
            send_timeout: Duration::from_secs(10),
            ring_capacity: 10_000,
            ring_max_age: Duration::from_secs(15 * 60),
            ring_max_bytes: 8 << 20,
            broadcast_capacity: 1024,
            allowed_origins: Vec::new(),
            max_connections_per_ip: 0,
            max_connections: 100_000,
        }
    }
}

/// When a feed is polled.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// A plain interval ("15s").
    Every(Duration),
    /// A 6-field cron expression, seconds first, as tokio-cron-scheduler reads it.
    Cron(String),
}

/// Extra request headers. Often an API key: its values are never printed.
#[derive(Clone, PartialEq, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(k, _)| (k, "<redacted>"))).finish()
    }
}

/// One feed, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    pub id: String,
    pub adapter: AdapterKind,
    pub url: String,
    pub schedule: Schedule,
    /// Adaptive polling: the slower schedule used while no game is in play and
    /// none starts within `prestart` (None: always `schedule`).
    pub schedule_idle: Option<Schedule>,
    /// How long before a game's start the feed switches to `schedule`.
    pub prestart: Duration,
    pub league: String,
    pub sport: String,
    pub timeout: Duration,
    pub headers: Headers,
    /// Bodies larger than this are refused while being read.
    pub max_body_bytes: u64,
    /// Poll only inside these windows (empty: always).
    pub active: Vec<ActiveWindow>,
    pub timezone: chrono_tz::Tz,
    /// A game absent from this many consecutive good polls is removed.
    pub remove_after_missed_polls: u32,
    /// The feed counts as stale after this many scheduled polls without a success.
    pub stale_after_missed_polls: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Other origins (`https://host[:port]`) the feed's upstream may redirect
    /// to; its own origin is always allowed. Custom headers never go to them.
    pub allow_redirects_to: Vec<String>,
    /// The file this feed came from, for messages.
    pub source: PathBuf,
}

impl Schedule {
    /// The nominal time between polls, used for staleness.
    pub fn nominal(&self) -> Duration {
        match self {
            Schedule::Every(d) => *d,
            // A cron may be irregular; a minute is a fair yardstick for staleness.
            Schedule::Cron(_) => Duration::from_secs(60),
        }
    }
}

impl FeedConfig {
    /// The nominal time between polls of the fast `schedule`.
    pub fn nominal_interval(&self) -> Duration {
        self.schedule.nominal()
    }
}

// ---------------------------------------------------------------------------
// Raw shapes, as written in the files.

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MainFile {
    listen: Option<String>,
    feeds_dir: Option<String>,
    state_dir: Option<String>,
    tls: Option<TlsFile>,
    #[serde(default)]
    admin: AdminFile,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    http: HttpFile,
    #[serde(default)]
    defaults: FeedDefaultsFile,
    cluster: Option<cluster::ClusterFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    listen: String,
    cert: String,
    key: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    /// An address, or "public" to serve admin routes on the public listener.
    listen: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    snapshot_max_age: Option<String>,
    snapshot_stale: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_message_bytes: Option<String>,
    max_topics_per_client: Option<usize>,
    heartbeat: Option<String>,
    send_timeout: Option<String>,
    ring_capacity: Option<usize>,
    ring_max_age: Option<String>,
    ring_max_bytes: Option<String>,
    broadcast_capacity: Option<usize>,
    allowed_origins: Option<Vec<String>>,
    max_connections_per_ip: Option<usize>,
    max_connections: Option<usize>,
}

// ---------------------------------------------------------------------------
// Loading.

/// Reads and validates a main config file and its feeds directory.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: String::new(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut report = Report::default();
    let main: MainFile = match parse_toml(path, &text, &mut report) {
        Some(m) => m,
        None => return Err(ConfigErrors(report.errors)),
    };
    let file = FileCtx { path, text: &text };

    let listeners = validate_listeners(&main, &base, &file, &mut report);
    let feeds_dir = base.join(main.feeds_dir.as_deref().unwrap_or("feeds.d"));
    let state_dir = main.state_dir.as_deref().map(|d| base.join(d));
    let limits = validate_limits(&main.limits, &file, &mut report);
    let http = validate_http(&main.http, &file, &mut report);
    let cluster = main.cluster.as_ref().and_then(|raw| cluster::validate(raw, &base, &mut |key, message| report.at(&file, key, message)));
    let (feeds, ignored_feed_files) = load_feeds(&feeds_dir, &main.defaults, &file, &mut report);

    if report.errors.is_empty() {
        Ok(Config {
            source: Some(path.to_path_buf()),
            listen: listeners.listen,
            feeds_dir,
            state_dir,
            tls: listeners.tls,
            admin_listen: listeners.admin_listen,
            limits,
            http,
            feeds,
            ignored_feed_files,
            cluster,
        })
    } else {
        report.errors.extend(ignored_feed_files);
        Err(ConfigErrors(report.errors))
    }
}

/// The addresses the service listens on.
struct Listeners {
    listen: SocketAddr,
    tls: Option<TlsConfig>,
    admin_listen: Option<SocketAddr>,
}

fn validate_listeners(main: &MainFile, base: &Path, file: &FileCtx, report: &mut Report) -> Listeners {
    let listen = match main.listen.as_deref().unwrap_or("127.0.0.1:8080").parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            report.at(file, "listen", "not an address like \"127.0.0.1:8080\" or \"[::]:443\"");
            "127.0.0.1:8080".parse().unwrap()
        }
    };
    let address = |report: &mut Report, key: &str, text: &str| match text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            report.at(file, key, &format!("`{text}` is not an address like \"127.0.0.1:9090\""));
            None
        }
    };
    let tls = match &main.tls {
        None => None,
        Some(t) => address(report, "tls.listen", &t.listen).map(|listen| TlsConfig { listen, cert: base.join(&t.cert), key: base.join(&t.key) }),
    };
    let admin_listen = match main.admin.listen.as_deref() {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
        Some("public") => None,
        Some(text) => address(report, "admin.listen", text),
    };
    Listeners { listen, tls, admin_listen }
}

/// Every feed file of `feeds_dir` that validates, and the `*.toml` entries
/// that are not feed files at all.
fn load_feeds(feeds_dir: &Path, defaults: &FeedDefaultsFile, file: &FileCtx, report: &mut Report) -> (Vec<FeedConfig>, Vec<ConfigError>) {
    let mut feeds = Vec::new();
    let mut ignored_feed_files = Vec::new();
    match feed_files(feeds_dir) {
        Err(e) => report.at(file, "feeds_dir", &format!("cannot read {}: {e}", feeds_dir.display())),
        Ok((paths, ignored)) => {
            ignored_feed_files = ignored;
            for feed_path in paths {
                match std::fs::read_to_string(&feed_path) {
                    Err(e) => report.push(&feed_path, None, "", &format!("cannot read: {e}")),
                    Ok(feed_text) => feeds.extend(load_feed_text(&feed_path, &feed_text, defaults, report)),
                }
            }
        }
    }
    check_unique_ids(&feeds, report);
    (feeds, ignored_feed_files)
}

fn validate_limits(raw: &LimitsFile, file: &FileCtx, report: &mut Report) -> Limits {
    let d = Limits::default();
    let dur = |report: &mut Report, key: &str, v: &Option<String>, default: Duration| match v {
        None => default,
        Some(t) => parse_duration(t).map_err(|m| report.at(file, &format!("limits.{key}"), &m)).unwrap_or(default),
    };
    let max_message_bytes = match &raw.max_message_bytes {
        None => d.max_message_bytes,
        Some(t) => parse_bytes(t)
            .map(|b| b as usize)
            .map_err(|m| report.at(file, "limits.max_message_bytes", &m))
            .unwrap_or(d.max_message_bytes),
    };
    let limits = Limits {
        max_message_bytes,
        max_topics_per_client: raw.max_topics_per_client.unwrap_or(d.max_topics_per_client),
        heartbeat: dur(report, "heartbeat", &raw.heartbeat, d.heartbeat),
        send_timeout: dur(report, "send_timeout", &raw.send_timeout, d.send_timeout),
        ring_capacity: raw.ring_capacity.unwrap_or(d.ring_capacity),
        ring_max_age: dur(report, "ring_max_age", &raw.ring_max_age, d.ring_max_age),
        ring_max_bytes: match &raw.ring_max_bytes {
            None => d.ring_max_bytes,
            Some(t) => match parse_bytes(t) {
                Ok(b) if b >= 64 << 10 => b as usize,
                Ok(_) => {
                    report.at(file, "limits.ring_max_bytes", "must be at least 64KiB (one large scoreboard's events)");
                    d.ring_max_bytes
                }
                Err(m) => {
                    report.at(file, "limits.ring_max_bytes", &m);
                    d.ring_max_bytes
                }
            },
        },
        broadcast_capacity: raw.broadcast_capacity.unwrap_or(d.broadcast_capacity),
        allowed_origins: raw.allowed_origins.clone().unwrap_or_default(),
        max_connections_per_ip: raw.max_connections_per_ip.unwrap_or(d.max_connections_per_ip),
        max_connections: raw.max_connections.unwrap_or(d.max_connections),
    };
    for origin in &limits.allowed_origins {
        if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.ends_with('/') {
            report.at(file, "limits.allowed_origins", &format!("`{origin}` is not an origin like \"https://news.example.com\""));
        }
    }
    if limits.broadcast_capacity == 0 {
        report.at(file, "limits.broadcast_capacity", "must be at least 1");
    }
    if limits.heartbeat < Duration::from_secs(1) {
        report.at(file, "limits.heartbeat", "must be at least 1s");
    }
    if limits.max_connections == 0 {
        report.at(file, "limits.max_connections", "must be at least 1 (it bounds the memory all clients together may hold)");
    } else if limits.max_connections_per_ip > limits.max_connections {
        let message = format!("is {}, below max_connections_per_ip ({})", limits.max_connections, limits.max_connections_per_ip);
        report.at(file, "limits.max_connections", &message);
    }
    limits
}

fn validate_http(raw: &HttpFile, file: &FileCtx, report: &mut Report) -> HttpSettings {
    let d = HttpSettings::default();
    // Cache-Control counts whole seconds.
    let seconds = |report: &mut Report, key: &str, v: &Option<String>, default: Duration, min: u64| match v {
        None => default,
        Some(t) => match parse_duration(t) {
            Ok(d) if d.subsec_nanos() == 0 && d.as_secs() >= min => d,
            Ok(_) => {
                report.at(file, &format!("http.{key}"), &format!("`{t}`: whole seconds, at least {min}s"));
                default
            }
            Err(m) => {
                report.at(file, &format!("http.{key}"), &m);
                default
            }
        },
    };
    HttpSettings {
        snapshot_max_age: seconds(report, "snapshot_max_age", &raw.snapshot_max_age, d.snapshot_max_age, 1),
        snapshot_stale: seconds(report, "snapshot_stale", &raw.snapshot_stale, d.snapshot_stale, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(parse_schedule("15s"), Ok(Schedule::Every(Duration::from_secs(15))));
        assert_eq!(parse_schedule("every 2m"), Ok(Schedule::Every(Duration::from_secs(120))));
        assert_eq!(parse_schedule("*/10 * * * * *"), Ok(Schedule::Cron("*/10 * * * * *".into())));
        assert!(parse_schedule("500ms").unwrap_err().contains("whole number of seconds"));
        assert!(parse_schedule("1500ms").unwrap_err().contains("whole number of seconds"));
        assert!(parse_schedule("*/10 * * * *").unwrap_err().contains("has 5 fields"));
        assert!(parse_schedule("*/10 * * * * nope").unwrap_err().contains("not a valid cron"));
    }
}
