//! How fast the simulator starts and serves, so it is never the bottleneck of a connector bench.
//! `cargo bench -p s1-simulator --bench serve`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use s1_simulator::{Simulator, TenantSpec};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn startup(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("startup");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    // 10,000 agents with the small tenant's ratio of 10 threats per agent.
    g.bench_function("10k_agents_100k_threats_generate_and_listen", |b| {
        b.iter(|| {
            rt.block_on(async {
                let sim = Simulator::new(
                    TenantSpec::small()
                        .with_agents(10_000)
                        .with_threats(100_000),
                )
                .start()
                .await
                .expect("start");
                sim.shutdown().await;
            })
        })
    });
    g.bench_function("10k_agents_10k_threats_generate_and_listen", |b| {
        b.iter(|| {
            rt.block_on(async {
                let sim =
                    Simulator::new(TenantSpec::small().with_agents(10_000).with_threats(10_000))
                        .start()
                        .await
                        .expect("start");
                sim.shutdown().await;
            })
        })
    });
    g.finish();
}

fn pages(c: &mut Criterion) {
    let rt = runtime();
    let sim = rt
        .block_on(
            Simulator::new(
                TenantSpec::small()
                    .with_agents(10_000)
                    .with_threats(100_000),
            )
            .start(),
        )
        .expect("start");
    let client = reqwest::Client::new();
    let auth = format!("ApiToken {}", sim.token());
    let base = format!("{}/web/api/v2.1", sim.base_url());
    let fetch = |path: String| {
        let client = client.clone();
        let auth = auth.clone();
        async move {
            let resp = client
                .get(path)
                .header("Authorization", auth)
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), 200);
            resp.bytes().await.expect("body").len()
        }
    };
    // A cursor from the middle of the agent listing, so the page bench also covers cursor redemption.
    let mid_cursor = rt.block_on(async {
        let body = client
            .get(format!("{base}/agents?limit=1000"))
            .header("Authorization", &auth)
            .send()
            .await
            .expect("request")
            .json::<serde_json::Value>()
            .await
            .expect("json");
        body["pagination"]["nextCursor"]
            .as_str()
            .expect("cursor")
            .to_owned()
    });
    let mut g = c.benchmark_group("page_1000");
    g.bench_function("agents_first_page", |b| {
        b.iter(|| rt.block_on(fetch(format!("{base}/agents?limit=1000"))))
    });
    g.bench_function("agents_second_page_by_cursor", |b| {
        let q = url_encode(&mid_cursor);
        b.iter(|| rt.block_on(fetch(format!("{base}/agents?limit=1000&cursor={q}"))))
    });
    g.bench_function("threats_of_100k_sorted_by_updated_at", |b| {
        b.iter(|| {
            rt.block_on(fetch(format!(
                "{base}/threats?limit=1000&sortBy=updatedAt&sortOrder=asc"
            )))
        })
    });
    g.finish();
    rt.block_on(sim.shutdown());
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

criterion_group!(benches, startup, pages);
criterion_main!(benches);
