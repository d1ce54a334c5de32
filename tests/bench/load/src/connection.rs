//! One subscriber's WebSocket connection: connect from a chosen source address,
//! get current (hello, snapshot or replay), and read frames, accounting each.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::counters::Shared;
use crate::deflate::{server_frame_wire, DeflateWs, Text};
use crate::frames::{classify, Kind};
use crate::measure::now_us;

/// Where the subscribers connect, and what they subscribe to.
pub struct Target {
    pub addr: SocketAddr,
    /// Where reconnects go (`--storm-url`; else `addr` and `bare_url`).
    pub resume_addr: SocketAddr,
    pub resume_url: String,
    /// The URL as given (initial connections).
    pub url: String,
    /// Without the query (reconnects send `subscribe` with `since`).
    pub bare_url: String,
    pub url_has_topics: bool,
    pub topics: Vec<String>,
    /// Only a subscription to everything sees every seq, so only then is a gap a miss.
    pub check_seq: bool,
    /// `--deflate`: offer permessage-deflate (through [`crate::deflate`]).
    pub deflate: bool,
}

/// `ws://host:port/path?query` → (`host:port`, `/path?query`).
pub fn host_and_path(url: &str) -> Result<(&str, &str), String> {
    let rest = url.strip_prefix("ws://").ok_or("the URL must start with ws://")?;
    Ok(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

pub fn parse_target(url: &str) -> Result<Target, String> {
    let (hostport, path) = host_and_path(url)?;
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("{hostport}: {e}"))?
        .find(|a| a.is_ipv4())
        .ok_or(format!("{hostport}: no IPv4 address"))?;
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    // The service's own query-string reader, so both decode `topics` alike.
    let topics: Vec<String> = scoreticker::server::query_param(query, "topics")
        .map(|t| t.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect())
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
        deflate: false,
    })
}

#[derive(Default)]
pub struct ClientState {
    pub epoch: String,
    /// The last seq this client is current as of (snapshot or event).
    pub last_seq: Option<u64>,
}

/// Accounts one text message (`wire`: what it took on the wire, compressed or not); returns what it was.
pub fn on_frame(buf: &[u8], wire: usize, st: &mut ClientState, sh: &Shared, check_seq: bool, syncing: bool) -> Kind {
    sh.frames.fetch_add(1, Relaxed);
    sh.bytes.fetch_add(buf.len() as u64, Relaxed);
    sh.wire_bytes.fetch_add(wire as u64, Relaxed);
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
            sh.update_wire_bytes.fetch_add(wire as u64, Relaxed);
        }
        Kind::Batch => {
            sh.batch_frames.fetch_add(1, Relaxed);
            sh.batch_bytes.fetch_add(buf.len() as u64, Relaxed);
            sh.batch_wire_bytes.fetch_add(wire as u64, Relaxed);
        }
        Kind::Snapshot { seq } => {
            st.last_seq = Some(*seq);
            sh.snapshot_bytes.fetch_max(buf.len() as u64, Relaxed);
            sh.snapshot_wire_bytes.fetch_max(wire as u64, Relaxed);
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

/// One subscriber's connection: through tungstenite, or (`--deflate`) through
/// [`crate::deflate`], which negotiates compression.
pub enum Ws {
    Plain(WebSocketStream<TcpStream>),
    Deflate(DeflateWs),
}

impl Ws {
    /// The next text message and its wire size; `Err` is why the connection ended
    /// (`close CODE (reason)`, `error: …`, `eof`). Cancel-safe.
    pub async fn next_text(&mut self) -> Result<Text, String> {
        let ws = match self {
            Ws::Plain(ws) => ws,
            Ws::Deflate(ws) => return ws.next_text().await,
        };
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let payload = Bytes::from(t);
                    return Ok(Text { wire: server_frame_wire(payload.len()), payload });
                }
                Some(Ok(Message::Close(f))) => return Err(close_reason(f.as_ref())),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("error: {e}")),
                None => return Err("eof".into()),
            }
        }
    }

    pub async fn send_text(&mut self, text: String) -> Result<(), String> {
        match self {
            Ws::Plain(ws) => ws.send(Message::Text(text.into())).await.map_err(|e| e.to_string()),
            Ws::Deflate(ws) => ws.send_text(&text).await,
        }
    }
}

pub async fn open(src: Ipv4Addr, dst: SocketAddr, url: &str, deflate: bool) -> Result<Ws, String> {
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
    if deflate {
        let (host, path) = host_and_path(url)?;
        return Ok(Ws::Deflate(DeflateWs::handshake(stream, host, path).await?));
    }
    let config = WebSocketConfig::default().read_buffer_size(8192).write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(Ws::Plain(ws))
}

pub fn close_reason(f: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    match f {
        Some(f) => format!("close {} ({})", u16::from(f.code), f.reason.as_str()),
        None => "close (no code)".into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Catch {
    Snapshot,
    Replay,
    UpToDate,
}

/// Connects and gets current: hello, then a snapshot (fresh) or, with `resume`, a
/// `subscribe` with `since` answered by a replay, a snapshot, or nothing (up to date).
pub async fn sync(t: &Target, src: Ipv4Addr, st: &mut ClientState, sh: &Shared, resume: bool) -> Result<(Ws, Catch), String> {
    let url = if resume { &t.resume_url } else if !t.url_has_topics { &t.bare_url } else { &t.url };
    let mut ws = open(src, if resume { t.resume_addr } else { t.addr }, url, t.deflate).await?;
    if let Ws::Deflate(d) = &ws {
        sh.count_negotiation(d.accepted.as_ref().map(|a| a.response.as_str()));
    }
    let old_epoch = std::mem::take(&mut st.epoch);
    let hello_seq = loop {
        let text = ws.next_text().await?;
        match on_frame(&text.payload, text.wire, st, sh, false, true) {
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
        ws.send_text(msg.to_string()).await.map_err(|e| format!("send subscribe: {e}"))?;
    }
    if let Some((epoch, seq)) = &since {
        if *epoch == st.epoch && *seq == hello_seq {
            return Ok((ws, Catch::UpToDate));
        }
    }
    loop {
        let text = ws.next_text().await?;
        match on_frame(&text.payload, text.wire, st, sh, t.check_seq, true) {
            Kind::Snapshot { .. } => return Ok((ws, Catch::Snapshot)),
            Kind::Event | Kind::Batch if resume => return Ok((ws, Catch::Replay)),
            Kind::Error(e) => return Err(format!("error frame: {e}")),
            _ => {}
        }
    }
}

pub enum End {
    Storm,
    Closed(String),
}

pub async fn read_loop(ws: &mut Ws, st: &mut ClientState, sh: &Shared, t: &Target, storm: &mut watch::Receiver<u64>) -> End {
    let mut storm_live = true;
    loop {
        tokio::select! {
            biased;
            changed = storm.changed(), if storm_live => match changed {
                Ok(()) => return End::Storm,
                Err(_) => storm_live = false,
            },
            msg = ws.next_text() => match msg {
                Ok(text) => {
                    on_frame(&text.payload, text.wire, st, sh, t.check_seq, false);
                }
                Err(reason) => return End::Closed(reason),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target("ws://127.0.0.1:8080/ws?topics=league%3Anba,all").unwrap();
        assert_eq!(t.bare_url, "ws://127.0.0.1:8080/ws");
        assert_eq!(t.topics, vec!["league:nba", "all"]);
        assert!(t.url_has_topics);
        assert!(!t.check_seq);
        let all = parse_target("ws://127.0.0.1:1/ws?topics=all").unwrap();
        assert!(all.check_seq);
        let bare = parse_target("ws://127.0.0.1:1/ws").unwrap();
        assert!(!bare.url_has_topics);
        assert_eq!(bare.topics, vec!["all"]);
        assert!(parse_target("http://127.0.0.1:1/ws").is_err());
    }
}
