//! The first slice: the server starts, authenticates like the console and pages agents.

mod common;

use common::*;
use s1_simulator::{Simulator, TenantSpec};

#[tokio::test]
async fn serves_agents_with_the_default_token_and_pages_them_all() {
    let sim = Simulator::new(TenantSpec::small()).start().await.unwrap();
    assert!(sim.token().starts_with("eyJ"));
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    let all = walk(&sim, "agents", "", 1000).await;
    assert_eq!(all.len(), 300);
    let (status, body) = get(&sim, "agents?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(body["pagination"]["totalItems"], 300);
    assert!(body["pagination"]["nextCursor"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn refuses_a_missing_or_misspelt_authorization() {
    let sim = Simulator::new(TenantSpec::small()).start().await.unwrap();
    let token = sim.token();
    for auth in [
        format!("Bearer {token}"),
        format!("APIToken {token}"),
        "ApiToken nope-nope-nope".to_owned(),
    ] {
        let (status, body) = get_with(&sim, "agents", &auth).await;
        assert_eq!(status, 401, "{auth}");
        assert_eq!(
            body,
            serde_json::json!({"errors":[{"code":4010010,"detail":null,"title":"Authentication Failed"}]})
        );
    }
    sim.shutdown().await;
}
