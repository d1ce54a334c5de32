//! The human-readable report of a `subscribe` or `storm` result (without `--json`).

use serde_json::Value;

pub fn fmt_ms(v: &Value) -> String {
    match v.as_f64() {
        None => "–".into(),
        Some(ms) if ms < 10.0 => format!("{ms:.1}"),
        Some(ms) => format!("{ms:.0}"),
    }
}

pub fn fmt_num(v: &Value, decimals: usize) -> String {
    v.as_f64().map(|x| format!("{x:.decimals$}")).unwrap_or_else(|| "–".into())
}

pub fn print_human(r: &Value) {
    println!(
        "{} {}: {} of {} connected ({} failed) in {:.1}s",
        r["mode"].as_str().unwrap_or(""),
        r["url"].as_str().unwrap_or(""),
        r["connected"],
        r["subscribers"],
        r["failed"],
        r["connect_secs"].as_f64().unwrap_or(0.0)
    );
    if let Some(tcp) = r["connect_tcp"].as_object().filter(|t| t.values().any(|v| v.as_u64() != Some(0))) {
        println!("  kernel TCP counters while connecting: {}", Value::Object(tcp.clone()));
    }
    if let Some(errors) = r["connect_errors"].as_object().filter(|e| !e.is_empty()) {
        println!("  connect errors: {}", Value::Object(errors.clone()));
    }
    if let Some(c) = r.get("compression") {
        println!(
            "  permessage-deflate: {} ({} accepted, {} declined); snapshot on the wire {} bytes of {} ({} %)",
            c["state"].as_str().unwrap_or(""),
            c["accepted"],
            c["declined"],
            r["snapshot_wire_bytes"],
            r["snapshot_bytes"],
            fmt_num(&c["snapshot_wire_percent"], 1)
        );
    }
    if let Some(s) = r.get("server").filter(|s| !s.is_null()) {
        println!(
            "  server RSS: {} KiB before, {} KiB with the subscribers idle, {} KiB at the end: {} KiB per subscriber",
            s["rss_before_kib"], s["rss_idle_kib"], s["rss_end_kib"], fmt_num(&s["rss_per_subscriber_kib"], 2)
        );
    }
    for p in r["phases"].as_array().into_iter().flatten() {
        println!(
            "  {}{:.1}s: {} deliveries ({:.0}/s), {:.0} frames/s, update frame {} bytes ({} on the wire); latency p50 {} p90 {} p99 {} max {} ms; server CPU {} µs/delivery ({}%); missed {}, resyncs {}, disconnects {} {}",
            p["rate"].as_u64().map(|r| format!("rate {r}, ")).unwrap_or_default(),
            p["secs"].as_f64().unwrap_or(0.0),
            p["deliveries"],
            p["deliveries_per_s"].as_f64().unwrap_or(0.0),
            p["frames_per_s"].as_f64().unwrap_or(0.0),
            fmt_num(&p["update_frame_bytes"], 0),
            fmt_num(&p["update_frame_wire_bytes"], 0),
            fmt_ms(&p["latency_ms"]["p50"]),
            fmt_ms(&p["latency_ms"]["p90"]),
            fmt_ms(&p["latency_ms"]["p99"]),
            fmt_ms(&p["latency_ms"]["max"]),
            fmt_num(&p["cpu_us_per_delivery"], 2),
            fmt_num(&p["server_cpu_percent"], 0),
            p["missed"],
            p["resyncs"],
            p["disconnects"],
            if p["closes"].as_object().is_some_and(|c| !c.is_empty()) { p["closes"].to_string() } else { String::new() },
        );
    }
    if let Some(s) = r.get("storm") {
        println!(
            "  storm: {} of {} resumed, all within {} ms (p50 {} p99 {}); {} failed; {}; missed {}, duplicates {}",
            s["resumed"],
            s["expected"],
            fmt_ms(&s["all_resumed_ms"]),
            fmt_ms(&s["resume_ms"]["p50"]),
            fmt_ms(&s["resume_ms"]["p99"]),
            s["failed"],
            s["catch"],
            s["missed"],
            s["duplicates"]
        );
        if s["errors"].as_object().is_some_and(|e| !e.is_empty()) {
            println!("  storm errors: {}", s["errors"]);
        }
        println!("  kernel TCP counters during the storm: {}", s["tcp"]);
    }
}
