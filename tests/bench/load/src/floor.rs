//! `floor`: the reference broadcaster of the benchmark, the least work a fan-out can
//! do on this machine. Plain threads, no async runtime, no task per client: each
//! update is serialized and framed once, then one non-blocking `write()` per socket,
//! the sockets sharded over one thread per core. Its rows in the benchmark table are
//! the floor the service's figures are divided by.
//!
//! It speaks what `scoreticker-load subscribe` needs, like the Node peer
//! (tests/bench/node-ws-peer.js), with the same games and the same frames:
//!
//!   GET /ws               hello + snapshot on connect, a snapshot for any `subscribe`,
//!                         then every update and heartbeat; pings answered, close echoed.
//!   GET /control?rate=F   F updates per second, back to back at each whole second.
//!
//! A socket whose write would block (or writes partly) is closed: the floor keeps no
//! queue. The benchmark's rates never fill a loopback socket's buffer, so this costs it
//! nothing there; the disconnects column would show it if it did.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scoreticker::hub::frames::hello;
use scoreticker::server::ws::frame::text as ws_text;
use scoreticker::server::query_param;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::child::emit;
use crate::cli::FloorArgs;
use crate::upstream::TEAMS;

/// The open sockets, sharded by fd: shard `fd % n` is written by broadcast thread `n`.
struct Floor {
    shards: Vec<Mutex<HashMap<RawFd, TcpStream>>>,
    rate: AtomicU64,
    epoch: String,
    heartbeat_s: u64,
    /// The games and the last seq. Held while an update is broadcast and while a new
    /// socket gets its snapshot and joins, so no socket misses or repeats an update.
    state: Mutex<State>,
    epoll: RawFd,
}

struct State {
    seq: u64,
    games: Vec<Value>,
}

impl Floor {
    fn shard(&self, fd: RawFd) -> &Mutex<HashMap<RawFd, TcpStream>> {
        &self.shards[fd as usize % self.shards.len()]
    }

    fn snapshot(state: &State, topics: Value) -> Vec<u8> {
        let snapshot = json!({"type": "snapshot", "seq": state.seq, "ts": now_ms(), "topics": topics, "games": state.games});
        ws_text(snapshot.to_string().as_bytes()).to_vec()
    }

    /// The pre-encoded frame to every socket: one non-blocking write each, shards in parallel.
    fn broadcast(&self, frame: &[u8]) {
        std::thread::scope(|s| {
            for shard in &self.shards {
                s.spawn(move || shard.lock().unwrap().retain(|_, sock| matches!(sock.write(frame), Ok(n) if n == frame.len())));
            }
        });
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn floor(a: FloorArgs) -> ExitCode {
    let listener = match TcpListener::bind(a.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("scoreticker-load floor: cannot listen on {}: {e}", a.listen);
            return ExitCode::FAILURE;
        }
    };
    // std's backlog is 128; the service's is 4096, and so is this one's (a bigger value
    // on a listening socket only raises its queue).
    // SAFETY: a valid listening socket fd.
    unsafe { libc::listen(listener.as_raw_fd(), 4096) };
    let team = |i: usize, score: usize| {
        let (abbr, name) = TEAMS[i % TEAMS.len()];
        json!({"id": (i % TEAMS.len() + 1).to_string(), "name": name, "abbr": abbr, "score": score})
    };
    let updated = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // The same games, field for field, as scoreticker makes of `scoreticker-load upstream`.
    let games = (0..a.games.max(1))
        .map(|g| json!({"id": format!("bench-0:{}", 400_000_000 + g), "feed": "bench-0", "league": "nba", "sport": "basketball",
            "status": {"state": "live", "period": 3, "clock": "5:32", "detail": "5:32 - 3rd"},
            "home": team(2 * g, 60 + g), "away": team(2 * g + 1, 58 + g), "updated": updated}))
        .collect();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // SAFETY: epoll_create1 has no preconditions.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    let floor = Arc::new(Floor {
        shards: (0..cores).map(|_| Mutex::new(HashMap::new())).collect(),
        rate: AtomicU64::new(a.rate),
        epoch: format!("{:016x}", now_ms() as u64 ^ (std::process::id() as u64) << 40),
        heartbeat_s: a.heartbeat.max(1),
        state: Mutex::new(State { seq: 0, games }),
        epoll,
    });
    emit(json!({"listening": listener.local_addr().expect("bound").to_string(), "floor": true}));
    let f = floor.clone();
    std::thread::spawn(move || read_clients(&f));
    let f = floor.clone();
    std::thread::spawn(move || tick(&f));
    for conn in listener.incoming().flatten() {
        accept(&floor, conn);
    }
    ExitCode::SUCCESS
}

/// Every whole second, `rate` updates back to back; a heartbeat every `heartbeat_s`.
fn tick(f: &Floor) {
    for second in 1u64.. {
        std::thread::sleep(Duration::from_millis(1000 - (now_ms() % 1000) as u64));
        for _ in 0..f.rate.load(Relaxed) {
            let mut state = f.state.lock().unwrap();
            state.seq += 1;
            let seq = state.seq;
            let n = (seq - 1) as usize;
            let count = state.games.len();
            let g = &mut state.games[n % count];
            let side = if (n / count).is_multiple_of(2) { "home" } else { "away" };
            g[side]["score"] = json!(g[side]["score"].as_u64().unwrap_or(0) + 2);
            g["updated"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            let update = json!({"type": "update", "seq": seq, "ts": now_ms(), "changes": ["score"], "game": g});
            f.broadcast(&ws_text(update.to_string().as_bytes()));
        }
        if second % f.heartbeat_s == 0 {
            let state = f.state.lock().unwrap();
            f.broadcast(&ws_text(json!({"type": "heartbeat", "seq": state.seq, "ts": now_ms()}).to_string().as_bytes()));
        }
    }
}

/// One request, blocking (connection setup is not what the floor measures): the
/// WebSocket handshake then hello + snapshot, or `/control`, or 404.
fn accept(f: &Floor, mut sock: TcpStream) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 2048];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&req);
    let target = text.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let key = text.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-key")).map(|(_, v)| v.trim()));
    let response = match (path, key) {
        ("/ws", Some(key)) => format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        ),
        ("/control", _) => {
            if let Some(rate) = query_param(query, "rate").and_then(|r| r.parse().ok()) {
                f.rate.store(rate, Relaxed);
            }
            let body = json!({"rate": f.rate.load(Relaxed)}).to_string();
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
        }
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
    };
    let mut out = response.into_bytes();
    if key.is_none() || path != "/ws" {
        let _ = sock.write_all(&out);
        return;
    }
    let state = f.state.lock().unwrap();
    out.extend_from_slice(&ws_text(&hello(&f.epoch, state.seq, f.heartbeat_s)));
    out.extend_from_slice(&Floor::snapshot(&state, json!(["all"])));
    if sock.write_all(&out).is_err() || sock.set_nonblocking(true).is_err() {
        return;
    }
    let _ = sock.set_nodelay(true);
    let fd = sock.as_raw_fd();
    f.shard(fd).lock().unwrap().insert(fd, sock);
    drop(state);
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: fd as u64 };
    // SAFETY: a valid epoll fd and socket fd, and an event struct on the stack.
    unsafe { libc::epoll_ctl(f.epoll, libc::EPOLL_CTL_ADD, fd, &mut ev) };
}

/// The one reader thread for all sockets (epoll): answers pings, echoes a close,
/// sends a snapshot for a `subscribe`, and drops a socket at EOF.
fn read_clients(f: &Floor) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `events` is a valid buffer of the given length.
        let n = unsafe { libc::epoll_wait(f.epoll, events.as_mut_ptr(), events.len() as i32, -1) };
        for ev in events.iter().take(n.max(0) as usize) {
            let fd = ev.u64 as RawFd;
            // The lock order of the broadcast and of `accept`: state, then shard.
            let state = f.state.lock().unwrap();
            let mut shard = f.shard(fd).lock().unwrap();
            let Some(sock) = shard.get_mut(&fd) else { continue };
            let keep = match sock.read(&mut buf) {
                Ok(0) => false,
                Ok(len) => answer(&state, sock, &buf[..len]),
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            };
            if !keep {
                shard.remove(&fd);
            }
        }
    }
}

/// Client frames (masked, each assumed whole in one read: they are a few bytes);
/// returns whether to keep the socket.
fn answer(state: &State, sock: &mut TcpStream, mut data: &[u8]) -> bool {
    while data.len() >= 6 {
        let (opcode, short) = (data[0] & 0x0f, (data[1] & 0x7f) as usize);
        let (len, at) = match short {
            126 if data.len() >= 8 => (u16::from_be_bytes([data[2], data[3]]) as usize, 4),
            127 => return false,
            126 => return true,
            n => (n, 2),
        };
        let Some(masked) = data.get(at + 4..at + 4 + len) else { return true };
        let payload: Vec<u8> = masked.iter().enumerate().map(|(i, b)| b ^ data[at + i % 4]).collect();
        data = &data[at + 4 + len..];
        let reply = match opcode {
            0x9 if len <= 125 => [&[0x8a, len as u8][..], &payload].concat(),
            0x8 => [&[0x88, len.min(2) as u8][..], &payload[..len.min(2)]].concat(),
            0x1 => match serde_json::from_slice::<Value>(&payload) {
                Ok(m) if m["type"] == "subscribe" => Floor::snapshot(state, m["topics"].clone()),
                _ => continue,
            },
            _ => continue,
        };
        if sock.write(&reply).ok() != Some(reply.len()) || opcode == 0x8 {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame, as a browser or tungstenite sends it.
    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [7u8, 1, 200, 33];
        let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    #[test]
    fn answers_ping_subscribe_and_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let state = State { seq: 5, games: vec![json!({"id": "g"})] };
        let subscribe = br#"{"type":"subscribe","topics":["league:nba"]}"#;
        let input = [masked(0x9, b"hi"), masked(0x1, subscribe)].concat();
        assert!(answer(&state, &mut server, &input));
        let mut got = vec![0u8; 4096];
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut n = 0;
        while n < 4 + 2 + 2 || !got[..n].ends_with(b"}") {
            n += client.read(&mut got[n..]).unwrap();
        }
        assert_eq!(&got[..4], &[0x8a, 2, b'h', b'i'], "a pong with the ping's payload");
        let snapshot: Value = serde_json::from_slice(&got[6..n]).unwrap();
        assert_eq!((got[4], snapshot["type"].as_str(), snapshot["seq"].as_u64()), (0x81, Some("snapshot"), Some(5)));
        assert_eq!(snapshot["topics"], json!(["league:nba"]));
        // A close is echoed with its code, and the socket is let go.
        assert!(!answer(&state, &mut server, &masked(0x8, &[0x03, 0xe8])));
        let mut close = [0u8; 4];
        client.read_exact(&mut close).unwrap();
        assert_eq!(close, [0x88, 2, 0x03, 0xe8]);
    }
}
