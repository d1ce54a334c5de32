//! Feed files: one TOML file per upstream in the feeds directory, each checked
//! on its own (so one broken feed names itself and the others still load) and
//! then together (ids unique across files).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::report::{parse_toml, ConfigError, ConfigErrors, FileCtx, Report};
use super::{locate, parse_bytes, parse_duration, FeedConfig, Headers, Schedule};
use crate::adapters::{AdapterKind, JsonMapping};
use super::window::ActiveWindow;

/// Values every feed gets unless its own file says otherwise.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct FeedDefaultsFile {
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
pub(super) fn feed_files(dir: &Path) -> std::io::Result<(Vec<PathBuf>, Vec<ConfigError>)> {
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

/// Validates one feed file's text: `None` when it has any problem (each one
/// is in `report`).
pub(super) fn load_feed_text(
    path: &Path,
    text: &str,
    defaults: &FeedDefaultsFile,
    report: &mut Report,
) -> Option<FeedConfig> {
    let raw: FeedFile = parse_toml(path, text, report)?;
    let file = FileCtx { path, text };
    let before = report.errors.len();

    check_labels(&raw, &file, report);
    let adapter = validate_adapter(&raw, &file, report);
    match reqwest::Url::parse(&raw.url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
        Ok(u) => report.at(&file, "url", &format!("scheme `{}` is not http or https", u.scheme())),
        Err(e) => report.at(&file, "url", &format!("not a URL: {e}")),
    }
    let (schedule, schedule_idle, prestart) = validate_schedules(&raw, &file, report);
    let timing = validate_timing(&raw, defaults, &file, report);
    let max_body_bytes = match raw.max_body_bytes.as_ref().or(defaults.max_body_bytes.as_ref()) {
        None => 8 << 20,
        Some(t) => parse_bytes(t).map_err(|m| report.at(&file, "max_body_bytes", &m)).unwrap_or(0),
    };
    let headers = validate_headers(&raw.headers, &file, report);
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
    let missed_polls = |report: &mut Report, key: &str, own: Option<u32>, default: Option<u32>| {
        let count = own.or(default).unwrap_or(3);
        if count == 0 {
            report.at(&file, key, "must be at least 1");
        }
        count
    };
    let remove_after = missed_polls(report, "remove_after_missed_polls", raw.remove_after_missed_polls, defaults.remove_after_missed_polls);
    let stale_after = missed_polls(report, "stale_after_missed_polls", raw.stale_after_missed_polls, defaults.stale_after_missed_polls);
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
        timeout: timing.timeout,
        headers: Headers(headers),
        max_body_bytes,
        active,
        timezone,
        remove_after_missed_polls: remove_after,
        stale_after_missed_polls: stale_after,
        backoff_initial: timing.backoff_initial,
        backoff_max: timing.backoff_max,
        allow_redirects_to,
        source: path.to_path_buf(),
    })
}

/// `id`, `league` and `sport` appear in topics and game ids.
fn check_labels(raw: &FeedFile, file: &FileCtx, report: &mut Report) {
    if !valid_name(&raw.id) {
        report.at(file, "id", "use lowercase letters, digits, '-' and '_' (it appears in topics and game ids)");
    }
    if !valid_label(&raw.league) {
        report.at(file, "league", "must be non-empty, without spaces, ':' or ','  (it appears in topics)");
    }
    if !valid_label(&raw.sport) {
        report.at(file, "sport", "must be non-empty, without spaces, ':' or ','");
    }
}

/// `adapter`, and the `[mapping]` table the `json` adapter needs (and only it takes).
fn validate_adapter(raw: &FeedFile, file: &FileCtx, report: &mut Report) -> Option<AdapterKind> {
    match raw.adapter.as_str() {
        "espn" => {
            if raw.mapping.is_some() {
                report.at(file, "mapping", "only the `json` adapter takes a [mapping] table");
            }
            Some(AdapterKind::Espn)
        }
        "json" => match &raw.mapping {
            None => {
                report.at(file, "mapping", "the `json` adapter needs a [mapping] table");
                None
            }
            Some(m) => {
                for (key, message) in m.validate() {
                    report.at(file, &format!("mapping.{key}"), &message);
                }
                Some(AdapterKind::Json(Box::new(m.clone())))
            }
        },
        other => {
            report.at(file, "adapter", &format!("unknown adapter `{other}` (known: {})", AdapterKind::NAMES.join(", ")));
            None
        }
    }
}

/// `schedule`, `schedule_idle` (adaptive polling) and its `prestart`.
fn validate_schedules(raw: &FeedFile, file: &FileCtx, report: &mut Report) -> (Option<Schedule>, Option<Schedule>, Duration) {
    let schedule = parse_schedule(&raw.schedule).map_err(|m| report.at(file, "schedule", &m)).ok();
    let schedule_idle = raw.schedule_idle.as_deref().and_then(|t| parse_schedule(t).map_err(|m| report.at(file, "schedule_idle", &m)).ok());
    if let (Some(Schedule::Every(fast)), Some(Schedule::Every(idle))) = (&schedule, &schedule_idle) {
        if idle < fast {
            report.at(file, "schedule_idle", "must not poll more often than `schedule` (it is the schedule for quiet hours)");
        }
    }
    let prestart = match &raw.prestart {
        None => Duration::from_secs(30 * 60),
        Some(_) if raw.schedule_idle.is_none() => {
            report.at(file, "prestart", "only means something with `schedule_idle` (adaptive polling)");
            Duration::ZERO
        }
        Some(t) => parse_duration(t).map_err(|m| report.at(file, "prestart", &m)).unwrap_or_default(),
    };
    (schedule, schedule_idle, prestart)
}

/// A poll's timeout and the backoff after failures.
struct Timing {
    timeout: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
}

fn validate_timing(raw: &FeedFile, defaults: &FeedDefaultsFile, file: &FileCtx, report: &mut Report) -> Timing {
    let duration = |report: &mut Report, key: &str, own: &Option<String>, default: &Option<String>, fallback: Duration| {
        match own.as_ref().or(default.as_ref()) {
            None => fallback,
            Some(text) => match parse_duration(text) {
                Ok(d) if d > Duration::ZERO => d,
                Ok(_) => {
                    report.at(file, key, "must be more than zero");
                    fallback
                }
                Err(m) => {
                    report.at(file, key, &m);
                    fallback
                }
            },
        }
    };
    let timeout = duration(report, "timeout", &raw.timeout, &defaults.timeout, Duration::from_secs(10));
    let backoff_initial = duration(report, "backoff_initial", &raw.backoff_initial, &defaults.backoff_initial, Duration::from_secs(2));
    let backoff_max = duration(report, "backoff_max", &raw.backoff_max, &defaults.backoff_max, Duration::from_secs(300));
    if backoff_max < backoff_initial {
        report.at(file, "backoff_max", "must not be less than backoff_initial");
    }
    Timing { timeout, backoff_initial, backoff_max }
}

/// `[headers]`: valid names and values. A value is never echoed: it may be a secret.
fn validate_headers(raw: &BTreeMap<String, String>, file: &FileCtx, report: &mut Report) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for (name, value) in raw {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            report.at(file, &format!("headers.{name}"), "not a valid HTTP header name");
        } else if http::HeaderValue::from_str(value).is_err() {
            report.at(file, &format!("headers.{name}"), "value is not a valid HTTP header value");
        } else {
            headers.push((name.clone(), value.clone()));
        }
    }
    headers
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
            Some(u) => origins.push(origin_of(&u)),
            None => report.at(
                file,
                "allow_redirects_to",
                &format!("`{entry}` is not an origin like \"https://cdn.example.com\" or \"http://10.0.0.5:8080\""),
            ),
        }
    }
    origins
}

/// The origin of a URL as written in `allow_redirects_to` (`https://host[:port]`,
/// default ports omitted): the form the redirect policy compares.
pub fn origin_of(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
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

pub(super) fn check_unique_ids(feeds: &[FeedConfig], report: &mut Report) {
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

