//! The counters of one client process (atomics its connection tasks add to) and
//! the window they are reported as, merged across processes by the parent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::measure::{Hist, HistData};

/// Counters of one child, reset at every `start` and reported at every `stop`.
pub struct Shared {
    pub latency: Hist,
    pub deliveries: AtomicU64,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    pub update_frames: AtomicU64,
    pub update_bytes: AtomicU64,
    /// Wire sizes (frame header + payload as sent: compressed under `--deflate`).
    pub wire_bytes: AtomicU64,
    pub update_wire_bytes: AtomicU64,
    pub batch_frames: AtomicU64,
    pub batch_bytes: AtomicU64,
    pub batch_wire_bytes: AtomicU64,
    pub missed: AtomicU64,
    pub duplicates: AtomicU64,
    pub resyncs: AtomicU64,
    pub heartbeats: AtomicU64,
    pub error_frames: AtomicU64,
    pub disconnects: AtomicU64,
    pub closes: Mutex<BTreeMap<String, u64>>,
    pub errors: Mutex<BTreeMap<String, u64>>,
    pub alive: AtomicUsize,
    /// The largest snapshot frame seen (never reset).
    pub snapshot_bytes: AtomicU64,
    /// The largest snapshot frame on the wire (never reset).
    pub snapshot_wire_bytes: AtomicU64,
    /// `--deflate` handshakes the server accepted or declined, and its answer (never reset).
    pub deflate_accepted: AtomicU64,
    pub deflate_declined: AtomicU64,
    pub deflate_response: Mutex<Option<String>>,
    /// When the storm's reconnects start.
    pub reconnect_at: Mutex<Option<Instant>>,
}

#[derive(Serialize, Deserialize, Default, Clone, Debug)]
pub struct Window {
    pub deliveries: u64,
    pub frames: u64,
    pub bytes: u64,
    pub update_frames: u64,
    pub update_bytes: u64,
    pub wire_bytes: u64,
    pub update_wire_bytes: u64,
    pub batch_frames: u64,
    pub batch_bytes: u64,
    pub batch_wire_bytes: u64,
    pub missed: u64,
    pub duplicates: u64,
    pub resyncs: u64,
    pub heartbeats: u64,
    pub error_frames: u64,
    pub disconnects: u64,
    pub closes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub latency: HistData,
}

impl Window {
    pub fn merge(&mut self, o: &Window) {
        self.deliveries += o.deliveries;
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.update_frames += o.update_frames;
        self.update_bytes += o.update_bytes;
        self.wire_bytes += o.wire_bytes;
        self.update_wire_bytes += o.update_wire_bytes;
        self.batch_frames += o.batch_frames;
        self.batch_bytes += o.batch_bytes;
        self.batch_wire_bytes += o.batch_wire_bytes;
        self.missed += o.missed;
        self.duplicates += o.duplicates;
        self.resyncs += o.resyncs;
        self.heartbeats += o.heartbeats;
        self.error_frames += o.error_frames;
        self.disconnects += o.disconnects;
        for (k, v) in &o.closes {
            *self.closes.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.latency.merge(&o.latency);
    }
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            latency: Hist::new(),
            deliveries: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            update_frames: AtomicU64::new(0),
            update_bytes: AtomicU64::new(0),
            wire_bytes: AtomicU64::new(0),
            update_wire_bytes: AtomicU64::new(0),
            batch_frames: AtomicU64::new(0),
            batch_bytes: AtomicU64::new(0),
            batch_wire_bytes: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            heartbeats: AtomicU64::new(0),
            error_frames: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            closes: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            alive: AtomicUsize::new(0),
            snapshot_bytes: AtomicU64::new(0),
            snapshot_wire_bytes: AtomicU64::new(0),
            deflate_accepted: AtomicU64::new(0),
            deflate_declined: AtomicU64::new(0),
            deflate_response: Mutex::new(None),
            reconnect_at: Mutex::new(None),
        }
    }

    pub fn take(&self) -> Window {
        let t = |a: &AtomicU64| a.swap(0, Relaxed);
        Window {
            deliveries: t(&self.deliveries),
            frames: t(&self.frames),
            bytes: t(&self.bytes),
            update_frames: t(&self.update_frames),
            update_bytes: t(&self.update_bytes),
            wire_bytes: t(&self.wire_bytes),
            update_wire_bytes: t(&self.update_wire_bytes),
            batch_frames: t(&self.batch_frames),
            batch_bytes: t(&self.batch_bytes),
            batch_wire_bytes: t(&self.batch_wire_bytes),
            missed: t(&self.missed),
            duplicates: t(&self.duplicates),
            resyncs: t(&self.resyncs),
            heartbeats: t(&self.heartbeats),
            error_frames: t(&self.error_frames),
            disconnects: t(&self.disconnects),
            closes: std::mem::take(&mut *self.closes.lock().unwrap()),
            errors: std::mem::take(&mut *self.errors.lock().unwrap()),
            latency: self.latency.take(),
        }
    }

    /// One `--deflate` handshake: the server's permessage-deflate answer, or None (declined).
    pub fn count_negotiation(&self, response: Option<&str>) {
        match response {
            Some(r) => {
                self.deflate_accepted.fetch_add(1, Relaxed);
                self.deflate_response.lock().unwrap().get_or_insert_with(|| r.to_string());
            }
            None => {
                self.deflate_declined.fetch_add(1, Relaxed);
            }
        }
    }

    pub fn count(map: &Mutex<BTreeMap<String, u64>>, key: String) {
        *map.lock().unwrap().entry(key).or_default() += 1;
    }
}
