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
    let deflate = read_json(&a.service_deflate)?;
    let deflate_name = format!(
        "{}, clients offering permessage-deflate: {}",
        a.service_name,
        deflate.as_ref().and_then(|d| d["compression"]["state"].as_str()).unwrap_or("?")
    );
    let mut rows = vec![(&a.service_name, read_json(&a.service_main)?, read_json(&a.service_sat)?, read_json(&a.service_idle)?)];
    if deflate.is_some() {
        rows.push((&deflate_name, deflate.clone(), None, None));
    }
    rows.push((&a.node_name, read_json(&a.node_main)?, read_json(&a.node_sat)?, read_json(&a.node_idle)?));
    rows.push((&a.floor_name, read_json(&a.floor_main)?, read_json(&a.floor_sat)?, read_json(&a.floor_idle)?));
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
            with_wire(&main["snapshot_bytes"], &main["snapshot_wire_bytes"], main),
            with_wire(&p["update_frame_bytes"], &p["update_frame_wire_bytes"], main),
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
    out.push_str(&ratios(&rows, a));
    if let (Some(d), Some(plain)) = (&deflate, read_json(&a.service_main)?) {
        out.push_str(&compression_line(&a.service_name, d, &plain));
    }
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

/// A frame size, and under `--deflate` what it took on the wire.
fn with_wire(plain: &Value, wire: &Value, run: &Value) -> String {
    let size = fmt_num(plain, 0);
    match (run.get("compression"), plain.as_f64(), wire.as_f64()) {
        (Some(_), Some(p), Some(_)) if p > 0.0 => format!("{size} ({} on the wire)", fmt_num(wire, 0)),
        _ => size,
    }
}

/// What compression did: the wire sizes against the plain ones (the header of a
/// plain frame included), and the server's CPU and p99 against the plain clients'.
fn compression_line(service: &str, deflate: &Value, plain: &Value) -> String {
    let c = &deflate["compression"];
    let (p, p0) = (&deflate["phases"][0], &plain["phases"][0]);
    let sizes = if c["state"] == "accepted" {
        format!(
            "snapshot on the wire **{} %** of plain ({} of {} bytes), update **{} %** ({} of {} bytes), batch {} %",
            fmt_num(&c["snapshot_wire_percent"], 1),
            deflate["snapshot_wire_bytes"],
            deflate["snapshot_bytes"],
            fmt_num(&p["update_wire_percent"], 1),
            fmt_num(&p["update_frame_wire_bytes"], 0),
            fmt_num(&p["update_frame_bytes"], 0),
            fmt_num(&p["batch_wire_percent"], 1),
        )
    } else {
        "no compressed frames".to_string()
    };
    format!(
        "Compression, {service}: {} clients offered `{}`: {} ({} accepted, {} declined); {sizes}; server CPU {} µs/delivery (plain clients {}), p99 {} ms (plain clients {})\n",
        deflate["connected"],
        c["offered"].as_str().unwrap_or(""),
        c["state"].as_str().unwrap_or("?"),
        c["accepted"],
        c["declined"],
        fmt_num(&p["cpu_us_per_delivery"], 2),
        fmt_num(&p0["cpu_us_per_delivery"], 2),
        fmt_ms(&p["latency_ms"]["p99"]),
        fmt_ms(&p0["latency_ms"]["p99"]),
    )
}

/// The figures that count: each server's over the floor's, measured in the same run
/// (×2.00 = twice the floor's CPU or latency; saturation: the share of the floor's).
/// A server's name and its main, saturation and idle results.
type Row<'a> = (&'a String, Option<Value>, Option<Value>, Option<Value>);

fn ratios(rows: &[Row], a: &TableArgs) -> String {
    let [.., (floor_name, Some(floor), floor_sat, floor_idle)] = rows else { return String::new() };
    let first = |run: &Value, key: &str| -> Option<f64> {
        let p = &run["phases"][0];
        match key {
            "p99" => p["latency_ms"]["p99"].as_f64(),
            k => p[k].as_f64(),
        }
    };
    let rss = |idle: &Option<Value>| idle.as_ref().and_then(|i| i["server"]["rss_per_subscriber_kib"].as_f64());
    let kept = |main: &Value, sat: &Option<Value>, bound: f64| {
        let runs: Vec<&Value> = [Some(main), sat.as_ref()].into_iter().flatten().collect();
        sat.as_ref().and_then(|_| best_step(&steps_of(&runs), bound).map(|s| s.delivered))
    };
    let ratio = |x: Option<f64>, floor: Option<f64>| match (x, floor) {
        (Some(x), Some(f)) if f > 0.0 => format!("×{:.2}", x / f),
        _ => "–".into(),
    };
    let mut out = format!(
        "| ratio to {floor_name} | server CPU µs/delivery | p99 ms | RSS KiB/idle subscriber | saturation, p99 < {} ms | … p99 < {} ms |\n|---|---|---|---|---|---|\n",
        a.saturation_p99_ms, a.sustained_p99_ms
    );
    for (name, main, sat, idle) in &rows[..rows.len() - 1] {
        let Some(main) = main else { continue };
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            ratio(first(main, "cpu_us_per_delivery"), first(floor, "cpu_us_per_delivery")),
            ratio(first(main, "p99"), first(floor, "p99")),
            ratio(rss(idle), rss(floor_idle)),
            ratio(kept(main, sat, a.saturation_p99_ms), kept(floor, floor_sat, a.saturation_p99_ms)),
            ratio(kept(main, sat, a.sustained_p99_ms), kept(floor, floor_sat, a.sustained_p99_ms)),
        ));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_floor_has_a_row_and_the_others_are_divided_by_it() {
        let dir = std::env::temp_dir().join(format!("scoreticker-load-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |name: &str, cpu: f64, p99: f64| {
            let v = json!({"connected": 10, "subscribers": 10, "snapshot_bytes": 100, "server": {"rss_per_subscriber_kib": 1.0},
                "phases": [{"rate": null, "deliveries_per_s": 10.0, "cpu_us_per_delivery": cpu, "latency_ms": {"p99": p99}}]});
            let path = dir.join(format!("{name}.json"));
            std::fs::write(&path, v.to_string()).unwrap();
            path.display().to_string()
        };
        let (svc, node, floor) = (run("svc", 12.0, 120.0), run("node", 11.0, 130.0), run("floor", 6.0, 60.0));
        let args = crate::cli::Cli::parse_from(["scoreticker-load", "table", "--service-main", &svc, "--node-main", &node, "--floor-main", &floor]);
        let crate::cli::Command::Table(a) = args.command else { panic!("not table") };
        let text = table(&a).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(text.contains("| floor (reference broadcaster) | 10 / 10 |"), "{text}");
        assert!(text.contains("| scoreticker | ×2.00 | ×2.00 | – | – | – |"), "{text}");
        assert!(text.contains("| Node ws | ×1.83 | ×2.17 | – | – | – |"), "{text}");
    }

    #[test]
    fn the_compressed_clients_row_says_whether_the_server_compressed() {
        let dir = std::env::temp_dir().join(format!("scoreticker-load-table-deflate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, v: Value| {
            let path = dir.join(format!("{name}.json"));
            std::fs::write(&path, v.to_string()).unwrap();
            path.display().to_string()
        };
        let phase = |cpu: f64, wire: f64, percent: Value| {
            json!([{"rate": null, "deliveries_per_s": 10.0, "cpu_us_per_delivery": cpu, "latency_ms": {"p99": 100.0},
                "update_frame_bytes": 400.0, "update_frame_wire_bytes": wire, "update_wire_percent": percent}])
        };
        let plain = write("svc", json!({"connected": 10, "subscribers": 10, "snapshot_bytes": 6541, "snapshot_wire_bytes": 6545, "phases": phase(12.0, 404.0, json!(null))}));
        let floor = write("floor", json!({"connected": 10, "subscribers": 10, "snapshot_bytes": 6541, "phases": phase(6.0, 404.0, json!(null))}));
        let offered = crate::deflate::OFFER;
        let declined = write("declined", json!({"connected": 10, "subscribers": 10, "snapshot_bytes": 6541, "snapshot_wire_bytes": 6545,
            "compression": {"offered": offered, "state": "plain (server declined)", "accepted": 0, "declined": 10, "snapshot_wire_percent": 100.0},
            "phases": phase(12.5, 404.0, json!(100.0))}));
        let accepted = write("accepted", json!({"connected": 10, "subscribers": 10, "snapshot_bytes": 6541, "snapshot_wire_bytes": 1030,
            "compression": {"offered": offered, "state": "accepted", "accepted": 10, "declined": 0, "snapshot_wire_percent": 15.74},
            "phases": phase(13.0, 251.0, json!(62.1))}));
        let text_of = |deflate: &str| {
            let args = crate::cli::Cli::parse_from(["scoreticker-load", "table", "--service-main", &plain, "--service-deflate", deflate, "--floor-main", &floor]);
            let crate::cli::Command::Table(a) = args.command else { panic!("not table") };
            table(&a).unwrap()
        };
        let (no, yes) = (text_of(&declined), text_of(&accepted));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(no.contains("| scoreticker, clients offering permessage-deflate: plain (server declined) | 10 / 10 | 6541 (6545 on the wire) | 400 (404 on the wire) |"), "{no}");
        assert!(no.contains("| scoreticker, clients offering permessage-deflate: plain (server declined) | ×2.08 |"), "{no}");
        assert!(no.contains("Compression, scoreticker: 10 clients offered `permessage-deflate; client_max_window_bits`: plain (server declined) (0 accepted, 10 declined); no compressed frames; server CPU 12.50 µs/delivery (plain clients 12.00)"), "{no}");
        assert!(yes.contains("| scoreticker, clients offering permessage-deflate: accepted | 10 / 10 | 6541 (1030 on the wire) | 400 (251 on the wire) |"), "{yes}");
        assert!(yes.contains("snapshot on the wire **15.7 %** of plain (1030 of 6541 bytes), update **62.1 %** (251 of 400 bytes)"), "{yes}");
        // The plain row is unchanged by it.
        assert!(yes.contains("| scoreticker | 10 / 10 | 6541 | 400 |"), "{yes}");
    }
}
