//! Saves and disconnects of one tenant that overlap are answered 409 (problem+json, a message saying what to do),
//! never 500: the store runs them one at a time under the tenant's configuration lock, and the loser is told so.

use api_tests::{parts, Bench, Event, PREFIX};
use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::TenantId;
use lambda_http::http::StatusCode;
use lambda_http::Request;
use serde_json::{json, Value};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.conflict-test-token-value";
const OTHER_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.conflict-test-token-other";

fn put_config(tenant: &str, body: &Value) -> Request {
    Event::new(
        "PUT",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(tenant)
    .json(body)
    .request()
}

fn delete_config(tenant: &str) -> Request {
    Event::new(
        "DELETE",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(tenant)
    .request()
}

/// A save body that needs nothing stored (console and token given) and no SentinelOne (test skipped).
fn save_body(token: &str, days: u16) -> Value {
    json!({ "consoleUrl": "https://usea1-acme.sentinelone.net", "apiToken": token, "autoSyncDays": days,
            "skipConnectionTest": true })
}

async fn save(bench: &Bench, tenant: &str, body: &Value) -> (StatusCode, Value) {
    let (status, v, _) = parts(
        save_config::handle(&bench.save_config(), put_config(tenant, body))
            .await
            .expect("handler"),
    );
    (status, v)
}

async fn disconnect(bench: &Bench, tenant: &str) -> (StatusCode, Value) {
    let (status, v, _) = parts(
        disconnect::handle(&bench.disconnect(), delete_config(tenant))
            .await
            .expect("handler"),
    );
    (status, v)
}

fn assert_conflict(what: &str, (status, problem): &(StatusCode, Value)) {
    assert_eq!(*status, StatusCode::CONFLICT, "{what}: {problem}");
    assert_eq!(
        problem["type"], "urn:s1-connector:problem:conflict",
        "{what}: {problem}"
    );
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("reload") && detail.contains("again"),
        "{what}: the detail says what to do: {detail}"
    );
}

/// Exactly one of the two answers is a success (`ok`), the other a 409; neither is a 500.
fn assert_one_won(what: &str, a: &(StatusCode, Value), b: &(StatusCode, Value), ok: StatusCode) {
    let (winner, loser) = if a.0 == ok { (a, b) } else { (b, a) };
    assert_eq!(winner.0, ok, "{what}: one succeeds: {a:?} / {b:?}");
    assert_conflict(what, loser);
}

/// Puts the tenant's configuration lock as a save or disconnect in progress holds it.
async fn hold_config_lock(bench: &Bench, tenant: &str) {
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    bench
        .store
        .dynamodb()
        .put_item()
        .table_name(bench.store.table_name())
        .item("pk", AttributeValue::S(format!("T#{tenant}")))
        .item("sk", AttributeValue::S("CONFIGLOCK".into()))
        .item("kind", AttributeValue::S("config_lock".into()))
        .item("owner", AttributeValue::S("another-invocation".into()))
        .item(
            "lock_expires_ms",
            AttributeValue::N((now_ms + 60_000).to_string()),
        )
        .send()
        .await
        .expect("lock put");
}

async fn release_config_lock(bench: &Bench, tenant: &str) {
    bench
        .store
        .dynamodb()
        .delete_item()
        .table_name(bench.store.table_name())
        .key("pk", AttributeValue::S(format!("T#{tenant}")))
        .key("sk", AttributeValue::S("CONFIGLOCK".into()))
        .send()
        .await
        .expect("lock delete");
}

#[tokio::test]
async fn a_save_or_disconnect_while_another_holds_the_lock_is_409_and_changes_nothing() {
    let bench = Bench::new().await;
    let tenant = "locked";
    assert_eq!(
        save(&bench, tenant, &save_body(TOKEN, 1)).await.0,
        StatusCode::OK
    );
    let before = bench.footprint(tenant).await;

    hold_config_lock(&bench, tenant).await;
    let after_lock = bench.footprint(tenant).await;
    assert_conflict(
        "save",
        &save(&bench, tenant, &save_body(OTHER_TOKEN, 2)).await,
    );
    assert_conflict("disconnect", &disconnect(&bench, tenant).await);
    assert_eq!(
        bench.footprint(tenant).await,
        after_lock,
        "neither the refused save nor the refused disconnect wrote anything"
    );

    // Once the other change is done, both go through.
    release_config_lock(&bench, tenant).await;
    assert_eq!(bench.footprint(tenant).await, before);
    let (status, saved) = save(
        &bench,
        tenant,
        &json!({ "autoSyncDays": 2, "skipConnectionTest": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(disconnect(&bench, tenant).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn two_concurrent_first_saves_one_wins_the_other_is_409() {
    let bench = Bench::new().await;
    for round in 0..5 {
        let tenant = format!("first-save-{round}");
        let a_body = save_body(TOKEN, 1);
        let b_body = save_body(OTHER_TOKEN, 2);
        let (a, b) = tokio::join!(
            save(&bench, &tenant, &a_body),
            save(&bench, &tenant, &b_body)
        );
        assert_one_won(&format!("round {round}"), &a, &b, StatusCode::OK);
        // What is stored is the winner's, token and configuration together.
        let (winner_token, winner_days) = if a.0 == StatusCode::OK {
            (TOKEN, 1)
        } else {
            (OTHER_TOKEN, 2)
        };
        let stored = bench
            .store
            .get_config(&TenantId::new(&tenant).expect("tenant"))
            .await
            .expect("read")
            .expect("saved");
        assert_eq!(stored.auto_sync_days, Some(winner_days), "round {round}");
        assert_eq!(stored.version, 1, "round {round}");
        assert_eq!(
            bench.footprint(&tenant).await.1.as_deref(),
            Some(winner_token),
            "round {round}: the loser's token was never left in the vault"
        );
    }
}

#[tokio::test]
async fn two_concurrent_updates_one_wins_the_other_is_409() {
    let bench = Bench::new().await;
    let tenant = "updates";
    assert_eq!(
        save(&bench, tenant, &save_body(TOKEN, 1)).await.0,
        StatusCode::OK
    );
    for round in 0..5u16 {
        let a_body =
            json!({ "autoSyncDays": 10 + round, "apiToken": TOKEN, "skipConnectionTest": true });
        let b_body = json!({ "autoSyncDays": 20 + round, "apiToken": OTHER_TOKEN, "skipConnectionTest": true });
        let (a, b) = tokio::join!(save(&bench, tenant, &a_body), save(&bench, tenant, &b_body));
        assert_one_won(&format!("round {round}"), &a, &b, StatusCode::OK);
        let winner = if a.0 == StatusCode::OK { &a.1 } else { &b.1 };
        let stored = bench
            .store
            .get_config(&TenantId::new(tenant).expect("tenant"))
            .await
            .expect("read")
            .expect("saved");
        assert_eq!(
            json!(stored.auto_sync_days),
            winner["config"]["autoSyncDays"],
            "round {round}"
        );
        let expected_token = if winner["config"]["autoSyncDays"] == json!(10 + round) {
            TOKEN
        } else {
            OTHER_TOKEN
        };
        assert_eq!(
            bench.footprint(tenant).await.1.as_deref(),
            Some(expected_token),
            "round {round}: the winner's token is the stored one"
        );
    }
}

#[tokio::test]
async fn two_concurrent_disconnects_one_wins_the_other_is_409() {
    let bench = Bench::new().await;
    for round in 0..5 {
        let tenant = format!("double-disconnect-{round}");
        assert_eq!(
            save(&bench, &tenant, &save_body(TOKEN, 1)).await.0,
            StatusCode::OK
        );
        let (a, b) = tokio::join!(disconnect(&bench, &tenant), disconnect(&bench, &tenant));
        assert_one_won(&format!("round {round}"), &a, &b, StatusCode::NO_CONTENT);
        assert_eq!(bench.footprint(&tenant).await.1, None, "the secret is gone");
        // Afterwards there is nothing left to disconnect: 404, not 409 or 500.
        assert_eq!(disconnect(&bench, &tenant).await.0, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_save_and_a_disconnect_at_once_one_wins_the_other_is_409() {
    let bench = Bench::new().await;
    for round in 0..5u16 {
        let tenant = format!("save-vs-disconnect-{round}");
        assert_eq!(
            save(&bench, &tenant, &save_body(TOKEN, 1)).await.0,
            StatusCode::OK
        );
        // An update of the stored configuration (version 1) racing its removal.
        let update = json!({ "autoSyncDays": 5, "skipConnectionTest": true });
        let (saved, removed) =
            tokio::join!(save(&bench, &tenant, &update), disconnect(&bench, &tenant));
        assert!(
            saved.0 != StatusCode::INTERNAL_SERVER_ERROR
                && removed.0 != StatusCode::INTERNAL_SERVER_ERROR,
            "round {round}: {saved:?} / {removed:?}"
        );
        let config = bench
            .store
            .get_config(&TenantId::new(&tenant).expect("tenant"))
            .await
            .expect("read");
        let secret = bench.footprint(&tenant).await.1;
        if removed.0 == StatusCode::NO_CONTENT {
            assert_conflict(&format!("round {round}: the save lost"), &saved);
            assert_eq!(
                (config, secret),
                (None, None),
                "round {round}: disconnected"
            );
        } else {
            assert_eq!(saved.0, StatusCode::OK, "round {round}: {saved:?}");
            assert_conflict(&format!("round {round}: the disconnect lost"), &removed);
            assert_eq!(config.and_then(|c| c.auto_sync_days), Some(5));
            assert_eq!(secret.as_deref(), Some(TOKEN));
        }
    }
}
