//! The `s1-simulator` binary prints its URL and token, serves, and stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_prints_url_and_token_then_serves_until_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_s1-simulator"))
        .args([
            "--agents",
            "40",
            "--threats",
            "80",
            "--sites",
            "2",
            "--groups-per-site",
            "2",
            "--seed",
            "9",
        ])
        .args(["--token", "eyJbinary-test-token-0001"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the simulator binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let ready: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let url = ready["url"].as_str().expect("url").to_owned();
    assert_eq!(ready["token"], "eyJbinary-test-token-0001");

    let resp = reqwest::Client::new()
        .get(format!("{url}/web/api/v2.1/agents/count"))
        .header("Authorization", "ApiToken eyJbinary-test-token-0001")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["data"]["total"], 40);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "clean exit on SIGTERM: {status}");
}

#[test]
fn binary_refuses_unknown_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_s1-simulator"))
        .arg("--agentz")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--agentz"));
}
