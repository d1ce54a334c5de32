//! Name resolution for redirect hops to other hosts, with the redirect
//! policy's address rule applied to the very addresses connected to.
//!
//! Checking a host name and then letting the HTTP client resolve it again
//! leaves a window (DNS rebinding): the name can answer a harmless address to
//! the check and a metadata address (169.254.169.254) to the connection. So
//! hops to a host other than the feed's own go through a client whose resolver
//! is this one: each connection resolves its name once, here, and a name that
//! answers any link-local address is refused before anything connects; the
//! connection goes to exactly the addresses that passed. (The feed's own host
//! is exempt from the rule, as the operator named it: its requests use the
//! ordinary client. IP literals never reach a resolver; [`super::redirect`]
//! checks those.)
//!
//! Behind an HTTP proxy (`HTTP_PROXY`/`HTTPS_PROXY`), the proxy resolves names
//! and this rule can see IP literals only.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::redirect::is_link_local;

/// Looks a host name up: the system's resolver, or, in tests, names the test controls.
pub type Lookup = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> + Send + Sync>;

/// See the module docs.
#[derive(Clone)]
pub struct GuardedResolver {
    lookup: Lookup,
}

/// A name that answered a link-local address: the hop is refused.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves to a link-local or metadata address")]
pub struct LinkLocalName {
    pub name: String,
}

impl GuardedResolver {
    /// Resolves with the system's resolver (getaddrinfo, as the ordinary client does).
    pub fn system() -> GuardedResolver {
        GuardedResolver::with_lookup(Arc::new(|name: String| {
            Box::pin(async move { Ok(tokio::net::lookup_host((name.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
        }))
    }

    /// Resolves with `lookup`: for tests, whose names resolve as they say.
    pub fn with_lookup(lookup: Lookup) -> GuardedResolver {
        GuardedResolver { lookup }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (name, lookup) = (name.as_str().to_string(), self.lookup.clone());
        Box::pin(async move {
            let addresses = lookup(name.clone()).await?;
            if addresses.iter().any(|ip| is_link_local(*ip)) {
                return Err(Box::new(LinkLocalName { name }) as _);
            }
            // Port 0: the client puts the URL's port in.
            let addrs: Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The [`LinkLocalName`] somewhere in `error`'s chain of causes, if any.
pub fn refused_name<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a LinkLocalName> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<LinkLocalName>() {
            return Some(refused);
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(addresses: &[&str]) -> GuardedResolver {
        let addresses: Vec<IpAddr> = addresses.iter().map(|a| a.parse().unwrap()).collect();
        GuardedResolver::with_lookup(Arc::new(move |_| {
            let addresses = addresses.clone();
            Box::pin(async move { Ok(addresses) })
        }))
    }

    #[tokio::test]
    async fn link_local_answers_are_refused_and_others_pass_as_resolved() {
        let name = || "upstream.test".parse::<Name>().unwrap();
        let passed: Vec<SocketAddr> = fixed(&["10.0.0.7", "::1"]).resolve(name()).await.unwrap().collect();
        assert_eq!(passed, vec!["10.0.0.7:0".parse().unwrap(), "[::1]:0".parse().unwrap()]);
        for hostile in [&["169.254.169.254"][..], &["10.0.0.7", "fe80::1"], &["::ffff:169.254.169.254"]] {
            let err = fixed(hostile).resolve(name()).await.err().expect("refused");
            assert_eq!(refused_name(&*err).map(|r| r.name.as_str()), Some("upstream.test"), "{hostile:?}");
        }
    }
}
