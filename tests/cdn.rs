//! CDN mode: `/api/v1/games` tells shared caches how long they may keep it,
//! has one URL per topic list, and a real nginx (Debian's `nginx` package,
//! started here on a free port with the cache configuration of docs/DEPLOY.md)
//! in front of the service absorbs 1,000 polling clients: the service sees about
//! one request per `snapshot_max_age`, and every client sees every change within
//! `snapshot_max_age + snapshot_stale`.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const MAX_AGE: u64 = 1;
const STALE: u64 = 10;
const CLIENTS: usize = 1000;

fn feed(upstream: &Upstream) -> (&'static str, String) {
    ("nba.toml", feed_file("nba", &upstream.url(), ""))
}

fn http_section() -> String {
    format!("[http]\nsnapshot_max_age = \"{MAX_AGE}s\"\nsnapshot_stale = \"{STALE}s\"\n")
}

/// The tests here count the service's snapshot answers, and the metrics are
/// the process's: one test at a time, so no test counts another's requests.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// `scoreticker_snapshot_requests_total`, all statuses: requests that reached the service.
async fn origin_requests(service: &Service) -> u64 {
    let text = reqwest::get(service.admin("/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("scoreticker_snapshot_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_is_cacheable_with_one_url_per_topic_list() {
    let _serial = one_at_a_time().await;
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[feed(&upstream)], "[http]\nsnapshot_max_age = \"2s\"\nsnapshot_stale = \"30s\"\n").await;
    service.wait_for_games(1).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let first = http.get(service.http("/api/v1/games?topics=league:nba,team:nba:BOS")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let h = first.headers().clone();
    assert_eq!(h["cache-control"], "public, max-age=2, stale-while-revalidate=30");
    assert_eq!(h["x-poll-interval"], "2");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h["access-control-expose-headers"].to_str().unwrap().contains("ETag"));
    let etag = h["etag"].to_str().unwrap().to_string();

    // A 304 carries the same caching headers, so a cache refreshes its entry with it.
    let again = http.get(service.http("/api/v1/games?topics=league:nba,team:nba:BOS")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["cache-control"], "public, max-age=2, stale-while-revalidate=30");
    assert_eq!(again.headers()["etag"], etag.as_str());

    // Other spellings of the same list are sent to the one canonical URL.
    for spelling in ["team:NBA:bos,league:NBA", "league:nba,team:nba:BOS,league:nba", "league%3Anba,team%3Anba%3ABOS", "league:nba,team:nba:BOS&_=123"] {
        let r = http.get(service.http(&format!("/api/v1/games?topics={spelling}"))).send().await.unwrap();
        assert_eq!(r.status(), 301, "{spelling}");
        assert_eq!(r.headers()["location"], "?topics=league:nba,team:nba:BOS", "{spelling}");
        assert!(r.headers()["cache-control"].to_str().unwrap().starts_with("public"), "the redirect is cacheable too");
    }
    let all = http.get(service.http("/api/v1/games?topics=league:nba,all")).send().await.unwrap();
    assert_eq!(all.headers()["location"], "?topics=all");
    // Followed, it lands on the same document and ETag.
    let followed = reqwest::get(service.http("/api/v1/games?topics=team:NBA:bos,league:NBA")).await.unwrap();
    assert_eq!(followed.url().query(), Some("topics=league:nba,team:nba:BOS"));
    assert_eq!(followed.headers()["etag"], etag.as_str());
    // The bare URL stays an alias of topics=all.
    assert_eq!(http.get(service.http("/api/v1/games")).send().await.unwrap().status(), 200);
    // Bad topics are still a 400, never a redirect.
    assert_eq!(http.get(service.http("/api/v1/games?topics=nope")).send().await.unwrap().status(), 400);

    // The CORS preflight of a cross-origin poller sending If-None-Match.
    let pre = http.request(reqwest::Method::OPTIONS, service.http("/api/v1/games?topics=all")).send().await.unwrap();
    assert_eq!(pre.status(), 204);
    assert!(pre.headers()["access-control-allow-headers"].to_str().unwrap().contains("If-None-Match"));
    service.running.stop().await;
}

// ---------------------------------------------------------------------------
// A real nginx.

struct Nginx {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM lets the master stop its worker; KILL would orphan it.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.exists()).unwrap_or_else(|| {
        panic!("nginx not found: install Debian's `nginx` package (tests/run-all.sh does)")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The DEPLOY.md snippet, in a complete config with every path in `dir`.
fn nginx_config(dir: &Path, listen: SocketAddr, origin: SocketAddr) -> String {
    let d = dir.display();
    let snippet = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx-cdn.conf")).unwrap();
    let snippet = snippet
        .replace("/var/cache/nginx/scoreticker", &format!("{d}/cache"))
        .replace("127.0.0.1:8080", &origin.to_string())
        .replace("listen 80;", &format!("listen {listen};"));
    format!(
        "user root;\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{snippet}\n}}\n"
    )
}

async fn start_nginx(origin: SocketAddr) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_config(dir.path(), addr, origin)).unwrap();
    let child = Command::new(nginx_binary())
        .args(["-p", &dir.path().display().to_string(), "-c", &conf.display().to_string(), "-e", &dir.path().join("error.log").display().to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "nginx did not start:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Nginx { child, addr, _dir: dir }
}

/// What one polling client saw: the time it first saw each seq.
type Seen = Vec<(u64, Instant)>;

/// Polls `url` every `MAX_AGE` (the advertised interval) with If-None-Match
/// until it has seen `last` or `until` passes.
async fn poll(http: reqwest::Client, url: String, offset: Duration, last: Arc<Mutex<Option<u64>>>, until: Instant, counts: Arc<Mutex<BTreeMap<String, u64>>>) -> Seen {
    tokio::time::sleep(offset).await;
    let mut seen = Seen::new();
    let mut etag: Option<String> = None;
    let mut best = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(MAX_AGE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if Instant::now() > until || last.lock().unwrap().is_some_and(|l| best >= l) {
            return seen;
        }
        let mut request = http.get(&url);
        if let Some(e) = &etag {
            request = request.header("If-None-Match", e);
        }
        let Ok(response) = request.send().await else { continue };
        let cache = response.headers().get("x-cache-status").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
        *counts.lock().unwrap().entry(format!("{} {cache}", response.status().as_u16())).or_default() += 1;
        if response.status() == 304 {
            continue;
        }
        etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string);
        let Ok(doc) = response.json::<Value>().await else { continue };
        let seq = doc["seq"].as_u64().unwrap();
        if seq > best {
            best = seq;
            seen.push((seq, Instant::now()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_nginx_absorbs_a_thousand_polling_clients() {
    let _serial = one_at_a_time().await;
    let mut doc = espn_live();
    let upstream = Upstream::start(vec![Step::json(&doc)]).await;
    let service = start_service(&[feed(&upstream)], &http_section()).await;
    service.wait_for_games(1).await;
    let nginx = start_nginx(service.addr).await;
    let url = format!("http://{}/api/v1/games?topics=league:nba", nginx.addr);

    // The origin's own view of each change: a WebSocket client (it costs no snapshot request).
    let mut watcher = Client::connect(&service.ws("?topics=all")).await;
    let hello = watcher.hello().await;
    let _snapshot = watcher.next().await;
    let mut published: Vec<(u64, Instant)> = vec![(hello["seq"].as_u64().unwrap(), Instant::now())];

    let http = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).timeout(Duration::from_secs(20)).build().unwrap();
    let last = Arc::new(Mutex::new(None));
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let before = origin_requests(&service).await;
    let started = Instant::now();
    let until = started + Duration::from_secs(90);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let offset = Duration::from_millis((i as u64 * 997) % (MAX_AGE * 1000));
            tokio::spawn(poll(http.clone(), url.clone(), offset, last.clone(), until, counts.clone()))
        })
        .collect();

    // Three score changes, a few seconds apart, each seen first by the watcher.
    for (n, score) in [101, 102, 103].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_secs(3)).await;
        set_score(&mut doc, 0, 0, score);
        upstream.push([Step::json(&doc)]);
        let frame = watcher.next().await;
        assert!(frame["type"] == "update" || frame["type"] == "batch", "change {n}: {frame}");
        published.push((frame["seq"].as_u64().unwrap(), Instant::now()));
    }
    *last.lock().unwrap() = Some(published.last().unwrap().0);
    let mut seen = Vec::new();
    for c in clients {
        seen.push(c.await.unwrap());
    }
    let elapsed = started.elapsed();
    let origin = origin_requests(&service).await - before;
    let served: u64 = counts.lock().unwrap().values().sum();

    // Every client saw every change within max-age + stale-while-revalidate.
    let bound = Duration::from_secs(MAX_AGE + STALE);
    let mut lags = Vec::new();
    for (i, client) in seen.iter().enumerate() {
        for (seq, at) in &published {
            let first = client.iter().find(|(s, _)| s >= seq).unwrap_or_else(|| panic!("client {i} never saw seq {seq}: {client:?}"));
            let lag = first.1.saturating_duration_since(*at);
            assert!(lag <= bound, "client {i} saw seq {seq} {lag:?} after it was published (bound {bound:?})");
            lags.push(lag);
        }
    }
    lags.sort();
    let per_max_age = elapsed.as_secs_f64() / MAX_AGE as f64;
    eprintln!(
        "nginx CDN test: {CLIENTS} clients, {served} requests to nginx in {elapsed:.1?} ({:?}); {origin} reached the service \
         (one per max-age would be {per_max_age:.0}); change seen after p50 {:?}, max {:?}",
        counts.lock().unwrap(),
        lags[lags.len() / 2],
        lags.last().unwrap()
    );
    // About one origin request per max-age: the lock and stale-while-revalidate
    // keep the other clients at the cache. Slack for the cold start and the
    // revalidation racing a change.
    assert!((origin as f64) <= per_max_age * 1.5 + 5.0, "{origin} origin requests in {elapsed:?}");
    assert!(served >= (CLIENTS * 4) as u64, "the clients did poll: {served}");
    drop(nginx);
    service.running.stop().await;
}

/// `scoreticker_snapshot_requests_total{status}`: requests that reached the service.
async fn origin_answers(service: &Service, status: &str) -> f64 {
    let text = reqwest::get(service.admin("/metrics")).await.unwrap().text().await.unwrap();
    sample(&text, "scoreticker_snapshot_requests_total", &[("status", status)])
}

/// Defect: one ETag for every topic list (`"<epoch>-<seq>"` of the last event
/// anywhere), so an NBA score invalidated every cached NFL copy. Each list's
/// ETag now moves only with its own topics: after an NBA change the cache in
/// front revalidates its NFL copy and the service answers 304.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_one_league_leaves_the_others_cached_copy_valid() {
    let _serial = one_at_a_time().await;
    let mut nba_doc = espn_live();
    let nba = Upstream::start(vec![Step::json(&nba_doc)]).await;
    let nfl = Upstream::start(vec![Step::json(&espn_live())]).await;
    let nfl_feed = feed_file("nfl", &nfl.url(), "").replace("league = \"nba\"", "league = \"nfl\"");
    let service = start_service(&[feed(&nba), ("nfl.toml", nfl_feed)], &http_section()).await;
    service.wait_for_games(2).await;
    let nginx = start_nginx(service.addr).await;
    let http = reqwest::Client::new();
    let etag = |path: &'static str| {
        let http = http.clone();
        let url = service.http(path);
        async move { http.get(url).send().await.unwrap().headers()["etag"].to_str().unwrap().to_string() }
    };
    let (nba_before, nfl_before) = (etag("/api/v1/games?topics=league:nba").await, etag("/api/v1/games?topics=league:nfl").await);
    let all_before = etag("/api/v1/games?topics=all").await;

    // The cache takes its NFL copy.
    let cached = format!("http://{}/api/v1/games?topics=league:nfl", nginx.addr);
    let first = http.get(&cached).send().await.unwrap();
    assert_eq!((first.status().as_u16(), first.headers()["x-cache-status"].to_str().unwrap()), (200, "MISS"));
    let nfl_body = first.text().await.unwrap();

    // An NBA score changes.
    let mut watcher = Client::connect(&service.ws("?topics=league:nba")).await;
    watcher.hello().await;
    let _snapshot = watcher.next().await;
    set_score(&mut nba_doc, 0, 0, 150);
    nba.push([Step::json(&nba_doc)]);
    assert_eq!(watcher.next().await["type"], "update");
    assert_ne!(etag("/api/v1/games?topics=league:nba").await, nba_before, "NBA's ETag moves");
    assert_ne!(etag("/api/v1/games?topics=all").await, all_before, "so does every list with an NBA topic");
    assert_eq!(etag("/api/v1/games?topics=league:nfl").await, nfl_before, "NFL's does not");
    let not_modified = http.get(service.http("/api/v1/games?topics=league:nfl")).header("If-None-Match", &nfl_before).send().await.unwrap();
    assert_eq!(not_modified.status(), 304);

    // Once its copy is past max-age the cache revalidates it: the service answers 304.
    let (ok_before, revalidated_before) = (origin_answers(&service, "200").await, origin_answers(&service, "304").await);
    tokio::time::sleep(Duration::from_millis(MAX_AGE * 1000 + 500)).await;
    let deadline = Instant::now() + WAIT;
    while origin_answers(&service, "304").await == revalidated_before {
        assert!(Instant::now() < deadline, "the cache never revalidated its NFL copy");
        let again = http.get(&cached).send().await.unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(again.text().await.unwrap(), nfl_body, "the same NFL document");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(origin_answers(&service, "200").await, ok_before, "no NFL document was sent again");
    drop(nginx);
    service.running.stop().await;
}
