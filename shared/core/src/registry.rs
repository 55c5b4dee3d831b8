//! Assets the platform registers itself, before or without SentinelOne: one by computer name (`manual`) or many
//! from an import file (`import`). With auto-onboard off these are the machines SentinelOne's agents and threats
//! attach to; the identity rule is the same as for agents ([`crate::asset::usable_computer_name`]).
//!
//! A registration never describes the SentinelOne side of an asset: what it says is kept apart
//! ([`PlatformAsset`]) and only shown as the asset's description until SentinelOne describes the machine.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::asset::{normalize_mac, usable_computer_name, Asset, AssetKey, AssetOrigin};

/// Rows one import request may carry.
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// Characters of a computer name (the longest DNS name; longer names are shortened in keys anyway).
pub const MAX_NAME_CHARS: usize = 253;
/// Characters of a serial number or an OS name.
pub const MAX_TEXT_CHARS: usize = 128;
/// Addresses of one kind per asset.
pub const MAX_ADDRESSES: usize = 32;

/// One registration, as the API takes it (camelCase), before its checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssetRegistration {
    #[serde(default)]
    pub computer_name: Option<String>,
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub mac_addresses: Vec<String>,
    #[serde(default)]
    pub ip_addresses: Vec<String>,
    #[serde(default)]
    pub os_name: Option<String>,
}

/// What the platform knows about a machine from its own registrations: checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformAsset {
    pub key: AssetKey,
    /// The computer name as registered (trimmed, original case).
    pub name: String,
    pub serial: Option<String>,
    /// Lowercase, `:` separated; deduplicated, sorted.
    pub mac_addresses: Vec<String>,
    /// Valid IP literals (canonical form); deduplicated, sorted.
    pub ip_addresses: Vec<String>,
    pub os_name: Option<String>,
}

/// Why one registration was refused, in words the user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("computerName is missing, blank or the placeholder \"string\"")]
    MissingName,
    #[error("computerName is longer than {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error("{field} is longer than {MAX_TEXT_CHARS} characters")]
    TextTooLong { field: &'static str },
    #[error("{field} has more than {MAX_ADDRESSES} entries")]
    TooManyAddresses { field: &'static str },
    #[error("macAddresses holds {0:?}, which is not a MAC address (12 hex digits, not all zero)")]
    BadMac(String),
    #[error("ipAddresses holds {0:?}, which is not an IPv4 or IPv6 address")]
    BadIp(String),
    #[error("the computerName in the path and in the body differ")]
    NameMismatch,
}

fn optional_text(
    value: &Option<String>,
    field: &'static str,
) -> Result<Option<String>, RegistrationError> {
    let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > MAX_TEXT_CHARS {
        return Err(RegistrationError::TextTooLong { field });
    }
    Ok(Some(v.to_string()))
}

/// Shortens a refused value for an error message (it may be anything the file held).
fn shown(v: &str) -> String {
    v.chars().take(40).collect()
}

impl AssetRegistration {
    /// Checks and normalises one registration. `path_name`: the computer name a single registration names in
    /// its path (the body may omit it, or must repeat it).
    pub fn check(&self, path_name: Option<&str>) -> Result<PlatformAsset, RegistrationError> {
        let raw = match (path_name, self.computer_name.as_deref()) {
            (Some(p), Some(b)) => {
                if usable_computer_name(p) != usable_computer_name(b) {
                    return Err(RegistrationError::NameMismatch);
                }
                p
            }
            (Some(p), None) => p,
            (None, Some(b)) => b,
            (None, None) => return Err(RegistrationError::MissingName),
        };
        let name = raw.trim();
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(RegistrationError::NameTooLong);
        }
        let key = usable_computer_name(name).ok_or(RegistrationError::MissingName)?;
        if self.mac_addresses.len() > MAX_ADDRESSES {
            return Err(RegistrationError::TooManyAddresses {
                field: "macAddresses",
            });
        }
        if self.ip_addresses.len() > MAX_ADDRESSES {
            return Err(RegistrationError::TooManyAddresses {
                field: "ipAddresses",
            });
        }
        let mut macs = BTreeSet::new();
        for m in self.mac_addresses.iter().filter(|m| !m.trim().is_empty()) {
            macs.insert(normalize_mac(m).ok_or_else(|| RegistrationError::BadMac(shown(m)))?);
        }
        let mut ips = BTreeMap::new();
        for ip in self.ip_addresses.iter().filter(|i| !i.trim().is_empty()) {
            let parsed: IpAddr = ip
                .trim()
                .parse()
                .map_err(|_| RegistrationError::BadIp(shown(ip)))?;
            ips.insert(parsed, parsed.to_string());
        }
        Ok(PlatformAsset {
            key,
            name: name.to_string(),
            serial: optional_text(&self.serial_number, "serialNumber")?,
            mac_addresses: macs.into_iter().collect(),
            ip_addresses: ips.into_values().collect(),
            os_name: optional_text(&self.os_name, "osName")?,
        })
    }
}

impl PlatformAsset {
    /// The asset as shown until SentinelOne describes the machine: the registered name, serial, addresses and OS
    /// name, no agent. SentinelOne's first description replaces it (the registration itself is kept apart).
    pub fn as_asset(&self) -> Asset {
        let (ipv4, ipv6): (Vec<String>, Vec<String>) = self
            .ip_addresses
            .iter()
            .cloned()
            .partition(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok());
        Asset {
            key: self.key.clone(),
            name: self.name.clone(),
            ipv4,
            ipv6,
            mac_addresses: self.mac_addresses.clone(),
            os_name: self.os_name.clone(),
            os_type: None,
            os_version: None,
            machine_type: None,
            model: None,
            serial: self.serial.clone(),
            domain: None,
            agent_version: None,
            site_id: None,
            site_name: None,
            group_id: None,
            group_name: None,
            account_id: None,
            account_name: None,
            active: None,
            decommissioned: None,
            infected: None,
            last_seen: None,
            console_url: None,
            primary_agent_id: None,
            agent_ids: BTreeSet::new(),
            custom_fields: BTreeMap::new(),
            tags: Vec::new(),
            origin: AssetOrigin::Platform,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(name: &str) -> AssetRegistration {
        AssetRegistration {
            computer_name: Some(name.into()),
            ..AssetRegistration::default()
        }
    }

    #[test]
    fn names_follow_the_identity_rule() {
        let a = reg("  Host-A ").check(None).unwrap();
        assert_eq!(a.key.as_str(), "host-a");
        assert_eq!(a.name, "Host-A");
        assert_eq!(reg("   ").check(None), Err(RegistrationError::MissingName));
        assert_eq!(
            reg("String").check(None),
            Err(RegistrationError::MissingName)
        );
        assert_eq!(
            AssetRegistration::default().check(None),
            Err(RegistrationError::MissingName)
        );
        assert_eq!(
            reg(&"x".repeat(254)).check(None),
            Err(RegistrationError::NameTooLong)
        );
    }

    #[test]
    fn the_path_name_wins_and_must_agree_with_the_body() {
        let a = AssetRegistration::default().check(Some("HOST-b")).unwrap();
        assert_eq!(a.key.as_str(), "host-b");
        assert!(reg("host-B").check(Some("HOST-b")).is_ok());
        assert_eq!(
            reg("other").check(Some("HOST-b")),
            Err(RegistrationError::NameMismatch)
        );
    }

    #[test]
    fn addresses_are_normalised_or_refused_with_the_value() {
        let mut r = reg("h");
        r.mac_addresses = vec!["00-00-5E-00-53-01".into(), "00:00:5e:00:53:01".into()];
        r.ip_addresses = vec!["10.0.0.1".into(), "fe80::1".into(), " ".into()];
        let a = r.check(None).unwrap();
        assert_eq!(a.mac_addresses, ["00:00:5e:00:53:01"]);
        assert_eq!(a.ip_addresses, ["10.0.0.1", "fe80::1"]);
        let asset = a.as_asset();
        assert_eq!(asset.ipv4, ["10.0.0.1"]);
        assert_eq!(asset.ipv6, ["fe80::1"]);
        assert_eq!(asset.origin, AssetOrigin::Platform);

        r.mac_addresses = vec!["nope".into()];
        assert_eq!(r.check(None), Err(RegistrationError::BadMac("nope".into())));
        r.mac_addresses.clear();
        r.ip_addresses = vec!["10.0.0.300".into()];
        assert!(matches!(r.check(None), Err(RegistrationError::BadIp(_))));
        r.ip_addresses = vec!["1.1.1.1".into(); 33];
        assert!(matches!(
            r.check(None),
            Err(RegistrationError::TooManyAddresses { .. })
        ));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<AssetRegistration>(r#"{"computerName":"a","owner":"x"}"#)
                .is_err()
        );
    }
}
