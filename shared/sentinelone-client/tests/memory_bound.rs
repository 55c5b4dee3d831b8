//! Memory is bounded by one page, not by the tenant: streaming 100,000 agents must not hold more live heap than
//! streaming 10,000. Its own test binary, because the counting allocator sees every allocation of the process
//! (simulator included), so no other test may run beside it.

mod support;

use futures::TryStreamExt;
use peak_alloc::PeakAlloc;
use s1_simulator::{SimHandle, Simulator, TenantSpec};
use sentinelone_client::{AgentQuery, S1Client};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const MIB: f64 = 1024.0 * 1024.0;

struct Measured {
    agents: usize,
    /// Live heap held by the simulator's tenant before the walk (what a non-streaming client would approach).
    tenant_bytes: usize,
    /// Peak live heap during the walk above what was live when it started (client and simulator together).
    walk_peak_bytes: usize,
}

async fn start(agents: usize) -> (SimHandle, usize) {
    let before = HEAP.current_usage();
    let sim = Simulator::new(TenantSpec::small().with_agents(agents).with_threats(0))
        .start()
        .await
        .expect("sim");
    (sim, HEAP.current_usage().saturating_sub(before))
}

async fn stream_all(client: &S1Client) -> usize {
    let pages = client.agents(AgentQuery::default());
    futures::pin_mut!(pages);
    let mut seen = 0;
    while let Some(page) = pages.try_next().await.expect("page") {
        seen += page.records.len() + page.skipped.len();
    }
    seen
}

async fn measure_streaming(agents: usize) -> Measured {
    let (sim, tenant_bytes) = start(agents).await;
    let (client, _clock) = support::recording_client(&sim);
    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let seen = stream_all(&client).await;
    let walk_peak_bytes = HEAP.peak_usage().saturating_sub(baseline);
    assert_eq!(seen, agents);
    // Wait for the server to stop so its tenant is freed now, not during the next measurement (a free of older
    // memory during a walk would hide the walk's own allocations from the peak).
    drop(client);
    sim.shutdown().await;
    Measured {
        agents,
        tenant_bytes,
        walk_peak_bytes,
    }
}

/// The control: the same walk keeping every record, as a non-streaming client would.
async fn measure_collecting(agents: usize) -> usize {
    let (sim, _) = start(agents).await;
    let (client, _clock) = support::recording_client(&sim);
    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let pages: Vec<_> = client
        .agents(AgentQuery::default())
        .try_collect()
        .await
        .expect("walk");
    let peak = HEAP.peak_usage().saturating_sub(baseline);
    assert_eq!(
        pages
            .iter()
            .map(|p| p.records.len() + p.skipped.len())
            .sum::<usize>(),
        agents
    );
    drop(client);
    sim.shutdown().await;
    peak
}

#[tokio::test]
async fn streaming_holds_one_page_whatever_the_tenant_size() {
    let small = measure_streaming(10_000).await;
    let large = measure_streaming(100_000).await;
    let collected_small = measure_collecting(10_000).await;
    for m in [&small, &large] {
        println!(
            "agents {:>7}: tenant held by the simulator {:>7.1} MiB; peak live heap while streaming {:>5.2} MiB",
            m.agents,
            m.tenant_bytes as f64 / MIB,
            m.walk_peak_bytes as f64 / MIB
        );
    }
    println!(
        "control: collecting all 10,000 agents peaks at {:.2} MiB",
        collected_small as f64 / MIB
    );

    // The measurement can see growth: the tenant itself is ten times larger.
    assert!(large.tenant_bytes > 5 * small.tenant_bytes);
    // Streaming ten times more agents needs no more memory (jitter allowance: a quarter plus 1 MiB).
    assert!(
        large.walk_peak_bytes <= small.walk_peak_bytes + small.walk_peak_bytes / 4 + (1 << 20),
        "10k: {} bytes, 100k: {} bytes",
        small.walk_peak_bytes,
        large.walk_peak_bytes
    );
    // Holding one page of 100,000 costs less than holding all of 10,000.
    assert!(
        large.walk_peak_bytes < collected_small,
        "{} vs {}",
        large.walk_peak_bytes,
        collected_small
    );
    // An absolute ceiling, far above one page of agents (a few MiB) and far below a tenant.
    assert!(large.walk_peak_bytes < 64 << 20);
}
