//! `GET /groups` records.

use serde::Deserialize;

use super::lenient;

wire_enum! {
    /// `type` of a group.
    GroupType {
        Static => "static",
        Dynamic => "dynamic",
        Pinned => "pinned",
    }
}

/// One element of `GET /groups` `data[]`. Names are unique only within a site.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Group {
    /// Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    /// Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub name: String,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub site_id: Option<String>,
    #[serde(rename = "type", deserialize_with = "lenient::enumeration")]
    pub group_type: Option<GroupType>,
    #[serde(deserialize_with = "lenient::flag")]
    pub is_default: Option<bool>,
    #[serde(deserialize_with = "lenient::count")]
    pub total_agents: Option<u64>,
    /// Fields of this record that arrived in a shape we could not use (set by the page decoder).
    #[serde(skip)]
    pub field_warnings: u64,
}
