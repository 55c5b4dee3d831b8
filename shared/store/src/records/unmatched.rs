//! The agents a run did not onboard (auto-onboard off and no asset of that name, or no usable identity), each
//! with the reason and, where the platform has an asset with the same serial number or MAC address under another
//! name, that asset as a possible match. Bounded: at most [`MAX_UNMATCHED_PER_RUN`] per run are kept (the run
//! counts all of them), and each expires after [`UNMATCHED_TTL_DAYS`] days (`expires_at`, the table's TTL).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::put;
use crate::batch::write_all;
use crate::clock::epoch_seconds_in;
use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, TenantId, ASSET_PREFIX, ASSET_REGISTRATION_PREFIX};
use crate::page_token::filter_digest;
use crate::store::{Page, Store};
use crate::views::Query;

/// Unmatched agents kept per run.
pub const MAX_UNMATCHED_PER_RUN: u64 = 1_000;
/// Days an unmatched-agent record is kept.
pub const UNMATCHED_TTL_DAYS: i64 = 30;

const UNMATCHED_PREFIX: &str = "UNMATCHED#";

/// An asset the platform holds that may be the unmatched agent's machine under another name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PossibleMatch {
    /// The asset's key (normalised computer name).
    pub asset_key: String,
    pub name: String,
    /// `serial_number` or `mac_address`.
    pub matched_by: String,
}

/// One agent a run did not onboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedAgent {
    /// The computer name as SentinelOne sent it (may be blank for an agent without a usable one).
    pub name: String,
    pub agent_id: Option<String>,
    /// `lastActiveDate`, RFC 3339.
    pub last_active: Option<String>,
    /// The skip reason in its API spelling (e.g. `auto_onboard_disabled`).
    pub reason: String,
    #[serde(default)]
    pub possible_match: Option<PossibleMatch>,
}

#[derive(Debug, Serialize, Deserialize)]
struct UnmatchedItem {
    pk: String,
    sk: String,
    kind: String,
    agent: UnmatchedAgent,
    expires_at: i64,
}

fn prefix(run_id: &str) -> String {
    format!("{UNMATCHED_PREFIX}{run_id}#")
}

/// Serial numbers and MAC addresses of the tenant's assets and registrations, for possible matches.
#[derive(Debug, Default)]
pub struct AssetIdentifiers {
    by_serial: HashMap<String, (String, String)>,
    by_mac: HashMap<String, (String, String)>,
}

impl AssetIdentifiers {
    /// The asset that has this serial number or one of these MAC addresses (serial first).
    pub fn possible_match(&self, serial: Option<&str>, macs: &[String]) -> Option<PossibleMatch> {
        let hit = |(key, name): &(String, String), by: &str| PossibleMatch {
            asset_key: key.clone(),
            name: name.clone(),
            matched_by: by.to_string(),
        };
        if let Some(found) = serial
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .and_then(|s| self.by_serial.get(&s))
        {
            return Some(hit(found, "serial_number"));
        }
        macs.iter()
            .find_map(|m| self.by_mac.get(m))
            .map(|found| hit(found, "mac_address"))
    }

    fn add(&mut self, key: &str, name: &str, serial: Option<&str>, macs: &[String]) {
        let entry = || (key.to_string(), name.to_string());
        if let Some(s) = serial
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
        {
            self.by_serial.entry(s).or_insert_with(entry);
        }
        for m in macs {
            self.by_mac.entry(m.clone()).or_insert_with(entry);
        }
    }
}

impl Store {
    /// Keeps these unmatched agents of `run_id`, numbered from `first` (the run's count before them), up to
    /// [`MAX_UNMATCHED_PER_RUN`]; the rest are only counted by the run. Idempotent per number, so a page applied
    /// again after a crash overwrites its own records.
    pub async fn record_unmatched_agents(
        &self,
        tenant: &TenantId,
        run_id: &str,
        first: u64,
        agents: Vec<UnmatchedAgent>,
    ) -> Result<()> {
        let pk = tenant_pk(tenant);
        let expires_at = epoch_seconds_in(UNMATCHED_TTL_DAYS);
        let mut writes = Vec::new();
        for (i, agent) in agents.into_iter().enumerate() {
            let n = first + i as u64;
            if n >= MAX_UNMATCHED_PER_RUN {
                break;
            }
            let item = UnmatchedItem {
                pk: pk.clone(),
                sk: format!("{}{n:06}", prefix(run_id)),
                kind: "unmatched_agent".into(),
                agent,
                expires_at,
            };
            writes.push(put(
                serde_dynamo::to_item(item).map_err(StoreError::item("unmatched agent"))?
            ));
        }
        write_all(&*self.batch, &self.table, writes, self.retry).await
    }

    /// The unmatched agents of one run, in the order the run met them, one page at a time (page tokens bound to
    /// the tenant and the run).
    pub async fn list_unmatched_agents(
        &self,
        tenant: &TenantId,
        run_id: &str,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<Page<UnmatchedAgent>> {
        let q = Query::partition(tenant, prefix(run_id));
        let (items, next) = self
            .paged_query(
                tenant,
                "unmatched",
                &filter_digest(&run_id),
                q,
                page_token,
                limit,
            )
            .await?;
        let agents = items
            .into_iter()
            .map(|i| serde_dynamo::from_item::<_, UnmatchedItem>(i).map(|u| u.agent))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("unmatched agent"))?;
        Ok(Page {
            items: agents,
            next_page_token: next,
        })
    }

    /// Serial numbers and MAC addresses of every asset and registration of the tenant (two queries of their
    /// identifiers only), for [`AssetIdentifiers::possible_match`].
    pub async fn asset_identifiers(&self, tenant: &TenantId) -> Result<AssetIdentifiers> {
        let mut ids = AssetIdentifiers::default();
        let assets = Query::partition(tenant, ASSET_PREFIX).project(
            "#as.#k, #as.#n, #as.#s, #as.#m",
            &[
                ("#as", "asset"),
                ("#k", "key"),
                ("#n", "name"),
                ("#s", "serial"),
                ("#m", "mac_addresses"),
            ],
        );
        self.query_each(&assets, |items| {
            for i in items {
                #[derive(Deserialize)]
                struct Ids {
                    key: String,
                    name: String,
                    #[serde(default)]
                    serial: Option<String>,
                    #[serde(default)]
                    mac_addresses: Vec<String>,
                }
                #[derive(Deserialize)]
                struct Wrapper {
                    asset: Ids,
                }
                if let Ok(w) = serde_dynamo::from_item::<_, Wrapper>(i) {
                    ids.add(
                        &w.asset.key,
                        &w.asset.name,
                        w.asset.serial.as_deref(),
                        &w.asset.mac_addresses,
                    );
                }
            }
            Ok(())
        })
        .await?;
        let registrations = Query::partition(tenant, ASSET_REGISTRATION_PREFIX)
            .project("#p", &[("#p", "platform")]);
        self.query_each(&registrations, |items| {
            for i in items {
                #[derive(Deserialize)]
                struct Wrapper {
                    platform: s1_core::registry::PlatformAsset,
                }
                if let Ok(w) = serde_dynamo::from_item::<_, Wrapper>(i) {
                    let p = w.platform;
                    ids.add(
                        p.key.as_str(),
                        &p.name,
                        p.serial.as_deref(),
                        &p.mac_addresses,
                    );
                }
            }
            Ok(())
        })
        .await?;
        Ok(ids)
    }
}

/// The header of [`unmatched_agents_csv`].
pub const UNMATCHED_CSV_HEADER: &str =
    "name,agentId,lastActive,reason,possibleMatchAsset,possibleMatchName,possibleMatchBy";

/// Unmatched agents as CSV rows (RFC 4180 quoting, CRLF line ends), with the header when `header` (the first page
/// of a download). A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) is prefixed
/// with `'`: computer names come from the console and must not execute on a user's machine.
pub fn unmatched_agents_csv(agents: &[UnmatchedAgent], header: bool) -> String {
    fn cell(v: &str) -> String {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{v}")
        } else {
            v.to_string()
        };
        if v.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v
        }
    }
    let mut out = String::new();
    if header {
        out.push_str(UNMATCHED_CSV_HEADER);
        out.push_str("\r\n");
    }
    for a in agents {
        let m = a.possible_match.as_ref();
        let cells = [
            a.name.as_str(),
            a.agent_id.as_deref().unwrap_or_default(),
            a.last_active.as_deref().unwrap_or_default(),
            a.reason.as_str(),
            m.map(|m| m.asset_key.as_str()).unwrap_or_default(),
            m.map(|m| m.name.as_str()).unwrap_or_default(),
            m.map(|m| m.matched_by.as_str()).unwrap_or_default(),
        ];
        out.push_str(&cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let agents = vec![
            UnmatchedAgent {
                name: "=cmd|' /C calc'!A0".into(),
                agent_id: Some("1".into()),
                last_active: None,
                reason: "auto_onboard_disabled".into(),
                possible_match: Some(PossibleMatch {
                    asset_key: "laptop, \"old\"".into(),
                    name: "Laptop".into(),
                    matched_by: "mac_address".into(),
                }),
            },
            UnmatchedAgent {
                name: "plain".into(),
                agent_id: None,
                last_active: Some("2026-11-30T00:00:00Z".into()),
                reason: "missing_name".into(),
                possible_match: None,
            },
        ];
        let csv = unmatched_agents_csv(&agents, true);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], UNMATCHED_CSV_HEADER);
        assert_eq!(
            lines[1],
            "'=cmd|' /C calc'!A0,1,,auto_onboard_disabled,\"laptop, \"\"old\"\"\",Laptop,mac_address"
        );
        assert_eq!(lines[2], "plain,,2026-11-30T00:00:00Z,missing_name,,,");
        assert!(!unmatched_agents_csv(&agents, false).starts_with("name,"));
    }
}
