//! Who may open a WebSocket: an allowed `Origin` list and a per-IP cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open WebSocket connections per client IP.
#[derive(Debug, Default)]
pub struct PerIpLimiter {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Held by a session; gives its slot back when the session ends.
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
    fn origins() {
        let list = vec!["https://news.example.com".to_string()];
        assert!(origin_allowed(&[], Some("https://evil.example")));
        assert!(origin_allowed(&list, Some("https://news.example.com")));
        assert!(!origin_allowed(&list, Some("https://evil.example")));
        assert!(origin_allowed(&list, None));
    }
}
