//! The per-tenant request bucket on the local stack: a burst passes, the next request is refused with the wait
//! until a token is back, the bucket refills with time, and one tenant's bucket never limits another.

mod common;

use std::time::Duration;

use common::{env, tenant};
use connector_store::{Admission, RateLimit};

const SECOND: i64 = 1_000_000;

#[tokio::test]
async fn a_tenant_over_its_burst_waits_for_a_token_and_other_tenants_do_not() {
    let env = env().await;
    // One request every 10 s, three at once.
    let limit = RateLimit::new(0.1, 3).expect("limit");
    let (busy, quiet) = (tenant("rate-busy"), tenant("rate-quiet"));
    let t0 = 1_900_000_000 * SECOND;
    for i in 0..3 {
        assert_eq!(
            env.store
                .admit_request_at(&busy, &limit, t0 + i)
                .await
                .expect("admit"),
            Admission::Allowed,
            "request {i} of the burst"
        );
    }
    let refused = env
        .store
        .admit_request_at(&busy, &limit, t0 + 3)
        .await
        .expect("admit");
    let Admission::Limited { retry_after } = refused else {
        panic!("the fourth request at once must be limited, got {refused:?}");
    };
    // The first token comes back one interval (10 s) after the burst began.
    assert!(
        retry_after > Duration::from_secs(9) && retry_after <= Duration::from_secs(10),
        "{retry_after:?}"
    );
    // Another tenant's bucket is its own.
    assert_eq!(
        env.store
            .admit_request_at(&quiet, &limit, t0 + 4)
            .await
            .expect("admit"),
        Admission::Allowed
    );
    // A refused request took nothing: after the wait exactly one more passes, then the bucket is empty again.
    let later = t0 + 3 + retry_after.as_micros() as i64;
    assert_eq!(
        env.store
            .admit_request_at(&busy, &limit, later)
            .await
            .expect("admit"),
        Admission::Allowed
    );
    assert!(matches!(
        env.store
            .admit_request_at(&busy, &limit, later + 1)
            .await
            .expect("admit"),
        Admission::Limited { .. }
    ));
    // After a long quiet spell the whole burst is back, not more.
    let quiet_spell = later + 3600 * SECOND;
    for i in 0..3 {
        assert_eq!(
            env.store
                .admit_request_at(&busy, &limit, quiet_spell + i)
                .await
                .expect("admit"),
            Admission::Allowed
        );
    }
    assert!(matches!(
        env.store
            .admit_request_at(&busy, &limit, quiet_spell + 3)
            .await
            .expect("admit"),
        Admission::Limited { .. }
    ));
}
