//! The tenant's records. Each record is kept as its exact JSON text (what the console would send)
//! plus the few fields the filters and sorts need, derived from that JSON so the two never disagree.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::util::{cmp_ids, parse_timestamp, Micros};

/// Why a record handed to the simulator cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(
        "the record is not a JSON object; SentinelOne list endpoints return objects in data[]"
    )]
    NotAnObject,
    #[error("the record has no string field `{0}`; the simulator needs it to filter and page")]
    MissingField(&'static str),
    #[error("the record's `{field}` is not an ISO-8601 timestamp: {value:?}")]
    BadTimestamp { field: &'static str, value: String },
    #[error("a record with id {0} already exists")]
    DuplicateId(String),
}

fn str_field<'a>(v: &'a Value, field: &'static str) -> Result<&'a str, RecordError> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or(RecordError::MissingField(field))
}

fn nested_str<'a>(
    v: &'a Value,
    obj: &'static str,
    field: &'static str,
) -> Result<&'a str, RecordError> {
    v.get(obj)
        .and_then(|o| o.get(field))
        .and_then(Value::as_str)
        .ok_or(RecordError::MissingField(field))
}

fn ts_field(v: &Value, field: &'static str) -> Result<Micros, RecordError> {
    let s = str_field(v, field)?;
    parse_timestamp(s).ok_or_else(|| RecordError::BadTimestamp {
        field,
        value: s.to_owned(),
    })
}

fn nested_ts(v: &Value, obj: &'static str, field: &'static str) -> Result<Micros, RecordError> {
    let s = nested_str(v, obj, field)?;
    parse_timestamp(s).ok_or_else(|| RecordError::BadTimestamp {
        field,
        value: s.to_owned(),
    })
}

/// Booleans arrive as JSON booleans or as "True"/"False" strings (API.md decision 10).
pub(crate) fn lenient_bool(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// What every served record has in common.
pub(crate) trait Record {
    fn id(&self) -> &str;
    fn json(&self) -> &Arc<str>;
    fn created_us(&self) -> Micros;
    fn updated_us(&self) -> Micros;
}

#[derive(Debug, Clone)]
pub(crate) struct AgentRow {
    pub id: String,
    pub account_id: String,
    pub site_id: String,
    pub group_id: String,
    pub computer_name: String,
    pub decommissioned: bool,
    pub created_us: Micros,
    pub updated_us: Micros,
    pub json: Arc<str>,
}

impl AgentRow {
    pub(crate) fn from_value(v: &Value) -> Result<Self, RecordError> {
        if !v.is_object() {
            return Err(RecordError::NotAnObject);
        }
        Ok(Self {
            id: str_field(v, "id")?.to_owned(),
            account_id: str_field(v, "accountId")?.to_owned(),
            site_id: str_field(v, "siteId")?.to_owned(),
            group_id: str_field(v, "groupId")?.to_owned(),
            computer_name: str_field(v, "computerName")?.to_owned(),
            decommissioned: lenient_bool(v.get("isDecommissioned")),
            created_us: ts_field(v, "createdAt")?,
            updated_us: ts_field(v, "updatedAt")?,
            json: Arc::from(v.to_string()),
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ThreatRow {
    pub id: String,
    pub account_id: String,
    pub site_id: String,
    pub group_id: String,
    pub agent_id: String,
    pub analyst_verdict: String,
    pub incident_status: String,
    pub confidence_level: String,
    pub mitigation_status: String,
    pub created_us: Micros,
    pub updated_us: Micros,
    pub json: Arc<str>,
}

impl ThreatRow {
    pub(crate) fn from_value(v: &Value) -> Result<Self, RecordError> {
        if !v.is_object() {
            return Err(RecordError::NotAnObject);
        }
        let ti = |f: &'static str| nested_str(v, "threatInfo", f).map(str::to_owned);
        // A threat without `agentRealtimeInfo` (seen on live consoles, see
        // `PlaceholderAgent::NoRealtimeInfo`) is still served; it just matches no scope filter.
        let has_realtime = v.get("agentRealtimeInfo").is_some_and(|r| !r.is_null());
        let rt = |f: &'static str| {
            if has_realtime {
                nested_str(v, "agentRealtimeInfo", f).map(str::to_owned)
            } else {
                Ok(String::new())
            }
        };
        Ok(Self {
            id: str_field(v, "id")?.to_owned(),
            account_id: rt("accountId")?,
            site_id: rt("siteId")?,
            group_id: rt("groupId")?,
            agent_id: rt("agentId")?,
            analyst_verdict: ti("analystVerdict")?,
            incident_status: ti("incidentStatus")?,
            confidence_level: ti("confidenceLevel")?,
            mitigation_status: ti("mitigationStatus")?,
            created_us: nested_ts(v, "threatInfo", "createdAt")?,
            updated_us: nested_ts(v, "threatInfo", "updatedAt")?,
            json: Arc::from(v.to_string()),
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct GroupRow {
    pub id: String,
    pub site_id: String,
    pub name: String,
    pub kind: String,
    pub is_default: bool,
    pub created_us: Micros,
    pub updated_us: Micros,
    pub json: Arc<str>,
}

impl GroupRow {
    pub(crate) fn from_value(v: &Value) -> Result<Self, RecordError> {
        if !v.is_object() {
            return Err(RecordError::NotAnObject);
        }
        Ok(Self {
            id: str_field(v, "id")?.to_owned(),
            site_id: str_field(v, "siteId")?.to_owned(),
            name: str_field(v, "name")?.to_owned(),
            kind: str_field(v, "type")?.to_owned(),
            is_default: lenient_bool(v.get("isDefault")),
            created_us: ts_field(v, "createdAt")?,
            updated_us: ts_field(v, "updatedAt")?,
            json: Arc::from(v.to_string()),
        })
    }
}

macro_rules! impl_record {
    ($t:ty) => {
        impl Record for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn json(&self) -> &Arc<str> {
                &self.json
            }
            fn created_us(&self) -> Micros {
                self.created_us
            }
            fn updated_us(&self) -> Micros {
                self.updated_us
            }
        }
    };
}
impl_record!(AgentRow);
impl_record!(ThreatRow);
impl_record!(GroupRow);

/// A list of records in id order with an id index.
#[derive(Debug, Clone)]
pub(crate) struct Table<R> {
    rows: Vec<R>,
    index: HashMap<String, usize>,
}

impl<R: Record> Default for Table<R> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<R: Record> Table<R> {
    pub(crate) fn from_rows(mut rows: Vec<R>) -> Result<Self, RecordError> {
        rows.sort_by(|a, b| cmp_ids(a.id(), b.id()));
        let mut index = HashMap::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            if index.insert(r.id().to_owned(), i).is_some() {
                return Err(RecordError::DuplicateId(r.id().to_owned()));
            }
        }
        Ok(Self { rows, index })
    }

    pub(crate) fn rows(&self) -> &[R] {
        &self.rows
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&R> {
        self.index.get(id).map(|&i| &self.rows[i])
    }

    pub(crate) fn insert(&mut self, row: R) -> Result<(), RecordError> {
        if self.index.contains_key(row.id()) {
            return Err(RecordError::DuplicateId(row.id().to_owned()));
        }
        let pos = self
            .rows
            .partition_point(|r| cmp_ids(r.id(), row.id()).is_lt());
        self.rows.insert(pos, row);
        self.reindex_from(pos);
        Ok(())
    }

    pub(crate) fn replace(&mut self, row: R) -> bool {
        match self.index.get(row.id()) {
            Some(&i) => {
                self.rows[i] = row;
                true
            }
            None => false,
        }
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<R> {
        let i = self.index.remove(id)?;
        let row = self.rows.remove(i);
        self.reindex_from(i);
        Some(row)
    }

    fn reindex_from(&mut self, start: usize) {
        for (i, r) in self.rows.iter().enumerate().skip(start) {
            self.index.insert(r.id().to_owned(), i);
        }
    }

    pub(crate) fn values(&self) -> Vec<Value> {
        self.rows
            .iter()
            .filter_map(|r| serde_json::from_str(r.json()).ok())
            .collect()
    }
}
