//! The WebSocket opening handshake (RFC 6455 §4.2), done by hand instead of
//! with `warp::ws()`.
//!
//! `warp::ws()` builds every connection with tungstenite's default 128 KiB read
//! buffer, allocated and zero-filled up front: 135 KiB of RSS per idle
//! subscriber. We answer the handshake ourselves (it is a few headers), take
//! the connection back from hyper, and keep no read buffer at all while the
//! client is idle ([`super::frame::Incoming`]). Taking the connection back also
//! gives the fan-out the plain TCP socket itself, which it writes to without a
//! task in between (`server/core`).

use std::future::Future;

use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use warp::http::{header, HeaderMap, Response, StatusCode};
use warp::Filter;

use crate::server::core::connection::Io;
use super::deflate;
use crate::server::drain::Watched;

/// The handshake's request side, checked.
pub struct Upgrade {
    accept_key: String,
    on_upgrade: OnUpgrade,
    /// What permessage-deflate was agreed on, when it was offered in a form we accept.
    deflate: Option<deflate::Agreement>,
}

/// Matches a valid WebSocket upgrade request; anything else is rejected so the
/// route can answer 426 with a readable explanation.
pub fn upgrade() -> impl Filter<Extract = (Result<Upgrade, &'static str>,), Error = std::convert::Infallible> + Clone {
    warp::header::headers_cloned().and(warp::ext::optional::<OnUpgrade>()).map(|headers: HeaderMap, on_upgrade: Option<OnUpgrade>| {
        let has_token = |name: header::HeaderName, token: &str| {
            headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
            return Err("this is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)");
        }
        if headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
            return Err("unsupported WebSocket version (Sec-WebSocket-Version must be 13)");
        }
        let key = headers.get(header::SEC_WEBSOCKET_KEY).ok_or("missing Sec-WebSocket-Key")?;
        let on_upgrade = on_upgrade.ok_or("this connection cannot be upgraded")?;
        let offers = headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS).into_iter().filter_map(|v| v.to_str().ok());
        Ok(Upgrade { accept_key: derive_accept_key(key.as_bytes()), on_upgrade, deflate: deflate::negotiate(offers) })
    })
}

/// The connection once hyper hands it over: the plain TCP stream when it is
/// one (else the upgraded I/O, e.g. TLS), and what the client sent right
/// after its handshake, already read by hyper.
pub struct Upgraded {
    pub io: Result<TcpStream, Io>,
    pub leftover: Bytes,
}

impl Upgrade {
    /// The window the session's messages are deflated with, when
    /// permessage-deflate was agreed.
    pub fn deflate(&self) -> Option<deflate::Window> {
        self.deflate.as_ref().map(|agreed| agreed.window)
    }

    /// Answers 101 and runs `session` on the connection once hyper hands it over.
    pub fn into_response<F, Fut>(self, session: F) -> Response<Bytes>
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => session(take_back(upgraded)).await,
                Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
            }
        });
        let mut response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, self.accept_key);
        if let Some(agreed) = self.deflate {
            response = response.header(header::SEC_WEBSOCKET_EXTENSIONS, agreed.response);
        }
        response.body(Bytes::new()).expect("static response parts are valid")
    }
}

/// The plain TCP stream under hyper's upgraded connection (the accept loop
/// serves plain connections as `Watched<TcpStream>`), or the upgraded I/O as is.
fn take_back(upgraded: hyper::upgrade::Upgraded) -> Upgraded {
    match upgraded.downcast::<TokioIo<Watched<TcpStream>>>() {
        // `read_buf` is a view of hyper's whole read buffer (8 KiB or more):
        // copied out, so that buffer is freed now, not at the connection's end.
        Ok(parts) => {
            let tcp = parts.io.into_inner().into_inner();
            crate::server::core::connection::release_wakers(&tcp);
            Upgraded { io: Ok(tcp), leftover: Bytes::copy_from_slice(&parts.read_buf) }
        }
        Err(upgraded) => Upgraded { io: Err(TokioIo::new(upgraded)), leftover: Bytes::new() },
    }
}

/// 426 Upgrade Required, for a plain HTTP request to a WebSocket endpoint.
pub fn refuse(reason: &'static str) -> Response<Bytes> {
    Response::builder()
        .status(StatusCode::UPGRADE_REQUIRED)
        .header(header::UPGRADE, "websocket")
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Bytes::from(format!("{reason}\n")))
        .expect("static response parts are valid")
}
