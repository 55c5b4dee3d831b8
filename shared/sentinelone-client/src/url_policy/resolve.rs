//! Name resolution with the address check: a pluggable [`Resolve`] (system DNS, or static answers for tests), the
//! one-off [`resolve_checked`], and the [`CheckingResolver`] the HTTP client connects through.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{AddressRule, ConsoleUrl, UrlPolicyError};

/// Name resolution, pluggable so tests can make "a name resolving to 127.0.0.1" without real DNS.
pub trait Resolve: Send + Sync {
    /// All addresses of `host`; ports in the result are ignored.
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (getaddrinfo on a blocking thread), which is what Lambda provides.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let target = format!("{host}:443");
        Box::pin(async move {
            Ok(tokio::net::lookup_host(target)
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    }
}

/// A fixed name → addresses table; names not in it fail like an NXDOMAIN. For tests and local tooling.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    entries: Vec<(String, Vec<IpAddr>)>,
}

impl StaticResolver {
    pub fn new() -> StaticResolver {
        StaticResolver::default()
    }

    pub fn with(mut self, host: &str, addrs: &[IpAddr]) -> StaticResolver {
        self.entries
            .push((host.to_ascii_lowercase(), addrs.to_vec()));
        self
    }
}

impl Resolve for StaticResolver {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let host = host.to_ascii_lowercase();
        let found = self
            .entries
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, addrs)| addrs.clone());
        Box::pin(async move {
            found.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "no such host in the static resolver table",
                )
            })
        })
    }
}

/// Resolves the console host once and checks every address. Refuses the whole name if any address is refused, so
/// a name mixing public and internal addresses cannot be used to reach the internal one.
pub async fn resolve_checked(
    console: &ConsoleUrl,
    resolver: &dyn Resolve,
) -> Result<Vec<SocketAddr>, UrlPolicyError> {
    check_host(console.host(), console.address_rule(), resolver).await
}

async fn check_host(
    host: &str,
    rule: AddressRule,
    resolver: &dyn Resolve,
) -> Result<Vec<SocketAddr>, UrlPolicyError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ips = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolver
            .lookup(bare)
            .await
            .map_err(|e| UrlPolicyError::Resolution {
                host: bare.to_string(),
                reason: e.kind().to_string(),
            })?,
    };
    if ips.is_empty() {
        return Err(UrlPolicyError::NoAddress {
            host: bare.to_string(),
        });
    }
    for ip in &ips {
        rule.check(bare, *ip)?;
    }
    Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect())
}

/// The resolver installed in the reqwest client: every connection the client opens goes through this check, and
/// the client connects only to the addresses it returns.
#[derive(Clone)]
pub struct CheckingResolver {
    inner: Arc<dyn Resolve>,
    rule: AddressRule,
    host: String,
}

impl CheckingResolver {
    pub fn new(console: &ConsoleUrl, inner: Arc<dyn Resolve>) -> CheckingResolver {
        CheckingResolver {
            inner,
            rule: console.address_rule(),
            host: console.host().to_string(),
        }
    }
}

impl reqwest::dns::Resolve for CheckingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let requested = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            // The client is built for one console; any other name (a redirect target, say) is refused outright.
            let expected = this.host.trim_start_matches('[').trim_end_matches(']');
            if requested.trim_end_matches('.') != expected {
                return Err(Box::new(UrlPolicyError::HostNotAllowed { host: requested }) as _);
            }
            let addrs = check_host(&requested, this.rule, this.inner.as_ref())
                .await
                .map_err(Box::new)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
