//! What a function reads from its environment at cold start: the table and the token vault, and the page-token key
//! only when asked for (the read function). One test per process, as it sets environment variables.

use connector_store::{Deployment, StoreError};

#[tokio::test]
async fn a_function_starts_without_the_page_token_key_and_cannot_page_without_it() {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    std::env::set_var("TABLE_NAME", "s1-connector-test");
    std::env::set_var("SECRET_PREFIX", "s1-connector/test/");
    std::env::remove_var("PAGE_TOKEN_SECRET_ARN");
    std::env::remove_var("PAGE_TOKEN_KEY");
    let deployment = Deployment::from_env(&sdk)
        .await
        .expect("no page-token variable is needed to start");
    // A paged listing through that store refuses before any request: it holds no key to sign the next page with.
    let tenant = connector_store::TenantId::new("t").expect("tenant");
    let err = deployment
        .store
        .list_runs(&tenant, None, 10)
        .await
        .expect_err("no key, no paged listing");
    assert!(matches!(err, StoreError::NoPageTokenKey), "{err:?}");

    // The read function asks for the key; without a source it cannot start, with a short one neither.
    let missing = Deployment::page_token_key_from_env(&sdk)
        .await
        .expect_err("no key configured")
        .to_string();
    assert!(missing.contains("PAGE_TOKEN_KEY"), "{missing}");
    std::env::set_var("PAGE_TOKEN_KEY", "short");
    assert!(Deployment::page_token_key_from_env(&sdk).await.is_err());
    std::env::set_var("PAGE_TOKEN_KEY", "k".repeat(64));
    assert!(Deployment::page_token_key_from_env(&sdk).await.is_ok());
}
