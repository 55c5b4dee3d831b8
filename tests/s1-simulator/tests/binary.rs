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

/// Kills the simulator if the test fails before stopping it, so a failure leaves nothing running.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn binary_switches_live_console_misbehaviours_on_from_the_environment() {
    let child = Command::new(env!("CARGO_BIN_EXE_s1-simulator"))
        .args(["--agents", "10", "--threats", "5"])
        .args(["--token", "eyJbinary-test-token-0002"])
        .env("SIM_CHURN", "1")
        .env("SIM_PLACEHOLDER_AGENTS", "2")
        .env("SIM_PLACEHOLDER_THREATS", "1")
        .env("SIM_THREATS_WITHOUT_REALTIME_INFO", "1")
        .env("SIM_AGENTS_TOTAL_OFFSET", "3")
        .env("SIM_429_FROM", "4")
        .env("SIM_429_RETRY_AFTER", "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the simulator binary");
    let mut child = StopOnDrop(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let ready: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let url = ready["url"].as_str().expect("url").to_owned();
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{url}/web/api/v2.1/{path}"))
            .header("Authorization", "ApiToken eyJbinary-test-token-0002")
            .send()
    };

    // Request 1: 10 agents + 2 placeholders, reported with the +3 offset.
    let count: serde_json::Value = get("agents/count").await.unwrap().json().await.unwrap();
    assert_eq!(count["data"]["total"], 15);
    // Requests 2 and 3: the placeholders are listed, and online agents' lastActiveDate moves.
    let first: serde_json::Value = get("agents?limit=100").await.unwrap().json().await.unwrap();
    let second: serde_json::Value = get("agents?limit=100").await.unwrap().json().await.unwrap();
    let (first, second) = (
        first["data"].as_array().unwrap(),
        second["data"].as_array().unwrap(),
    );
    assert_eq!(
        first
            .iter()
            .filter(|a| a["computerName"] == "string")
            .count(),
        2
    );
    let moved = first
        .iter()
        .zip(second)
        .filter(|(a, b)| a["lastActiveDate"] != b["lastActiveDate"])
        .count();
    let online = first.iter().filter(|a| a["isActive"] == true).count();
    assert!(online > 0);
    assert_eq!(moved, online, "churn is on");
    // Request 4: both placeholder threats.
    let threats: serde_json::Value = get("threats?limit=100")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let threats = threats["data"].as_array().unwrap();
    assert_eq!(threats.len(), 7);
    assert_eq!(
        threats
            .iter()
            .filter(|t| t.get("agentRealtimeInfo").is_none())
            .count(),
        1
    );
    assert_eq!(
        threats
            .iter()
            .filter(|t| t["agentRealtimeInfo"]["agentComputerName"] == "string")
            .count(),
        1
    );
    // Request 5 on: the 429 storm, with its Retry-After.
    let limited = get("agents?limit=1").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "5");

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    assert!(child.0.wait().expect("wait").success());
}

#[test]
fn binary_refuses_a_malformed_live_console_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_s1-simulator"))
        .env("SIM_PLACEHOLDER_THREATS", "lots")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SIM_PLACEHOLDER_THREATS") && err.contains("lots"),
        "{err}"
    );
}
