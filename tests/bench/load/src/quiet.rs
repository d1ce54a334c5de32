//! `wait-quiet`: waits until the machine is quiet, so a measurement is not shared
//! with other work (the subscribe runs call it too, between disturbed windows).

use std::process::ExitCode;
use std::time::Duration;

use tokio::time::Instant;

use crate::cli::WaitQuietArgs;
use crate::measure::{machine_busy_us, proc_cpu_us};

pub fn wait_quiet(a: &WaitQuietArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(quiet(a.max_percent, a.timeout, a.sample, &[]));
    ExitCode::SUCCESS
}

/// Waits until the machine's busy CPU over one `sample`, less that of `exclude`d
/// processes, is at most `max_percent` of a core, or `timeout` passed (with a
/// warning). Returns whether it got quiet.
pub async fn quiet(max_percent: f64, timeout: Duration, sample: Duration, exclude: &[u32]) -> bool {
    let started = Instant::now();
    let mut said = false;
    let excluded = || exclude.iter().filter_map(|p| proc_cpu_us(*p)).sum::<u64>();
    loop {
        let (before, before_excluded) = (machine_busy_us(), excluded());
        tokio::time::sleep(sample).await;
        let busy = machine_busy_us()
            .zip(before)
            .map(|(b, a0)| b.saturating_sub(a0).saturating_sub(excluded().saturating_sub(before_excluded)) as f64 / sample.as_secs_f64() / 1e4);
        let Some(busy) = busy else { return true };
        if busy <= max_percent {
            if said {
                eprintln!("scoreticker-load: quiet after {:.0}s ({busy:.0} % of a core busy)", started.elapsed().as_secs_f64());
            }
            return true;
        }
        if !said {
            eprintln!("scoreticker-load: waiting for the machine to be quiet ({busy:.0} % of a core busy, want ≤ {max_percent} %)");
            said = true;
        }
        if started.elapsed() >= timeout {
            eprintln!("scoreticker-load: WARNING: the machine stayed busy ({busy:.0} % of a core) for {timeout:?}; measuring anyway");
            return false;
        }
    }
}
