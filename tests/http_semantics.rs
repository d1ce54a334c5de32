//! HTTP semantics on every listener (issue #17): `HEAD` for every `GET` route
//! (same status and headers, no body, the `GET` body's `Content-Length`),
//! `Allow` on every `405`, and `400` for a missing (HTTP/1.1) or repeated
//! `Host`, on the plain, TLS and admin listeners and on the `/sse` fast path.
//! Real service, real clients over TCP; raw TCP where reqwest cannot send the
//! request (no `Host`, two of them).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use reqwest::header::{HeaderMap, CONTENT_LENGTH};
use reqwest::Method;
use scoreticker::server::semantics::{Side, ROUTES};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A client that leaves bodies as the server sent them (no decompression, so
/// `Content-Length` and `Content-Encoding` are the server's own).
fn http() -> reqwest::Client {
    reqwest::Client::builder().no_gzip().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Sends `request` on `stream` and reads until the server closes or `limit` passes.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &[u8], limit: Duration) -> String {
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

async fn raw(addr: SocketAddr, request: &str) -> String {
    exchange(tokio::net::TcpStream::connect(addr).await.unwrap(), request.as_bytes(), Duration::from_secs(3)).await
}

/// The headers a `HEAD` must repeat from its `GET`.
const SAME_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "cache-control",
    "etag",
    "vary",
    "location",
    "access-control-allow-origin",
    "access-control-expose-headers",
    "x-poll-interval",
    "x-content-type-options",
];

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// `HEAD url` answers what `GET url` does: status, headers (all of
/// [`SAME_HEADERS`], or only the content type for a document that changes
/// from one request to the next) and, for a body of known length, its
/// `Content-Length`; with no body.
async fn assert_head_like_get(url: &str, request_headers: &[(&str, &str)], stable: bool) {
    let send = |method: Method| {
        let mut r = http().request(method, url);
        for (k, v) in request_headers {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let head = send(Method::HEAD).await.unwrap();
    let get = send(Method::GET).await.unwrap();
    assert_eq!(head.status(), get.status(), "HEAD {url} {request_headers:?}");
    assert_ne!(head.status(), 405, "HEAD {url}");
    let (head_headers, get_headers) = (head.headers().clone(), get.headers().clone());
    let checked: &[&str] = if stable { SAME_HEADERS } else { &["content-type"] };
    for name in checked {
        assert_eq!(header(&head_headers, name), header(&get_headers, name), "HEAD {url} {request_headers:?}: {name}");
    }
    let streaming = header(&get_headers, "content-type") == Some("text/event-stream");
    if !streaming {
        let get_length = header(&get_headers, "content-length").map(|v| v.parse::<usize>().unwrap());
        let body = get.bytes().await.unwrap();
        if get_length.is_some() {
            assert_eq!(get_length, Some(body.len()));
            let head_length = header(&head_headers, "content-length").map(|v| v.parse::<usize>().unwrap());
            if stable {
                assert_eq!(head_length, Some(body.len()), "HEAD {url}: the GET body's length");
            } else {
                assert!(head_length.is_some(), "HEAD {url}: a Content-Length");
            }
        }
    }
    assert!(head.bytes().await.unwrap().is_empty(), "HEAD {url}: no body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_get_route_answers_head_on_every_listener() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[("f.toml", feed_file("f", &upstream.url(), ""))], "").await;
    service.wait_for_games(1).await;
    let widget: serde_json::Value = reqwest::get(service.http("/api/v1/widget")).await.unwrap().json().await.unwrap();
    let pinned = widget["url"].as_str().unwrap().to_string();
    let etag = http().get(service.http("/api/v1/games?topics=all")).send().await.unwrap().headers()["etag"].to_str().unwrap().to_string();

    let stable_public = [
        "/api/v1/games?topics=all",
        "/api/v1/games?topics=league:nba",
        "/api/v1/games",
        "/api/v1/games?topics=league:NBA", // 301
        "/api/v1/games?topics=nope",       // 400
        "/",
        "/embed",
        "/diagnostics",
        "/ticker.js",
        "/ticker.v1.js",
        &pinned,
        "/healthz",
        "/readyz",
        "/ws",          // 426: a HEAD never upgrades
        "/no/such/page", // 404
    ];
    for path in stable_public {
        assert_head_like_get(&service.http(path), &[], true).await;
    }
    for encoding in ["br", "gzip", "identity"] {
        assert_head_like_get(&service.http("/ticker.js"), &[("accept-encoding", encoding)], true).await;
    }
    assert_head_like_get(&service.http("/api/v1/games?topics=all"), &[("if-none-match", &etag)], true).await; // 304
    assert_head_like_get(&service.http("/api/v1/widget"), &[], true).await;
    assert_head_like_get(&service.http("/sse?topics=all"), &[], false).await;
    // A HEAD carrying a WebSocket upgrade is not upgraded either.
    let upgrade = [("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-version", "13"), ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")];
    let head = http().head(service.http("/ws")).headers(reqwest_headers(&upgrade)).send().await;
    let head = head.unwrap_or_else(|_| panic!("HEAD /ws with an upgrade"));
    assert_eq!(head.status(), 426);

    for path in ["/status", "/status?format=html", "/healthz", "/readyz"] {
        assert_head_like_get(&service.admin(path), &[], true).await;
    }
    for path in ["/metrics", "/status?format=json", "/api/v1/feeds", "/status/events"] {
        assert_head_like_get(&service.admin(path), &[], false).await;
    }

    // On the wire: the head and nothing after it, so the next response on the
    // connection follows at once.
    let answer = raw(service.addr, "HEAD /ticker.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let (first, rest) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{answer:?}"));
    assert!(first.starts_with("HTTP/1.1 200") && first.contains("content-encoding: br"), "{first}");
    let length: usize = first.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().parse().unwrap();
    assert!(length > 1000, "the brotli body's length, {length}");
    assert!(rest.starts_with("HTTP/1.1 200") && rest.ends_with("\r\n\r\nok\n"), "the next response right after the head: {rest:?}");
    service.running.stop().await;
}

fn reqwest_headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs.iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect()
}

/// Each method a path does not answer gets `405` whose `Allow` is the table's
/// list for it; the table's own methods do not.
async fn assert_allow(base: &str, side: Side, extra: &[(&str, &str)]) {
    let paths = ROUTES.iter().filter(|(_, s, _)| *s == side || *s == Side::Every).map(|(p, _, allow)| (*p, *allow));
    for (path, allow) in paths.chain(extra.iter().copied()) {
        for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let r = http().request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{base}{path}")).send().await.unwrap();
            if allow.split(", ").any(|m| m == method) {
                assert_ne!(r.status(), 405, "{method} {path} is in its Allow list");
            } else {
                assert_eq!(r.status(), 405, "{method} {path}");
                assert_eq!(r.headers().get("allow").map(|v| v.to_str().unwrap()), Some(allow), "{method} {path}");
                assert!(r.headers().get(CONTENT_LENGTH).is_some(), "{method} {path}: an error object");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_405_says_what_is_allowed() {
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[("f.toml", feed_file("f", &upstream.url(), ""))], "").await;
    let files = [("/ticker.js", "GET, HEAD"), ("/", "GET, HEAD"), ("/embed", "GET, HEAD")];
    assert_allow(&format!("http://{}", service.addr), Side::Public, &files).await;
    assert_allow(&format!("http://{}", service.running.admin_addr), Side::Admin, &[]).await;
    // A path nobody serves is a 404 whatever the method; the admin listener's
    // paths are not the public one's.
    for (method, url) in [("POST", service.http("/no/such/page")), ("DELETE", service.http("/metrics")), ("POST", service.admin("/ws"))] {
        let r = http().request(Method::from_bytes(method.as_bytes()).unwrap(), &url).send().await.unwrap();
        assert_eq!(r.status(), 404, "{method} {url}");
    }
    service.running.stop().await;

    // One listener for both: each path keeps its own list.
    let service = start_service(&[("f.toml", feed_file("f", &upstream.url(), ""))], "[admin]\nlisten = \"public\"\n").await;
    assert_eq!(service.running.admin_addr, service.addr);
    let base = format!("http://{}", service.addr);
    assert_allow(&base, Side::Public, &files).await;
    assert_allow(&base, Side::Admin, &[]).await;
    service.running.stop().await;
}

/// The answer's status line.
fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_is_required_once_on_http_1_1_on_every_listener() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = common::tls::make_pki("host");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), &pki.cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), &pki.key).unwrap();
    let tls_config = format!("[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"{}\"\nkey = \"{}\"\n", dir.path().join("cert.pem").display(), dir.path().join("key.pem").display());
    let upstream = Upstream::start(vec![Step::json(&espn_live())]).await;
    let service = start_service(&[("f.toml", feed_file("f", &upstream.url(), ""))], &tls_config).await;
    service.wait_for_games(1).await;
    let tls_addr = service.running.tls_addr.unwrap();

    let refused = [
        "GET /healthz HTTP/1.1\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        "GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n",
        "HEAD /api/v1/games HTTP/1.1\r\n\r\n",
        "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ];
    let served = ["GET /healthz HTTP/1.1\r\nHost: scores.example.com:8080\r\nConnection: close\r\n\r\n", "GET /healthz HTTP/1.0\r\n\r\n"];
    for (name, addr) in [("public", service.addr), ("admin", service.running.admin_addr)] {
        for request in refused {
            let answer = raw(addr, request).await;
            assert!(status_line(&answer).ends_with(" 400 Bad Request"), "{name}: {request:?}\n{answer}");
            let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            let said = body.contains("\"code\":\"bad_request\"") && body.contains("Host");
            assert!(said || request.starts_with("HEAD") && body.is_empty(), "{name}: {answer}");
        }
        for request in served {
            let answer = raw(addr, request).await;
            assert!(status_line(&answer).ends_with("200 OK"), "{name}: {request:?}\n{answer}");
        }
    }
    for request in refused {
        let stream = common::tls::connect(tls_addr, &pki.ca).await.unwrap();
        let answer = exchange(stream, request.as_bytes(), Duration::from_secs(3)).await;
        assert!(status_line(&answer).ends_with(" 400 Bad Request"), "TLS: {request:?}\n{answer}");
    }
    for request in served {
        let stream = common::tls::connect(tls_addr, &pki.ca).await.unwrap();
        let answer = exchange(stream, request.as_bytes(), Duration::from_secs(3)).await;
        assert!(status_line(&answer).ends_with("200 OK"), "TLS: {request:?}\n{answer}");
    }

    // The /sse fast path (the connection's first request, plain TCP) keeps the rule:
    // refused requests get hyper's 400, not a stream.
    for request in ["GET /sse?topics=all HTTP/1.1\r\n\r\n", "GET /sse HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"] {
        let answer = raw(service.addr, request).await;
        assert_eq!(status_line(&answer), "HTTP/1.1 400 Bad Request", "{request:?}\n{answer}");
    }
    for request in ["GET /sse?topics=all HTTP/1.0\r\n\r\n", "GET /sse?topics=all HTTP/1.1\r\nHost: a\r\n\r\n"] {
        let mut stream = tokio::net::TcpStream::connect(service.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("\"type\":\"hello\"") {
            let n = tokio::time::timeout(WAIT, stream.read(&mut buf)).await.expect("the stream in time").unwrap();
            assert!(n > 0, "{request:?}: closed: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200 OK"), "{request:?}");
    }
    service.running.stop().await;
}
