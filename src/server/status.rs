//! `GET /status`: one page an operator opens to see whether the ticker is healthy.

use std::fmt::Write as _;

use warp::http::{header, Response};

use super::{Reply, ServerContext};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn page(ctx: &ServerContext) -> Reply {
    let feeds = ctx.health.all();
    let games = ctx.hub.games();
    let mut html = String::with_capacity(4096);
    let ready = if ctx.readiness.is_ready() { "ready" } else { "not ready" };
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="refresh" content="10"><title>scoreticker status</title>
<style>body{{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#111}}table{{border-collapse:collapse;margin:1rem 0}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}th{{background:#f3f3f3}}.bad{{color:#a00;font-weight:600}}.ok{{color:#070}}</style></head><body>
<h1>scoreticker {version}</h1>
<p><b>{ready}</b> · {clients} WebSocket clients · {games} games · epoch <code>{epoch}</code> · seq {seq}</p>
<h2>Feeds</h2><table><tr><th>feed</th><th>host</th><th>state</th><th>mode</th><th>games</th><th>last poll</th><th>last success</th><th>failures in a row</th><th>last error</th></tr>"#,
        version = env!("CARGO_PKG_VERSION"),
        clients = ctx.hub.subscriber_count(),
        games = games.len(),
        epoch = escape(&ctx.hub.epoch()),
        seq = ctx.hub.seq(),
    );
    for f in &feeds {
        let state = if f.stale {
            "<span class=bad>stale</span>".to_string()
        } else {
            format!("<span class=ok>{}</span>", escape(f.last_outcome.as_deref().unwrap_or("waiting")))
        };
        let time = |t: &Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "never".into());
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&f.feed),
            escape(&f.url_host),
            state,
            f.mode,
            f.games,
            time(&f.last_attempt),
            time(&f.last_success),
            f.consecutive_failures,
            escape(f.last_error.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</table><h2>Games</h2><table><tr><th>game</th><th>state</th><th>score</th><th>detail</th><th>updated</th></tr>");
    for g in games.iter().take(500) {
        let g = &g.game;
        let score = |s: Option<i64>| s.map(|v| v.to_string()).unwrap_or_else(|| "–".into());
        let _ = write!(
            html,
            "<tr><td>{} @ {} <small>({})</small></td><td>{:?}</td><td>{}–{}</td><td>{}</td><td>{}</td></tr>",
            escape(&g.away.abbr),
            escape(&g.home.abbr),
            escape(&g.id),
            g.status.state,
            score(g.away.score),
            score(g.home.score),
            escape(g.status.detail.as_deref().unwrap_or("")),
            escape(g.updated.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</table>");
    if let Some(cluster) = &ctx.cluster {
        let s = cluster.get();
        let _ = write!(
            html,
            "<h2>Cluster</h2><p>node <code>{node}</code> · role <b>{role}</b> · leader <code>{leader}</code> · Redis {redis} · lag {lag} events ({lag_ms} ms){mismatch}</p>",
            node = escape(&cluster.node_id),
            role = if s.leader { "leader" } else { "follower" },
            leader = escape(s.leader_id.as_deref().unwrap_or("none")),
            redis = if s.redis_up { "<span class=ok>up</span>" } else { "<span class=bad>unreachable</span>" },
            lag = s.lag_events,
            lag_ms = s.lag_ms,
            mismatch = if s.config_mismatch { " · <span class=bad>feed configuration differs from the leader's</span>" } else { "" },
        );
    }
    html.push_str("<p>Metrics: <a href=\"/metrics\">/metrics</a> · feed health as JSON: <a href=\"/api/v1/feeds\">/api/v1/feeds</a></p></body></html>");
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(bytes::Bytes::from(html))
        .expect("valid response")
}
