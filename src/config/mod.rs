//! Configuration: one main TOML file plus a directory of feed files.
//!
//! Loading is two passes. serde (with `deny_unknown_fields`) turns each file into
//! its raw shape; then [`validate`] checks every value and turns the raw shapes
//! into the typed [`Config`] the rest of the service uses. Both passes report
//! *every* problem as `file:line: key: message`, so an operator fixes a broken
//! config in one round instead of one error per restart.

pub mod locate;
pub mod units;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::adapters::{AdapterKind, JsonMapping};
use crate::feeds::window::ActiveWindow;

pub use units::{parse_bytes, parse_duration};

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

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

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

/// Values every feed gets unless its own file says otherwise.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct FeedDefaultsFile {
    timeout: Option<String>,
    max_body_bytes: Option<String>,
    remove_after_missed_polls: Option<u32>,
    stale_after_missed_polls: Option<u32>,
    backoff_initial: Option<String>,
    backoff_max: Option<String>,
    timezone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedFile {
    id: String,
    adapter: String,
    url: String,
    schedule: String,
    schedule_idle: Option<String>,
    prestart: Option<String>,
    league: String,
    sport: String,
    timeout: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    max_body_bytes: Option<String>,
    #[serde(default)]
    active: Vec<String>,
    timezone: Option<String>,
    remove_after_missed_polls: Option<u32>,
    stale_after_missed_polls: Option<u32>,
    backoff_initial: Option<String>,
    backoff_max: Option<String>,
    #[serde(default)]
    allow_redirects_to: Vec<String>,
    mapping: Option<JsonMapping>,
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

    let listen = match main.listen.as_deref().unwrap_or("127.0.0.1:8080").parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            report.at(&file, "listen", "not an address like \"127.0.0.1:8080\" or \"[::]:443\"");
            "127.0.0.1:8080".parse().unwrap()
        }
    };
    let feeds_dir = base.join(main.feeds_dir.as_deref().unwrap_or("feeds.d"));
    let state_dir = main.state_dir.as_deref().map(|d| base.join(d));
    let address = |report: &mut Report, key: &str, text: &str| match text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            report.at(&file, key, &format!("`{text}` is not an address like \"127.0.0.1:9090\""));
            None
        }
    };
    let tls = match &main.tls {
        None => None,
        Some(t) => address(&mut report, "tls.listen", &t.listen).map(|listen| TlsConfig {
            listen,
            cert: base.join(&t.cert),
            key: base.join(&t.key),
        }),
    };
    let admin_listen = match main.admin.listen.as_deref() {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
        Some("public") => None,
        Some(text) => address(&mut report, "admin.listen", text),
    };
    let limits = validate_limits(&main.limits, &file, &mut report);
    let http = validate_http(&main.http, &file, &mut report);

    let mut feeds = Vec::new();
    let mut ignored_feed_files = Vec::new();
    match feed_files(&feeds_dir) {
        Err(e) => report.at(&file, "feeds_dir", &format!("cannot read {}: {e}", feeds_dir.display())),
        Ok((paths, ignored)) => {
            ignored_feed_files = ignored;
            for feed_path in paths {
                match std::fs::read_to_string(&feed_path) {
                    Err(e) => report.push(&feed_path, None, "", &format!("cannot read: {e}")),
                    Ok(feed_text) => {
                        if let Some(feed) =
                            load_feed_text(&feed_path, &feed_text, &main.defaults, &mut report)
                        {
                            feeds.push(feed);
                        }
                    }
                }
            }
        }
    }
    check_unique_ids(&feeds, &mut report);

    if report.errors.is_empty() {
        Ok(Config {
            source: Some(path.to_path_buf()),
            listen,
            feeds_dir,
            state_dir,
            tls,
            admin_listen,
            limits,
            http,
            feeds,
            ignored_feed_files,
        })
    } else {
        report.errors.extend(ignored_feed_files);
        Err(ConfigErrors(report.errors))
    }
}

/// Validates one feed file given as text (the demo's built-in feeds use this too).
pub fn load_feed(path: &Path, text: &str) -> Result<FeedConfig, ConfigErrors> {
    let mut report = Report::default();
    match load_feed_text(path, text, &FeedDefaultsFile::default(), &mut report) {
        Some(feed) if report.errors.is_empty() => Ok(feed),
        _ => Err(ConfigErrors(report.errors)),
    }
}

/// The `*.toml` files of a feeds directory, sorted so load order is stable,
/// and the `*.toml` entries that cannot be feed files, each with the reason.
fn feed_files(dir: &Path) -> std::io::Result<(Vec<PathBuf>, Vec<ConfigError>)> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    entries.sort();
    let mut files = Vec::new();
    let mut ignored = Vec::new();
    for path in entries {
        // `metadata` follows symlinks, `symlink_metadata` does not: together
        // they tell a dangling link from a loop from a directory.
        let problem = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {
                files.push(path);
                continue;
            }
            Ok(m) if m.is_dir() => "is a directory, not a feed file".to_string(),
            Ok(_) => "is not a regular file".to_string(),
            Err(e) if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) => {
                match std::fs::read_link(&path) {
                    Ok(target) if e.kind() == std::io::ErrorKind::NotFound => {
                        format!("is a symlink to {}, which does not exist", target.display())
                    }
                    _ => format!("is a symlink that cannot be followed ({e})"),
                }
            }
            Err(e) => format!("cannot be read: {e}"),
        };
        ignored.push(ConfigError { file: path, line: None, key: String::new(), message: format!("ignored: {problem}") });
    }
    Ok((files, ignored))
}

fn load_feed_text(
    path: &Path,
    text: &str,
    defaults: &FeedDefaultsFile,
    report: &mut Report,
) -> Option<FeedConfig> {
    let raw: FeedFile = parse_toml(path, text, report)?;
    let file = FileCtx { path, text };
    let before = report.errors.len();

    if !valid_name(&raw.id) {
        report.at(&file, "id", "use lowercase letters, digits, '-' and '_' (it appears in topics and game ids)");
    }
    if !valid_label(&raw.league) {
        report.at(&file, "league", "must be non-empty, without spaces, ':' or ','  (it appears in topics)");
    }
    if !valid_label(&raw.sport) {
        report.at(&file, "sport", "must be non-empty, without spaces, ':' or ','");
    }

    let adapter = match raw.adapter.as_str() {
        "espn" => {
            if raw.mapping.is_some() {
                report.at(&file, "mapping", "only the `json` adapter takes a [mapping] table");
            }
            Some(AdapterKind::Espn)
        }
        "json" => match &raw.mapping {
            None => {
                report.at(&file, "mapping", "the `json` adapter needs a [mapping] table");
                None
            }
            Some(m) => {
                for (key, message) in m.validate() {
                    report.at(&file, &format!("mapping.{key}"), &message);
                }
                Some(AdapterKind::Json(Box::new(m.clone())))
            }
        },
        other => {
            report.at(&file, "adapter", &format!("unknown adapter `{other}` (known: {})", AdapterKind::NAMES.join(", ")));
            None
        }
    };

    match reqwest::Url::parse(&raw.url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
        Ok(u) => report.at(&file, "url", &format!("scheme `{}` is not http or https", u.scheme())),
        Err(e) => report.at(&file, "url", &format!("not a URL: {e}")),
    }

    let schedule = parse_schedule(&raw.schedule).map_err(|m| report.at(&file, "schedule", &m)).ok();
    let schedule_idle = raw.schedule_idle.as_deref().and_then(|t| parse_schedule(t).map_err(|m| report.at(&file, "schedule_idle", &m)).ok());
    if let (Some(Schedule::Every(fast)), Some(Schedule::Every(idle))) = (&schedule, &schedule_idle) {
        if idle < fast {
            report.at(&file, "schedule_idle", "must not poll more often than `schedule` (it is the schedule for quiet hours)");
        }
    }
    let prestart = match &raw.prestart {
        None => Duration::from_secs(30 * 60),
        Some(_) if raw.schedule_idle.is_none() => {
            report.at(&file, "prestart", "only means something with `schedule_idle` (adaptive polling)");
            Duration::ZERO
        }
        Some(t) => parse_duration(t).map_err(|m| report.at(&file, "prestart", &m)).unwrap_or_default(),
    };

    let duration = |report: &mut Report, key: &str, own: &Option<String>, default: &Option<String>, fallback: Duration| {
        match own.as_ref().or(default.as_ref()) {
            None => fallback,
            Some(text) => match parse_duration(text) {
                Ok(d) if d > Duration::ZERO => d,
                Ok(_) => {
                    report.at(&file, key, "must be more than zero");
                    fallback
                }
                Err(m) => {
                    report.at(&file, key, &m);
                    fallback
                }
            },
        }
    };
    let timeout = duration(report, "timeout", &raw.timeout, &defaults.timeout, Duration::from_secs(10));
    let backoff_initial = duration(report, "backoff_initial", &raw.backoff_initial, &defaults.backoff_initial, Duration::from_secs(2));
    let backoff_max = duration(report, "backoff_max", &raw.backoff_max, &defaults.backoff_max, Duration::from_secs(300));
    if backoff_max < backoff_initial {
        report.at(&file, "backoff_max", "must not be less than backoff_initial");
    }

    let max_body_bytes = match raw.max_body_bytes.as_ref().or(defaults.max_body_bytes.as_ref()) {
        None => 8 << 20,
        Some(t) => parse_bytes(t).map_err(|m| report.at(&file, "max_body_bytes", &m)).unwrap_or(0),
    };

    let mut headers = Vec::new();
    for (name, value) in &raw.headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            report.at(&file, &format!("headers.{name}"), "not a valid HTTP header name");
        } else if http::HeaderValue::from_str(value).is_err() {
            // Never echo the value: it may be a secret.
            report.at(&file, &format!("headers.{name}"), "value is not a valid HTTP header value");
        } else {
            headers.push((name.clone(), value.clone()));
        }
    }

    let mut active = Vec::new();
    for (i, w) in raw.active.iter().enumerate() {
        match ActiveWindow::parse(w) {
            Ok(w) => active.push(w),
            Err(m) => report.at(&file, "active", &format!("entry {}: {m}", i + 1)),
        }
    }
    let timezone = match raw.timezone.as_ref().or(defaults.timezone.as_ref()) {
        None => chrono_tz::UTC,
        Some(name) => name.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            report.at(&file, "timezone", &format!("unknown time zone `{name}` (use an IANA name like \"America/New_York\")"));
            chrono_tz::UTC
        }),
    };

    let remove_after = raw.remove_after_missed_polls.or(defaults.remove_after_missed_polls).unwrap_or(3);
    if remove_after == 0 {
        report.at(&file, "remove_after_missed_polls", "must be at least 1");
    }
    let stale_after = raw.stale_after_missed_polls.or(defaults.stale_after_missed_polls).unwrap_or(3);
    if stale_after == 0 {
        report.at(&file, "stale_after_missed_polls", "must be at least 1");
    }

    let allow_redirects_to = validate_origins(&raw.allow_redirects_to, &file, report);

    if report.errors.len() > before {
        return None;
    }
    Some(FeedConfig {
        id: raw.id,
        adapter: adapter?,
        url: raw.url,
        schedule: schedule?,
        schedule_idle,
        prestart,
        league: raw.league,
        sport: raw.sport,
        timeout,
        headers: Headers(headers),
        max_body_bytes,
        active,
        timezone,
        remove_after_missed_polls: remove_after,
        stale_after_missed_polls: stale_after,
        backoff_initial,
        backoff_max,
        allow_redirects_to,
        source: path.to_path_buf(),
    })
}

/// `allow_redirects_to`: each entry an http(s) origin, nothing after the port.
/// Returned in the form the redirect policy compares (`Url::origin`).
fn validate_origins(raw: &[String], file: &FileCtx, report: &mut Report) -> Vec<String> {
    let mut origins = Vec::new();
    for entry in raw {
        let parsed = reqwest::Url::parse(entry).ok().filter(|u| {
            (u.scheme() == "http" || u.scheme() == "https")
                && u.host().is_some()
                && u.username().is_empty()
                && u.password().is_none()
                && u.path() == "/"
                && u.query().is_none()
                && u.fragment().is_none()
                && !entry.ends_with('/')
        });
        match parsed {
            Some(u) => origins.push(crate::feeds::redirect::origin_of(&u)),
            None => report.at(
                file,
                "allow_redirects_to",
                &format!("`{entry}` is not an origin like \"https://cdn.example.com\" or \"http://10.0.0.5:8080\""),
            ),
        }
    }
    origins
}

/// "15s" → an interval (whole seconds); six space-separated fields → a cron checked by the same
/// parser the scheduler will use.
pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let interval = text.trim().strip_prefix("every ").unwrap_or(text).trim();
    let fields = interval.split_whitespace().count();
    if fields <= 1 {
        let d = parse_duration(interval)?;
        // tokio-cron-scheduler counts repeat intervals in whole seconds.
        if d < Duration::from_secs(1) || d.subsec_nanos() != 0 {
            return Err(format!("`{text}`: an interval is a whole number of seconds, at least \"1s\""));
        }
        return Ok(Schedule::Every(d));
    }
    if fields != 6 {
        return Err(format!(
            "`{text}` has {fields} fields; a cron schedule has 6, seconds first (\"*/15 * * * * *\"), or use an interval like \"15s\""
        ));
    }
    tokio_cron_scheduler::Job::new_async(text, |_, _| Box::pin(async {}))
        .map(|_| Schedule::Cron(text.to_string()))
        .map_err(|e| format!("`{text}` is not a valid cron schedule: {e:?}"))
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

fn check_unique_ids(feeds: &[FeedConfig], report: &mut Report) {
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for feed in feeds {
        if let Some(first) = seen.insert(&feed.id, &feed.source) {
            let text = std::fs::read_to_string(&feed.source).unwrap_or_default();
            report.push(
                &feed.source,
                locate::line_of_key(&text, "id"),
                "id",
                &format!("feed id `{}` is already used by {}", feed.id, first.display()),
            );
        }
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && !s.chars().any(|c| c.is_whitespace() || c == ':' || c == ',')
}

// ---------------------------------------------------------------------------
// Error collection.

struct FileCtx<'a> {
    path: &'a Path,
    text: &'a str,
}

#[derive(Default)]
struct Report {
    errors: Vec<ConfigError>,
}

impl Report {
    fn push(&mut self, file: &Path, line: Option<usize>, key: &str, message: &str) {
        self.errors.push(ConfigError {
            file: file.to_path_buf(),
            line,
            key: key.to_string(),
            message: message.to_string(),
        });
    }

    /// A problem with a key, located by its path in the file.
    fn at(&mut self, file: &FileCtx, key: &str, message: &str) {
        let line = locate::line_of_key(file.text, key);
        self.push(file.path, line, key, message);
    }
}

/// serde pass: syntax errors, unknown keys and wrong types, with their line and key.
fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str, report: &mut Report) -> Option<T> {
    match toml::from_str::<T>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let message = e.message().trim().to_string();
            let (mut line, mut key) = match e.span() {
                Some(span) => (Some(locate::line_of_offset(text, span.start)), locate::key_at_offset(text, span.start)),
                None => (None, String::new()),
            };
            // A key missing from the top level is reported against the whole
            // document: there is no line to point at.
            if message.starts_with("missing field") && e.span().is_some_and(|s| s.start == 0) {
                line = None;
                key.clear();
            }
            // "unknown field `x`" and "missing field `x`" name the key themselves;
            // the span then points at the key (or its table), so refine the path.
            if let Some(field) = backticked(&message) {
                if message.starts_with("unknown field") || message.starts_with("missing field") {
                    let table = key.rsplit_once('.').map(|(t, _)| t.to_string());
                    key = match (message.starts_with("missing field"), table) {
                        (true, _) if key.is_empty() => field,
                        (true, _) => format!("{key}.{field}"),
                        (false, Some(t)) => format!("{t}.{field}"),
                        (false, None) => field,
                    };
                }
            }
            report.push(path, line, &key, &message);
            None
        }
    }
}

fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = message[start..].find('`')? + start;
    Some(message[start..end].to_string())
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
