//! Who may connect: a cap on all open connections and one per client IP, checked
//! when a connection is accepted (before a byte of it is read), and an allowed
//! `Origin` list for WebSocket and SSE subscribers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::telemetry;

/// The caps every accepted connection of a public listener passes: plain HTTP,
/// pending headers, SSE and WebSocket alike.
#[derive(Debug)]
pub struct ConnectionGate {
    /// `None`: no total cap.
    total: Option<Arc<Semaphore>>,
    per_ip: Arc<PerIpLimiter>,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `limits.max_connections` connections are open.
    Total,
    /// `limits.max_connections_per_ip` connections from this address are open.
    PerIp,
}

impl Refused {
    /// The guard label of `scoreticker_guard_rejections_total`.
    pub fn guard(self) -> &'static str {
        match self {
            Refused::Total => "max_connections",
            Refused::PerIp => "per_ip",
        }
    }
}

/// One admitted connection's place under the caps, given back when dropped.
/// The HTTP connection holds it; a WebSocket upgrade takes it over (see
/// [`Ticket`]), since the session outlives the HTTP connection.
#[derive(Debug)]
pub struct Admission {
    _total: Option<OwnedSemaphorePermit>,
    _ip: IpSlot,
}

impl Drop for Admission {
    fn drop(&mut self) {
        metrics::gauge!(telemetry::HTTP_CONNECTIONS_OPEN).decrement(1.0);
    }
}

/// A connection's [`Admission`], in each of its requests' extensions, for the
/// handler that upgrades it to take along.
#[derive(Debug, Clone, Default)]
pub struct Ticket(Arc<Mutex<Option<Admission>>>);

impl Ticket {
    pub fn new(admission: Admission) -> Ticket {
        Ticket(Arc::new(Mutex::new(Some(admission))))
    }

    pub fn take(&self) -> Option<Admission> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl ConnectionGate {
    /// `max_total` and `max_per_ip`: 0 for no cap.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<ConnectionGate> {
        let total = (max_total > 0).then(|| Arc::new(Semaphore::new(max_total)));
        Arc::new(ConnectionGate { total, per_ip: PerIpLimiter::new(max_per_ip) })
    }

    /// A place for one more connection from `ip`, or why there is none (counted).
    pub fn admit(&self, ip: IpAddr) -> Result<Admission, Refused> {
        let total = self.total.as_ref().map(|s| s.clone().try_acquire_owned().map_err(|_| Refused::Total)).transpose();
        let admitted = total.and_then(|total| Ok(Admission { _ip: self.per_ip.acquire(ip).ok_or(Refused::PerIp)?, _total: total }));
        match &admitted {
            Ok(_) => metrics::gauge!(telemetry::HTTP_CONNECTIONS_OPEN).increment(1.0),
            Err(refused) => metrics::counter!(telemetry::GUARD_REJECTIONS, "guard" => refused.guard()).increment(1),
        }
        admitted
    }
}

/// Counts open connections per client IP.
#[derive(Debug, Default)]
pub struct PerIpLimiter {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Held by a connection; gives its slot back when it ends.
#[derive(Debug)]
pub struct IpSlot {
    limiter: Arc<PerIpLimiter>,
    ip: IpAddr,
}

impl PerIpLimiter {
    pub fn new(cap: usize) -> Arc<PerIpLimiter> {
        Arc::new(PerIpLimiter { cap, open: Mutex::new(HashMap::new()) })
    }

    /// A slot for one more connection from `ip`, unless it is at the cap.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        if self.cap > 0 && *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(IpSlot { limiter: self.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Whether a request's `Origin` may connect. No list: anyone. A request without
/// an `Origin` header is not from a browser page, and is allowed (a browser always
/// sends one on WebSocket requests, so this cannot be used to bypass the list
/// from a page).
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    match origin {
        _ if allowed.is_empty() => true,
        None => true,
        Some(o) => allowed.iter().any(|a| a.eq_ignore_ascii_case(o)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_ip_and_returned() {
        let limiter = PerIpLimiter::new(2);
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let a = limiter.acquire(ip).unwrap();
        let _b = limiter.acquire(ip).unwrap();
        assert!(limiter.acquire(ip).is_none());
        assert!(limiter.acquire("127.0.0.10".parse().unwrap()).is_some(), "another IP has its own count");
        drop(a);
        assert!(limiter.acquire(ip).is_some());
    }

    #[test]
    fn the_gate_caps_all_connections_and_each_address() {
        let gate = ConnectionGate::new(3, 2);
        let a: IpAddr = "127.0.0.9".parse().unwrap();
        let b: IpAddr = "127.0.0.10".parse().unwrap();
        let first = gate.admit(a).unwrap();
        let _second = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).err(), Some(Refused::PerIp));
        let _third = gate.admit(b).unwrap();
        assert_eq!(gate.admit(b).err(), Some(Refused::Total));
        drop(first);
        assert!(gate.admit(b).is_ok(), "a place comes back when its connection ends");
        assert!(ConnectionGate::new(0, 0).admit(a).is_ok(), "0: no cap");
    }

    #[test]
    fn origins() {
        let list = vec!["https://news.example.com".to_string()];
        assert!(origin_allowed(&[], Some("https://evil.example")));
        assert!(origin_allowed(&list, Some("https://news.example.com")));
        assert!(!origin_allowed(&list, Some("https://evil.example")));
        assert!(origin_allowed(&list, None));
    }
}
