//! The plain-HTTP side: the JSON snapshot API, feed health and liveness.

use std::sync::Arc;

use warp::http::{header, Response, StatusCode};

use crate::feeds::HealthBoard;
use crate::hub::{Hub, Topic};

/// Parses `topics=a,b` (absent: `all`). Errors name the bad topic.
pub fn parse_topics_param(raw: Option<&str>) -> Result<Vec<Topic>, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(vec![Topic::All]),
        Some(list) => list.split(',').map(|t| t.trim().parse::<Topic>().map_err(|e| e.0)).collect(),
    }
}

/// Checks a client's list of topics the same way wherever it arrives (a
/// `subscribe` message, `/ws?topics=`, `/sse?topics=`): not empty, at most `max`
/// (looking no further than `max + 1`, so a huge list costs nothing), and every
/// one a valid topic. Errors are the protocol's error code and message.
pub fn check_topics<'a>(topics: impl IntoIterator<Item = &'a str>, max: usize) -> Result<Vec<Topic>, (&'static str, String)> {
    let topics: Vec<&str> = topics.into_iter().take(max.saturating_add(1)).collect();
    if topics.is_empty() {
        return Err(("bad_request", "topics must not be empty".into()));
    }
    if topics.len() > max {
        return Err(("too_many_topics", format!("at most {max} topics per connection")));
    }
    topics.iter().map(|t| t.parse::<Topic>().map_err(|e| ("unknown_topic", e.0))).collect()
}

/// [`check_topics`] for a `topics=a,b` query value, as the 400 to answer when it fails.
pub fn check_topics_param(raw: &str, max: usize) -> Result<Vec<Topic>, Response<bytes::Bytes>> {
    check_topics(raw.split(',').map(str::trim), max).map_err(|(code, message)| error_response(StatusCode::BAD_REQUEST, code, &message))
}

pub fn json_response(status: StatusCode, body: bytes::Bytes) -> Response<bytes::Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .body(body)
        .expect("valid response")
}

pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response<bytes::Bytes> {
    json_response(status, crate::hub::frames::error(code, message))
}

/// `GET /api/v1/games?topics=…`: the current games, with an ETag that changes
/// whenever any event is published (epoch and seq), so pollers of this API get
/// cheap 304s between changes.
pub fn games(hub: &Arc<Hub>, topics: Option<&str>, if_none_match: Option<String>) -> Response<bytes::Bytes> {
    let topics = match parse_topics_param(topics) {
        Ok(t) => t,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "unknown_topic", &message),
    };
    let seq = hub.seq();
    let etag = format!("\"{}-{}\"", hub.epoch(), seq);
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, etag)
            .body(bytes::Bytes::new())
            .expect("valid response");
    }
    let (seq, body) = hub.games_document(&topics);
    let mut response = json_response(StatusCode::OK, body);
    let etag = format!("\"{}-{}\"", hub.epoch(), seq);
    response.headers_mut().insert(header::ETAG, etag.parse().expect("ascii etag"));
    response
}

/// `GET /api/v1/feeds`: each feed's health record.
pub fn feeds(health: &HealthBoard) -> Response<bytes::Bytes> {
    let body = serde_json::to_vec(&serde_json::json!({ "feeds": health.all() })).expect("health serializes");
    json_response(StatusCode::OK, body.into())
}
