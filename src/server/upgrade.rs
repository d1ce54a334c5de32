//! The WebSocket upgrade, done by hand instead of with `warp::ws()`.
//!
//! `warp::ws()` builds every connection with tungstenite's default 128 KiB read
//! buffer, allocated and zero-filled up front: 135 KiB of RSS per idle subscriber.
//! A ticker's subscribers are almost all idle readers, so we answer the HTTP
//! handshake ourselves (it is a few headers) and build the stream from hyper's
//! upgraded connection with a [`WebSocketConfig`] sized for what clients
//! actually send us: small subscribe messages.

use std::future::Future;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use warp::http::{header, HeaderMap, Response, StatusCode};
use warp::Filter;

pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The config of every server-side socket: a small read buffer, no write
/// buffering (frames go straight to the kernel), bounded messages. Data frames
/// do not even pass through tungstenite's writer: the session writes the hub's
/// pre-encoded frames itself (see `session::Session::write_frame`).
pub fn socket_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

/// Allocated per socket, so kept small: clients send a few short `subscribe`
/// messages, and a rare larger one (up to the 4 KiB cap) just takes a few reads.
/// 256 rather than 512 bytes saved 0.22 KiB per idle subscriber at 19,000.
pub const READ_BUFFER_BYTES: usize = 256;
/// A frame that cannot be written at once waits here; past this a send fails.
pub const MAX_WRITE_BUFFER_BYTES: usize = 1 << 20;

/// The handshake's request side, checked.
pub struct Upgrade {
    accept_key: String,
    on_upgrade: OnUpgrade,
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
        Ok(Upgrade { accept_key: derive_accept_key(key.as_bytes()), on_upgrade })
    })
}

impl Upgrade {
    /// Answers 101 and runs `session` on the socket once hyper hands it over.
    pub fn into_response<F, Fut>(self, config: WebSocketConfig, session: F) -> Response<bytes::Bytes>
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                    session(socket).await;
                }
                Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, self.accept_key)
            .body(bytes::Bytes::new())
            .expect("static response parts are valid")
    }
}

/// 426 Upgrade Required, for a plain HTTP request to a WebSocket endpoint.
pub fn refuse(reason: &'static str) -> Response<bytes::Bytes> {
    Response::builder()
        .status(StatusCode::UPGRADE_REQUIRED)
        .header(header::UPGRADE, "websocket")
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(bytes::Bytes::from(format!("{reason}\n")))
        .expect("static response parts are valid")
}
