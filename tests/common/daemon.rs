//! The real binary as a child process: started from a config file, its log
//! lines kept, signalled, measured (`/proc` and `/metrics`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::WAIT;

/// `scoreticker serve --config …` with JSON logs; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The thread that copies stderr into `logs`; joined once the process has
    /// exited, so every line it wrote is in `logs` before anyone asks.
    log_reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    pub fn start(config: &Path, listen: Option<SocketAddr>) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scoreticker"));
        cmd.args(["--log-format", "json", "serve", "--config"]).arg(config);
        if let Some(l) = listen {
            cmd.args(["--listen", &l.to_string()]);
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        let log_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("scoreticker listening on") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let line = rx.recv_timeout(WAIT).expect("the daemon says where it listens");
        let v: Value = serde_json::from_str(&line).unwrap();
        let addr = v["fields"]["addr"].as_str().unwrap().parse().unwrap();
        let admin = v["fields"]["admin"].as_str().unwrap().parse().unwrap();
        Daemon { child, addr, admin, logs, log_reader: Some(log_reader) }
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill -{name}");
    }

    pub fn ws(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    pub fn logged(&self, words: &str) -> bool {
        self.logs.lock().unwrap().iter().any(|l| l.contains(words))
    }

    /// The process's resident memory now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("the daemon is running");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// One metric from its admin listener's `/metrics`, summed over the series
    /// that carry `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = reqwest::get(format!("http://{}/metrics", self.admin)).await.unwrap().text().await.unwrap();
        sample(&text, name, labels)
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(reader) = self.log_reader.take() {
                    reader.join().unwrap();
                }
                return status.code();
            }
            assert!(Instant::now() < deadline, "the daemon did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("feeds.d")).unwrap();
    let path = dir.join("scoreticker.toml");
    std::fs::write(&path, format!("listen = \"127.0.0.1:0\"\nfeeds_dir = \"feeds.d\"\n{extra}[admin]\nlisten = \"127.0.0.1:0\"\n")).unwrap();
    path
}

/// The samples of one metric, by label set, from the Prometheus text.
pub fn samples(text: &str, name: &str) -> Vec<(std::collections::HashMap<String, String>, f64)> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses as Prometheus text");
    scrape
        .samples
        .into_iter()
        .filter(|s| s.metric == name)
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            };
            (s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), value)
        })
        .collect()
}

pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text, name)
        .into_iter()
        .filter(|(l, _)| labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, v)| v)
        .sum()
}
