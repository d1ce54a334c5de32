//! Hostile and broken upstreams, served by real HTTP servers on 127.0.0.1:
//! whatever they send, the service keeps polling, keeps its state, and its
//! logs and memory stay its own.

mod common;

use common::*;
use serde_json::Value;

fn too_many_requests(retry_after: &str) -> Step {
    Step::Status { code: 429, headers: vec![("Retry-After".into(), retry_after.into())], body: b"slow down".to_vec() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_retry_after_waits_at_most_backoff_max() {
    // u64::MAX seconds used to panic on every poll ("overflow when adding
    // duration to instant"), a year used to silence the feed for a year. Both
    // now wait backoff_max (1s in these feeds), then the feed recovers.
    let upstream = Upstream::start(vec![
        too_many_requests("18446744073709551615"),
        too_many_requests("31536000"),
        Step::json(&espn_live()),
    ])
    .await;
    let service = start_service(&[("nba.toml", feed_file("nba", &upstream.url(), ""))], "").await;
    service.wait_for_games(1).await;
    let doc: Value = reqwest::get(service.admin("/api/v1/feeds")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["feeds"][0]["failures"], 2, "both 429s were recorded as failed polls: {doc}");
    assert_eq!(doc["feeds"][0]["last_outcome"], "ok", "{doc}");
    service.running.stop().await;
}
