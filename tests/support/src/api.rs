//! The handler tests' bench: a fresh table and secret prefix per test, the configuration service built as the
//! handlers' `main` builds it (with the dev-loopback policy so the simulator can be the console), and API Gateway
//! v2 requests built from the sample events each handler crate keeps in `events/`.

use connector_store::{save_configuration, PageTokenKey, Store, TenantConfig, TenantId, Vault};
use lambda_http::{Body, Request, Response};
use local_stack::LocalStack;
use s1_core::ApiToken;
use s1_simulator::{SimHandle, Simulator, TenantSpec};
use serde_json::Value;
use tenant_config::TenantConfigService;

/// One test's world on the local AWS stack, and a simulated console that knows one token.
pub struct ConfigBench {
    pub stack: LocalStack,
    pub store: Store,
    pub vault: Vault,
    pub service: TenantConfigService,
    pub sim: SimHandle,
}

impl ConfigBench {
    /// Needs the local stack (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).
    pub async fn new() -> Self {
        let stack = LocalStack::connect().await.expect("local AWS stack");
        let store = Store::new(
            stack.dynamodb.clone(),
            stack.fresh_table().await.expect("table"),
            PageTokenKey::random(),
        );
        let vault = Vault::new(stack.secrets.clone(), stack.fresh_secret_prefix())
            .with_cache_ttl(std::time::Duration::ZERO);
        let service =
            TenantConfigService::new(store.clone(), vault.clone(), crate::dev_loopback_policy());
        let sim = Simulator::new(TenantSpec::small())
            .start()
            .await
            .expect("simulator starts");
        Self {
            stack,
            store,
            vault,
            service,
            sim,
        }
    }

    /// Saves a configuration of `tenant` pointing at the simulator, with its token (no connection test).
    pub async fn configure(&self, tenant: &str) {
        let token = ApiToken::new(self.sim.token()).expect("token");
        save_configuration(
            &self.store,
            &self.vault,
            &TenantId::new(tenant).expect("tenant"),
            TenantConfig::new(self.sim.base_url()),
            Some(&token),
        )
        .await
        .expect("configuration saved");
    }

    pub async fn stored_config(&self, tenant: &str) -> Option<TenantConfig> {
        self.store
            .get_config(&TenantId::new(tenant).expect("tenant"))
            .await
            .expect("read config")
    }

    pub async fn stored_token(&self, tenant: &str) -> Option<String> {
        self.vault
            .get_token(&TenantId::new(tenant).expect("tenant"))
            .await
            .expect("read vault")
            .map(|t| t.expose().to_string())
    }
}

/// A request from a sample event: `tenant` replaces the caller's tenant claim (`None` removes it), and `edit`
/// changes anything else (body, query, path) before the event is parsed as API Gateway would deliver it.
pub fn request(event_json: &str, tenant: Option<&str>, edit: impl FnOnce(&mut Value)) -> Request {
    let mut event: Value = serde_json::from_str(event_json).expect("sample event");
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    match tenant {
        Some(t) => claims["tenant_id"] = t.into(),
        None => {
            claims.as_object_mut().expect("claims").remove("tenant_id");
        }
    }
    edit(&mut event);
    lambda_http::request::from_str(&event.to_string()).expect("API Gateway v2 request")
}

/// An `edit` for [`request`]: the caller keeps its tenant but loses the admin scope (a read-only user).
pub fn read_only(event: &mut Value) {
    if let Some(claims) = event["requestContext"]["authorizer"]["jwt"]["claims"].as_object_mut() {
        claims.remove("scope");
        claims.remove("scp");
    }
}

/// The status, the body as text (to search for what must never be in it) and as JSON (`Null` when empty).
pub fn parts(response: Response<Body>) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (response.status().as_u16(), text, json)
}

/// Problem responses carry their media type and a stable type; asserts both and returns the type.
pub fn problem_type(response: &Response<Body>) -> String {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "a problem response"
    );
    let v: Value = serde_json::from_slice(response.body().as_ref()).expect("problem json");
    v["type"].as_str().expect("problem type").to_string()
}
