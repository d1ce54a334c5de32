//! The plain-HTTP side: the JSON snapshot API, feed health and liveness.

use std::sync::Arc;

use warp::http::{header, Response, StatusCode};

use crate::config::HttpSettings;
use crate::feeds::HealthBoard;
use crate::hub::{topics::canonical_key, Hub, Topic};
use crate::telemetry;

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
pub fn check_topics_param(raw: &str, max: usize) -> Result<Vec<Topic>, Box<Response<bytes::Bytes>>> {
    check_topics(raw.split(',').map(str::trim), max).map_err(|(code, message)| Box::new(error_response(StatusCode::BAD_REQUEST, code, &message)))
}

pub fn json_response(status: StatusCode, body: bytes::Bytes) -> Response<bytes::Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        // Upstream text is in there: never let a browser sniff it into HTML.
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(body)
        .expect("valid response")
}

pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response<bytes::Bytes> {
    json_response(status, crate::hub::frames::error(code, message))
}

/// The header that tells polling widgets how often to poll (whole seconds).
pub const POLL_INTERVAL_HEADER: &str = "x-poll-interval";

/// `GET /api/v1/games?topics=…`: the current games, with an ETag that changes
/// whenever an event touches one of the topics (epoch and the seq of that
/// event: [`crate::hub::topic_seqs`]), so pollers of this API, and caches in
/// front of it, get cheap 304s between changes of their own topics.
///
/// CDN mode: the answer may be kept by shared caches for `snapshot_max_age`
/// and served stale for `snapshot_stale` while they refresh it, and each topic
/// list has one URL: any other spelling of the query (order, duplicates, case,
/// percent-encoding, extra parameters) is redirected there, so a cache keeps
/// one entry per list instead of one per spelling. A bare `/api/v1/games`
/// answers as `topics=all` does.
pub fn games(hub: &Arc<Hub>, http: &HttpSettings, query: &str, if_none_match: Option<String>) -> Response<bytes::Bytes> {
    let topics = match parse_topics_param(super::query_param(query, "topics").as_deref()) {
        Ok(t) => t,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "unknown_topic", &message),
    };
    let canonical = format!("topics={}", canonical_key(&topics));
    // A bare `/api/v1/games` stays an alias of `topics=all`, for scripts and links.
    if !query.is_empty() && query != canonical {
        metrics::counter!(telemetry::SNAPSHOT_REQUESTS, "status" => "301").increment(1);
        // Relative to this URL, so it holds behind a proxy that mounts us under a prefix.
        return Response::builder()
            .status(StatusCode::MOVED_PERMANENTLY)
            .header(header::LOCATION, format!("?{canonical}"))
            .header(header::CACHE_CONTROL, "public, max-age=86400")
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .body(bytes::Bytes::new())
            .expect("valid response");
    }
    let cache_control = format!(
        "public, max-age={}, stale-while-revalidate={}",
        http.snapshot_max_age.as_secs(),
        http.snapshot_stale.as_secs()
    );
    let cacheable = |builder: warp::http::response::Builder, etag: &str| {
        builder
            .header(header::CACHE_CONTROL, &cache_control)
            .header(header::ETAG, etag)
            .header(POLL_INTERVAL_HEADER, http.snapshot_max_age.as_secs())
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .header(header::ACCESS_CONTROL_EXPOSE_HEADERS, format!("ETag, {POLL_INTERVAL_HEADER}"))
            // Upstream text is in there: never let a browser sniff it into HTML.
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
    };
    let etag = |epoch: &str, seq: u64| format!("\"{epoch}-{seq}\"");
    let (epoch, seq) = hub.games_version(&topics);
    let current = etag(&epoch, seq);
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == current)) {
        metrics::counter!(telemetry::SNAPSHOT_REQUESTS, "status" => "304").increment(1);
        return cacheable(Response::builder().status(StatusCode::NOT_MODIFIED), &current).body(bytes::Bytes::new()).expect("valid response");
    }
    let document = hub.games_document(&topics);
    metrics::counter!(telemetry::SNAPSHOT_REQUESTS, "status" => "200").increment(1);
    let etag = etag(&document.epoch, document.seq);
    cacheable(Response::builder().header(header::CONTENT_TYPE, "application/json"), &etag).body(document.body).expect("valid response")
}

/// `OPTIONS /api/v1/games`: the CORS preflight a cross-origin poller sending
/// `If-None-Match` needs, cached by browsers for a day.
pub fn games_preflight() -> Response<bytes::Bytes> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET")
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "If-None-Match")
        .header(header::ACCESS_CONTROL_MAX_AGE, "86400")
        .body(bytes::Bytes::new())
        .expect("valid response")
}

/// `GET /api/v1/feeds`: each feed's health record.
pub fn feeds(health: &HealthBoard) -> Response<bytes::Bytes> {
    let body = serde_json::to_vec(&serde_json::json!({ "feeds": health.all() })).expect("health serializes");
    json_response(StatusCode::OK, body.into())
}
