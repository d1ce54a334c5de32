//! Prometheus metrics: the names, in one place, and the exporter.
//!
//! Naming follows Prometheus conventions: one `scoreticker_` prefix, base units,
//! `_total` on counters, and no high-cardinality labels (no client or game ids;
//! feed ids and topic kinds only).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const BUILD_INFO: &str = "scoreticker_build_info";
pub const CONNECTIONS_OPEN: &str = "scoreticker_connections_open";
/// Every open connection of the public listeners (plain HTTP, SSE, WebSocket).
pub const HTTP_CONNECTIONS_OPEN: &str = "scoreticker_http_connections_open";
pub const CONNECTIONS: &str = "scoreticker_connections_total";
pub const SUBSCRIPTIONS: &str = "scoreticker_subscriptions";
pub const FRAMES_SENT: &str = "scoreticker_frames_sent_total";
pub const BYTES_SENT: &str = "scoreticker_sent_bytes_total";
pub const RESYNCS: &str = "scoreticker_clients_resynced_total";
pub const CLIENTS_CLOSED: &str = "scoreticker_clients_closed_total";
pub const INBOUND_ERRORS: &str = "scoreticker_inbound_errors_total";
pub const GUARD_REJECTIONS: &str = "scoreticker_guard_rejections_total";
pub const POLLS: &str = "scoreticker_polls_total";
pub const POLL_DURATION: &str = "scoreticker_poll_duration_seconds";
pub const UPSTREAM_BYTES: &str = "scoreticker_upstream_bytes_total";
pub const REDIRECTS_REFUSED: &str = "scoreticker_redirects_refused_total";
pub const UPSTREAM_TRUNCATED: &str = "scoreticker_upstream_fields_truncated_total";
pub const FEED_STALE: &str = "scoreticker_feed_stale";
pub const FEED_GAMES: &str = "scoreticker_feed_games";
pub const EVENTS: &str = "scoreticker_events_total";
pub const UNREADABLE_SCORES: &str = "scoreticker_unreadable_scores_total";
pub const CONFIG_RELOADS: &str = "scoreticker_config_reloads_total";
pub const FEED_FILES_IGNORED: &str = "scoreticker_feed_files_ignored";
pub const STATE_WRITES: &str = "scoreticker_state_writes_total";
pub const SNAPSHOT_REQUESTS: &str = "scoreticker_snapshot_requests_total";
pub const WS_COMPRESSED: &str = "scoreticker_ws_compressed_connections_total";


static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns the handle that renders it.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(POLL_DURATION.into()),
                &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            )
            .expect("static buckets are valid")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        describe();
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        register_at_zero();
        handle
    })
}

/// Every family (and each label value known in advance) exists from the start
/// at zero: a series that appears only with its first event breaks `rate()` and
/// alerts that compare against it (Prometheus convention).
fn register_at_zero() {
    for transport in [None, Some("sse")] {
        let labels: Vec<(&'static str, &'static str)> = transport.map(|t| vec![("transport", t)]).unwrap_or_default();
        metrics::counter!(CONNECTIONS, &labels).increment(0);
        metrics::gauge!(CONNECTIONS_OPEN, &labels).increment(0.0);
        metrics::counter!(FRAMES_SENT, &labels).increment(0);
        metrics::counter!(BYTES_SENT, &labels).increment(0);
    }
    metrics::gauge!(HTTP_CONNECTIONS_OPEN).increment(0.0);
    metrics::gauge!(FEED_FILES_IGNORED).increment(0.0);
    for status in ["200", "304", "301"] {
        metrics::counter!(SNAPSHOT_REQUESTS, "status" => status).increment(0);
    }
    for kind in ["all", "league", "feed", "game", "team"] {
        metrics::gauge!(SUBSCRIPTIONS, "kind" => kind).increment(0.0);
    }
    metrics::counter!(RESYNCS).increment(0);
    metrics::counter!(WS_COMPRESSED).increment(0);
    for reason in ["slow", "silent", "too_large", "protocol", "shutdown"] {
        metrics::counter!(CLIENTS_CLOSED, "reason" => reason).increment(0);
    }
    for code in ["bad_request", "unknown_topic", "too_many_topics", "rate_limited"] {
        metrics::counter!(INBOUND_ERRORS, "code" => code).increment(0);
    }
    for guard in ["origin", "per_ip", "max_connections"] {
        metrics::counter!(GUARD_REJECTIONS, "guard" => guard).increment(0);
    }
    // Change kinds as `diff::Change::name` spells them, and removals.
    for kind in ["added", "score", "status", "period", "clock", "teams", "winner", "shootout", "situation", "series", "note", "remove"] {
        metrics::counter!(EVENTS, "kind" => kind).increment(0);
    }
    for result in ["ok", "error"] {
        metrics::counter!(CONFIG_RELOADS, "result" => result).increment(0);
        metrics::counter!(STATE_WRITES, "result" => result).increment(0);
    }
}

/// A feed's own series, at zero, as soon as it is scheduled (see `register_at_zero`).
/// `adaptive`: polled in `live` and `idle` modes rather than `fixed`.
pub fn register_feed(feed: &str, adaptive: bool) {
    let feed = feed.to_string();
    let modes: &[&'static str] = if adaptive { &["live", "idle"] } else { &["fixed"] };
    for outcome in ["ok", "not_modified", "parse_error", "timeout", "http_error", "too_large", "transport_error", "redirect_refused"] {
        for mode in modes {
            metrics::counter!(POLLS, "feed" => feed.clone(), "outcome" => outcome, "mode" => *mode).increment(0);
        }
    }
    metrics::counter!(UPSTREAM_BYTES, "feed" => feed.clone()).increment(0);
    metrics::counter!(REDIRECTS_REFUSED, "feed" => feed.clone()).increment(0);
    metrics::counter!(UNREADABLE_SCORES, "feed" => feed.clone()).increment(0);
    metrics::gauge!(FEED_STALE, "feed" => feed.clone()).increment(0.0);
    metrics::gauge!(FEED_GAMES, "feed" => feed.clone()).increment(0.0);
    let _ = metrics::histogram!(POLL_DURATION, "feed" => feed);
}

/// The exposition text for `GET /metrics`.
pub fn render() -> String {
    install().render()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(BUILD_INFO, "Always 1; the version label says which build runs.");
    describe_gauge!(CONNECTIONS_OPEN, "Client connections open now (WebSocket; SSE with transport=\"sse\").");
    describe_counter!(CONNECTIONS, "Client connections accepted (WebSocket; SSE with transport=\"sse\").");
    describe_gauge!(SUBSCRIPTIONS, "Topic subscriptions held by connected clients, by topic kind.");
    describe_counter!(FRAMES_SENT, "Frames written to clients (WebSocket; SSE with transport=\"sse\").");
    describe_counter!(BYTES_SENT, Unit::Bytes, "Bytes written to clients (WebSocket; SSE with transport=\"sse\").");
    describe_counter!(RESYNCS, "Clients that fell behind the broadcast and got a fresh snapshot.");
    describe_counter!(CLIENTS_CLOSED, "Connections closed by the server, by reason (slow, silent, too_large, protocol, shutdown).");
    describe_counter!(WS_COMPRESSED, "WebSocket connections that negotiated permessage-deflate (also counted in scoreticker_connections_total).");
    describe_counter!(INBOUND_ERRORS, "Bad client messages answered with an error frame, by error code.");
    describe_counter!(GUARD_REJECTIONS, "Connections refused by a guard (origin, per_ip, max_connections).");
    describe_gauge!(HTTP_CONNECTIONS_OPEN, "Open connections of the public listeners, of any kind, under limits.max_connections.");
    describe_counter!(POLLS, "Upstream polls, by feed, outcome and mode (fixed, live, idle: adaptive polling).");
    describe_histogram!(POLL_DURATION, Unit::Seconds, "Upstream poll duration, by feed.");
    describe_counter!(UPSTREAM_BYTES, Unit::Bytes, "Response body bytes read from upstreams, by feed.");
    describe_counter!(REDIRECTS_REFUSED, "Upstream redirects not followed (another origin, link-local address, too many), by feed.");
    describe_counter!(UPSTREAM_TRUNCATED, "Upstream strings cut to their documented cap, by feed and field.");
    describe_gauge!(FEED_STALE, "1 when a feed has had no successful poll for its staleness window.");
    describe_gauge!(FEED_GAMES, "Games in a feed's last good poll.");
    describe_counter!(EVENTS, "Events emitted by the diff, by change kind (added, score, status, period, clock, teams, winner, shootout, situation, series, note) and remove.");
    describe_counter!(UNREADABLE_SCORES, "Polled scores of begun games that were unreadable or impossible (kept at the last good value), by feed.");
    describe_counter!(CONFIG_RELOADS, "Configuration reloads, by result (ok, error).");
    describe_gauge!(FEED_FILES_IGNORED, "Entries named *.toml in the feeds directory that are not readable feed files (directory, dangling symlink, symlink loop), as of the last load.");
    describe_counter!(STATE_WRITES, "State file writes, by result (ok, error).");
    describe_counter!(SNAPSHOT_REQUESTS, "Requests that reached /api/v1/games, by status (200, 304, 301 to the canonical URL): behind a CDN, what it did not absorb.");
}

/// One client's topics in `scoreticker_subscriptions` (by kind: topics
/// themselves are unbounded), kept in line with its subscription.
#[derive(Debug, Default)]
pub struct TopicGauge {
    counted: [i64; 5],
}

impl TopicGauge {
    const KINDS: [&'static str; 5] = ["all", "league", "feed", "game", "team"];

    pub fn update(&mut self, sub: &crate::hub::Subscription) {
        use crate::hub::Topic;
        let mut now = [0i64; 5];
        for t in sub.topics() {
            now[match t {
                Topic::All => 0,
                Topic::League(_) => 1,
                Topic::Feed(_) => 2,
                Topic::Game(_) => 3,
                Topic::Team { .. } => 4,
            }] += 1;
        }
        self.set(now);
    }

    /// The client left: its topics no longer count.
    pub fn clear(&mut self) {
        self.set([0; 5]);
    }

    fn set(&mut self, now: [i64; 5]) {
        for (kind, (new, old)) in now.iter().zip(self.counted).enumerate() {
            if *new != old {
                metrics::gauge!(SUBSCRIPTIONS, "kind" => Self::KINDS[kind]).increment((new - old) as f64);
            }
        }
        self.counted = now;
    }
}
