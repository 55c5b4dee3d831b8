//! `GET /agents` records: the agent, its network interfaces and SentinelOne tags, and the machine enums (OS type,
//! machine type, network status) that threats' agent info shares.

use serde::Deserialize;
use time::OffsetDateTime;

use super::lenient;

wire_enum! {
    /// `osType` / `agentOsType`.
    OsType {
        Windows => "windows",
        Macos => "macos",
        Linux => "linux",
        WindowsLegacy => "windows_legacy",
    }
}

wire_enum! {
    /// `machineType` / `agentMachineType`; the API's values contain spaces.
    MachineType {
        Unknown => "unknown",
        Desktop => "desktop",
        Laptop => "laptop",
        Server => "server",
        KubernetesNode => "kubernetes node",
        Storage => "storage",
        KubernetesPod => "kubernetes pod",
        EcsTask => "ecs task",
        KubernetesHelper => "kubernetes helper",
    }
}

wire_enum! {
    /// `networkStatus` / `agentNetworkStatus`.
    NetworkStatus {
        Connected => "connected",
        Connecting => "connecting",
        Disconnected => "disconnected",
        Disconnecting => "disconnecting",
    }
}

/// One network interface of an agent (`networkInterfaces[]`); the threat copy lacks the gateway fields.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkInterface {
    #[serde(deserialize_with = "lenient::opt_id")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub name: Option<String>,
    /// Addresses as sent; only valid literals survive mapping.
    #[serde(deserialize_with = "lenient::text_list")]
    pub inet: Vec<String>,
    #[serde(deserialize_with = "lenient::text_list")]
    pub inet6: Vec<String>,
    /// The MAC address, `:` or `-` separated depending on the console.
    #[serde(deserialize_with = "lenient::text")]
    pub physical: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub gateway_ip: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub gateway_mac_address: Option<String>,
}

/// A SentinelOne tag on an agent (`tags.sentinelone[]`). Also carried on [`crate::Asset`], so it serializes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tag {
    /// The tag key custom fields are matched against, exactly as sent (not trimmed).
    #[serde(deserialize_with = "raw_text")]
    pub key: String,
    #[serde(deserialize_with = "raw_text")]
    pub value: String,
    #[serde(
        deserialize_with = "lenient::opt_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
}

/// Tag keys and values are matched exactly, so they are kept untrimmed; anything but a string is unknown.
fn raw_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Raw;
    impl lenient::Leniency for Raw {
        type Out = String;
        fn from_str(s: &str) -> Option<String> {
            Some(s.to_owned())
        }
        fn from_u64(v: u64) -> Option<String> {
            Some(v.to_string())
        }
        fn from_i64(v: i64) -> Option<String> {
            Some(v.to_string())
        }
    }
    lenient::Lenient::<Raw>::deserialize(d).map(|l| l.0.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
struct AgentTags {
    #[serde(deserialize_with = "lenient::object_list")]
    sentinelone: Vec<Tag>,
}

fn agent_tags<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Tag>, D::Error> {
    lenient::object::<D, AgentTags>(d).map(|t| t.sentinelone)
}

/// One element of `GET /agents` `data[]`: the fields the asset mapping reads.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Agent {
    /// The agent id (`agentId` in threats). Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    /// The hostname, as sent (trimmed). Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub computer_name: String,
    #[serde(deserialize_with = "lenient::text")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub domain: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub external_ip: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub last_ip_to_mgmt: Option<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(deserialize_with = "lenient::text")]
    pub os_name: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub os_type: Option<OsType>,
    #[serde(deserialize_with = "lenient::text")]
    pub os_revision: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub os_arch: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub machine_type: Option<MachineType>,
    #[serde(deserialize_with = "lenient::text")]
    pub model_name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub serial_number: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_version: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub site_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub site_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub group_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub group_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub account_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub account_name: Option<String>,
    #[serde(deserialize_with = "lenient::flag")]
    pub is_active: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub is_decommissioned: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub is_uninstalled: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub infected: Option<bool>,
    #[serde(deserialize_with = "lenient::count")]
    pub active_threats: Option<u64>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub network_status: Option<NetworkStatus>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub last_active_date: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub registered_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub updated_at: Option<OffsetDateTime>,
    /// `tags.sentinelone[]`; absent in older payloads.
    #[serde(deserialize_with = "agent_tags")]
    pub tags: Vec<Tag>,
    /// Fields of this record that arrived in a shape we could not use (set by the page decoder).
    #[serde(skip)]
    pub field_warnings: u64,
}
