//! The live tenant: tables of agents, threats, groups and application-risk rows, and the mutations tests apply to
//! them.

use serde_json::{json, Value};

use crate::generate::{generate, Generator, TenantSpec, ThreatAgent};
use crate::records::{lenient_bool, AgentRow, GroupRow, Record, RecordError, Table, ThreatRow};
use crate::risks::{generate_rows, RiskEndpoint, RiskRow};
use crate::util::{datetime_to_micros, fmt_micros, Micros};

/// What a placeholder threat carries where the agent's live state should be: records a live
/// console serves that were evidently filled from the API documentation's example, or that lost
/// their agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceholderAgent {
    /// `agentRealtimeInfo` is present, but every free-text and id field in it is the literal
    /// `"string"` as in the API documentation's example: `accountId`, `accountName`,
    /// `agentComputerName`, `agentDomain`, `agentId`, `agentOsName`, `agentOsRevision`,
    /// `agentUuid`, `groupId`, `groupName`, `siteId`, `siteName`, `operationalState`,
    /// `storageName`, `storageType`, and each network interface's `id`, `name`, `inet[]`,
    /// `inet6[]`, `physical`. Enums, booleans, numbers, timestamps and `agentVersion` keep
    /// ordinary values, as the documentation's example does. Such a threat matches no
    /// `agentIds`/`siteIds`/`groupIds`/`accountIds` filter.
    ApiDocString,
    /// No `agentRealtimeInfo` object at all. Such a threat matches no scope filter either.
    NoRealtimeInfo,
}

/// The `agentRealtimeInfo` string fields the documentation's example fills with `"string"`.
const REALTIME_DOC_STRINGS: &[&str] = &[
    "accountId",
    "accountName",
    "agentComputerName",
    "agentDomain",
    "agentId",
    "agentOsName",
    "agentOsRevision",
    "agentUuid",
    "groupId",
    "groupName",
    "siteId",
    "siteName",
    "operationalState",
    "storageName",
    "storageType",
];

/// The agent string fields a placeholder agent carries as `"string"`. Its id and scope (account,
/// site, group ids and names) stay real so it is listed under any scope filter and counted in
/// its group; enums, booleans, numbers, timestamps and `agentVersion` stay ordinary too.
const AGENT_DOC_STRINGS: &[&str] = &[
    "computerName",
    "cpuId",
    "domain",
    "externalId",
    "externalIp",
    "groupIp",
    "lastIpToMgmt",
    "lastLoggedInUserName",
    "modelName",
    "osName",
    "osRevision",
    "osUsername",
    "serialNumber",
    "uuid",
];

/// Rewrites network interfaces as the documentation's example shows them.
fn doc_example_interfaces(nics: &mut Value) {
    let Some(list) = nics.as_array_mut() else {
        return;
    };
    for nic in list {
        let Some(obj) = nic.as_object_mut() else {
            continue;
        };
        for (key, value) in obj.iter_mut() {
            match key.as_str() {
                "inet" | "inet6" => *value = json!(["string"]),
                "id" | "name" | "physical" | "gatewayIp" | "gatewayMacAddress" => {
                    *value = json!("string")
                }
                _ => {}
            }
        }
    }
}

/// Sets each of `fields` the object has to `"string"` (absent fields stay absent).
fn doc_example_strings(obj: &mut Value, fields: &[&str]) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    for field in fields {
        if let Some(v) = map.get_mut(*field) {
            *v = json!("string");
        }
    }
    if let Some(nics) = map.get_mut("networkInterfaces") {
        doc_example_interfaces(nics);
    }
}

#[derive(Debug, Default)]
pub(crate) struct Tenant {
    pub agents: Table<AgentRow>,
    pub threats: Table<ThreatRow>,
    pub groups: Table<GroupRow>,
    pub risks: Table<RiskRow>,
    pub generator: Option<Generator>,
}

impl Tenant {
    pub(crate) fn generated(spec: &TenantSpec) -> Result<Self, RecordError> {
        let out = generate(spec);
        let groups = out
            .groups
            .iter()
            .map(GroupRow::from_value)
            .collect::<Result<Vec<_>, _>>()?;
        let risks = risk_rows(&out.agents, spec);
        Ok(Self {
            agents: Table::from_rows(out.agents)?,
            threats: Table::from_rows(out.threats)?,
            groups: Table::from_rows(groups)?,
            risks: Table::from_rows(risks)?,
            generator: Some(out.generator),
        })
    }

    /// The newest timestamp anywhere in the tenant, so the simulated clock starts after it.
    pub(crate) fn latest_timestamp(&self) -> Micros {
        let a = self
            .agents
            .rows()
            .iter()
            .map(Record::updated_us)
            .max()
            .unwrap_or(0);
        let t = self
            .threats
            .rows()
            .iter()
            .map(Record::updated_us)
            .max()
            .unwrap_or(0);
        let g = self
            .groups
            .rows()
            .iter()
            .map(Record::updated_us)
            .max()
            .unwrap_or(0);
        a.max(t).max(g)
    }

    fn generator(&mut self) -> &mut Generator {
        self.generator.get_or_insert_with(|| {
            let spec = TenantSpec::small()
                .with_agents(0)
                .with_threats(0)
                .with_sites(1)
                .with_groups_per_site(1);
            generate(&spec).generator
        })
    }

    /// Ensures there is at least one group to put new agents in (an empty tenant has none).
    fn ensure_groups(&mut self) {
        if self.groups.len() > 0 {
            return;
        }
        let spec = TenantSpec::small()
            .with_agents(0)
            .with_threats(0)
            .with_sites(1)
            .with_groups_per_site(1);
        let out = generate(&spec);
        for g in &out.groups {
            if let Ok(row) = GroupRow::from_value(g) {
                let _ = self.groups.insert(row);
            }
        }
        self.generator = Some(out.generator);
    }

    pub(crate) fn add_agents(&mut self, n: usize, now: &mut dyn FnMut() -> Micros) -> Vec<String> {
        self.ensure_groups();
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let at = now();
            let row = self.generator().new_agent_row(at);
            let gid = row.group_id.clone();
            let id = row.id.clone();
            if self.agents.insert(row).is_ok() {
                ids.push(id);
                self.adjust_group_count(&gid, 1);
            }
        }
        ids
    }

    pub(crate) fn add_threats(&mut self, n: usize, now: &mut dyn FnMut() -> Micros) -> Vec<String> {
        if self.agents.len() == 0 {
            return Vec::new();
        }
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let at = now();
            let pick = {
                let rows = self.agents.rows();
                let idx = (i * 7919 + ids.len() * 31 + at as usize) % rows.len();
                serde_json::from_str::<Value>(&rows[idx].json).ok()
            };
            let Some(agent) = pick else { continue };
            let view = ThreatAgent::from_value(&agent);
            let row = self.generator().new_threat_row(&view, at);
            let id = row.id.clone();
            if self.threats.insert(row).is_ok() {
                ids.push(id);
            }
        }
        ids
    }

    /// Adds `n` agents like `add_agents`, with the documentation's example strings in place of
    /// their descriptive fields ([`AGENT_DOC_STRINGS`]).
    pub(crate) fn add_placeholder_agents(
        &mut self,
        n: usize,
        now: &mut dyn FnMut() -> Micros,
    ) -> Vec<String> {
        self.ensure_groups();
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let at = now();
            let generated = self.generator().new_agent_row(at);
            let Ok(mut v) = serde_json::from_str::<Value>(&generated.json) else {
                continue;
            };
            doc_example_strings(&mut v, AGENT_DOC_STRINGS);
            let Ok(row) = AgentRow::from_value(&v) else {
                continue;
            };
            let gid = row.group_id.clone();
            let id = row.id.clone();
            if self.agents.insert(row).is_ok() {
                ids.push(id);
                self.adjust_group_count(&gid, 1);
            }
        }
        ids
    }

    /// Adds `n` threats like `add_threats` (on existing agents, or on none in an empty tenant),
    /// whose `agentRealtimeInfo` is replaced as `kind` says.
    pub(crate) fn add_placeholder_threats(
        &mut self,
        n: usize,
        kind: PlaceholderAgent,
        now: &mut dyn FnMut() -> Micros,
    ) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let at = now();
            let agent = {
                let rows = self.agents.rows();
                rows.get(i % rows.len().max(1))
                    .and_then(|r| serde_json::from_str::<Value>(&r.json).ok())
                    .map(|v| ThreatAgent::from_value(&v))
                    .unwrap_or_default()
            };
            let generated = self.generator().new_threat_row(&agent, at);
            let Ok(mut v) = serde_json::from_str::<Value>(&generated.json) else {
                continue;
            };
            match kind {
                PlaceholderAgent::ApiDocString => {
                    if let Some(rt) = v.get_mut("agentRealtimeInfo") {
                        doc_example_strings(rt, REALTIME_DOC_STRINGS);
                    }
                }
                PlaceholderAgent::NoRealtimeInfo => {
                    if let Some(obj) = v.as_object_mut() {
                        obj.remove("agentRealtimeInfo");
                    }
                }
            }
            let Ok(row) = ThreatRow::from_value(&v) else {
                continue;
            };
            let id = row.id.clone();
            if self.threats.insert(row).is_ok() {
                ids.push(id);
            }
        }
        ids
    }

    /// Applies `edit` to one risk row; false when no row has that id.
    pub(crate) fn edit_risk(&mut self, id: &str, edit: impl FnOnce(&mut RiskRow)) -> bool {
        let Some(mut row) = self.risks.get(id).cloned() else {
            return false;
        };
        edit(&mut row);
        self.risks.replace(row)
    }

    /// A vulnerability scan of every endpoint: `lastScanDate` and `daysDetected` move on every row.
    pub(crate) fn scan_risks(&mut self, now: Micros) {
        let rows: Vec<RiskRow> = self
            .risks
            .rows()
            .iter()
            .cloned()
            .map(|mut r| {
                r.scanned(now);
                r
            })
            .collect();
        for row in rows {
            self.risks.replace(row);
        }
    }

    /// Removes a threat from the console entirely: no longer listed or counted.
    pub(crate) fn delete_threat(&mut self, id: &str) -> bool {
        self.threats.remove(id).is_some()
    }

    /// Puts a threat record back (e.g. one [`Self::delete_threat`] removed), updated at `at`. False when the
    /// record is not a threat or its id is already listed.
    pub(crate) fn restore_threat(&mut self, mut record: Value, at: Micros) -> bool {
        record["threatInfo"]["updatedAt"] = json!(fmt_micros(at));
        match ThreatRow::from_value(&record) {
            Ok(row) if self.threats.get(&row.id).is_none() => self.threats.insert(row).is_ok(),
            _ => false,
        }
    }

    fn adjust_group_count(&mut self, group_id: &str, delta: i64) {
        let _ = self.update_group(group_id, |g| {
            let n = g["totalAgents"].as_i64().unwrap_or(0) + delta;
            g["totalAgents"] = json!(n.max(0));
        });
    }

    fn update_group(&mut self, id: &str, f: impl FnOnce(&mut Value)) -> Option<()> {
        let row = self.groups.get(id)?;
        let mut v: Value = serde_json::from_str(&row.json).ok()?;
        f(&mut v);
        let row = GroupRow::from_value(&v).ok()?;
        self.groups.replace(row);
        Some(())
    }

    /// Applies `f` to an agent's JSON and stamps `updatedAt = at`. Returns false for an unknown id.
    pub(crate) fn update_agent(
        &mut self,
        id: &str,
        at: Micros,
        f: impl FnOnce(&mut Value),
    ) -> bool {
        let Some(row) = self.agents.get(id) else {
            return false;
        };
        let Ok(mut v) = serde_json::from_str::<Value>(&row.json) else {
            return false;
        };
        f(&mut v);
        v["updatedAt"] = json!(fmt_micros(at));
        match AgentRow::from_value(&v) {
            Ok(row) => self.agents.replace(row),
            Err(_) => false,
        }
    }

    pub(crate) fn update_threat(
        &mut self,
        id: &str,
        at: Micros,
        f: impl FnOnce(&mut Value),
    ) -> bool {
        let Some(row) = self.threats.get(id) else {
            return false;
        };
        let Ok(mut v) = serde_json::from_str::<Value>(&row.json) else {
            return false;
        };
        f(&mut v);
        v["threatInfo"]["updatedAt"] = json!(fmt_micros(at));
        match ThreatRow::from_value(&v) {
            Ok(row) => self.threats.replace(row),
            Err(_) => false,
        }
    }

    /// Keeps the threats' copy of the agent's current state in step (agentRealtimeInfo is "now",
    /// agentDetectionInfo stays as it was at detection). The threats' updatedAt is not bumped:
    /// the threat itself did not change.
    fn refresh_realtime(&mut self, agent_id: &str) {
        let Some(agent) = self
            .agents
            .get(agent_id)
            .and_then(|r| serde_json::from_str::<Value>(&r.json).ok())
        else {
            return;
        };
        let ids: Vec<String> = self
            .threats
            .rows()
            .iter()
            .filter(|t| t.agent_id == agent_id)
            .map(|t| t.id.clone())
            .collect();
        let decommissioned = lenient_bool(agent.get("isDecommissioned"));
        for id in ids {
            let Some(row) = self.threats.get(&id) else {
                continue;
            };
            let Ok(mut v) = serde_json::from_str::<Value>(&row.json) else {
                continue;
            };
            let rt = &mut v["agentRealtimeInfo"];
            rt["agentIsDecommissioned"] = json!(decommissioned);
            rt["agentIsActive"] = agent["isActive"].clone();
            rt["agentNetworkStatus"] = agent["networkStatus"].clone();
            rt["agentComputerName"] = agent["computerName"].clone();
            if decommissioned && rt["agentDecommissionedAt"].is_null() {
                rt["agentDecommissionedAt"] = agent["updatedAt"].clone();
            }
            if let Ok(row) = ThreatRow::from_value(&v) {
                self.threats.replace(row);
            }
        }
    }

    pub(crate) fn decommission_agent(&mut self, id: &str, at: Micros) -> bool {
        let ok = self.update_agent(id, at, |v| {
            v["isDecommissioned"] = json!(true);
            v["isActive"] = json!(false);
            v["networkStatus"] = json!("disconnected");
        });
        if ok {
            self.refresh_realtime(id);
        }
        ok
    }

    pub(crate) fn remove_agent(&mut self, id: &str) -> bool {
        match self.agents.remove(id) {
            Some(row) => {
                self.adjust_group_count(&row.group_id, -1);
                true
            }
            None => false,
        }
    }

    pub(crate) fn add_agent_tag(&mut self, id: &str, key: &str, value: &str, at: Micros) -> bool {
        let tag = self.generator().tag_value(key, value, at);
        self.update_agent(id, at, |v| {
            let Some(obj) = v.as_object_mut() else { return };
            let tags = obj
                .entry("tags")
                .or_insert_with(|| json!({"sentinelone": []}));
            if !tags.get("sentinelone").is_some_and(Value::is_array) {
                tags["sentinelone"] = json!([]);
            }
            if let Some(list) = tags["sentinelone"].as_array_mut() {
                // A key occurs at most once per agent: assigning it again replaces the value.
                list.retain(|t| t["key"] != key);
                list.push(tag);
            }
        })
    }

    pub(crate) fn set_threat_verdict(&mut self, id: &str, verdict: &str, at: Micros) -> bool {
        let desc = describe(verdict);
        self.update_threat(id, at, |v| {
            v["threatInfo"]["analystVerdict"] = json!(verdict);
            v["threatInfo"]["analystVerdictDescription"] = json!(desc);
        })
    }

    pub(crate) fn set_threat_incident_status(
        &mut self,
        id: &str,
        status: &str,
        at: Micros,
    ) -> bool {
        let desc = describe(status);
        self.update_threat(id, at, |v| {
            v["threatInfo"]["incidentStatus"] = json!(status);
            v["threatInfo"]["incidentStatusDescription"] = json!(desc);
        })
    }

    pub(crate) fn set_threat_mitigation_status(
        &mut self,
        id: &str,
        status: &str,
        at: Micros,
    ) -> bool {
        let desc = describe(status);
        self.update_threat(id, at, |v| {
            v["threatInfo"]["mitigationStatus"] = json!(status);
            v["threatInfo"]["mitigationStatusDescription"] = json!(desc);
        })
    }
}

/// The console's title-case companion of an enum value; unknown values are title-cased as-is.
fn describe(value: &str) -> String {
    match value {
        "true_positive" => "True positive".to_owned(),
        "false_positive" => "False positive".to_owned(),
        "in_progress" => "In progress".to_owned(),
        "not_mitigated" => "Not mitigated".to_owned(),
        "marked_as_benign" => "Marked as benign".to_owned(),
        other => {
            let mut c = other.replace('_', " ");
            if let Some(first) = c.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            c
        }
    }
}

/// The generated risk rows: `spec.risks_per_agent` on every agent that is not decommissioned.
fn risk_rows(agents: &[AgentRow], spec: &TenantSpec) -> Vec<RiskRow> {
    if spec.risks_per_agent == 0 {
        return Vec::new();
    }
    let history_end = datetime_to_micros(spec.history_end);
    agents
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.decommissioned)
        .flat_map(|(i, a)| {
            let os_type = serde_json::from_str::<Value>(&a.json)
                .ok()
                .and_then(|v| v.get("osType").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "windows".to_owned());
            let endpoint = RiskEndpoint {
                id: &a.id,
                name: &a.computer_name,
                os_type: &os_type,
                account_id: &a.account_id,
                site_id: &a.site_id,
                group_id: &a.group_id,
            };
            generate_rows(
                &endpoint,
                i,
                spec.risks_per_agent,
                spec.risk_tier,
                spec.seed,
                history_end,
            )
        })
        .collect()
}
