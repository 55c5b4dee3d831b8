//! `GET`/`POST /v1/custom-fields` and `DELETE /v1/custom-fields/{name}` through the handler, with the repo's
//! sample events, against a fresh table on the local AWS stack. Needs the local stack
//! (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).

use custom_fields::{handle, Deps};
use serde_json::{json, Value};
use test_support::api::{parts, problem_type, request, ConfigBench};

const LIST: &str = include_str!("../events/list-custom-fields.json");
const CREATE: &str = include_str!("../events/create-custom-field.json");
const DELETE: &str = include_str!("../events/delete-custom-field.json");

fn deps(b: &ConfigBench) -> Deps {
    Deps {
        store: b.store.clone(),
        edge: http_api::Edge::new("tenant_id"),
    }
}

fn named(name: Value) -> impl FnOnce(&mut Value) {
    move |event| event["body"] = json!({ "name": name }).to_string().into()
}

async fn names(b: &ConfigBench, tenant: &str) -> Vec<String> {
    let response = handle(&deps(b), request(LIST, Some(tenant), |_| {}))
        .await
        .expect("response");
    let (status, text, list) = parts(response);
    assert_eq!(status, 200, "{text}");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|d| d["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_field_is_created_listed_refused_twice_and_deleted_within_its_tenant() {
    let b = ConfigBench::new().await;
    let response = handle(&deps(&b), request(CREATE, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    let (status, text, created) = parts(response);
    assert_eq!(status, 201, "{text}");
    assert_eq!(created["name"], "Cost center");
    assert_eq!(names(&b, "tenant-a").await, ["Cost center"]);
    assert!(
        names(&b, "tenant-b").await.is_empty(),
        "tenant-b sees tenant-a's field"
    );

    // The same name in another case is the same field: 409.
    let response = handle(
        &deps(&b),
        request(CREATE, Some("tenant-a"), named("COST CENTER".into())),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 409);
    assert_eq!(problem_type(&response), "urn:s1-connector:problem:conflict");

    // tenant-b cannot delete tenant-a's field; tenant-a can, once.
    let response = handle(&deps(&b), request(DELETE, Some("tenant-b"), |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 404);
    let response = handle(&deps(&b), request(DELETE, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 204);
    assert!(names(&b, "tenant-a").await.is_empty());
    let response = handle(&deps(&b), request(DELETE, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn unusable_names_and_requests_are_problems() {
    let b = ConfigBench::new().await;
    let response = handle(
        &deps(&b),
        request(CREATE, Some("tenant-a"), named(json!(42))),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 400);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:validation"
    );
    let (_, _, problem) = parts(response);
    assert_eq!(problem["errors"][0]["field"], "name");

    let response = handle(&deps(&b), request(LIST, None, |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 401);
    assert!(
        names(&b, "tenant-a").await.is_empty(),
        "a refused create stored a field"
    );
}
