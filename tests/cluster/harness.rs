//! Real parts for the cluster tests: `redis-server` and `valkey-server`
//! processes on free ports in temp dirs (primaries, replicas, sentinels), the
//! real `scoreticker` binary as nodes, and WebSocket clients that keep each
//! frame's exact text.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

pub const WAIT: Duration = Duration::from_secs(30);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

/// A server the cluster runs on: its binaries and the version they report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Engine {
    pub name: &'static str,
    pub server: &'static str,
    /// The same server in Sentinel mode (it takes the mode from its name).
    pub sentinel: &'static str,
    /// `v=…` of `--version`.
    pub version: &'static str,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

fn version_of(bin: &str) -> &'static str {
    let out = Command::new(bin).arg("--version").output().unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v = text.split_whitespace().find_map(|w| w.strip_prefix("v=")).unwrap_or("?").to_string();
    Box::leak(v.into_boxed_str())
}

/// Where tests/cluster/install-valkey.sh puts Valkey (or $SCORETICKER_VALKEY_DIR).
fn valkey_dir() -> PathBuf {
    std::env::var_os("SCORETICKER_VALKEY_DIR").map(PathBuf::from).unwrap_or_else(|| manifest_dir().join("target/valkey"))
}

/// The servers every scenario runs against: Redis (Debian's `redis-server`
/// and `redis-sentinel`) and Valkey (from tests/cluster/install-valkey.sh;
/// Debian 12 has no package). A missing one fails the suite with what to
/// install; `SCORETICKER_CLUSTER_ENGINES=redis` (or `valkey`) runs one only.
pub fn engines() -> Vec<Engine> {
    static ENGINES: OnceLock<Vec<Engine>> = OnceLock::new();
    ENGINES
        .get_or_init(|| {
            // The tests' HTTP client is built without a default crypto provider.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let only = std::env::var("SCORETICKER_CLUSTER_ENGINES").unwrap_or_default();
            let wanted = |name: &str| only.is_empty() || only.split(',').any(|o| o.trim() == name);
            let mut engines = Vec::new();
            if wanted("redis") {
                assert!(
                    on_path("redis-server") && on_path("redis-sentinel"),
                    "redis-server or redis-sentinel is not installed: the cluster tests need both \
                     (tests/run-all.sh installs them: `apt-get install redis-server redis-sentinel`)"
                );
                engines.push(Engine { name: "redis", server: "redis-server", sentinel: "redis-sentinel", version: version_of("redis-server") });
            }
            if wanted("valkey") {
                let bin = valkey_dir().join("bin");
                let (server, sentinel) = (bin.join("valkey-server"), bin.join("valkey-sentinel"));
                assert!(
                    server.is_file() && sentinel.exists(),
                    "Valkey is not installed at {}: run tests/cluster/install-valkey.sh (tests/run-all.sh does), \
                     or set SCORETICKER_CLUSTER_ENGINES=redis",
                    bin.display()
                );
                let leak = |p: PathBuf| -> &'static str { Box::leak(p.display().to_string().into_boxed_str()) };
                let server = leak(server);
                engines.push(Engine { name: "valkey", server, sentinel: leak(sentinel), version: version_of(server) });
            }
            assert!(!engines.is_empty(), "SCORETICKER_CLUSTER_ENGINES={only:?} names no engine (redis, valkey)");
            eprintln!("cluster engines: {}", engines.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "));
            engines
        })
        .clone()
}

/// One Redis (or Valkey) server the test can stop, kill and restart.
pub struct Redis {
    pub engine: Engine,
    pub port: u16,
    pub dir: tempfile::TempDir,
    aof: bool,
    /// The primary's port, for a replica.
    replica_of: Option<u16>,
    child: Option<Child>,
}

impl Redis {
    /// `aof`: append-only file with fsync on every write (no loss on restart);
    /// without it the server keeps nothing across a restart.
    pub async fn start(engine: Engine, aof: bool) -> Redis {
        let mut r = Redis { engine, port: free_port(), dir: tempfile::tempdir().unwrap(), aof, replica_of: None, child: None };
        r.launch().await;
        r
    }

    /// A replica of `primary` (with its own append-only file), once it has
    /// the primary's data set. It replicates from `via`: the primary's port,
    /// or a proxy's in front of it.
    pub async fn start_replica(primary: &Redis, via: u16) -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Redis { engine: primary.engine, port: free_port(), dir, aof: true, replica_of: Some(via), child: None };
        r.launch().await;
        wait_until("the replica is in sync", || async {
            let info: String = r.cmd(redis::cmd("INFO").arg("replication")).await;
            info.contains("master_link_status:up")
        })
        .await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn launch(&mut self) {
        let mut cmd = Command::new(self.engine.server);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no"]);
        cmd.args(["--appendonly", if self.aof { "yes" } else { "no" }, "--appendfsync", "always"]);
        if let Some(primary) = self.replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        cmd.arg("--dir").arg(self.dir.path());
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", self.engine.server)));
        let deadline = Instant::now() + WAIT;
        while self.ping().await.is_err() {
            assert!(Instant::now() < deadline, "{} did not answer on port {}", self.engine.server, self.port);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn conn(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?.get_multiplexed_async_connection().await
    }

    pub async fn ping(&self) -> redis::RedisResult<String> {
        redis::cmd("PING").query_async(&mut self.conn().await?).await
    }

    /// Any command, for inspection.
    pub async fn cmd<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        cmd.query_async(&mut self.conn().await.unwrap()).await.unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `SHUTDOWN NOSAVE`: the server exits keeping nothing (without AOF).
    pub async fn shutdown_nosave(&mut self) {
        let mut conn = self.conn().await.unwrap();
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query_async(&mut conn).await;
        let _ = self.child.take().unwrap().wait();
    }

    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same port and directory.
    pub async fn restart(&mut self) {
        self.launch().await;
    }

    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-CONT", &c.id().to_string()]).stderr(Stdio::null()).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A Sentinel (`redis-sentinel`, or Valkey's) watching the primary on
/// `primary_port` as `name`, with `quorum` votes needed to call it down.
/// Timings are short so a failover takes seconds: down after 1 s of silence.
pub struct Sentinel {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Sentinel {
    pub fn start(engine: Engine, primary_port: u16, name: &str, quorum: u32) -> Sentinel {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        let settings = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile {dir}/sentinel.log\n\
             sentinel monitor {name} 127.0.0.1 {primary_port} {quorum}\n\
             sentinel down-after-milliseconds {name} 1000\nsentinel failover-timeout {name} 3000\nsentinel parallel-syncs {name} 1\n",
            dir = dir.path().display()
        );
        std::fs::write(&conf, settings).unwrap();
        let child = Command::new(engine.sentinel)
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", engine.sentinel));
        Sentinel { port, dir, child }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What this sentinel logged (its view of a failover).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sentinel.log")).unwrap_or_default()
    }

    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port))?;
        cmd.query_async(&mut client.get_multiplexed_async_connection().await?).await
    }

    /// The primary's port as this sentinel names it.
    pub async fn primary_port(&self, name: &str) -> Option<u16> {
        let addr: Vec<String> = self.query(redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg(name)).await.ok()?;
        addr.get(1)?.parse().ok()
    }

    /// Waits until this sentinel knows `replicas` replicas and `others` other
    /// sentinels: only then can it vote in a failover, and pick a replica.
    pub async fn wait_sees(&self, name: &str, replicas: usize, others: usize) {
        wait_until(&format!("sentinel {} sees {replicas} replica(s) and {others} other sentinel(s)", self.port), || async {
            let r: redis::RedisResult<Vec<redis::Value>> = self.query(redis::cmd("SENTINEL").arg("replicas").arg(name)).await;
            let s: redis::RedisResult<Vec<redis::Value>> = self.query(redis::cmd("SENTINEL").arg("sentinels").arg(name)).await;
            r.is_ok_and(|r| r.len() == replicas) && s.is_ok_and(|s| s.len() == others)
        })
        .await;
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill -{name} {pid}");
}

/// The feed file every node of a test runs: the test's upstream, polled every second.
pub fn feed_file(url: &str) -> String {
    feed_file_with_id("nba", url)
}

pub fn feed_file_with_id(id: &str, url: &str) -> String {
    format!(
        "id = \"{id}\"\nadapter = \"espn\"\nurl = \"{url}\"\nschedule = \"1s\"\nleague = \"nba\"\nsport = \"basketball\"\ntimeout = \"2s\"\nbackoff_initial = \"500ms\"\nbackoff_max = \"1s\"\n"
    )
}

/// One scoreticker process in cluster mode.
pub struct Node {
    pub name: String,
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    pub dir: tempfile::TempDir,
}

impl Node {
    /// Starts a node on `redis` with the given lease and extra `[cluster]` lines.
    pub fn start(name: &str, redis_url: &str, feed_url: &str, cluster_extra: &str) -> Node {
        Node::start_with_feeds(name, redis_url, &[("nba.toml", feed_file(feed_url))], cluster_extra)
    }

    /// A node with these feed files.
    pub fn start_with_feeds(name: &str, redis_url: &str, feeds: &[(&str, String)], cluster_extra: &str) -> Node {
        Node::start_with_engine(name, &format!("redis = \"{redis_url}\""), feeds, cluster_extra)
    }

    /// A node whose `[cluster]` section names its engine with `engine` (a
    /// `redis = …` line, or `sentinels` and `master_name`).
    pub fn start_with_engine(name: &str, engine: &str, feeds: &[(&str, String)], cluster_extra: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("feeds.d")).unwrap();
        for (file, text) in feeds {
            std::fs::write(dir.path().join("feeds.d").join(file), text).unwrap();
        }
        let config = format!(
            "listen = \"127.0.0.1:0\"\nfeeds_dir = \"feeds.d\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[cluster]\n{engine}\nnode_id = \"{name}\"\nlease = \"1s\"\n{cluster_extra}"
        );
        std::fs::write(dir.path().join("scoreticker.toml"), config).unwrap();
        Node::spawn(name, dir)
    }

    fn spawn(name: &str, dir: tempfile::TempDir) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scoreticker"));
        cmd.args(["--log-format", "json", "serve", "--config"]).arg(dir.path().join("scoreticker.toml"));
        cmd.env("RUST_LOG", "info");
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("scoreticker listening on") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let line = rx.recv_timeout(WAIT).expect("the node says where it listens");
        let v: Value = serde_json::from_str(&line).unwrap();
        let addr = v["fields"]["addr"].as_str().unwrap().parse().unwrap();
        let admin = v["fields"]["admin"].as_str().unwrap().parse().unwrap();
        Node { name: name.to_string(), child, addr, admin, logs, dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn logged(&self, words: &str) -> bool {
        self.logs.lock().unwrap().iter().any(|l| l.contains(words))
    }

    /// The time of the first log line containing `words` (the JSON `timestamp`).
    pub fn logged_at(&self, words: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let logs = self.logs.lock().unwrap();
        let line = logs.iter().find(|l| l.contains(words))?;
        let v: Value = serde_json::from_str(line).ok()?;
        v["timestamp"].as_str()?.parse().ok()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub fn ws(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The value of one metric series (0 when absent).
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = reqwest::get(format!("http://{}/metrics", self.admin)).await.unwrap().text().await.unwrap();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }

    pub async fn is_leader(&self) -> bool {
        self.metric("scoreticker_cluster_leader", &[]).await == 1.0
    }

    pub async fn ready(&self) -> bool {
        match reqwest::get(format!("http://{}/readyz", self.addr)).await {
            Ok(r) => r.status() == 200,
            Err(_) => false,
        }
    }

    pub async fn wait_ready(&self) {
        wait_until(&format!("{} ready", self.name), || async { self.ready().await }).await;
    }

    /// The status page's document (`/status?format=json`).
    pub async fn status_page(&self) -> Value {
        reqwest::get(format!("http://{}/status?format=json", self.admin)).await.unwrap().json().await.unwrap()
    }

    /// `GET /api/v1/games`.
    pub async fn games(&self) -> Value {
        reqwest::get(format!("http://{}/api/v1/games", self.addr)).await.unwrap().json().await.unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds; fails after [`WAIT`].
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Which of the nodes leads, once exactly one does.
pub async fn the_leader(nodes: &[&Node]) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut leaders = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            if n.is_leader().await {
                leaders.push(i);
            }
        }
        if leaders.len() == 1 {
            return leaders[0];
        }
        assert!(Instant::now() < deadline, "no single leader: {leaders:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A WebSocket client that keeps every frame's exact text.
pub struct Client {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pub epoch: String,
    /// The last seq this client is current as of.
    pub seq: u64,
}

/// What a client read: the raw text and its JSON.
#[derive(Debug, Clone)]
pub struct Frame {
    pub text: String,
    pub json: Value,
}

impl Client {
    /// Connects, reads hello and subscribes to everything (with `since` when given).
    pub async fn subscribe(url: &str, since: Option<(&str, u64)>) -> (Client, Frame) {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut c = Client { ws, epoch: String::new(), seq: 0 };
        let hello = c.next().await.expect("hello");
        assert_eq!(hello.json["type"], "hello", "{}", hello.text);
        c.epoch = hello.json["epoch"].as_str().unwrap().to_string();
        c.seq = hello.json["seq"].as_u64().unwrap();
        if let Some((_, seq)) = since {
            c.seq = seq;
        }
        let mut msg = json!({"type": "subscribe", "topics": ["all"]});
        if let Some((epoch, seq)) = since {
            msg["since"] = json!({"epoch": epoch, "seq": seq});
        }
        c.ws.send(Message::Text(msg.to_string().into())).await.unwrap();
        (c, hello)
    }

    /// The next frame other than a heartbeat; None when the connection ends
    /// or nothing comes within [`WAIT`].
    pub async fn next(&mut self) -> Option<Frame> {
        self.next_within(WAIT).await
    }

    pub async fn next_within(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await.ok()? {
                Some(Ok(Message::Text(t))) => {
                    let json: Value = serde_json::from_str(t.as_str()).unwrap();
                    if json["type"] == "heartbeat" {
                        continue;
                    }
                    let frame = Frame { text: t.to_string(), json };
                    self.track(&frame);
                    return Some(frame);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    fn track(&mut self, f: &Frame) {
        match f.json["type"].as_str() {
            Some("snapshot") => self.seq = f.json["seq"].as_u64().unwrap(),
            Some("update") | Some("remove") | Some("batch") => {
                for e in events_of(&f.json) {
                    let seq = e["seq"].as_u64().unwrap();
                    assert_eq!(seq, self.seq + 1, "gap or duplicate: at seq {} got {}", self.seq, f.text);
                    self.seq = seq;
                }
            }
            _ => {}
        }
    }
}

/// The events of a frame: an update/remove alone, or a batch's list.
pub fn events_of(frame: &Value) -> Vec<Value> {
    match frame["type"].as_str() {
        Some("batch") => frame["events"].as_array().unwrap().clone(),
        Some("update") | Some("remove") => vec![frame.clone()],
        _ => vec![],
    }
}

pub fn manifest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// `scoreticker-load upstream`: synthetic scoreboards whose scores change
/// every `change_every`, one feed file per scoreboard.
pub struct LoadUpstream {
    child: Child,
    pub addr: String,
    pub feeds: usize,
}

impl LoadUpstream {
    pub fn start(feeds: usize, games: usize, change_every: &str) -> LoadUpstream {
        let mut child = Command::new(crate::common::load_tool())
            .args(["upstream", "--listen", "127.0.0.1:0", "--feeds", &feeds.to_string(), "--games", &games.to_string()])
            .args(["--change-every", change_every])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        LoadUpstream { child, addr: v["listening"].as_str().unwrap().to_string(), feeds }
    }

    pub fn url(&self, feed: usize) -> String {
        format!("http://{}/feed/{feed}/scoreboard", self.addr)
    }

    /// A feed file per scoreboard, ids `f0`, `f1`, ….
    pub fn feed_files(&self) -> Vec<(String, String)> {
        (0..self.feeds).map(|i| (format!("f{i}.toml"), feed_file_with_id(&format!("f{i}"), &self.url(i)))).collect()
    }
}

impl Drop for LoadUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
