//! HTTP semantics every listener applies (RFC 9110, RFC 9112), in one place
//! rather than in each route:
//!
//! - **`Host`**: an HTTP/1.1 request without one, any request with more than
//!   one, or one whose value is not a host and port, is answered `400` before
//!   it is routed (RFC 9112 §3.2). HTTP/1.0 may leave it out. The accept loop's
//!   `/sse` fast path ([`super::sse::direct`]) applies the same [`host_rule`]
//!   and leaves a request that fails it to hyper, which answers it here.
//! - **`HEAD`** is answered as `GET` is, without the body: the request is routed
//!   as a `GET`, so every `GET` route answers `HEAD` with the same status and
//!   headers; hyper knows the request was a `HEAD` (it parsed it), sends no body,
//!   and keeps the `Content-Length` of the body the `GET` would have had when
//!   that length is known. A `HEAD` never upgrades (its `Upgrade` is dropped:
//!   `HEAD /ws` answers what a plain `GET /ws` does, `426`).
//! - **`405`** always carries `Allow`: [`ROUTES`] is the one table of which
//!   methods each path answers, and [`wrong_method`] answers from it once the
//!   routes have all turned a request down.

use warp::http::{header, Method, StatusCode, Version};
use warp::Filter;

use super::{api, Reply, Routes};

/// Which listener answers a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The public listener(s): plain and TLS.
    Public,
    /// The admin listener (or the public one, when there is no admin listener).
    Admin,
    /// Both.
    Every,
}

/// What a `GET` route answers: `HEAD` comes with it.
const GET: &str = "GET, HEAD";

/// Every fixed path the routes answer, the listener that answers it, and its
/// methods as `Allow` lists them. The widget's files and pages are the public
/// listener's too, `GET, HEAD` ([`super::page`]).
pub const ROUTES: &[(&str, Side, &str)] = &[
    ("/api/v1/games", Side::Public, "GET, HEAD, OPTIONS"),
    ("/api/v1/widget", Side::Public, GET),
    ("/ws", Side::Public, GET),
    ("/ws/echo", Side::Public, GET),
    ("/sse", Side::Public, GET),
    ("/healthz", Side::Every, GET),
    ("/readyz", Side::Every, GET),
    ("/metrics", Side::Admin, GET),
    ("/api/v1/feeds", Side::Admin, GET),
    ("/status", Side::Admin, GET),
    ("/status/events", Side::Admin, GET),
];

/// The methods `path` answers on `side`'s listener, as `Allow` lists them;
/// `None` for a path it does not serve.
pub fn allowed(side: Side, path: &str) -> Option<&'static str> {
    let fixed = ROUTES.iter().find(|(p, s, _)| *p == path && (*s == side || *s == Side::Every)).map(|(_, _, allow)| *allow);
    fixed.or_else(|| (side == Side::Public && super::page(path).is_some()).then_some(GET))
}

/// The last of a listener's routes: a method its path does not answer gets
/// `405` with `Allow`. Any other request is left to the rejection the routes
/// gave it (404, 400).
pub fn wrong_method(side: Side) -> Routes {
    warp::path::full()
        .and(warp::method())
        .and_then(move |path: warp::path::FullPath, method: Method| async move {
            match allowed(side, path.as_str()) {
                Some(allow) if !allow.split(", ").any(|m| m == method.as_str()) => Ok(warp::Reply::into_response(method_not_allowed(allow))),
                _ => Err(warp::reject::not_found()),
            }
        })
        .boxed()
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut reply = api::error_response(StatusCode::METHOD_NOT_ALLOWED, "bad_request", &format!("method not allowed; this resource answers {allow}"));
    reply.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
    reply
}

/// Why a request's `Host` header fields are refused (RFC 9112 §3.2), if they
/// are: `http11` is whether the request is HTTP/1.1 (HTTP/1.0 may omit the
/// header), `values` its `Host` field values in order.
pub fn host_rule<'a>(http11: bool, values: impl IntoIterator<Item = &'a [u8]>) -> Result<(), &'static str> {
    let mut values = values.into_iter();
    match (values.next(), values.next()) {
        (None, _) if http11 => Err("an HTTP/1.1 request must carry a Host header"),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err("more than one Host header"),
        (Some(value), None) => match std::str::from_utf8(value).ok().and_then(|v| v.parse::<warp::http::uri::Authority>().ok()) {
            // A host and port only: no user info, which an authority may hold but Host may not.
            Some(authority) if !authority.as_str().contains('@') => Ok(()),
            _ => Err("the Host header is not a host and port"),
        },
    }
}

/// Readies a request for the routes: applies [`host_rule`] (`Err`: the `400`
/// to answer instead) and routes `HEAD` as `GET` (see the module docs).
/// `Ok(true)`: the request is a `HEAD`, whose answer goes through [`head_answer`].
pub fn prepare<B>(request: &mut warp::http::Request<B>) -> Result<bool, warp::reply::Response> {
    let http11 = request.version() == Version::HTTP_11;
    if let Err(why) = host_rule(http11, request.headers().get_all(header::HOST).iter().map(|v| v.as_bytes())) {
        let mut reply = api::error_response(StatusCode::BAD_REQUEST, "bad_request", why);
        // The request was not understood: no second one on this connection.
        reply.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        return Err(warp::Reply::into_response(reply));
    }
    let head = request.method() == Method::HEAD;
    if head {
        *request.method_mut() = Method::GET;
        request.headers_mut().remove(header::UPGRADE);
    }
    Ok(head)
}

/// The `GET` answer, as the answer to a `HEAD`. hyper sends no body and keeps
/// a known length as `Content-Length`, except an empty body's, whose `0` it
/// leaves out for a `HEAD`: written here, so a `HEAD` says every length its
/// `GET` says.
pub fn head_answer(mut response: warp::reply::Response) -> warp::reply::Response {
    use hyper::body::Body as _;
    let status = response.status();
    let no_body = status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    if !no_body && response.body().size_hint().exact() == Some(0) && !response.headers().contains_key(header::CONTENT_LENGTH) {
        response.headers_mut().insert(header::CONTENT_LENGTH, header::HeaderValue::from_static("0"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_rule() {
        let one: [&[u8]; 1] = [b"scores.example.com:8080"];
        assert_eq!(host_rule(true, one), Ok(()));
        assert_eq!(host_rule(true, [&b"127.0.0.1"[..]]), Ok(()));
        assert_eq!(host_rule(true, [&b"[::1]:80"[..]]), Ok(()));
        assert!(host_rule(true, []).is_err(), "HTTP/1.1 without Host");
        assert_eq!(host_rule(false, []), Ok(()), "HTTP/1.0 may leave it out");
        assert!(host_rule(false, [&b"a"[..], &b"a"[..]]).is_err(), "two, even the same, even HTTP/1.0");
        for bad in [&b""[..], b"a b", b"user@host", b"host/path", b"\xff"] {
            assert!(host_rule(true, [bad]).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn allow_lists_come_from_one_table() {
        assert_eq!(allowed(Side::Public, "/api/v1/games"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(allowed(Side::Admin, "/healthz"), Some(GET));
        assert_eq!(allowed(Side::Public, "/metrics"), None, "the admin listener's");
        assert_eq!(allowed(Side::Admin, "/ws"), None);
        assert_eq!(allowed(Side::Public, "/ticker.js"), Some(GET), "a widget file");
        assert_eq!(allowed(Side::Public, "/"), Some(GET), "the demo page");
        assert_eq!(allowed(Side::Public, "/no/such/file"), None);
        for (path, _, allow) in ROUTES {
            assert!(allow.contains("GET") == allow.contains("HEAD"), "{path}: HEAD comes with GET");
        }
    }
}
