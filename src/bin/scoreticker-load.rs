//! `scoreticker-load`: the load and measurement tool for scoreticker's fan-out (and for
//! any server speaking its wire protocol, such as the Node `ws` peer in tests/bench).
//!
//! * `subscribe`: N WebSocket subscribers, spread round-robin over loopback source
//!   addresses and over child processes of this binary (one process may hold only
//!   ~19,900 sockets here). Measures delivery latency (`now - ts` of every update or
//!   remove event, events inside a batch counted one by one), frames/s, and, given
//!   `--server-pid`, the server's CPU time per delivery and RSS per subscriber.
//! * `storm`: N subscribers drop and reconnect at once with `since`; time until all
//!   have their snapshot or replay, and whether any event was missed (seq continuity).
//! * `upstream`: a synthetic ESPN site-API scoreboard whose scores change on a clock,
//!   so the real poller → adapter → diff → hub path produces the events.
//! * `table`: the benchmark table from the JSON results (used by tests/bench/run.sh).
//!
//! The parent never holds sockets: it re-executes itself with a hidden `--child`
//! flag P times, talks to the children over their stdin (commands: `start`, `stop`,
//! `storm`, `exit`) and stdout (one JSON object a line), and aggregates.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

// ---------------------------------------------------------------------------
// Command line.

#[derive(Parser)]
#[command(name = "scoreticker-load", about = "Load and measurement tool for scoreticker's WebSocket fan-out.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open N subscribers; measure delivery latency, frames/s, server CPU µs per delivery, RSS per subscriber.
    Subscribe(SubscribeArgs),
    /// N subscribers drop and reconnect at once with `since`; time to resume, missed events.
    Storm(StormArgs),
    /// A synthetic ESPN scoreboard upstream whose scores change every tick.
    Upstream(UpstreamArgs),
    /// Print the benchmark table (markdown) from the JSON results of the other commands.
    Table(TableArgs),
    /// Wait until the machine is quiet (busy CPU below a bound), so a measurement is
    /// not shared with other work; gives up after --timeout with a warning.
    WaitQuiet(WaitQuietArgs),
}

#[derive(Args, Clone, Debug)]
struct WaitQuietArgs {
    /// Busy CPU of the whole machine, in % of one core, that counts as quiet.
    #[arg(long, default_value_t = 15.0)]
    max_percent: f64,
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    timeout: Duration,
    /// Length of one sample.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    sample: Duration,
}

#[derive(Args, Clone, Debug)]
struct ClientArgs {
    /// WebSocket URL, e.g. ws://127.0.0.1:8080/ws?topics=all (topics in the URL subscribe at once;
    /// without them the tool sends a `subscribe` for `all`).
    #[arg(long)]
    url: String,
    /// Number of subscribers.
    #[arg(short = 'n', long = "subscribers", default_value_t = 100)]
    n: usize,
    /// Loopback source addresses to bind before connecting (round-robin), e.g. 127.0.0.2,127.0.0.3.
    #[arg(long, value_delimiter = ',')]
    sources: Vec<Ipv4Addr>,
    /// Use 127.0.0.2 … 127.0.0.(K+1) as source addresses [default: max(2, N/10000 rounded up)].
    #[arg(long)]
    sources_count: Option<usize>,
    /// Client processes [default: N/15000 rounded up].
    #[arg(long)]
    procs: Option<usize>,
    /// Connection rate limit, e.g. 2000/s [default: none, only --concurrency].
    #[arg(long)]
    ramp: Option<String>,
    /// Connection attempts in flight per process while connecting.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// How long one subscriber may take from connect to its snapshot.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Print the result as JSON on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
    /// A name copied into the result.
    #[arg(long)]
    label: Option<String>,
    #[arg(long, hide = true)]
    child: bool,
    #[arg(long, hide = true, default_value_t = 0)]
    child_index: usize,
    #[arg(long, hide = true, default_value_t = 1)]
    child_count: usize,
}

#[derive(Args, Clone, Debug)]
struct SubscribeArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Measurement window (per rate step); 0s measures only connection and idle RSS.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// The server's pid: sample its CPU time and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Rate steps: before each window, GET the --control URL with `{rate}` replaced.
    #[arg(long, value_delimiter = ',')]
    rates: Vec<u32>,
    /// Control URL for --rates, e.g. http://127.0.0.1:9000/control?rate={rate}
    #[arg(long)]
    control: Option<String>,
    /// Wait after changing the rate before measuring.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    settle: Duration,
    /// Stop stepping rates once a step's p99 latency (ms) exceeds this.
    #[arg(long, default_value_t = 1000.0)]
    stop_p99_ms: f64,
    /// A window during which other processes used more CPU than this (% of one core)
    /// is measured again, after the machine is quiet, up to --retries times.
    #[arg(long, default_value_t = 25.0)]
    max_other_percent: f64,
    #[arg(long, default_value_t = 3)]
    retries: u32,
}

#[derive(Args, Clone, Debug)]
struct StormArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// How long every client stays away before all reconnect at once (events keep
    /// coming meanwhile, so most resumes are real replays).
    #[arg(long, default_value = "1200ms", value_parser = parse_duration)]
    down: Duration,
    /// How long to keep checking seq continuity after the storm.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    observe: Duration,
    /// Reconnects in flight per process during the storm [default: all at once].
    #[arg(long)]
    storm_concurrency: Option<usize>,
    /// The server's pid (its CPU time during the storm is reported).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Reconnect here instead of --url (another node of a cluster): every
    /// client moves at once and resumes with `since` on that node.
    #[arg(long)]
    storm_url: Option<String>,
}

#[derive(Args, Clone, Debug)]
struct UpstreamArgs {
    /// Address to listen on (port 0: any; the address is printed as JSON on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Games per feed.
    #[arg(long, default_value_t = 20)]
    games: usize,
    /// Feeds served, at /feed/<i>/scoreboard (i = 0 … feeds-1).
    #[arg(long, default_value_t = 1)]
    feeds: usize,
    /// Feeds whose scores change each tick (settable at /control?rate=F).
    #[arg(long)]
    active_feeds: Option<usize>,
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    change_every: Duration,
    /// Games changed per active feed per tick (settable at /control?changes_per_tick=K).
    #[arg(long, default_value_t = 1)]
    changes_per_tick: usize,
}

#[derive(Args, Clone, Debug)]
struct TableArgs {
    #[arg(long)]
    service_main: Option<PathBuf>,
    #[arg(long)]
    service_sat: Option<PathBuf>,
    #[arg(long)]
    service_storm: Option<PathBuf>,
    #[arg(long)]
    service_idle: Option<PathBuf>,
    #[arg(long)]
    node_main: Option<PathBuf>,
    #[arg(long)]
    node_sat: Option<PathBuf>,
    #[arg(long)]
    node_idle: Option<PathBuf>,
    #[arg(long, default_value = "scoreticker")]
    service_name: String,
    #[arg(long, default_value = "Node ws")]
    node_name: String,
    /// p99 bound (ms) for the saturation column.
    #[arg(long, default_value_t = 100.0)]
    saturation_p99_ms: f64,
    /// p99 bound (ms) for the second saturation column.
    #[arg(long, default_value_t = 1000.0)]
    sustained_p99_ms: f64,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration like 30s, 500ms, 2m"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        other => return Err(format!("unknown unit `{other}` in `{s}` (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let n = s.trim().trim_end_matches("/s");
    n.parse::<f64>().ok().filter(|r| *r > 0.0).ok_or_else(|| format!("`{s}` is not a rate like 2000/s"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Subscribe(a) if a.client.child => run_child(a.client, None),
        Command::Storm(a) if a.client.child => {
            let storm = StormOpts { down: a.down, concurrency: a.storm_concurrency, url: a.storm_url };
            run_child(a.client, Some(storm))
        }
        Command::Subscribe(a) => parent(a.client.json, async move { subscribe(a).await }),
        Command::Storm(a) => parent(a.client.json, async move { storm(a).await }),
        Command::Upstream(a) => upstream(a),
        Command::WaitQuiet(a) => wait_quiet(&a),
        Command::Table(a) => match table(&a) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("scoreticker-load table: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn wait_quiet(a: &WaitQuietArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(quiet(a.max_percent, a.timeout, a.sample, &[]));
    ExitCode::SUCCESS
}

/// Waits until the machine's busy CPU over one `sample`, less that of `exclude`d
/// processes, is at most `max_percent` of a core, or `timeout` passed (with a
/// warning). Returns whether it got quiet.
async fn quiet(max_percent: f64, timeout: Duration, sample: Duration, exclude: &[u32]) -> bool {
    let started = Instant::now();
    let mut said = false;
    let excluded = || exclude.iter().filter_map(|p| proc_cpu_us(*p)).sum::<u64>();
    loop {
        let (before, before_excluded) = (machine_busy_us(), excluded());
        tokio::time::sleep(sample).await;
        let busy = machine_busy_us()
            .zip(before)
            .map(|(b, a0)| b.saturating_sub(a0).saturating_sub(excluded().saturating_sub(before_excluded)) as f64 / sample.as_secs_f64() / 1e4);
        let Some(busy) = busy else { return true };
        if busy <= max_percent {
            if said {
                eprintln!("scoreticker-load: quiet after {:.0}s ({busy:.0} % of a core busy)", started.elapsed().as_secs_f64());
            }
            return true;
        }
        if !said {
            eprintln!("scoreticker-load: waiting for the machine to be quiet ({busy:.0} % of a core busy, want ≤ {max_percent} %)");
            said = true;
        }
        if started.elapsed() >= timeout {
            eprintln!("scoreticker-load: WARNING: the machine stayed busy ({busy:.0} % of a core) for {timeout:?}; measuring anyway");
            return false;
        }
    }
}

fn parent(json_out: bool, job: impl std::future::Future<Output = Result<Value, String>>) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(job) {
        Ok(result) => {
            if json_out {
                println!("{}", serde_json::to_string_pretty(&result).expect("json"));
            } else {
                print_human(&result);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scoreticker-load: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Small utilities: time, /proc, rlimit, histograms.

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
fn raise_nofile() -> u64 {
    // SAFETY: plain libc calls on a stack struct.
    unsafe {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            let wanted = libc::rlimit { rlim_cur: r.rlim_max, rlim_max: r.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                return r.rlim_max as u64;
            }
        }
        r.rlim_cur as u64
    }
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// utime + stime of a process, in µs.
fn proc_cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / clock_ticks_per_sec())
}

/// Busy CPU time of the whole machine (all cores, everything but idle and iowait), in µs.
fn machine_busy_us() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle) * 1_000_000 / clock_ticks_per_sec())
}

/// CPU use during a window: the server's, this tool's (parent and children) and
/// everything else's, so a run disturbed by other work on the machine shows it.
struct CpuSample {
    server: Option<u64>,
    clients: u64,
    machine: Option<u64>,
}

impl CpuSample {
    fn take(server: Option<u32>, kids: &Children) -> CpuSample {
        let own = std::iter::once(std::process::id()).chain(kids.procs.iter().filter_map(|p| p.id()));
        CpuSample { server: server.and_then(proc_cpu_us), clients: own.filter_map(proc_cpu_us).sum(), machine: machine_busy_us() }
    }

    /// (server µs, clients µs, other µs) since `before`.
    fn since(&self, before: &CpuSample) -> (Option<u64>, u64, Option<u64>) {
        let server = self.server.zip(before.server).map(|(a, b)| a.saturating_sub(b));
        let clients = self.clients.saturating_sub(before.clients);
        let other = self.machine.zip(before.machine).map(|(a, b)| a.saturating_sub(b).saturating_sub(server.unwrap_or(0) + clients));
        (server, clients, other)
    }
}

fn proc_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Kernel TCP counters that explain slow connects (system-wide, from /proc/net/netstat):
/// a full accept queue drops SYNs, and the client retries only after 1 s.
fn tcp_counters() -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let mut out = BTreeMap::new();
    if let [names, values, ..] = lines[..] {
        for (k, v) in names.split_whitespace().zip(values.split_whitespace()).skip(1) {
            if ["ListenOverflows", "ListenDrops", "TCPSynRetrans"].contains(&k) {
                out.insert(k.to_string(), v.parse().unwrap_or(0));
            }
        }
    }
    out
}

fn tcp_counters_since(before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    tcp_counters().into_iter().map(|(k, v)| { let b = before.get(&k).copied().unwrap_or(0); (k, v.saturating_sub(b)) }).collect()
}

/// 100 µs buckets up to 10 s; the last bucket holds everything above (the max is exact).
const BUCKET_US: u64 = 100;
const BUCKETS: usize = 100_000;

struct Hist {
    buckets: Box<[AtomicU64]>,
    max_us: AtomicU64,
}

impl Hist {
    fn new() -> Hist {
        Hist { buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(), max_us: AtomicU64::new(0) }
    }

    fn record(&self, us: u64) {
        let i = ((us / BUCKET_US) as usize).min(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    /// The counts so far, resetting them.
    fn take(&self) -> HistData {
        let mut data = HistData { max_us: self.max_us.swap(0, Relaxed), ..Default::default() };
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.swap(0, Relaxed);
            if n > 0 {
                data.buckets.push((i as u32, n));
                data.count += n;
            }
        }
        data
    }
}

/// A histogram as sent between processes: the non-empty buckets only.
#[derive(Serialize, Deserialize, Default, Clone, Debug)]
struct HistData {
    buckets: Vec<(u32, u64)>,
    count: u64,
    max_us: u64,
}

impl HistData {
    fn merge(&mut self, other: &HistData) {
        let mut all: BTreeMap<u32, u64> = self.buckets.iter().copied().collect();
        for (i, n) in &other.buckets {
            *all.entry(*i).or_default() += n;
        }
        self.buckets = all.into_iter().collect();
        self.count += other.count;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The q-quantile in ms: the upper edge of its bucket (never above the max).
    fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let target = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in &self.buckets {
            seen += n;
            if seen >= target {
                let edge = (*i as u64 + 1) * BUCKET_US;
                return Some(edge.min(self.max_us.max(1)) as f64 / 1000.0);
            }
        }
        Some(self.max_us as f64 / 1000.0)
    }

    fn summary(&self) -> Value {
        json!({
            "count": self.count,
            "p50": self.quantile_ms(0.50),
            "p90": self.quantile_ms(0.90),
            "p99": self.quantile_ms(0.99),
            "max": (self.count > 0).then(|| self.max_us as f64 / 1000.0),
        })
    }
}

// ---------------------------------------------------------------------------
// Frames: a fast scanner for the server's own field order, serde_json otherwise.

#[derive(Debug, PartialEq)]
enum Kind {
    Hello { epoch: String, seq: u64 },
    Snapshot { seq: u64 },
    /// One update or remove frame.
    Event,
    Batch,
    Heartbeat,
    Error(String),
    Other(String),
}

const TYPE_PREFIX: &[u8] = br#"{"type":""#;

fn digits(b: &[u8]) -> Option<(u64, &[u8])> {
    let end = b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len());
    if end == 0 {
        return None;
    }
    let n = std::str::from_utf8(&b[..end]).ok()?.parse().ok()?;
    Some((n, &b[end..]))
}

/// `,"seq":N,"ts":T` right after an event's type.
fn seq_ts(b: &[u8]) -> Option<(u64, i64)> {
    let (seq, rest) = digits(b.strip_prefix(br#","seq":"#)?)?;
    let (ts, _) = digits(rest.strip_prefix(br#","ts":"#)?)?;
    Some((seq, ts as i64))
}

/// Classifies a frame and calls `event(seq, ts)` for every update/remove event in it.
fn classify(buf: &[u8], event: &mut impl FnMut(u64, i64)) -> Kind {
    if let Some(rest) = buf.strip_prefix(TYPE_PREFIX) {
        let end = rest.iter().position(|c| *c == b'"').unwrap_or(0);
        let (ty, after) = (&rest[..end], &rest[(end + 1).min(rest.len())..]);
        match ty {
            b"update" | b"remove" => {
                if let Some((seq, ts)) = seq_ts(after) {
                    event(seq, ts);
                    return Kind::Event;
                }
            }
            b"heartbeat" => return Kind::Heartbeat,
            b"snapshot" => {
                if let Some((seq, _)) = after.strip_prefix(br#","seq":"#).and_then(digits) {
                    return Kind::Snapshot { seq };
                }
            }
            b"batch" => {
                // Every event object starts with `{"type":"update"|"remove","seq":`; a quote
                // inside a JSON string is escaped, so this byte pattern only starts objects.
                let mut found = Vec::new();
                let mut ok = true;
                let mut i = 0;
                while let Some(p) = after[i..].iter().position(|c| *c == b'{') {
                    let at = &after[i + p..];
                    i += p + 1;
                    for (pattern, len) in [(&br#"{"type":"update""#[..], 16), (&br#"{"type":"remove""#[..], 16)] {
                        if at.starts_with(pattern) {
                            match seq_ts(&at[len..]) {
                                Some(st) => found.push(st),
                                None => ok = false,
                            }
                        }
                    }
                }
                if ok {
                    for (seq, ts) in found {
                        event(seq, ts);
                    }
                    return Kind::Batch;
                }
            }
            _ => {}
        }
    }
    classify_slow(buf, event)
}

fn classify_slow(buf: &[u8], event: &mut impl FnMut(u64, i64)) -> Kind {
    let Ok(v) = serde_json::from_slice::<Value>(buf) else {
        return Kind::Other("not JSON".into());
    };
    let seq = |v: &Value| v["seq"].as_u64();
    let mut emit = |e: &Value| {
        if let (Some(s), Some(t)) = (e["seq"].as_u64(), e["ts"].as_i64()) {
            event(s, t);
        }
    };
    match v["type"].as_str().unwrap_or("") {
        "hello" => Kind::Hello { epoch: v["epoch"].as_str().unwrap_or("").to_string(), seq: seq(&v).unwrap_or(0) },
        "snapshot" => Kind::Snapshot { seq: seq(&v).unwrap_or(0) },
        "update" | "remove" => {
            emit(&v);
            Kind::Event
        }
        "batch" => {
            for e in v["events"].as_array().into_iter().flatten() {
                emit(e);
            }
            Kind::Batch
        }
        "heartbeat" => Kind::Heartbeat,
        "error" => Kind::Error(format!("{}: {}", v["code"].as_str().unwrap_or("?"), v["message"].as_str().unwrap_or(""))),
        other => Kind::Other(other.to_string()),
    }
}

// ---------------------------------------------------------------------------
// One child process: its share of the subscribers.

struct Target {
    addr: SocketAddr,
    /// Where reconnects go (`--storm-url`; else `addr` and `bare_url`).
    resume_addr: SocketAddr,
    resume_url: String,
    /// The URL as given (initial connections).
    url: String,
    /// Without the query (reconnects send `subscribe` with `since`).
    bare_url: String,
    url_has_topics: bool,
    topics: Vec<String>,
    /// Only a subscription to everything sees every seq, so only then is a gap a miss.
    check_seq: bool,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_target(url: &str) -> Result<Target, String> {
    let rest = url.strip_prefix("ws://").ok_or("the URL must start with ws://")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("{hostport}: {e}"))?
        .find(|a| a.is_ipv4())
        .ok_or(format!("{hostport}: no IPv4 address"))?;
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let topics: Vec<String> = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("topics="))
        .map(|t| percent_decode(t).split(',').filter(|t| !t.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let url_has_topics = !topics.is_empty();
    let topics = if topics.is_empty() { vec!["all".to_string()] } else { topics };
    Ok(Target {
        addr,
        resume_addr: addr,
        resume_url: format!("ws://{hostport}{base}"),
        url: url.to_string(),
        bare_url: format!("ws://{hostport}{base}"),
        url_has_topics,
        check_seq: topics == ["all"],
        topics,
    })
}

fn sources_of(args: &ClientArgs) -> Vec<Ipv4Addr> {
    if !args.sources.is_empty() {
        return args.sources.clone();
    }
    let count = args.sources_count.unwrap_or_else(|| args.n.div_ceil(10_000).max(2)).max(1);
    (0..count).map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + i as u32)).collect()
}

fn procs_of(args: &ClientArgs) -> usize {
    args.procs.unwrap_or_else(|| args.n.div_ceil(15_000)).max(1)
}

/// Counters of one child, reset at every `start` and reported at every `stop`.
struct Shared {
    latency: Hist,
    deliveries: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    update_frames: AtomicU64,
    update_bytes: AtomicU64,
    missed: AtomicU64,
    duplicates: AtomicU64,
    resyncs: AtomicU64,
    heartbeats: AtomicU64,
    error_frames: AtomicU64,
    disconnects: AtomicU64,
    closes: Mutex<BTreeMap<String, u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
    alive: AtomicUsize,
    /// The largest snapshot frame seen (never reset).
    snapshot_bytes: AtomicU64,
    /// When the storm's reconnects start.
    reconnect_at: Mutex<Option<Instant>>,
}

#[derive(Serialize, Deserialize, Default, Clone, Debug)]
struct Window {
    deliveries: u64,
    frames: u64,
    bytes: u64,
    update_frames: u64,
    update_bytes: u64,
    missed: u64,
    duplicates: u64,
    resyncs: u64,
    heartbeats: u64,
    error_frames: u64,
    disconnects: u64,
    closes: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    latency: HistData,
}

impl Window {
    fn merge(&mut self, o: &Window) {
        self.deliveries += o.deliveries;
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.update_frames += o.update_frames;
        self.update_bytes += o.update_bytes;
        self.missed += o.missed;
        self.duplicates += o.duplicates;
        self.resyncs += o.resyncs;
        self.heartbeats += o.heartbeats;
        self.error_frames += o.error_frames;
        self.disconnects += o.disconnects;
        for (k, v) in &o.closes {
            *self.closes.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.latency.merge(&o.latency);
    }
}

impl Shared {
    fn new() -> Shared {
        Shared {
            latency: Hist::new(),
            deliveries: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            update_frames: AtomicU64::new(0),
            update_bytes: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            heartbeats: AtomicU64::new(0),
            error_frames: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            closes: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            alive: AtomicUsize::new(0),
            snapshot_bytes: AtomicU64::new(0),
            reconnect_at: Mutex::new(None),
        }
    }

    fn take(&self) -> Window {
        let t = |a: &AtomicU64| a.swap(0, Relaxed);
        Window {
            deliveries: t(&self.deliveries),
            frames: t(&self.frames),
            bytes: t(&self.bytes),
            update_frames: t(&self.update_frames),
            update_bytes: t(&self.update_bytes),
            missed: t(&self.missed),
            duplicates: t(&self.duplicates),
            resyncs: t(&self.resyncs),
            heartbeats: t(&self.heartbeats),
            error_frames: t(&self.error_frames),
            disconnects: t(&self.disconnects),
            closes: std::mem::take(&mut *self.closes.lock().unwrap()),
            errors: std::mem::take(&mut *self.errors.lock().unwrap()),
            latency: self.latency.take(),
        }
    }

    fn count(map: &Mutex<BTreeMap<String, u64>>, key: String) {
        *map.lock().unwrap().entry(key).or_default() += 1;
    }
}

#[derive(Default)]
struct ClientState {
    epoch: String,
    /// The last seq this client is current as of (snapshot or event).
    last_seq: Option<u64>,
}

/// Accounts one text frame; returns what it was.
fn on_frame(buf: &[u8], st: &mut ClientState, sh: &Shared, check_seq: bool, syncing: bool) -> Kind {
    sh.frames.fetch_add(1, Relaxed);
    sh.bytes.fetch_add(buf.len() as u64, Relaxed);
    let now = now_us();
    let mut events = 0u64;
    let kind = classify(buf, &mut |seq, ts| {
        events += 1;
        sh.latency.record((now - ts * 1000).max(0) as u64);
        if let Some(last) = st.last_seq {
            if check_seq && seq > last + 1 {
                sh.missed.fetch_add(seq - last - 1, Relaxed);
            } else if seq <= last {
                sh.duplicates.fetch_add(1, Relaxed);
            }
        }
        st.last_seq = Some(st.last_seq.map_or(seq, |l| l.max(seq)));
    });
    sh.deliveries.fetch_add(events, Relaxed);
    match &kind {
        Kind::Event => {
            sh.update_frames.fetch_add(1, Relaxed);
            sh.update_bytes.fetch_add(buf.len() as u64, Relaxed);
        }
        Kind::Snapshot { seq } => {
            st.last_seq = Some(*seq);
            sh.snapshot_bytes.fetch_max(buf.len() as u64, Relaxed);
            if !syncing {
                sh.resyncs.fetch_add(1, Relaxed);
            }
        }
        Kind::Heartbeat => {
            sh.heartbeats.fetch_add(1, Relaxed);
        }
        Kind::Error(e) => {
            sh.error_frames.fetch_add(1, Relaxed);
            Shared::count(&sh.errors, format!("error frame: {e}"));
        }
        _ => {}
    }
    kind
}

type Ws = WebSocketStream<TcpStream>;

async fn open(src: Ipv4Addr, dst: SocketAddr, url: &str) -> Result<Ws, String> {
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    // Pick the source port at connect time, unique per 4-tuple, so one source
    // address serves ~28k connections per server port and TIME_WAIT ports recycle.
    let one: libc::c_int = 1;
    // SAFETY: a valid fd and a c_int option value of the right size.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    sock.bind(SocketAddr::new(IpAddr::V4(src), 0)).map_err(|e| format!("bind {src}: {e}"))?;
    let stream = sock.connect(dst).await.map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(8192).write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

async fn next_text(ws: &mut Ws) -> Result<Bytes, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(Bytes::from(t)),
            Some(Ok(Message::Close(f))) => return Err(close_reason(f.as_ref())),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("error: {e}")),
            None => return Err("eof".into()),
        }
    }
}

fn close_reason(f: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    match f {
        Some(f) => format!("close {} ({})", u16::from(f.code), f.reason.as_str()),
        None => "close (no code)".into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Catch {
    Snapshot,
    Replay,
    UpToDate,
}

/// Connects and gets current: hello, then a snapshot (fresh) or, with `resume`, a
/// `subscribe` with `since` answered by a replay, a snapshot, or nothing (up to date).
async fn sync(t: &Target, src: Ipv4Addr, st: &mut ClientState, sh: &Shared, resume: bool) -> Result<(Ws, Catch), String> {
    let url = if resume { &t.resume_url } else if !t.url_has_topics { &t.bare_url } else { &t.url };
    let mut ws = open(src, if resume { t.resume_addr } else { t.addr }, url).await?;
    let old_epoch = std::mem::take(&mut st.epoch);
    let hello_seq = loop {
        let buf = next_text(&mut ws).await?;
        match on_frame(&buf, st, sh, false, true) {
            Kind::Hello { epoch, seq } => {
                st.epoch = epoch;
                break seq;
            }
            Kind::Heartbeat => {}
            other => return Err(format!("expected hello, got {other:?}")),
        }
    };
    let since = match st.last_seq {
        Some(seq) if resume && !old_epoch.is_empty() => Some((old_epoch, seq)),
        _ => None,
    };
    if resume || !t.url_has_topics {
        let mut msg = json!({"type": "subscribe", "topics": t.topics});
        if let Some((epoch, seq)) = &since {
            msg["since"] = json!({"epoch": epoch, "seq": seq});
        }
        ws.send(Message::Text(msg.to_string().into())).await.map_err(|e| format!("send subscribe: {e}"))?;
    }
    if let Some((epoch, seq)) = &since {
        if *epoch == st.epoch && *seq == hello_seq {
            return Ok((ws, Catch::UpToDate));
        }
    }
    loop {
        let buf = next_text(&mut ws).await?;
        match on_frame(&buf, st, sh, t.check_seq, true) {
            Kind::Snapshot { .. } => return Ok((ws, Catch::Snapshot)),
            Kind::Event | Kind::Batch if resume => return Ok((ws, Catch::Replay)),
            Kind::Error(e) => return Err(format!("error frame: {e}")),
            _ => {}
        }
    }
}

enum End {
    Storm,
    Closed(String),
}

async fn read_loop(ws: &mut Ws, st: &mut ClientState, sh: &Shared, t: &Target, storm: &mut watch::Receiver<u64>) -> End {
    let mut storm_live = true;
    loop {
        tokio::select! {
            biased;
            changed = storm.changed(), if storm_live => match changed {
                Ok(()) => return End::Storm,
                Err(_) => storm_live = false,
            },
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    on_frame(text.as_bytes(), st, sh, t.check_seq, false);
                }
                Some(Ok(Message::Close(f))) => return End::Closed(close_reason(f.as_ref())),
                Some(Ok(_)) => {}
                Some(Err(e)) => return End::Closed(format!("error: {e}")),
                None => return End::Closed("eof".into()),
            },
        }
    }
}

#[derive(Clone)]
struct StormOpts {
    down: Duration,
    concurrency: Option<usize>,
    /// Where to reconnect (default: the same server).
    url: Option<String>,
}

struct Ctx {
    target: Target,
    shared: Shared,
    connect_sem: Semaphore,
    storm_sem: Option<Semaphore>,
    timeout: Duration,
}

type StormReport = Result<(Catch, Duration), String>;

async fn client_task(
    ctx: Arc<Ctx>,
    src: Ipv4Addr,
    start_at: Option<Instant>,
    ready: mpsc::UnboundedSender<Result<(), String>>,
    mut storm: watch::Receiver<u64>,
    storm_report: mpsc::UnboundedSender<StormReport>,
) {
    if let Some(at) = start_at {
        tokio::time::sleep_until(at).await;
    }
    let sh = &ctx.shared;
    let mut st = ClientState::default();
    let first = {
        let _permit = ctx.connect_sem.acquire().await;
        tokio::time::timeout(ctx.timeout, sync(&ctx.target, src, &mut st, sh, false)).await
    };
    let mut ws = match first {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            let _ = ready.send(Err(e));
            return;
        }
        Err(_) => {
            let _ = ready.send(Err(format!("no snapshot within {:?}", ctx.timeout)));
            return;
        }
    };
    sh.alive.fetch_add(1, Relaxed);
    let _ = ready.send(Ok(()));
    loop {
        match read_loop(&mut ws, &mut st, sh, &ctx.target, &mut storm).await {
            End::Closed(reason) => {
                sh.alive.fetch_sub(1, Relaxed);
                sh.disconnects.fetch_add(1, Relaxed);
                Shared::count(&sh.closes, reason);
                return;
            }
            End::Storm => {
                drop(ws); // the connection is gone: FIN, no close handshake
                let at = sh.reconnect_at.lock().unwrap().unwrap_or_else(Instant::now);
                tokio::time::sleep_until(at).await;
                let permit = match &ctx.storm_sem {
                    Some(s) => Some(s.acquire().await),
                    None => None,
                };
                let result = tokio::time::timeout(ctx.timeout, sync(&ctx.target, src, &mut st, sh, true)).await;
                drop(permit);
                let elapsed = at.elapsed();
                match result {
                    Ok(Ok((w, catch))) => {
                        ws = w;
                        let _ = storm_report.send(Ok((catch, elapsed)));
                    }
                    other => {
                        let why = match other {
                            Ok(Err(e)) => e,
                            _ => format!("not resumed within {:?}", ctx.timeout),
                        };
                        sh.alive.fetch_sub(1, Relaxed);
                        let _ = storm_report.send(Err(why));
                        return;
                    }
                }
            }
        }
    }
}

fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn run_child(args: ClientArgs, storm: Option<StormOpts>) -> ExitCode {
    let nofile = raise_nofile();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(child_main(args, storm, nofile));
    // Do not wait for thousands of socket tasks to wind down.
    std::process::exit(0);
}

async fn child_main(args: ClientArgs, storm_opts: Option<StormOpts>, nofile: u64) {
    let resume = storm_opts.as_ref().and_then(|s| s.url.as_deref()).map(parse_target).transpose();
    let target = match parse_target(&args.url).and_then(|t| Ok((t, resume?))) {
        Ok((mut t, resume)) => {
            if let Some(r) = resume {
                t.resume_addr = r.addr;
                t.resume_url = r.bare_url;
            }
            t
        }
        Err(e) => {
            emit(json!({"phase": "connected", "connected": 0, "failed": 0, "fatal": e}));
            return;
        }
    };
    let sources = sources_of(&args);
    let ids: Vec<usize> = (args.child_index..args.n).step_by(args.child_count.max(1)).collect();
    if ids.len() as u64 + 64 > nofile {
        eprintln!("scoreticker-load child {}: {} subscribers but only {nofile} open files allowed; use more --procs", args.child_index, ids.len());
    }
    let ctx = Arc::new(Ctx {
        target,
        shared: Shared::new(),
        connect_sem: Semaphore::new(args.concurrency.max(1)),
        storm_sem: storm_opts.as_ref().and_then(|s| s.concurrency).map(|c| Semaphore::new(c.max(1))),
        timeout: args.connect_timeout,
    });
    let ramp = match args.ramp.as_deref().map(parse_rate) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            emit(json!({"phase": "connected", "connected": 0, "failed": 0, "fatal": e}));
            return;
        }
        None => None,
    };
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (storm_tx, _) = watch::channel(0u64);
    let (report_tx, mut report_rx) = mpsc::unbounded_channel::<StormReport>();
    let started = Instant::now();
    for &id in &ids {
        let src = sources[id % sources.len()];
        let start_at = ramp.map(|r| started + Duration::from_secs_f64(id as f64 / r));
        tokio::spawn(client_task(ctx.clone(), src, start_at, ready_tx.clone(), storm_tx.subscribe(), report_tx.clone()));
    }
    drop(ready_tx);

    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if cmd_tx.send(line.trim().to_string()).is_err() {
                return;
            }
        }
        let _ = cmd_tx.send("exit".into());
    });

    let (mut connected, mut failed) = (0u64, 0u64);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..ids.len() {
        // Every task answers once (and keeps its sender, so the channel stays open).
        let Some(r) = ready_rx.recv().await else { break };
        match r {
            Ok(()) => connected += 1,
            Err(e) => {
                failed += 1;
                *errors.entry(e).or_default() += 1;
            }
        }
    }
    emit(json!({"phase": "connected", "connected": connected, "failed": failed, "errors": errors,
        "secs": started.elapsed().as_secs_f64(), "nofile": nofile,
        "snapshot_bytes": ctx.shared.snapshot_bytes.load(Relaxed)}));

    let sh = &ctx.shared;
    let mut generation = 0;
    while let Some(cmd) = cmd_rx.recv().await {
        match cmd.as_str() {
            "start" => {
                sh.take();
            }
            "stop" => emit(json!({"phase": "window", "window": sh.take(), "alive": sh.alive.load(Relaxed)})),
            "storm" => {
                let down = storm_opts.as_ref().map(|s| s.down).unwrap_or_default();
                let expected = sh.alive.load(Relaxed);
                *sh.reconnect_at.lock().unwrap() = Some(Instant::now() + down);
                generation += 1;
                let _ = storm_tx.send(generation);
                let deadline = Instant::now() + down + ctx.timeout + Duration::from_secs(5);
                let mut resume = HistData::default();
                let hist = Hist::new();
                let (mut counts, mut fails) = (BTreeMap::<&str, u64>::new(), BTreeMap::<String, u64>::new());
                let mut got = 0;
                while got < expected {
                    match tokio::time::timeout_at(deadline, report_rx.recv()).await {
                        Ok(Some(Ok((catch, took)))) => {
                            hist.record(took.as_micros() as u64);
                            let key = match catch {
                                Catch::Snapshot => "snapshot",
                                Catch::Replay => "replay",
                                Catch::UpToDate => "up_to_date",
                            };
                            *counts.entry(key).or_default() += 1;
                        }
                        Ok(Some(Err(e))) => *fails.entry(e).or_default() += 1,
                        _ => break,
                    }
                    got += 1;
                }
                resume.merge(&hist.take());
                let missing = expected - got;
                if missing > 0 {
                    *fails.entry("no report (timed out)".into()).or_default() += missing as u64;
                }
                emit(json!({"phase": "storm", "expected": expected, "resumed": counts.values().sum::<u64>(),
                    "failed": fails.values().sum::<u64>(), "catch": counts, "errors": fails, "resume": resume}));
            }
            "exit" => return,
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// The parent: children, control, aggregation.

struct Children {
    procs: Vec<tokio::process::Child>,
    stdins: Vec<tokio::process::ChildStdin>,
    rx: mpsc::UnboundedReceiver<(usize, Value)>,
}

impl Children {
    fn spawn(count: usize) -> Result<Children, String> {
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

    async fn send_all(&mut self, cmd: &str) {
        for stdin in &mut self.stdins {
            let _ = stdin.write_all(format!("{cmd}\n").as_bytes()).await;
            let _ = stdin.flush().await;
        }
    }

    /// One `phase` message from every child (a child that exits counts as missing).
    async fn collect(&mut self, phase: &str, limit: Duration) -> Result<Vec<Value>, String> {
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

    async fn finish(mut self) {
        self.send_all("exit").await;
        for p in &mut self.procs {
            if tokio::time::timeout(Duration::from_secs(10), p.wait()).await.is_err() {
                let _ = p.kill().await;
            }
        }
    }
}

struct Connected {
    snapshot_bytes: u64,
    connected: u64,
    failed: u64,
    errors: BTreeMap<String, u64>,
    secs: f64,
}

async fn connect_all(kids: &mut Children, args: &ClientArgs, started: Instant) -> Result<Connected, String> {
    let ramp_secs = args.ramp.as_deref().and_then(|r| parse_rate(r).ok()).map(|r| args.n as f64 / r).unwrap_or(0.0);
    let per_proc = args.n.div_ceil(procs_of(args)) as f64;
    let limit = args.connect_timeout.as_secs_f64() * (per_proc / args.concurrency.max(1) as f64).max(1.0) + ramp_secs + 30.0;
    let reports = kids.collect("connected", Duration::from_secs_f64(limit.min(3600.0))).await?;
    let mut c = Connected { snapshot_bytes: 0, connected: 0, failed: 0, errors: BTreeMap::new(), secs: started.elapsed().as_secs_f64() };
    for r in reports {
        c.connected += r["connected"].as_u64().unwrap_or(0);
        c.failed += r["failed"].as_u64().unwrap_or(0);
        c.snapshot_bytes = c.snapshot_bytes.max(r["snapshot_bytes"].as_u64().unwrap_or(0));
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

fn merge_windows(reports: &[Value]) -> Window {
    let mut w = Window::default();
    for r in reports {
        if let Ok(one) = serde_json::from_value::<Window>(r["window"].clone()) {
            w.merge(&one);
        }
    }
    w
}

fn header(args: &ClientArgs, mode: &str) -> Value {
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

async fn subscribe(a: SubscribeArgs) -> Result<Value, String> {
    parse_target(&a.client.url)?;
    if !a.rates.is_empty() && a.control.is_none() {
        return Err("--rates needs --control".into());
    }
    let pid = a.server_pid;
    let rss_before = pid.and_then(proc_rss_kib);
    if pid.is_some() && rss_before.is_none() {
        return Err(format!("cannot read /proc/{}/status", pid.unwrap_or(0)));
    }
    let started = Instant::now();
    let tcp0 = tcp_counters();
    let mut kids = Children::spawn(procs_of(&a.client))?;
    let conn = connect_all(&mut kids, &a.client, started).await?;
    let rss_idle = pid.and_then(proc_rss_kib);
    let mut result = header(&a.client, "subscribe");
    result["connect_tcp"] = json!(tcp_counters_since(&tcp0));
    result["connected"] = json!(conn.connected);
    result["failed"] = json!(conn.failed);
    result["connect_errors"] = json!(conn.errors);
    result["connect_secs"] = json!(conn.secs);
    result["snapshot_bytes"] = json!(conn.snapshot_bytes);

    let steps: Vec<Option<u32>> = if a.rates.is_empty() { vec![None] } else { a.rates.iter().copied().map(Some).collect() };
    let mut phases = Vec::new();
    if !a.duration.is_zero() {
        for rate in steps {
            if let (Some(r), Some(control)) = (rate, &a.control) {
                http_get(&control.replace("{rate}", &r.to_string())).await?;
                tokio::time::sleep(a.settle).await;
            }
            let mut attempt = 0;
            let (phase, w) = loop {
                attempt += 1;
                let cpu0 = CpuSample::take(pid, &kids);
                kids.send_all("start").await;
                let t0 = Instant::now();
                tokio::time::sleep(a.duration).await;
                kids.send_all("stop").await;
                let (server_cpu, clients_cpu, other_cpu) = CpuSample::take(pid, &kids).since(&cpu0);
                let secs = t0.elapsed().as_secs_f64();
                let w = merge_windows(&kids.collect("window", Duration::from_secs(60)).await?);
                let mut phase = phase_json(rate, secs, &w, server_cpu);
                let other = other_cpu.map(|c| c as f64 / secs / 1e4);
                phase["clients_cpu_percent"] = json!(clients_cpu as f64 / secs / 1e4);
                phase["other_cpu_percent"] = json!(other);
                phase["attempt"] = json!(attempt);
                if other.is_none_or(|o| o <= a.max_other_percent) || attempt > a.retries {
                    break (phase, w);
                }
                eprintln!(
                    "scoreticker-load: other processes used {:.0} % of a core during the window; measuring it again when the machine is quiet",
                    other.unwrap_or(0.0)
                );
                let mut ours: Vec<u32> = kids.procs.iter().filter_map(|p| p.id()).collect();
                ours.push(std::process::id());
                ours.extend(pid);
                quiet(a.max_other_percent, Duration::from_secs(300), Duration::from_secs(3), &ours).await;
            };
            eprintln!(
                "scoreticker-load: {}{:.0} deliveries/s, p50 {} p99 {} max {} ms, CPU {} µs/delivery, {} disconnects, {} missed; CPU % of a core: server {}, clients {}, other processes {}",
                rate.map(|r| format!("rate {r}: ")).unwrap_or_default(),
                phase["deliveries_per_s"].as_f64().unwrap_or(0.0),
                fmt_ms(&phase["latency_ms"]["p50"]),
                fmt_ms(&phase["latency_ms"]["p99"]),
                fmt_ms(&phase["latency_ms"]["max"]),
                fmt_num(&phase["cpu_us_per_delivery"], 2),
                w.disconnects,
                w.missed,
                fmt_num(&phase["server_cpu_percent"], 0),
                fmt_num(&phase["clients_cpu_percent"], 0),
                fmt_num(&phase["other_cpu_percent"], 0),
            );
            let p99 = phase["latency_ms"]["p99"].as_f64().unwrap_or(f64::INFINITY);
            let overloaded = p99 > a.stop_p99_ms || w.disconnects > 0;
            phases.push(phase);
            if overloaded && rate.is_some() {
                eprintln!("scoreticker-load: stopping the rate steps (p99 above {} ms or disconnects)", a.stop_p99_ms);
                break;
            }
        }
    }
    result["phases"] = json!(phases);
    if let Some(pid) = pid {
        let per_sub = match (rss_before, rss_idle) {
            (Some(b), Some(i)) if conn.connected > 0 => Some((i as f64 - b as f64) / conn.connected as f64),
            _ => None,
        };
        result["server"] = json!({
            "pid": pid,
            "rss_before_kib": rss_before,
            "rss_idle_kib": rss_idle,
            "rss_end_kib": proc_rss_kib(pid),
            "rss_per_subscriber_kib": per_sub,
        });
    }
    kids.finish().await;
    Ok(result)
}

fn phase_json(rate: Option<u32>, secs: f64, w: &Window, cpu_us: Option<u64>) -> Value {
    json!({
        "rate": rate,
        "secs": secs,
        "deliveries": w.deliveries,
        "deliveries_per_s": w.deliveries as f64 / secs,
        "frames": w.frames,
        "frames_per_s": w.frames as f64 / secs,
        "bytes_per_s": w.bytes as f64 / secs,
        "update_frame_bytes": (w.update_frames > 0).then(|| w.update_bytes as f64 / w.update_frames as f64),
        "latency_ms": w.latency.summary(),
        "server_cpu_us": cpu_us,
        "server_cpu_percent": cpu_us.map(|c| c as f64 / secs / 1e4),
        "cpu_us_per_delivery": cpu_us.filter(|_| w.deliveries > 0).map(|c| c as f64 / w.deliveries as f64),
        "missed": w.missed,
        "duplicates": w.duplicates,
        "resyncs": w.resyncs,
        "heartbeats": w.heartbeats,
        "error_frames": w.error_frames,
        "disconnects": w.disconnects,
        "closes": w.closes,
        "errors": w.errors,
    })
}

async fn storm(a: StormArgs) -> Result<Value, String> {
    parse_target(&a.client.url)?;
    if let Some(url) = &a.storm_url {
        parse_target(url)?;
    }
    let started = Instant::now();
    let mut kids = Children::spawn(procs_of(&a.client))?;
    let conn = connect_all(&mut kids, &a.client, started).await?;
    let mut result = header(&a.client, "storm");
    result["connected"] = json!(conn.connected);
    result["failed"] = json!(conn.failed);
    result["connect_errors"] = json!(conn.errors);
    result["connect_secs"] = json!(conn.secs);
    result["snapshot_bytes"] = json!(conn.snapshot_bytes);
    result["down_ms"] = json!(a.down.as_millis() as u64);

    // Let every client see a live event or two before the storm.
    tokio::time::sleep(Duration::from_secs(2)).await;
    kids.send_all("start").await;
    let cpu0 = a.server_pid.and_then(proc_cpu_us);
    let tcp0 = tcp_counters();
    kids.send_all("storm").await;
    let limit = a.down + a.client.connect_timeout + Duration::from_secs(30);
    let reports = kids.collect("storm", limit).await?;
    let cpu1 = a.server_pid.and_then(proc_cpu_us);
    let storm_tcp = tcp_counters_since(&tcp0);
    let mut resume = HistData::default();
    let (mut expected, mut resumed, mut failed) = (0, 0, 0);
    let mut catch: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for r in &reports {
        expected += r["expected"].as_u64().unwrap_or(0);
        resumed += r["resumed"].as_u64().unwrap_or(0);
        failed += r["failed"].as_u64().unwrap_or(0);
        for (k, v) in r["catch"].as_object().into_iter().flatten() {
            *catch.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
        }
        for (k, v) in r["errors"].as_object().into_iter().flatten() {
            *errors.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
        }
        if let Ok(h) = serde_json::from_value::<HistData>(r["resume"].clone()) {
            resume.merge(&h);
        }
    }
    eprintln!(
        "scoreticker-load: storm: {resumed} of {expected} resumed, all within {} ms (p50 {} p99 {}), {failed} failed, {catch:?}",
        fmt_ms(&json!(resume.max_us as f64 / 1000.0)),
        fmt_ms(&json!(resume.quantile_ms(0.5))),
        fmt_ms(&json!(resume.quantile_ms(0.99))),
    );
    tokio::time::sleep(a.observe).await;
    kids.send_all("stop").await;
    let w = merge_windows(&kids.collect("window", Duration::from_secs(60)).await?);
    result["storm"] = json!({
        "expected": expected,
        "resumed": resumed,
        "failed": failed,
        "catch": catch,
        "errors": errors,
        "resume_ms": resume.summary(),
        "all_resumed_ms": (resumed > 0).then(|| resume.max_us as f64 / 1000.0),
        "server_cpu_us": cpu0.zip(cpu1).map(|(a, b)| b.saturating_sub(a)),
        "tcp": storm_tcp,
        "observe_secs": a.observe.as_secs_f64(),
        "missed": w.missed,
        "duplicates": w.duplicates,
        "resyncs": w.resyncs,
        "deliveries": w.deliveries,
        "disconnects": w.disconnects,
        "closes": w.closes,
    });
    kids.finish().await;
    Ok(result)
}

/// A plain HTTP/1.0 GET (the control endpoints of the upstream and the Node peer).
async fn http_get(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// control URLs"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(hostport).await.map_err(|e| format!("{url}: {e}"))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes()).await.map_err(|e| format!("{url}: {e}"))?;
    let mut response = Vec::new();
    s.read_to_end(&mut response).await.map_err(|e| format!("{url}: {e}"))?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status_ok = text.lines().next().is_some_and(|l| l.split_whitespace().nth(1) == Some("200"));
    if !status_ok {
        return Err(format!("{url}: {}", text.lines().next().unwrap_or("no response")));
    }
    Ok(text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn fmt_ms(v: &Value) -> String {
    match v.as_f64() {
        None => "–".into(),
        Some(ms) if ms < 10.0 => format!("{ms:.1}"),
        Some(ms) => format!("{ms:.0}"),
    }
}

fn fmt_num(v: &Value, decimals: usize) -> String {
    v.as_f64().map(|x| format!("{x:.decimals$}")).unwrap_or_else(|| "–".into())
}

fn print_human(r: &Value) {
    println!(
        "{} {}: {} of {} connected ({} failed) in {:.1}s",
        r["mode"].as_str().unwrap_or(""),
        r["url"].as_str().unwrap_or(""),
        r["connected"],
        r["subscribers"],
        r["failed"],
        r["connect_secs"].as_f64().unwrap_or(0.0)
    );
    if let Some(tcp) = r["connect_tcp"].as_object().filter(|t| t.values().any(|v| v.as_u64() != Some(0))) {
        println!("  kernel TCP counters while connecting: {}", Value::Object(tcp.clone()));
    }
    if let Some(errors) = r["connect_errors"].as_object().filter(|e| !e.is_empty()) {
        println!("  connect errors: {}", Value::Object(errors.clone()));
    }
    if let Some(s) = r.get("server").filter(|s| !s.is_null()) {
        println!(
            "  server RSS: {} KiB before, {} KiB with the subscribers idle, {} KiB at the end: {} KiB per subscriber",
            s["rss_before_kib"], s["rss_idle_kib"], s["rss_end_kib"], fmt_num(&s["rss_per_subscriber_kib"], 2)
        );
    }
    for p in r["phases"].as_array().into_iter().flatten() {
        println!(
            "  {}{:.1}s: {} deliveries ({:.0}/s), {:.0} frames/s, update frame {} bytes; latency p50 {} p90 {} p99 {} max {} ms; server CPU {} µs/delivery ({}%); missed {}, resyncs {}, disconnects {} {}",
            p["rate"].as_u64().map(|r| format!("rate {r}, ")).unwrap_or_default(),
            p["secs"].as_f64().unwrap_or(0.0),
            p["deliveries"],
            p["deliveries_per_s"].as_f64().unwrap_or(0.0),
            p["frames_per_s"].as_f64().unwrap_or(0.0),
            fmt_num(&p["update_frame_bytes"], 0),
            fmt_ms(&p["latency_ms"]["p50"]),
            fmt_ms(&p["latency_ms"]["p90"]),
            fmt_ms(&p["latency_ms"]["p99"]),
            fmt_ms(&p["latency_ms"]["max"]),
            fmt_num(&p["cpu_us_per_delivery"], 2),
            fmt_num(&p["server_cpu_percent"], 0),
            p["missed"],
            p["resyncs"],
            p["disconnects"],
            if p["closes"].as_object().is_some_and(|c| !c.is_empty()) { p["closes"].to_string() } else { String::new() },
        );
    }
    if let Some(s) = r.get("storm") {
        println!(
            "  storm: {} of {} resumed, all within {} ms (p50 {} p99 {}); {} failed; {}; missed {}, duplicates {}",
            s["resumed"],
            s["expected"],
            fmt_ms(&s["all_resumed_ms"]),
            fmt_ms(&s["resume_ms"]["p50"]),
            fmt_ms(&s["resume_ms"]["p99"]),
            s["failed"],
            s["catch"],
            s["missed"],
            s["duplicates"]
        );
        if s["errors"].as_object().is_some_and(|e| !e.is_empty()) {
            println!("  storm errors: {}", s["errors"]);
        }
        println!("  kernel TCP counters during the storm: {}", s["tcp"]);
    }
}

// ---------------------------------------------------------------------------
// The synthetic upstream.

const TEAMS: [(&str, &str); 30] = [
    ("ATL", "Atlanta Hawks"), ("BOS", "Boston Celtics"), ("BKN", "Brooklyn Nets"), ("CHA", "Charlotte Hornets"),
    ("CHI", "Chicago Bulls"), ("CLE", "Cleveland Cavaliers"), ("DAL", "Dallas Mavericks"), ("DEN", "Denver Nuggets"),
    ("DET", "Detroit Pistons"), ("GS", "Golden State Warriors"), ("HOU", "Houston Rockets"), ("IND", "Indiana Pacers"),
    ("LAC", "LA Clippers"), ("LAL", "Los Angeles Lakers"), ("MEM", "Memphis Grizzlies"), ("MIA", "Miami Heat"),
    ("MIL", "Milwaukee Bucks"), ("MIN", "Minnesota Timberwolves"), ("NO", "New Orleans Pelicans"), ("NY", "New York Knicks"),
    ("OKC", "Oklahoma City Thunder"), ("ORL", "Orlando Magic"), ("PHI", "Philadelphia 76ers"), ("PHX", "Phoenix Suns"),
    ("POR", "Portland Trail Blazers"), ("SAC", "Sacramento Kings"), ("SA", "San Antonio Spurs"), ("TOR", "Toronto Raptors"),
    ("UTAH", "Utah Jazz"), ("WSH", "Washington Wizards"),
];

struct UpState {
    games: usize,
    /// Per feed: (home, away) score of every game.
    scores: Mutex<Vec<Vec<(u32, u32)>>>,
    bodies: Vec<Mutex<Bytes>>,
    active: AtomicUsize,
    per_tick: AtomicUsize,
    ticks: AtomicU64,
    requests: AtomicU64,
    started: std::time::Instant,
    /// ms since `started` of the last scoreboard request.
    last_request_ms: AtomicU64,
}

impl UpState {
    fn body(&self, feed: usize, scores: &[(u32, u32)]) -> Bytes {
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

    fn tick(&self) {
        let tick = self.ticks.fetch_add(1, Relaxed) as usize + 1;
        let active = self.active.load(Relaxed).min(self.bodies.len());
        let per_tick = self.per_tick.load(Relaxed);
        let mut scores = self.scores.lock().unwrap();
        for f in 0..active {
            for k in 0..per_tick {
                let n = tick * per_tick + k;
                let g = n % self.games;
                let (home, away) = &mut scores[f][g];
                if (n / self.games) % 2 == 0 {
                    *home += 2;
                } else {
                    *away += 2;
                }
            }
            *self.bodies[f].lock().unwrap() = self.body(f, &scores[f]);
        }
    }
}

fn upstream(a: UpstreamArgs) -> ExitCode {
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

// ---------------------------------------------------------------------------
// The table.

fn read_json(path: &Option<PathBuf>) -> Result<Option<Value>, String> {
    match path {
        None => Ok(None),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_str(&text).map(Some).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

/// One rate step, judged: offered = updates/s × connected subscribers.
struct Step {
    rate: u64,
    offered: f64,
    delivered: f64,
    p99: f64,
    clean: bool,
    other_cpu: Value,
}

fn steps_of(runs: &[&Value]) -> Vec<Step> {
    let mut steps = Vec::new();
    for run in runs {
        let connected = run["connected"].as_f64().unwrap_or(0.0);
        for p in run["phases"].as_array().into_iter().flatten() {
            let rate = p["rate"].as_u64().unwrap_or(1);
            steps.push(Step {
                rate,
                offered: rate as f64 * connected,
                delivered: p["deliveries_per_s"].as_f64().unwrap_or(0.0),
                p99: p["latency_ms"]["p99"].as_f64().unwrap_or(f64::INFINITY),
                clean: p["disconnects"].as_u64() == Some(0) && p["missed"].as_u64() == Some(0),
                other_cpu: p["other_cpu_percent"].clone(),
            });
        }
    }
    steps.sort_by_key(|s| s.rate);
    steps
}

/// The highest delivery rate a server kept up with: every offered delivery made
/// (95 %), no disconnects, no misses, and p99 under `bound_ms`.
fn best_step(steps: &[Step], bound_ms: f64) -> Option<&Step> {
    steps
        .iter()
        .filter(|s| s.clean && s.delivered >= 0.95 * s.offered && s.p99 < bound_ms)
        .max_by(|a, b| a.delivered.total_cmp(&b.delivered))
}

fn step_text(s: Option<&Step>) -> String {
    match s {
        Some(s) => format!("{:.0} ({}/s, p99 {} ms)", s.delivered, s.rate, fmt_ms(&json!(s.p99))),
        None => "none".into(),
    }
}

fn table(a: &TableArgs) -> Result<String, String> {
    let mut out = String::new();
    let rows = [
        (&a.service_name, read_json(&a.service_main)?, read_json(&a.service_sat)?, read_json(&a.service_idle)?),
        (&a.node_name, read_json(&a.node_main)?, read_json(&a.node_sat)?, read_json(&a.node_idle)?),
    ];
    out.push_str(&format!(
        "| server | connected | snapshot bytes | update frame bytes | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/delivery | RSS KiB/subscriber | saturation: deliveries/s kept up with, p99 < {} ms | … with p99 < {} ms |\n",
        a.saturation_p99_ms, a.sustained_p99_ms
    ));
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut notes = Vec::new();
    for (name, main, sat, _) in &rows {
        let Some(main) = main else { continue };
        let p = main["phases"].get(0).cloned().unwrap_or(Value::Null);
        let runs: Vec<&Value> = [Some(main), sat.as_ref()].into_iter().flatten().collect();
        let steps = steps_of(&runs);
        let (strict, loose) = if sat.is_some() {
            (step_text(best_step(&steps, a.saturation_p99_ms)), step_text(best_step(&steps, a.sustained_p99_ms)))
        } else {
            ("–".into(), "–".into())
        };
        out.push_str(&format!(
            "| {name} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {strict} | {loose} |\n",
            main["connected"],
            main["subscribers"],
            main["snapshot_bytes"],
            fmt_num(&p["update_frame_bytes"], 0),
            fmt_num(&p["deliveries_per_s"], 0),
            fmt_ms(&p["latency_ms"]["p50"]),
            fmt_ms(&p["latency_ms"]["p90"]),
            fmt_ms(&p["latency_ms"]["p99"]),
            fmt_ms(&p["latency_ms"]["max"]),
            fmt_num(&p["cpu_us_per_delivery"], 2),
            fmt_num(&main["server"]["rss_per_subscriber_kib"], 2),
        ));
        if sat.is_some() {
            let list: Vec<String> = steps
                .iter()
                .map(|s| {
                    format!(
                        "{}/s: {:.0} of {:.0} ({:.0} %), p99 {} ms, other processes {} % CPU",
                        s.rate,
                        s.delivered,
                        s.offered,
                        100.0 * s.delivered / s.offered.max(1.0),
                        fmt_ms(&json!(s.p99)),
                        fmt_num(&s.other_cpu, 0)
                    )
                })
                .collect();
            notes.push(format!("{name} rate steps (delivered of offered deliveries/s): {}", list.join("; ")));
        }
        notes.push(format!(
            "{name} main window, CPU in % of one core: server {}, load clients {}, other processes on the machine {}",
            fmt_num(&p["server_cpu_percent"], 0),
            fmt_num(&p["clients_cpu_percent"], 0),
            fmt_num(&p["other_cpu_percent"], 0)
        ));
        let closes = p["closes"].as_object().filter(|c| !c.is_empty());
        if p["missed"].as_u64().unwrap_or(0) > 0 || p["resyncs"].as_u64().unwrap_or(0) > 0 || closes.is_some() {
            notes.push(format!("{name}: missed {}, resyncs {}, closes {}", p["missed"], p["resyncs"], p["closes"]));
        }
    }
    out.push('\n');
    for (name, _, _, idle) in &rows {
        if let Some(idle) = idle {
            out.push_str(&format!(
                "Idle RSS, {name}: {} subscribers connected ({}-byte snapshot each), {} KiB before → {} KiB: **{} KiB per subscriber**\n",
                idle["connected"],
                idle["snapshot_bytes"],
                idle["server"]["rss_before_kib"],
                idle["server"]["rss_idle_kib"],
                fmt_num(&idle["server"]["rss_per_subscriber_kib"], 2)
            ));
        }
    }
    if let Some(storm) = read_json(&a.service_storm)? {
        let s = &storm["storm"];
        out.push_str(&format!(
            "Reconnect storm, {}: {} clients dropped, stayed away {} ms, reconnected at once with `since`: {} of {} resumed, all within {} ms (p50 {}, p99 {}); {} ; failed {}; missed events {}, duplicates {}\n",
            a.service_name,
            s["expected"],
            storm["down_ms"],
            s["resumed"],
            s["expected"],
            fmt_ms(&s["all_resumed_ms"]),
            fmt_ms(&s["resume_ms"]["p50"]),
            fmt_ms(&s["resume_ms"]["p99"]),
            s["catch"],
            s["failed"],
            s["missed"],
            s["duplicates"],
        ));
        if let Some(tcp) = s["tcp"].as_object() {
            out.push_str(&format!(
                "Kernel TCP counters during the storm: listen queue overflows {}, SYN retransmits {}\n",
                tcp.get("ListenOverflows").unwrap_or(&Value::Null),
                tcp.get("TCPSynRetrans").unwrap_or(&Value::Null)
            ));
        }
        if s["errors"].as_object().is_some_and(|e| !e.is_empty()) {
            notes.push(format!("storm errors: {}", s["errors"]));
        }
    }
    for n in notes {
        out.push_str(&format!("Note: {n}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(frame: &str) -> (Kind, Vec<(u64, i64)>) {
        let mut seen = Vec::new();
        let kind = classify(frame.as_bytes(), &mut |s, t| seen.push((s, t)));
        (kind, seen)
    }

    #[test]
    fn scanner_reads_the_servers_frames() {
        let update = r#"{"type":"update","seq":7,"ts":1700000000123,"changes":["score"],"game":{"id":"x","name":"{\"type\":\"update\",\"seq\":1"}}"#;
        assert_eq!(events(update), (Kind::Event, vec![(7, 1700000000123)]));
        let batch = r#"{"type":"batch","events":[{"type":"update","seq":8,"ts":5,"changes":["added"],"game":{"id":"a"}},{"type":"remove","seq":9,"ts":6,"id":"b"}]}"#;
        assert_eq!(events(batch), (Kind::Batch, vec![(8, 5), (9, 6)]));
        assert_eq!(events(r#"{"type":"snapshot","seq":3,"ts":1,"topics":["all"],"games":[]}"#).0, Kind::Snapshot { seq: 3 });
        assert_eq!(events(r#"{"type":"heartbeat","seq":3,"ts":1}"#).0, Kind::Heartbeat);
        assert_eq!(events(r#"{"type":"hello","epoch":"e1","seq":4,"heartbeat_s":20}"#).0, Kind::Hello { epoch: "e1".into(), seq: 4 });
        // Another field order falls back to a full parse.
        assert_eq!(events(r#"{"ts":9,"seq":2,"type":"update"}"#), (Kind::Event, vec![(2, 9)]));
    }

    #[test]
    fn histogram_quantiles() {
        let h = Hist::new();
        for ms in 1..=100u64 {
            h.record(ms * 1000);
        }
        let mut d = h.take();
        assert_eq!(d.count, 100);
        assert_eq!(d.quantile_ms(0.5), Some(50.1));
        assert_eq!(d.quantile_ms(0.99), Some(99.1));
        d.merge(&HistData { buckets: vec![(0, 100)], count: 100, max_us: 50 });
        assert_eq!(d.quantile_ms(0.25), Some(0.1));
        assert_eq!(d.max_us, 100_000);
    }

    #[test]
    fn targets_and_durations() {
        let t = parse_target("ws://127.0.0.1:8080/ws?topics=league%3Anba,all").unwrap();
        assert_eq!(t.bare_url, "ws://127.0.0.1:8080/ws");
        assert_eq!(t.topics, vec!["league:nba", "all"]);
        assert!(!t.check_seq);
        assert!(parse_target("ws://127.0.0.1:1/ws?topics=all").unwrap().check_seq);
        assert_eq!(parse_duration("1200ms").unwrap(), Duration::from_millis(1200));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_rate("2000/s").unwrap(), 2000.0);
    }
}
