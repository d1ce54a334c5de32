//! The server under hostile or careless clients (issue #12): limits that hold
//! the same on every way in, admin routes beside public ones, slow readers told
//! why they were dropped. Real service, real sockets, real clients.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

async fn status_and_json(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Defect: `/ws?topics=` skipped the cap the `subscribe` message obeys (4,000
/// topics were accepted). One check serves the URL, the message and `/sse`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_topics_obey_the_same_cap_as_the_subscribe_message() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[("f.toml", feed_file("f", &upstream.url(), ""))], "[limits]\nmax_topics_per_client = 8\n").await;
    let list = |n: usize| (0..n).map(|i| format!("game:g{i}")).collect::<Vec<_>>();

    // At the cap: accepted everywhere.
    let mut ok = Client::connect(&service.ws(&format!("?topics={}", list(8).join(",")))).await;
    ok.hello().await;
    assert_eq!(ok.next().await["type"], "snapshot");

    // One past it, or far past it: refused before the upgrade, like /sse.
    for n in [9, 1000] {
        let query = format!("?topics={}", list(n).join(","));
        match tokio_tungstenite::connect_async(service.ws(&query)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), 400);
                let body: Value = serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
                assert_eq!(body["code"], "too_many_topics", "{body}");
            }
            other => panic!("{n} topics in the URL must be refused, got {other:?}"),
        }
        let (status, body) = status_and_json(&service.http(&format!("/sse{query}"))).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("too_many_topics")));
    }
    // The message: the same code, as an error frame.
    let mut client = Client::connect(&service.ws("")).await;
    client.hello().await;
    client.send(json!({"type":"subscribe","topics":list(9)})).await;
    assert_eq!(client.next().await["code"], "too_many_topics");
    // A bad topic in the URL is still named.
    let (status, body) = status_and_json(&service.http("/sse?topics=colour:red")).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("unknown_topic")));
    let _ = tokio::time::timeout(Duration::from_secs(5), service.running.stop()).await;
}
