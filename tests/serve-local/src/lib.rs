//! `scripts/serve-local`: the connector as a deployment runs it, on one machine. An HTTP server on 127.0.0.1 answers
//! API Gateway's routes (read from the SAM template) by calling the Lambda handlers' own `handle` functions with
//! API Gateway v2 events carrying a fixed local tenant's JWT claims; the console's files come from the
//! `console-assets` handler; and a drainer receives the sync queue's messages and runs the sync-worker handler on
//! them, so "Sync now" really syncs. The SentinelOne side is the simulator (or `S1_URL`).

pub mod routes;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::SqsEvent;
use axum::body::Body as AxumBody;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use base64::Engine;
use connector_store::{PageTokenKey, Store, Vault};
use lambda_http::Body;
use local_stack::LocalStack;
use s1_simulator::{SimConfig, SimHandle, Simulator, TenantSpec};
use sentinelone_client::{ClientOptions, UrlPolicy};
use serde_json::{json, Map, Value};
use sync_engine::{SyncEngine, SyncQueue, Worker};
use tokio::sync::watch;
use tracing::{info, warn};

pub use routes::{select, template_routes, Route};

/// The tenant every local request acts for (the claim the JWT authorizer would pass on).
pub const LOCAL_TENANT: &str = "local-tenant";
/// The claim that names the tenant: the template's default `TenantClaim`.
const TENANT_CLAIM: &str = "tenant_id";
/// Requests larger than API Gateway's payload limit are refused there; the handlers refuse far smaller ones anyway.
const MAX_BODY: usize = 10 * 1024 * 1024;

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Where the SentinelOne console comes from.
#[derive(Debug, Clone)]
pub enum ConsoleSource {
    /// The simulator on 127.0.0.1 with a generated tenant; its token is `token` (what the user types into the form).
    Simulator {
        agents: usize,
        threats: usize,
        port: u16,
        token: String,
    },
    /// A real console (`S1_URL`); the user types its token into the form. The URL policy comes from the
    /// environment (`S1_CONSOLE_ALLOW_LIST`, `S1_DEV_ALLOW_LOOPBACK`), as in a deployment.
    Real { url: String },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub console: ConsoleSource,
    /// The server's port on 127.0.0.1 (0: a free one).
    pub port: u16,
    pub table: String,
    pub queue: String,
    pub secret_prefix: String,
    /// Keep every response (method, path, status, body) for tests to inspect.
    pub record_responses: bool,
}

/// One answered request, kept when [`Options::record_responses`] is on.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub body: String,
}

/// The running local deployment. [`ServeLocal::stop`] ends the server, the drainer and the simulator.
pub struct ServeLocal {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The console with the local session token handed over in the URL fragment (what the platform would do).
    pub console_url: String,
    /// The bearer token the local "authorizer" accepts (random per start; any other is answered 401).
    pub session_token: String,
    /// The SentinelOne console to configure.
    pub s1_url: String,
    /// The simulator's token, when the console is the simulator.
    pub s1_token: Option<String>,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    simulator: Option<SimHandle>,
}

impl ServeLocal {
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().map(|e| e.clone()).unwrap_or_default()
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(sim) = self.simulator {
            sim.shutdown().await;
        }
    }
}

/// The handlers' dependencies, built once as each function's `main` builds them per cold start.
struct Handlers {
    test_connection: test_connection::Deps,
    save_config: save_config::Deps,
    read_api: read_api::Deps,
    disconnect: disconnect::Deps,
    custom_fields: custom_fields::Deps,
    asset_registry: asset_registry::Deps,
    on_demand_sync: on_demand_sync::Deps,
}

/// The functions the local server can run, by bin name: every function with an HttpApi route.
pub const LOCAL_FUNCTIONS: [&str; 8] = [
    "test-connection",
    "save-config",
    "read-api",
    "disconnect",
    "custom-fields",
    "asset-registry",
    "on-demand-sync",
    "console-assets",
];

impl Handlers {
    async fn call(
        &self,
        binary: &str,
        request: lambda_http::Request,
    ) -> Result<lambda_http::Response<Body>, Failure> {
        Ok(match binary {
            "test-connection" => test_connection::handle(&self.test_connection, request).await?,
            "save-config" => save_config::handle(&self.save_config, request).await?,
            "read-api" => read_api::handle(&self.read_api, request).await?,
            "disconnect" => disconnect::handle(&self.disconnect, request).await?,
            "custom-fields" => custom_fields::handle(&self.custom_fields, request).await?,
            "asset-registry" => asset_registry::handle(&self.asset_registry, request).await?,
            "on-demand-sync" => on_demand_sync::handle(&self.on_demand_sync, request).await?,
            "console-assets" => console_assets::handle(request).await?,
            other => return Err(format!("no local runner for function {other}").into()),
        })
    }
}

struct App {
    routes: Vec<Route>,
    handlers: Handlers,
    session_token: String,
    exchanges: Option<Arc<Mutex<Vec<Exchange>>>>,
}

/// Starts everything; needs the local AWS stack (`AWS_ENDPOINT_URL`, see `scripts/local-aws`).
pub async fn start(options: Options) -> Result<ServeLocal, Failure> {
    let routes = template_routes()?;
    for r in &routes {
        if !LOCAL_FUNCTIONS.contains(&r.binary.as_str()) {
            return Err(format!(
                "{} routes to {}, which serve-local cannot run",
                r.key(),
                r.binary
            )
            .into());
        }
    }
    let stack = LocalStack::connect().await?;
    // Idempotent: a second start against the same stack finds the same table, queue and secrets (a re-sync).
    stack.create_table(&options.table).await?;
    let queue_url = stack.create_queue(&options.queue).await?;

    let (simulator, s1_url, s1_token, url_policy) = match &options.console {
        ConsoleSource::Simulator {
            agents,
            threats,
            port,
            token,
        } => {
            let spec = TenantSpec::small()
                .with_agents(*agents)
                .with_threats(*threats);
            let sim = Simulator::new(spec)
                .config(SimConfig {
                    port: *port,
                    token: Some(token.clone()),
                    ..SimConfig::default()
                })
                .start()
                .await?;
            let url = sim.base_url();
            // The simulator listens on http://127.0.0.1: the local-development switch, set only for it.
            let policy = UrlPolicy {
                allow_list: UrlPolicy::from_env()?.allow_list,
                allow_dev_loopback: true,
            };
            (Some(sim), url, Some(token.clone()), policy)
        }
        ConsoleSource::Real { url } => (None, url.clone(), None, UrlPolicy::from_env()?),
    };

    let store = Store::new(
        stack.dynamodb.clone(),
        options.table.clone(),
        PageTokenKey::random(),
    );
    let vault = Vault::new(stack.secrets.clone(), options.secret_prefix.clone());
    let queue = SyncQueue::new(stack.sqs.clone(), queue_url.clone());
    let config =
        tenant_config::TenantConfigService::new(store.clone(), vault.clone(), url_policy.clone());
    let edge = || http_api::Edge::new(TENANT_CLAIM);
    let handlers = Handlers {
        test_connection: test_connection::Deps {
            config: config.clone(),
            edge: edge(),
        },
        save_config: save_config::Deps {
            config: config.clone(),
            queue: queue.clone(),
            edge: edge(),
        },
        read_api: read_api::Deps {
            config: config.clone(),
            edge: edge(),
        },
        disconnect: disconnect::Deps {
            config: config.clone(),
            edge: edge(),
        },
        custom_fields: custom_fields::Deps {
            store: store.clone(),
            edge: edge(),
        },
        asset_registry: asset_registry::Deps {
            store: store.clone(),
            edge: edge(),
        },
        on_demand_sync: on_demand_sync::Deps {
            store: store.clone(),
            queue: queue.clone(),
            edge: edge(),
        },
    };
    let worker = Worker {
        engine: SyncEngine {
            store,
            vault,
            url_policy,
            client_options: ClientOptions::default(),
            max_retire_percent: sync_engine::DEFAULT_MAX_RETIRE_PERCENT,
        },
        queue,
        max_receives: 5,
        safety_margin: Duration::from_secs(60),
    };

    let session_token = format!("local-{}", uuid::Uuid::new_v4().simple());
    let exchanges = Arc::new(Mutex::new(Vec::new()));
    let app = Arc::new(App {
        routes,
        handlers,
        session_token: session_token.clone(),
        exchanges: options.record_responses.then(|| exchanges.clone()),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let (shutdown, stop_signal) = watch::channel(false);

    let router = axum::Router::new().fallback(serve).with_state(app);
    let mut stop_server = stop_signal.clone();
    let server = tokio::spawn(async move {
        let graceful = async move {
            let _ = stop_server.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(graceful)
            .await
        {
            warn!(error = %e, "the local server stopped");
        }
    });
    let drainer = tokio::spawn(drain(stack, queue_url, worker, stop_signal));
    info!(url = %base_url, "serving the API and the console");
    Ok(ServeLocal {
        console_url: format!("{base_url}/console#token={session_token}"),
        base_url,
        session_token,
        s1_url,
        s1_token,
        exchanges,
        shutdown,
        tasks: vec![server, drainer],
        simulator,
    })
}

/// One HTTP request, the way API Gateway handles it: route, authorizer, Lambda event, response.
async fn serve(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let (status, response) = match select(&app.routes, &method, &path) {
        None => gateway_answer(StatusCode::NOT_FOUND, "Not Found"),
        Some((route, params)) => {
            let authorized =
                route.public || bearer(&parts.headers) == Some(app.session_token.as_str());
            if !authorized {
                gateway_answer(StatusCode::UNAUTHORIZED, "Unauthorized")
            } else {
                match axum::body::to_bytes(body, MAX_BODY).await {
                    Err(_) => {
                        gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
                    }
                    Ok(bytes) => {
                        let event = api_gateway_event(
                            route,
                            &path,
                            &query,
                            &parts.headers,
                            &params,
                            &bytes,
                        );
                        match lambda_http::request::from_str(&event.to_string()) {
                            Err(e) => {
                                warn!(error = %e, "could not build the Lambda event");
                                gateway_answer(
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    "Internal Server Error",
                                )
                            }
                            Ok(request) => match app.handlers.call(&route.binary, request).await {
                                Ok(response) => into_axum(response),
                                Err(e) => {
                                    // As on Lambda: a handler error is API Gateway's bare 500.
                                    warn!(function = %route.binary, error = %e, "the handler failed");
                                    gateway_answer(
                                        StatusCode::INTERNAL_SERVER_ERROR,
                                        "Internal Server Error",
                                    )
                                }
                            },
                        }
                    }
                }
            }
        }
    };
    // Fields only: never a header, a query value or a body (tokens travel in them).
    info!(
        method = %method,
        path = %path,
        status = status.as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if let Some(exchanges) = &app.exchanges {
        if let Ok(mut e) = exchanges.lock() {
            e.push(Exchange {
                method,
                path,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
    }
    axum::response::Response::from_parts(parts, AxumBody::from(bytes))
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// API Gateway's own answers (no route, authorizer refusal): `{"message": …}` JSON.
fn gateway_answer(status: StatusCode, message: &str) -> (StatusCode, axum::response::Response) {
    let mut response =
        axum::response::Response::new(AxumBody::from(json!({ "message": message }).to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (status, response)
}

fn into_axum(response: lambda_http::Response<Body>) -> (StatusCode, axum::response::Response) {
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    let mut out = axum::response::Response::new(AxumBody::from(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    (parts.status, out)
}

/// The HTTP API (payload 2.0) event API Gateway hands the function, with the JWT authorizer's claims for the local
/// tenant on authorized routes.
fn api_gateway_event(
    route: &Route,
    path: &str,
    query: &str,
    headers: &axum::http::HeaderMap,
    params: &[(String, String)],
    body: &[u8],
) -> Value {
    let mut header_map = Map::new();
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            let entry = header_map
                .entry(name.as_str().to_string())
                .or_insert_with(|| Value::String(String::new()));
            // API Gateway joins repeated headers with commas.
            if let Value::String(s) = entry {
                if !s.is_empty() {
                    s.push(',');
                }
                s.push_str(v);
            }
        }
    }
    let mut query_map = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (form_decode(k), form_decode(v));
        let entry = query_map
            .entry(k)
            .or_insert_with(|| Value::String(String::new()));
        if let Value::String(s) = entry {
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str(&v);
        }
    }
    let key = route.key();
    let mut event = json!({
        "version": "2.0",
        "routeKey": key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
            "http": {"method": route.method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "serve-local"},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": key, "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
        },
        "isBase64Encoded": false
    });
    if !route.public {
        event["requestContext"]["authorizer"] = json!({"jwt": {
            // The local user may do everything the console offers: it holds the deployment's admin scope.
            "claims": {TENANT_CLAIM: LOCAL_TENANT, "sub": "local-user", "scope": format!("openid {}", http_api::DEFAULT_ADMIN_SCOPE)},
            "scopes": null
        }});
    }
    if !query_map.is_empty() {
        event["queryStringParameters"] = Value::Object(query_map);
    }
    if !params.is_empty() {
        event["pathParameters"] = params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = Value::String(text.to_string()),
            Err(_) => {
                event["body"] =
                    Value::String(base64::engine::general_purpose::STANDARD.encode(body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// Query-string decoding: `+` is a space, `%XX` a byte.
fn form_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The SQS event source mapping, locally: receive one message at a time, hand it to the sync-worker handler as the
/// one record of an SQS event, delete it unless the handler reported it failed (then it comes back after the
/// queue's visibility timeout, as on AWS).
async fn drain(
    stack: LocalStack,
    queue_url: String,
    worker: Worker,
    mut stop: watch::Receiver<bool>,
) {
    let mut invocation = 0u64;
    loop {
        if *stop.borrow() {
            return;
        }
        let received = tokio::select! {
            r = stack.sqs.receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(1)
                .wait_time_seconds(1)
                .message_system_attribute_names(aws_sdk_sqs_attr())
                .send() => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let message = match received {
            Ok(out) => match out.messages.unwrap_or_default().into_iter().next() {
                Some(m) => m,
                None => continue,
            },
            Err(e) => {
                warn!(error = %error_chain(&e), "receiving from the sync queue failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        invocation += 1;
        let receive_count = message
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs_attr()))
            .cloned()
            .unwrap_or_else(|| "1".into());
        let event: SqsEvent = match serde_json::from_value(json!({"Records": [{
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body(),
            "attributes": {"ApproximateReceiveCount": receive_count},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "awsRegion": "us-east-1"
        }]})) {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "could not build the SQS event");
                continue;
            }
        };
        let mut context = lambda_runtime::Context::default();
        context.request_id = format!("serve-local-{invocation}");
        // The deployed worker's timeout (900 s): the engine checkpoints SYNC_SAFETY_MARGIN_SECS before it.
        context.deadline = (SystemTime::now() + Duration::from_secs(900))
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let started = Instant::now();
        match sync_worker::handle(&worker, lambda_runtime::LambdaEvent::new(event, context)).await {
            Ok(response) if response.batch_item_failures.is_empty() => {
                info!(
                    invocation,
                    ms = started.elapsed().as_millis() as u64,
                    "sync worker invocation done"
                );
                if let Err(e) = stack
                    .sqs
                    .delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                {
                    warn!(error = %error_chain(&e), "could not delete a processed message");
                }
            }
            Ok(_) => warn!(
                invocation,
                "the sync worker reported the message failed; it comes back later"
            ),
            Err(e) => warn!(invocation, error = %e, "the sync worker invocation failed"),
        }
    }
}

fn aws_sdk_sqs_attr() -> aws_sdk_sqs::types::MessageSystemAttributeName {
    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount
}

fn error_chain<E: std::error::Error + 'static>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
