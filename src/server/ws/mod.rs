//! WebSocket: `/ws` (the ticker protocol) and `/ws/echo` (the diagnostics
//! page's echo), on one connection core.
//!
//! - [`handshake`]: the upgrade, permessage-deflate negotiated, the socket taken back from hyper.
//! - [`frame`]: frames as written (once, for everyone) and as read from a client.
//! - [`deflate`]: compress once per message, inflate with a cap (RFC 7692).
//! - [`session`] and [`echo`]: the client's side of each protocol, one sleeping reader each.
//!
//! The socket itself and the fan-out are the connection core's
//! (`server/core`), shared with Server-Sent Events.

pub mod deflate;
pub mod echo;
pub mod frame;
pub mod handshake;
pub mod session;

use warp::filters::BoxedFilter;
use warp::{Filter, Reply};

pub use crate::server::core::Fanout;
pub use session::ClientMessage;

use super::{api, guards, query_param, with_ctx, ServerContext};
use crate::server::core::{Connection, Role, Transport};

/// `GET /ws` and `GET /ws/echo`.
pub fn routes(ctx: &ServerContext) -> BoxedFilter<(warp::reply::Response,)> {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let ws = warp::path("ws")
        .and(warp::path::end())
        .and(warp::get())
        .and(query)
        .and(warp::header::optional::<String>("origin"))
        .and(warp::ext::optional::<guards::Ticket>())
        .and(handshake::upgrade())
        .and(with_ctx(ctx))
        .map(|query: String, origin: Option<String>, ticket: Option<guards::Ticket>, upgrade: Result<handshake::Upgrade, &'static str>, ctx: ServerContext| {
            let upgrade = match upgrade {
                Ok(u) => u,
                Err(reason) => return handshake::refuse(reason).into_response(),
            };
            // Topics in the URL subscribe at once; without them the client sends `subscribe`.
            let topics = match query_param(&query, "topics").filter(|t| !t.trim().is_empty()) {
                None => Vec::new(),
                Some(raw) => match api::check_topics_param(&raw, ctx.limits.max_topics_per_client) {
                    Ok(t) => t,
                    Err(refused) => return refused.into_response(),
                },
            };
            let admission = match super::admit(&ctx, origin.as_deref(), ticket) {
                Ok(a) => a,
                Err(refused) => return refused.into_response(),
            };
            let deflate = upgrade.deflate();
            // Only what the connection needs goes along: it may live for hours.
            let (fanout, subscribers) = (ctx.fanout.clone(), ctx.subscribers.clone());
            let shutdown = ctx.shutdown.clone();
            upgrade
                .into_response(move |upgraded| async move {
                    let shared = fanout.shared.clone();
                    let (hello, generation) = shared.hub.hello(shared.limits.heartbeat.as_secs().max(1));
                    let (conn, side) = Connection::new(upgraded.io, Role::Subscriber, Transport::WebSocket { deflate }, generation, shared);
                    let shutting_down = *shutdown.borrow();
                    drop(shutdown);
                    let open = super::OpenClient::websocket(&subscribers, deflate.is_some());
                    drop(subscribers);
                    session::run(conn, side, upgraded.leftover, hello, fanout, topics, shutting_down).await;
                    drop(open);
                    drop(admission);
                })
                .into_response()
        });
    let echo = warp::path!("ws" / "echo")
        .and(warp::get())
        .and(warp::header::optional::<String>("origin"))
        .and(warp::ext::optional::<guards::Ticket>())
        .and(handshake::upgrade())
        .and(with_ctx(ctx))
        .map(|origin: Option<String>, ticket: Option<guards::Ticket>, upgrade: Result<handshake::Upgrade, &'static str>, ctx: ServerContext| {
            let upgrade = match upgrade {
                Ok(u) => u,
                Err(reason) => return handshake::refuse(reason).into_response(),
            };
            let admission = match super::admit(&ctx, origin.as_deref(), ticket) {
                Ok(a) => a,
                Err(refused) => return refused.into_response(),
            };
            let deflate = upgrade.deflate();
            let (fanout, shutdown) = (ctx.fanout.clone(), ctx.shutdown.clone());
            upgrade
                .into_response(move |upgraded| async move {
                    let shared = fanout.shared.clone();
                    let (_, generation) = shared.hub.hello(1);
                    let (conn, side) = Connection::new(upgraded.io, Role::Echo, Transport::WebSocket { deflate }, generation, shared);
                    let shutting_down = *shutdown.borrow();
                    drop(shutdown);
                    echo::run(conn, side, upgraded.leftover, fanout, shutting_down).await;
                    drop(admission);
                })
                .into_response()
        });
    ws.or(echo).unify().boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// An idle connection's task is most of what it costs (see BENCHMARKS.md,
    /// idle RSS): its state must stay small. (1,240 bytes with Rust 1.95.)
    #[tokio::test]
    async fn an_idle_session_holds_little() {
        let hub = Arc::new(crate::hub::Hub::new("ep".into(), 16, 100, Duration::from_secs(600)));
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let fanout = Fanout::start(hub, crate::config::Limits::default(), shutdown);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (conn, side) = Connection::new(Ok(server), Role::Subscriber, Transport::WebSocket { deflate: None }, 0, fanout.shared.clone());
        let fut = session::run(conn.clone(), side, bytes::Bytes::new(), bytes::Bytes::new(), fanout, Vec::new(), false);
        let (task, connection) = (std::mem::size_of_val(&fut), std::mem::size_of::<crate::server::core::Connection>());
        assert!(task <= 1536 && connection <= 320, "session task {task} B, connection {connection} B");
        drop(client);
    }
}
