//! The parent process of `subscribe` and `storm`: it never holds sockets; it starts
//! the client processes, sends them commands over stdin (`start`, `stop`, `storm`,
//! `exit`), reads their JSON lines from stdout, and aggregates.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::child::{procs_of, sources_of};
use crate::cli::{parse_rate, ClientArgs};
use crate::counters::Window;
use crate::measure::{machine_busy_us, proc_cpu_us};

pub struct Children {
    pub procs: Vec<tokio::process::Child>,
    pub stdins: Vec<tokio::process::ChildStdin>,
    pub rx: mpsc::UnboundedReceiver<(usize, Value)>,
}

impl Children {
    pub fn spawn(count: usize) -> Result<Children, String> {
        let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
        let args: Vec<String> = std::env::args().skip(1).collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut procs = Vec::new();
        let mut stdins = Vec::new();
        for i in 0..count {
            let mut child = tokio::process::Command::new(&exe)
                .args(&args)
                .args(["--child", "--child-index", &i.to_string(), "--child-count", &count.to_string()])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start a client process: {e}"))?;
            stdins.push(child.stdin.take().expect("piped"));
            let stdout = child.stdout.take().expect("piped");
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        let _ = tx.send((i, v));
                    }
                }
                let _ = tx.send((i, json!({"phase": "eof"})));
            });
            procs.push(child);
        }
        Ok(Children { procs, stdins, rx })
    }

    pub async fn send_all(&mut self, cmd: &str) {
        for stdin in &mut self.stdins {
            let _ = stdin.write_all(format!("{cmd}\n").as_bytes()).await;
            let _ = stdin.flush().await;
        }
    }

    /// One `phase` message from every child (a child that exits counts as missing).
    pub async fn collect(&mut self, phase: &str, limit: Duration) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + limit;
        let mut got: BTreeMap<usize, Value> = BTreeMap::new();
        let mut dead = Vec::new();
        while got.len() + dead.len() < self.procs.len() {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((i, v))) if v["phase"] == phase => {
                    got.insert(i, v);
                }
                Ok(Some((i, v))) if v["phase"] == "eof" => {
                    if !got.contains_key(&i) {
                        dead.push(i);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        if !dead.is_empty() || got.len() < self.procs.len() {
            return Err(format!(
                "{} of {} client processes did not report `{phase}` (exited: {dead:?})",
                self.procs.len() - got.len(),
                self.procs.len()
            ));
        }
        if let Some(fatal) = got.values().find_map(|v| v["fatal"].as_str()) {
            return Err(fatal.to_string());
        }
        Ok(got.into_values().collect())
    }

    pub async fn finish(mut self) {
        self.send_all("exit").await;
        for p in &mut self.procs {
            if tokio::time::timeout(Duration::from_secs(10), p.wait()).await.is_err() {
                let _ = p.kill().await;
            }
        }
    }
}

pub struct Connected {
    pub snapshot_bytes: u64,
    pub snapshot_wire_bytes: u64,
    /// `--deflate`: handshakes accepted and declined, and the server's answer.
    pub deflate_accepted: u64,
    pub deflate_declined: u64,
    pub deflate_response: Option<String>,
    pub connected: u64,
    pub failed: u64,
    pub errors: BTreeMap<String, u64>,
    pub secs: f64,
}

pub async fn connect_all(kids: &mut Children, args: &ClientArgs, started: Instant) -> Result<Connected, String> {
    let ramp_secs = args.ramp.as_deref().and_then(|r| parse_rate(r).ok()).map(|r| args.n as f64 / r).unwrap_or(0.0);
    let per_proc = args.n.div_ceil(procs_of(args)) as f64;
    let limit = args.connect_timeout.as_secs_f64() * (per_proc / args.concurrency.max(1) as f64).max(1.0) + ramp_secs + 30.0;
    let reports = kids.collect("connected", Duration::from_secs_f64(limit.min(3600.0))).await?;
    let mut c = Connected {
        snapshot_bytes: 0,
        snapshot_wire_bytes: 0,
        deflate_accepted: 0,
        deflate_declined: 0,
        deflate_response: None,
        connected: 0,
        failed: 0,
        errors: BTreeMap::new(),
        secs: started.elapsed().as_secs_f64(),
    };
    for r in reports {
        c.connected += r["connected"].as_u64().unwrap_or(0);
        c.failed += r["failed"].as_u64().unwrap_or(0);
        c.snapshot_bytes = c.snapshot_bytes.max(r["snapshot_bytes"].as_u64().unwrap_or(0));
        c.snapshot_wire_bytes = c.snapshot_wire_bytes.max(r["snapshot_wire_bytes"].as_u64().unwrap_or(0));
        c.deflate_accepted += r["deflate_accepted"].as_u64().unwrap_or(0);
        c.deflate_declined += r["deflate_declined"].as_u64().unwrap_or(0);
        if c.deflate_response.is_none() {
            c.deflate_response = r["deflate_response"].as_str().map(str::to_string);
        }
        for (k, v) in r["errors"].as_object().into_iter().flatten() {
            *c.errors.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
        }
    }
    eprintln!(
        "scoreticker-load: {} of {} subscribers connected and synced in {:.1}s ({} failed)",
        c.connected, args.n, c.secs, c.failed
    );
    Ok(c)
}

impl Connected {
    /// The result's `snapshot_wire_bytes` and `compression` (the latter only with `--deflate`).
    pub fn add_wire(&self, result: &mut Value, args: &ClientArgs) {
        result["snapshot_wire_bytes"] = json!(self.snapshot_wire_bytes);
        if !args.deflate {
            return;
        }
        let state = match (self.deflate_accepted, self.deflate_declined) {
            (0, 0) => "none connected",
            (_, 0) => "accepted",
            (0, _) => "plain (server declined)",
            _ => "mixed (some accepted, some declined)",
        };
        result["compression"] = json!({
            "offered": crate::deflate::OFFER,
            "state": state,
            "accepted": self.deflate_accepted,
            "declined": self.deflate_declined,
            "response": self.deflate_response,
            "snapshot_wire_percent": percent(self.snapshot_wire_bytes, crate::deflate::server_frame_wire(self.snapshot_bytes as usize) as u64),
        });
    }
}

/// `part` in % of `whole` (None without a whole).
pub fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

pub fn merge_windows(reports: &[Value]) -> Window {
    let mut w = Window::default();
    for r in reports {
        if let Ok(one) = serde_json::from_value::<Window>(r["window"].clone()) {
            w.merge(&one);
        }
    }
    w
}

pub fn header(args: &ClientArgs, mode: &str) -> Value {
    json!({
        "mode": mode,
        "label": args.label,
        "url": args.url,
        "subscribers": args.n,
        "procs": procs_of(args),
        "sources": sources_of(args).iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

/// CPU use during a window: the server's, this tool's (parent and children) and
/// everything else's, so a run disturbed by other work on the machine shows it.
pub struct CpuSample {
    pub server: Option<u64>,
    pub clients: u64,
    pub machine: Option<u64>,
}

impl CpuSample {
    pub fn take(server: Option<u32>, kids: &Children) -> CpuSample {
        let own = std::iter::once(std::process::id()).chain(kids.procs.iter().filter_map(|p| p.id()));
        CpuSample { server: server.and_then(proc_cpu_us), clients: own.filter_map(proc_cpu_us).sum(), machine: machine_busy_us() }
    }

    /// (server µs, clients µs, other µs) since `before`.
    pub fn since(&self, before: &CpuSample) -> (Option<u64>, u64, Option<u64>) {
        let server = self.server.zip(before.server).map(|(a, b)| a.saturating_sub(b));
        let clients = self.clients.saturating_sub(before.clients);
        let other = self.machine.zip(before.machine).map(|(a, b)| a.saturating_sub(b).saturating_sub(server.unwrap_or(0) + clients));
        (server, clients, other)
    }
}
