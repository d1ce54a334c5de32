//! `table`: the benchmark table (markdown) from the JSON results of the other
//! commands, as BENCHMARKS.md shows it.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::cli::TableArgs;
use crate::report::{fmt_ms, fmt_num};

pub fn read_json(path: &Option<PathBuf>) -> Result<Option<Value>, String> {
    match path {
        None => Ok(None),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_str(&text).map(Some).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

/// One rate step, judged: offered = updates/s × connected subscribers.
pub struct Step {
    pub rate: u64,
    pub offered: f64,
    pub delivered: f64,
    pub p99: f64,
    pub clean: bool,
    pub other_cpu: Value,
}

pub fn steps_of(runs: &[&Value]) -> Vec<Step> {
    let mut steps = Vec::new();
    for run in runs {
        let connected = run["connected"].as_f64().unwrap_or(0.0);
        for p in run["phases"].as_array().into_iter().flatten() {
            let rate = p["rate"].as_u64().unwrap_or(1);
            steps.push(Step {
                rate,
                offered: rate as f64 * connected,
                delivered: p["deliveries_per_s"].as_f64().unwrap_or(0.0),
                p99: p["latency_ms"]["p99"].as_f64().unwrap_or(f64::INFINITY),
                clean: p["disconnects"].as_u64() == Some(0) && p["missed"].as_u64() == Some(0),
                other_cpu: p["other_cpu_percent"].clone(),
            });
        }
    }
    steps.sort_by_key(|s| s.rate);
    steps
}

/// The highest delivery rate a server kept up with: every offered delivery made
/// (95 %), no disconnects, no misses, and p99 under `bound_ms`.
pub fn best_step(steps: &[Step], bound_ms: f64) -> Option<&Step> {
    steps
        .iter()
        .filter(|s| s.clean && s.delivered >= 0.95 * s.offered && s.p99 < bound_ms)
        .max_by(|a, b| a.delivered.total_cmp(&b.delivered))
}

pub fn step_text(s: Option<&Step>) -> String {
    match s {
        Some(s) => format!("{:.0} ({}/s, p99 {} ms)", s.delivered, s.rate, fmt_ms(&json!(s.p99))),
        None => "none".into(),
    }
}

pub fn table(a: &TableArgs) -> Result<String, String> {
    let mut out = String::new();
    let rows = [
        (&a.service_name, read_json(&a.service_main)?, read_json(&a.service_sat)?, read_json(&a.service_idle)?),
        (&a.node_name, read_json(&a.node_main)?, read_json(&a.node_sat)?, read_json(&a.node_idle)?),
    ];
    out.push_str(&format!(
        "| server | connected | snapshot bytes | update frame bytes | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/delivery | RSS KiB/subscriber | saturation: deliveries/s kept up with, p99 < {} ms | … with p99 < {} ms |\n",
        a.saturation_p99_ms, a.sustained_p99_ms
    ));
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut notes = Vec::new();
    for (name, main, sat, _) in &rows {
        let Some(main) = main else { continue };
        let p = main["phases"].get(0).cloned().unwrap_or(Value::Null);
        let runs: Vec<&Value> = [Some(main), sat.as_ref()].into_iter().flatten().collect();
        let steps = steps_of(&runs);
        let (strict, loose) = if sat.is_some() {
            (step_text(best_step(&steps, a.saturation_p99_ms)), step_text(best_step(&steps, a.sustained_p99_ms)))
        } else {
            ("–".into(), "–".into())
        };
        out.push_str(&format!(
            "| {name} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {strict} | {loose} |\n",
            main["connected"],
            main["subscribers"],
            main["snapshot_bytes"],
            fmt_num(&p["update_frame_bytes"], 0),
            fmt_num(&p["deliveries_per_s"], 0),
            fmt_ms(&p["latency_ms"]["p50"]),
            fmt_ms(&p["latency_ms"]["p90"]),
            fmt_ms(&p["latency_ms"]["p99"]),
            fmt_ms(&p["latency_ms"]["max"]),
            fmt_num(&p["cpu_us_per_delivery"], 2),
            fmt_num(&main["server"]["rss_per_subscriber_kib"], 2),
        ));
        if sat.is_some() {
            let list: Vec<String> = steps
                .iter()
                .map(|s| {
                    format!(
                        "{}/s: {:.0} of {:.0} ({:.0} %), p99 {} ms, other processes {} % CPU",
                        s.rate,
                        s.delivered,
                        s.offered,
                        100.0 * s.delivered / s.offered.max(1.0),
                        fmt_ms(&json!(s.p99)),
                        fmt_num(&s.other_cpu, 0)
                    )
                })
                .collect();
            notes.push(format!("{name} rate steps (delivered of offered deliveries/s): {}", list.join("; ")));
        }
        notes.push(format!(
            "{name} main window, CPU in % of one core: server {}, load clients {}, other processes on the machine {}",
            fmt_num(&p["server_cpu_percent"], 0),
            fmt_num(&p["clients_cpu_percent"], 0),
            fmt_num(&p["other_cpu_percent"], 0)
        ));
        let closes = p["closes"].as_object().filter(|c| !c.is_empty());
        if p["missed"].as_u64().unwrap_or(0) > 0 || p["resyncs"].as_u64().unwrap_or(0) > 0 || closes.is_some() {
            notes.push(format!("{name}: missed {}, resyncs {}, closes {}", p["missed"], p["resyncs"], p["closes"]));
        }
    }
    out.push('\n');
    for (name, _, _, idle) in &rows {
        if let Some(idle) = idle {
            out.push_str(&format!(
                "Idle RSS, {name}: {} subscribers connected ({}-byte snapshot each), {} KiB before → {} KiB: **{} KiB per subscriber**\n",
                idle["connected"],
                idle["snapshot_bytes"],
                idle["server"]["rss_before_kib"],
                idle["server"]["rss_idle_kib"],
                fmt_num(&idle["server"]["rss_per_subscriber_kib"], 2)
            ));
        }
    }
    if let Some(storm) = read_json(&a.service_storm)? {
        let s = &storm["storm"];
        out.push_str(&format!(
            "Reconnect storm, {}: {} clients dropped, stayed away {} ms, reconnected at once with `since`: {} of {} resumed, all within {} ms (p50 {}, p99 {}); {} ; failed {}; missed events {}, duplicates {}\n",
            a.service_name,
            s["expected"],
            storm["down_ms"],
            s["resumed"],
            s["expected"],
            fmt_ms(&s["all_resumed_ms"]),
            fmt_ms(&s["resume_ms"]["p50"]),
            fmt_ms(&s["resume_ms"]["p99"]),
            s["catch"],
            s["failed"],
            s["missed"],
            s["duplicates"],
        ));
        if let Some(tcp) = s["tcp"].as_object() {
            out.push_str(&format!(
                "Kernel TCP counters during the storm: listen queue overflows {}, SYN retransmits {}\n",
                tcp.get("ListenOverflows").unwrap_or(&Value::Null),
                tcp.get("TCPSynRetrans").unwrap_or(&Value::Null)
            ));
        }
        if s["errors"].as_object().is_some_and(|e| !e.is_empty()) {
            notes.push(format!("storm errors: {}", s["errors"]));
        }
    }
    for n in notes {
        out.push_str(&format!("Note: {n}\n"));
    }
    Ok(out)
}
