//! The scope of a threats watermark: a fingerprint of everything that decides which threats a sync imports and
//! where they land. The watermark says "every threat updated before this time is imported"; that only holds for the
//! scope it was earned in. A run whose scope differs (another console, other groups, onboarding switched) walks
//! threats from the start, so nothing the old scope left out stays missing.

use sha2::{Digest, Sha256};

/// Bumped when this connector's rules for which threats are imported change (e.g. threats without a usable agent
/// are now kept as unattached findings): every tenant's next run then walks all threats once.
const THREAT_RULES_VERSION: &str = "threat-rules/v2";

/// The scope fingerprint: console URL, the resolved group ids (order-free), and auto-onboarding.
pub fn threat_scope(console_url: &str, group_ids: &[String], auto_onboard: bool) -> String {
    let mut groups: Vec<&str> = group_ids.iter().map(String::as_str).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut h = Sha256::new();
    for part in [
        THREAT_RULES_VERSION,
        console_url.trim_end_matches('/'),
        &groups.join(","),
        if auto_onboard {
            "onboard"
        } else {
            "no-onboard"
        },
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..16])
}

/// Bumped when the rules for which vulnerabilities are imported change: every tenant's next run then walks all of
/// them once.
const VULNERABILITY_RULES_VERSION: &str = "vulnerability-rules/v1";

/// The scope of a vulnerability watermark: console URL, the resolved group ids (order-free) and the minimum
/// severity (lowering it must bring rows a delta walk would not return again, so it is a new scope).
pub fn vulnerability_scope(
    console_url: &str,
    group_ids: &[String],
    minimum_severity: &str,
) -> String {
    let mut groups: Vec<&str> = group_ids.iter().map(String::as_str).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut h = Sha256::new();
    for part in [
        VULNERABILITY_RULES_VERSION,
        console_url.trim_end_matches('/'),
        &groups.join(","),
        minimum_severity,
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vulnerability_scope_follows_console_groups_and_minimum_severity() {
        let g = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = vulnerability_scope("https://a.sentinelone.net", &g(&["1", "2"]), "low");
        assert_eq!(
            base,
            vulnerability_scope("https://a.sentinelone.net/", &g(&["2", "1"]), "low")
        );
        assert_ne!(
            base,
            vulnerability_scope("https://a.sentinelone.net", &g(&["1"]), "low")
        );
        assert_ne!(
            base,
            vulnerability_scope("https://a.sentinelone.net", &g(&["1", "2"]), "high")
        );
        assert_ne!(
            base,
            vulnerability_scope("https://b.sentinelone.net", &g(&["1", "2"]), "low")
        );
    }

    #[test]
    fn every_part_of_the_scope_changes_it_and_group_order_does_not() {
        let g = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = threat_scope("https://a.sentinelone.net", &g(&["1", "2"]), true);
        assert_eq!(
            base,
            threat_scope("https://a.sentinelone.net/", &g(&["2", "1"]), true)
        );
        assert_ne!(
            base,
            threat_scope("https://b.sentinelone.net", &g(&["1", "2"]), true)
        );
        assert_ne!(
            base,
            threat_scope("https://a.sentinelone.net", &g(&["1"]), true)
        );
        assert_ne!(
            base,
            threat_scope("https://a.sentinelone.net", &g(&["1", "2"]), false)
        );
    }
}
