//! Server-Sent Events: `GET /sse?topics=…`, for networks whose proxies refuse
//! or kill WebSocket upgrades.
//!
//! The same JSON objects as `/ws` (the hub's shared bytes, never serialized per
//! client), one per `data:` event. Events that move the client's position carry
//! `id: <epoch>:<seq>`, so a reconnecting `EventSource` sends `Last-Event-ID` and
//! resumes exactly like `subscribe.since` on `/ws`: the missed events, or a
//! snapshot when the ring no longer holds them. Frames that do not (`hello`,
//! `heartbeat`) carry no `id`, which leaves the client's last id as it was.
//!
//! The body is written here, not by `warp::sse`: each event is three chunks,
//! its `id:`/`data:` head, the hub's shared bytes themselves, and the blank line,
//! so a stalled client holds references to the frames every client shares, not
//! copies of them (warp's `Event` copies the data into a `String` and formats it
//! into another).
//!
//! One task per client, with the WebSocket session's semantics: no queue of its
//! own (the bounded broadcast is the queue; a client that lags it gets a fresh
//! snapshot), and a client that takes no data for `limits.send_timeout` is
//! dropped. The session makes an event only when the body asks for one, and
//! the body asks only once the last event is all in the socket
//! ([`super::drain`]): so a stalled client holds at most the frame under way,
//! as a stalled WebSocket holds the one its session is writing. (A plain
//! bounded channel would also hold the next event, the session the one after
//! it, and hyper's buffer the start of another: each a different frame per
//! stalled client, ~70 KiB more per client with large frames.) Dropping needs the connection itself: once the socket is full, hyper
//! stops polling the response body, so the body cannot end the connection. The
//! accept loop puts an [`Abort`] in each request's extensions for that.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue};
use warp::{Filter, Reply};

use super::drain::Drained;
use super::{api, query_param, with_ctx, ServerContext};
use crate::config::Limits;
use crate::hub::{frames, now_ms, Catchup, Hub, Since, Subscription, Topic};
use crate::telemetry;

/// A comment line this often keeps idle proxies from closing the stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Lets a request's handler close the whole connection it came on, even while
/// hyper is blocked writing to it (a client that stopped reading).
#[derive(Debug, Clone, Default)]
pub struct Abort(Arc<Notify>);

impl Abort {
    /// Asks the accept loop to drop the connection.
    pub fn abort(&self) {
        self.0.notify_one();
    }

    /// Resolves once [`Abort::abort`] was called.
    pub async fn requested(&self) {
        self.0.notified().await
    }
}

/// `GET /sse`.
pub mod direct;

pub fn route(ctx: &ServerContext) -> BoxedFilter<(warp::reply::Response,)> {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::path("sse")
        .and(warp::path::end())
        .and(warp::get())
        .and(query)
        .and(warp::header::optional::<String>("last-event-id"))
        .and(warp::header::optional::<String>("origin"))
        .and(warp::ext::optional::<Abort>())
        .and(warp::ext::optional::<Drained>())
        .and(with_ctx(ctx))
        .map(respond)
        .boxed()
}

fn respond(
    query: String,
    last_event_id: Option<String>,
    origin: Option<String>,
    abort: Option<Abort>,
    drained: Option<Drained>,
    ctx: ServerContext,
) -> warp::reply::Response {
    let (topics, since) = match request(&ctx, &query, last_event_id.as_deref(), origin.as_deref()) {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };

    let (tx, rx) = mpsc::channel(1);
    let demand = Arc::new(Notify::new());
    let session = Session { out: tx, demand: demand.clone(), demanded: false, hub: ctx.hub.clone(), limits: ctx.limits.clone(), sub: Subscription::default(), gauge: Default::default(), subscribers: ctx.subscribers.clone() };
    tokio::spawn(session.run(topics, since, ctx.shutdown.clone(), abort));

    let outbox = Outbox { events: rx, pending: Vec::new(), demand, drained, handed_at: None };
    let mut response = stream_response(outbox);
    // Widgets on news sites read the stream from another origin.
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// What an `/sse` request asks for, checked: its topics and where it resumes.
/// Shared by both ways an event stream is served (here and [`direct`]).
pub(super) fn request(ctx: &ServerContext, query: &str, last_event_id: Option<&str>, origin: Option<&str>) -> Result<(Vec<Topic>, Option<Since>), Box<super::Reply>> {
    // Absent or blank: every game.
    let raw = query_param(query, "topics").filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "all".into());
    let topics = api::check_topics_param(&raw, ctx.limits.max_topics_per_client)?;
    // The SSE connection stays an HTTP connection: it keeps its own place under the caps.
    super::admit(ctx, origin, None)?;
    // The header is what a reconnecting EventSource sends; the query parameter is
    // for clients that open a new one (and for proxies that strip the header).
    // The header wins: EventSource reconnects to the same URL, old parameter and all.
    let since = last_event_id.and_then(parse_event_id).or_else(|| query_param(query, "lastEventId").as_deref().and_then(parse_event_id));
    Ok((topics, since))
}

/// `retry:` with jitter: after a restart, plain EventSource clients come back
/// spread over a few seconds rather than all at once.
pub(super) fn retry_jitter() -> Duration {
    Duration::from_millis(rand::random_range(1000..5000))
}

/// A `text/event-stream` response whose events are what `rx` hands over, one
/// at a time (`/status/events` on the admin listener; `/sse` also paces its
/// session by the connection, see [`Outbox`]).
pub(super) fn event_stream(rx: mpsc::Receiver<Event>) -> warp::reply::Response {
    stream_response(Outbox { events: rx, pending: Vec::new(), demand: Arc::default(), drained: None, handed_at: None })
}

fn stream_response(outbox: Outbox) -> warp::reply::Response {
    let mut response = warp::reply::stream(outbox).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One event in one buffer: `id:` (when it moves the client), `retry:`, the
/// `data:` line (the frame's JSON: serde_json output is one line), and the
/// blank line that ends it. For events written once and shared by every
/// client of the connection core (see `direct`).
pub fn encode(id: Option<(&str, u64)>, retry: Option<Duration>, json: &[u8]) -> Bytes {
    let (head, tail) = event_head(id, retry);
    let mut event = Vec::with_capacity(head.len() + json.len() + tail.len());
    event.extend_from_slice(&head);
    event.extend_from_slice(json);
    event.extend_from_slice(&tail);
    Bytes::from(event)
}

/// What goes before an event's JSON (`id:`, `retry:`, `data:`) and after it
/// (the blank line), for an event made for one client: written around its
/// JSON, not copied with it.
pub fn event_head(id: Option<(&str, u64)>, retry: Option<Duration>) -> (Bytes, Bytes) {
    let mut head = String::new();
    if let Some((epoch, seq)) = id {
        head.push_str(&format!("id:{epoch}:{seq}\n"));
    }
    if let Some(retry) = retry {
        head.push_str(&format!("retry:{}\n", retry.as_millis()));
    }
    head.push_str("data:");
    (Bytes::from(head), Bytes::from_static(b"\n\n"))
}

/// `<epoch>:<seq>`, as this server writes `id:` lines.
pub fn parse_event_id(id: &str) -> Option<Since> {
    let (epoch, seq) = id.trim().rsplit_once(':')?;
    if epoch.is_empty() {
        return None;
    }
    Some(Since { epoch: epoch.to_string(), seq: seq.parse().ok()? })
}

/// The seq of the last event a hub frame carries (a snapshot's own seq, or a
/// replay batch's last event). Games have no `seq` key, and a `"seq":` inside a
/// JSON string would have its quotes escaped, so the last `"seq":` in the text
/// is the frame's (or its last event's).
pub fn last_seq_in(frame: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"seq\":";
    let at = frame.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let digits: &[u8] = &frame[at..];
    let end = digits.iter().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// One event as written: `head` (`id:`, `retry:`, `data:` prefix or a
/// comment), then `data`, the frame's JSON (the hub's bytes, one line), then
/// the blank line that ends the event.
#[derive(Debug)]
pub(super) struct Event {
    head: Bytes,
    data: Bytes,
}

impl Event {
    pub(super) fn new(id: Option<String>, retry: Option<Duration>, data: Bytes) -> Event {
        let mut head = String::new();
        if let Some(id) = id {
            head.push_str(&format!("id:{id}\n"));
        }
        if let Some(retry) = retry {
            head.push_str(&format!("retry:{}\n", retry.as_millis()));
        }
        head.push_str("data:");
        Event { head: Bytes::from(head), data }
    }

    pub(super) fn comment(text: &'static str) -> Event {
        Event { head: Bytes::from_static(b":"), data: Bytes::from_static(text.as_bytes()) }
    }
}

/// The response body: what the session task hands over, one event at a time,
/// as its three chunks. It asks the session for the next event only when hyper
/// asks it for a chunk it does not have and the last event has been written, so the session notices within
/// `send_timeout` when the client stops taking them, holding none meanwhile.
struct Outbox {
    events: mpsc::Receiver<Event>,
    /// The rest of the event being written, last chunk first.
    pending: Vec<Bytes>,
    /// Signalled each time hyper wants a chunk and none is waiting.
    demand: Arc<Notify>,
    /// The connection's flushes (absent outside the accept loop): the next
    /// event is taken only once the last one is all in the socket.
    drained: Option<Drained>,
    /// The flush count when the last event's last chunk was handed to hyper.
    handed_at: Option<u64>,
}

impl futures_util::Stream for Outbox {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(chunk) = self.pending.pop() {
            if self.pending.is_empty() {
                self.handed_at = self.drained.as_ref().map(Drained::count);
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let (Some(drained), Some(at)) = (&self.drained, self.handed_at) {
            // Registered before reading the count, so a flush in between still wakes us.
            drained.wake_at_next_flush(cx.waker());
            if drained.count() <= at {
                return Poll::Pending;
            }
            self.handed_at = None;
        }
        let polled = self.events.poll_recv(cx);
        if polled.is_pending() {
            // hyper has room for more: the session may make the next event.
            self.demand.notify_one();
        }
        polled.map(|event| {
            event.map(|Event { head, data }| {
                self.pending.push(Bytes::from_static(b"\n\n"));
                self.pending.push(data);
                Ok(head)
            })
        })
    }
}

#[derive(Debug)]
enum End {
    ClientGone,
    TooSlow,
    Shutdown,
}

static FRAMES_SENT: LazyLock<metrics::Counter> = LazyLock::new(|| metrics::counter!(telemetry::FRAMES_SENT, "transport" => "sse"));
static BYTES_SENT: LazyLock<metrics::Counter> = LazyLock::new(|| metrics::counter!(telemetry::BYTES_SENT, "transport" => "sse"));

struct Session {
    out: mpsc::Sender<Event>,
    /// The body's requests for the next event (see [`Outbox`]).
    demand: Arc<Notify>,
    /// The body asked and no event has been handed over since.
    demanded: bool,
    hub: Arc<Hub>,
    limits: Limits,
    sub: Subscription,
    gauge: telemetry::TopicGauge,
    subscribers: Arc<super::Subscribers>,
}

impl Session {
    async fn run(mut self, topics: Vec<Topic>, since: Option<Since>, shutdown: watch::Receiver<bool>, abort: Option<Abort>) {
        let open = super::OpenClient::sse(&self.subscribers);
        let end = self.serve(topics, since, shutdown).await;
        self.gauge.clear();
        drop(open);
        match end {
            End::TooSlow => {
                tracing::info!("SSE client did not read for {:?}; closing its connection", self.limits.send_timeout);
                metrics::counter!(telemetry::CLIENTS_CLOSED, "reason" => "slow").increment(1);
                if let Some(abort) = abort {
                    abort.abort();
                }
            }
            End::Shutdown => metrics::counter!(telemetry::CLIENTS_CLOSED, "reason" => "shutdown").increment(1),
            End::ClientGone => {}
        }
        tracing::debug!(?end, "SSE session ended");
    }

    async fn serve(&mut self, topics: Vec<Topic>, since: Option<Since>, mut shutdown: watch::Receiver<bool>) -> End {
        match self.stream(topics, since, &mut shutdown).await {
            Ok(never) => match never {},
            Err(end) => end,
        }
    }

    async fn stream(&mut self, topics: Vec<Topic>, since: Option<Since>, shutdown: &mut watch::Receiver<bool>) -> Result<Infallible, End> {
        let heartbeat = self.limits.heartbeat;
        let (hello, _, mut events) = self.hub.connect(heartbeat.as_secs().max(1));
        let retry = retry_jitter();
        let len = hello.len();
        self.send(Event::new(None, Some(retry), hello), len, shutdown).await?;
        if let Some(since) = &since {
            self.hub.catch_up_to(since).await;
        }
        let catchup = self.hub.subscribe(&mut self.sub, &topics, since.as_ref());
        self.gauge.update(&self.sub);
        match catchup {
            Catchup::Snapshot(frame) | Catchup::Replay(Some(frame)) => {
                let seq = last_seq_in(&frame);
                self.send_frame(frame, seq, shutdown).await?;
            }
            Catchup::Replay(None) => {} // nothing missed: the client's last id stands
        }
        if *shutdown.borrow() {
            return Err(End::Shutdown);
        }
        let mut beat = interval_at(Instant::now() + heartbeat, heartbeat);
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut keep_alive = interval_at(Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);

        loop {
            // Nothing is taken from the broadcast (nor a snapshot made) before
            // hyper has room for it: a stalled client holds no frame here.
            self.wait_for_demand(shutdown).await?;
            tokio::select! {
                published = events.recv() => match published {
                    Ok(p) => {
                        if let Some(frame) = p.frame_for(&self.sub) {
                            // Current on every topic up to the publication's last seq,
                            // whichever of its events matched.
                            self.send_frame(frame, Some(p.last_seq()), shutdown).await?;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "SSE client fell behind the broadcast; resyncing with a snapshot");
                        metrics::counter!(telemetry::RESYNCS).increment(1);
                        let snapshot = self.hub.resync(&mut self.sub);
                        let seq = last_seq_in(&snapshot);
                        self.send_frame(snapshot, seq, shutdown).await?;
                    }
                    Err(RecvError::Closed) => return Err(End::Shutdown),
                },
                // Ending the body ends the response cleanly; EventSource reconnects.
                _ = shutdown.changed() => return Err(End::Shutdown),
                _ = beat.tick() => {
                    let frame = frames::heartbeat(self.hub.seq(), now_ms());
                    let len = frame.len();
                    self.send(Event::new(None, None, frame), len, shutdown).await?;
                }
                _ = keep_alive.tick() => self.send(Event::comment("keep-alive"), 0, shutdown).await?,
                _ = self.out.closed() => return Err(End::ClientGone),
            }
        }
    }

    /// A hub frame (serde_json output: one line, so one `data:` line) with the
    /// `id` of the last seq it brings the client to, when it moves it.
    async fn send_frame(&mut self, frame: Bytes, seq: Option<u64>, shutdown: &mut watch::Receiver<bool>) -> Result<(), End> {
        let len = frame.len();
        let id = seq.map(|seq| format!("{}:{seq}", self.hub.epoch()));
        self.send(Event::new(id, None, frame), len, shutdown).await
    }

    /// Waits until the body asks for an event: at most `send_timeout` for
    /// hyper to make room (the client to take what was sent before). Returns at
    /// once when the body asked while the session was busy elsewhere.
    async fn wait_for_demand(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), End> {
        if self.demanded {
            return Ok(());
        }
        tokio::select! {
            asked = tokio::time::timeout(self.limits.send_timeout, self.demand.notified()) => match asked {
                Ok(()) => {
                    self.demanded = true;
                    Ok(())
                }
                Err(_) => Err(End::TooSlow),
            },
            _ = shutdown.changed() => Err(End::Shutdown),
            _ = self.out.closed() => Err(End::ClientGone),
        }
    }

    /// Hands one event to the body once it asks for one (see
    /// [`Session::wait_for_demand`]). `len`: the frame's bytes, for the
    /// metrics (0 for comments, which are not frames).
    async fn send(&mut self, event: Event, len: usize, shutdown: &mut watch::Receiver<bool>) -> Result<(), End> {
        self.wait_for_demand(shutdown).await?;
        self.demanded = false;
        // The body asked with an empty channel, so the slot is free; `send`
        // rather than `try_send` only so that a spurious ask cannot lose an event.
        match tokio::time::timeout(self.limits.send_timeout, self.out.send(event)).await {
            Ok(Ok(())) => {
                if len > 0 {
                    FRAMES_SENT.increment(1);
                    BYTES_SENT.increment(len as u64);
                }
                Ok(())
            }
            Ok(Err(_)) => Err(End::ClientGone),
            Err(_) => Err(End::TooSlow),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Change;

    #[test]
    fn event_ids_parse() {
        assert_eq!(parse_event_id("7f3a9c0e1b2d4f65:1042"), Some(Since { epoch: "7f3a9c0e1b2d4f65".into(), seq: 1042 }));
        assert_eq!(parse_event_id(" a:b:7 "), Some(Since { epoch: "a:b".into(), seq: 7 }));
        for bad in ["", "1042", ":5", "e:", "e:x", "e:-1"] {
            assert_eq!(parse_event_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_last_seq_of_each_frame_kind() {
        let game = br#"{"id":"f:1","status":{"detail":"\"seq\":99 in a string"}}"#;
        let update = frames::update(12, 5, &[Change::Score], game);
        assert_eq!(last_seq_in(&update), Some(12));
        let remove = frames::remove(13, 5, "f:1");
        let batch = frames::batch([&update[..], &remove[..]].into_iter());
        assert_eq!(last_seq_in(&batch), Some(13));
        let snapshot = frames::snapshot(40, 5, &["all".into()], [&game[..], &game[..]].into_iter());
        assert_eq!(last_seq_in(&snapshot), Some(40));
        assert_eq!(last_seq_in(&frames::hello("e", 3, 20)), Some(3));
        assert_eq!(last_seq_in(b"{}"), None);
    }

    /// A session and its body, as `respond` wires them, on a hub with one game.
    fn session(send_timeout: Duration) -> (Outbox, watch::Sender<bool>, tokio::task::JoinHandle<End>) {
        let hub = Arc::new(Hub::new("ep".into(), 16, 100, Duration::from_secs(600)));
        let limits = Limits { send_timeout, ..Limits::default() };
        let (tx, rx) = mpsc::channel(1);
        let demand = Arc::new(Notify::new());
        let mut session = Session { out: tx, demand: demand.clone(), demanded: false, hub, limits, sub: Subscription::default(), gauge: Default::default(), subscribers: Default::default() };
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(async move { session.serve(vec![Topic::All], None, shutdown).await });
        (Outbox { events: rx, pending: Vec::new(), demand, drained: None, handed_at: None }, stop, task)
    }

    /// The memory bound of a stalled client: while hyper does not ask the body
    /// for a chunk (its write buffer is full), the session hands over nothing,
    /// so no frame waits in the channel, and it ends as too slow after
    /// `send_timeout`. (Before, the channel's slot took the first event at once
    /// and the session held the next.)
    #[tokio::test]
    async fn a_body_that_is_never_polled_gets_no_event_and_its_session_ends_too_slow() {
        let (mut outbox, _stop, task) = session(Duration::from_millis(200));
        let end = task.await.unwrap();
        assert!(matches!(end, End::TooSlow), "{end:?}");
        assert!(outbox.events.recv().await.is_none(), "an event was queued for a body that never asked");
    }

    /// A body that is polled gets the hello and the snapshot, each as its three
    /// chunks, one event per ask.
    #[tokio::test]
    async fn a_polled_body_gets_the_hello_then_the_snapshot() {
        use futures_util::StreamExt;
        let (mut outbox, stop, task) = session(Duration::from_secs(30));
        let mut text = String::new();
        while text.matches("\n\n").count() < 2 {
            let chunk = outbox.next().await.expect("the stream goes on").unwrap();
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        assert!(text.starts_with("retry:"), "{text}");
        assert!(text.contains("\"type\":\"hello\""), "{text}");
        assert!(text.contains("\"type\":\"snapshot\""), "{text}");
        stop.send(true).unwrap();
        assert!(matches!(task.await.unwrap(), End::Shutdown));
    }
}
