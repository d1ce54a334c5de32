//! `GET /ws/echo`: the service's own echo socket, for checking that the path
//! from a browser through proxies and TLS carries WebSockets (the diagnostics
//! page uses it for round trips, large and binary messages and an idle test).
//!
//! Every text or binary message comes back as it was sent. The same connection
//! core as `/ws`: the same upgrade, caps (a message over
//! `limits.max_message_bytes` closes with 1009), guards, and liveness (its
//! shard pings every `heartbeat` and closes a peer silent for two with 1008; a
//! peer that does not take its echoes within `send_timeout` gets 1013). An
//! echo must be out before the next message is read, so a client can only
//! flood itself.

use std::sync::Arc;

use bytes::Bytes;

use crate::server::core::connection::{Connection, ReadSide};
use crate::server::core::Fanout;
use super::frame::{self, code, Inbound};
use super::session::Reader;

/// Echoes until the peer leaves, misbehaves or the server shuts down.
pub async fn run(conn: Arc<Connection>, side: ReadSide, leftover: Bytes, fanout: Arc<Fanout>, shutting_down: bool) {
    let shard = fanout.join(conn.clone());
    if shutting_down {
        conn.close(code::AWAY, "server shutting down", crate::server::core::End::ServerShutdown);
    }
    let mut reader = Reader::new(&conn, side, &leftover);
    while let Some(message) = reader.next(&conn).await {
        match message {
            Inbound::Text(text) => conn.send(conn.message(&Bytes::from(text.into_bytes()), None)),
            Inbound::Binary(data) => conn.send(frame::binary(&data)),
            // Control frames are the reader's: it never returns them.
            Inbound::Ping(_) | Inbound::Pong | Inbound::Close(_) => {}
        }
    }
    let end = fanout.leave(&conn, shard);
    tracing::debug!(?end, "echo socket ended");
}
