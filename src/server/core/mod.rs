//! The connection core: what every subscriber connection is, whatever its
//! transport (WebSocket or Server-Sent Events), and the fan-out that writes
//! each event to all of them.
//!
//! - [`connection`]: one socket and its writers: try a non-blocking write
//!   first, queue only if it would block; lag, slowness and closing handled
//!   once for both transports.
//! - [`fanout`]: each publication framed once per transport, written to every
//!   subscriber by one shard per core; heartbeats and dead-peer checks.
//!
//! The transports (`server/ws`, `server/sse`) only frame messages and read
//! what their clients send.

pub mod connection;
pub mod fanout;

pub use connection::{Connection, End, ReadSide, Role, Shared, Transport};
pub use fanout::Fanout;
