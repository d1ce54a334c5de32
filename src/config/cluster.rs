//! The `[cluster]` section of the main config file: where Redis is, what the
//! keys are called, and how long a leader's lease lasts. (`crate::cluster`
//! runs what it describes.)

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::parse_duration;

/// `[cluster]` as written in the file.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    redis: Option<String>,
    sentinels: Option<Vec<String>>,
    master_name: Option<String>,
    name: Option<String>,
    node_id: Option<String>,
    lease: Option<String>,
    stream_max_len: Option<u64>,
    password_file: Option<String>,
}

/// Where the shared state lives.
#[derive(Clone, PartialEq)]
pub enum Engine {
    /// `redis://host:port/db`.
    Url(String),
    /// Sentinels that know which server is the primary of `master_name`.
    Sentinel { sentinels: Vec<String>, master_name: String },
}

/// `[cluster]`, validated.
#[derive(Clone, PartialEq)]
pub struct ClusterConfig {
    pub engine: Engine,
    /// Key prefix; every key is `{name}:…`, so they all hash to one slot.
    pub name: String,
    pub node_id: String,
    pub lease: Duration,
    pub stream_max_len: u64,
    pub password_file: Option<PathBuf>,
}

/// A URL may carry a password (`redis://:secret@host`): never print it.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}<redacted>{}", &url[..scheme + 3], &url[at..]),
        _ => url.to_string(),
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Engine::Url(url) => write!(f, "Url({})", redact(url)),
            Engine::Sentinel { sentinels, master_name } => write!(f, "Sentinel({sentinels:?}, {master_name})"),
        }
    }
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("engine", &self.engine)
            .field("name", &self.name)
            .field("node_id", &self.node_id)
            .field("lease", &self.lease)
            .field("stream_max_len", &self.stream_max_len)
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl ClusterConfig {
    /// Renewed this often, so a lease survives two failed renewals.
    pub fn renew_every(&self) -> Duration {
        self.lease / 3
    }
}

/// `hostname:pid`: unique per process on a machine, readable in `/status`.
pub fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}:{}", std::process::id())
}

/// Checks every key; `problem(key, message)` records each problem (the caller
/// locates the key's line). Relative paths are resolved against `base`.
pub fn validate(raw: &ClusterFile, base: &std::path::Path, problem: &mut dyn FnMut(&str, &str)) -> Option<ClusterConfig> {
    let mut ok = true;
    let mut bad = |key: &str, message: &str| {
        ok = false;
        problem(key, message);
    };
    let engine = validate_engine(raw, &mut bad);
    let name = raw.name.clone().unwrap_or_else(|| "scoreticker".into());
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        bad("cluster.name", &format!("`{name}` must be 1 to 64 letters, digits, `-`, `_` or `.`"));
    }
    let node_id = raw.node_id.clone().unwrap_or_else(default_node_id);
    if node_id.is_empty() || node_id.len() > 128 || node_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bad("cluster.node_id", "must be 1 to 128 characters without spaces");
    }
    let lease = match raw.lease.as_deref().map(parse_duration) {
        None => Duration::from_secs(5),
        Some(Ok(d)) if d >= Duration::from_millis(300) && d <= Duration::from_secs(300) => d,
        Some(Ok(_)) => {
            bad("cluster.lease", "must be between 300ms and 5m");
            Duration::from_secs(5)
        }
        Some(Err(m)) => {
            bad("cluster.lease", &m);
            Duration::from_secs(5)
        }
    };
    let stream_max_len = raw.stream_max_len.unwrap_or(20_000);
    if stream_max_len < 100 {
        bad("cluster.stream_max_len", "must be at least 100 events");
    }
    let password_file = raw.password_file.as_ref().map(|p| base.join(p));
    if let Some(p) = &password_file {
        match std::fs::read_to_string(p) {
            Ok(text) if text.trim().is_empty() => bad("cluster.password_file", &format!("{} is empty", p.display())),
            Ok(_) => {}
            Err(e) => bad("cluster.password_file", &format!("cannot read {}: {e}", p.display())),
        }
    }
    match (ok, engine) {
        (true, Some(engine)) => Some(ClusterConfig { engine, name, node_id, lease, stream_max_len, password_file }),
        _ => None,
    }
}

/// `redis`, or `sentinels` with `master_name`.
fn validate_engine(raw: &ClusterFile, bad: &mut dyn FnMut(&str, &str)) -> Option<Engine> {
    match (&raw.redis, &raw.sentinels, &raw.master_name) {
        (Some(_), Some(_), _) => {
            bad("cluster.sentinels", "give either `redis` or `sentinels` (with `master_name`), not both");
            None
        }
        (Some(url), None, master) => {
            if master.is_some() {
                bad("cluster.master_name", "only used with `sentinels`");
            }
            match redis::parse_redis_url(url) {
                Some(u) if u.scheme() == "redis" => Some(Engine::Url(url.clone())),
                Some(u) => {
                    bad("cluster.redis", &format!("scheme `{}` is not supported; use redis://host:port/db", u.scheme()));
                    None
                }
                None => {
                    bad("cluster.redis", &format!("`{}` is not a URL like \"redis://127.0.0.1:6379/0\"", redact(url)));
                    None
                }
            }
        }
        (None, Some(sentinels), master) => {
            if sentinels.is_empty() {
                bad("cluster.sentinels", "list at least one sentinel, like [\"10.0.0.1:26379\"]");
            }
            for s in sentinels {
                if s.contains("://") || !s.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) {
                    bad("cluster.sentinels", &format!("`{s}` is not a host:port like \"10.0.0.1:26379\""));
                }
            }
            match master {
                Some(m) if !m.trim().is_empty() => Some(Engine::Sentinel { sentinels: sentinels.clone(), master_name: m.clone() }),
                _ => {
                    bad("cluster.master_name", "required with `sentinels`: the name the sentinels monitor");
                    None
                }
            }
        }
        (None, None, _) => {
            bad("cluster", "needs `redis = \"redis://host:port/db\"` or `sentinels` with `master_name`");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: ClusterFile) -> Result<ClusterConfig, Vec<String>> {
        let mut problems = Vec::new();
        let config = validate(&raw, std::path::Path::new("/"), &mut |k, m| problems.push(format!("{k}: {m}")));
        config.ok_or(problems)
    }

    #[test]
    fn defaults_and_redaction() {
        let c = check(ClusterFile { redis: Some("redis://:hunter2@127.0.0.1:6379/0".into()), ..Default::default() }).unwrap();
        assert_eq!(c.name, "scoreticker");
        assert_eq!(c.lease, Duration::from_secs(5));
        assert_eq!(c.renew_every().as_millis(), 1666);
        assert_eq!(c.stream_max_len, 20_000);
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(c.node_id.ends_with(&format!(":{}", std::process::id())));
    }

    #[test]
    fn every_problem_is_named() {
        let errors = check(ClusterFile {
            sentinels: Some(vec!["nope".into()]),
            name: Some("has space".into()),
            lease: Some("1h".into()),
            stream_max_len: Some(5),
            ..Default::default()
        })
        .unwrap_err();
        let text = errors.join("\n");
        for key in ["cluster.sentinels", "cluster.master_name", "cluster.name", "cluster.lease", "cluster.stream_max_len"] {
            assert!(text.contains(key), "{key} missing from:\n{text}");
        }
        assert!(check(ClusterFile::default()).unwrap_err()[0].starts_with("cluster: needs"));
    }
}
