//! `POST /v1/integrations/sentinelone/sync` through the handler, with the repo's sample API Gateway v2 event
//! (`events/sync-now.json`) against a fresh table and queue on the local AWS stack: what the caller is told, and
//! what is recorded and queued. Needs the local stack (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).

use connector_store::{
    save_configuration, PageTokenKey, RunStatus, Store, TenantConfig, TenantId, Trigger, Vault,
};
use lambda_http::{Body, Request, Response};
use local_stack::LocalStack;
use on_demand_sync::{handle, Deps};
use s1_core::ApiToken;
use serde_json::Value;
use sync_engine::{SyncMessage, SyncQueue};

struct Bench {
    stack: LocalStack,
    deps: Deps,
    vault: Vault,
}

impl Bench {
    async fn new() -> Bench {
        let stack = LocalStack::connect().await.expect("local AWS stack");
        let store = Store::new(
            stack.dynamodb.clone(),
            stack.fresh_table().await.expect("table"),
            PageTokenKey::random(),
        );
        let vault = Vault::new(stack.secrets.clone(), stack.fresh_secret_prefix());
        let queue = SyncQueue::new(stack.sqs.clone(), stack.fresh_queue().await.expect("queue"));
        let deps = Deps {
            store,
            queue,
            edge: http_api::Edge::new("tenant_id"),
        };
        Bench { stack, deps, vault }
    }

    /// Saves a configuration for `tenant` (the console is never called: sync-now only records and queues).
    async fn configure(&self, tenant: &str) {
        let token = ApiToken::new("eyJ0ZXN0LW9uLWRlbWFuZC10b2tlbi0wMDAx".into()).expect("token");
        save_configuration(
            &self.deps.store,
            &self.vault,
            &TenantId::new(tenant).expect("tenant"),
            TenantConfig::new("https://acme.sentinelone.net"),
            Some(&token),
        )
        .await
        .expect("configuration saved");
    }

    /// Every message on the queue (received and deleted), parsed.
    async fn queued(&self) -> Vec<SyncMessage> {
        test_support::drain_queue(&self.stack.sqs, self.deps.queue.url())
            .await
            .iter()
            .map(|body| SyncMessage::from_body(body).expect("valid message"))
            .collect()
    }
}

/// The sample event with the caller's tenant claim (`None`: no tenant claim) and body.
fn sync_now(tenant: Option<&str>, body: &str) -> Request {
    let mut event: Value =
        serde_json::from_str(include_str!("../events/sync-now.json")).expect("sample event");
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    match tenant {
        Some(t) => claims["tenant_id"] = t.into(),
        None => {
            claims.as_object_mut().expect("claims").remove("tenant_id");
        }
    }
    event["body"] = body.into();
    lambda_http::request::from_str(&event.to_string()).expect("API Gateway v2 request")
}

fn status_and_json(resp: Response<Body>) -> (u16, Value) {
    let text = String::from_utf8_lossy(resp.body().as_ref()).into_owned();
    (
        resp.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn sync_now_records_a_pending_run_queues_it_and_answers_202_with_where_to_watch_it() {
    let b = Bench::new().await;
    b.configure("tenant-a").await;

    let (status, body) = status_and_json(
        handle(&b.deps, sync_now(Some("tenant-a"), "{}"))
            .await
            .expect("response"),
    );
    assert_eq!(status, 202, "{body}");
    let run_id = body["runId"].as_str().expect("runId").to_string();
    assert_eq!(body["status"], "pending");
    assert_eq!(
        body["statusUrl"],
        format!("/v1/integrations/sentinelone/sync-runs/{run_id}")
    );

    let run = b
        .deps
        .store
        .get_run(&TenantId::new("tenant-a").expect("tenant"), &run_id)
        .await
        .expect("read run")
        .expect("the run is recorded");
    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!(run.trigger, Trigger::OnDemand);

    let queued = b.queued().await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].tenant, "tenant-a");
    assert_eq!(queued[0].run_id, run_id);
    assert_eq!(queued[0].continuation, 0);
}

#[tokio::test]
async fn a_dry_run_request_records_a_dry_run_and_a_misspelled_field_is_refused() {
    let b = Bench::new().await;
    b.configure("tenant-a").await;
    let (status, body) = status_and_json(
        handle(&b.deps, sync_now(Some("tenant-a"), r#"{"dryRun": true}"#))
            .await
            .expect("response"),
    );
    assert_eq!(status, 202, "{body}");
    let run = b
        .deps
        .store
        .get_run(
            &TenantId::new("tenant-a").expect("tenant"),
            body["runId"].as_str().unwrap(),
        )
        .await
        .expect("read run")
        .expect("the run is recorded");
    assert!(run.dry_run, "the run is a dry run");
    assert_eq!(b.queued().await.len(), 1);

    let (status, problem) = status_and_json(
        handle(&b.deps, sync_now(Some("tenant-b"), r#"{"dry_run": true}"#))
            .await
            .expect("response"),
    );
    assert_eq!(status, 400, "{problem}");
}

#[tokio::test]
async fn a_second_sync_now_while_one_is_pending_is_409_naming_the_running_run_and_queues_nothing() {
    let b = Bench::new().await;
    b.configure("tenant-a").await;
    let (_, first) = status_and_json(
        handle(&b.deps, sync_now(Some("tenant-a"), ""))
            .await
            .expect("response"),
    );
    let first_run = first["runId"].as_str().expect("runId").to_string();

    let (status, problem) = status_and_json(
        handle(&b.deps, sync_now(Some("tenant-a"), "{}"))
            .await
            .expect("response"),
    );
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:s1-connector:problem:conflict");
    assert_eq!(problem["runningRunId"], first_run.as_str());

    let queued = b.queued().await;
    assert_eq!(queued.len(), 1, "only the first run is queued: {queued:?}");
    assert_eq!(queued[0].run_id, first_run);
}

#[tokio::test]
async fn expected_refusals_are_problem_responses_and_queue_nothing() {
    let b = Bench::new().await;
    b.configure("tenant-a").await;

    // Another tenant, not configured: 404, whatever tenant-a has.
    let (status, problem) = status_and_json(
        handle(&b.deps, sync_now(Some("tenant-b"), "{}"))
            .await
            .expect("response"),
    );
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["type"], "urn:s1-connector:problem:not-found");

    // No tenant claim: 401, never a sync of some default tenant.
    let (status, problem) = status_and_json(
        handle(&b.deps, sync_now(None, "{}"))
            .await
            .expect("response"),
    );
    assert_eq!(status, 401, "{problem}");

    // A field the endpoint does not have (a typo) is refused rather than ignored.
    let (status, problem) = status_and_json(
        handle(&b.deps, sync_now(Some("tenant-a"), r#"{"full": true}"#))
            .await
            .expect("response"),
    );
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["type"], "urn:s1-connector:problem:invalid-body");

    assert!(
        b.queued().await.is_empty(),
        "a refused request queued a run"
    );
}
