//! Checks on the SAM template (infra/template.yaml) that cfn-lint cannot know: that every function names a handler
//! crate of this workspace, that routes, schedule and queue timing match what the code expects, and that IAM stays
//! least-privilege. Each check returns the problems it found (empty = pass), so tests can also feed it broken copies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

/// The only daily schedule the connector has: 01:15 UTC (EventBridge cron is always UTC).
pub const SCHEDULE: &str = "cron(15 1 * * ? *)";

/// Prefixes every route lives under (see docs/openapi.yaml): the API's two, and the web console's static files.
pub const ROUTE_PREFIXES: [&str; 3] = [
    "/v1/integrations/sentinelone/",
    "/v1/custom-fields",
    CONSOLE_PREFIX,
];

/// The web console's static files: the only routes outside the JWT authorizer (see [`check_public_routes`]).
pub const CONSOLE_PREFIX: &str = "/console";
/// The function that serves them.
pub const CONSOLE_BINARY: &str = "console-assets";

/// Actions that may be granted on `Resource: "*"`, with the reason: these services offer no resource-level
/// permissions for them, so AWS accepts nothing narrower.
pub const STAR_RESOURCE_ALLOWED: [(&str, &str); 2] = [
    (
        "xray:PutTraceSegments",
        "X-Ray has no resource-level permissions",
    ),
    (
        "xray:PutTelemetryRecords",
        "X-Ray has no resource-level permissions",
    ),
];

/// Actions that read only: all a connection test may do.
pub const READ_ONLY_ACTIONS: [&str; 7] = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "secretsmanager:GetSecretValue",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
];

/// The loopback switch of the URL policy: for the local simulator only, never in a deployment.
pub const LOOPBACK_SWITCH: &str = "S1_DEV_ALLOW_LOOPBACK";

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid YAML: {source}")]
    Yaml {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("`cargo metadata` failed: {0}")]
    Metadata(String),
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A parsed template plus its raw text (some checks are about the text itself).
pub struct Template {
    pub doc: Value,
    pub text: String,
}

/// One `AWS::Serverless::Function`.
#[derive(Debug, Clone)]
pub struct Function {
    pub id: String,
    pub binary: Option<String>,
    pub props: Value,
    pub metadata: Value,
}

/// One HTTP API route and the function it invokes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: String,
    pub binary: String,
}

impl Route {
    /// API Gateway's route key, as in the event's `routeKey`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// One IAM policy statement, wherever it is written, with intrinsic functions rendered as text
/// (`!GetAtt ConnectorTable.Arn`, `!Sub arn:...`, `!Ref PageTokenSecret`).
#[derive(Debug, Clone)]
pub struct Statement {
    /// Logical id of the role, policy or function that carries it.
    pub owner: String,
    pub sid: String,
    pub effect: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// The `Condition` block, `Null` when there is none.
    pub condition: Value,
}

impl Statement {
    /// The statement only reaches items whose partition key matches `pattern` (`dynamodb:LeadingKeys` under
    /// `ForAllValues:StringLike`, every value equal to `pattern`).
    pub fn limited_to_leading_keys(&self, pattern: &str) -> bool {
        let keys = self
            .condition
            .get("ForAllValues:StringLike")
            .and_then(|c| c.get("dynamodb:LeadingKeys"));
        let values: Vec<String> = as_list(keys).into_iter().map(render).collect();
        !values.is_empty() && values.iter().all(|v| v == pattern)
    }
}

/// A workspace member as `cargo metadata` reports it.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    /// Directory of its Cargo.toml, relative to the workspace root.
    pub dir: PathBuf,
    pub bins: Vec<String>,
}

/// Renders a value the way the checks compare it: strings as themselves, intrinsic functions as `!Tag body`.
pub fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            format!("!{tag} {}", render(&t.value))
        }
        Value::Sequence(items) => {
            let parts: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Mapping(_) => serde_yaml::to_string(v)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn as_list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Sequence(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `!GetAtt X.Arn` / `!Ref X` → `X`.
fn referenced_id(v: &Value) -> Option<String> {
    let rendered = render(v);
    if let Some(rest) = rendered.strip_prefix("!GetAtt ") {
        return rest.split('.').next().map(str::to_string);
    }
    rendered.strip_prefix("!Ref ").map(str::to_string)
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, CheckError> {
        let text = std::fs::read_to_string(path).map_err(|source| CheckError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|source| CheckError::Yaml {
            path: path.display().to_string(),
            source,
        })
    }

    /// The repository's infra/template.yaml.
    pub fn load_default() -> Result<Self, CheckError> {
        Self::load(&workspace_root().join("infra/template.yaml"))
    }

    pub fn parse(text: &str) -> Result<Self, serde_yaml::Error> {
        Ok(Self {
            doc: serde_yaml::from_str(text)?,
            text: text.to_string(),
        })
    }

    pub fn resources(&self) -> Vec<(String, &Value)> {
        self.doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn resource(&self, id: &str) -> Option<&Value> {
        self.doc.get("Resources")?.get(id)
    }

    /// Resources of one type.
    pub fn of_type(&self, ty: &str) -> Vec<(String, &Value)> {
        self.resources()
            .into_iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
            .collect()
    }

    fn globals(&self, key: &str) -> Option<&Value> {
        self.doc.get("Globals")?.get("Function")?.get(key)
    }

    pub fn functions(&self) -> Vec<Function> {
        self.of_type("AWS::Serverless::Function")
            .into_iter()
            .map(|(id, r)| {
                let metadata = r.get("Metadata").cloned().unwrap_or(Value::Null);
                Function {
                    binary: metadata
                        .get("BuildProperties")
                        .and_then(|b| b.get("Binary"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    props: r.get("Properties").cloned().unwrap_or(Value::Null),
                    metadata,
                    id,
                }
            })
            .collect()
    }

    /// A function property, falling back to `Globals.Function`.
    pub fn property<'a>(&'a self, f: &'a Function, key: &str) -> Option<&'a Value> {
        f.props.get(key).or_else(|| self.globals(key))
    }

    /// The function's environment: `Globals.Function.Environment.Variables` overlaid by its own (as SAM merges).
    pub fn environment(&self, f: &Function) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for vars in [
            self.globals("Environment").and_then(|e| e.get("Variables")),
            f.props.get("Environment").and_then(|e| e.get("Variables")),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(m) = vars.as_mapping() {
                for (k, v) in m {
                    if let Some(k) = k.as_str() {
                        env.insert(k.to_string(), render(v));
                    }
                }
            }
        }
        env
    }

    fn events<'a>(&self, f: &'a Function) -> Vec<(String, &'a Value)> {
        f.props
            .get("Events")
            .and_then(Value::as_mapping)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn routes(&self) -> Vec<Route> {
        let mut routes = Vec::new();
        for f in self.functions() {
            for (_, e) in self.events(&f) {
                if e.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                let p = e.get("Properties");
                let get = |k: &str| {
                    p.and_then(|p| p.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                routes.push(Route {
                    method: get("Method").to_ascii_uppercase(),
                    path: get("Path"),
                    function: f.id.clone(),
                    binary: f.binary.clone().unwrap_or_default(),
                });
            }
        }
        routes.sort();
        routes
    }

    /// (function id, expression) of every schedule, wherever it is declared.
    pub fn schedules(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for f in self.functions() {
            for (_, e) in self.events(&f) {
                let ty = e.get("Type").and_then(Value::as_str).unwrap_or_default();
                if ty == "Schedule" || ty == "ScheduleV2" {
                    let p = e.get("Properties");
                    let expr = p
                        .and_then(|p| p.get("Schedule").or_else(|| p.get("ScheduleExpression")))
                        .map(render)
                        .unwrap_or_default();
                    out.push((f.id.clone(), expr));
                }
            }
        }
        for ty in ["AWS::Events::Rule", "AWS::Scheduler::Schedule"] {
            for (id, r) in self.of_type(ty) {
                if let Some(expr) = r
                    .get("Properties")
                    .and_then(|p| p.get("ScheduleExpression"))
                {
                    out.push((id, render(expr)));
                }
            }
        }
        out
    }

    /// Every IAM statement: inline role policies, standalone policies, and SAM `Policies` statements.
    pub fn statements(&self) -> Vec<Statement> {
        let mut out = Vec::new();
        let mut push_doc = |owner: &str, doc: Option<&Value>| {
            for s in as_list(doc.and_then(|d| d.get("Statement"))) {
                let strings = |k: &str| as_list(s.get(k)).into_iter().map(render).collect();
                out.push(Statement {
                    owner: owner.to_string(),
                    sid: s.get("Sid").map(render).unwrap_or_default(),
                    effect: s.get("Effect").map(render).unwrap_or_default(),
                    actions: strings("Action"),
                    resources: strings("Resource"),
                    condition: s.get("Condition").cloned().unwrap_or(Value::Null),
                });
            }
        };
        for (id, r) in self.resources() {
            let ty = r.get("Type").and_then(Value::as_str).unwrap_or_default();
            let props = r.get("Properties");
            match ty {
                "AWS::IAM::Role" => {
                    for p in as_list(props.and_then(|p| p.get("Policies"))) {
                        push_doc(&id, p.get("PolicyDocument"));
                    }
                }
                "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
                    push_doc(&id, props.and_then(|p| p.get("PolicyDocument")));
                }
                "AWS::Serverless::Function" => {
                    for p in as_list(props.and_then(|p| p.get("Policies"))) {
                        push_doc(&id, Some(p));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The role a function runs with (`Role: !GetAtt XRole.Arn`).
    pub fn role_of(&self, f: &Function) -> Option<String> {
        f.props.get("Role").and_then(referenced_id)
    }

    /// The ARN pattern that scopes tenant tokens: the Secrets Manager ARN of `SECRET_PREFIX` + `*`.
    pub fn secret_prefix_arn(&self) -> Option<String> {
        let prefix = self
            .globals("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(|v| v.get("SECRET_PREFIX"))
            .map(render)?;
        let prefix = prefix.strip_prefix("!Sub ")?;
        Some(format!(
            "!Sub arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{prefix}*"
        ))
    }
}

/// The workspace members, with their bin targets, from `cargo metadata` (what Cargo itself will build).
pub fn workspace_packages(root: &Path) -> Result<Vec<Package>, CheckError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .map_err(|e| CheckError::Metadata(e.to_string()))?;
    if !out.status.success() {
        return Err(CheckError::Metadata(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| CheckError::Metadata(e.to_string()))?;
    let root_dir = meta["workspace_root"].as_str().unwrap_or_default();
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m.as_str()).collect())
        .unwrap_or_default();
    let mut packages = Vec::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        if !members.contains(p["id"].as_str().unwrap_or_default()) {
            continue;
        }
        let manifest = Path::new(p["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest
            .parent()
            .and_then(|d| d.strip_prefix(root_dir).ok())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let bins = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect();
        packages.push(Package {
            name: p["name"].as_str().unwrap_or_default().to_string(),
            dir,
            bins,
        });
    }
    Ok(packages)
}

/// (METHOD, path) of every operation in an OpenAPI document.
pub fn openapi_routes(text: &str) -> Result<BTreeSet<(String, String)>, serde_yaml::Error> {
    let doc: Value = serde_yaml::from_str(text)?;
    let mut out = BTreeSet::new();
    let empty = Mapping::new();
    let paths = doc
        .get("paths")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    for (path, ops) in paths {
        let Some(path) = path.as_str() else { continue };
        for (method, _) in ops.as_mapping().unwrap_or(&empty) {
            let Some(method) = method.as_str() else {
                continue;
            };
            if matches!(
                method,
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options"
            ) {
                out.insert((method.to_ascii_uppercase(), path.to_string()));
            }
        }
    }
    Ok(out)
}

/// Every function is an arm64 `provided.al2023` function built by cargo-lambda from the workspace root, with its
/// memory and timeout set on itself, and its binary is a bin target of a workspace member under functions/.
pub fn check_handlers(t: &Template, packages: &[Package]) -> Vec<String> {
    let mut problems = Vec::new();
    let functions = t.functions();
    if functions.is_empty() {
        problems.push("the template has no AWS::Serverless::Function".into());
    }
    let mut seen = BTreeSet::new();
    for f in &functions {
        let id = &f.id;
        if f.metadata.get("BuildMethod").and_then(Value::as_str) != Some("rust-cargolambda") {
            problems.push(format!(
                "{id}: Metadata.BuildMethod is not rust-cargolambda"
            ));
        }
        if t.property(f, "Runtime").map(render).as_deref() != Some("provided.al2023") {
            problems.push(format!("{id}: Runtime is not provided.al2023"));
        }
        if t.property(f, "Architectures").map(render).as_deref() != Some("[arm64]") {
            problems.push(format!("{id}: Architectures is not [arm64]"));
        }
        if t.property(f, "Handler").map(render).as_deref() != Some("bootstrap") {
            problems.push(format!("{id}: Handler is not bootstrap"));
        }
        // The template lives in infra/: `..` is the workspace root, so one cargo build serves every function.
        if t.property(f, "CodeUri").map(render).as_deref() != Some("..") {
            problems.push(format!(
                "{id}: CodeUri is not the workspace root (..): SAM would rebuild the dependency graph per function"
            ));
        }
        for key in ["MemorySize", "Timeout"] {
            if number(f.props.get(key)).is_none() {
                problems.push(format!("{id}: {key} is not set on the function itself"));
            }
        }
        let Some(binary) = &f.binary else {
            problems.push(format!("{id}: Metadata.BuildProperties.Binary is missing"));
            continue;
        };
        if !seen.insert(binary.clone()) {
            problems.push(format!("{id}: binary {binary} is used by two functions"));
        }
        let owner = packages.iter().find(|p| p.bins.iter().any(|b| b == binary));
        match owner {
            None => problems.push(format!(
                "{id}: binary {binary} is not a bin target of any workspace member"
            )),
            Some(p) if !p.dir.starts_with("functions") => problems.push(format!(
                "{id}: binary {binary} comes from {}, not from a crate under functions/",
                p.dir.display()
            )),
            Some(_) => {}
        }
    }
    problems
}

/// Routes are unique, under the API's prefixes, attached to the HTTP API, and exactly the documented operations.
pub fn check_routes(t: &Template, documented: &BTreeSet<(String, String)>) -> Vec<String> {
    let mut problems = Vec::new();
    let routes = t.routes();
    let mut keys = BTreeSet::new();
    for r in &routes {
        if !keys.insert((r.method.clone(), r.path.clone())) {
            problems.push(format!("{} is routed to more than one function", r.key()));
        }
        if !ROUTE_PREFIXES.iter().any(|p| r.path.starts_with(p)) {
            problems.push(format!(
                "{} ({}) is outside the API prefixes {ROUTE_PREFIXES:?}",
                r.key(),
                r.function
            ));
        }
        if r.path.ends_with('/') || r.path.contains("//") {
            problems.push(format!("{}: empty path segment", r.key()));
        }
        for segment in r.path.split('/') {
            let opens = segment.contains('{');
            let whole = segment.starts_with('{') && segment.ends_with('}') && segment.len() > 2;
            if (opens || segment.contains('}')) && (!whole || segment.contains('+')) {
                problems.push(format!(
                    "{}: path parameter {segment} must be a whole, non-greedy segment",
                    r.key()
                ));
            }
        }
    }
    for (_, r) in t.of_type("AWS::Serverless::Function") {
        for e in r
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.values())
        {
            if e.get("Type").and_then(Value::as_str) == Some("HttpApi") {
                let api = e.get("Properties").and_then(|p| p.get("ApiId")).map(render);
                if api.as_deref() != Some("!Ref HttpApi") {
                    problems.push(format!(
                        "an HttpApi event is attached to {api:?}, not to the stack's HttpApi (its JWT authorizer)"
                    ));
                }
            }
        }
    }
    for missing in documented.difference(&keys) {
        problems.push(format!(
            "{} {} is in the API document but no function serves it",
            missing.0, missing.1
        ));
    }
    for extra in keys.difference(documented) {
        problems.push(format!(
            "{} {} is routed in the template but not in the API document",
            extra.0, extra.1
        ));
    }
    problems
}

/// Routes that opt out of the JWT authorizer (`Auth.Authorizer: NONE`).
pub fn public_routes(t: &Template) -> Vec<Route> {
    let mut public = Vec::new();
    for f in t.functions() {
        for (_, e) in t.events(&f) {
            let p = e.get("Properties");
            let authorizer = p
                .and_then(|p| p.get("Auth"))
                .and_then(|a| a.get("Authorizer"))
                .and_then(Value::as_str);
            if e.get("Type").and_then(Value::as_str) == Some("HttpApi")
                && authorizer == Some("NONE")
            {
                let get = |k: &str| {
                    p.and_then(|p| p.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                public.push(Route {
                    method: get("Method").to_ascii_uppercase(),
                    path: get("Path"),
                    function: f.id.clone(),
                    binary: f.binary.clone().unwrap_or_default(),
                });
            }
        }
    }
    public
}

/// Only the console's static files are served without the JWT authorizer: GET routes under `/console`, served by
/// `console-assets`, whose role can do nothing but write its own logs and traces. Every console route is public
/// (a browser cannot send a bearer token with a page load), and no API route is.
pub fn check_public_routes(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let public = public_routes(t);
    let under_console = |path: &str| path == CONSOLE_PREFIX || path.starts_with("/console/");
    for r in &public {
        if r.method != "GET" || !under_console(&r.path) || r.binary != CONSOLE_BINARY {
            problems.push(format!(
                "{} ({}) is outside the JWT authorizer but is not a console file route",
                r.key(),
                r.binary
            ));
        }
    }
    for r in t.routes() {
        if (under_console(&r.path) || r.binary == CONSOLE_BINARY) && !public.contains(&r) {
            problems.push(format!(
                "{} ({}) is a console route behind the JWT authorizer: a browser cannot load it",
                r.key(),
                r.binary
            ));
        }
    }
    for f in t.functions() {
        if f.binary.as_deref() != Some(CONSOLE_BINARY) {
            continue;
        }
        let Some(role) = t.role_of(&f) else { continue };
        for s in t.statements().iter().filter(|s| s.owner == role) {
            for a in &s.actions {
                if !(a.starts_with("logs:") || a.starts_with("xray:")) {
                    problems.push(format!(
                        "{role}/{}: the console's function may only log and trace, not {a}",
                        s.sid
                    ));
                }
            }
        }
    }
    problems
}

/// Every route's function keeps a fixture for it in functions/<bin>/events/ (what `cargo lambda invoke` sends),
/// and no fixture names a route its function is not given.
pub fn check_fixtures(t: &Template, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let routes = t.routes();
    let binaries: BTreeSet<&str> = routes.iter().map(|r| r.binary.as_str()).collect();
    for binary in binaries {
        let dir = root.join("functions").join(binary).join("events");
        let mut fixture_keys = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let parsed = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok());
            let Some(json) = parsed else {
                problems.push(format!("{} is not readable JSON", path.display()));
                continue;
            };
            if let Some(key) = json["routeKey"].as_str() {
                // `$default` fixtures exercise a handler's own not-found answer.
                if !key.ends_with("$default") {
                    fixture_keys.insert(key.to_string());
                }
            }
        }
        let served: BTreeSet<String> = routes
            .iter()
            .filter(|r| r.binary == binary)
            .map(Route::key)
            .collect();
        for key in served.difference(&fixture_keys) {
            problems.push(format!(
                "{binary} serves {key} but {} has no fixture with that routeKey",
                dir.display()
            ));
        }
        for key in fixture_keys.difference(&served) {
            problems.push(format!(
                "a fixture of {binary} uses routeKey {key}, which the template does not route to {binary}"
            ));
        }
    }
    problems
}

/// Exactly one schedule, daily at 01:15 UTC, invoking the scheduled-sync function.
pub fn check_schedule(t: &Template) -> Vec<String> {
    let schedules = t.schedules();
    let mut problems = Vec::new();
    if schedules.len() != 1 {
        problems.push(format!(
            "expected exactly one schedule, found {}: {schedules:?}",
            schedules.len()
        ));
    }
    let scheduled_fn = t
        .functions()
        .into_iter()
        .find(|f| f.binary.as_deref() == Some("scheduled-sync"))
        .map(|f| f.id);
    for (owner, expr) in &schedules {
        if expr != SCHEDULE {
            problems.push(format!("{owner}: schedule {expr:?} is not {SCHEDULE:?}"));
        }
        if Some(owner) != scheduled_fn.as_ref() {
            problems.push(format!(
                "{owner} carries a schedule; only the scheduled-sync function should"
            ));
        }
    }
    problems
}

/// Secrets Manager access: tenant tokens only under `SECRET_PREFIX`, the page-token key read-only, nothing else,
/// and never a wildcard action.
pub fn check_secrets(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(prefix_arn) = t.secret_prefix_arn() else {
        return vec![
            "Globals.Function.Environment.Variables.SECRET_PREFIX is missing or not a !Sub".into(),
        ];
    };
    if !prefix_arn.contains("${AWS::StackName}/*") {
        problems.push(format!(
            "the token prefix {prefix_arn} is not scoped to the stack (…/${{AWS::StackName}}/)"
        ));
    }
    let page_token = "!Ref PageTokenSecret";
    // Only the function serving list views reads the page-token key, and only it is told where the key is.
    let reader_role = t
        .functions()
        .into_iter()
        .find(|f| f.binary.as_deref() == Some(PAGE_TOKEN_READER))
        .and_then(|f| t.role_of(&f));
    for f in t.functions() {
        let told = t.environment(&f).contains_key("PAGE_TOKEN_SECRET_ARN");
        let reader = f.binary.as_deref() == Some(PAGE_TOKEN_READER);
        if told && !reader {
            problems.push(format!(
                "{}: PAGE_TOKEN_SECRET_ARN is set, but only {PAGE_TOKEN_READER} serves page tokens",
                f.id
            ));
        }
        if reader && !told {
            problems.push(format!(
                "{}: PAGE_TOKEN_SECRET_ARN is not set, but it serves the paged views",
                f.id
            ));
        }
    }
    for s in t.statements() {
        let secret_actions: Vec<&String> = s
            .actions
            .iter()
            .filter(|a| a.to_ascii_lowercase().starts_with("secretsmanager:") || a.as_str() == "*")
            .collect();
        if secret_actions.is_empty() {
            continue;
        }
        let who = format!("{}/{}", s.owner, s.sid);
        for a in &secret_actions {
            if a.contains('*') {
                problems.push(format!("{who}: wildcard action {a}"));
            }
        }
        for r in &s.resources {
            if *r == prefix_arn {
                continue;
            }
            if r == page_token {
                if reader_role.as_deref() != Some(s.owner.as_str()) {
                    problems.push(format!(
                        "{who}: only the role of {PAGE_TOKEN_READER} may read the page-token key"
                    ));
                }
                if secret_actions
                    .iter()
                    .any(|a| a.as_str() != "secretsmanager:GetSecretValue")
                {
                    problems.push(format!(
                        "{who}: the page-token key may only be read, not {secret_actions:?}"
                    ));
                }
                continue;
            }
            problems.push(format!(
                "{who}: grants {secret_actions:?} on {r}, outside the connector's prefix {prefix_arn}"
            ));
        }
    }
    problems
}

/// `Resource: "*"` only for the allow-listed actions.
pub fn check_star_resources(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    for s in t.statements() {
        let star = s.resources.iter().any(|r| r == "*");
        if !star {
            continue;
        }
        for a in &s.actions {
            if !STAR_RESOURCE_ALLOWED
                .iter()
                .any(|(allowed, _)| allowed == a)
            {
                problems.push(format!(
                    "{}/{}: {a} on Resource \"*\" without an allow-listed reason",
                    s.owner, s.sid
                ));
            }
        }
    }
    for s in t.statements() {
        if s.effect != "Allow" {
            continue;
        }
        for a in &s.actions {
            if a == "*" || a.ends_with(":*") {
                problems.push(format!("{}/{}: wildcard action {a}", s.owner, s.sid));
            }
        }
    }
    problems
}

/// Each function has its own written-out role (no SAM-generated role, no managed policies with `*` resources), and
/// its log statement names its own log group.
pub fn check_roles(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let mut used = BTreeMap::<String, String>::new();
    let statements = t.statements();
    for f in t.functions() {
        if f.props.get("Policies").is_some() {
            problems.push(format!(
                "{}: SAM Policies make SAM generate a role with managed policies; use an explicit Role",
                f.id
            ));
        }
        let Some(role) = t.role_of(&f) else {
            problems.push(format!("{}: no explicit Role", f.id));
            continue;
        };
        if let Some(other) = used.insert(role.clone(), f.id.clone()) {
            problems.push(format!("{role} is shared by {other} and {}", f.id));
        }
        match t.resource(&role) {
            Some(r) if r.get("Type").and_then(Value::as_str) == Some("AWS::IAM::Role") => {
                if r.get("Properties")
                    .and_then(|p| p.get("ManagedPolicyArns"))
                    .is_some()
                {
                    problems.push(format!("{role}: managed policies are not least-privilege"));
                }
            }
            _ => problems.push(format!(
                "{}: role {role} is not an AWS::IAM::Role here",
                f.id
            )),
        }
        let log_group = f
            .props
            .get("LoggingConfig")
            .and_then(|l| l.get("LogGroup"))
            .and_then(referenced_id);
        let Some(log_group) = log_group else {
            problems.push(format!("{}: no LoggingConfig.LogGroup of its own", f.id));
            continue;
        };
        let own_logs = format!("!GetAtt {log_group}.Arn");
        for s in statements.iter().filter(|s| s.owner == role) {
            if s.actions.iter().any(|a| a.starts_with("logs:"))
                && s.resources.iter().any(|r| *r != own_logs)
            {
                problems.push(format!(
                    "{role}/{}: log permissions beyond {log_group}: {:?}",
                    s.sid, s.resources
                ));
            }
        }
    }
    problems
}

/// The function built from `binary` may only read.
pub fn check_read_only(t: &Template, binary: &str) -> Vec<String> {
    let Some(f) = t
        .functions()
        .into_iter()
        .find(|f| f.binary.as_deref() == Some(binary))
    else {
        return vec![format!("no function is built from {binary}")];
    };
    let Some(role) = t.role_of(&f) else {
        return vec![format!("{}: no explicit Role", f.id)];
    };
    let mut allowed: BTreeSet<&str> = READ_ONLY_ACTIONS.into_iter().collect();
    allowed.insert("xray:PutTelemetryRecords");
    let mut problems = Vec::new();
    // The request bucket is the edge's bookkeeping, not the function's data: its statement is checked on its own
    // (check_request_limit) and only reaches RATE# items.
    for s in t
        .statements()
        .into_iter()
        .filter(|s| s.owner == role && !s.limited_to_leading_keys(RATE_KEYS))
    {
        for a in &s.actions {
            if !allowed.contains(a.as_str()) {
                problems.push(format!("{role}/{}: {a} is not a read", s.sid));
            }
        }
    }
    problems
}

/// DynamoDB statements name the table or one of its existing indexes (never another table, never `index/*`), and
/// an index ARN only carries Query.
pub fn check_dynamodb_resources(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let Some((table_id, table)) = t.of_type("AWS::DynamoDB::Table").into_iter().next() else {
        return vec!["no DynamoDB table".into()];
    };
    let indexes: BTreeSet<String> = as_list(
        table
            .get("Properties")
            .and_then(|p| p.get("GlobalSecondaryIndexes")),
    )
    .into_iter()
    .filter_map(|i| i.get("IndexName").map(render))
    .collect();
    let table_arn = format!("!GetAtt {table_id}.Arn");
    for s in t.statements() {
        if !s.actions.iter().any(|a| a.starts_with("dynamodb:")) {
            continue;
        }
        for r in &s.resources {
            if *r == table_arn {
                continue;
            }
            let index = r
                .strip_prefix(&format!("!Sub ${{{table_id}.Arn}}/index/"))
                .filter(|i| indexes.contains(*i));
            match index {
                Some(_) if s.actions.iter().all(|a| a == "dynamodb:Query") => {}
                Some(i) => problems.push(format!(
                    "{}/{}: index {i} only needs dynamodb:Query, got {:?}",
                    s.owner, s.sid, s.actions
                )),
                None => problems.push(format!(
                    "{}/{}: DynamoDB access on {r}, which is neither the table nor one of its indexes",
                    s.owner, s.sid
                )),
            }
        }
    }
    problems
}

/// The worker's timeout, the engine's safety margin and the queue agree: margin < timeout, visibility ≥ 6 ×
/// timeout, a dead-letter queue, and SYNC_MAX_RECEIVES = maxReceiveCount.
pub fn check_queue_timing(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let mut workers = Vec::new();
    // A function draining a dead-letter queue (the sync queue's DLQ handler) is not the worker.
    let dead_letter_queues: BTreeSet<String> = t
        .of_type("AWS::SQS::Queue")
        .into_iter()
        .filter_map(|(_, q)| {
            q.get("Properties")
                .and_then(|p| p.get("RedrivePolicy"))
                .and_then(|r| r.get("deadLetterTargetArn"))
                .and_then(referenced_id)
        })
        .collect();
    for f in t.functions() {
        for e in f
            .props
            .get("Events")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.values())
        {
            if e.get("Type").and_then(Value::as_str) == Some("SQS") {
                let queue = e
                    .get("Properties")
                    .and_then(|p| p.get("Queue"))
                    .and_then(referenced_id);
                if queue
                    .as_ref()
                    .is_some_and(|q| dead_letter_queues.contains(q))
                {
                    continue;
                }
                workers.push((f.clone(), queue));
            }
        }
    }
    if workers.len() != 1 {
        return vec![format!(
            "expected exactly one SQS-triggered function (the worker), found {}",
            workers.len()
        )];
    }
    let (worker, queue) = workers.remove(0);
    let Some(timeout) = number(t.property(&worker, "Timeout")) else {
        return vec![format!("{}: no numeric Timeout", worker.id)];
    };
    let env = t.environment(&worker);
    match env
        .get("SYNC_SAFETY_MARGIN_SECS")
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(margin) if margin > 0 && margin < timeout => {}
        Some(margin) => problems.push(format!(
            "{}: SYNC_SAFETY_MARGIN_SECS={margin} must be above 0 and below the {timeout} s timeout",
            worker.id
        )),
        None => problems.push(format!("{}: SYNC_SAFETY_MARGIN_SECS is not set", worker.id)),
    }
    let Some(queue_id) = queue else {
        problems.push(format!(
            "{}: the SQS event names no queue of this stack",
            worker.id
        ));
        return problems;
    };
    let props = t.resource(&queue_id).and_then(|q| q.get("Properties"));
    // SQS's default visibility timeout is 30 s.
    let visibility = number(props.and_then(|p| p.get("VisibilityTimeout"))).unwrap_or(30);
    if visibility < 6 * timeout {
        problems.push(format!(
            "{queue_id}: VisibilityTimeout {visibility} s is below 6 x the worker's {timeout} s timeout"
        ));
    }
    let redrive = props.and_then(|p| p.get("RedrivePolicy"));
    let dlq = redrive
        .and_then(|r| r.get("deadLetterTargetArn"))
        .and_then(referenced_id);
    if dlq.as_deref().and_then(|d| t.resource(d)).is_none() {
        problems.push(format!(
            "{queue_id}: no dead-letter queue of this stack in RedrivePolicy"
        ));
    }
    let max_receives = number(redrive.and_then(|r| r.get("maxReceiveCount")));
    let env_receives = env
        .get("SYNC_MAX_RECEIVES")
        .and_then(|v| v.parse::<u64>().ok());
    if max_receives.is_none() || max_receives != env_receives {
        problems.push(format!(
            "{queue_id}: maxReceiveCount {max_receives:?} differs from the worker's SYNC_MAX_RECEIVES {env_receives:?}"
        ));
    }
    problems
}

/// The loopback switch appears nowhere in the template, not even in a comment.
pub fn check_no_loopback_switch(t: &Template) -> Vec<String> {
    t.text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(LOOPBACK_SWITCH))
        .map(|(n, _)| {
            format!(
                "line {}: {LOOPBACK_SWITCH} must not appear in the template",
                n + 1
            )
        })
        .collect()
}

/// The one function that serves paged list views, so the one that reads the page-token key.
pub const PAGE_TOKEN_READER: &str = "read-api";

/// The partition keys of the per-tenant request buckets.
pub const RATE_KEYS: &str = "RATE#*";
/// What the edge's request limit needs on the table.
pub const REQUEST_LIMIT_ACTIONS: [&str; 2] = ["dynamodb:UpdateItem", "dynamodb:GetItem"];

/// Every function behind the JWT authorizer applies the per-tenant request limit, so its role may update and read
/// the tenant's bucket; and every statement that grants exactly that is limited to the RATE# keys.
pub fn check_request_limit(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let statements = t.statements();
    let public: BTreeSet<String> = public_routes(t).into_iter().map(|r| r.function).collect();
    let behind_authorizer: BTreeSet<String> = t
        .routes()
        .into_iter()
        .map(|r| r.function)
        .filter(|f| !public.contains(f))
        .collect();
    for f in t
        .functions()
        .into_iter()
        .filter(|f| behind_authorizer.contains(&f.id))
    {
        let Some(role) = t.role_of(&f) else {
            problems.push(format!("{}: no explicit Role", f.id));
            continue;
        };
        let has = statements.iter().any(|s| {
            s.owner == role
                && s.effect == "Allow"
                && REQUEST_LIMIT_ACTIONS
                    .iter()
                    .all(|a| s.actions.iter().any(|x| x == a))
                && s.limited_to_leading_keys(RATE_KEYS)
        });
        if !has {
            problems.push(format!(
                "{}: its role {role} has no request-limit statement ({REQUEST_LIMIT_ACTIONS:?} on the table, limited to {RATE_KEYS})",
                f.id
            ));
        }
    }
    for s in &statements {
        if s.sid == "RequestLimit" && !s.limited_to_leading_keys(RATE_KEYS) {
            problems.push(format!(
                "{}/{}: the request-limit statement is not limited to the {RATE_KEYS} keys",
                s.owner, s.sid
            ));
        }
    }
    problems
}

/// KMS actions that use the key on data (as opposed to managing it).
fn uses_key_data(action: &str) -> bool {
    let a = action.to_ascii_lowercase();
    a == "*"
        || a == "kms:*"
        || [
            "kms:decrypt",
            "kms:encrypt",
            "kms:generatedatakey",
            "kms:reencrypt",
        ]
        .iter()
        .any(|p| a.starts_with(p))
}

/// The tenants' tokens are encrypted with the stack's own KMS key: rotated, its data actions granted only to the
/// roles that read (Decrypt) or write (GenerateDataKey) tenant secrets and only through Secrets Manager, nobody
/// else (the account root manages the key but cannot decrypt with it), and every function that writes tenant
/// secrets is told the key (`TOKEN_KMS_KEY_ID`).
pub fn check_token_key(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let keys = t.of_type("AWS::KMS::Key");
    let [(key_id, key)] = keys.as_slice() else {
        return vec![format!(
            "expected one AWS::KMS::Key for the tenant tokens, found {}",
            keys.len()
        )];
    };
    let props = key.get("Properties");
    if props.and_then(|p| p.get("EnableKeyRotation")).map(render) != Some("true".into()) {
        problems.push(format!("{key_id}: EnableKeyRotation is not true"));
    }
    let Some(prefix_arn) = t.secret_prefix_arn() else {
        return vec!["SECRET_PREFIX is missing".into()];
    };
    let roles_with = |actions: &[&str]| -> BTreeSet<String> {
        t.statements()
            .into_iter()
            .filter(|s| s.effect == "Allow" && s.resources.contains(&prefix_arn))
            .filter(|s| s.actions.iter().any(|a| actions.contains(&a.as_str())))
            .map(|s| s.owner)
            .collect()
    };
    let readers = roles_with(&["secretsmanager:GetSecretValue"]);
    let writers = roles_with(&[
        "secretsmanager:CreateSecret",
        "secretsmanager:UpdateSecret",
        "secretsmanager:PutSecretValue",
    ]);
    let mut decrypters = BTreeSet::new();
    let mut encrypters = BTreeSet::new();
    let statements = as_list(
        props
            .and_then(|p| p.get("KeyPolicy"))
            .and_then(|k| k.get("Statement")),
    );
    for s in statements {
        if s.get("Effect").map(render).as_deref() != Some("Allow") {
            continue;
        }
        let sid = s.get("Sid").map(render).unwrap_or_default();
        let actions: Vec<String> = as_list(s.get("Action")).into_iter().map(render).collect();
        if !actions.iter().any(|a| uses_key_data(a)) {
            continue;
        }
        let principal = s.get("Principal");
        let principals: Vec<&Value> = match principal.and_then(|p| p.get("AWS")) {
            Some(aws) => as_list(Some(aws)),
            None => {
                problems.push(format!(
                    "{key_id}/{sid}: key data actions {actions:?} for a principal that is not a role of this stack: {}",
                    principal.map(render).unwrap_or_default()
                ));
                continue;
            }
        };
        let via_secrets_manager = s
            .get("Condition")
            .and_then(|c| c.get("StringEquals"))
            .and_then(|c| c.get("kms:ViaService"))
            .map(render)
            .is_some_and(|v| v.contains("secretsmanager."));
        if !via_secrets_manager {
            problems.push(format!(
                "{key_id}/{sid}: key data actions without the kms:ViaService condition for Secrets Manager"
            ));
        }
        for p in principals {
            let Some(role) = referenced_id(p).filter(|r| {
                t.resource(r)
                    .and_then(|x| x.get("Type"))
                    .and_then(Value::as_str)
                    == Some("AWS::IAM::Role")
            }) else {
                problems.push(format!(
                    "{key_id}/{sid}: key data actions {actions:?} for {}, which is not a role of this stack",
                    render(p)
                ));
                continue;
            };
            for a in &actions {
                let a = a.to_ascii_lowercase();
                if a.starts_with("kms:decrypt") {
                    decrypters.insert(role.clone());
                } else if a.starts_with("kms:generatedatakey") {
                    encrypters.insert(role.clone());
                } else {
                    problems.push(format!(
                        "{key_id}/{sid}: {role} gets {a}, more than Decrypt or GenerateDataKey"
                    ));
                }
            }
        }
    }
    for extra in decrypters.difference(&readers) {
        problems.push(format!(
            "{key_id}: {extra} may decrypt tokens but reads no tenant secret"
        ));
    }
    for missing in readers.difference(&decrypters) {
        problems.push(format!(
            "{key_id}: {missing} reads tenant secrets but may not decrypt them"
        ));
    }
    for extra in encrypters.difference(&writers) {
        problems.push(format!(
            "{key_id}: {extra} may encrypt tokens but writes no tenant secret"
        ));
    }
    for missing in writers.difference(&encrypters) {
        problems.push(format!(
            "{key_id}: {missing} writes tenant secrets but may not encrypt them"
        ));
    }
    let key_refs = [format!("!GetAtt {key_id}.Arn"), format!("!Ref {key_id}")];
    for f in t.functions() {
        let Some(role) = t.role_of(&f) else { continue };
        if !writers.contains(&role) {
            continue;
        }
        let env = t.environment(&f);
        if !env
            .get("TOKEN_KMS_KEY_ID")
            .is_some_and(|v| key_refs.contains(v))
        {
            problems.push(format!(
                "{}: writes tenant secrets but TOKEN_KMS_KEY_ID does not name {key_id}",
                f.id
            ));
        }
    }
    problems
}

/// The indexes the store reads (named and keyed in `shared/store/src/keys.rs`): name, partition key, sort key,
/// projection. The views read whole items from the first four and only keys from the counting and due indexes.
pub const STORE_INDEXES: [(&str, &str, &str, &str); 5] = [
    ("gsi1", "gsi1pk", "gsi1sk", "ALL"),
    ("facets", "pk", "facet_sk", "ALL"),
    ("asset_facets", "gsi1pk", "facet_sk", "ALL"),
    ("open_vulnerabilities", "vopen_pk", "vopen_sk", "KEYS_ONLY"),
    ("due", "due_pk", "due_sk", "KEYS_ONLY"),
];

/// Every index the store reads exists on the table with the keys and projection the store expects, each key
/// attribute is defined as a string, and the read function (the one serving the views) may Query every index the
/// views read.
pub fn check_store_indexes(t: &Template) -> Vec<String> {
    let Some((_, table)) = t.of_type("AWS::DynamoDB::Table").into_iter().next() else {
        return vec!["no DynamoDB table".into()];
    };
    let props = table.get("Properties");
    let defined: BTreeMap<String, String> =
        as_list(props.and_then(|p| p.get("AttributeDefinitions")))
            .into_iter()
            .filter_map(|d| {
                Some((
                    d.get("AttributeName").map(render)?,
                    d.get("AttributeType").map(render)?,
                ))
            })
            .collect();
    let indexes = as_list(props.and_then(|p| p.get("GlobalSecondaryIndexes")));
    let mut problems = Vec::new();
    for (name, hash, range, projection) in STORE_INDEXES {
        let Some(index) = indexes
            .iter()
            .find(|i| i.get("IndexName").map(render).as_deref() == Some(name))
        else {
            problems.push(format!("index {name} is missing from the table"));
            continue;
        };
        let key_of = |kind: &str| {
            as_list(index.get("KeySchema"))
                .into_iter()
                .find(|k| k.get("KeyType").map(render).as_deref() == Some(kind))
                .and_then(|k| k.get("AttributeName").map(render))
        };
        if key_of("HASH").as_deref() != Some(hash) || key_of("RANGE").as_deref() != Some(range) {
            problems.push(format!(
                "index {name} must be keyed ({hash} HASH, {range} RANGE), got ({:?}, {:?})",
                key_of("HASH"),
                key_of("RANGE")
            ));
        }
        let got = index
            .get("Projection")
            .and_then(|p| p.get("ProjectionType"))
            .map(render);
        if got.as_deref() != Some(projection) {
            problems.push(format!(
                "index {name} must project {projection}, got {got:?}"
            ));
        }
        for attr in [hash, range] {
            if defined.get(attr).map(String::as_str) != Some("S") {
                problems.push(format!(
                    "index {name}: attribute {attr} is not defined as a string (S)"
                ));
            }
        }
    }
    let read_role = t
        .functions()
        .into_iter()
        .find(|f| f.binary.as_deref() == Some("read-api"))
        .and_then(|f| t.role_of(&f));
    let Some(role) = read_role else {
        problems.push("no read-api function with a role".into());
        return problems;
    };
    let queried: BTreeSet<String> = t
        .statements()
        .into_iter()
        .filter(|s| s.owner == role && s.actions.iter().any(|a| a == "dynamodb:Query"))
        .flat_map(|s| s.resources)
        .filter_map(|r| {
            r.rsplit_once("/index/")
                .map(|(_, i)| i.trim_end_matches('"').to_string())
        })
        .collect();
    for (name, ..) in STORE_INDEXES.iter().filter(|(n, ..)| *n != "due") {
        if !queried.contains(*name) {
            problems.push(format!(
                "{role} cannot Query index {name}, which the views read"
            ));
        }
    }
    problems
}
