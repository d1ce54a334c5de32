//! The server → client messages of the wire protocol (their JSON), encoded
//! once. How they are framed on a connection is the transport's business
//! (`server/ws`, `server/sse`).
//!
//! Games are serialized once when they change and then spliced as raw bytes into
//! every frame that carries them (updates, snapshots, batches), so no client
//! ever costs a JSON serialization of its own.

use bytes::{BufMut, Bytes, BytesMut};

use crate::diff::Change;

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

pub fn hello(epoch: &str, seq: u64, heartbeat_s: u64) -> Bytes {
    Bytes::from(format!(r#"{{"type":"hello","epoch":{},"seq":{seq},"heartbeat_s":{heartbeat_s}}}"#, json_str(epoch)))
}

pub fn heartbeat(seq: u64, ts: i64) -> Bytes {
    Bytes::from(format!(r#"{{"type":"heartbeat","seq":{seq},"ts":{ts}}}"#))
}

pub fn error(code: &str, message: &str) -> Bytes {
    Bytes::from(format!(r#"{{"type":"error","code":{},"message":{}}}"#, json_str(code), json_str(message)))
}

pub fn update(seq: u64, ts: i64, changes: &[Change], game_json: &[u8]) -> Bytes {
    let changes = serde_json::to_string(changes).expect("changes serialize");
    let mut b = BytesMut::with_capacity(game_json.len() + 96);
    b.put_slice(format!(r#"{{"type":"update","seq":{seq},"ts":{ts},"changes":{changes},"game":"#).as_bytes());
    b.put_slice(game_json);
    b.put_u8(b'}');
    b.freeze()
}

pub fn remove(seq: u64, ts: i64, id: &str) -> Bytes {
    Bytes::from(format!(r#"{{"type":"remove","seq":{seq},"ts":{ts},"id":{}}}"#, json_str(id)))
}

pub fn snapshot<'a>(seq: u64, ts: i64, topics: &[String], games: impl Iterator<Item = &'a [u8]>) -> Bytes {
    let topics = serde_json::to_string(topics).expect("topics serialize");
    joined(format!(r#"{{"type":"snapshot","seq":{seq},"ts":{ts},"topics":{topics},"games":["#).as_bytes(), games, b"]}")
}

pub fn batch<'a>(events: impl Iterator<Item = &'a [u8]>) -> Bytes {
    joined(br#"{"type":"batch","events":["#, events, b"]}")
}

/// The body of `GET /api/v1/games`.
pub fn games_document<'a>(epoch: &str, seq: u64, games: impl Iterator<Item = &'a [u8]>) -> Bytes {
    joined(format!(r#"{{"epoch":{},"seq":{seq},"games":["#, json_str(epoch)).as_bytes(), games, b"]}")
}

/// `head`, the items comma-separated, then `tail`, in one allocation of
/// exactly that size. These frames reach hundreds of kilobytes, and a buffer
/// grown by doubling would keep up to half again unused for as long as the
/// frame lives: for a stalled client's snapshot, its whole stall (measured:
/// tests/bench/stalled.sh).
fn joined<'a>(head: &[u8], items: impl Iterator<Item = &'a [u8]>, tail: &[u8]) -> Bytes {
    let items: Vec<&[u8]> = items.collect();
    let len = head.len() + items.iter().map(|i| i.len()).sum::<usize>() + items.len().saturating_sub(1) + tail.len();
    let mut b = BytesMut::with_capacity(len);
    b.put_slice(head);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            b.put_u8(b',');
        }
        b.put_slice(item);
    }
    b.put_slice(tail);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(b: &Bytes) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn frames_are_valid_json_of_the_documented_shape() {
        assert_eq!(parse(&hello("e\"1", 5, 20)), json!({"type":"hello","epoch":"e\"1","seq":5,"heartbeat_s":20}));
        assert_eq!(parse(&error("bad_request", "no \"type\"")), json!({"type":"error","code":"bad_request","message":"no \"type\""}));
        assert_eq!(
            parse(&update(7, 99, &[Change::Score, Change::Clock], br#"{"id":"x"}"#)),
            json!({"type":"update","seq":7,"ts":99,"changes":["score","clock"],"game":{"id":"x"}})
        );
        assert_eq!(parse(&remove(8, 100, "f:1")), json!({"type":"remove","seq":8,"ts":100,"id":"f:1"}));
        let games: Vec<&[u8]> = vec![br#"{"id":"a"}"#, br#"{"id":"b"}"#];
        assert_eq!(
            parse(&snapshot(9, 1, &["all".into()], games.iter().copied())),
            json!({"type":"snapshot","seq":9,"ts":1,"topics":["all"],"games":[{"id":"a"},{"id":"b"}]})
        );
        assert_eq!(parse(&batch(std::iter::empty())), json!({"type":"batch","events":[]}));
        assert_eq!(parse(&games_document("e", 3, games.into_iter())), json!({"epoch":"e","seq":3,"games":[{"id":"a"},{"id":"b"}]}));
    }
}
