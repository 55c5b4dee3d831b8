//! The run history: one item per run, created once, rewritten after every page (never once finished), read and
//! listed newest first.

use serde::{Deserialize, Serialize};

use super::{valid_run_id, RunStatus, SyncRun};
use crate::error::{Result, StoreError};
use crate::keys::{run_sk, tenant_pk, TenantId, RUN_PREFIX};
use crate::store::{s, Page, Store};
use crate::views::Query;

#[derive(Serialize, Deserialize)]
struct RunItem {
    pk: String,
    sk: String,
    kind: String,
    run: SyncRun,
}

#[derive(Deserialize)]
struct RunOnly {
    run: SyncRun,
}

impl Store {
    /// Records a new run; refuses to overwrite an existing id.
    pub async fn create_run(&self, run: &SyncRun) -> Result<()> {
        self.put_run(run, "attribute_not_exists(pk)").await
    }

    /// Rewrites the run's record (progress after each page, the outcome at the end). A run already finished in the
    /// table (succeeded, partial or failed: by its worker, by a disconnect, by the dead-letter handler) is never
    /// rewritten, so a late progress write cannot turn it back to running: that write fails with
    /// [`StoreError::RunAlreadyFinished`]. The finishing write of a run not yet finished is an ordinary update.
    pub async fn update_run(&self, run: &SyncRun) -> Result<()> {
        let res = self
            .put_run(
                run,
                "attribute_exists(pk) AND NOT (#run.#status IN (:succeeded, :failed, :partial))",
            )
            .await;
        match res {
            Err(e) if e.is_conditional_check_failed() => {
                match self.get_run(&run.tenant, &run.id).await? {
                    Some(stored) if stored.status.is_finished() => {
                        Err(StoreError::RunAlreadyFinished {
                            run_id: run.id.clone(),
                        })
                    }
                    // No such run: the write's own `attribute_exists` refusal, as before.
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    async fn put_run(&self, run: &SyncRun, condition: &str) -> Result<()> {
        if !valid_run_id(&run.id) {
            return Err(StoreError::InvalidInput(
                "a run id is 1 to 64 characters of A-Z, a-z, 0-9 or '-'".into(),
            ));
        }
        let item = RunItem {
            pk: tenant_pk(&run.tenant),
            sk: run_sk(&run.id),
            kind: "run".into(),
            run: run.clone(),
        };
        let mut req = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                serde_dynamo::to_item(item).map_err(StoreError::item("sync run"))?,
            ))
            .condition_expression(condition);
        if condition.contains("#status") {
            req = req
                .expression_attribute_names("#run", "run")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":succeeded", s(RunStatus::Succeeded.as_str()))
                .expression_attribute_values(":failed", s(RunStatus::Failed.as_str()))
                .expression_attribute_values(":partial", s(RunStatus::Partial.as_str()));
        }
        req.send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// The run `id` of `tenant`; `None` for an unknown id or another tenant's run.
    pub async fn get_run(&self, tenant: &TenantId, id: &str) -> Result<Option<SyncRun>> {
        if !valid_run_id(id) {
            return Ok(None);
        }
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), run_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        match out.item {
            Some(item) => Ok(Some(
                serde_dynamo::from_item::<_, RunOnly>(item)
                    .map_err(StoreError::item("sync run"))?
                    .run,
            )),
            None => Ok(None),
        }
    }

    /// The tenant's runs, newest first.
    pub async fn list_runs(
        &self,
        tenant: &TenantId,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<Page<SyncRun>> {
        let q = Query::partition(tenant, RUN_PREFIX).newest_first();
        let (items, next) = self
            .paged_query(tenant, "runs", "", q, page_token, limit)
            .await?;
        let runs = items
            .into_iter()
            .map(|i| serde_dynamo::from_item::<_, RunOnly>(i).map(|r| r.run))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("sync run"))?;
        Ok(Page {
            items: runs,
            next_page_token: next,
        })
    }
}
