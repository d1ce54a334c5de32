//! One client process: its share of the subscribers, one task each, driven by the
//! parent's commands on stdin and reporting JSON lines on stdout.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

use crate::cli::{parse_rate, ClientArgs};
use crate::connection::{parse_target, read_loop, sync, Catch, ClientState, End, Target};
use crate::counters::Shared;
use crate::measure::{raise_nofile, Hist, HistData};

pub fn sources_of(args: &ClientArgs) -> Vec<Ipv4Addr> {
    if !args.sources.is_empty() {
        return args.sources.clone();
    }
    let count = args.sources_count.unwrap_or_else(|| args.n.div_ceil(10_000).max(2)).max(1);
    (0..count).map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + i as u32)).collect()
}

pub fn procs_of(args: &ClientArgs) -> usize {
    args.procs.unwrap_or_else(|| args.n.div_ceil(15_000)).max(1)
}

#[derive(Clone)]
pub struct StormOpts {
    pub down: Duration,
    pub concurrency: Option<usize>,
    /// Where to reconnect (default: the same server).
    pub url: Option<String>,
}

pub struct Ctx {
    pub target: Target,
    pub shared: Shared,
    pub connect_sem: Semaphore,
    pub storm_sem: Option<Semaphore>,
    pub timeout: Duration,
}

pub type StormReport = Result<(Catch, Duration), String>;

pub async fn client_task(
    ctx: Arc<Ctx>,
    src: Ipv4Addr,
    start_at: Option<Instant>,
    ready: mpsc::UnboundedSender<Result<(), String>>,
    mut storm: watch::Receiver<u64>,
    storm_report: mpsc::UnboundedSender<StormReport>,
) {
    if let Some(at) = start_at {
        tokio::time::sleep_until(at).await;
    }
    let sh = &ctx.shared;
    let mut st = ClientState::default();
    let first = {
        let _permit = ctx.connect_sem.acquire().await;
        tokio::time::timeout(ctx.timeout, sync(&ctx.target, src, &mut st, sh, false)).await
    };
    let mut ws = match first {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            let _ = ready.send(Err(e));
            return;
        }
        Err(_) => {
            let _ = ready.send(Err(format!("no snapshot within {:?}", ctx.timeout)));
            return;
        }
    };
    sh.alive.fetch_add(1, Relaxed);
    let _ = ready.send(Ok(()));
    loop {
        match read_loop(&mut ws, &mut st, sh, &ctx.target, &mut storm).await {
            End::Closed(reason) => {
                sh.alive.fetch_sub(1, Relaxed);
                sh.disconnects.fetch_add(1, Relaxed);
                Shared::count(&sh.closes, reason);
                return;
            }
            End::Storm => {
                drop(ws); // the connection is gone: FIN, no close handshake
                let at = sh.reconnect_at.lock().unwrap().unwrap_or_else(Instant::now);
                tokio::time::sleep_until(at).await;
                let permit = match &ctx.storm_sem {
                    Some(s) => Some(s.acquire().await),
                    None => None,
                };
                let result = tokio::time::timeout(ctx.timeout, sync(&ctx.target, src, &mut st, sh, true)).await;
                drop(permit);
                let elapsed = at.elapsed();
                match result {
                    Ok(Ok((w, catch))) => {
                        ws = w;
                        let _ = storm_report.send(Ok((catch, elapsed)));
                    }
                    other => {
                        let why = match other {
                            Ok(Err(e)) => e,
                            _ => format!("not resumed within {:?}", ctx.timeout),
                        };
                        sh.alive.fetch_sub(1, Relaxed);
                        let _ = storm_report.send(Err(why));
                        return;
                    }
                }
            }
        }
    }
}

pub fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

pub fn run_child(args: ClientArgs, storm: Option<StormOpts>) -> ExitCode {
    let nofile = raise_nofile();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(child_main(args, storm, nofile));
    // Do not wait for thousands of socket tasks to wind down.
    std::process::exit(0);
}

pub async fn child_main(args: ClientArgs, storm_opts: Option<StormOpts>, nofile: u64) {
    let resume = storm_opts.as_ref().and_then(|s| s.url.as_deref()).map(parse_target).transpose();
    let target = match parse_target(&args.url).and_then(|t| Ok((t, resume?))) {
        Ok((mut t, resume)) => {
            if let Some(r) = resume {
                t.resume_addr = r.addr;
                t.resume_url = r.bare_url;
            }
            t.deflate = args.deflate;
            t
        }
        Err(e) => {
            emit(json!({"phase": "connected", "connected": 0, "failed": 0, "fatal": e}));
            return;
        }
    };
    let sources = sources_of(&args);
    let ids: Vec<usize> = (args.child_index..args.n).step_by(args.child_count.max(1)).collect();
    if ids.len() as u64 + 64 > nofile {
        eprintln!("scoreticker-load child {}: {} subscribers but only {nofile} open files allowed; use more --procs", args.child_index, ids.len());
    }
    let ctx = Arc::new(Ctx {
        target,
        shared: Shared::new(),
        connect_sem: Semaphore::new(args.concurrency.max(1)),
        storm_sem: storm_opts.as_ref().and_then(|s| s.concurrency).map(|c| Semaphore::new(c.max(1))),
        timeout: args.connect_timeout,
    });
    let ramp = match args.ramp.as_deref().map(parse_rate) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            emit(json!({"phase": "connected", "connected": 0, "failed": 0, "fatal": e}));
            return;
        }
        None => None,
    };
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (storm_tx, _) = watch::channel(0u64);
    let (report_tx, mut report_rx) = mpsc::unbounded_channel::<StormReport>();
    let started = Instant::now();
    for &id in &ids {
        let src = sources[id % sources.len()];
        let start_at = ramp.map(|r| started + Duration::from_secs_f64(id as f64 / r));
        tokio::spawn(client_task(ctx.clone(), src, start_at, ready_tx.clone(), storm_tx.subscribe(), report_tx.clone()));
    }
    drop(ready_tx);

    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if cmd_tx.send(line.trim().to_string()).is_err() {
                return;
            }
        }
        let _ = cmd_tx.send("exit".into());
    });

    let (mut connected, mut failed) = (0u64, 0u64);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..ids.len() {
        // Every task answers once (and keeps its sender, so the channel stays open).
        let Some(r) = ready_rx.recv().await else { break };
        match r {
            Ok(()) => connected += 1,
            Err(e) => {
                failed += 1;
                *errors.entry(e).or_default() += 1;
            }
        }
    }
    emit(json!({"phase": "connected", "connected": connected, "failed": failed, "errors": errors,
        "secs": started.elapsed().as_secs_f64(), "nofile": nofile,
        "snapshot_bytes": ctx.shared.snapshot_bytes.load(Relaxed),
        "snapshot_wire_bytes": ctx.shared.snapshot_wire_bytes.load(Relaxed),
        "deflate_accepted": ctx.shared.deflate_accepted.load(Relaxed),
        "deflate_declined": ctx.shared.deflate_declined.load(Relaxed),
        "deflate_response": *ctx.shared.deflate_response.lock().unwrap()}));

    let sh = &ctx.shared;
    let mut generation = 0;
    while let Some(cmd) = cmd_rx.recv().await {
        match cmd.as_str() {
            "start" => {
                sh.take();
            }
            "stop" => emit(json!({"phase": "window", "window": sh.take(), "alive": sh.alive.load(Relaxed)})),
            "storm" => {
                let down = storm_opts.as_ref().map(|s| s.down).unwrap_or_default();
                let expected = sh.alive.load(Relaxed);
                *sh.reconnect_at.lock().unwrap() = Some(Instant::now() + down);
                generation += 1;
                let _ = storm_tx.send(generation);
                let deadline = Instant::now() + down + ctx.timeout + Duration::from_secs(5);
                let mut resume = HistData::default();
                let hist = Hist::new();
                let (mut counts, mut fails) = (BTreeMap::<&str, u64>::new(), BTreeMap::<String, u64>::new());
                let mut got = 0;
                while got < expected {
                    match tokio::time::timeout_at(deadline, report_rx.recv()).await {
                        Ok(Some(Ok((catch, took)))) => {
                            hist.record(took.as_micros() as u64);
                            let key = match catch {
                                Catch::Snapshot => "snapshot",
                                Catch::Replay => "replay",
                                Catch::UpToDate => "up_to_date",
                            };
                            *counts.entry(key).or_default() += 1;
                        }
                        Ok(Some(Err(e))) => *fails.entry(e).or_default() += 1,
                        _ => break,
                    }
                    got += 1;
                }
                resume.merge(&hist.take());
                let missing = expected - got;
                if missing > 0 {
                    *fails.entry("no report (timed out)".into()).or_default() += missing as u64;
                }
                emit(json!({"phase": "storm", "expected": expected, "resumed": counts.values().sum::<u64>(),
                    "failed": fails.values().sum::<u64>(), "catch": counts, "errors": fails, "resume": resume}));
            }
            "exit" => return,
            _ => {}
        }
    }
}
