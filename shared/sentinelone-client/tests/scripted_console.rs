//! Answers the simulator does not give, from a scripted console on loopback: redirects (never followed), 404 and
//! 400 (never retried), a looping cursor, and the resolver deciding where the client may connect.

mod support;

use std::net::IpAddr;
use std::sync::Arc;

use futures::TryStreamExt;
use sentinelone_client::{
    AgentQuery, ClientOptions, ConsoleUrl, RecordingClock, S1Client, S1Error, StaticResolver,
    UrlPolicy, UrlPolicyError,
};
use support::{http_response, token, ScriptedServer};

#[tokio::test]
async fn a_302_to_an_internal_address_is_reported_not_followed() {
    // The redirect target is a second loopback listener: if the client followed, it would see a connection.
    let target = ScriptedServer::start(vec![http_response("200 OK", &[], "{}")]).await;
    let to_metadata = http_response(
        "302 Found",
        &[(
            "Location",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        )],
        "",
    );
    let to_loopback_location = format!("{}/web/api/v2.1/system/info", target.url());
    let to_loopback = http_response(
        "302 Found",
        &[("Location", to_loopback_location.as_str())],
        "",
    );
    let console = ScriptedServer::start(vec![to_metadata, to_loopback]).await;
    let client = console.client(RecordingClock::new());

    let e = client
        .system_info()
        .await
        .expect_err("a redirect is an error");
    match &e {
        S1Error::Redirect {
            status, location, ..
        } => {
            assert_eq!(*status, 302);
            assert_eq!(location, "http://169.254.169.254");
        }
        other => panic!("expected Redirect, got {other:?}"),
    }
    assert!(e.to_string().contains("does not follow"), "{e}");
    assert!(
        !e.to_string().contains("security-credentials"),
        "the path is not echoed: {e}"
    );

    let e = client
        .system_info()
        .await
        .expect_err("a redirect is an error");
    assert_eq!(e.kind(), "redirect");
    assert_eq!(
        console.requests().len(),
        2,
        "one request per call, no retry"
    );
    assert!(
        target.requests().is_empty(),
        "the redirect target was contacted"
    );
}

#[tokio::test]
async fn not_found_and_bad_request_are_not_retried() {
    let not_found = http_response(
        "404 Not Found",
        &[("Content-Type", "text/html")],
        "<html>nginx</html>",
    );
    let server = ScriptedServer::start(vec![not_found]).await;
    let e = server
        .client(RecordingClock::new())
        .system_info()
        .await
        .expect_err("404");
    assert_eq!(e.kind(), "not_found");
    assert!(e.to_string().contains("not a SentinelOne console"), "{e}");
    assert_eq!(server.requests().len(), 1);

    let bad = http_response(
        "400 Bad Request",
        &[("Content-Type", "application/json")],
        r#"{"errors":[{"code":4000010,"detail":"limit: must be <= 1000","title":"Validation Error"}]}"#,
    );
    let server = ScriptedServer::start(vec![bad]).await;
    let pages = server
        .client(RecordingClock::new())
        .agents(AgentQuery::default());
    futures::pin_mut!(pages);
    let e = pages.try_next().await.expect_err("400");
    assert_eq!(e.kind(), "bad_request");
    assert!(
        e.to_string()
            .contains("(400, code 4000010 Validation Error)"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_repeated_cursor_stops_the_walk() {
    let page = |cursor: &str| {
        let body = format!(
            r#"{{"data":[{{"id":"{cursor}-1","computerName":"host-{cursor}"}}],"pagination":{{"nextCursor":"{cursor}","totalItems":9}}}}"#
        );
        http_response("200 OK", &[("Content-Type", "application/json")], &body)
    };
    // A, then B, then A again: the console is looping.
    let server = ScriptedServer::start(vec![page("A"), page("B"), page("A")]).await;
    let pages = server
        .client(RecordingClock::new())
        .agents(AgentQuery::default());
    futures::pin_mut!(pages);
    let mut yielded = 0;
    let error = loop {
        match pages.try_next().await {
            Ok(Some(_)) => yielded += 1,
            Ok(None) => panic!("the walk ended without noticing the loop"),
            Err(e) => break e,
        }
    };
    assert_eq!(error.kind(), "repeated_cursor");
    assert_eq!(
        yielded, 3,
        "the records of every page served are still yielded"
    );
    assert_eq!(server.requests().len(), 3);
    assert!(pages.try_next().await.expect("ended").is_none());
}

#[tokio::test]
async fn requests_carry_the_auth_scheme_user_agent_and_accept_headers() {
    let server = ScriptedServer::start(vec![http_response("200 OK", &[], r#"{"data":{}}"#)]).await;
    server
        .client(RecordingClock::new())
        .system_info()
        .await
        .expect("ok");
    let head = server
        .requests()
        .pop()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        head.starts_with("get /web/api/v2.1/system/info http/1.1"),
        "{head}"
    );
    assert!(
        head.contains("authorization: apitoken eyjscripted-test-token-0123456789\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "user-agent: s1-connector/{}\r\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{head}"
    );
    assert!(head.contains("accept: application/json\r\n"), "{head}");
}

#[test]
fn debug_output_never_shows_the_token() {
    let console =
        ConsoleUrl::parse("https://acme.sentinelone.net", &UrlPolicy::default()).expect("url");
    let client = S1Client::new(
        console,
        token("eyJsecret-value-never-printed-42"),
        ClientOptions::default(),
    )
    .expect("client");
    let debug = format!("{client:?}");
    assert!(!debug.contains("secret-value"), "{debug}");
    assert!(debug.contains("acme.sentinelone.net"), "{debug}");
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[tokio::test]
async fn a_console_name_resolving_to_loopback_is_refused_before_any_connection() {
    // A listener on 127.0.0.1:443 cannot be had in a test, so the proof is that the refusal comes from the
    // resolver check (a policy error naming the address) rather than from a failed connection.
    let console =
        ConsoleUrl::parse("https://rebind.sentinelone.net", &UrlPolicy::default()).expect("url");
    for (address, class) in [
        ("127.0.0.1", "loopback"),
        ("10.0.0.5", "private"),
        ("169.254.169.254", "cloud metadata"),
    ] {
        let resolver = StaticResolver::new().with("rebind.sentinelone.net", &[ip(address)]);
        let options = ClientOptions {
            resolver: Arc::new(resolver),
            ..ClientOptions::default()
        };
        let client = S1Client::new(
            console.clone(),
            token("eyJresolver-test-token-000000"),
            options,
        )
        .expect("client");
        let e = client.system_info().await.expect_err("refused");
        match &e {
            S1Error::UrlRefused(UrlPolicyError::AddressRefused {
                ip: got,
                class: got_class,
                ..
            }) => {
                assert_eq!(got.to_string(), address);
                assert_eq!(*got_class, class);
            }
            other => panic!("{address}: expected an address refusal, got {other:?}"),
        }
        assert!(!e.is_retryable());
    }
}

#[tokio::test]
async fn connections_go_only_to_the_addresses_the_checking_resolver_returned() {
    let server = ScriptedServer::start(vec![http_response("200 OK", &[], r#"{"data":{}}"#)]).await;
    let port = server.addr.port();
    let console = ConsoleUrl::parse(&format!("http://localhost:{port}"), &support::dev_policy())
        .expect("url");
    // Through the pluggable resolver "localhost" means the scripted server: the request arrives.
    let resolver = StaticResolver::new().with("localhost", &[ip("127.0.0.1")]);
    let options = ClientOptions {
        resolver: Arc::new(resolver),
        ..ClientOptions::default()
    };
    let client = S1Client::new(
        console.clone(),
        token("eyJresolver-test-token-000000"),
        options,
    )
    .expect("client");
    client
        .system_info()
        .await
        .expect("reaches the loopback console");
    assert_eq!(server.requests().len(), 1);
    // Even in dev mode a name that resolves off loopback is refused, and nothing is sent anywhere.
    let resolver = StaticResolver::new().with("localhost", &[ip("10.0.0.5")]);
    let options = ClientOptions {
        resolver: Arc::new(resolver),
        ..ClientOptions::default()
    };
    let client =
        S1Client::new(console, token("eyJresolver-test-token-000000"), options).expect("client");
    let e = client.system_info().await.expect_err("refused");
    assert_eq!(e.kind(), "url_refused");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unresolvable_name_is_a_dns_error() {
    let console =
        ConsoleUrl::parse("https://nowhere.sentinelone.net", &UrlPolicy::default()).expect("url");
    let options = ClientOptions {
        resolver: Arc::new(StaticResolver::new()),
        ..ClientOptions::default()
    };
    let client =
        S1Client::new(console, token("eyJresolver-test-token-000000"), options).expect("client");
    let e = client.system_info().await.expect_err("no such host");
    assert_eq!(e.kind(), "dns");
    assert!(e.to_string().contains("nowhere.sentinelone.net"), "{e}");
}
