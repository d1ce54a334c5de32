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
//! [`app`] wires them together (the [`feeds::pipeline`] of one node, or the
//! [`cluster`] whose leader runs it for every node); [`state`] is the hub's
//! history on disk; [`demo`] is the built-in replay that runs when the binary
//! is started with no arguments.
//!
//! Imports only point down these layers (`tests/layers.rs` checks every file):
//!
//! ```text
//! model, adapters → config → diff → hub, state → feeds, cluster → server → app, systemd → demo, fuzzing, main
//! ```
//!
//! The leaves [`untrusted`], [`telemetry`] and [`readiness`] may be used from
//! any layer and use nothing else.

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
