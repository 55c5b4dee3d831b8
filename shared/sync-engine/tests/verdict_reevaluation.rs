//! A verdict-list change re-evaluates stored findings in the sync worker, one checkpointed page per step, never in
//! the save request: the save records a new list version, a run started under the old list finishes with it and
//! its `reevaluate` phase then applies the current list, and a save retried after a lost re-evaluation cannot skip
//! it (the version, not "did this save change the list", decides).

use test_support::sync as support;

use std::time::Duration;

use connector_store::{FindingFilter, RunStatus};
use s1_core::verdicts::finding_status;
use s1_core::{FindingStatus, VerdictInclusionList};
use s1_simulator::TenantSpec;
use support::Harness;
use sync_engine::{start_pending_reevaluation, Reevaluation};

/// Findings per re-evaluation page in these tests: a few hundred findings take many pages.
const PAGE: i32 = 25;

fn spec() -> TenantSpec {
    TenantSpec::small().with_agents(30).with_threats(300)
}

fn only_true_positives() -> Vec<String> {
    vec!["true_positive".to_string()]
}

/// Every stored finding whose status is not the one `list` gives its stored verdict (by id).
async fn wrong_statuses(h: &Harness, list: &[String]) -> Vec<(String, FindingStatus)> {
    let list = VerdictInclusionList::from_list(list).expect("list");
    h.findings_where(&FindingFilter::default())
        .await
        .into_values()
        .filter(|f| f.status != finding_status(&f.analyst_verdict, &list))
        .map(|f| (f.id, f.status))
        .collect()
}

/// Findings whose status differs between the default list and `list`: what a re-evaluation must flip.
async fn would_flip(h: &Harness, list: &[String]) -> u64 {
    let new = VerdictInclusionList::from_list(list).expect("list");
    let old = VerdictInclusionList::default();
    h.findings_where(&FindingFilter::default())
        .await
        .values()
        .filter(|f| {
            finding_status(&f.analyst_verdict, &old) != finding_status(&f.analyst_verdict, &new)
        })
        .count() as u64
}

async fn verdicts_version(h: &Harness) -> u64 {
    h.store
        .get_config(&h.tenant)
        .await
        .expect("read")
        .expect("configured")
        .verdicts_version
}

async fn applied_version(h: &Harness) -> Option<u64> {
    h.store
        .load_sync_state(&h.tenant)
        .await
        .expect("state")
        .verdicts_applied_version
}

#[tokio::test]
async fn a_changed_list_is_reevaluated_by_the_worker_in_checkpointed_pages() {
    let h = Harness::new(spec()).await.with_reevaluate_page(PAGE);
    let first = h.sync().await;
    assert_eq!(
        first.run.status,
        RunStatus::Succeeded,
        "{:?}",
        first.run.message
    );
    assert_eq!(
        first.run.counters.findings_reevaluated, 0,
        "a first list needs no re-evaluation"
    );
    assert_eq!(
        applied_version(&h).await,
        None,
        "nothing re-evaluated, nothing recorded"
    );
    let findings = h.findings_where(&FindingFilter::default()).await.len() as u64;
    let flips = would_flip(&h, &only_true_positives()).await;
    assert!(
        findings >= 250 && flips > 0,
        "{findings} findings, {flips} to flip"
    );

    h.update_config(|c| c.verdicts = only_true_positives())
        .await;
    assert_eq!(
        verdicts_version(&h).await,
        1,
        "the save records a new list version"
    );
    assert_eq!(
        wrong_statuses(&h, &only_true_positives()).await.len() as u64,
        flips,
        "the save itself re-evaluates nothing"
    );

    // What save-config does after the save; then every invocation gets no time beyond one page.
    let queued = start_pending_reevaluation(&h.store, &h.queue, &h.tenant)
        .await
        .expect("run queued");
    assert!(queued.pending && queued.run_id.is_some(), "{queued:?}");
    let invocations = h.drain(Duration::ZERO).await;
    let run = h
        .run_record(queued.run_id.as_deref().unwrap_or_default())
        .await;

    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.message);
    assert_eq!(wrong_statuses(&h, &only_true_positives()).await, vec![]);
    // The run's own threat walk re-reads the threats inside the watermark's overlap and writes them under the
    // list it pinned (the new one); the re-evaluation flips the rest, each once.
    assert!(run.counters.findings_reevaluated > 0);
    assert_eq!(
        run.counters.findings_reevaluated + run.counters.findings.updated,
        flips,
        "each flip counted once: {:?}",
        run.counters
    );
    let pages = findings.div_ceil(PAGE as u64) as u32;
    assert!(
        invocations >= pages,
        "one continuation per page: {invocations} invocations for {pages} pages"
    );
    assert_eq!(applied_version(&h).await, Some(1));
    assert!(
        h.store
            .load_sync_state(&h.tenant)
            .await
            .expect("state")
            .checkpoint
            .is_none(),
        "the completing write clears the checkpoint"
    );

    // Applied: the next run and the next save have nothing to re-evaluate.
    let next = h.sync_with_budget(Duration::ZERO).await;
    assert_eq!(next.run.counters.findings_reevaluated, 0);
    assert_eq!(
        start_pending_reevaluation(&h.store, &h.queue, &h.tenant)
            .await
            .expect("asked"),
        Reevaluation {
            pending: false,
            run_id: None
        }
    );
}

#[tokio::test]
async fn a_retried_save_never_skips_the_reevaluation() {
    let h = Harness::new(spec()).await.with_reevaluate_page(PAGE);
    assert_eq!(h.sync().await.run.status, RunStatus::Succeeded);
    let flips = would_flip(&h, &only_true_positives()).await;
    assert!(flips > 0);

    // The first save stores the list; its re-evaluation is lost (no run queued, no worker ran).
    h.update_config(|c| c.verdicts = only_true_positives())
        .await;
    // The retry stores the same list: "changed" is false now, and the version is unchanged, not bumped again.
    h.update_config(|c| c.verdicts = only_true_positives())
        .await;
    assert_eq!(verdicts_version(&h).await, 1);
    assert_eq!(
        wrong_statuses(&h, &only_true_positives()).await.len() as u64,
        flips
    );

    // The retried save still asks for a run (the version is ahead of the applied one) …
    let asked = start_pending_reevaluation(&h.store, &h.queue, &h.tenant)
        .await
        .expect("asked");
    assert!(asked.pending && asked.run_id.is_some(), "{asked:?}");
    h.drain(Duration::ZERO).await;
    assert_eq!(wrong_statuses(&h, &only_true_positives()).await, vec![]);
    let run = h
        .run_record(asked.run_id.as_deref().unwrap_or_default())
        .await;
    assert!(run.counters.findings_reevaluated > 0);
    assert_eq!(
        run.counters.findings_reevaluated + run.counters.findings.updated,
        flips
    );

    // … and, had that run been lost too, any later sync does it: a list saved and never applied stays pending.
    h.update_config(|c| c.verdicts = VerdictInclusionList::default().to_strings())
        .await;
    h.update_config(|c| c.verdicts = VerdictInclusionList::default().to_strings())
        .await;
    assert_eq!(verdicts_version(&h).await, 2);
    let later = h.sync().await;
    assert_eq!(later.run.status, RunStatus::Succeeded);
    assert!(later.run.counters.findings_reevaluated > 0);
    assert_eq!(
        later.run.counters.findings_reevaluated + later.run.counters.findings.updated,
        flips
    );
    assert_eq!(
        wrong_statuses(&h, &VerdictInclusionList::default().to_strings()).await,
        vec![]
    );
    assert_eq!(applied_version(&h).await, Some(2));
}

#[tokio::test]
async fn a_run_started_under_the_old_list_finishes_with_it_and_then_follows_the_new_list() {
    // No sync before: the run's threat walk writes every finding, 100 threats per page, one page per invocation.
    let h = Harness::new(spec()).await.with_reevaluate_page(PAGE);
    let run = h.start().await;
    // Groups + agents, then the first threat page: the run is mid-walk under the list it pinned (version 0).
    let mut handled = 0;
    while handled < 8 {
        assert!(
            h.handle_one(Duration::ZERO).await,
            "the run ended too early"
        );
        handled += 1;
        let state = h.store.load_sync_state(&h.tenant).await.expect("state");
        let cp = state.checkpoint.expect("mid-run");
        if cp.phase == "threats" && cp.page_no > 0 && cp.cursor.is_some() {
            assert_eq!(
                cp.verdicts.as_ref().map(|v| v.version),
                Some(0),
                "pinned at the run's start"
            );
            break;
        }
    }
    let before = h.findings_where(&FindingFilter::default()).await.len();
    assert!(
        before > 0 && before < 300,
        "mid-walk: {before} findings so far"
    );

    // The analyst changes the list while the run walks threats; a save would find the run running.
    h.update_config(|c| c.verdicts = only_true_positives())
        .await;
    let asked = start_pending_reevaluation(&h.store, &h.queue, &h.tenant)
        .await
        .expect("asked");
    assert_eq!(
        asked.run_id.as_deref(),
        Some(run.id.as_str()),
        "the running run does it"
    );

    // The rest of the walk keeps the old list (one run, one list) …
    h.handle_one(Duration::ZERO).await;
    let cp = h
        .store
        .load_sync_state(&h.tenant)
        .await
        .expect("state")
        .checkpoint
        .expect("mid-run");
    assert_eq!(
        cp.verdicts.map(|v| v.list),
        Some(VerdictInclusionList::default().to_strings())
    );
    let invocations = h.drain(Duration::ZERO).await;
    let done = h.run_record(&run.id).await;

    // … and its reevaluate phase then corrects what the run wrote under it: no finding keeps the old status.
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.message);
    assert_eq!(wrong_statuses(&h, &only_true_positives()).await, vec![]);
    let flips = would_flip(&h, &only_true_positives()).await;
    assert!(flips > 0);
    assert_eq!(
        done.counters.findings_reevaluated, flips,
        "every finding was written under the old list"
    );
    assert!(
        invocations as u64 >= 300u64.div_ceil(PAGE as u64),
        "{invocations} invocations"
    );
    assert_eq!(applied_version(&h).await, Some(1));
    // Nothing is left for another run: the queue is empty.
    assert!(h.receive_one(0).await.is_none());
}
