//! Decision 1 as a table: what a user may paste as the console URL, and which addresses a name may resolve to.

use std::net::IpAddr;

use sentinelone_client::{resolve_checked, ConsoleUrl, StaticResolver, UrlPolicy, UrlPolicyError};

fn saas() -> UrlPolicy {
    UrlPolicy::default()
}

fn on_prem() -> UrlPolicy {
    UrlPolicy::from_values(Some("s1.corp.example,.consoles.bank.example"), None)
        .expect("a valid allow-list")
}

fn dev() -> UrlPolicy {
    UrlPolicy::from_values(None, Some("1")).expect("the dev switch")
}

/// (input, policy, expected root or None when refused, expected error kind when refused)
#[allow(clippy::type_complexity)]
fn syntax_cases() -> Vec<(&'static str, UrlPolicy, Result<&'static str, &'static str>)> {
    vec![
        // Good SaaS consoles from several regions, as pasted.
        (
            "https://usea1-partners.sentinelone.net",
            saas(),
            Ok("https://usea1-partners.sentinelone.net"),
        ),
        (
            "https://euce1-120-mssp.sentinelone.net",
            saas(),
            Ok("https://euce1-120-mssp.sentinelone.net"),
        ),
        (
            "https://apse1-2111-mssp.sentinelone.net",
            saas(),
            Ok("https://apse1-2111-mssp.sentinelone.net"),
        ),
        (
            "https://usea1-011.sentinelone.net",
            saas(),
            Ok("https://usea1-011.sentinelone.net"),
        ),
        (
            "https://usgovwe1-gdit.s1gov.net",
            saas(),
            Ok("https://usgovwe1-gdit.s1gov.net"),
        ),
        (
            "https://usgovwe1-901.s1gov.net/",
            saas(),
            Ok("https://usgovwe1-901.s1gov.net"),
        ),
        (
            "https://acme.sentinelone.net",
            saas(),
            Ok("https://acme.sentinelone.net"),
        ),
        (
            "  https://acme.sentinelone.net/  ",
            saas(),
            Ok("https://acme.sentinelone.net"),
        ),
        (
            "HTTPS://USEA1-Purple.SentinelOne.NET",
            saas(),
            Ok("https://usea1-purple.sentinelone.net"),
        ),
        (
            "https://usea1-cw04mdr.sentinelone.net/dashboard",
            saas(),
            Ok("https://usea1-cw04mdr.sentinelone.net"),
        ),
        (
            "https://usea1-partners.sentinelone.net/web/api/v2.1",
            saas(),
            Ok("https://usea1-partners.sentinelone.net"),
        ),
        (
            "https://usea1-partners.sentinelone.net/web/api/v2.1/",
            saas(),
            Ok("https://usea1-partners.sentinelone.net"),
        ),
        (
            "https://acme.sentinelone.net/incidents/threats?filter=x#top",
            saas(),
            Ok("https://acme.sentinelone.net"),
        ),
        (
            "https://acme.sentinelone.net:443/dashboard",
            saas(),
            Ok("https://acme.sentinelone.net"),
        ),
        (
            "https://acme.sentinelone.net./",
            saas(),
            Ok("https://acme.sentinelone.net"),
        ),
        // On-prem through the deployment allow-list: exact host and suffix entries.
        (
            "https://s1.corp.example",
            on_prem(),
            Ok("https://s1.corp.example"),
        ),
        (
            "https://eu.consoles.bank.example/login",
            on_prem(),
            Ok("https://eu.consoles.bank.example"),
        ),
        ("https://s1.corp.example", saas(), Err("host")),
        ("https://other.corp.example", on_prem(), Err("host")),
        ("https://consoles.bank.example", on_prem(), Err("host")),
        // Scheme.
        (
            "http://usea1-partners.sentinelone.net",
            saas(),
            Err("scheme"),
        ),
        ("ftp://acme.sentinelone.net", saas(), Err("scheme")),
        ("usea1-partners.sentinelone.net", saas(), Err("invalid")),
        ("", saas(), Err("invalid")),
        ("https://", saas(), Err("invalid")),
        // IP literals in every odd spelling the WHATWG parser understands.
        ("https://10.0.0.1", saas(), Err("ip")),
        ("https://169.254.169.254", saas(), Err("ip")),
        (
            "https://169.254.169.254/latest/meta-data/",
            saas(),
            Err("ip"),
        ),
        ("https://127.0.0.1", saas(), Err("ip")),
        ("https://8.8.8.8", saas(), Err("ip")),
        ("https://[::1]", saas(), Err("ip")),
        ("https://[::ffff:127.0.0.1]", saas(), Err("ip")),
        ("https://[fd00:ec2::254]", saas(), Err("ip")),
        ("https://0x7f.1", saas(), Err("ip")),
        ("https://2130706433", saas(), Err("ip")),
        ("https://0177.0.0.1", saas(), Err("ip")),
        ("https://127.1", saas(), Err("ip")),
        ("https://0x7f000001", saas(), Err("ip")),
        // Hosts that only look like SentinelOne.
        ("https://sentinelone.net", saas(), Err("host")),
        ("https://evil-sentinelone.net", saas(), Err("host")),
        (
            "https://acme.sentinelone.net.evil.example",
            saas(),
            Err("host"),
        ),
        ("https://acme.sentinelone.network", saas(), Err("host")),
        ("https://metadata.google.internal", saas(), Err("host")),
        ("https://localhost", saas(), Err("host")),
        // The XDR / ingest APIs are not the management console.
        ("https://xdr.us1.sentinelone.net", saas(), Err("xdr")),
        ("https://ingest.eu1.sentinelone.net", saas(), Err("xdr")),
        // Userinfo and ports.
        (
            "https://user:pass@acme.sentinelone.net",
            saas(),
            Err("userinfo"),
        ),
        (
            "https://acme.sentinelone.net@evil.example",
            saas(),
            Err("userinfo"),
        ),
        (
            "https://token@acme.sentinelone.net",
            saas(),
            Err("userinfo"),
        ),
        ("https://acme.sentinelone.net:8443", saas(), Err("port")),
        ("https://acme.sentinelone.net:80", saas(), Err("port")),
        // The dev switch admits plain-http loopback only, and nothing else changes.
        ("http://127.0.0.1:8089", dev(), Ok("http://127.0.0.1:8089")),
        (
            "http://localhost:8089/web/api/v2.1",
            dev(),
            Ok("http://localhost:8089"),
        ),
        ("http://[::1]:8089", dev(), Ok("http://[::1]:8089")),
        ("http://127.0.0.1:8089", saas(), Err("scheme")),
        ("http://localhost:8089", saas(), Err("scheme")),
        ("http://10.0.0.1:8089", dev(), Err("scheme")),
        ("http://127.0.0.2:8089", dev(), Err("scheme")),
        ("http://acme.sentinelone.net", dev(), Err("scheme")),
        ("https://10.0.0.1", dev(), Err("ip")),
        ("https://acme.sentinelone.net:8443", dev(), Err("port")),
        (
            "https://acme.sentinelone.net",
            dev(),
            Ok("https://acme.sentinelone.net"),
        ),
    ]
}

fn kind(e: &UrlPolicyError) -> &'static str {
    match e {
        UrlPolicyError::Invalid => "invalid",
        UrlPolicyError::NotHttps { .. } => "scheme",
        UrlPolicyError::IpLiteral { .. } => "ip",
        UrlPolicyError::HostNotAllowed { .. } => "host",
        UrlPolicyError::NotManagementConsole { .. } => "xdr",
        UrlPolicyError::UserInfo => "userinfo",
        UrlPolicyError::Port { .. } => "port",
        UrlPolicyError::AddressRefused { .. } => "address",
        UrlPolicyError::NoAddress { .. } => "no_address",
        UrlPolicyError::Resolution { .. } => "resolution",
        UrlPolicyError::Environment { .. } => "environment",
    }
}

#[test]
fn console_url_syntax_table() {
    let cases = syntax_cases();
    assert!(
        cases.len() >= 40,
        "the table must keep at least 40 cases, has {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for (input, policy, expected) in &cases {
        let got = ConsoleUrl::parse(input, policy);
        let ok = match (&got, expected) {
            (Ok(url), Ok(root)) => url.as_str() == *root,
            (Err(e), Err(k)) => kind(e) == *k,
            _ => false,
        };
        if !ok {
            failures.push(format!("{input:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn refusals_tell_the_user_what_to_do() {
    let e = ConsoleUrl::parse("https://0x7f.1", &saas()).unwrap_err();
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    assert!(e.to_string().contains("not the IP address"), "{e}");
    let e = ConsoleUrl::parse("http://acme.sentinelone.net", &saas()).unwrap_err();
    assert!(e.to_string().contains("must start with https://"), "{e}");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// (resolved addresses of acme.sentinelone.net, accepted?)
fn address_cases() -> Vec<(Vec<&'static str>, bool)> {
    vec![
        (vec!["104.18.7.99"], true),
        (vec!["104.18.7.99", "2606:4700::6812:763"], true),
        (vec!["127.0.0.1"], false),
        (vec!["127.8.9.10"], false),
        (vec!["10.0.0.5"], false),
        (vec!["172.16.3.4"], false),
        (vec!["172.31.255.255"], false),
        (vec!["192.168.1.1"], false),
        (vec!["169.254.169.254"], false),
        (vec!["169.254.170.2"], false),
        (vec!["169.254.1.1"], false),
        (vec!["100.64.0.1"], false),
        (vec!["100.100.100.200"], false),
        (vec!["0.0.0.0"], false),
        (vec!["224.0.0.1"], false),
        (vec!["255.255.255.255"], false),
        (vec!["192.0.2.10"], false),
        (vec!["198.18.0.1"], false),
        (vec!["::1"], false),
        (vec!["::"], false),
        (vec!["::ffff:127.0.0.1"], false),
        (vec!["::ffff:10.0.0.5"], false),
        (vec!["::ffff:169.254.169.254"], false),
        (vec!["::127.0.0.1"], false),
        (vec!["64:ff9b::10.0.0.5"], false),
        (vec!["fd00:ec2::254"], false),
        (vec!["fc00::1"], false),
        (vec!["fe80::1"], false),
        (vec!["ff02::1"], false),
        (vec!["2001:db8::1"], false),
        // One bad address poisons the name: a client must not be steerable to it by connection order.
        (vec!["104.18.7.99", "10.0.0.5"], false),
        (vec![], false),
    ]
}

#[tokio::test]
async fn resolved_address_table() {
    let console = ConsoleUrl::parse("https://acme.sentinelone.net", &saas()).unwrap();
    let mut failures = Vec::new();
    for (addrs, accepted) in address_cases() {
        let ips: Vec<IpAddr> = addrs.iter().map(|a| ip(a)).collect();
        let resolver = StaticResolver::new().with("acme.sentinelone.net", &ips);
        let got = resolve_checked(&console, &resolver).await;
        if got.is_ok() != accepted {
            failures.push(format!(
                "{addrs:?}: expected accepted={accepted}, got {got:?}"
            ));
        }
        if let Ok(socket_addrs) = got {
            let got_ips: Vec<IpAddr> = socket_addrs.iter().map(|s| s.ip()).collect();
            assert_eq!(
                got_ips, ips,
                "the checked addresses are exactly the resolved ones"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_name_resolving_to_loopback_or_private_is_refused_with_its_class() {
    let console = ConsoleUrl::parse("https://rebind.sentinelone.net", &saas()).unwrap();
    let loopback = StaticResolver::new().with("rebind.sentinelone.net", &[ip("127.0.0.1")]);
    let e = resolve_checked(&console, &loopback).await.unwrap_err();
    assert!(
        matches!(
            e,
            UrlPolicyError::AddressRefused {
                class: "loopback",
                ..
            }
        ),
        "{e:?}"
    );
    let private = StaticResolver::new().with("rebind.sentinelone.net", &[ip("10.0.0.5")]);
    let e = resolve_checked(&console, &private).await.unwrap_err();
    assert!(
        e.to_string().contains("10.0.0.5") && e.to_string().contains("private"),
        "{e}"
    );
    let missing = StaticResolver::new();
    let e = resolve_checked(&console, &missing).await.unwrap_err();
    assert!(matches!(e, UrlPolicyError::Resolution { .. }), "{e:?}");
}

#[tokio::test]
async fn dev_loopback_urls_accept_only_loopback_addresses() {
    let console = ConsoleUrl::parse("http://localhost:9000", &dev()).unwrap();
    assert!(console.is_dev_loopback());
    let good = StaticResolver::new().with("localhost", &[ip("127.0.0.1"), ip("::1")]);
    assert!(resolve_checked(&console, &good).await.is_ok());
    let bad = StaticResolver::new().with("localhost", &[ip("10.0.0.5")]);
    assert!(resolve_checked(&console, &bad).await.is_err());
    // A SaaS URL under the dev switch is still held to the public-address rule.
    let saas_url = ConsoleUrl::parse("https://acme.sentinelone.net", &dev()).unwrap();
    assert!(!saas_url.is_dev_loopback());
    let rebind = StaticResolver::new().with("acme.sentinelone.net", &[ip("127.0.0.1")]);
    assert!(resolve_checked(&saas_url, &rebind).await.is_err());
}
