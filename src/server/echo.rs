//! `GET /ws/echo`: the service's own echo socket, for checking that the path
//! from a browser through proxies and TLS carries WebSockets (the diagnostics
//! page uses it for round trips, large and binary messages and an idle test).
//!
//! Every text or binary message comes back as it was sent. Same upgrade, buffers
//! and caps as `/ws` (a message over `limits.max_message_bytes` closes with
//! 1009), same guards (origin list, per-IP cap), same liveness: a ping every
//! `heartbeat`, a peer silent for two intervals is closed with 1008, and one that
//! does not take its echo within `send_timeout` with 1013. An echo is written
//! before the next message is read, so a client can only flood itself.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use warp::filters::BoxedFilter;
use warp::{Filter, Reply};

use super::upgrade::{self, Socket};
use super::{guards, sse, with_ctx, ServerContext};
use crate::config::Limits;

/// `GET /ws/echo`.
pub fn route(ctx: &ServerContext) -> BoxedFilter<(warp::reply::Response,)> {
    warp::path!("ws" / "echo")
        .and(warp::get())
        .and(warp::header::optional::<String>("origin"))
        .and(warp::ext::optional::<guards::Ticket>())
        .and(upgrade::upgrade())
        .and(with_ctx(ctx))
        .map(|origin: Option<String>, ticket: Option<guards::Ticket>, upgrade: Result<upgrade::Upgrade, &'static str>, ctx: ServerContext| {
            let upgrade = match upgrade {
                Ok(u) => u,
                Err(reason) => return upgrade::refuse(reason).into_response(),
            };
            if let Err(refused) = sse::admit(&ctx, origin.as_deref()) {
                return refused.into_response();
            }
            let admission = ticket.and_then(|t| t.take());
            let config = upgrade::socket_config(ctx.limits.max_message_bytes);
            upgrade
                .into_response(config, move |socket| async move {
                    let end = run(socket, ctx.limits, ctx.shutdown).await;
                    tracing::debug!(end, "echo socket ended");
                    drop(admission);
                })
                .into_response()
        })
        .boxed()
}

/// Echoes until the peer leaves, misbehaves or the server shuts down; returns why it ended.
pub async fn run(mut socket: Socket, limits: Limits, mut shutdown: watch::Receiver<bool>) -> &'static str {
    if *shutdown.borrow() {
        close(&mut socket, CloseCode::Away, "server shutting down").await;
        return "shutdown";
    }
    let heartbeat = limits.heartbeat;
    let mut ticker = interval_at(Instant::now() + heartbeat, heartbeat);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        let reply = tokio::select! {
            inbound = socket.next() => {
                last_heard = Instant::now();
                match inbound {
                    None => return "client closed",
                    Some(Ok(Message::Close(_))) => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
                        return "client closed";
                    }
                    Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => m,
                    Some(Ok(_)) => continue, // pings are answered by tungstenite; pongs count as life
                    Some(Err(WsError::Capacity(_))) => {
                        close(&mut socket, CloseCode::Size, "message too large").await;
                        return "too large";
                    }
                    Some(Err(_)) => return "socket error",
                }
            }
            _ = shutdown.changed() => {
                close(&mut socket, CloseCode::Away, "server shutting down").await;
                return "shutdown";
            }
            _ = ticker.tick() => {
                if last_heard.elapsed() > heartbeat * 2 {
                    close(&mut socket, CloseCode::Policy, "no traffic for two heartbeats").await;
                    return "silent";
                }
                Message::Ping(Default::default())
            }
        };
        match tokio::time::timeout(limits.send_timeout, socket.send(reply)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return "socket error",
            Err(_) => {
                close(&mut socket, CloseCode::Again, "too slow: not reading").await;
                return "slow";
            }
        }
    }
}

/// Best-effort close: a peer that is not reading may never take the frame.
async fn close(socket: &mut Socket, code: CloseCode, reason: &'static str) {
    let frame = CloseFrame { code, reason: reason.into() };
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(Some(frame))).await;
}
