//! Which redirects a poll may follow.
//!
//! The HTTP client follows no redirect by itself ([`reqwest::redirect::Policy::none`]):
//! [`super::fetch`] follows them hop by hop and asks [`check`] first, because
//! reqwest's own policy can refuse a hop but cannot drop the feed's custom
//! headers (often an API key) from it. The rules:
//!
//! - a hop to the feed's own origin (scheme, host, port) is followed, headers and all;
//! - a hop to another origin is followed only when the feed lists that origin
//!   in `allow_redirects_to`, and then without the feed's `[headers]`;
//! - a hop to a link-local address (169.254.0.0/16, where cloud metadata
//!   services live, and fe80::/10), named directly or reached through a host name
//!   that resolves to one, is refused unless the feed's own URL names that host:
//!   an address written in the URL is checked here ([`check`]), a name when
//!   the connection resolves it ([`super::resolver`]), so the address checked
//!   is the address connected to;
//! - at most [`MAX_HOPS`] hops per poll.

use std::net::IpAddr;

use reqwest::Url;

use crate::config::{origin_of, FeedConfig};

/// Redirects followed in one poll before it is given up as a failure.
pub const MAX_HOPS: usize = 5;

/// A redirect that may be followed, and whether the feed's headers go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// The feed's own origin: the request carries the feed's `[headers]`.
    SameOrigin,
    /// An origin the feed allows explicitly: no custom headers.
    AllowedOrigin,
}

/// Why a redirect was not followed. The text names origins only, never a path
/// or query (they may carry tokens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("redirect to {0} refused: another origin, not listed in allow_redirects_to")]
    OtherOrigin(String),
    #[error("redirect to {0} refused: a link-local or metadata address")]
    LinkLocal(String),
    #[error("redirect refused: more than {MAX_HOPS} redirects")]
    TooMany,
    #[error("redirect refused: {0}")]
    BadLocation(String),
}

/// Resolves a `Location` header against the URL that answered with it.
pub fn location(current: &Url, value: &str) -> Result<Url, Refusal> {
    let next = current.join(value).map_err(|e| Refusal::BadLocation(format!("unreadable Location: {e}")))?;
    if next.scheme() != "http" && next.scheme() != "https" {
        return Err(Refusal::BadLocation(format!("scheme `{}` is not http or https", next.scheme())));
    }
    Ok(next)
}

/// Decides whether `next` may be fetched for `feed`. A host name of another
/// host is not resolved here: the client for other hosts refuses it when it
/// resolves it to connect ([`super::resolver`]), so the check and the
/// connection see the same addresses.
pub fn check(feed: &FeedConfig, next: &Url) -> Result<Hop, Refusal> {
    if !is_own_host(feed, next) && names_link_local(next) {
        return Err(Refusal::LinkLocal(origin_of(next)));
    }
    let own = Url::parse(&feed.url).map_err(|e| Refusal::BadLocation(format!("feed URL: {e}")))?;
    if own.origin() == next.origin() {
        return Ok(Hop::SameOrigin);
    }
    let origin = origin_of(next);
    if feed.allow_redirects_to.contains(&origin) {
        Ok(Hop::AllowedOrigin)
    } else {
        Err(Refusal::OtherOrigin(origin))
    }
}

/// Whether `url` is on the host the feed's own URL names: exempt from the
/// link-local rule, and fetched with the ordinary client.
pub fn is_own_host(feed: &FeedConfig, url: &Url) -> bool {
    Url::parse(&feed.url).is_ok_and(|own| own.host_str() == url.host_str())
}

/// True when the URL's host is a link-local address written as one (names are
/// the resolver's: [`super::resolver`]).
fn names_link_local(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_link_local(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_link_local(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) | None => false,
    }
}

/// 169.254.0.0/16 and fe80::/10, including IPv4 addresses written as IPv6.
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => (v6.segments()[0] & 0xffc0) == 0xfe80,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_ranges() {
        assert!(is_link_local("169.254.169.254".parse().unwrap()));
        assert!(is_link_local("fe80::1".parse().unwrap()));
        assert!(is_link_local("::ffff:169.254.169.254".parse().unwrap()));
        assert!(!is_link_local("127.0.0.1".parse().unwrap()));
        assert!(!is_link_local("10.0.0.1".parse().unwrap()));
        assert!(!is_link_local("fec0::1".parse().unwrap()));
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let base = Url::parse("http://a.example/x/y?k=1").unwrap();
        assert_eq!(location(&base, "/z").unwrap().as_str(), "http://a.example/z");
        assert_eq!(location(&base, "http://2852039166/").unwrap().host_str(), Some("169.254.169.254"));
        assert!(matches!(location(&base, "file:///etc/passwd"), Err(Refusal::BadLocation(_))));
    }
}
