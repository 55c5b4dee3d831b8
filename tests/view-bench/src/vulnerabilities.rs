//! The vulnerability half of the bench: vulnerabilities in the stored format (the store's own
//! `new_vulnerability_item_in`), and the items read per item returned by every vulnerability filter and combination,
//! and by the listings of both kinds.

use connector_store::{
    new_vulnerability_item_in, AnyKindFilter, Page, RecordLayout, SharedState, Store,
    StoredFinding, TenantId, VulnerabilityFilter,
};
use s1_core::records::Risk;
use s1_core::vulnerability::lifecycle::{observe, VulnerabilityLifecycle, VulnerabilityState};
use s1_core::vulnerability::{map_risk, Detection};
use s1_core::{normalize_computer_name, Severity};
use serde_json::json;

use crate::{spread, BoxError, Figures, ASSET, PAGE, PAGES};
use test_support::items_read::ItemsRead;

/// The CVE the `cve` filter names (1 in 500 vulnerabilities carry it).
pub const CVE: &str = "CVE-2025-00042";

/// Vulnerability `i` on one of `assets` assets: 1 % critical, 80 % open, 15 % fixed, 5 % reopened, 10 %
/// unattached, one of 500 CVEs.
pub fn item(
    t: &TenantId,
    layout: RecordLayout,
    i: u64,
    assets: u64,
) -> connector_store::Result<connector_store::batch::Item> {
    let severity = match spread(i, 11) {
        0..=9 => "CRITICAL",
        10..=159 => "HIGH",
        160..=459 => "MEDIUM",
        _ => "LOW",
    };
    let host = format!("host-{:06}", i % assets);
    let risk: Risk = serde_json::from_value(json!({
        "id": format!("v-{i:09}"), "cveId": format!("CVE-2025-{:05}", spread(i, 12) % 500),
        "severity": severity, "endpointName": host, "endpointId": format!("agent-{}", i % assets),
        "applicationName": "7-Zip", "applicationVendor": "Igor Pavlov", "applicationVersion": "24.08",
        "baseScore": "7.00", "cvssVersion": "3.1", "status": "Detected", "daysDetected": 59,
        "lastScanDate": "2025-07-29T19:25:47Z", "publishedDate": "2025-01-25T05:15:09Z"
    }))
    .expect("a risk of the bench's own making");
    let v = map_risk(&risk, "https://tenant.sentinelone.net");
    let at = "2026-11-01T00:00:00Z";
    let open = observe(None, Detection::Detected, at).0;
    let lifecycle: VulnerabilityLifecycle = match spread(i, 13) {
        0..=799 => open,
        800..=949 => observe(Some(&open), Detection::Removed, at).0,
        _ => {
            let fixed = observe(Some(&open), Detection::Removed, at).0;
            observe(Some(&fixed), Detection::Detected, at).0
        }
    };
    let key = normalize_computer_name(&host);
    let attached = spread(i, 14) >= 100;
    new_vulnerability_item_in(
        t,
        layout,
        &v,
        key.as_ref().filter(|_| attached),
        Some(lifecycle),
    )
}

enum Listing {
    Vulnerabilities(VulnerabilityFilter),
    Both(AnyKindFilter),
}

async fn figures(
    store: &Store,
    reads: &ItemsRead,
    t: &TenantId,
    listing: &Listing,
) -> Result<Figures, BoxError> {
    let mut f = Figures::default();
    let mut token: Option<String> = None;
    for _ in 0..PAGES {
        let before = reads.listed();
        let page: Page<StoredFinding> = match listing {
            Listing::Vulnerabilities(v) => {
                store
                    .list_vulnerabilities(t, v, token.as_deref(), PAGE)
                    .await?
            }
            Listing::Both(b) => {
                store
                    .list_findings_of_both_kinds(t, b, token.as_deref(), PAGE)
                    .await?
            }
        };
        f.page(reads.listed() - before, page.items.len() as u64);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(f)
}

/// Prints the tables and returns the worst page's ratio.
pub async fn print_figures(
    store: &Store,
    reads: &ItemsRead,
    t: &TenantId,
) -> Result<f64, BoxError> {
    let mut worst: f64 = 0.0;
    println!();
    println!(
        "Vulnerabilities (kind=vulnerability, or cve / state=fixed): items read / items returned over the first \
         {PAGES} pages of {PAGE} = the worst page (state=reopened, severity=critical, cve={CVE}, asset={ASSET}; \
         attached=true is a threat filter)"
    );
    println!("| filters | attached absent | attached=false |");
    println!("|---|---|---|");
    for mask in 0..16u32 {
        let mut names = Vec::new();
        let mut filter = VulnerabilityFilter::default();
        if mask & 1 != 0 {
            filter.state = Some(VulnerabilityState::Reopened);
            names.push("state");
        }
        if mask & 2 != 0 {
            filter.severity = Some(Severity::Critical);
            names.push("severity");
        }
        if mask & 4 != 0 {
            filter.cve = Some(CVE.into());
            names.push("cve");
        }
        if mask & 8 != 0 {
            filter.asset = Some(ASSET.into());
            names.push("asset");
        }
        let mut cells = Vec::new();
        for attached in [None, Some(false)] {
            if filter.asset.is_some() && attached.is_some() {
                cells.push("refused (400)".to_string());
                continue;
            }
            let listing = Listing::Vulnerabilities(VulnerabilityFilter {
                attached,
                ..filter.clone()
            });
            let f = figures(store, reads, t, &listing).await?;
            worst = worst.max(f.worst);
            cells.push(f.cell());
        }
        let name = if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(" + ")
        };
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!();
    println!("| both kinds (no kind filter) | read/returned = worst page |");
    println!("|---|---|");
    for (name, filter) in [
        ("(none)", AnyKindFilter::default()),
        (
            "severity=critical",
            AnyKindFilter {
                severity: Some(Severity::Critical),
                ..Default::default()
            },
        ),
        (
            "state=reopened",
            AnyKindFilter {
                state: Some(SharedState::Reopened),
                ..Default::default()
            },
        ),
        (
            "asset",
            AnyKindFilter {
                asset: Some(ASSET.into()),
                ..Default::default()
            },
        ),
        (
            "asset + severity=critical + state=open",
            AnyKindFilter {
                asset: Some(ASSET.into()),
                severity: Some(Severity::Critical),
                state: Some(SharedState::Open),
                ..Default::default()
            },
        ),
        (
            "attached=false + severity=critical",
            AnyKindFilter {
                attached: Some(false),
                severity: Some(Severity::Critical),
                ..Default::default()
            },
        ),
    ] {
        let f = figures(store, reads, t, &Listing::Both(filter)).await?;
        worst = worst.max(f.worst);
        println!("| {name} | {} |", f.cell());
    }
    Ok(worst)
}
