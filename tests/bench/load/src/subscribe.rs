//! `subscribe`: N subscribers; delivery latency, frames/s, the server's CPU per
//! delivery and RSS per subscriber, optionally over rate steps (saturation).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::child::procs_of;
use crate::cli::SubscribeArgs;
use crate::connection::parse_target;
use crate::counters::Window;
use crate::measure::{proc_rss_kib, tcp_counters, tcp_counters_since};
use crate::deflate::server_frame_wire;
use crate::parent::{connect_all, header, merge_windows, percent, Children, CpuSample};
use crate::quiet::quiet;
use crate::report::{fmt_ms, fmt_num};

pub async fn subscribe(a: SubscribeArgs) -> Result<Value, String> {
    parse_target(&a.client.url)?;
    if !a.rates.is_empty() && a.control.is_none() {
        return Err("--rates needs --control".into());
    }
    let pid = a.server_pid;
    let rss_before = pid.and_then(proc_rss_kib);
    if pid.is_some() && rss_before.is_none() {
        return Err(format!("cannot read /proc/{}/status", pid.unwrap_or(0)));
    }
    let started = Instant::now();
    let tcp0 = tcp_counters();
    let mut kids = Children::spawn(procs_of(&a.client))?;
    let conn = connect_all(&mut kids, &a.client, started).await?;
    let rss_idle = pid.and_then(proc_rss_kib);
    let mut result = header(&a.client, "subscribe");
    result["connect_tcp"] = json!(tcp_counters_since(&tcp0));
    result["connected"] = json!(conn.connected);
    result["failed"] = json!(conn.failed);
    result["connect_errors"] = json!(conn.errors);
    result["connect_secs"] = json!(conn.secs);
    result["snapshot_bytes"] = json!(conn.snapshot_bytes);
    conn.add_wire(&mut result, &a.client);

    let steps: Vec<Option<u32>> = if a.rates.is_empty() { vec![None] } else { a.rates.iter().copied().map(Some).collect() };
    let mut phases = Vec::new();
    if !a.duration.is_zero() {
        for rate in steps {
            if let (Some(r), Some(control)) = (rate, &a.control) {
                http_get(&control.replace("{rate}", &r.to_string())).await?;
                tokio::time::sleep(a.settle).await;
            }
            let mut attempt = 0;
            let (phase, w) = loop {
                attempt += 1;
                let cpu0 = CpuSample::take(pid, &kids);
                kids.send_all("start").await;
                let t0 = Instant::now();
                tokio::time::sleep(a.duration).await;
                kids.send_all("stop").await;
                let (server_cpu, clients_cpu, other_cpu) = CpuSample::take(pid, &kids).since(&cpu0);
                let secs = t0.elapsed().as_secs_f64();
                let w = merge_windows(&kids.collect("window", Duration::from_secs(60)).await?);
                let mut phase = phase_json(rate, secs, &w, server_cpu);
                let other = other_cpu.map(|c| c as f64 / secs / 1e4);
                phase["clients_cpu_percent"] = json!(clients_cpu as f64 / secs / 1e4);
                phase["other_cpu_percent"] = json!(other);
                phase["attempt"] = json!(attempt);
                if other.is_none_or(|o| o <= a.max_other_percent) || attempt > a.retries {
                    break (phase, w);
                }
                eprintln!(
                    "scoreticker-load: other processes used {:.0} % of a core during the window; measuring it again when the machine is quiet",
                    other.unwrap_or(0.0)
                );
                let mut ours: Vec<u32> = kids.procs.iter().filter_map(|p| p.id()).collect();
                ours.push(std::process::id());
                ours.extend(pid);
                quiet(a.max_other_percent, Duration::from_secs(300), Duration::from_secs(3), &ours).await;
            };
            eprintln!(
                "scoreticker-load: {}{:.0} deliveries/s, p50 {} p99 {} max {} ms, CPU {} µs/delivery, {} disconnects, {} missed; CPU % of a core: server {}, clients {}, other processes {}",
                rate.map(|r| format!("rate {r}: ")).unwrap_or_default(),
                phase["deliveries_per_s"].as_f64().unwrap_or(0.0),
                fmt_ms(&phase["latency_ms"]["p50"]),
                fmt_ms(&phase["latency_ms"]["p99"]),
                fmt_ms(&phase["latency_ms"]["max"]),
                fmt_num(&phase["cpu_us_per_delivery"], 2),
                w.disconnects,
                w.missed,
                fmt_num(&phase["server_cpu_percent"], 0),
                fmt_num(&phase["clients_cpu_percent"], 0),
                fmt_num(&phase["other_cpu_percent"], 0),
            );
            let p99 = phase["latency_ms"]["p99"].as_f64().unwrap_or(f64::INFINITY);
            let overloaded = p99 > a.stop_p99_ms || w.disconnects > 0;
            phases.push(phase);
            if overloaded && rate.is_some() {
                eprintln!("scoreticker-load: stopping the rate steps (p99 above {} ms or disconnects)", a.stop_p99_ms);
                break;
            }
        }
    }
    result["phases"] = json!(phases);
    if let Some(pid) = pid {
        let per_sub = match (rss_before, rss_idle) {
            (Some(b), Some(i)) if conn.connected > 0 => Some((i as f64 - b as f64) / conn.connected as f64),
            _ => None,
        };
        result["server"] = json!({
            "pid": pid,
            "rss_before_kib": rss_before,
            "rss_idle_kib": rss_idle,
            "rss_end_kib": proc_rss_kib(pid),
            "rss_per_subscriber_kib": per_sub,
        });
    }
    kids.finish().await;
    Ok(result)
}

pub fn phase_json(rate: Option<u32>, secs: f64, w: &Window, cpu_us: Option<u64>) -> Value {
    json!({
        "rate": rate,
        "secs": secs,
        "deliveries": w.deliveries,
        "deliveries_per_s": w.deliveries as f64 / secs,
        "frames": w.frames,
        "frames_per_s": w.frames as f64 / secs,
        "bytes_per_s": w.bytes as f64 / secs,
        "update_frame_bytes": (w.update_frames > 0).then(|| w.update_bytes as f64 / w.update_frames as f64),
        // On the wire: frame headers and payloads as sent (compressed under --deflate);
        // the plain sizes are the same frames' with a header, so the percentages are
        // what compression saved.
        "wire_bytes_per_s": w.wire_bytes as f64 / secs,
        "update_frame_wire_bytes": (w.update_frames > 0).then(|| w.update_wire_bytes as f64 / w.update_frames as f64),
        "update_wire_percent": percent(w.update_wire_bytes, plain_wire(w.update_bytes, w.update_frames)),
        "batch_frames": w.batch_frames,
        "batch_frame_bytes": (w.batch_frames > 0).then(|| w.batch_bytes as f64 / w.batch_frames as f64),
        "batch_frame_wire_bytes": (w.batch_frames > 0).then(|| w.batch_wire_bytes as f64 / w.batch_frames as f64),
        "batch_wire_percent": percent(w.batch_wire_bytes, plain_wire(w.batch_bytes, w.batch_frames)),
        "latency_ms": w.latency.summary(),
        "server_cpu_us": cpu_us,
        "server_cpu_percent": cpu_us.map(|c| c as f64 / secs / 1e4),
        "cpu_us_per_delivery": cpu_us.filter(|_| w.deliveries > 0).map(|c| c as f64 / w.deliveries as f64),
        "missed": w.missed,
        "duplicates": w.duplicates,
        "resyncs": w.resyncs,
        "heartbeats": w.heartbeats,
        "error_frames": w.error_frames,
        "disconnects": w.disconnects,
        "closes": w.closes,
        "errors": w.errors,
    })
}

/// What `frames` plain frames of `bytes` payload bytes in all took on the wire
/// (headers from the average size: the frames of one kind are about one size).
fn plain_wire(bytes: u64, frames: u64) -> u64 {
    if frames == 0 {
        return 0;
    }
    server_frame_wire((bytes / frames) as usize) as u64 * frames + bytes % frames
}

/// A plain HTTP/1.0 GET (the control endpoints of the upstream and the Node peer).
pub async fn http_get(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// control URLs"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(hostport).await.map_err(|e| format!("{url}: {e}"))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes()).await.map_err(|e| format!("{url}: {e}"))?;
    let mut response = Vec::new();
    s.read_to_end(&mut response).await.map_err(|e| format!("{url}: {e}"))?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status_ok = text.lines().next().is_some_and(|l| l.split_whitespace().nth(1) == Some("200"));
    if !status_ok {
        return Err(format!("{url}: {}", text.lines().next().unwrap_or("no response")));
    }
    Ok(text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}
