//! Lease, checkpoint, run slot and run history against the local stack.

mod common;

use std::sync::Arc;
use std::time::Duration;
use time::macros::datetime;

use connector_store::{
    Checkpoint, ClaimError, RunCounters, RunStatus, StoreError, SyncRun, Trigger,
};

#[tokio::test]
async fn of_ten_concurrent_lease_takers_exactly_one_wins() {
    let env = common::env().await;
    let t = common::tenant("lease-race");
    let store = Arc::new(env.store.clone());
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            store
                .try_acquire_lease(&t, &format!("worker-{i}"), Duration::from_secs(300))
                .await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        if let Some(lease) = task.await.unwrap().unwrap() {
            winners.push(lease);
        }
    }
    // DynamoDB serialises conditional writes to one item; scripts/local-aws runs moto under one lock so the local
    // stack does too (moto's threaded server alone let 2-4 of 10 takers win). So exactly one taker wins outright.
    assert_eq!(winners.len(), 1, "{winners:?}");
    env.store
        .heartbeat(&t, &winners[0], Duration::from_secs(300), None)
        .await
        .expect("the winner's heartbeat holds");
    let holder = &winners[0].owner;
    // The holder may re-take its own lease; others may not.
    assert!(env
        .store
        .try_acquire_lease(&t, holder, Duration::from_secs(300))
        .await
        .unwrap()
        .is_some());
    let other = if holder == "worker-0" {
        "worker-1"
    } else {
        "worker-0"
    };
    assert!(env
        .store
        .try_acquire_lease(&t, other, Duration::from_secs(300))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn expired_lease_is_taken_over_and_the_old_owner_is_locked_out() {
    let env = common::env().await;
    let t = common::tenant("lease-expiry");
    let old = env
        .store
        .try_acquire_lease(&t, "old", Duration::ZERO)
        .await
        .unwrap()
        .expect("first lease");
    let new = env
        .store
        .try_acquire_lease(&t, "new", Duration::from_secs(300))
        .await
        .unwrap()
        .expect("takeover");
    assert_eq!(new.owner, "new");
    let cp = checkpoint("r1", 3);
    assert!(matches!(
        env.store
            .heartbeat(&t, &old, Duration::from_secs(60), Some(&cp))
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert!(!env.store.release_lease(&t, &old).await.unwrap());
    assert!(matches!(
        env.store
            .complete_sync(&t, &old, Some("2026-01-01T00:00:00Z"))
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert_eq!(
        env.store.load_sync_state(&t).await.unwrap().checkpoint,
        None
    );
    assert!(env.store.release_lease(&t, &new).await.unwrap());
    assert!(env
        .store
        .try_acquire_lease(&t, "third", Duration::from_secs(300))
        .await
        .unwrap()
        .is_some());
}

fn checkpoint(run: &str, page_no: u64) -> Checkpoint {
    let mut counters = RunCounters::default();
    counters.assets.created = 7;
    counters.findings.unchanged = 11;
    counters.findings_failed = 2;
    counters.items_fetched = 1234;
    Checkpoint {
        run_id: run.to_string(),
        phase: "threats".to_string(),
        cursor: Some("YWdlbnRfaWQ6NjU3NjEzNzMwMTY4MTIzNTk1".to_string()),
        page_no,
        counters,
        group_ids: vec!["225494730938493804".into(), "225494730938493915".into()],
        threats_since: Some("2026-11-24T00:55:00Z".into()),
        threats_high_water: Some(datetime!(2026-11-24 01:10:00 UTC)),
        scope: Some("scope-a".into()),
        agent_walk: Default::default(),
        verdicts: Some(connector_store::PinnedVerdicts {
            version: 3,
            list: vec!["true_positive".into()],
        }),
        reevaluating_version: Some(3),
        threat_walk: Default::default(),
        vulnerabilities: Default::default(),
    }
}

#[tokio::test]
async fn checkpoint_round_trips_with_the_heartbeat_and_complete_sync_clears_it() {
    let env = common::env().await;
    let t = common::tenant("checkpoint");
    assert_eq!(
        env.store.load_sync_state(&t).await.unwrap(),
        Default::default()
    );
    let lease = env
        .store
        .try_acquire_lease(&t, "w", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let cp = checkpoint("20261125T011500000Z-00000001", 4);
    let lease2 = env
        .store
        .heartbeat(&t, &lease, Duration::from_secs(120), Some(&cp))
        .await
        .unwrap();
    assert!(lease2.expires_at_ms > lease.expires_at_ms);
    assert_eq!(
        env.store.load_sync_state(&t).await.unwrap().checkpoint,
        Some(cp.clone())
    );
    // A heartbeat without a checkpoint keeps the saved one.
    env.store
        .heartbeat(&t, &lease2, Duration::from_secs(120), None)
        .await
        .unwrap();
    assert_eq!(
        env.store.load_sync_state(&t).await.unwrap().checkpoint,
        Some(cp)
    );
    env.store
        .complete_sync(&t, &lease2, Some("2026-11-25T01:20:00.123456Z"))
        .await
        .unwrap();
    let state = env.store.load_sync_state(&t).await.unwrap();
    assert_eq!(state.checkpoint, None);
    assert_eq!(
        state.watermark,
        Some(datetime!(2026-11-25 01:20:00.123456 UTC))
    );
}

#[tokio::test]
async fn of_fifty_concurrent_run_slot_claims_exactly_one_wins() {
    let env = common::env().await;
    let t = common::tenant("slot-race");
    let store = Arc::new(env.store.clone());
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("run-{i:02}");
            (
                id.clone(),
                store
                    .claim_run_slot(&t, &id, Duration::from_secs(900))
                    .await,
            )
        }));
    }
    let mut winners = Vec::new();
    let mut refused = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (id, Ok(())) => winners.push(id),
            (_, Err(ClaimError::AlreadyRunning { run_id })) => refused.push(run_id),
            (_, Err(e)) => panic!("unexpected {e}"),
        }
    }
    // As with the lease: conditional writes are serialised (DynamoDB; moto under one lock), so one claim wins and
    // every refusal names that winner.
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(refused.len(), 49);
    let holder = env.store.run_slot_holder(&t).await.unwrap().unwrap();
    assert_eq!(winners[0], holder);
    assert!(
        refused.iter().all(|r| *r == holder),
        "every refusal names the winner"
    );
    // Released by another run id: no effect. Released by the holder: free for the next.
    assert!(!env.store.release_run_slot(&t, "run-xx").await.unwrap());
    assert!(matches!(
        env.store.claim_run_slot(&t, "late", Duration::from_secs(900)).await,
        Err(ClaimError::AlreadyRunning { run_id }) if run_id == holder
    ));
    assert!(env.store.release_run_slot(&t, &holder).await.unwrap());
    env.store
        .claim_run_slot(&t, "next", Duration::from_secs(900))
        .await
        .unwrap();
    // A stale claim is taken over.
    let u = common::tenant("slot-stale");
    env.store
        .claim_run_slot(&u, "dead", Duration::ZERO)
        .await
        .unwrap();
    env.store
        .claim_run_slot(&u, "alive", Duration::from_secs(900))
        .await
        .unwrap();
    assert_eq!(
        env.store.run_slot_holder(&u).await.unwrap().as_deref(),
        Some("alive")
    );
}

#[tokio::test]
async fn runs_are_recorded_updated_and_listed_newest_first_per_tenant() {
    let env = common::env().await;
    let a = common::tenant("runs-a");
    let b = common::tenant("runs-b");
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut run = SyncRun::new(
            a.clone(),
            if i % 2 == 0 {
                Trigger::OnDemand
            } else {
                Trigger::Scheduled
            },
        );
        run.id = format!("20261125T0100{i:02}000Z-0000000{i}");
        env.store.create_run(&run).await.unwrap();
        ids.push(run.id.clone());
    }
    assert!(env
        .store
        .create_run(&SyncRun {
            id: ids[0].clone(),
            ..SyncRun::new(a.clone(), Trigger::OnDemand)
        })
        .await
        .is_err());
    let mut run = env.store.get_run(&a, &ids[3]).await.unwrap().unwrap();
    run.mark_running();
    run.pages = 2;
    run.phase = Some("agents".into());
    run.counters.assets.created = 5;
    run.record_error("SentinelOne answered 503; retried");
    run.finish(RunStatus::Succeeded, Some("done".into()));
    env.store.update_run(&run).await.unwrap();
    assert_eq!(env.store.get_run(&a, &ids[3]).await.unwrap().unwrap(), run);
    assert_eq!(
        env.store.get_run(&b, &ids[3]).await.unwrap(),
        None,
        "another tenant's run id is not found"
    );

    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = env.store.list_runs(&a, token.as_deref(), 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|r| r.id));
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let first = env.store.list_runs(&a, None, 3).await.unwrap();
    let tok = first.next_page_token.unwrap();
    assert!(matches!(
        env.store.list_runs(&b, Some(&tok), 3).await,
        Err(StoreError::InvalidPageToken)
    ));
}
