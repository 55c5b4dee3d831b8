//! The test bench of the HTTP handlers: a fresh table and secret prefix on the local AWS stack per test, the
//! handlers' dependencies built as their `main` builds them (with test knobs: loopback allowed for the simulator,
//! a pluggable resolver, short timeouts), and API Gateway v2 events built like the sample events in the repo.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{PageTokenKey, Store, TenantId, Vault};
use http_api::Edge;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use sentinelone_client::{Resolve, RetryPolicy, SystemResolver};
use serde_json::{json, Value};
use sync_engine::SyncQueue;
use tenant_config::{connection_test_options, TenantConfigService};

pub const PREFIX: &str = "/v1/integrations/sentinelone";

/// One test's world: its own table, secret prefix and page-token key.
#[derive(Clone)]
pub struct Bench {
    pub store: Store,
    pub vault: Vault,
    pub service: TenantConfigService,
    /// The sync queue save-config queues a re-evaluation run on (the test's own, empty at the start).
    pub queue: SyncQueue,
    /// The edge every handler of this bench checks requests with: tenant claim `tenant_id`, the default admin scope
    /// and no request limit unless a test sets one.
    pub edge: Edge,
}

impl Bench {
    /// Needs the local stack (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).
    pub async fn new() -> Bench {
        Self::with_resolver(Arc::new(SystemResolver)).await
    }

    pub async fn with_resolver(resolver: Arc<dyn Resolve>) -> Bench {
        let stack = local_stack::LocalStack::connect()
            .await
            .expect("local AWS stack");
        let table = stack.fresh_table().await.expect("table");
        let queue = SyncQueue::new(stack.sqs.clone(), stack.fresh_queue().await.expect("queue"));
        let store = Store::new(stack.dynamodb.clone(), table, PageTokenKey::random());
        // No cache: every read in a test goes to Secrets Manager, so "nothing written" is observed, not assumed.
        let vault = Vault::new(stack.secrets.clone(), stack.fresh_secret_prefix())
            .with_cache_ttl(Duration::ZERO);
        // The simulator listens on http://127.0.0.1: the local-development switch, set only in tests.
        let policy = test_support::dev_loopback_policy();
        let mut service = TenantConfigService::new(store.clone(), vault.clone(), policy);
        service.client_options = connection_test_options(resolver);
        Bench {
            store,
            vault,
            service,
            queue,
            edge: Edge::new("tenant_id"),
        }
    }

    /// Short timeouts and a single attempt, for the timeout case.
    pub fn with_short_timeouts(mut self, timeout: Duration) -> Bench {
        self.service.client_options.request_timeout = timeout;
        self.service.client_options.retry = RetryPolicy {
            budget: timeout * 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            max_attempts: 1,
        };
        self
    }

    pub fn test_connection(&self) -> test_connection::Deps {
        test_connection::Deps {
            config: self.service.clone(),
            edge: self.edge.clone(),
        }
    }
    pub fn save_config(&self) -> save_config::Deps {
        save_config::Deps {
            config: self.service.clone(),
            queue: self.queue.clone(),
            edge: self.edge.clone(),
        }
    }
    pub fn read_api(&self) -> read_api::Deps {
        read_api::Deps {
            config: self.service.clone(),
            edge: self.edge.clone(),
        }
    }
    pub fn disconnect(&self) -> disconnect::Deps {
        disconnect::Deps {
            config: self.service.clone(),
            edge: self.edge.clone(),
        }
    }
    pub fn custom_fields(&self) -> custom_fields::Deps {
        custom_fields::Deps {
            store: self.store.clone(),
            edge: self.edge.clone(),
        }
    }

    pub fn asset_registry(&self) -> asset_registry::Deps {
        asset_registry::Deps {
            store: self.store.clone(),
            edge: self.edge.clone(),
        }
    }

    pub fn on_demand_sync(&self) -> on_demand_sync::Deps {
        on_demand_sync::Deps {
            store: self.store.clone(),
            queue: self.queue.clone(),
            edge: self.edge.clone(),
        }
    }

    /// Runs the queued run `run_id` of `tenant` to its end through the real sync engine (each continuation invoked
    /// at once), against the console the tenant configured (the simulator on loopback).
    pub async fn run_to_end(&self, tenant: &str, run_id: &str) -> connector_store::SyncRun {
        let engine = sync_engine::SyncEngine {
            store: self.store.clone(),
            vault: self.vault.clone(),
            url_policy: test_support::dev_loopback_policy(),
            client_options: sentinelone_client::ClientOptions {
                requests_per_second: 1000.0,
                page_limit: 25,
                ..sentinelone_client::ClientOptions::default()
            },
            max_retire_percent: sync_engine::DEFAULT_MAX_RETIRE_PERCENT,
        };
        let mut message = sync_engine::SyncMessage::first(tenant, run_id);
        for _ in 0..100 {
            match engine
                .run(
                    &message,
                    sync_engine::Budget::unlimited(),
                    "api-test-worker",
                )
                .await
                .expect("sync invocation")
            {
                sync_engine::Outcome::Finished(run) => return *run,
                sync_engine::Outcome::Continue(next) => message = next,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        panic!("the run did not finish")
    }

    /// Everything stored for `tenant`: the table partition and the secret (what "nothing written" compares).
    pub async fn footprint(&self, tenant: &str) -> (Vec<String>, Option<String>) {
        let out = self
            .store
            .dynamodb()
            .query()
            .table_name(self.store.table_name())
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(format!("T#{tenant}")))
            .consistent_read(true)
            .send()
            .await
            .expect("query");
        let mut items: Vec<String> = out.items.unwrap_or_default().iter().map(sorted).collect();
        items.sort();
        let tenant = TenantId::new(tenant).expect("tenant id");
        let secret = self
            .vault
            .get_token(&tenant)
            .await
            .expect("vault")
            .map(|t| t.expose().to_string());
        (items, secret)
    }
}

fn sorted(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    canonical(&AttributeValue::M(item.clone()))
}

/// A deterministic rendering of an attribute value (map keys sorted at every level), so two reads of the same item
/// compare equal.
fn canonical(v: &AttributeValue) -> String {
    match v {
        AttributeValue::M(m) => {
            let sorted: std::collections::BTreeMap<&String, String> =
                m.iter().map(|(k, v)| (k, canonical(v))).collect();
            let inner: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k:?}:{v}"))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        AttributeValue::L(l) => format!(
            "[{}]",
            l.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => format!("{other:?}"),
    }
}

/// An API Gateway v2 HTTP request as the authorizer passes it on; `tenant: None` has no tenant claim.
pub struct Event {
    pub method: &'static str,
    pub path: String,
    pub route: String,
    pub tenant: Option<String>,
    /// The caller holds the deployment's admin scope (the default: most tests exercise writes).
    pub admin: bool,
    pub body: Option<String>,
    pub content_type: &'static str,
    pub query: Vec<(String, String)>,
    pub path_params: Vec<(String, String)>,
}

impl Event {
    pub fn new(method: &'static str, path: impl Into<String>, route: impl Into<String>) -> Event {
        Event {
            method,
            path: path.into(),
            route: route.into(),
            tenant: None,
            admin: true,
            body: None,
            content_type: "application/json",
            query: Vec::new(),
            path_params: Vec::new(),
        }
    }
    pub fn tenant(mut self, t: &str) -> Event {
        self.tenant = Some(t.to_string());
        self
    }
    /// A caller of the tenant without the admin scope: it may read, not write.
    pub fn read_only(mut self) -> Event {
        self.admin = false;
        self
    }
    pub fn body(mut self, b: impl Into<String>) -> Event {
        self.body = Some(b.into());
        self
    }
    pub fn content_type(mut self, t: &'static str) -> Event {
        self.content_type = t;
        self
    }
    pub fn json(self, v: &Value) -> Event {
        self.body(v.to_string())
    }
    pub fn query(mut self, k: &str, v: &str) -> Event {
        self.query.push((k.into(), v.into()));
        self
    }
    pub fn path_param(mut self, k: &str, v: &str) -> Event {
        self.path_params.push((k.into(), v.into()));
        self
    }

    pub fn to_json(&self) -> Value {
        let mut claims = match &self.tenant {
            Some(t) => json!({ "tenant_id": t, "sub": "user-1" }),
            None => json!({ "sub": "user-1" }),
        };
        claims["scope"] = if self.admin {
            json!(format!("openid {}", http_api::DEFAULT_ADMIN_SCOPE))
        } else {
            json!("openid")
        };
        let raw_query: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let mut e = json!({
            "version": "2.0",
            "routeKey": format!("{} {}", self.method, self.route),
            "rawPath": self.path,
            "rawQueryString": raw_query.join("&"),
            "headers": { "content-type": self.content_type },
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
                "http": { "method": self.method, "path": self.path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "test" },
                "requestId": "req", "routeKey": format!("{} {}", self.method, self.route), "stage": "$default",
                "time": "25/Nov/2026:12:00:00 +0000", "timeEpoch": 0,
                "authorizer": { "jwt": { "claims": claims, "scopes": null } }
            },
            "isBase64Encoded": false
        });
        if !self.query.is_empty() {
            e["queryStringParameters"] = self
                .query
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
        }
        if !self.path_params.is_empty() {
            e["pathParameters"] = self
                .path_params
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
        }
        if let Some(b) = &self.body {
            e["body"] = Value::String(b.clone());
        }
        e
    }

    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.to_json().to_string())
            .expect("valid API Gateway v2 event")
    }
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `"METHOD /path"` -> the bin (`BuildProperties.Binary`) of the function its HttpApi event targets.
pub fn template_routes() -> BTreeMap<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("the template parses");
    let mut routes = BTreeMap::new();
    let resources = template["Resources"].as_mapping().expect("Resources");
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary")
            .to_string();
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let method = event["Properties"]["Method"]
                .as_str()
                .expect("Method")
                .to_ascii_uppercase();
            let path = event["Properties"]["Path"].as_str().expect("Path");
            routes.insert(format!("{method} {path}"), binary.clone());
        }
    }
    routes
}

/// A sample event kept in `functions/<function>/events/<file>`, as `cargo lambda invoke --data-file` sends it.
pub fn sample_event(function: &str, file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../functions")
        .join(function)
        .join("events")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample event is JSON")
}

/// A sample event with the tenant claim and (optionally) the body replaced.
pub fn sample_request(function: &str, file: &str, tenant: &str, body: Option<&Value>) -> Request {
    let mut e = sample_event(function, file);
    e["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = Value::String(tenant.into());
    if let Some(b) = body {
        e["body"] = Value::String(b.to_string());
    }
    lambda_http::request::from_str(&e.to_string()).expect("valid sample event")
}

/// Status and JSON body (Null when empty) of a handler's answer.
pub fn parts(response: Response<Body>) -> (StatusCode, Value, String) {
    let status = response.status();
    let text = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    (status, value, text)
}

/// What [`seed_tenant`] wrote for one tenant.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub asset_keys: Vec<String>,
    pub finding_ids: Vec<String>,
    pub run_id: String,
}

/// Writes `tenant`'s assets and findings through the store, mapped from the simulator's records, and one sync run:
/// what a completed sync leaves behind.
pub async fn seed_tenant(
    store: &Store,
    tenant: &str,
    sim: &s1_simulator::SimHandle,
    console: &str,
) -> Seeded {
    use s1_core::mapping::{assets_from_agents, findings_from_threats, MappingSettings};
    use s1_core::records::{decode_agents_page, decode_threats_page};
    use s1_core::AssetDecision;

    let tenant = TenantId::new(tenant).expect("tenant");
    let settings = MappingSettings {
        console_base_url: console.to_string(),
        ..MappingSettings::default()
    };
    let page = |data: Vec<Value>| {
        json!({ "data": data, "pagination": { "nextCursor": null, "totalItems": 0 } }).to_string()
    };
    let agents = decode_agents_page(page(sim.agents_snapshot()).as_bytes())
        .expect("agents page")
        .records;
    let threats = decode_threats_page(page(sim.threats_snapshot()).as_bytes())
        .expect("threats page")
        .records;
    let assets = assets_from_agents(&agents, &settings);
    let findings = findings_from_threats(&threats, &settings).findings;

    let mut run = connector_store::SyncRun::new(tenant.clone(), connector_store::Trigger::OnDemand);
    store.create_run(&run).await.expect("run");
    let decisions: Vec<AssetDecision> = assets.iter().cloned().map(AssetDecision::Create).collect();
    store
        .apply_asset_decisions(&tenant, &decisions, &run.id)
        .await
        .expect("assets");
    let layout = store
        .ensure_record_layout(&tenant)
        .await
        .expect("record layout");
    store
        .apply_findings(&tenant, layout, &findings)
        .await
        .expect("findings");
    run.mark_running();
    run.finish(connector_store::RunStatus::Succeeded, None);
    store.update_run(&run).await.expect("run update");
    Seeded {
        asset_keys: assets.iter().map(|a| a.key.as_str().to_string()).collect(),
        finding_ids: findings.iter().map(|f| f.id.clone()).collect(),
        run_id: run.id,
    }
}

/// A one-trick HTTP server on 127.0.0.1 that answers every request with `response` (a full HTTP/1.1 response) and
/// counts the requests: a console that answers 404, or redirects somewhere it must not.
pub async fn fixed_http_server(
    response: &'static str,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut read = 0;
                // Reads the request head (bodies of these probes are small and ignored).
                while read < buf.len() {
                    match socket.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => read += n,
                    }
                    if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), count)
}
