//! The server: the last stage before the widget. HTTP routes (warp) served from
//! our own hyper accept loop, which is what lets plain and TLS listeners share
//! one set of routes and lets the WebSocket upgrade choose its own buffers.
//!
//! The server knows the hub (events, snapshots) and the feeds' health records;
//! it knows nothing of upstream formats.

pub mod api;
pub mod assets;
pub mod core;
pub mod drain;
pub mod guards;
pub mod listen;
pub mod semantics;
pub mod sse;
pub mod status;
pub mod tls;
pub mod ws;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_service::Service;
use warp::filters::BoxedFilter;
use warp::http::{header, Response, StatusCode};
use warp::Filter;

use crate::config::{HttpSettings, Limits};
use crate::feeds::HealthBoard;
use crate::hub::Hub;
use crate::readiness::Readiness;
use crate::telemetry;

/// What the routes need.
#[derive(Clone)]
pub struct ServerContext {
    pub hub: Arc<Hub>,
    pub health: HealthBoard,
    pub limits: Limits,
    /// `[http]`: the snapshot API's caching (CDN mode).
    pub http: HttpSettings,
    pub readiness: Arc<Readiness>,
    /// The connection caps, checked by the public listeners' accept loops.
    pub gate: Arc<guards::ConnectionGate>,
    /// Turns true when the server is shutting down: sessions close with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// Cluster mode: this node's role, the leader and the lag, for `/status`.
    pub cluster: Option<Arc<crate::cluster::ClusterStatus>>,
    /// Writes each event to every WebSocket subscriber.
    pub fanout: Arc<core::Fanout>,
    pub subscribers: Arc<Subscribers>,
}

/// The client's address, put in each request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub SocketAddr);

pub type Reply = Response<bytes::Bytes>;
/// Streaming bodies (`/sse`) need warp's own response type: routes reply with it.
pub type Routes = BoxedFilter<(warp::reply::Response,)>;

fn with_ctx(ctx: &ServerContext) -> impl Filter<Extract = (ServerContext,), Error = Infallible> + Clone {
    let ctx = ctx.clone();
    warp::any().map(move || ctx.clone())
}

/// The routes of the public listener: the WebSocket, the snapshot API, the widget.
pub fn public_routes(ctx: &ServerContext) -> Routes {
    let topics_query = warp::query::raw().or(warp::any().map(String::new)).unify();

    let games = warp::path!("api" / "v1" / "games")
        .and(warp::get())
        .and(topics_query)
        .and(warp::header::optional::<String>("if-none-match"))
        .and(with_ctx(ctx))
        .map(|query: String, inm: Option<String>, ctx: ServerContext| api::games(&ctx.hub, &ctx.http, &query, inm));
    let games_preflight = warp::path!("api" / "v1" / "games").and(warp::options()).map(api::games_preflight);

    let widget = warp::path!("api" / "v1" / "widget").and(warp::get()).map(assets::widget_info);

    // The path first: a method a page does not answer is a 405 (with `Allow`), not one for every path.
    let pages = warp::path::full()
        .and_then(|path: warp::path::FullPath| async move { page(path.as_str()).ok_or_else(warp::reject::not_found) })
        .and(warp::get())
        .and(warp::header::optional::<String>("accept-encoding"))
        .and(warp::header::optional::<String>("if-none-match"))
        .map(|(asset, cache), accept: Option<String>, inm: Option<String>| assets::respond(asset, accept.as_deref(), inm.as_deref(), cache));

    let plain = games.or(games_preflight).unify().or(widget).unify().map(warp::Reply::into_response);
    ws::routes(ctx)
        .or(plain)
        .unify()
        .or(sse::route(ctx))
        .unify()
        .or(health_routes(ctx))
        .unify()
        .or(pages.map(warp::Reply::into_response))
        .unify()
        .or(semantics::wrong_method(semantics::Side::Public))
        .unify()
        .boxed()
}

/// The embedded file a public path names, and how long it may be cached. Not
/// ours (`None`): a route after the pages (the admin routes, when they share
/// the listener) may answer it; else `finish` says 404.
pub(crate) fn page(path: &str) -> Option<(&'static assets::Asset, &'static str)> {
    // Friendly names for the pages; files keep their own names.
    let (name, cache) = match path {
        "/" => ("index.html", "no-cache"),
        "/embed" => ("embed.html", "no-cache"),
        "/diagnostics" => ("diagnostics.html", "no-cache"),
        // The status page is the admin listener's (`/status`), not a public file.
        "/status.html" => return None,
        "/ticker.js" => ("ticker.js", "public, max-age=300"),
        // The major version: compatible changes only, so a day is safe.
        "/ticker.v1.js" => ("ticker.js", "public, max-age=86400"),
        other => (other.trim_start_matches('/'), "public, max-age=300"),
    };
    match assets::find(name) {
        Some(asset) => Some((asset, cache)),
        // `/ticker.<digest>.js`: content-addressed, so cacheable forever
        // and safe to pin with Subresource Integrity.
        None => assets::find_immutable(name).map(|asset| (asset, "public, max-age=31536000, immutable")),
    }
}

/// The guard every long-lived subscriber passes (`/ws`, `/ws/echo`, `/sse`):
/// the origin list (the connection caps were passed at accept). An upgrade
/// takes the connection's place under the caps along (`ticket`), since the
/// socket outlives the HTTP connection.
pub fn admit(ctx: &ServerContext, origin: Option<&str>, ticket: Option<guards::Ticket>) -> Result<Option<guards::Admission>, Box<Reply>> {
    if !guards::origin_allowed(&ctx.limits.allowed_origins, origin) {
        metrics::counter!(telemetry::GUARD_REJECTIONS, "guard" => "origin").increment(1);
        return Err(Box::new(api::error_response(StatusCode::FORBIDDEN, "forbidden_origin", "this origin may not connect")));
    }
    Ok(ticket.and_then(|t| t.take()))
}

/// This server's WebSocket and SSE clients, connected now: for the status
/// page and the shutdown's wait (the metrics recorder is write-only, and
/// process-wide).
#[derive(Debug, Default)]
pub struct Subscribers {
    ws: AtomicUsize,
    sse: AtomicUsize,
}

impl Subscribers {
    pub fn websocket(&self) -> usize {
        self.ws.load(Ordering::Relaxed)
    }

    pub fn sse(&self) -> usize {
        self.sse.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> usize {
        self.websocket() + self.sse()
    }
}

/// One connected client, counted in [`Subscribers`] and in the connection
/// metrics for as long as it lives: WebSocket and SSE the same way.
pub struct OpenClient {
    subscribers: Arc<Subscribers>,
    sse: bool,
}

impl OpenClient {
    pub fn websocket(subscribers: &Arc<Subscribers>, compressed: bool) -> OpenClient {
        metrics::counter!(telemetry::CONNECTIONS).increment(1);
        metrics::gauge!(telemetry::CONNECTIONS_OPEN).increment(1.0);
        if compressed {
            metrics::counter!(telemetry::WS_COMPRESSED).increment(1);
        }
        subscribers.ws.fetch_add(1, Ordering::Relaxed);
        OpenClient { subscribers: subscribers.clone(), sse: false }
    }

    pub fn sse(subscribers: &Arc<Subscribers>) -> OpenClient {
        metrics::counter!(telemetry::CONNECTIONS, "transport" => "sse").increment(1);
        metrics::gauge!(telemetry::CONNECTIONS_OPEN, "transport" => "sse").increment(1.0);
        subscribers.sse.fetch_add(1, Ordering::Relaxed);
        OpenClient { subscribers: subscribers.clone(), sse: true }
    }
}

impl Drop for OpenClient {
    fn drop(&mut self) {
        if self.sse {
            metrics::gauge!(telemetry::CONNECTIONS_OPEN, "transport" => "sse").decrement(1.0);
            self.subscribers.sse.fetch_sub(1, Ordering::Relaxed);
        } else {
            metrics::gauge!(telemetry::CONNECTIONS_OPEN).decrement(1.0);
            self.subscribers.ws.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// `/healthz` and `/readyz`, on every listener.
fn health_routes(ctx: &ServerContext) -> Routes {
    let healthz = warp::path!("healthz").and(warp::get()).map(|| text(StatusCode::OK, "ok\n"));
    let readyz = warp::path!("readyz").and(warp::get()).and(with_ctx(ctx)).map(|ctx: ServerContext| {
        let r = &ctx.readiness;
        if r.is_ready() {
            text(StatusCode::OK, "ready\n")
        } else if r.draining.load(Ordering::Relaxed) {
            text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        } else if !r.has_data.load(Ordering::Relaxed) {
            text(StatusCode::SERVICE_UNAVAILABLE, "starting: no state restored and no feed polled yet\n")
        } else {
            text(StatusCode::SERVICE_UNAVAILABLE, "starting: listeners not bound yet\n")
        }
    });
    healthz.or(readyz).unify().map(warp::Reply::into_response).boxed()
}

/// The operator's routes: metrics, the status page, feed health.
pub fn admin_routes(ctx: &ServerContext) -> Routes {
    let metrics = warp::path!("metrics").and(warp::get()).map(|| {
        Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
            .body(bytes::Bytes::from(telemetry::render()))
            .expect("valid response")
    });
    let feeds = warp::path!("api" / "v1" / "feeds").and(warp::get()).and(with_ctx(ctx)).map(|ctx: ServerContext| api::feeds(&ctx.health));
    metrics
        .or(feeds)
        .unify()
        .map(warp::Reply::into_response)
        .or(status::routes(ctx))
        .unify()
        .or(health_routes(ctx))
        .unify()
        .or(semantics::wrong_method(semantics::Side::Admin))
        .unify()
        .boxed()
}

/// Adds the fallbacks every listener shares: 404 and 400 as JSON errors (the
/// routes answer their own 405s, with `Allow`: [`semantics`]).
pub fn finish(routes: Routes) -> Routes {
    routes
        .recover(|rejection: warp::Rejection| async move {
            let reply = if rejection.is_not_found() {
                not_found()
            } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
                // Only a path missing from `semantics::ROUTES` gets here (without `Allow`).
                tracing::warn!("a route refused a method on a path semantics::ROUTES does not list");
                api::error_response(StatusCode::METHOD_NOT_ALLOWED, "bad_request", "method not allowed")
            } else {
                api::error_response(StatusCode::BAD_REQUEST, "bad_request", &format!("{rejection:?}"))
            };
            Ok::<_, Infallible>(warp::Reply::into_response(reply))
        })
        .unify()
        .boxed()
}

fn text(status: StatusCode, body: &'static str) -> Reply {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(bytes::Bytes::from_static(body.as_bytes()))
        .expect("valid response")
}

fn not_found() -> Reply {
    api::error_response(StatusCode::NOT_FOUND, "not_found", "no such page")
}

/// One query parameter, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How long a connection may take to send its request head (the first one:
/// hyper's header read timeout, and the accept loop's look for `/sse`).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(15);

/// The most a request's line and headers may take; more is answered 431. Also
/// hyper's read buffer, so a client trickling an endless header holds no more.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Accepts connections until `shutdown` turns true, serving `routes` on each
/// (over TLS when `tls` is given), with upgrades (WebSocket) enabled. With a
/// `gate`, each connection must pass its caps first (the public listeners).
/// One accept loop per listening socket: a public address has one socket per
/// core ([`listen`]), each served by its own call.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    tls: Option<tokio_rustls::TlsAcceptor>,
    gate: Option<Arc<guards::ConnectionGate>>,
    direct: Option<Arc<sse::direct::Direct>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = warp::service(routes);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, mostly: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let admission = match gate.as_ref().map(|g| g.admit(peer.ip())) {
            None => None,
            Some(Ok(admission)) => Some(admission),
            // Over TLS the refusal is a plain close: the handshake is part of what the cap saves.
            Some(Err(refused)) => {
                if tls.is_none() {
                    tokio::spawn(refuse_connection(stream, refused));
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let tls = tls.clone();
        let direct = direct.clone();
        tokio::spawn(async move {
            match tls {
                // An event stream asked for first is served on the connection core.
                None => match direct {
                    Some(direct) => {
                        if let Err((stream, admission)) = direct.take(stream, admission).await {
                            serve_connection(stream, peer, service, admission).await;
                        }
                    }
                    None => serve_connection(stream, peer, service, admission).await,
                },
                Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, peer, service, admission).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
}

/// Answers a connection refused at accept (429 or 503, `Connection: close`)
/// without parsing its request, then reads and drops what it sent for a moment,
/// so closing does not reset the connection before the answer is read.
async fn refuse_connection(mut stream: tokio::net::TcpStream, refused: guards::Refused) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (status, code, message) = match refused {
        guards::Refused::PerIp => ("429 Too Many Requests", "rate_limited", "too many connections from this address"),
        guards::Refused::Total => ("503 Service Unavailable", "overloaded", "the server is at its connection limit; try again later"),
    };
    let body = crate::hub::frames::error(code, message);
    // Head and body in one write: a client reading once gets the whole answer.
    let mut answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left = 64 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => left -= n.min(left),
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

async fn serve_connection<S, Svc>(stream: S, peer: SocketAddr, service: Svc, admission: Option<guards::Admission>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Svc: Service<hyper::Request<hyper::body::Incoming>, Response = warp::reply::Response, Error = Infallible> + Clone + Send + 'static,
    Svc::Future: Send,
{
    // A streaming response (SSE) whose client stopped reading ends the connection through this.
    let abort = sse::Abort::default();
    let handle = abort.clone();
    // …and waits for the connection to drain before it takes its next event.
    let drained = drain::Drained::default();
    let flushes = drained.clone();
    let ticket = admission.map(guards::Ticket::new);
    let hyper_service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(RemoteAddr(peer));
        request.extensions_mut().insert(handle.clone());
        request.extensions_mut().insert(flushes.clone());
        if let Some(ticket) = &ticket {
            request.extensions_mut().insert(ticket.clone());
        }
        let mut service = service.clone();
        async move {
            match semantics::prepare(&mut request) {
                Err(refused) => Ok(refused),
                Ok(true) => service.call(request).await.map(semantics::head_answer),
                Ok(false) => service.call(request).await,
            }
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(drain::Watched::new(stream, drained)), hyper_service)
        .with_upgrades();
    tokio::select! {
        result = connection => if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection error");
        },
        _ = abort.requested() => tracing::debug!(%peer, "connection dropped by its handler"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(query_param("topics=league%3Anba,team:nba:BOS&x=1", "topics").as_deref(), Some("league:nba,team:nba:BOS"));
        assert_eq!(query_param("x=1", "topics"), None);
        assert_eq!(query_param("topics=a%2", "topics").as_deref(), Some("a%2"));
        assert_eq!(query_param("topics=a+b", "topics").as_deref(), Some("a b"));
    }
}
