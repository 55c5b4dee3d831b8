//! Which console URLs the connector may call (contract decision 1). The URL is user input fetched from inside the
//! customer's AWS account, so it is an SSRF vector: syntax is checked once in [`ConsoleUrl::parse`], and every
//! address is checked at connection time by [`CheckingResolver`], the resolver the HTTP client actually uses, so
//! what was checked is exactly what is connected to (no DNS-rebinding gap).
//!
//! XDR / Data Lake hosts (`xdr.<region>.sentinelone.net`) and ingest hosts (`ingest.<region>…`) serve a different
//! API with different tokens; they are refused with a message saying so rather than failing later with a 404.
//!
//! This file holds the policy, its errors and [`ConsoleUrl`] (the syntax check); `addresses` says which
//! addresses are refused, `resolve` resolves names and checks every address at connection time.

mod addresses;
mod resolve;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use addresses::non_public_class;
use addresses::AddressRule;
pub use resolve::{resolve_checked, CheckingResolver, Resolve, StaticResolver, SystemResolver};

/// Host suffixes of SentinelOne's commercial and US-government SaaS consoles.
const S1_SUFFIXES: [&str; 2] = [".sentinelone.net", ".s1gov.net"];

const ALLOW_LIST_RULE: &str =
    "a comma-separated list of host names (console.corp.example) and host suffixes \
     (.corp.example), without scheme, port, path or wildcard";

/// An allow-list entry after trimming and lower-casing: a host name, or a suffix starting with one '.'.
fn is_allow_list_entry(entry: &str) -> bool {
    let host = entry.strip_prefix('.').unwrap_or(entry);
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Deployment-level knobs of the URL policy. Default: SaaS consoles only, no loopback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Extra hosts for on-prem consoles: `console.corp.example` allows exactly that host, `.corp.example` any host
    /// under it. Entries are compared case-insensitively.
    pub allow_list: Vec<String>,
    /// Local development only: allows `http://127.0.0.1:<port>`, `http://localhost:<port>` and `http://[::1]:<port>`
    /// (the simulator). Never set by the SAM template.
    pub allow_dev_loopback: bool,
}

impl UrlPolicy {
    /// Reads `S1_CONSOLE_ALLOW_LIST` (comma-separated hosts and `.suffix` entries) and `S1_DEV_ALLOW_LOOPBACK` (`1`
    /// turns it on, `0` or unset leaves it off). Anything else in either is refused, so a typo in the allow-list or
    /// a `true` meant as "on" stops the start-up instead of silently calling or refusing the wrong consoles.
    pub fn from_env() -> Result<UrlPolicy, UrlPolicyError> {
        let read = |name: &'static str| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(UrlPolicyError::Environment {
                name,
                rule: "UTF-8 text",
                value: v.to_string_lossy().into_owned(),
            }),
        };
        UrlPolicy::from_values(
            read("S1_CONSOLE_ALLOW_LIST")?.as_deref(),
            read("S1_DEV_ALLOW_LOOPBACK")?.as_deref(),
        )
    }

    /// [`UrlPolicy::from_env`] without the environment, for tests and callers holding the values already.
    pub fn from_values(
        allow_list: Option<&str>,
        dev_loopback: Option<&str>,
    ) -> Result<UrlPolicy, UrlPolicyError> {
        let allow_list = allow_list
            .unwrap_or("")
            .split(',')
            .map(|entry| entry.trim().trim_end_matches('.').to_ascii_lowercase())
            // Empty entries (a trailing comma) are tolerated; malformed ones are not.
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                if is_allow_list_entry(&entry) {
                    Ok(entry)
                } else {
                    Err(UrlPolicyError::Environment {
                        name: "S1_CONSOLE_ALLOW_LIST",
                        rule: ALLOW_LIST_RULE,
                        value: entry,
                    })
                }
            })
            .collect::<Result<_, _>>()?;
        let allow_dev_loopback = match dev_loopback.map(str::trim).unwrap_or("") {
            "1" => true,
            "" | "0" => false,
            other => {
                return Err(UrlPolicyError::Environment {
                    name: "S1_DEV_ALLOW_LOOPBACK",
                    rule: "1 (allow the simulator's loopback URLs) or 0, or unset",
                    value: other.to_string(),
                })
            }
        };
        Ok(UrlPolicy {
            allow_list,
            allow_dev_loopback,
        })
    }

    fn allows_listed(&self, host: &str) -> bool {
        self.allow_list.iter().any(|entry| {
            if let Some(suffix) = entry.strip_prefix('.') {
                host.len() > suffix.len() + 1 && host.ends_with(entry.as_str())
            } else {
                host == entry
            }
        })
    }
}

/// Why a console URL or one of its addresses was refused. Each Display tells the user what to enter instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlPolicyError {
    #[error(
        "the console URL is not a valid URL: enter it as https://<your-console>.sentinelone.net"
    )]
    Invalid,
    #[error("the console URL must start with https:// (got {scheme}://): enter https://<your-console>.sentinelone.net")]
    NotHttps { scheme: String },
    #[error(
        "the console URL must name a host, not the IP address {ip}: enter the console's name, e.g. \
         https://<your-console>.sentinelone.net"
    )]
    IpLiteral { ip: IpAddr },
    #[error(
        "{host} is not a SentinelOne console host: it must end in .sentinelone.net or .s1gov.net (on-prem consoles \
         must be added to the deployment's allow-list by an administrator)"
    )]
    HostNotAllowed { host: String },
    #[error(
        "{host} is a SentinelOne XDR / ingest address, not the management console: enter the URL you open the \
         management console with"
    )]
    NotManagementConsole { host: String },
    #[error("the console URL must not carry a user name or password: remove the part before '@'")]
    UserInfo,
    #[error("the console URL must not name port {port}: SentinelOne consoles are served on the standard https port")]
    Port { port: u16 },
    #[error(
        "{host} resolves to {ip}, a {class} address, which the connector refuses to call: enter the console's \
         public URL"
    )]
    AddressRefused {
        host: String,
        ip: IpAddr,
        class: &'static str,
    },
    /// A deployment variable of the policy is malformed (reported at start-up, never to a tenant).
    #[error("environment variable {name} must be {rule}, not {value:?}")]
    Environment {
        name: &'static str,
        rule: &'static str,
        value: String,
    },
    #[error("{host} did not resolve to any address: check the console URL for typos")]
    NoAddress { host: String },
    #[error("could not resolve {host} ({reason}): check the console URL for typos and try again")]
    Resolution { host: String, reason: String },
}

/// A console URL that passed the syntax rules: always the console root, e.g. `https://usea1-acme.sentinelone.net`.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleUrl {
    root: String,
    host: String,
    /// Set only when the dev-loopback switch admitted this URL; then its addresses must be loopback instead of
    /// public.
    dev_loopback: bool,
}

impl fmt::Debug for ConsoleUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConsoleUrl").field(&self.root).finish()
    }
}

impl fmt::Display for ConsoleUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)
    }
}

impl ConsoleUrl {
    /// Applies decision 1's syntax rules and normalises to the console root. Address checks happen on resolution.
    pub fn parse(input: &str, policy: &UrlPolicy) -> Result<ConsoleUrl, UrlPolicyError> {
        let trimmed = input.trim();
        // The WHATWG parser also decodes the odd IPv4 spellings (0x7f.1, 2130706433, 127.1) into real addresses, so
        // they are caught as IP literals below rather than slipping through as "hostnames".
        let parsed = url::Url::parse(trimmed).map_err(|_| UrlPolicyError::Invalid)?;
        let scheme = parsed.scheme().to_ascii_lowercase();
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlPolicyError::UserInfo);
        }
        let host = parsed.host().ok_or(UrlPolicyError::Invalid)?;

        if policy.allow_dev_loopback && scheme == "http" {
            if let Some(url) = dev_loopback_url(&host, parsed.port()) {
                return Ok(url);
            }
        }
        if scheme != "https" {
            return Err(UrlPolicyError::NotHttps { scheme });
        }
        let host = match host {
            url::Host::Ipv4(ip) => return Err(UrlPolicyError::IpLiteral { ip: IpAddr::V4(ip) }),
            url::Host::Ipv6(ip) => return Err(UrlPolicyError::IpLiteral { ip: IpAddr::V6(ip) }),
            url::Host::Domain(name) => name.trim_end_matches('.').to_ascii_lowercase(),
        };
        if host.is_empty() || host.parse::<IpAddr>().is_ok() {
            return Err(UrlPolicyError::Invalid);
        }
        // `url` drops the default port, so any port still present is a non-443 one.
        if let Some(port) = parsed.port() {
            return Err(UrlPolicyError::Port { port });
        }
        let s1_suffix = S1_SUFFIXES
            .iter()
            .find(|suffix| host.ends_with(*suffix) && host.len() > suffix.len());
        if let Some(suffix) = s1_suffix {
            let first_label = host.split('.').next().unwrap_or("");
            let labels_before_suffix = host[..host.len() - suffix.len()].split('.').count();
            if matches!(first_label, "xdr" | "ingest") && labels_before_suffix > 1 {
                return Err(UrlPolicyError::NotManagementConsole { host });
            }
        } else if !policy.allows_listed(&host) {
            return Err(UrlPolicyError::HostNotAllowed { host });
        }
        Ok(ConsoleUrl {
            root: format!("https://{host}"),
            host,
            dev_loopback: false,
        })
    }

    /// The console root without a trailing slash, e.g. `https://usea1-acme.sentinelone.net`.
    pub fn as_str(&self) -> &str {
        &self.root
    }

    /// The host name (or loopback literal in dev mode) the client connects to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether this URL was admitted by the local-development loopback switch.
    pub fn is_dev_loopback(&self) -> bool {
        self.dev_loopback
    }

    /// `…/web/api/v2.1/<path>`; every endpoint hangs off this base.
    pub(crate) fn api_url(&self, path: &str) -> String {
        format!(
            "{}/web/api/v2.1/{}",
            self.root,
            path.trim_start_matches('/')
        )
    }

    fn address_rule(&self) -> AddressRule {
        if self.dev_loopback {
            AddressRule::LoopbackOnly
        } else {
            AddressRule::PublicOnly
        }
    }
}

fn dev_loopback_url(host: &url::Host<&str>, port: Option<u16>) -> Option<ConsoleUrl> {
    let port = port?;
    let host = match host {
        url::Host::Ipv4(ip) if *ip == Ipv4Addr::LOCALHOST => "127.0.0.1".to_string(),
        url::Host::Ipv6(ip) if *ip == Ipv6Addr::LOCALHOST => "[::1]".to_string(),
        url::Host::Domain(name) if name.eq_ignore_ascii_case("localhost") => {
            "localhost".to_string()
        }
        _ => return None,
    };
    Some(ConsoleUrl {
        root: format!("http://{host}:{port}"),
        host,
        dev_loopback: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saas() -> UrlPolicy {
        UrlPolicy::default()
    }

    #[test]
    fn from_values_reads_allow_list_and_exact_dev_switch() {
        let p = UrlPolicy::from_values(Some(" S1.Corp.Example , .onprem.example.,, "), Some("1"))
            .unwrap();
        assert_eq!(
            p.allow_list,
            vec!["s1.corp.example".to_string(), ".onprem.example".to_string()]
        );
        assert!(p.allow_dev_loopback);
        assert!(
            !UrlPolicy::from_values(None, Some("0"))
                .unwrap()
                .allow_dev_loopback
        );
        assert!(
            !UrlPolicy::from_values(None, Some(" "))
                .unwrap()
                .allow_dev_loopback
        );
        assert_eq!(UrlPolicy::from_values(None, None), Ok(UrlPolicy::default()));
    }

    #[test]
    fn a_dev_switch_other_than_1_or_0_is_refused_never_read_as_on() {
        for bad in ["true", "yes", "on", "01", "1 1"] {
            let err = UrlPolicy::from_values(None, Some(bad)).expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "environment variable S1_DEV_ALLOW_LOOPBACK must be 1 (allow the simulator's loopback URLs) \
                     or 0, or unset, not {bad:?}"
                )
            );
        }
    }

    #[test]
    fn a_malformed_allow_list_entry_is_refused_with_the_entry() {
        for bad in [
            "https://s1.corp.example",
            "s1.corp.example:443",
            "*.corp.example",
            "s1.corp.example/web",
            "s1 corp.example",
            "..corp.example",
            "-bad.example",
        ] {
            let err = UrlPolicy::from_values(Some(&format!("ok.example, {bad}")), None)
                .expect_err(bad)
                .to_string();
            assert!(
                err.starts_with(
                    "environment variable S1_CONSOLE_ALLOW_LIST must be a comma-separated list"
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn suffix_entries_need_a_label_before_them() {
        let p = UrlPolicy::from_values(Some(".onprem.example"), None).unwrap();
        assert!(ConsoleUrl::parse("https://s1.onprem.example", &p).is_ok());
        assert!(ConsoleUrl::parse("https://onprem.example", &p).is_err());
        assert!(ConsoleUrl::parse("https://evilonprem.example", &p).is_err());
    }

    #[test]
    fn api_url_hangs_off_the_root() {
        let c = ConsoleUrl::parse(
            "https://usea1-acme.sentinelone.net/dashboard?x=1#y",
            &saas(),
        )
        .unwrap();
        assert_eq!(
            c.api_url("agents"),
            "https://usea1-acme.sentinelone.net/web/api/v2.1/agents"
        );
    }
}
