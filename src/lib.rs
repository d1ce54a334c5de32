//! scoreticker: live sports scores, from upstream feeds to an embeddable widget.
//!
//! The modules follow the path a score travels:
//!
//! ```text
//! config ─► feeds (poll, fetch) ─► adapters (upstream JSON → model::Game)
//!        ─► diff (what changed) ─► hub (seq, state, replay, broadcast)
//!        ─► server (WebSocket, HTTP API, widget files) ─► web/ticker.js
//! ```
//!
//! [`app`] wires them together; [`demo`] is the built-in replay that runs when
//! the binary is started with no arguments.

pub mod adapters;
pub mod app;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod diff;
pub mod feeds;
pub mod fuzzing;
pub mod hub;
pub mod model;
pub mod readiness;
pub mod server;
pub mod state;
pub mod systemd;
pub mod telemetry;
pub mod untrusted;
