//! The views as the API shows them: camelCase field names, the caller's own tenant never repeated, and maps keyed by
//! data (custom field names, skip reasons) left exactly as stored. Each view is built by destructuring its record,
//! so a field added to a record does not compile until someone decides whether the API shows it.

mod asset;
mod finding;
mod run;
mod unmatched;
mod vulnerability;

pub use asset::{AssetView, PlatformAssetView};
pub use finding::{FindingView, LifecycleView, StateChangeView};
pub use run::{DryRunReportView, RunView};
pub use unmatched::{UnmatchedAgentView, UnmatchedPage};
pub use vulnerability::{
    AnyFindingView, ApplicationView, AssetWithVulnerabilitiesView, CvssView,
    OpenVulnerabilitiesView, VulnerabilityChangeView, VulnerabilityLifecycleView,
    VulnerabilityView,
};

use serde::Serialize;

use connector_store::SourceStatus;

/// A page of a listing of imported data, labelled with where the data comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPage<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
    pub source: SourceView,
}

/// A page of the sync-run history (no source label: runs are the connector's own record).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunsPage {
    pub items: Vec<RunView>,
    pub next_page_token: Option<String>,
}

/// The source of a tenant's imported data, as the views label it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    /// `connected`, `disconnected` or `never_connected`.
    pub state: &'static str,
    pub disconnected_at: Option<String>,
}

impl From<&SourceStatus> for SourceView {
    fn from(s: &SourceStatus) -> Self {
        match s {
            SourceStatus::Connected => Self {
                state: "connected",
                disconnected_at: None,
            },
            SourceStatus::Disconnected { at } => Self {
                state: "disconnected",
                disconnected_at: Some(at.clone()),
            },
            SourceStatus::NeverConnected => Self {
                state: "never_connected",
                disconnected_at: None,
            },
        }
    }
}
