//! The group filter: which SentinelOne groups a tenant imports, by name, and the resolution of those names to
//! group ids (contract decision 3).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::records::Group;

/// Group names as the tenant typed them: comma-separated, trimmed, empty entries dropped, duplicates removed
/// case-insensitively (the first spelling is kept). No names means every group.
/// Serializes as the list of names; deserializing applies the same rules as [`GroupFilter::from_list`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct GroupFilter {
    names: Vec<String>,
}

impl From<Vec<String>> for GroupFilter {
    fn from(names: Vec<String>) -> Self {
        Self::from_list(&names)
    }
}

impl From<GroupFilter> for Vec<String> {
    fn from(f: GroupFilter) -> Vec<String> {
        f.names
    }
}

/// A configured name resolved to one console group. One name can resolve to several groups (one per site).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResolvedGroup {
    /// The name as the tenant configured it.
    pub requested: String,
    pub id: String,
    /// The group's name as the console spells it.
    pub name: String,
    pub site_id: Option<String>,
}

/// Names that match no group on the console. Display lists every one of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "these SentinelOne groups were not found on the console: {}; check the spelling or remove them from the group filter",
    .names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
)]
pub struct UnknownGroups {
    pub names: Vec<String>,
}

/// Decision 3's comparison: exact after trimming, case-insensitive (Unicode-aware).
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    a == b || a.to_lowercase() == b.to_lowercase()
}

impl GroupFilter {
    pub fn parse(input: &str) -> Self {
        Self::from_names(input.split(','))
    }

    /// The same rules for names that arrive as a list.
    pub fn from_list(items: &[String]) -> Self {
        Self::from_names(items.iter().flat_map(|i| i.split(',')))
    }

    fn from_names<'a>(items: impl Iterator<Item = &'a str>) -> Self {
        let mut seen = BTreeSet::new();
        let mut names = Vec::new();
        for raw in items {
            let name = raw.trim();
            if name.is_empty() {
                continue;
            }
            if seen.insert(name.to_lowercase()) {
                names.push(name.to_owned());
            }
        }
        Self { names }
    }

    /// No names configured: import every group.
    pub fn is_all(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Resolves every configured name against the console's groups. A name matching groups in several sites
    /// selects all of them. Any name matching nothing fails the whole resolution, listing every such name, so a
    /// typo never silently narrows the import. An all-groups filter resolves to an empty list: no `groupIds`
    /// filter is sent. The result follows the configured names' order (then site id, group id) and holds each
    /// group id once.
    pub fn resolve(&self, groups: &[Group]) -> Result<Vec<ResolvedGroup>, UnknownGroups> {
        let mut resolved = Vec::new();
        let mut seen_ids = BTreeSet::new();
        let mut unknown = Vec::new();
        for requested in &self.names {
            let mut matches: Vec<&Group> = groups
                .iter()
                .filter(|g| same_name(&g.name, requested))
                .collect();
            matches.sort_by(|a, b| (&a.site_id, &a.id).cmp(&(&b.site_id, &b.id)));
            if matches.is_empty() {
                unknown.push(requested.clone());
            }
            for g in matches {
                if seen_ids.insert(g.id.clone()) {
                    resolved.push(ResolvedGroup {
                        requested: requested.clone(),
                        id: g.id.clone(),
                        name: g.name.clone(),
                        site_id: g.site_id.clone(),
                    });
                }
            }
        }
        if !unknown.is_empty() {
            return Err(UnknownGroups { names: unknown });
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, name: &str, site: &str) -> Group {
        Group {
            id: id.into(),
            name: name.into(),
            site_id: Some(site.into()),
            ..Group::default()
        }
    }

    #[test]
    fn parse_trims_drops_empties_and_duplicates() {
        let f = GroupFilter::parse(" Servers , ,servers,Laptops,, LAPTOPS ,Default Group");
        assert_eq!(f.names(), ["Servers", "Laptops", "Default Group"]);
        assert!(GroupFilter::parse("  , ,").is_all());
        assert!(GroupFilter::parse("").is_all());
        assert_eq!(
            GroupFilter::from_list(&["a,b".into(), " A ".into()]).names(),
            ["a", "b"]
        );
        let stored: GroupFilter = serde_json::from_str(r#"[" x ", "X", ""]"#).unwrap();
        assert_eq!(stored.names(), ["x"]);
        assert_eq!(serde_json::to_string(&stored).unwrap(), r#"["x"]"#);
    }

    #[test]
    fn resolve_matches_case_insensitively_across_sites() {
        let groups = [
            group("1", "Default Group", "s1"),
            group("2", "Default Group", "s2"),
            group("3", "Servers", "s1"),
            group("4", "Servers-EU", "s1"),
        ];
        let r = GroupFilter::parse("default group, SERVERS")
            .resolve(&groups)
            .unwrap();
        let ids: Vec<_> = r.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(r[2].requested, "SERVERS");
        assert_eq!(r[2].name, "Servers");
        assert_eq!(r[1].site_id.as_deref(), Some("s2"));
        assert_eq!(GroupFilter::parse("").resolve(&groups), Ok(vec![]));
    }

    #[test]
    fn resolve_lists_every_unknown_name() {
        let groups = [group("3", "Servers", "s1")];
        let err = GroupFilter::parse("Servers, Serv, Laptops")
            .resolve(&groups)
            .unwrap_err();
        assert_eq!(err.names, ["Serv", "Laptops"]);
        let msg = err.to_string();
        assert!(msg.contains("\"Serv\", \"Laptops\""), "{msg}");
    }
}
