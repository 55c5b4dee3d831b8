//! One page of 1,000 agents and one of 1,000 threats, from JSON bytes to decisions, and the mapping step alone.
//! Pages are built by `pages/` from the committed real samples; `allocations.rs` counts allocations on the same.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use s1_core::custom_fields::apply_tags_to_custom_fields;
use s1_core::mapping::{assets_from_agents, findings_from_threats};
use s1_core::merge::{decide_asset, decide_finding};
use s1_core::records::{decode_agents_page, decode_threats_page};
use s1_core::{Asset, AssetKey};
use serde_json::Value;

mod pages;

use pages::{agents_page, custom_fields, settings, threats_page, PAGE};

fn bench(c: &mut Criterion) {
    let settings = settings();
    let defs = custom_fields();
    let agent_body = agents_page();
    let threat_body = threats_page();
    let agents = decode_agents_page(&agent_body)
        .expect("agents page")
        .records;
    let threats = decode_threats_page(&threat_body)
        .expect("threats page")
        .records;
    assert_eq!(agents.len(), PAGE);
    assert_eq!(threats.len(), PAGE);
    // Steady state: the platform already holds what the previous sync wrote, so every decision hashes both sides.
    let existing: BTreeMap<AssetKey, Asset> = assets_from_agents(&agents, &settings)
        .into_iter()
        .map(|mut a| {
            apply_tags_to_custom_fields(&mut a, &defs);
            (a.key.clone(), a)
        })
        .collect();

    let mut g = c.benchmark_group("json_to_decisions");
    g.throughput(Throughput::Elements(PAGE as u64));
    g.bench_function("agents_page_1000", |b| {
        b.iter(|| {
            let page = decode_agents_page(black_box(&agent_body)).expect("page");
            let mut decisions = Vec::with_capacity(page.records.len());
            for mut asset in assets_from_agents(&page.records, &settings) {
                apply_tags_to_custom_fields(&mut asset, &defs);
                decisions.push(decide_asset(&asset, existing.get(&asset.key), &settings));
            }
            decisions
        })
    });
    g.bench_function("threats_page_1000", |b| {
        b.iter(|| {
            let page = decode_threats_page(black_box(&threat_body)).expect("page");
            let mapped = findings_from_threats(&page.records, &settings);
            mapped
                .findings
                .iter()
                .map(|f| decide_finding(f, true))
                .collect::<Vec<_>>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decode_only");
    g.throughput(Throughput::Elements(PAGE as u64));
    g.bench_function("agents_page_1000", |b| {
        b.iter(|| decode_agents_page(black_box(&agent_body)))
    });
    g.bench_function("threats_page_1000", |b| {
        b.iter(|| decode_threats_page(black_box(&threat_body)))
    });
    g.finish();

    let mut g = c.benchmark_group("mapping_only");
    g.throughput(Throughput::Elements(PAGE as u64));
    g.bench_function("agents_1000", |b| {
        b.iter(|| assets_from_agents(black_box(&agents), &settings))
    });
    g.bench_function("threats_1000", |b| {
        b.iter(|| findings_from_threats(black_box(&threats), &settings))
    });
    g.finish();

    // Yardsticks for reading the figures above on a given machine: parsing the same bytes into an untyped
    // serde_json::Value, and merely cloning the decoded records (the allocation floor of producing owned output).
    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Elements(PAGE as u64));
    g.bench_function("serde_json_value_agents_page", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&agent_body)))
    });
    g.bench_function("serde_json_value_threats_page", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&threat_body)))
    });
    g.bench_function("clone_1000_decoded_agents", |b| {
        b.iter(|| black_box(&agents).clone())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
