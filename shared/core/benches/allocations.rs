//! Heap allocations per record of the mapping step, on the same pages as the criterion bench. Allocation counts
//! do not depend on machine load the way times do, so they show what a change to the mapping saved even on a
//! busy machine; on this project's VMs the mapping step is bound by allocation (see the README).
//!
//! `cargo bench -p s1-core --bench allocations`

mod pages;

use std::alloc::System;
use std::hint::black_box;

use s1_core::custom_fields::apply_tags_to_custom_fields;
use s1_core::mapping::{assets_from_agents, findings_from_threats};
use s1_core::records::{decode_agents_page, decode_threats_page};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Runs `f` once and prints the allocations (reallocations included) and bytes it asked for, per record.
fn count<T>(label: &str, records: usize, f: impl FnOnce() -> T) {
    let region = Region::new(GLOBAL);
    let out = black_box(f());
    let stats = region.change();
    drop(out);
    let per = |v: usize| v as f64 / records as f64;
    println!(
        "{label:<42} allocations/record {:>7.1}   bytes/record {:>8.0}",
        per(stats.allocations + stats.reallocations),
        per(stats.bytes_allocated + stats.bytes_reallocated.max(0) as usize)
    );
}

fn main() {
    let settings = pages::settings();
    let defs = pages::custom_fields();
    let agent_body = pages::agents_page();
    let threat_body = pages::threats_page();
    let agents = decode_agents_page(&agent_body)
        .expect("agents page")
        .records;
    let threats = decode_threats_page(&threat_body)
        .expect("threats page")
        .records;
    let n = pages::PAGE;

    count("decode agents page (JSON -> records)", n, || {
        decode_agents_page(&agent_body)
    });
    count("map agents (assets_from_agents)", n, || {
        assets_from_agents(&agents, &settings)
    });
    count("map agents + tags to custom fields", n, || {
        let mut assets = assets_from_agents(&agents, &settings);
        for a in &mut assets {
            apply_tags_to_custom_fields(a, &defs);
        }
        assets
    });
    count("yardstick: clone decoded agents", n, || agents.clone());
    count("decode threats page (JSON -> records)", n, || {
        decode_threats_page(&threat_body)
    });
    count("map threats (findings_from_threats)", n, || {
        findings_from_threats(&threats, &settings)
    });
    count("yardstick: clone decoded threats", n, || threats.clone());
}
