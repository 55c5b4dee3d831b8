//! Tenant custom fields filled from SentinelOne tags.
//!
//! For each custom field the tenant defined, the value is that of the agent's tag whose key equals the field name
//! exactly (case and spacing included). Several tags with that key: their values, sorted and deduplicated, joined
//! with `", "`. Tags matching no field are ignored. A field with no matching tag (the tag was removed) is cleared,
//! i.e. absent from [`crate::Asset::custom_fields`]; the map holds exactly the defined fields that have a value.

use serde::{Deserialize, Serialize};

use crate::asset::Asset;

/// A custom field the tenant defined. Build names with [`CustomFieldName::parse`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CustomFieldDefinition {
    pub name: String,
}

impl From<CustomFieldName> for CustomFieldDefinition {
    fn from(name: CustomFieldName) -> Self {
        Self { name: name.0 }
    }
}

/// A valid custom field name: trimmed, 1..=64 characters, each a letter or digit (any script), space, `_`, `-` or
/// `.`. Those are the characters SentinelOne tag keys use in practice, and they are safe in the UI and as map keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomFieldName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomFieldNameError {
    #[error("the custom field name is empty")]
    Empty,
    #[error("the custom field name is {len} characters long; use at most {max}")]
    TooLong { len: usize, max: usize },
    #[error("the custom field name contains {found:?}; use letters, digits, spaces, '_', '-' and '.' only")]
    InvalidCharacter { found: char },
}

impl CustomFieldName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(input: &str) -> Result<Self, CustomFieldNameError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(CustomFieldNameError::Empty);
        }
        let len = name.chars().count();
        if len > Self::MAX_CHARS {
            return Err(CustomFieldNameError::TooLong {
                len,
                max: Self::MAX_CHARS,
            });
        }
        if let Some(found) = name
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.')))
        {
            return Err(CustomFieldNameError::InvalidCharacter { found });
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CustomFieldName {
    type Error = CustomFieldNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CustomFieldName> for String {
    fn from(n: CustomFieldName) -> String {
        n.0
    }
}

/// Recomputes `asset.custom_fields` from `asset.tags` for the given definitions (see the module rules).
pub fn apply_tags_to_custom_fields(asset: &mut Asset, defs: &[CustomFieldDefinition]) {
    let mut fields = std::collections::BTreeMap::new();
    for def in defs {
        let mut values: Vec<&str> = asset
            .tags
            .iter()
            .filter(|t| t.key == def.name && !t.value.trim().is_empty())
            .map(|t| t.value.as_str())
            .collect();
        if values.is_empty() {
            continue;
        }
        values.sort_unstable();
        values.dedup();
        fields.insert(def.name.clone(), values.join(", "));
    }
    asset.custom_fields = fields;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert_eq!(
            CustomFieldName::parse("  Cost Center ").unwrap().as_str(),
            "Cost Center"
        );
        assert!(CustomFieldName::parse("owner.team_v2-eu").is_ok());
        assert!(CustomFieldName::parse("Abteilung-Größe").is_ok());
        assert_eq!(
            CustomFieldName::parse("   "),
            Err(CustomFieldNameError::Empty)
        );
        assert_eq!(
            CustomFieldName::parse(&"x".repeat(65)),
            Err(CustomFieldNameError::TooLong { len: 65, max: 64 })
        );
        assert!(CustomFieldName::parse(&"é".repeat(64)).is_ok());
        assert_eq!(
            CustomFieldName::parse("a/b"),
            Err(CustomFieldNameError::InvalidCharacter { found: '/' })
        );
        assert!(CustomFieldName::parse("tab\there").is_err());
        assert!(serde_json::from_str::<CustomFieldName>("\"a:b\"").is_err());
    }
}
