//! Helpers shared by the integration tests: a client and page walking against a live simulator.
#![allow(dead_code)]

use serde_json::Value;

pub const API: &str = "/web/api/v2.1";

thread_local! {
    // One client per test thread: building a TLS-capable client per request dominated test time,
    // and a client must not outlive the test's runtime (its pooled connections belong to it).
    static CLIENT: reqwest::Client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("reqwest client");
}

pub fn client() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

pub async fn get(sim: &s1_simulator::SimHandle, path_and_query: &str) -> (u16, Value) {
    get_with(sim, path_and_query, &format!("ApiToken {}", sim.token())).await
}

pub async fn get_with(
    sim: &s1_simulator::SimHandle,
    path_and_query: &str,
    auth: &str,
) -> (u16, Value) {
    let resp = client()
        .get(format!("{}{API}/{path_and_query}", sim.base_url()))
        .header("Authorization", auth)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("json body");
    (status, body)
}

/// Walks a listing with cursors, re-sending the same filters; returns every record served.
pub async fn walk(
    sim: &s1_simulator::SimHandle,
    resource: &str,
    filters: &str,
    limit: u32,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = format!("{resource}?limit={limit}");
        if !filters.is_empty() {
            q.push('&');
            q.push_str(filters);
        }
        if let Some(c) = &cursor {
            q.push_str("&cursor=");
            q.push_str(&url_encode(c));
        }
        let (status, body) = get(sim, &q).await;
        assert_eq!(status, 200, "page {pages} of {resource}: {body}");
        let data = body["data"].as_array().expect("data array").clone();
        assert!(data.len() <= limit as usize);
        out.extend(data);
        pages += 1;
        match body["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10_000, "runaway walk");
    }
    out
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
