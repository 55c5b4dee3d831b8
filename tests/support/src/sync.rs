//! One tenant wired end to end for tests: the simulator as its console, a fresh table, queue and secret prefix on
//! the local AWS stack, and the real worker draining the real queue.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use connector_store::{
    save_configuration, AssetFilter, FindingFilter, PageTokenKey, RunStatus, Store, StoredAsset,
    SyncRun, TenantConfig, TenantId, Trigger, Vault,
};
use local_stack::LocalStack;
use s1_core::{ApiToken, ContentHash, Finding};
use s1_simulator::{SimHandle, Simulator, TenantSpec};
use sentinelone_client::ClientOptions;
use sync_engine::{
    start_sync, Budget, Disposition, Outcome, QueuedMessage, SyncEngine, SyncMessage, SyncQueue,
    Worker,
};

/// The worker's safety margin in tests: the deadline a test gives is `budget + TEST_SAFETY_MARGIN`.
pub const TEST_SAFETY_MARGIN: Duration = Duration::from_secs(40);

pub struct Harness {
    pub stack: LocalStack,
    pub sim: SimHandle,
    pub store: Store,
    pub vault: Vault,
    pub queue: SyncQueue,
    pub tenant: TenantId,
    pub worker: Worker,
}

/// What one drained run did.
pub struct Drained {
    pub run: SyncRun,
    /// Worker invocations it took (1 + continuations).
    pub invocations: u32,
}

pub fn client_options() -> ClientOptions {
    ClientOptions {
        // The simulator is local: pacing at the production 10 req/s would only slow the tests down.
        requests_per_second: 1000.0,
        // Small pages give multi-page walks (cursors, checkpoints, continuations) with small tenants.
        page_limit: 100,
        ..ClientOptions::default()
    }
}

impl Harness {
    pub async fn new(spec: TenantSpec) -> Self {
        Self::with_config(spec, |_| {}).await
    }

    pub async fn with_config(spec: TenantSpec, tweak: impl FnOnce(&mut TenantConfig)) -> Self {
        let sim = Simulator::new(spec)
            .start()
            .await
            .expect("simulator starts");
        Self::on_simulator(sim, "tenant-a", tweak).await
    }

    pub async fn on_simulator(
        sim: SimHandle,
        tenant: &str,
        tweak: impl FnOnce(&mut TenantConfig),
    ) -> Self {
        let stack = LocalStack::connect()
            .await
            .expect("local AWS stack (run through scripts/test)");
        let table = stack.fresh_table().await.expect("table");
        let queue_url = stack.fresh_queue().await.expect("queue");
        let store = Store::new(stack.dynamodb.clone(), table, PageTokenKey::random());
        let vault = Vault::new(stack.secrets.clone(), stack.fresh_secret_prefix());
        let queue = SyncQueue::new(stack.sqs.clone(), queue_url);
        let tenant = TenantId::new(tenant).expect("tenant id");
        let mut config = TenantConfig::new(sim.base_url());
        tweak(&mut config);
        let token = ApiToken::new(sim.token()).expect("token");
        save_configuration(&store, &vault, &tenant, config, Some(&token))
            .await
            .expect("config saved");
        let engine = SyncEngine {
            store: store.clone(),
            vault: vault.clone(),
            url_policy: crate::dev_loopback_policy(),
            client_options: client_options(),
            max_retire_percent: s1_core::retirement::DEFAULT_MAX_RETIRE_PERCENT,
        };
        let worker = Worker {
            engine,
            queue: queue.clone(),
            max_receives: 5,
            safety_margin: TEST_SAFETY_MARGIN,
        };
        Self {
            stack,
            sim,
            store,
            vault,
            queue,
            tenant,
            worker,
        }
    }

    /// The tenant's table through a DynamoDB client with `interceptor` added: how a test watches, counts or fails
    /// the store's calls.
    pub fn store_with(
        &self,
        interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
    ) -> Store {
        Store::new(
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&self.stack.config)
                    .interceptor(interceptor)
                    .build(),
            ),
            self.store.table_name(),
            PageTokenKey::random(),
        )
    }

    /// The worker's engine over [`Harness::store_with`].
    pub fn engine_with(
        &self,
        interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
    ) -> SyncEngine {
        SyncEngine {
            store: self.store_with(interceptor),
            ..self.worker.engine.clone()
        }
    }

    pub async fn update_config(&self, tweak: impl FnOnce(&mut TenantConfig)) {
        let mut config = self
            .store
            .get_config(&self.tenant)
            .await
            .expect("read")
            .expect("configured");
        tweak(&mut config);
        save_configuration(&self.store, &self.vault, &self.tenant, config, None)
            .await
            .expect("config saved");
    }

    /// Sync now, then drain the queue through the worker with a generous deadline.
    pub async fn sync(&self) -> Drained {
        self.sync_with_budget(Duration::from_secs(600)).await
    }

    /// Sync now, then drain the queue giving each worker invocation only `budget` before its deadline.
    pub async fn sync_with_budget(&self, budget: Duration) -> Drained {
        let run = start_sync(&self.store, &self.queue, &self.tenant, Trigger::OnDemand)
            .await
            .expect("sync starts");
        let invocations = self.drain(budget).await;
        let run = self
            .store
            .get_run(&self.tenant, &run.id)
            .await
            .expect("read run")
            .expect("run exists");
        Drained { run, invocations }
    }

    /// Receives and handles messages until the queue is empty; returns how many were handled.
    pub async fn drain(&self, budget: Duration) -> u32 {
        let mut handled = 0;
        for _ in 0..10_000 {
            let out = self
                .stack
                .sqs
                .receive_message()
                .queue_url(self.queue.url())
                .max_number_of_messages(10)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return handled;
            }
            for m in messages {
                let queued = QueuedMessage {
                    message_id: m.message_id.clone().unwrap_or_default(),
                    body: m.body.clone().unwrap_or_default(),
                    receive_count: 1,
                };
                // `budget` is when the invocation stops taking pages; the margin after it is the time a started
                // page has to finish (the worker's hard stop), as on Lambda.
                let deadline = SystemTime::now() + budget + TEST_SAFETY_MARGIN;
                let disposition = self
                    .worker
                    .handle(&queued, deadline, &format!("test-{handled}"))
                    .await;
                assert_eq!(
                    disposition,
                    Disposition::Done,
                    "worker asked for a redelivery"
                );
                self.stack
                    .sqs
                    .delete_message()
                    .queue_url(self.queue.url())
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
                handled += 1;
            }
        }
        panic!("the queue never drained");
    }

    pub async fn assets(&self) -> BTreeMap<String, StoredAsset> {
        let mut all = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .store
                .list_assets(&self.tenant, &AssetFilter::default(), token.as_deref(), 200)
                .await
                .expect("list assets");
            for a in page.items {
                assert!(
                    all.insert(a.asset.key.as_str().to_string(), a).is_none(),
                    "asset listed twice"
                );
            }
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => return all,
            }
        }
    }

    pub async fn findings(&self) -> BTreeMap<String, Finding> {
        let mut all = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .store
                .list_findings(
                    &self.tenant,
                    &FindingFilter::default(),
                    token.as_deref(),
                    200,
                )
                .await
                .expect("list findings");
            for f in page.items {
                assert!(
                    all.insert(f.id.clone(), f).is_none(),
                    "finding listed twice"
                );
            }
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => return all,
            }
        }
    }

    /// Everything imported, as (key → content hash, active) and (finding id → content hash): two tenants with
    /// equal fingerprints hold the same data.
    pub async fn fingerprint(
        &self,
    ) -> (BTreeMap<String, (String, bool)>, BTreeMap<String, String>) {
        // Deep links contain each simulator's own port: leave them out so two consoles with the same data compare.
        let assets = self
            .assets()
            .await
            .into_iter()
            .map(|(k, mut a)| {
                a.asset.console_url = None;
                (k, (a.asset.content_hash(), a.active))
            })
            .collect();
        let findings = self
            .findings()
            .await
            .into_iter()
            .map(|(k, mut f)| {
                f.console_url = None;
                (k, f.content_hash())
            })
            .collect();
        (assets, findings)
    }
}

type Fingerprint = (BTreeMap<String, (String, bool)>, BTreeMap<String, String>);

/// Asserts two tenants hold the same data, naming the differing records (not dumping thousands of hashes).
pub async fn assert_same_data(actual: &Harness, expected: &Harness) {
    let (a, b): (Fingerprint, Fingerprint) =
        (actual.fingerprint().await, expected.fingerprint().await);
    let assets = differing(&a.0, &b.0);
    let findings = differing(&a.1, &b.1);
    if !assets.is_empty() || !findings.is_empty() {
        let detail: Vec<String> = assets
            .iter()
            .map(|k| {
                format!(
                    "asset {k}: {:?} vs {:?}",
                    a.0.get(k).map(|v| v.1),
                    b.0.get(k).map(|v| v.1)
                )
            })
            .collect();
        panic!(
            "data differs ({} vs {} assets, {} vs {} findings); assets: {detail:?}; findings: {findings:?}",
            a.0.len(),
            b.0.len(),
            a.1.len(),
            b.1.len()
        );
    }
}

fn differing<V: PartialEq>(x: &BTreeMap<String, V>, y: &BTreeMap<String, V>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    keys.into_iter()
        .filter(|k| x.get(*k) != y.get(*k))
        .take(10)
        .cloned()
        .collect()
}

impl Harness {
    /// Receives at most one message (waiting up to `wait_secs`) without deleting it: the record as the worker sees
    /// it, and its receipt handle.
    pub async fn receive_one(&self, wait_secs: i32) -> Option<(QueuedMessage, String)> {
        let out = self
            .stack
            .sqs
            .receive_message()
            .queue_url(self.queue.url())
            .max_number_of_messages(1)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .expect("receive");
        let m = out.messages.unwrap_or_default().into_iter().next()?;
        let receive_count = m
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            })
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        Some((
            QueuedMessage {
                message_id: m.message_id.clone().unwrap_or_default(),
                body: m.body.clone().unwrap_or_default(),
                receive_count,
            },
            m.receipt_handle.unwrap_or_default(),
        ))
    }

    pub async fn delete_message(&self, receipt_handle: &str) {
        self.stack
            .sqs
            .delete_message()
            .queue_url(self.queue.url())
            .receipt_handle(receipt_handle)
            .send()
            .await
            .expect("delete");
    }
}

// Helpers for tests/real_console.rs.

impl Harness {
    /// The findings `filter` lists (every page), by id.
    pub async fn findings_where(&self, filter: &FindingFilter) -> BTreeMap<String, Finding> {
        let mut all = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .store
                .list_findings(&self.tenant, filter, token.as_deref(), 200)
                .await
                .expect("list findings");
            for f in page.items {
                assert!(
                    all.insert(f.id.clone(), f).is_none(),
                    "finding listed twice"
                );
            }
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => return all,
            }
        }
    }

    /// One sync through `engine` (e.g. [`Harness::engine_with`]), run to its end in one invocation, which must
    /// succeed: for tests that watch what a whole run sends.
    pub async fn sync_through(&self, engine: &SyncEngine) -> SyncRun {
        let run = self.start().await;
        let message = SyncMessage::first(self.tenant.as_str(), &run.id);
        match engine
            .run(&message, Budget::unlimited(), "worker-1")
            .await
            .expect("run")
        {
            Outcome::Finished(run) => {
                assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
                *run
            }
            other => panic!("the run did not finish: {other:?}"),
        }
    }

    /// Starts a run like "sync now" (its message is queued) without handling it.
    pub async fn start(&self) -> SyncRun {
        start_sync(&self.store, &self.queue, &self.tenant, Trigger::OnDemand)
            .await
            .expect("sync starts")
    }

    pub async fn run_record(&self, run_id: &str) -> SyncRun {
        self.store
            .get_run(&self.tenant, run_id)
            .await
            .expect("read run")
            .expect("run exists")
    }

    /// Every agent the console serves right now, read through a fresh client (as a sync would see them), by id.
    pub async fn console_agents(&self) -> BTreeMap<String, s1_core::records::Agent> {
        use futures::StreamExt;
        let console = sentinelone_client::ConsoleUrl::parse(
            &self.sim.base_url(),
            &crate::dev_loopback_policy(),
        )
        .expect("url");
        let token = ApiToken::new(self.sim.token()).expect("token");
        let client =
            sentinelone_client::S1Client::new(console, token, client_options()).expect("client");
        let mut pages = std::pin::pin!(client.agents(sentinelone_client::AgentQuery::default()));
        let mut all = BTreeMap::new();
        while let Some(page) = pages.next().await {
            for a in page.expect("agents page").records {
                all.insert(a.id.clone(), a);
            }
        }
        all
    }
}

// Helpers for tests/verdict_reevaluation.rs.

impl Harness {
    /// The worker's store reads `findings` per re-evaluation page (small pages: many checkpoints per walk).
    pub fn with_reevaluate_page(mut self, findings: i32) -> Self {
        self.worker.engine.store = self
            .worker
            .engine
            .store
            .clone()
            .with_reevaluate_page(findings);
        self
    }

    /// Handles one queued message with `budget` before the worker's margin, as the Lambda would; `false` when the
    /// queue had none.
    pub async fn handle_one(&self, budget: Duration) -> bool {
        let Some((queued, receipt)) = self.receive_one(0).await else {
            return false;
        };
        let deadline = SystemTime::now() + budget + TEST_SAFETY_MARGIN;
        let disposition = self
            .worker
            .handle(&queued, deadline, &format!("test-{}", queued.message_id))
            .await;
        assert_eq!(
            disposition,
            Disposition::Done,
            "worker asked for a redelivery"
        );
        self.delete_message(&receipt).await;
        true
    }
}
