//! Query-string parsing and validation, filters, sorting and cursor pagination for the list
//! endpoints, with the console's parameter names and formats.
//!
//! Unknown parameters are refused with 400 Validation Error naming the parameter. This is our
//! decision, unverified against a real console: the console validates requests against its swagger
//! schema, and a simulator that silently ignored a misspelt filter would let a client believe it
//! filtered when it did not. Real parameters the simulator does not implement are refused the same
//! way, for the same reason.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::records::{AgentRow, GroupRow, Record, ThreatRow};
use crate::risks::RiskRow;
use crate::util::{cmp_ids, fnv1a, parse_timestamp, Micros};

/// An answer in the console's `errors[]` envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: u32,
    pub title: &'static str,
    pub detail: Option<String>,
}

impl ApiError {
    pub(crate) fn validation(detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: 4_000_010,
            title: "Validation Error",
            detail: Some(detail.into()),
        }
    }

    pub(crate) fn body(&self) -> String {
        json!({"errors": [{"code": self.code, "detail": self.detail, "title": self.title}]})
            .to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    Agents,
    AgentsCount,
    Threats,
    Groups,
    Risks,
}

const PAGING_NAMES: &[&str] = &[
    "limit",
    "skip",
    "cursor",
    "countOnly",
    "skipCount",
    "sortBy",
    "sortOrder",
];
const TIME_NAMES: &[&str] = &[
    "updatedAt__gt",
    "updatedAt__gte",
    "updatedAt__lt",
    "updatedAt__lte",
    "createdAt__gt",
    "createdAt__gte",
    "createdAt__lt",
    "createdAt__lte",
];
const AGENT_FILTER_NAMES: &[&str] = &[
    "ids",
    "siteIds",
    "groupIds",
    "accountIds",
    "isDecommissioned",
    "computerName",
];
const THREAT_FILTER_NAMES: &[&str] = &[
    "ids",
    "siteIds",
    "groupIds",
    "agentIds",
    "accountIds",
    "analystVerdicts",
    "incidentStatuses",
    "confidenceLevels",
    "mitigationStatuses",
];
const GROUP_FILTER_NAMES: &[&str] = &[
    "name",
    "siteIds",
    "groupIds",
    "ids",
    "type",
    "isDefault",
    "query",
    "updatedAt__gt",
    "updatedAt__gte",
    "updatedAt__lt",
    "updatedAt__lte",
];

/// `application-management/risks`: the scope ids take a single id each (the reference says "Single ... ID").
const RISK_FILTER_NAMES: &[&str] = &[
    "accountIds",
    "siteIds",
    "groupIds",
    "severities",
    "includeRemovals",
    "riskUpdatedDate__gt",
    "riskUpdatedDate__gte",
    "riskUpdatedDate__lt",
    "riskUpdatedDate__lte",
];
const RISK_SEVERITIES: &[&str] = &["CRITICAL", "HIGH", "MEDIUM", "LOW"];

const ANALYST_VERDICTS: &[&str] = &["undefined", "true_positive", "false_positive", "suspicious"];
const INCIDENT_STATUSES: &[&str] = &["unresolved", "in_progress", "resolved"];
const CONFIDENCE_LEVELS: &[&str] = &["malicious", "suspicious", "n/a"];
const MITIGATION_STATUSES: &[&str] = &["not_mitigated", "mitigated", "marked_as_benign"];
const GROUP_TYPES: &[&str] = &["static", "dynamic", "pinned"];

/// Most a page can hold and most `skip` can reach, per the console's documentation.
pub(crate) const MAX_SKIP: usize = 1000;

impl Resource {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Agents => "agents",
            Self::AgentsCount => "agents/count",
            Self::Threats => "threats",
            Self::Groups => "groups",
            Self::Risks => "application-management/risks",
        }
    }

    fn allows(self, name: &str) -> bool {
        let paging = PAGING_NAMES.contains(&name);
        match self {
            Self::Agents => {
                paging || AGENT_FILTER_NAMES.contains(&name) || TIME_NAMES.contains(&name)
            }
            Self::AgentsCount => AGENT_FILTER_NAMES.contains(&name) || TIME_NAMES.contains(&name),
            Self::Threats => {
                paging || THREAT_FILTER_NAMES.contains(&name) || TIME_NAMES.contains(&name)
            }
            Self::Groups => paging || GROUP_FILTER_NAMES.contains(&name),
            Self::Risks => paging || RISK_FILTER_NAMES.contains(&name),
        }
    }

    fn sort_fields(self) -> &'static [&'static str] {
        match self {
            Self::Agents | Self::AgentsCount => &["id", "updatedAt", "createdAt", "computerName"],
            Self::Threats => &["id", "updatedAt", "createdAt"],
            Self::Groups => &["id", "updatedAt", "createdAt", "name"],
            // Our decision: of the many sort fields the reference lists, only the id is implemented.
            Self::Risks => &["id"],
        }
    }
}

/// The decoded query string, after the unknown/duplicate/empty checks.
#[derive(Debug, Default)]
pub(crate) struct Params {
    map: HashMap<String, String>,
}

impl Params {
    /// Parses a raw query string (percent-decoding, `+` as space) and refuses unknown or repeated
    /// parameters and empty values.
    pub(crate) fn parse(raw: Option<&str>, resource: Resource) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !resource.allows(&k) {
                return Err(ApiError::validation(format!(
                    "{k}: unknown query parameter"
                )));
            }
            if v.trim().is_empty() {
                return Err(ApiError::validation(format!("{k}: must not be empty")));
            }
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(ApiError::validation(format!("{k}: given more than once")));
            }
        }
        Ok(Self { map })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// The filter set a cursor is bound to: every parameter except the paging ones, plus the sort.
    fn fingerprint(&self, resource: Resource, sort: SortField, desc: bool) -> String {
        let mut keys: Vec<(&String, &String)> = self
            .map
            .iter()
            .filter(|(k, _)| !PAGING_NAMES.contains(&k.as_str()))
            .collect();
        keys.sort();
        let mut s = format!("{}|{}|{desc}", resource.name(), sort.name());
        for (k, v) in keys {
            s.push('|');
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        format!("{:016x}", fnv1a(s.as_bytes()))
    }

    fn id_set(&self, name: &str) -> Result<Option<HashSet<String>>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let mut set = HashSet::new();
        for part in raw.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::validation(format!(
                    "{name}: {part:?} is not a valid id"
                )));
            }
            set.insert(part.to_owned());
        }
        Ok(Some(set))
    }

    fn enum_set(&self, name: &str, allowed: &[&str]) -> Result<Option<HashSet<String>>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let mut set = HashSet::new();
        for part in raw.split(',') {
            let part = part.trim();
            if !allowed.contains(&part) {
                return Err(ApiError::validation(format!(
                    "{name}: {part:?} is not one of {}",
                    allowed.join(", ")
                )));
            }
            set.insert(part.to_owned());
        }
        Ok(Some(set))
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::validation(format!(
                "{name}: {v:?} is not a boolean"
            ))),
        }
    }

    fn number(
        &self,
        name: &str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::validation(format!(
                "{name}: must be an integer between {min} and {max}, got {raw:?}"
            ))),
        }
    }

    fn time_range(&self, field: &str) -> Result<TimeRange, ApiError> {
        let one = |op: &str| -> Result<Option<Micros>, ApiError> {
            let name = format!("{field}__{op}");
            match self.get(&name) {
                None => Ok(None),
                Some(raw) => parse_timestamp(raw).map(Some).ok_or_else(|| {
                    ApiError::validation(format!(
                        "{name}: {raw:?} is not an ISO-8601 timestamp such as 2018-02-27T04:49:26.257525Z"
                    ))
                }),
            }
        };
        Ok(TimeRange {
            gt: one("gt")?,
            gte: one("gte")?,
            lt: one("lt")?,
            lte: one("lte")?,
        })
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct TimeRange {
    gt: Option<Micros>,
    gte: Option<Micros>,
    lt: Option<Micros>,
    lte: Option<Micros>,
}

impl TimeRange {
    fn contains(&self, t: Micros) -> bool {
        self.gt.is_none_or(|x| t > x)
            && self.gte.is_none_or(|x| t >= x)
            && self.lt.is_none_or(|x| t < x)
            && self.lte.is_none_or(|x| t <= x)
    }
}

fn in_set(set: &Option<HashSet<String>>, value: &str) -> bool {
    set.as_ref().is_none_or(|s| s.contains(value))
}

/// Filters for `GET agents` and `GET agents/count`.
#[derive(Debug)]
pub(crate) struct AgentFilter {
    ids: Option<HashSet<String>>,
    site_ids: Option<HashSet<String>>,
    group_ids: Option<HashSet<String>>,
    account_ids: Option<HashSet<String>>,
    decommissioned: Option<(bool, bool)>,
    computer_name: Option<String>,
    updated: TimeRange,
    created: TimeRange,
}

impl AgentFilter {
    pub(crate) fn parse(p: &Params) -> Result<Self, ApiError> {
        // `isDecommissioned` is a string tri-state in the swagger: "true", "false" or both ("True,False").
        let decommissioned = match p.get("isDecommissioned") {
            None => None,
            Some(raw) => {
                let (mut yes, mut no) = (false, false);
                for part in raw.split(',') {
                    match part.trim().to_ascii_lowercase().as_str() {
                        "true" => yes = true,
                        "false" => no = true,
                        _ => {
                            return Err(ApiError::validation(format!(
                                "isDecommissioned: {part:?} is not true or false"
                            )))
                        }
                    }
                }
                Some((yes, no))
            }
        };
        Ok(Self {
            ids: p.id_set("ids")?,
            site_ids: p.id_set("siteIds")?,
            group_ids: p.id_set("groupIds")?,
            account_ids: p.id_set("accountIds")?,
            decommissioned,
            computer_name: p.get("computerName").map(str::to_lowercase),
            updated: p.time_range("updatedAt")?,
            created: p.time_range("createdAt")?,
        })
    }

    pub(crate) fn matches(&self, a: &AgentRow) -> bool {
        in_set(&self.ids, &a.id)
            && in_set(&self.site_ids, &a.site_id)
            && in_set(&self.group_ids, &a.group_id)
            && in_set(&self.account_ids, &a.account_id)
            && self
                .decommissioned
                .is_none_or(|(yes, no)| if a.decommissioned { yes } else { no })
            // Our decision (unverified): exact host-name match, case-insensitive like DNS names.
            && self
                .computer_name
                .as_ref()
                .is_none_or(|n| a.computer_name.to_lowercase() == *n)
            && self.updated.contains(a.updated_us)
            && self.created.contains(a.created_us)
    }
}

/// Filters for `GET threats`.
#[derive(Debug)]
pub(crate) struct ThreatFilter {
    ids: Option<HashSet<String>>,
    site_ids: Option<HashSet<String>>,
    group_ids: Option<HashSet<String>>,
    agent_ids: Option<HashSet<String>>,
    account_ids: Option<HashSet<String>>,
    verdicts: Option<HashSet<String>>,
    incident: Option<HashSet<String>>,
    confidence: Option<HashSet<String>>,
    mitigation: Option<HashSet<String>>,
    updated: TimeRange,
    created: TimeRange,
}

impl ThreatFilter {
    pub(crate) fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            ids: p.id_set("ids")?,
            site_ids: p.id_set("siteIds")?,
            group_ids: p.id_set("groupIds")?,
            agent_ids: p.id_set("agentIds")?,
            account_ids: p.id_set("accountIds")?,
            verdicts: p.enum_set("analystVerdicts", ANALYST_VERDICTS)?,
            incident: p.enum_set("incidentStatuses", INCIDENT_STATUSES)?,
            confidence: p.enum_set("confidenceLevels", CONFIDENCE_LEVELS)?,
            mitigation: p.enum_set("mitigationStatuses", MITIGATION_STATUSES)?,
            updated: p.time_range("updatedAt")?,
            created: p.time_range("createdAt")?,
        })
    }

    pub(crate) fn matches(&self, t: &ThreatRow) -> bool {
        in_set(&self.ids, &t.id)
            && in_set(&self.site_ids, &t.site_id)
            && in_set(&self.group_ids, &t.group_id)
            && in_set(&self.agent_ids, &t.agent_id)
            && in_set(&self.account_ids, &t.account_id)
            && in_set(&self.verdicts, &t.analyst_verdict)
            && in_set(&self.incident, &t.incident_status)
            && in_set(&self.confidence, &t.confidence_level)
            && in_set(&self.mitigation, &t.mitigation_status)
            && self.updated.contains(t.updated_us)
            && self.created.contains(t.created_us)
    }
}

/// Filters for `GET groups`.
#[derive(Debug)]
pub(crate) struct GroupFilter {
    ids: Option<HashSet<String>>,
    group_ids: Option<HashSet<String>>,
    site_ids: Option<HashSet<String>>,
    name: Option<String>,
    kinds: Option<HashSet<String>>,
    is_default: Option<bool>,
    query: Option<String>,
    updated: TimeRange,
}

impl GroupFilter {
    pub(crate) fn parse(p: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            ids: p.id_set("ids")?,
            group_ids: p.id_set("groupIds")?,
            site_ids: p.id_set("siteIds")?,
            name: p.get("name").map(str::to_lowercase),
            kinds: p.enum_set("type", GROUP_TYPES)?,
            is_default: p.boolean("isDefault")?,
            query: p.get("query").map(str::to_lowercase),
            updated: p.time_range("updatedAt")?,
        })
    }

    pub(crate) fn matches(&self, g: &GroupRow) -> bool {
        in_set(&self.ids, &g.id)
            && in_set(&self.group_ids, &g.id)
            && in_set(&self.site_ids, &g.site_id)
            // Our decision (unverified, API.md §9): `name` is exact and case-insensitive.
            && self.name.as_ref().is_none_or(|n| g.name.to_lowercase() == *n)
            && in_set(&self.kinds, &g.kind)
            && self.is_default.is_none_or(|d| g.is_default == d)
            && self.query.as_ref().is_none_or(|q| g.name.to_lowercase().contains(q.as_str()))
            && self.updated.contains(g.updated_us)
    }
}

/// Filters for `GET application-management/risks`.
#[derive(Debug)]
pub(crate) struct RiskFilter {
    account_ids: Option<HashSet<String>>,
    site_ids: Option<HashSet<String>>,
    group_ids: Option<HashSet<String>>,
    severities: Option<HashSet<String>>,
    include_removals: bool,
    updated: TimeRange,
}

impl RiskFilter {
    pub(crate) fn parse(p: &Params) -> Result<Self, ApiError> {
        let single = |name: &str| -> Result<Option<HashSet<String>>, ApiError> {
            let set = p.id_set(name)?;
            if set.as_ref().is_some_and(|s| s.len() > 1) {
                // Our decision, from the reference's wording: one id per call on this endpoint.
                return Err(ApiError::validation(format!(
                    "{name}: takes a single id on this endpoint"
                )));
            }
            Ok(set)
        };
        Ok(Self {
            account_ids: single("accountIds")?,
            site_ids: single("siteIds")?,
            group_ids: single("groupIds")?,
            severities: p.enum_set("severities", RISK_SEVERITIES)?,
            include_removals: p.boolean("includeRemovals")?.unwrap_or(false),
            updated: p.time_range("riskUpdatedDate")?,
        })
    }

    pub(crate) fn matches(&self, r: &RiskRow) -> bool {
        (self.include_removals || !r.removed)
            && in_set(&self.account_ids, &r.account_id)
            && in_set(&self.site_ids, &r.site_id)
            && in_set(&self.group_ids, &r.group_id)
            && in_set(&self.severities, &r.severity)
            && self.updated.contains(r.risk_updated_us)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortField {
    Id,
    UpdatedAt,
    CreatedAt,
    /// `computerName` on agents, `name` on groups.
    Name,
}

impl SortField {
    fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::UpdatedAt => "updatedAt",
            Self::CreatedAt => "createdAt",
            Self::Name => "name",
        }
    }
}

/// What the sorting and paging needs from a record beyond [`Record`].
pub(crate) trait Named {
    fn sort_name(&self) -> &str;
}

impl Named for AgentRow {
    fn sort_name(&self) -> &str {
        &self.computer_name
    }
}

impl Named for GroupRow {
    fn sort_name(&self) -> &str {
        &self.name
    }
}

impl Named for RiskRow {
    fn sort_name(&self) -> &str {
        &self.id
    }
}

impl Named for ThreatRow {
    fn sort_name(&self) -> &str {
        &self.id
    }
}

/// A position in a sorted listing: the sort key and id of the last record served.
#[derive(Debug, Clone, PartialEq)]
enum SortKey {
    None,
    Time(Micros),
    Text(String),
}

fn key_of<R: Record + Named>(r: &R, field: SortField) -> SortKey {
    match field {
        SortField::Id => SortKey::None,
        SortField::UpdatedAt => SortKey::Time(r.updated_us()),
        SortField::CreatedAt => SortKey::Time(r.created_us()),
        SortField::Name => SortKey::Text(r.sort_name().to_owned()),
    }
}

fn cmp_rows<R: Record + Named>(a: &R, b: &R, field: SortField, desc: bool) -> Ordering {
    let primary = match field {
        SortField::Id => Ordering::Equal,
        SortField::UpdatedAt => a.updated_us().cmp(&b.updated_us()),
        SortField::CreatedAt => a.created_us().cmp(&b.created_us()),
        SortField::Name => a.sort_name().cmp(b.sort_name()),
    };
    let o = primary.then_with(|| cmp_ids(a.id(), b.id()));
    if desc {
        o.reverse()
    } else {
        o
    }
}

fn cmp_to_position<R: Record + Named>(
    r: &R,
    field: SortField,
    desc: bool,
    key: &SortKey,
    id: &str,
) -> Ordering {
    let primary = match (field, key) {
        (SortField::UpdatedAt, SortKey::Time(t)) => r.updated_us().cmp(t),
        (SortField::CreatedAt, SortKey::Time(t)) => r.created_us().cmp(t),
        (SortField::Name, SortKey::Text(s)) => r.sort_name().cmp(s.as_str()),
        _ => Ordering::Equal,
    };
    let o = primary.then_with(|| cmp_ids(r.id(), id));
    if desc {
        o.reverse()
    } else {
        o
    }
}

/// How long cursors live and how often they may be used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CursorPolicy {
    pub ttl: Duration,
    pub max_uses: Option<u32>,
}

#[derive(Debug)]
struct IssuedCursor {
    issued_at: Instant,
    uses: u32,
    dead: bool,
}

/// Cursors handed out by this simulator. A cursor is only valid if this store issued it, so a
/// garbage or forged cursor is refused even when it decodes.
#[derive(Debug, Default)]
pub(crate) struct CursorStore {
    issued: HashMap<String, IssuedCursor>,
    serial: u64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CursorPayload {
    /// resource
    r: String,
    /// fingerprint of the filters and sort
    f: String,
    /// sort key of the last record served
    k: Value,
    /// id of the last record served; `None` resumes before the first record (only the
    /// empty-page fault issues such a cursor, for a request that had none)
    i: Option<String>,
    /// serial number: two identical positions still get distinct cursors
    n: u64,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl CursorStore {
    fn issue(&mut self, payload: &mut CursorPayload) -> String {
        self.serial += 1;
        payload.n = self.serial;
        let text = B64.encode(serde_json::to_vec(payload).unwrap_or_default());
        self.issued.insert(
            text.clone(),
            IssuedCursor {
                issued_at: Instant::now(),
                uses: 0,
                dead: false,
            },
        );
        text
    }

    /// Validates and consumes one use of `cursor`.
    fn redeem(&mut self, cursor: &str, policy: CursorPolicy) -> Result<CursorPayload, ApiError> {
        let expired = || {
            ApiError::validation(
                "cursor: the cursor has expired; list again from the beginning without a cursor",
            )
        };
        let entry = self
            .issued
            .get_mut(cursor)
            .ok_or_else(|| ApiError::validation("cursor: invalid cursor"))?;
        if entry.dead || entry.issued_at.elapsed() > policy.ttl {
            entry.dead = true;
            return Err(expired());
        }
        if policy.max_uses.is_some_and(|m| entry.uses >= m) {
            entry.dead = true;
            return Err(expired());
        }
        entry.uses += 1;
        B64.decode(cursor)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ApiError::validation("cursor: invalid cursor"))
    }

    /// Marks a cursor expired (the cursor-expiry fault).
    pub(crate) fn kill(&mut self, cursor: &str) {
        if let Some(c) = self.issued.get_mut(cursor) {
            c.dead = true;
        }
    }

    /// Forgets cursors long past their lifetime so a long bench does not grow the map forever.
    fn prune(&mut self, policy: CursorPolicy) {
        if self.issued.len() < 50_000 {
            return;
        }
        let keep = policy.ttl.saturating_mul(2);
        self.issued.retain(|_, c| c.issued_at.elapsed() <= keep);
    }
}

/// Paging parameters common to the list endpoints.
#[derive(Debug)]
pub(crate) struct Paging {
    limit: usize,
    skip: usize,
    cursor: Option<String>,
    count_only: bool,
    sort: SortField,
    desc: bool,
    /// Serve an empty page whose cursor resumes at this page's start: set by the empty-page
    /// fault, never by a query parameter.
    pub(crate) hold_back: bool,
}

impl Paging {
    pub(crate) fn parse(
        p: &Params,
        resource: Resource,
        max_limit: usize,
    ) -> Result<Self, ApiError> {
        let limit = p.number("limit", 10, 1, max_limit)?;
        let skip = p.number("skip", 0, 0, MAX_SKIP)?;
        let cursor = p.get("cursor").map(str::to_owned);
        if cursor.is_some() && p.get("skip").is_some() {
            // Our decision: the two position mechanisms are exclusive.
            return Err(ApiError::validation("skip: cannot be combined with cursor"));
        }
        let count_only = p.boolean("countOnly")?.unwrap_or(false);
        p.boolean("skipCount")?;
        let sort = match p.get("sortBy") {
            None => SortField::Id,
            Some(s) if resource.sort_fields().contains(&s) => match s {
                "id" => SortField::Id,
                "updatedAt" => SortField::UpdatedAt,
                "createdAt" => SortField::CreatedAt,
                _ => SortField::Name,
            },
            Some(s) => {
                return Err(ApiError::validation(format!(
                    "sortBy: {s:?} is not one of {}",
                    resource.sort_fields().join(", ")
                )))
            }
        };
        let desc = match p.get("sortOrder") {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(s) => {
                return Err(ApiError::validation(format!(
                    "sortOrder: {s:?} is not asc or desc"
                )))
            }
        };
        Ok(Self {
            limit,
            skip,
            cursor,
            count_only,
            sort,
            desc,
            hold_back: false,
        })
    }
}

/// One page of a listing, ready to be written out.
pub(crate) struct Page {
    pub items: Vec<std::sync::Arc<str>>,
    pub next_cursor: Option<String>,
    pub total: usize,
}

/// Filters, sorts and pages `rows`. The page is found by selection rather than a full sort, so a
/// 1,000-record page out of 100,000 threats costs one linear pass. With `Paging::hold_back` (the
/// empty-page fault) no record is served, and the cursor resumes where the page would have begun.
pub(crate) fn page<R: Record + Named>(
    rows: &[R],
    matches: impl Fn(&R) -> bool,
    params: &Params,
    paging: &Paging,
    resource: Resource,
    cursors: &mut CursorStore,
    policy: CursorPolicy,
) -> Result<Page, ApiError> {
    let fp = params.fingerprint(resource, paging.sort, paging.desc);
    let position = match &paging.cursor {
        None => None,
        Some(c) => {
            let payload = cursors.redeem(c, policy)?;
            if payload.r != resource.name() || payload.f != fp {
                return Err(ApiError::validation(
                    "cursor: the cursor was issued for different filters or sort; send the same parameters with every cursor",
                ));
            }
            let key = match (paging.sort, &payload.k) {
                (SortField::Id, _) => SortKey::None,
                (SortField::UpdatedAt | SortField::CreatedAt, Value::Number(n)) => {
                    SortKey::Time(n.as_i64().unwrap_or_default())
                }
                (SortField::Name, Value::String(s)) => SortKey::Text(s.clone()),
                (_, Value::Null) if payload.i.is_none() => SortKey::None,
                _ => return Err(ApiError::validation("cursor: invalid cursor")),
            };
            payload.i.map(|id| (key, id))
        }
    };
    // One pass that counts the matches and keeps only the best `want` of those after the position (a buffer of
    // twice that, cut back by selection when full): memory follows the page, not the tenant.
    let want = paging.skip + paging.limit;
    let cmp = |a: &&R, b: &&R| cmp_rows(*a, *b, paging.sort, paging.desc);
    let mut total = 0;
    let mut after_position = 0;
    let mut remaining: Vec<&R> = Vec::with_capacity(2 * want);
    for r in rows.iter().filter(|r| matches(r)) {
        total += 1;
        if paging.count_only {
            continue;
        }
        if let Some((key, id)) = &position {
            if cmp_to_position(r, paging.sort, paging.desc, key, id) != Ordering::Greater {
                continue;
            }
        }
        after_position += 1;
        remaining.push(r);
        if remaining.len() >= 2 * want {
            remaining.select_nth_unstable_by(want, cmp);
            remaining.truncate(want);
        }
    }
    if paging.count_only {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
            total,
        });
    }
    let has_more = after_position > want;
    if remaining.len() > want {
        remaining.select_nth_unstable_by(want, cmp);
        remaining.truncate(want);
    }
    remaining.sort_unstable_by(cmp);
    let mut issue_at = |at: Option<(SortKey, String)>| {
        let (k, i) = match at {
            None => (Value::Null, None),
            Some((key, id)) => {
                let k = match key {
                    SortKey::None => Value::Null,
                    SortKey::Time(t) => json!(t),
                    SortKey::Text(s) => json!(s),
                };
                (k, Some(id))
            }
        };
        cursors.prune(policy);
        cursors.issue(&mut CursorPayload {
            r: resource.name().to_owned(),
            f: fp.clone(),
            k,
            i,
            n: 0,
        })
    };
    if paging.hold_back {
        // The empty-page fault: serve nothing, and hand back a cursor for the position this page
        // would have started at (after the skipped records, if any), so nothing is lost.
        let resume = match paging.skip {
            0 => position,
            skip => remaining
                .get(skip - 1)
                .or(remaining.last())
                .map(|r| (key_of(*r, paging.sort), r.id().to_owned()))
                .or(position),
        };
        return Ok(Page {
            items: Vec::new(),
            next_cursor: Some(issue_at(resume)),
            total,
        });
    }
    let served: Vec<&R> = remaining.into_iter().skip(paging.skip).collect();
    let next_cursor = match (has_more, served.last()) {
        (true, Some(last)) => Some(issue_at(Some((
            key_of(*last, paging.sort),
            last.id().to_owned(),
        )))),
        _ => None,
    };
    Ok(Page {
        items: served.iter().map(|r| r.json().clone()).collect(),
        next_cursor,
        total,
    })
}

/// `{"data":[...],"pagination":{"nextCursor":...,"totalItems":N}}`, written straight from the
/// stored JSON text of each record.
pub(crate) fn page_body(page: &Page, with_pagination: bool) -> String {
    let size: usize = page.items.iter().map(|s| s.len() + 1).sum();
    let mut out = String::with_capacity(size + 128);
    out.push_str("{\"data\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
    if with_pagination {
        out.push_str(",\"pagination\":");
        out.push_str(
            &json!({"nextCursor": page.next_cursor, "totalItems": page.total}).to_string(),
        );
    }
    out.push('}');
    out
}
