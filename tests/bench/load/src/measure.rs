//! Small utilities of measurement: time, /proc (CPU, RSS, kernel TCP counters),
//! the open-file limit, and the latency histogram.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: plain libc calls on a stack struct.
    unsafe {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            let wanted = libc::rlimit { rlim_cur: r.rlim_max, rlim_max: r.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                return r.rlim_max as u64;
            }
        }
        r.rlim_cur as u64
    }
}

pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// utime + stime of a process, in µs.
pub fn proc_cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / clock_ticks_per_sec())
}

/// Busy CPU time of the whole machine (all cores, everything but idle and iowait), in µs.
pub fn machine_busy_us() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle) * 1_000_000 / clock_ticks_per_sec())
}

pub fn proc_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Kernel TCP counters that explain slow connects (system-wide, from /proc/net/netstat):
/// a full accept queue drops SYNs, and the client retries only after 1 s.
pub fn tcp_counters() -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let mut out = BTreeMap::new();
    if let [names, values, ..] = lines[..] {
        for (k, v) in names.split_whitespace().zip(values.split_whitespace()).skip(1) {
            if ["ListenOverflows", "ListenDrops", "TCPSynRetrans"].contains(&k) {
                out.insert(k.to_string(), v.parse().unwrap_or(0));
            }
        }
    }
    out
}

pub fn tcp_counters_since(before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    tcp_counters().into_iter().map(|(k, v)| { let b = before.get(&k).copied().unwrap_or(0); (k, v.saturating_sub(b)) }).collect()
}

/// 100 µs buckets up to 10 s; the last bucket holds everything above (the max is exact).
pub const BUCKET_US: u64 = 100;
pub const BUCKETS: usize = 100_000;

pub struct Hist {
    pub buckets: Box<[AtomicU64]>,
    pub max_us: AtomicU64,
}

impl Hist {
    pub fn new() -> Hist {
        Hist { buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(), max_us: AtomicU64::new(0) }
    }

    pub fn record(&self, us: u64) {
        let i = ((us / BUCKET_US) as usize).min(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    /// The counts so far, resetting them.
    pub fn take(&self) -> HistData {
        let mut data = HistData { max_us: self.max_us.swap(0, Relaxed), ..Default::default() };
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.swap(0, Relaxed);
            if n > 0 {
                data.buckets.push((i as u32, n));
                data.count += n;
            }
        }
        data
    }
}

/// A histogram as sent between processes: the non-empty buckets only.
#[derive(Serialize, Deserialize, Default, Clone, Debug)]
pub struct HistData {
    pub buckets: Vec<(u32, u64)>,
    pub count: u64,
    pub max_us: u64,
}

impl HistData {
    pub fn merge(&mut self, other: &HistData) {
        let mut all: BTreeMap<u32, u64> = self.buckets.iter().copied().collect();
        for (i, n) in &other.buckets {
            *all.entry(*i).or_default() += n;
        }
        self.buckets = all.into_iter().collect();
        self.count += other.count;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The q-quantile in ms: the upper edge of its bucket (never above the max).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let target = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in &self.buckets {
            seen += n;
            if seen >= target {
                let edge = (*i as u64 + 1) * BUCKET_US;
                return Some(edge.min(self.max_us.max(1)) as f64 / 1000.0);
            }
        }
        Some(self.max_us as f64 / 1000.0)
    }

    pub fn summary(&self) -> Value {
        json!({
            "count": self.count,
            "p50": self.quantile_ms(0.50),
            "p90": self.quantile_ms(0.90),
            "p99": self.quantile_ms(0.99),
            "max": (self.count > 0).then(|| self.max_us as f64 / 1000.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let h = Hist::new();
        for ms in 1..=100u64 {
            h.record(ms * 1000);
        }
        let mut d = h.take();
        assert_eq!(d.count, 100);
        assert_eq!(d.quantile_ms(0.5), Some(50.1));
        assert_eq!(d.quantile_ms(0.99), Some(99.1));
        d.merge(&HistData { buckets: vec![(0, 100)], count: 100, max_us: 50 });
        assert_eq!(d.quantile_ms(0.25), Some(0.1));
        assert_eq!(d.max_us, 100_000);
    }
}
