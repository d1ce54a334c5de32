//! One HTTP poll of an upstream: conditional, bounded in time and size.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION, RETRY_AFTER,
};
use reqwest::StatusCode;

use crate::config::{origin_of, FeedConfig};
use crate::feeds::redirect::{self, Hop, Refusal};
use crate::feeds::resolver::{self, GuardedResolver};
use crate::telemetry;
use crate::untrusted::Untrusted;

/// What the upstream told us last time, so the next request can be conditional.
#[derive(Debug, Default, Clone)]
pub struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
    /// Hash of the last body handed on. Most sports upstreams send no ETag, so an
    /// identical body is recognized here and costs no parse.
    body_hash: Option<u64>,
}

#[derive(Debug)]
pub enum Fetched {
    /// A new body to parse.
    Body(Bytes),
    /// 304 Not Modified.
    NotModified,
    /// 200, but byte-for-byte the body we had.
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("HTTP {status}")]
    Status { status: u16, retry_after: Option<Duration> },
    #[error("body larger than the {limit}-byte cap")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Transport(String),
    /// A redirect the feed's redirect policy does not allow (see [`redirect`]).
    #[error("{0}")]
    Redirect(Refusal),
}

impl FetchError {
    /// The outcome label used in logs, health records and metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            FetchError::Timeout(_) => "timeout",
            FetchError::Status { .. } => "http_error",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Transport(_) => "transport_error",
            FetchError::Redirect(_) => "redirect_refused",
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The shared HTTP client: rustls, connection pooling, gzip.
pub fn client() -> reqwest::Client {
    builder().build().expect("the HTTP client builds with static settings")
}

/// The client for redirect hops to hosts other than the feed's own: the same,
/// with names resolved under the redirect policy ([`resolver`]).
pub fn other_hosts_client(resolver: GuardedResolver) -> reqwest::Client {
    builder().dns_resolver(resolver).build().expect("the HTTP client builds with static settings")
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("scoreticker/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        // Redirects are followed by `fetch` itself, hop by hop, under the feed's
        // redirect policy (`redirect::check`).
        .redirect(reqwest::redirect::Policy::none())
}

/// What a poll fetches with: `own` for the feed's own host (which its operator
/// named), `other_hosts` for redirect hops anywhere else.
#[derive(Debug, Clone, Copy)]
pub struct Clients<'a> {
    pub own: &'a reqwest::Client,
    pub other_hosts: &'a reqwest::Client,
}

/// The process's client for other hosts, with the system's resolver: one for
/// every feed (it is needed only for the rare hop to another host, and building
/// a client costs tens of milliseconds).
fn other_hosts() -> &'static reqwest::Client {
    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| other_hosts_client(GuardedResolver::system()));
    &CLIENT
}

/// Polls `feed.url` once with `client`, following the redirects its policy allows.
pub async fn fetch(client: &reqwest::Client, feed: &FeedConfig, validators: &mut Validators) -> Result<Fetched, FetchError> {
    fetch_with(Clients { own: client, other_hosts: other_hosts() }, feed, validators).await
}

/// [`fetch`] with the clients given.
pub async fn fetch_with(clients: Clients<'_>, feed: &FeedConfig, validators: &mut Validators) -> Result<Fetched, FetchError> {
    let mut conditional = HeaderMap::new();
    if let Some(etag) = validators.etag.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        conditional.insert(IF_NONE_MATCH, etag);
    }
    if let Some(lm) = validators.last_modified.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        conditional.insert(IF_MODIFIED_SINCE, lm);
    }
    let mut response = follow(clients, feed, conditional).await?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after)
            }
            _ => None,
        };
        return Err(FetchError::Status { status: status.as_u16(), retry_after });
    }
    let limit = feed.max_body_bytes;
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(FetchError::TooLarge { limit });
    }
    let etag = header_text(response.headers(), ETAG);
    let last_modified = header_text(response.headers(), LAST_MODIFIED);
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| request_error(feed, &e))? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(FetchError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    validators.etag = etag;
    validators.last_modified = last_modified;
    let hash = hash_body(&body);
    if validators.body_hash == Some(hash) {
        return Ok(Fetched::Unchanged);
    }
    Ok(Fetched::Body(body))
}

/// Requests `feed.url` and the redirect hops its policy allows, within the
/// feed's timeout: the first answer that is not a redirect to follow.
async fn follow(clients: Clients<'_>, feed: &FeedConfig, conditional: HeaderMap) -> Result<reqwest::Response, FetchError> {
    let mut custom = HeaderMap::new();
    for (name, value) in &feed.headers.0 {
        // Validated at config load.
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            custom.insert(n, v);
        }
    }
    // One deadline for the whole poll, redirects included.
    let deadline = tokio::time::Instant::now() + feed.timeout;
    let mut url = reqwest::Url::parse(&feed.url).map_err(|e| FetchError::Transport(format!("feed URL: {e}")))?;
    let mut from = url.clone();
    let mut hop = Hop::SameOrigin;
    let mut hops = 0;
    loop {
        let mut headers = conditional.clone();
        if hop == Hop::SameOrigin {
            headers.extend(custom.clone());
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return Err(FetchError::Timeout(feed.timeout));
        }
        let client = if redirect::is_own_host(feed, &url) { clients.own } else { clients.other_hosts };
        let response = match client.get(url.clone()).headers(headers).timeout(remaining).send().await {
            Ok(response) => response,
            // The hop's name resolved to a link-local address when it connected.
            Err(e) if resolver::refused_name(&e).is_some() => return Err(refused(feed, &from, Refusal::LinkLocal(origin_of(&url)))),
            Err(e) => return Err(request_error(feed, &e)),
        };
        if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED {
            return Ok(response);
        }
        let Some(target) = response.headers().get(LOCATION) else {
            // A 3xx without a Location is the upstream's answer; treated as an error by the caller.
            return Ok(response);
        };
        let next = target
            .to_str()
            .map_err(|_| Refusal::BadLocation("Location is not text".into()))
            .and_then(|t| redirect::location(&url, t));
        hops += 1;
        let checked = match next {
            Ok(_) if hops > redirect::MAX_HOPS => Err(Refusal::TooMany),
            Ok(next) => redirect::check(feed, &next).map(|h| (h, next)),
            Err(e) => Err(e),
        };
        match checked {
            Ok((h, next)) => {
                hop = h;
                from = std::mem::replace(&mut url, next);
            }
            Err(refusal) => return Err(refused(feed, &url, refusal)),
        }
    }
}

/// A request that failed: timed out, or the transport's chain of causes.
fn request_error(feed: &FeedConfig, e: &reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout(feed.timeout)
    } else {
        // Never include the request (and its headers) in the message.
        FetchError::Transport(error_chain(e))
    }
}

/// A redirect from `from` the policy refused: counted, logged, and the poll's error.
fn refused(feed: &FeedConfig, from: &reqwest::Url, refusal: Refusal) -> FetchError {
    metrics::counter!(telemetry::REDIRECTS_REFUSED, "feed" => feed.id.clone()).increment(1);
    tracing::warn!(feed = %feed.id, from = %origin_of(from), reason = %Untrusted(&refusal), "redirect refused");
    FetchError::Redirect(refusal)
}

impl Validators {
    /// Called once a body has been parsed successfully: only then is it "the
    /// last body", so a body that failed to parse is parsed again next time.
    pub fn accept(&mut self, body: &[u8]) {
        self.body_hash = Some(hash_body(body));
    }

    /// Forgets the validators of a body that failed to parse, so the next poll
    /// fetches it whole instead of trusting a 304 for a body we never used.
    pub fn reject(&mut self) {
        self.etag = None;
        self.last_modified = None;
    }
}

fn hash_body(body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    h.finish()
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Retry-After is either delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_both_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let later = std::time::SystemTime::now() + Duration::from_secs(3600);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(d > Duration::from_secs(3590) && d <= Duration::from_secs(3600), "{d:?}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}

