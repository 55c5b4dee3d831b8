//! The HTTP side: the simulator builder, the running handle, and request dispatch at the console's
//! real paths.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{new_token, Permissions, TokenStore};
use crate::faults::{Fault, FaultCounts, FaultPlan, RequestShape, RetryAfter};
use crate::generate::TenantSpec;
use crate::query::{
    page, page_body, AgentFilter, ApiError, CursorPolicy, CursorStore, GroupFilter, Page, Paging,
    Params, Resource, RiskFilter, ThreatFilter,
};
use crate::records::{lenient_bool, AgentRow, GroupRow, RecordError, Table, ThreatRow};
use crate::risks::RiskRow;
use crate::tenant::{PlaceholderAgent, Tenant};
use crate::util::{datetime_to_micros, fmt_micros, lock, micros_to_datetime, read, write, Micros};

const API_PREFIX: &str = "/web/api/v2.1/";

/// How strict and how fast the simulated console is.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Largest accepted `limit` (the console's is 1000).
    pub max_limit: u32,
    /// How long a cursor stays valid after it is issued.
    pub cursor_ttl: Duration,
    /// How many times one cursor may be used (`None`: unlimited within its lifetime).
    pub cursor_max_uses: Option<u32>,
    /// Requests per second before 429 (token bucket with a one-second burst); `None` is off.
    pub rate_limit_per_sec: Option<u32>,
    /// Port to bind on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The default token's value; `None` generates a JWT-like one.
    pub token: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            max_limit: 1000,
            cursor_ttl: Duration::from_secs(600),
            cursor_max_uses: None,
            rate_limit_per_sec: None,
            port: 0,
            token: None,
        }
    }
}

/// One request as the simulator saw it. The token itself is never recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, as sent (percent-encoding intact), with any known token replaced by
    /// `[REDACTED]`.
    pub query: Option<String>,
    pub status: u16,
    pub authorization_present: bool,
    /// A known token (or the one in the Authorization header) appeared in the path or query.
    pub token_in_url: bool,
    /// A known token appeared in the request body. `POST users/api-token-details` carries the token
    /// in its body by design of the real API, so this is expected there and nowhere else.
    pub token_in_body: bool,
    /// `token_in_url || token_in_body`.
    pub token_outside_header: bool,
    /// The fault served instead of (or on top of) the normal answer, if any.
    pub fault: Option<&'static str>,
}

/// Why the simulator could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("a seeded record cannot be served: {0}")]
    Record(#[from] RecordError),
    #[error("the simulator could not listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: io::Error },
}

impl From<SimError> for io::Error {
    fn from(e: SimError) -> Self {
        match e {
            SimError::Bind { source, .. } => source,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// A clock that only moves forward: mutations stamp `updatedAt` with it, so every change is
/// strictly newer than anything generated or changed before it.
#[derive(Debug)]
struct SimClock {
    last: Mutex<Micros>,
}

impl SimClock {
    fn now(&self) -> Micros {
        let mut last = lock(&self.last);
        let wall = datetime_to_micros(OffsetDateTime::now_utc());
        *last = wall.max(*last + 1);
        *last
    }
}

/// A list endpoint, to aim a console-wide misbehaviour at one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListEndpoint {
    /// `GET agents` (and, for the totalItems offset, `GET agents/count`).
    Agents,
    Threats,
    Groups,
    /// `GET application-management/risks`.
    Risks,
}

/// Ways a live console misbehaves while answering 200, each off until a test switches it on.
#[derive(Debug, Default)]
struct LiveConsoleQuirks {
    /// Active agents report `lastActiveDate` = now on every read.
    last_active_churn: AtomicBool,
    /// Added to the real `totalItems` (and `agents/count`), per list endpoint.
    agents_total_offset: AtomicI64,
    threats_total_offset: AtomicI64,
    groups_total_offset: AtomicI64,
    risks_total_offset: AtomicI64,
    /// The tenant has no application management (an older console or no licence): the risks path is a 404.
    risks_unavailable: AtomicBool,
}

impl LiveConsoleQuirks {
    fn total_offset(&self, endpoint: ListEndpoint) -> &AtomicI64 {
        match endpoint {
            ListEndpoint::Agents => &self.agents_total_offset,
            ListEndpoint::Threats => &self.threats_total_offset,
            ListEndpoint::Groups => &self.groups_total_offset,
            ListEndpoint::Risks => &self.risks_total_offset,
        }
    }

    /// The total a response reports: the real one plus the offset, never below zero.
    fn reported_total(&self, resource: Resource, real: usize) -> usize {
        let endpoint = match resource {
            Resource::Agents | Resource::AgentsCount => ListEndpoint::Agents,
            Resource::Threats => ListEndpoint::Threats,
            Resource::Groups => ListEndpoint::Groups,
            Resource::Risks => ListEndpoint::Risks,
        };
        let offset = self.total_offset(endpoint).load(AtomicOrdering::SeqCst);
        let real = i64::try_from(real).unwrap_or(i64::MAX);
        usize::try_from(real.saturating_add(offset).max(0)).unwrap_or(0)
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

struct Shared {
    tenant: RwLock<Tenant>,
    tokens: Mutex<TokenStore>,
    cursors: Mutex<CursorStore>,
    faults: FaultPlan,
    log: Mutex<Vec<LoggedRequest>>,
    clock: SimClock,
    config: SimConfig,
    bucket: Mutex<Bucket>,
    quirks: LiveConsoleQuirks,
}

/// Builds a simulated console. `new` generates the tenant immediately (deterministic from the spec).
pub struct Simulator {
    tenant: Result<Tenant, RecordError>,
    config: SimConfig,
}

impl Simulator {
    pub fn new(spec: TenantSpec) -> Self {
        Self {
            tenant: Tenant::generated(&spec),
            config: SimConfig::default(),
        }
    }

    /// A console with no agents, threats or groups.
    pub fn empty() -> Self {
        Self {
            tenant: Ok(Tenant::default()),
            config: SimConfig::default(),
        }
    }

    pub fn config(mut self, cfg: SimConfig) -> Self {
        self.config = cfg;
        self
    }

    /// Adds raw agent records (e.g. the real samples) exactly as given; they are served unchanged.
    pub fn with_agent_records(mut self, records: impl IntoIterator<Item = Value>) -> Self {
        self.tenant = self.tenant.and_then(|mut t| {
            for v in records {
                t.agents.insert(AgentRow::from_value(&v)?)?;
            }
            Ok(t)
        });
        self
    }

    pub fn with_threat_records(mut self, records: impl IntoIterator<Item = Value>) -> Self {
        self.tenant = self.tenant.and_then(|mut t| {
            for v in records {
                t.threats.insert(ThreatRow::from_value(&v)?)?;
            }
            Ok(t)
        });
        self
    }

    /// Adds raw risk rows (e.g. the real samples) exactly as given. Each takes the scope of the agent its
    /// `endpointId` names, when the console has that agent.
    pub fn with_risk_records(mut self, records: impl IntoIterator<Item = Value>) -> Self {
        self.tenant = self.tenant.and_then(|mut t| {
            for v in records {
                let endpoint = v
                    .get("endpointId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let scope = t
                    .agents
                    .get(endpoint)
                    .map(|a| (a.account_id.clone(), a.site_id.clone(), a.group_id.clone()))
                    .unwrap_or_default();
                let row = RiskRow::from_value(&v, (&scope.0, &scope.1, &scope.2))?;
                t.risks.insert(row)?;
            }
            Ok(t)
        });
        self
    }

    pub fn with_group_records(mut self, records: impl IntoIterator<Item = Value>) -> Self {
        self.tenant = self.tenant.and_then(|mut t| {
            for v in records {
                t.groups.insert(GroupRow::from_value(&v)?)?;
            }
            Ok(t)
        });
        self
    }

    /// Binds 127.0.0.1 (`SimConfig::port`, 0 for any free port) and serves until shut down.
    pub async fn start(self) -> io::Result<SimHandle> {
        Ok(self.try_start().await?)
    }

    pub async fn try_start(self) -> Result<SimHandle, SimError> {
        let tenant = self.tenant?;
        let port = self.config.port;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| SimError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { port, source })?;
        let token = self.config.token.clone().unwrap_or_else(new_token);
        let latest = tenant.latest_timestamp();
        let rate = self.config.rate_limit_per_sec.unwrap_or(0);
        let shared = Arc::new(Shared {
            tenant: RwLock::new(tenant),
            tokens: Mutex::new(TokenStore::with_default(token)),
            cursors: Mutex::new(CursorStore::default()),
            faults: FaultPlan::default(),
            log: Mutex::new(Vec::new()),
            clock: SimClock {
                last: Mutex::new(latest),
            },
            config: self.config,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(rate),
                last: Instant::now(),
            }),
            quirks: LiveConsoleQuirks::default(),
        });
        let app = Router::new().fallback(dispatch).with_state(shared.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = axum::serve(
            ResettableListener(listener),
            app.into_make_service_with_connect_info::<ConnMeta>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        });
        let task = tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "simulator server stopped with an error");
            }
        });
        tracing::info!(%addr, "s1-simulator listening");
        Ok(SimHandle {
            addr,
            shared,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server; `shutdown` also waits for it.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl SimHandle {
    /// `http://127.0.0.1:<port>`: the console root, without `/web/api/v2.1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The current default token: valid, all permissions, expires in 180 days.
    pub fn token(&self) -> String {
        lock(&self.shared.tokens).default_token.clone()
    }

    pub fn add_token(&self, token: &str, perms: Permissions, expires_at: OffsetDateTime) {
        let created = OffsetDateTime::now_utc().min(expires_at);
        lock(&self.shared.tokens).insert(token.to_owned(), perms, created, expires_at);
    }

    pub fn revoke_token(&self, token: &str) {
        lock(&self.shared.tokens).revoke(token);
    }

    /// Replaces the default token with a new one (the old one is revoked) and returns it.
    pub fn rotate_token(&self) -> String {
        lock(&self.shared.tokens).rotate()
    }

    /// The fault plan; arm rules on it while the server runs.
    pub fn faults(&self) -> FaultPlan {
        self.shared.faults.clone()
    }

    pub fn fault_counts(&self) -> FaultCounts {
        self.shared.faults.counts()
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// The simulated clock's next instant (it never goes backwards).
    pub fn now(&self) -> OffsetDateTime {
        micros_to_datetime(self.shared.clock.now())
    }

    fn stamp(&self) -> impl FnMut() -> Micros + '_ {
        || self.shared.clock.now()
    }

    /// Registers `n` new agents (created and updated "now") and returns their ids.
    pub fn add_agents(&self, n: usize) -> Vec<String> {
        let mut now = self.stamp();
        write(&self.shared.tenant).add_agents(n, &mut now)
    }

    /// Marks an agent decommissioned (bumping its updatedAt). Returns false for an unknown id.
    pub fn decommission_agent(&self, id: &str) -> bool {
        let at = self.shared.clock.now();
        write(&self.shared.tenant).decommission_agent(id, at)
    }

    /// Removes an agent from the console entirely (no longer listed or counted); its threats
    /// stay. Returns false for an unknown id.
    pub fn remove_agent(&self, id: &str) -> bool {
        write(&self.shared.tenant).remove_agent(id)
    }

    /// Deletes a threat from the console entirely: no longer listed, counted or filterable.
    /// Returns false for an unknown id.
    pub fn delete_threat(&self, id: &str) -> bool {
        write(&self.shared.tenant).delete_threat(id)
    }

    /// Puts a threat record back into the console (typically one taken from [`Self::threats_snapshot`] before
    /// [`Self::delete_threat`]), its `updatedAt` set to now: the threat came back. Returns false when the record
    /// is not a threat or its id is listed already.
    pub fn restore_threat(&self, record: serde_json::Value) -> bool {
        let at = self.shared.clock.now();
        write(&self.shared.tenant).restore_threat(record, at)
    }

    /// Registers `n` agents (created and updated "now") that carry the API documentation's
    /// example strings: `computerName` is `"string"`, as are `domain`, `uuid`, `osName`,
    /// `osRevision`, `modelName`, `cpuId`, `lastLoggedInUserName`, `externalIp`, `groupIp`,
    /// `lastIpToMgmt`, `externalId`, `osUsername` and the network interfaces' strings. Their ids
    /// are real and unique and their account/site/group are real, so they are listed, filtered
    /// and paged like any other agent. Returns their ids.
    pub fn add_placeholder_agents(&self, n: usize) -> Vec<String> {
        let mut now = self.stamp();
        write(&self.shared.tenant).add_placeholder_agents(n, &mut now)
    }

    /// Adds `n` threats (created and updated "now", with a real unique id, a `threatInfo` with an
    /// analyst verdict, and everything else a generated threat has) whose agent is a placeholder
    /// as `kind` says. Returns their ids.
    pub fn add_placeholder_threats(&self, n: usize, kind: PlaceholderAgent) -> Vec<String> {
        let mut now = self.stamp();
        write(&self.shared.tenant).add_placeholder_threats(n, kind, &mut now)
    }

    /// When on, every agent an agents list serves as active (`isActive` true, or `networkStatus`
    /// `connected`) reports `lastActiveDate` = the simulated clock at serve time, as a live
    /// console does for online agents; two requests never see the same value. `updatedAt` and
    /// every other field, the sort order and the cursors are unchanged, and the stored record
    /// (`agents_snapshot`) keeps its original `lastActiveDate`. Off by default.
    pub fn set_last_active_churn(&self, on: bool) {
        self.shared
            .quirks
            .last_active_churn
            .store(on, AtomicOrdering::SeqCst);
    }

    /// Makes `pagination.totalItems` of `endpoint`'s list responses (and, for agents, the
    /// `agents/count` total) report the real count plus `offset`, clamped at 0: a total that
    /// disagrees with the data. `0` switches it off (the default).
    pub fn set_total_items_offset(&self, endpoint: ListEndpoint, offset: i64) {
        self.shared
            .quirks
            .total_offset(endpoint)
            .store(offset, AtomicOrdering::SeqCst);
    }

    /// [`Self::set_total_items_offset`] for agents (list `totalItems` and `agents/count`).
    pub fn set_agents_total_items_offset(&self, offset: i64) {
        self.set_total_items_offset(ListEndpoint::Agents, offset);
    }

    pub fn add_agent_tag(&self, agent_id: &str, key: &str, value: &str) -> bool {
        let at = self.shared.clock.now();
        write(&self.shared.tenant).add_agent_tag(agent_id, key, value, at)
    }

    pub fn set_threat_verdict(&self, threat_id: &str, verdict: &str) -> bool {
        let at = self.shared.clock.now();
        write(&self.shared.tenant).set_threat_verdict(threat_id, verdict, at)
    }

    pub fn set_threat_incident_status(&self, threat_id: &str, status: &str) -> bool {
        let at = self.shared.clock.now();
        write(&self.shared.tenant).set_threat_incident_status(threat_id, status, at)
    }

    pub fn set_threat_mitigation_status(&self, threat_id: &str, status: &str) -> bool {
        let at = self.shared.clock.now();
        write(&self.shared.tenant).set_threat_mitigation_status(threat_id, status, at)
    }

    /// A vulnerability scan of every endpoint: each risk row's `lastScanDate` and `daysDetected` move, nothing
    /// else does (the console computes `daysDetected` when it answers).
    pub fn scan_risks(&self) {
        let now = self.shared.clock.now();
        write(&self.shared.tenant).scan_risks(now);
    }

    /// Marks a risk row `Removed` (the application was patched): it is served only with `includeRemovals=true`,
    /// with a new `riskUpdatedDate`. False when no row has that id.
    pub fn remove_risk(&self, id: &str) -> bool {
        let now = self.shared.clock.now();
        write(&self.shared.tenant).edit_risk(id, |r| r.set_removed(true, now))
    }

    /// A removed risk row detected again.
    pub fn redetect_risk(&self, id: &str) -> bool {
        let now = self.shared.clock.now();
        write(&self.shared.tenant).edit_risk(id, |r| r.set_removed(false, now))
    }

    /// Deletes a risk row outright: it is gone even with `includeRemovals=true` (only a complete walk notices).
    pub fn delete_risk(&self, id: &str) -> bool {
        write(&self.shared.tenant).risks.remove(id).is_some()
    }

    /// Gives a risk row a new severity (`CRITICAL`, `HIGH`, `MEDIUM`, `LOW`).
    pub fn set_risk_severity(&self, id: &str, severity: &str) -> bool {
        let now = self.shared.clock.now();
        write(&self.shared.tenant).edit_risk(id, |r| r.set_severity(severity, now))
    }

    /// Whether the tenant has application management: without it the risks path answers 404.
    pub fn set_risks_available(&self, on: bool) {
        self.shared
            .quirks
            .risks_unavailable
            .store(!on, AtomicOrdering::SeqCst);
    }

    pub fn risks_snapshot(&self) -> Vec<Value> {
        read(&self.shared.tenant).risks.values()
    }

    /// Adds `n` threats on existing agents (created and updated "now") and returns their ids.
    pub fn add_threats(&self, n: usize) -> Vec<String> {
        let mut now = self.stamp();
        write(&self.shared.tenant).add_threats(n, &mut now)
    }

    /// Every agent record, in id order, exactly as served.
    pub fn agents_snapshot(&self) -> Vec<Value> {
        read(&self.shared.tenant).agents.values()
    }

    pub fn threats_snapshot(&self) -> Vec<Value> {
        read(&self.shared.tenant).threats.values()
    }

    pub fn groups_snapshot(&self) -> Vec<Value> {
        read(&self.shared.tenant).groups.values()
    }

    /// Stops accepting requests, lets in-flight ones finish, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Per-connection information handed to each request, including the switch that makes the
/// connection reset itself (the connection-reset fault).
#[derive(Debug, Clone)]
struct ConnMeta {
    kill: Arc<AtomicBool>,
}

impl Connected<IncomingStream<'_, ResettableListener>> for ConnMeta {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

struct ResettableListener(TcpListener);

impl Listener for ResettableListener {
    type Io = ResettableStream;
    type Addr = ConnMeta;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let kill = Arc::new(AtomicBool::new(false));
                    return (
                        ResettableStream {
                            inner: stream,
                            kill: kill.clone(),
                        },
                        ConnMeta { kill },
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnMeta {
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that, once its kill switch is set, fails every write and arranges for the socket
/// to close with RST (zero linger) so the client sees a reset, not a clean close.
struct ResettableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl ResettableStream {
    fn killed(&self) -> Option<io::Error> {
        if self.kill.load(AtomicOrdering::SeqCst) {
            let _ = self.inner.set_zero_linger();
            Some(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset fault",
            ))
        } else {
            None
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn json_response(status: u16, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.status, e.body())
}

fn auth_error() -> ApiError {
    ApiError {
        status: 401,
        code: 4_010_010,
        title: "Authentication Failed",
        detail: None,
    }
}

fn forbidden(permission: &str) -> ApiError {
    ApiError {
        status: 403,
        code: 4_030_010,
        title: "Insufficient permissions",
        detail: Some(format!(
            "The API token's role lacks the {permission} permission"
        )),
    }
}

fn not_found() -> ApiError {
    // The real 404 code is undocumented; the envelope is the console's, the code our choice.
    ApiError {
        status: 404,
        code: 4_040_010,
        title: "Resource not found",
        detail: None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    SystemInfo,
    List(Resource),
    TokenDetails,
}

fn route(method: &Method, path: &str) -> Option<Route> {
    let sub = path.strip_prefix(API_PREFIX)?.trim_end_matches('/');
    let get = method == Method::GET;
    let post = method == Method::POST;
    // POST on a read path is 404, never 405 or 403 (API.md §1 "GET vs POST").
    match sub {
        "system/info" if get => Some(Route::SystemInfo),
        "agents" if get => Some(Route::List(Resource::Agents)),
        "agents/count" if get => Some(Route::List(Resource::AgentsCount)),
        "threats" if get => Some(Route::List(Resource::Threats)),
        "groups" if get => Some(Route::List(Resource::Groups)),
        "application-management/risks" if get => Some(Route::List(Resource::Risks)),
        "users/api-token-details" if post => Some(Route::TokenDetails),
        _ => None,
    }
}

fn contains_token(haystack: &str, tokens: &[String]) -> bool {
    tokens.iter().any(|t| haystack.contains(t.as_str()))
}

fn retry_after_value(r: RetryAfter) -> String {
    match r {
        RetryAfter::Seconds(s) => s.to_string(),
        RetryAfter::HttpDate { seconds_from_now } => {
            httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(seconds_from_now))
        }
    }
}

fn too_many_requests(retry_after: Option<RetryAfter>) -> Response {
    // The real 429 code is unknown (API.md §6.2); 4290010 follows the console's numbering.
    let e = ApiError {
        status: 429,
        code: 4_290_010,
        title: "Too Many Requests",
        detail: None,
    };
    let mut r = error_response(&e);
    if let Some(v) = retry_after.map(retry_after_value) {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    r
}

async fn dispatch(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let raw_query = uri.query().map(str::to_owned);
    let auth_header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    // Token-leak detection: every token ever issued plus whatever the header carried.
    let leak_tokens: Vec<String> = {
        let store = lock(&s.tokens);
        let mut v: Vec<String> = store
            .all_tokens()
            .filter(|t| t.len() >= 8)
            .map(str::to_owned)
            .collect();
        if let Some(t) = auth_header
            .as_deref()
            .and_then(|h| h.split_once(' '))
            .map(|(_, t)| t.trim())
        {
            if t.len() >= 8 {
                v.push(t.to_owned());
            }
        }
        v
    };
    let decoded_query = raw_query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    let decoded_path = percent_decode(&path);
    let token_in_url = contains_token(&path, &leak_tokens)
        || contains_token(&decoded_path, &leak_tokens)
        || raw_query
            .as_deref()
            .is_some_and(|q| contains_token(q, &leak_tokens))
        || contains_token(&decoded_query, &leak_tokens);
    let token_in_body = contains_token(&String::from_utf8_lossy(&body), &leak_tokens);

    let route = route(&method, &path);
    let has_cursor = raw_query
        .as_deref()
        .is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "cursor"));
    // Only routed requests meet the fault plan: a fault counted on a 404 would never be served.
    let decision = if route.is_some() {
        s.faults.decide(&RequestShape {
            path: &path,
            has_cursor,
            is_list: matches!(
                route,
                Some(Route::List(
                    Resource::Agents | Resource::Threats | Resource::Groups | Resource::Risks
                ))
            ),
        })
    } else {
        Default::default()
    };
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }

    let mut fault_label = decision.fault.as_ref().map(Fault::label);
    let (status, response) = match (&decision.fault, route) {
        (_, None) => {
            let e = not_found();
            (e.status, error_response(&e))
        }
        (Some(Fault::TooManyRequests { retry_after }), _) => (429, too_many_requests(*retry_after)),
        (Some(Fault::ServerError { status }), _) => {
            let e = ApiError {
                status: *status,
                code: u32::from(*status) * 10_000 + 10,
                title: "Internal Server Error",
                detail: None,
            };
            (e.status, error_response(&e))
        }
        (Some(Fault::ConnectionReset), _) => {
            conn.kill.store(true, AtomicOrdering::SeqCst);
            (0, json_response(200, String::new()))
        }
        (Some(Fault::InvalidJson), _) => (
            200,
            json_response(200, "{\"data\":[{\"id\":\"6576137301681\"".to_owned()),
        ),
        (Some(Fault::CursorExpiry), Some(_)) => {
            if let Some(c) = raw_query.as_deref().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "cursor")
                    .map(|(_, v)| v.into_owned())
            }) {
                lock(&s.cursors).kill(&c);
            }
            let e = ApiError::validation(
                "cursor: the cursor has expired; list again from the beginning without a cursor",
            );
            (400, error_response(&e))
        }
        (fault, Some(route)) => {
            if rate_limited(&s) {
                s.faults.count_rate_limited();
                fault_label = Some("rate_limited");
                (429, too_many_requests(Some(RetryAfter::Seconds(1))))
            } else {
                let shape = ListShape {
                    with_pagination: !matches!(fault, Some(Fault::MissingPagination)),
                    empty_page_with_cursor: matches!(fault, Some(Fault::EmptyPageWithCursor)),
                };
                let (status, body) = handle(
                    &s,
                    route,
                    auth_header.as_deref(),
                    raw_query.as_deref(),
                    &body,
                    shape,
                );
                let response = if matches!(fault, Some(Fault::TruncatedBody)) {
                    truncated(status, body)
                } else {
                    json_response(status, body)
                };
                (status, response)
            }
        }
    };

    // The log may be printed by a failing test and tracing goes to the console: tokens are
    // redacted from both. A token hidden by percent-encoding takes the whole text with it.
    let redact = |text: String| -> String {
        let t = leak_tokens
            .iter()
            .fold(text, |t, token| t.replace(token.as_str(), "[REDACTED]"));
        if contains_token(&percent_decode(&t), &leak_tokens) {
            "[REDACTED]".to_owned()
        } else {
            t
        }
    };
    let path = redact(path);
    tracing::debug!(
        method = %method,
        path = %path,
        status,
        fault = fault_label.unwrap_or("none"),
        "request served"
    );
    lock(&s.log).push(LoggedRequest {
        method: method.to_string(),
        path,
        query: raw_query.map(redact),
        status,
        authorization_present: auth_header.is_some(),
        token_in_url,
        token_in_body,
        token_outside_header: token_in_url || token_in_body,
        fault: fault_label,
    });
    response
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The real response's headers with its full Content-Length, but only half the body: the
/// connection then closes mid-body.
fn truncated(status: u16, body: String) -> Response {
    let full = body.len();
    let half = Bytes::from(body).slice(..full / 2);
    use futures::StreamExt as _;
    // The pause makes hyper flush the headers and the first half before the body fails; an error
    // ready at once would abort the response before anything reached the client.
    let stream =
        futures::stream::iter([Ok::<Bytes, io::Error>(half)]).chain(futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "truncated body fault",
            ))
        }));
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&full.to_string()) {
        r.headers_mut().insert(http::header::CONTENT_LENGTH, v);
    }
    r
}

fn rate_limited(s: &Shared) -> bool {
    let Some(rate) = s.config.rate_limit_per_sec.filter(|r| *r > 0) else {
        return false;
    };
    let mut b = lock(&s.bucket);
    let now = Instant::now();
    let refill = now.duration_since(b.last).as_secs_f64() * f64::from(rate);
    b.tokens = (b.tokens + refill).min(f64::from(rate));
    b.last = now;
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        false
    } else {
        true
    }
}

/// How a fault reshapes a list response that is otherwise served normally.
#[derive(Debug, Clone, Copy)]
struct ListShape {
    with_pagination: bool,
    empty_page_with_cursor: bool,
}

/// Auth, permission, validation and the endpoint itself. Returns status and body.
fn handle(
    s: &Shared,
    route: Route,
    auth_header: Option<&str>,
    raw_query: Option<&str>,
    body: &[u8],
    shape: ListShape,
) -> (u16, String) {
    let perms = {
        let tokens = lock(&s.tokens);
        match tokens.authenticate(auth_header) {
            Ok((_, perms)) => perms,
            Err(why) => {
                tracing::debug!(reason = why.as_str(), "authentication failed");
                let e = auth_error();
                return (e.status, e.body());
            }
        }
    };
    let result = match route {
        Route::SystemInfo => Ok(system_info()),
        Route::TokenDetails => token_details(s, body),
        Route::List(resource) => {
            let (needed, name) = match resource {
                Resource::Agents | Resource::AgentsCount => {
                    (perms.endpoints_view, "Endpoints.view")
                }
                Resource::Threats => (perms.threats_view, "Threats.view"),
                Resource::Groups => (perms.groups_view, "Groups.view"),
                Resource::Risks => (perms.risks_view, "Applications Page.viewRisks"),
            };
            if resource == Resource::Risks
                && s.quirks.risks_unavailable.load(AtomicOrdering::SeqCst)
            {
                Err(not_found())
            } else if needed {
                list(s, resource, raw_query, shape)
            } else {
                Err(forbidden(name))
            }
        }
    };
    match result {
        Ok(body) => (200, body),
        Err(e) => (e.status, e.body()),
    }
}

fn system_info() -> String {
    // Only `latestAgentVersion` is attested by a public client; the other keys follow the console's
    // build/version fields and are our choice.
    json!({"data": {
        "build": "s1-simulator",
        "latestAgentVersion": "24.1.2.6",
        "patch": "0",
        "release": "2026.11",
        "version": "Y"
    }})
    .to_string()
}

fn token_details(s: &Shared, body: &[u8]) -> Result<String, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        ApiError::validation(
            "data: the request body must be JSON {\"data\":{\"apiToken\":\"...\"}}",
        )
    })?;
    let token = v
        .get("data")
        .and_then(|d| d.get("apiToken"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation("data.apiToken: required"))?;
    let tokens = lock(&s.tokens);
    match tokens.get(token) {
        Some(t) if !t.revoked => Ok(json!({"data": {
            "createdAt": fmt_micros(datetime_to_micros(t.created_at)),
            "expiresAt": fmt_micros(datetime_to_micros(t.expires_at)),
        }})
        .to_string()),
        _ => Err(ApiError::validation(
            "data.apiToken: no API token matches the filter",
        )),
    }
}

fn list(
    s: &Shared,
    resource: Resource,
    raw_query: Option<&str>,
    shape: ListShape,
) -> Result<String, ApiError> {
    let params = Params::parse(raw_query, resource)?;
    let policy = CursorPolicy {
        ttl: s.config.cursor_ttl,
        max_uses: s.config.cursor_max_uses,
    };
    let max_limit = s.config.max_limit as usize;
    let tenant = read(&s.tenant);
    let mut page: Page = match resource {
        Resource::AgentsCount => {
            let f = AgentFilter::parse(&params)?;
            let total = tenant.agents.rows().iter().filter(|a| f.matches(a)).count();
            let total = s.quirks.reported_total(resource, total);
            return Ok(json!({"data": {"total": total}}).to_string());
        }
        Resource::Agents => {
            let f = AgentFilter::parse(&params)?;
            let mut paging = Paging::parse(&params, resource, max_limit)?;
            paging.hold_back = shape.empty_page_with_cursor;
            run_page(
                &tenant.agents,
                |a| f.matches(a),
                &params,
                &paging,
                resource,
                s,
                policy,
            )?
        }
        Resource::Threats => {
            let f = ThreatFilter::parse(&params)?;
            let mut paging = Paging::parse(&params, resource, max_limit)?;
            paging.hold_back = shape.empty_page_with_cursor;
            run_page(
                &tenant.threats,
                |t| f.matches(t),
                &params,
                &paging,
                resource,
                s,
                policy,
            )?
        }
        Resource::Risks => {
            let f = RiskFilter::parse(&params)?;
            let mut paging = Paging::parse(&params, resource, max_limit)?;
            paging.hold_back = shape.empty_page_with_cursor;
            run_page(
                &tenant.risks,
                |r| f.matches(r),
                &params,
                &paging,
                resource,
                s,
                policy,
            )?
        }
        Resource::Groups => {
            let f = GroupFilter::parse(&params)?;
            let mut paging = Paging::parse(&params, resource, max_limit)?;
            paging.hold_back = shape.empty_page_with_cursor;
            run_page(
                &tenant.groups,
                |g| f.matches(g),
                &params,
                &paging,
                resource,
                s,
                policy,
            )?
        }
    };
    drop(tenant);
    page.total = s.quirks.reported_total(resource, page.total);
    if resource == Resource::Agents && s.quirks.last_active_churn.load(AtomicOrdering::SeqCst) {
        let now = fmt_micros(s.clock.now());
        for item in &mut page.items {
            if let Some(churned) = with_last_active(item, &now) {
                *item = churned;
            }
        }
    }
    Ok(page_body(&page, shape.with_pagination))
}

/// The agent record with `lastActiveDate` set to `now` if the agent is online; `None` (serve it
/// unchanged) for an offline agent or a record that is not a JSON object.
fn with_last_active(agent_json: &str, now: &str) -> Option<Arc<str>> {
    let mut v: Value = serde_json::from_str(agent_json).ok()?;
    let online = lenient_bool(v.get("isActive"))
        || v.get("networkStatus").and_then(Value::as_str) == Some("connected");
    if !online {
        return None;
    }
    v.as_object_mut()?
        .insert("lastActiveDate".to_owned(), Value::String(now.to_owned()));
    Some(Arc::from(v.to_string()))
}

fn run_page<R: crate::records::Record + crate::query::Named>(
    table: &Table<R>,
    matches: impl Fn(&R) -> bool,
    params: &Params,
    paging: &Paging,
    resource: Resource,
    s: &Shared,
    policy: CursorPolicy,
) -> Result<Page, ApiError> {
    let mut cursors = lock(&s.cursors);
    page(
        table.rows(),
        matches,
        params,
        paging,
        resource,
        &mut cursors,
        policy,
    )
}
