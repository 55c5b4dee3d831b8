//! A tenant has at most `MAX_CUSTOM_FIELDS` custom field definitions: one more is a 409 problem naming the limit,
//! and a concurrent burst of creates can never go past it (the definition and a per-tenant counter are written in
//! one conditional transaction).

use std::collections::HashMap;

use api_tests::{parts, Bench, Event};
use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{TenantId, MAX_CUSTOM_FIELDS};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

fn create(tenant: &str, name: &str) -> lambda_http::Request {
    Event::new("POST", "/v1/custom-fields", "/v1/custom-fields")
        .tenant(tenant)
        .json(&json!({ "name": name }))
        .request()
}

fn delete(tenant: &str, name: &str) -> lambda_http::Request {
    Event::new(
        "DELETE",
        format!("/v1/custom-fields/{name}"),
        "/v1/custom-fields/{name}",
    )
    .tenant(tenant)
    .path_param("name", name)
    .request()
}

async fn answer(deps: &custom_fields::Deps, request: lambda_http::Request) -> (StatusCode, Value) {
    let (status, v, _) = parts(custom_fields::handle(deps, request).await.expect("handler"));
    (status, v)
}

async fn stored_names(bench: &Bench, tenant: &str) -> Vec<String> {
    bench
        .store
        .list_custom_fields(&TenantId::new(tenant).expect("tenant"))
        .await
        .expect("list")
        .into_iter()
        .map(|d| d.name)
        .collect()
}

fn assert_limit_refusal(what: &str, (status, problem): &(StatusCode, Value)) {
    assert_eq!(*status, StatusCode::CONFLICT, "{what}: {problem}");
    assert_eq!(
        problem["type"], "urn:s1-connector:problem:conflict",
        "{what}"
    );
    assert_eq!(
        problem["limit"],
        json!(MAX_CUSTOM_FIELDS),
        "{what}: {problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&MAX_CUSTOM_FIELDS.to_string()) && d.contains("delete one")),
        "{what}: {problem}"
    );
}

/// Fires `names` as concurrent create requests; returns the answers by name.
async fn burst(
    bench: &Bench,
    tenant: &str,
    names: Vec<String>,
) -> HashMap<String, (StatusCode, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for name in names {
        let deps = bench.custom_fields();
        let tenant = tenant.to_string();
        set.spawn(async move {
            let answer = answer(&deps, create(&tenant, &name)).await;
            (name, answer)
        });
    }
    let mut out = HashMap::new();
    while let Some(joined) = set.join_next().await {
        let (name, answer) = joined.expect("task");
        out.insert(name, answer);
    }
    out
}

#[tokio::test]
async fn one_more_than_the_limit_is_refused_and_a_delete_makes_room() {
    assert_eq!(MAX_CUSTOM_FIELDS, 100);
    let bench = Bench::new().await;
    let deps = bench.custom_fields();
    let tenant = "limit";
    for i in 0..MAX_CUSTOM_FIELDS {
        let (status, body) = answer(&deps, create(tenant, &format!("Field {i:03}"))).await;
        assert_eq!(status, StatusCode::CREATED, "field {i}: {body}");
    }
    let refused = answer(&deps, create(tenant, "One Too Many")).await;
    assert_limit_refusal("the 101st", &refused);
    assert_eq!(stored_names(&bench, tenant).await.len(), MAX_CUSTOM_FIELDS);
    // A duplicate is still reported as a duplicate, also at the limit.
    let (status, problem) = answer(&deps, create(tenant, "field 000")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("already exists")),
        "{problem}"
    );
    // Another tenant is not affected by this one's count.
    assert_eq!(
        answer(&deps, create("other-tenant", "Owner")).await.0,
        StatusCode::CREATED
    );

    // Deleting one makes room for exactly one; deleting a missing name changes no count.
    assert_eq!(
        answer(&deps, delete(tenant, "Field 050")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        answer(&deps, delete(tenant, "Field 050")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        answer(&deps, create(tenant, "Replacement")).await.0,
        StatusCode::CREATED
    );
    assert_limit_refusal(
        "again full",
        &answer(&deps, create(tenant, "Another")).await,
    );
    let names = stored_names(&bench, tenant).await;
    assert_eq!(names.len(), MAX_CUSTOM_FIELDS);
    assert!(names.contains(&"Replacement".to_string()));
    assert!(!names.contains(&"Field 050".to_string()));
}

#[tokio::test]
async fn a_concurrent_burst_of_creates_never_goes_past_the_limit() {
    let bench = Bench::new().await;
    let deps = bench.custom_fields();
    let tenant = "burst";
    let head_start = MAX_CUSTOM_FIELDS - 5;
    for i in 0..head_start {
        assert_eq!(
            answer(&deps, create(tenant, &format!("Field {i:03}")))
                .await
                .0,
            StatusCode::CREATED
        );
    }
    let names: Vec<String> = (0..20).map(|i| format!("Burst {i:02}")).collect();
    let answers = burst(&bench, tenant, names).await;
    let created = answers
        .values()
        .filter(|a| a.0 == StatusCode::CREATED)
        .count();
    for (name, a) in &answers {
        if a.0 != StatusCode::CREATED {
            assert_limit_refusal(name, a);
        }
    }
    assert_eq!(created, 5, "exactly the room that was left: {answers:?}");
    assert_eq!(stored_names(&bench, tenant).await.len(), MAX_CUSTOM_FIELDS);
}

#[tokio::test]
async fn a_burst_on_definitions_from_before_the_limit_counts_them_first() {
    // Definitions written before the counter existed (as the store wrote them): the first create counts them.
    let bench = Bench::new().await;
    let tenant = "legacy";
    for i in 0..MAX_CUSTOM_FIELDS - 2 {
        let name = format!("Legacy {i:03}");
        let definition = AttributeValue::M(HashMap::from([(
            "name".to_string(),
            AttributeValue::S(name.clone()),
        )]));
        bench
            .store
            .dynamodb()
            .put_item()
            .table_name(bench.store.table_name())
            .item("pk", AttributeValue::S(format!("T#{tenant}")))
            .item(
                "sk",
                AttributeValue::S(format!("CF#{}", name.to_lowercase())),
            )
            .item("kind", AttributeValue::S("custom_field".into()))
            .item("definition", definition)
            .send()
            .await
            .expect("legacy definition");
    }
    assert_eq!(
        stored_names(&bench, tenant).await.len(),
        MAX_CUSTOM_FIELDS - 2
    );
    let names: Vec<String> = (0..10).map(|i| format!("New {i:02}")).collect();
    let answers = burst(&bench, tenant, names).await;
    let created = answers
        .values()
        .filter(|a| a.0 == StatusCode::CREATED)
        .count();
    for (name, a) in &answers {
        if a.0 != StatusCode::CREATED {
            assert_limit_refusal(name, a);
        }
    }
    assert_eq!(created, 2, "{answers:?}");
    assert_eq!(stored_names(&bench, tenant).await.len(), MAX_CUSTOM_FIELDS);

    // A delete of a legacy definition frees its place.
    let deps = bench.custom_fields();
    assert_eq!(
        answer(&deps, delete(tenant, "legacy 000")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        answer(&deps, create(tenant, "Fits Again")).await.0,
        StatusCode::CREATED
    );
    assert_limit_refusal("full", &answer(&deps, create(tenant, "Does Not")).await);
}
