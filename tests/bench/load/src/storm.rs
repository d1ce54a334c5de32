//! `storm`: N subscribers drop and reconnect at once with `since`; the time until
//! all are current again, and whether any event was missed or duplicated.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::child::procs_of;
use crate::cli::StormArgs;
use crate::connection::parse_target;
use crate::measure::{proc_cpu_us, tcp_counters, tcp_counters_since, HistData};
use crate::parent::{connect_all, header, merge_windows, Children};
use crate::report::fmt_ms;

pub async fn storm(a: StormArgs) -> Result<Value, String> {
    parse_target(&a.client.url)?;
    if let Some(url) = &a.storm_url {
        parse_target(url)?;
    }
    let started = Instant::now();
    let mut kids = Children::spawn(procs_of(&a.client))?;
    let conn = connect_all(&mut kids, &a.client, started).await?;
    let mut result = header(&a.client, "storm");
    result["connected"] = json!(conn.connected);
    result["failed"] = json!(conn.failed);
    result["connect_errors"] = json!(conn.errors);
    result["connect_secs"] = json!(conn.secs);
    result["snapshot_bytes"] = json!(conn.snapshot_bytes);
    conn.add_wire(&mut result, &a.client);
    result["down_ms"] = json!(a.down.as_millis() as u64);

    // Let every client see a live event or two before the storm.
    tokio::time::sleep(Duration::from_secs(2)).await;
    kids.send_all("start").await;
    let cpu0 = a.server_pid.and_then(proc_cpu_us);
    let tcp0 = tcp_counters();
    kids.send_all("storm").await;
    let limit = a.down + a.client.connect_timeout + Duration::from_secs(30);
    let reports = kids.collect("storm", limit).await?;
    let cpu1 = a.server_pid.and_then(proc_cpu_us);
    let storm_tcp = tcp_counters_since(&tcp0);
    let mut resume = HistData::default();
    let (mut expected, mut resumed, mut failed) = (0, 0, 0);
    let mut catch: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for r in &reports {
        expected += r["expected"].as_u64().unwrap_or(0);
        resumed += r["resumed"].as_u64().unwrap_or(0);
        failed += r["failed"].as_u64().unwrap_or(0);
        for (k, v) in r["catch"].as_object().into_iter().flatten() {
            *catch.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
        }
        for (k, v) in r["errors"].as_object().into_iter().flatten() {
            *errors.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
        }
        if let Ok(h) = serde_json::from_value::<HistData>(r["resume"].clone()) {
            resume.merge(&h);
        }
    }
    eprintln!(
        "scoreticker-load: storm: {resumed} of {expected} resumed, all within {} ms (p50 {} p99 {}), {failed} failed, {catch:?}",
        fmt_ms(&json!(resume.max_us as f64 / 1000.0)),
        fmt_ms(&json!(resume.quantile_ms(0.5))),
        fmt_ms(&json!(resume.quantile_ms(0.99))),
    );
    tokio::time::sleep(a.observe).await;
    kids.send_all("stop").await;
    let w = merge_windows(&kids.collect("window", Duration::from_secs(60)).await?);
    result["storm"] = json!({
        "expected": expected,
        "resumed": resumed,
        "failed": failed,
        "catch": catch,
        "errors": errors,
        "resume_ms": resume.summary(),
        "all_resumed_ms": (resumed > 0).then(|| resume.max_us as f64 / 1000.0),
        "server_cpu_us": cpu0.zip(cpu1).map(|(a, b)| b.saturating_sub(a)),
        "tcp": storm_tcp,
        "observe_secs": a.observe.as_secs_f64(),
        "missed": w.missed,
        "duplicates": w.duplicates,
        "resyncs": w.resyncs,
        "deliveries": w.deliveries,
        "disconnects": w.disconnects,
        "closes": w.closes,
    });
    kids.finish().await;
    Ok(result)
}
