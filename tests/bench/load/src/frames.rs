//! The server's frames: a fast scanner for its own field order (type, seq, ts
//! first), serde_json for anything else.

use serde_json::Value;

#[derive(Debug, PartialEq)]
pub enum Kind {
    Hello { epoch: String, seq: u64 },
    Snapshot { seq: u64 },
    /// One update or remove frame.
    Event,
    Batch,
    Heartbeat,
    Error(String),
    Other(String),
}

pub const TYPE_PREFIX: &[u8] = br#"{"type":""#;

pub fn digits(b: &[u8]) -> Option<(u64, &[u8])> {
    let end = b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len());
    if end == 0 {
        return None;
    }
    let n = std::str::from_utf8(&b[..end]).ok()?.parse().ok()?;
    Some((n, &b[end..]))
}

/// `,"seq":N,"ts":T` right after an event's type.
pub fn seq_ts(b: &[u8]) -> Option<(u64, i64)> {
    let (seq, rest) = digits(b.strip_prefix(br#","seq":"#)?)?;
    let (ts, _) = digits(rest.strip_prefix(br#","ts":"#)?)?;
    Some((seq, ts as i64))
}

/// Classifies a frame and calls `event(seq, ts)` for every update/remove event in it.
pub fn classify(buf: &[u8], event: &mut impl FnMut(u64, i64)) -> Kind {
    if let Some(rest) = buf.strip_prefix(TYPE_PREFIX) {
        let end = rest.iter().position(|c| *c == b'"').unwrap_or(0);
        let (ty, after) = (&rest[..end], &rest[(end + 1).min(rest.len())..]);
        match ty {
            b"update" | b"remove" => {
                if let Some((seq, ts)) = seq_ts(after) {
                    event(seq, ts);
                    return Kind::Event;
                }
            }
            b"heartbeat" => return Kind::Heartbeat,
            b"snapshot" => {
                if let Some((seq, _)) = after.strip_prefix(br#","seq":"#).and_then(digits) {
                    return Kind::Snapshot { seq };
                }
            }
            b"batch" => {
                // Every event object starts with `{"type":"update"|"remove","seq":`; a quote
                // inside a JSON string is escaped, so this byte pattern only starts objects.
                let mut found = Vec::new();
                let mut ok = true;
                let mut i = 0;
                while let Some(p) = after[i..].iter().position(|c| *c == b'{') {
                    let at = &after[i + p..];
                    i += p + 1;
                    for (pattern, len) in [(&br#"{"type":"update""#[..], 16), (&br#"{"type":"remove""#[..], 16)] {
                        if at.starts_with(pattern) {
                            match seq_ts(&at[len..]) {
                                Some(st) => found.push(st),
                                None => ok = false,
                            }
                        }
                    }
                }
                if ok {
                    for (seq, ts) in found {
                        event(seq, ts);
                    }
                    return Kind::Batch;
                }
            }
            _ => {}
        }
    }
    classify_slow(buf, event)
}

pub fn classify_slow(buf: &[u8], event: &mut impl FnMut(u64, i64)) -> Kind {
    let Ok(v) = serde_json::from_slice::<Value>(buf) else {
        return Kind::Other("not JSON".into());
    };
    let seq = |v: &Value| v["seq"].as_u64();
    let mut emit = |e: &Value| {
        if let (Some(s), Some(t)) = (e["seq"].as_u64(), e["ts"].as_i64()) {
            event(s, t);
        }
    };
    match v["type"].as_str().unwrap_or("") {
        "hello" => Kind::Hello { epoch: v["epoch"].as_str().unwrap_or("").to_string(), seq: seq(&v).unwrap_or(0) },
        "snapshot" => Kind::Snapshot { seq: seq(&v).unwrap_or(0) },
        "update" | "remove" => {
            emit(&v);
            Kind::Event
        }
        "batch" => {
            for e in v["events"].as_array().into_iter().flatten() {
                emit(e);
            }
            Kind::Batch
        }
        "heartbeat" => Kind::Heartbeat,
        "error" => Kind::Error(format!("{}: {}", v["code"].as_str().unwrap_or("?"), v["message"].as_str().unwrap_or(""))),
        other => Kind::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(frame: &str) -> (Kind, Vec<(u64, i64)>) {
        let mut seen = Vec::new();
        let kind = classify(frame.as_bytes(), &mut |s, t| seen.push((s, t)));
        (kind, seen)
    }

    #[test]
    fn scanner_reads_the_servers_frames() {
        let update = r#"{"type":"update","seq":7,"ts":1700000000123,"changes":["score"],"game":{"id":"x","name":"{\"type\":\"update\",\"seq\":1"}}"#;
        assert_eq!(events(update), (Kind::Event, vec![(7, 1700000000123)]));
        let batch = r#"{"type":"batch","events":[{"type":"update","seq":8,"ts":5,"changes":["added"],"game":{"id":"a"}},{"type":"remove","seq":9,"ts":6,"id":"b"}]}"#;
        assert_eq!(events(batch), (Kind::Batch, vec![(8, 5), (9, 6)]));
        assert_eq!(events(r#"{"type":"snapshot","seq":3,"ts":1,"topics":["all"],"games":[]}"#).0, Kind::Snapshot { seq: 3 });
        assert_eq!(events(r#"{"type":"heartbeat","seq":3,"ts":1}"#).0, Kind::Heartbeat);
        assert_eq!(events(r#"{"type":"hello","epoch":"e1","seq":4,"heartbeat_s":20}"#).0, Kind::Hello { epoch: "e1".into(), seq: 4 });
        // Another field order falls back to a full parse.
        assert_eq!(events(r#"{"ts":9,"seq":2,"type":"update"}"#), (Kind::Event, vec![(2, 9)]));
    }
}
