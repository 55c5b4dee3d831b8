//! Shared set-up for the integration tests: a client pointed at the simulator through the dev-loopback switch, and
//! a tiny scripted HTTP server for answers the simulator does not give (redirects, 404s, looping cursors).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use s1_core::ApiToken;
use s1_simulator::SimHandle;
use sentinelone_client::{ClientOptions, ConsoleUrl, RecordingClock, S1Client, UrlPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub fn dev_policy() -> UrlPolicy {
    UrlPolicy::from_values(None, Some("1")).expect("the dev switch")
}

pub fn token(value: &str) -> ApiToken {
    ApiToken::new(value.to_string()).expect("test token is well-formed")
}

/// Options for tests: the pacing high enough that the limiter never waits, the clock recording.
pub fn test_options(clock: Arc<RecordingClock>) -> ClientOptions {
    ClientOptions {
        requests_per_second: 100_000.0,
        clock,
        ..ClientOptions::default()
    }
}

pub fn client_for(sim: &SimHandle, options: ClientOptions) -> S1Client {
    let console = ConsoleUrl::parse(&sim.base_url(), &dev_policy())
        .expect("simulator URL is allowed in dev mode");
    S1Client::new(console, token(&sim.token()), options).expect("client builds")
}

pub fn recording_client(sim: &SimHandle) -> (S1Client, Arc<RecordingClock>) {
    let clock = RecordingClock::new();
    (client_for(sim, test_options(clock.clone())), clock)
}

/// A scripted console on 127.0.0.1: answers the n-th connection with the n-th response (the last one repeats)
/// and records each request head.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl ScriptedServer {
    pub async fn start(responses: Vec<String>) -> ScriptedServer {
        Self::start_with_latency(responses, Duration::ZERO).await
    }

    /// [`ScriptedServer::start`], each answer sent `latency` after its request arrived (a slow console).
    pub async fn start_with_latency(responses: Vec<String>, latency: Duration) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((mut socket, _)) = listener.accept().await {
                let response = responses
                    .get(n)
                    .or(responses.last())
                    .cloned()
                    .unwrap_or_default();
                n += 1;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                seen.lock()
                    .expect("lock")
                    .push(String::from_utf8_lossy(&buf).into_owned());
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        ScriptedServer { addr, heads }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }

    pub fn client(&self, clock: Arc<RecordingClock>) -> S1Client {
        self.client_with(test_options(clock))
    }

    pub fn client_with(&self, options: ClientOptions) -> S1Client {
        let console =
            ConsoleUrl::parse(&self.url(), &dev_policy()).expect("loopback allowed in dev mode");
        S1Client::new(console, token("eyJscripted-test-token-0123456789"), options).expect("client")
    }
}

pub fn http_response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}
