//! What a tenant reads of the data the sync imported: its assets, findings and sync runs, each as a typed camelCase
//! view, with the query rules of each listing (every invalid parameter reported at once, before any I/O).
//!
//! A crate of its own rather than a module of `tenant-config`: these are views of imported data, not of the
//! configuration, and they need neither the SentinelOne client nor the vault. Like every use-case crate it knows
//! nothing of HTTP: the edge hands it query parameters by name and turns its errors into problem+json.

mod query;
mod view;

use connector_store::{
    unmatched_agents_csv, FindingKind, Store, StoreError, StoredAsset, StoredFinding,
    MAX_UNMATCHED_PER_RUN,
};
use s1_core::{normalize_computer_name, FieldError, LengthLimit, TenantId};

pub use query::{
    AssetQuery, FindingQuery, FindingSelection, RunQuery, UnmatchedFormat, UnmatchedQuery,
};
pub use view::{
    AnyFindingView, ApplicationView, AssetView, AssetWithVulnerabilitiesView, CvssView,
    DryRunReportView, FindingView, LifecycleView, ListPage, OpenVulnerabilitiesView,
    PlatformAssetView, RunView, RunsPage, SourceView, StateChangeView, UnmatchedAgentView,
    UnmatchedPage, VulnerabilityChangeView, VulnerabilityLifecycleView, VulnerabilityView,
};

/// Run ids are 1 to 64 characters of A-Z, a-z, 0-9 and '-' (the store's rule); a longer one is a bad request rather
/// than an unknown run.
const RUN_ID_LIMIT: LengthLimit = LengthLimit::ascii(64);

/// Finding ids are SentinelOne's numeric ids (threats: prefixed); a longer one is a bad request rather than an
/// unknown finding.
const FINDING_ID_LIMIT: LengthLimit = LengthLimit::ascii(128);

/// Why a view could not be answered. Display is a sentence for the caller; store causes stay in `source`.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("one or more fields are invalid")]
    Invalid(Vec<FieldError>),
    #[error("no sync run {0} exists for this tenant")]
    RunNotFound(String),
    /// A finding or asset the tenant does not have; the sentence names it.
    #[error("{0}")]
    NotFound(String),
    #[error("storage failed")]
    Store(#[source] StoreError),
}

impl From<StoreError> for ViewError {
    fn from(e: StoreError) -> Self {
        match e {
            // The store refuses some filter combinations itself; the caller can fix them, so they are field errors.
            StoreError::InvalidInput(message) => {
                ViewError::Invalid(vec![FieldError::new("query", message)])
            }
            StoreError::InvalidPageToken => {
                ViewError::Invalid(vec![FieldError::new("pageToken", e.to_string())])
            }
            other => ViewError::Store(other),
        }
    }
}

/// The unmatched agents of a run, as the caller asked for them.
#[derive(Debug, Clone, PartialEq)]
pub enum UnmatchedAnswer {
    Page(UnmatchedPage),
    /// RFC 4180 text with a header line; formula-like cells defused.
    Csv(String),
}

/// The read views of one tenant's data. Borrows the store, so building one per request costs nothing.
#[derive(Clone, Copy)]
pub struct ReadViews<'a> {
    store: &'a Store,
}

impl<'a> ReadViews<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// One page of the tenant's assets, each with its present vulnerabilities by severity, labelled with the
    /// source of the data.
    pub async fn assets(
        &self,
        tenant: &TenantId,
        query: AssetQuery,
    ) -> Result<ListPage<AssetWithVulnerabilitiesView>, ViewError> {
        let page = self
            .store
            .list_assets(
                tenant,
                &query.filter,
                query.page_token.as_deref(),
                query.limit,
            )
            .await?;
        let items = self.with_vulnerability_counts(tenant, page.items).await?;
        self.labelled(tenant, items, page.next_page_token).await
    }

    /// One asset by computer name (any case), with its present vulnerabilities by severity.
    pub async fn asset(
        &self,
        tenant: &TenantId,
        computer_name: &str,
    ) -> Result<AssetWithVulnerabilitiesView, ViewError> {
        LengthLimit::NAME
            .check("computerName", computer_name)
            .map_err(|e| ViewError::Invalid(vec![e]))?;
        let not_found =
            || ViewError::NotFound(format!("no asset {computer_name} exists for this tenant"));
        let key = normalize_computer_name(computer_name).ok_or_else(not_found)?;
        let mut found = self
            .store
            .load_assets(tenant, &[key.as_str().to_string()])
            .await?;
        let asset = found.remove(key.as_str()).ok_or_else(not_found)?;
        let mut views = self.with_vulnerability_counts(tenant, vec![asset]).await?;
        views.pop().ok_or_else(not_found)
    }

    /// The assets as views, each with its present vulnerabilities counted (one keys-only query per asset).
    async fn with_vulnerability_counts(
        &self,
        tenant: &TenantId,
        assets: Vec<StoredAsset>,
    ) -> Result<Vec<AssetWithVulnerabilitiesView>, ViewError> {
        let keys: Vec<String> = assets.iter().map(|a| a.key().to_string()).collect();
        let counts = self.store.open_vulnerability_counts(tenant, &keys).await?;
        Ok(assets
            .into_iter()
            .map(|a| AssetWithVulnerabilitiesView {
                open_vulnerabilities: counts
                    .get(a.key())
                    .copied()
                    .map(OpenVulnerabilitiesView::from)
                    .unwrap_or_default(),
                asset: AssetView::from(a),
            })
            .collect())
    }

    /// One page of the tenant's findings of the kind(s) the query selects (see [`FindingQuery`] for the kind rule
    /// and the store's views for the order), labelled with the source of the data.
    pub async fn findings(
        &self,
        tenant: &TenantId,
        query: FindingQuery,
    ) -> Result<ListPage<AnyFindingView>, ViewError> {
        let token = query.page_token.as_deref();
        let page = match &query.selection {
            FindingSelection::Threats { filter, state } => {
                let page = self
                    .store
                    .list_findings_in_state(tenant, filter, *state, token, query.limit)
                    .await?;
                connector_store::Page {
                    items: page
                        .items
                        .into_iter()
                        .map(|f| StoredFinding::Threat(Box::new(f)))
                        .collect(),
                    next_page_token: page.next_page_token,
                }
            }
            FindingSelection::Vulnerabilities(filter) => {
                self.store
                    .list_vulnerabilities(tenant, filter, token, query.limit)
                    .await?
            }
            FindingSelection::Both(filter) => {
                self.store
                    .list_findings_of_both_kinds(tenant, filter, token, query.limit)
                    .await?
            }
        };
        self.labelled(tenant, page.items, page.next_page_token)
            .await
    }

    /// One finding of the tenant by id: the threat or the vulnerability (`kind` names which, when both kinds hold
    /// the id; without it the threat is answered).
    pub async fn finding(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: Option<&str>,
    ) -> Result<AnyFindingView, ViewError> {
        let mut errors = Vec::new();
        if let Err(e) = FINDING_ID_LIMIT.check("id", id) {
            errors.push(e);
        }
        let kind = match kind.map(str::to_ascii_lowercase).as_deref() {
            None => None,
            Some("threat") => Some(FindingKind::Threat),
            Some("vulnerability") => Some(FindingKind::Vulnerability),
            Some(_) => {
                errors.push(FieldError::new(
                    "kind",
                    "must be one of: threat, vulnerability",
                ));
                None
            }
        };
        if !errors.is_empty() {
            return Err(ViewError::Invalid(errors));
        }
        match self.store.get_finding(tenant, id, kind).await? {
            Some(f) => Ok(AnyFindingView::from(f)),
            None => Err(ViewError::NotFound(format!(
                "no finding {id} exists for this tenant"
            ))),
        }
    }

    /// One page of the tenant's sync runs, newest first.
    pub async fn runs(&self, tenant: &TenantId, query: RunQuery) -> Result<RunsPage, ViewError> {
        let page = self
            .store
            .list_runs(tenant, query.page_token.as_deref(), query.limit)
            .await?;
        Ok(RunsPage {
            items: page.items.into_iter().map(RunView::from).collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// One sync run of the tenant.
    pub async fn run(&self, tenant: &TenantId, id: &str) -> Result<RunView, ViewError> {
        RUN_ID_LIMIT
            .check("id", id)
            .map_err(|e| ViewError::Invalid(vec![e]))?;
        match self.store.get_run(tenant, id).await? {
            Some(run) => Ok(RunView::from(run)),
            None => Err(ViewError::RunNotFound(id.to_string())),
        }
    }

    /// The agents a run of the tenant did not onboard, in the order the run met them: one page, or (CSV) every
    /// kept one (at most [`MAX_UNMATCHED_PER_RUN`], so a download is bounded).
    pub async fn unmatched(
        &self,
        tenant: &TenantId,
        run_id: &str,
        query: UnmatchedQuery,
    ) -> Result<UnmatchedAnswer, ViewError> {
        // The run itself first: an unknown run is a 404, not an empty list.
        self.run(tenant, run_id).await?;
        match query.format {
            UnmatchedFormat::Json => {
                let page = self
                    .store
                    .list_unmatched_agents(tenant, run_id, query.page_token.as_deref(), query.limit)
                    .await?;
                Ok(UnmatchedAnswer::Page(UnmatchedPage {
                    items: page
                        .items
                        .into_iter()
                        .map(UnmatchedAgentView::from)
                        .collect(),
                    next_page_token: page.next_page_token,
                }))
            }
            UnmatchedFormat::Csv => {
                const PAGE: u32 = 200;
                let mut csv = String::new();
                let mut token: Option<String> = None;
                // Bounded by what a run keeps; the extra rounds allow for a last, empty page.
                for round in 0..(MAX_UNMATCHED_PER_RUN / PAGE as u64 + 2) {
                    let page = self
                        .store
                        .list_unmatched_agents(tenant, run_id, token.as_deref(), PAGE)
                        .await?;
                    csv.push_str(&unmatched_agents_csv(&page.items, round == 0));
                    match page.next_page_token {
                        Some(next) => token = Some(next),
                        None => break,
                    }
                }
                Ok(UnmatchedAnswer::Csv(csv))
            }
        }
    }

    async fn labelled<S, V: From<S>>(
        &self,
        tenant: &TenantId,
        items: Vec<S>,
        next_page_token: Option<String>,
    ) -> Result<ListPage<V>, ViewError> {
        // Read after the page: a disconnect between the two reads labels the page disconnected, which is what the
        // data is by the time the caller sees it.
        let source = self.store.source_status(tenant).await?;
        Ok(ListPage {
            items: items.into_iter().map(V::from).collect(),
            next_page_token,
            source: SourceView::from(&source),
        })
    }
}
