//! Faults on demand: rules a test arms to make the simulated console misbehave, and the counters
//! that let the test assert exactly how many of each were served.
//!
//! Every rule counts the requests it applies to (optionally only one path) and fires on the ones
//! its [`Trigger`] selects. Faults are decided before authentication, like an overloaded edge in
//! front of the real console. When two rules fire on the same request the earlier-added one is
//! served and the later one is neither served nor counted (latency always adds up).
//!
//! Besides outright failures, two faults reproduce how live consoles misbehave while answering 200:
//! [`Fault::EmptyPageWithCursor`] (an empty `data` that still carries a `nextCursor`) and the 429
//! storm that starts late in a sync and never lets up ([`Trigger::From`], [`Trigger::AfterDelay`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::lock;

/// How a 429 tells the client to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP-date>` that many seconds after the response is sent.
    HttpDate { seconds_from_now: u64 },
}

/// One kind of misbehaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with the errors envelope, with or without `Retry-After`.
    TooManyRequests { retry_after: Option<RetryAfter> },
    /// A 5xx (500, 502, 503, ...) with the errors envelope.
    ServerError { status: u16 },
    /// Delay the (otherwise normal) response.
    Latency(Duration),
    /// Drop the TCP connection with a reset before any byte of the response is sent.
    ConnectionReset,
    /// Send the real response's headers (with its full Content-Length) and half its body, then close.
    TruncatedBody,
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// A list response without its `pagination` object (list endpoints only).
    MissingPagination,
    /// The cursor of the request is treated as expired: 400 Validation Error, and the cursor is
    /// dead from then on (requests that carry a cursor only).
    CursorExpiry,
    /// A list response `{"data":[],"pagination":{"nextCursor":<cursor>,"totalItems":<the normal
    /// total>}}` instead of the real page (list endpoints only). The cursor is a fresh, valid one
    /// that resumes exactly where the request asked to start, so a client that follows it, or
    /// retries the same request, loses nothing; a client that takes the empty `data` as the end
    /// of the listing stops early. A `countOnly=true` request it fires on is answered normally
    /// (it has no page to empty) but still counted.
    EmptyPageWithCursor,
}

impl Fault {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::ServerError { .. } => "server_error",
            Self::Latency(_) => "latency",
            Self::ConnectionReset => "connection_reset",
            Self::TruncatedBody => "truncated_body",
            Self::InvalidJson => "invalid_json",
            Self::MissingPagination => "missing_pagination",
            Self::CursorExpiry => "cursor_expiry",
            Self::EmptyPageWithCursor => "empty_page_with_cursor",
        }
    }
}

/// Which of the requests a rule applies to it fires on (counting from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Requests n, 2n, 3n, ... (`EveryNth(1)` is every request).
    EveryNth(u32),
    /// Requests `after + 1 ..= after + count`, then never again.
    Burst { after: u32, count: u32 },
    /// Every request from `after + 1` on, forever: a console that starts refusing part-way
    /// through a sync and does not recover before the invocation ends.
    From { after: u32 },
    /// Every request that arrives at least this long after the rule was added: the same storm,
    /// timed by the clock rather than by a request count (e.g. to land near the end of a
    /// Lambda invocation whatever the paging pace).
    AfterDelay(Duration),
}

impl Trigger {
    /// `seen` counts the requests the rule applied to, this one included; `armed_for` is how long
    /// ago the rule was added.
    fn fires(self, seen: u64, armed_for: Duration) -> bool {
        match self {
            Self::EveryNth(0) => false,
            Self::EveryNth(n) => seen.is_multiple_of(u64::from(n)),
            Self::Burst { after, count } => {
                seen > u64::from(after) && seen <= u64::from(after) + u64::from(count)
            }
            Self::From { after } => seen > u64::from(after),
            Self::AfterDelay(delay) => armed_for >= delay,
        }
    }
}

/// A fault, when it fires, and optionally the one path it applies to (`"agents"` or
/// `"/web/api/v2.1/agents"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub fault: Fault,
    pub trigger: Trigger,
    pub path: Option<String>,
}

impl FaultRule {
    pub fn new(fault: Fault, trigger: Trigger) -> Self {
        Self {
            fault,
            trigger,
            path: None,
        }
    }

    pub fn on_path(mut self, path: &str) -> Self {
        self.path = Some(normalise_path(path).to_owned());
        self
    }
}

/// Identifies an armed rule, to read its own count or remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultId(u64);

/// How many faults of each kind were served since the simulator started (or `reset_counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub too_many_requests: u64,
    /// 429s from the configured rate limit (`SimConfig::rate_limit_per_sec`), not from rules.
    pub rate_limited: u64,
    pub server_errors: u64,
    pub latency: u64,
    pub connection_resets: u64,
    pub truncated_bodies: u64,
    pub invalid_json: u64,
    pub missing_pagination: u64,
    pub cursor_expiries: u64,
    pub empty_pages_with_cursor: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.too_many_requests
            + self.rate_limited
            + self.server_errors
            + self.latency
            + self.connection_resets
            + self.truncated_bodies
            + self.invalid_json
            + self.missing_pagination
            + self.cursor_expiries
            + self.empty_pages_with_cursor
    }

    fn bump(&mut self, fault: &Fault) {
        let slot = match fault {
            Fault::TooManyRequests { .. } => &mut self.too_many_requests,
            Fault::ServerError { .. } => &mut self.server_errors,
            Fault::Latency(_) => &mut self.latency,
            Fault::ConnectionReset => &mut self.connection_resets,
            Fault::TruncatedBody => &mut self.truncated_bodies,
            Fault::InvalidJson => &mut self.invalid_json,
            Fault::MissingPagination => &mut self.missing_pagination,
            Fault::CursorExpiry => &mut self.cursor_expiries,
            Fault::EmptyPageWithCursor => &mut self.empty_pages_with_cursor,
        };
        *slot += 1;
    }
}

#[derive(Debug)]
struct ArmedRule {
    id: FaultId,
    rule: FaultRule,
    armed_at: Instant,
    seen: u64,
    served: u64,
}

#[derive(Debug, Default)]
struct PlanState {
    next_id: u64,
    rules: Vec<ArmedRule>,
    counts: FaultCounts,
}

/// The simulator's fault plan. Cloning shares it: arm rules from a test while the server runs.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    inner: Arc<Mutex<PlanState>>,
}

/// What the request at hand is, as far as rule applicability goes.
pub(crate) struct RequestShape<'a> {
    pub path: &'a str,
    pub has_cursor: bool,
    pub is_list: bool,
}

/// The faults decided for one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub latency: Duration,
    pub fault: Option<Fault>,
}

pub(crate) fn normalise_path(path: &str) -> &str {
    let p = path.strip_prefix("/web/api/v2.1").unwrap_or(path);
    p.trim_matches('/')
}

impl FaultPlan {
    /// Arms a rule; it applies from the next request on.
    pub fn add(&self, rule: FaultRule) -> FaultId {
        let mut s = lock(&self.inner);
        s.next_id += 1;
        let id = FaultId(s.next_id);
        s.rules.push(ArmedRule {
            id,
            rule,
            armed_at: Instant::now(),
            seen: 0,
            served: 0,
        });
        id
    }

    pub fn remove(&self, id: FaultId) {
        lock(&self.inner).rules.retain(|r| r.id != id);
    }

    /// Disarms every rule (counts are kept).
    pub fn clear(&self) {
        lock(&self.inner).rules.clear();
    }

    pub fn reset_counts(&self) {
        let mut s = lock(&self.inner);
        s.counts = FaultCounts::default();
        for r in &mut s.rules {
            r.served = 0;
        }
    }

    pub fn counts(&self) -> FaultCounts {
        lock(&self.inner).counts
    }

    /// How many times one rule fired (0 once removed).
    pub fn served(&self, id: FaultId) -> u64 {
        lock(&self.inner)
            .rules
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.served)
    }

    /// 429 on every `n`th request.
    pub fn too_many_requests_every(&self, n: u32, retry_after: Option<RetryAfter>) -> FaultId {
        self.add(FaultRule::new(
            Fault::TooManyRequests { retry_after },
            Trigger::EveryNth(n),
        ))
    }

    /// 429 on every request after the first `after` untouched ones, until the rule is removed.
    pub fn too_many_requests_from(&self, after: u32, retry_after: Option<RetryAfter>) -> FaultId {
        self.add(FaultRule::new(
            Fault::TooManyRequests { retry_after },
            Trigger::From { after },
        ))
    }

    /// [`Self::too_many_requests_from`] on one path only (`"agents"`, `"threats"`, ...).
    pub fn too_many_requests_from_on(
        &self,
        path: &str,
        after: u32,
        retry_after: Option<RetryAfter>,
    ) -> FaultId {
        self.add(
            FaultRule::new(
                Fault::TooManyRequests { retry_after },
                Trigger::From { after },
            )
            .on_path(path),
        )
    }

    /// 429 on every request from `delay` after this call on, until the rule is removed.
    pub fn too_many_requests_after_delay(
        &self,
        delay: Duration,
        retry_after: Option<RetryAfter>,
    ) -> FaultId {
        self.add(FaultRule::new(
            Fault::TooManyRequests { retry_after },
            Trigger::AfterDelay(delay),
        ))
    }

    /// [`Self::too_many_requests_after_delay`] on one path only.
    pub fn too_many_requests_after_delay_on(
        &self,
        path: &str,
        delay: Duration,
        retry_after: Option<RetryAfter>,
    ) -> FaultId {
        self.add(
            FaultRule::new(
                Fault::TooManyRequests { retry_after },
                Trigger::AfterDelay(delay),
            )
            .on_path(path),
        )
    }

    /// `count` 429s in a row after `after` untouched requests.
    pub fn too_many_requests_burst(
        &self,
        after: u32,
        count: u32,
        retry_after: Option<RetryAfter>,
    ) -> FaultId {
        self.add(FaultRule::new(
            Fault::TooManyRequests { retry_after },
            Trigger::Burst { after, count },
        ))
    }

    pub fn server_error_every(&self, n: u32, status: u16) -> FaultId {
        self.add(FaultRule::new(
            Fault::ServerError { status },
            Trigger::EveryNth(n),
        ))
    }

    pub fn server_error_burst(&self, after: u32, count: u32, status: u16) -> FaultId {
        self.add(FaultRule::new(
            Fault::ServerError { status },
            Trigger::Burst { after, count },
        ))
    }

    /// Delays every response by `delay`.
    pub fn latency(&self, delay: Duration) -> FaultId {
        self.add(FaultRule::new(Fault::Latency(delay), Trigger::EveryNth(1)))
    }

    pub fn connection_reset_every(&self, n: u32) -> FaultId {
        self.add(FaultRule::new(Fault::ConnectionReset, Trigger::EveryNth(n)))
    }

    pub fn truncated_body_every(&self, n: u32) -> FaultId {
        self.add(FaultRule::new(Fault::TruncatedBody, Trigger::EveryNth(n)))
    }

    pub fn invalid_json_every(&self, n: u32) -> FaultId {
        self.add(FaultRule::new(Fault::InvalidJson, Trigger::EveryNth(n)))
    }

    pub fn missing_pagination_every(&self, n: u32) -> FaultId {
        self.add(FaultRule::new(
            Fault::MissingPagination,
            Trigger::EveryNth(n),
        ))
    }

    /// The next request that carries a cursor is answered 400 as if the cursor had expired.
    pub fn expire_next_cursor(&self) -> FaultId {
        self.add(FaultRule::new(
            Fault::CursorExpiry,
            Trigger::Burst { after: 0, count: 1 },
        ))
    }

    /// `count` empty pages with a cursor ([`Fault::EmptyPageWithCursor`]) after `after` untouched
    /// list requests.
    pub fn empty_page_with_cursor(&self, after: u32, count: u32) -> FaultId {
        self.add(FaultRule::new(
            Fault::EmptyPageWithCursor,
            Trigger::Burst { after, count },
        ))
    }

    /// [`Self::empty_page_with_cursor`] on one list path only (`"agents"`, `"threats"`, `"groups"`).
    pub fn empty_page_with_cursor_on(&self, path: &str, after: u32, count: u32) -> FaultId {
        self.add(
            FaultRule::new(Fault::EmptyPageWithCursor, Trigger::Burst { after, count })
                .on_path(path),
        )
    }

    pub(crate) fn count_rate_limited(&self) {
        lock(&self.inner).counts.rate_limited += 1;
    }

    pub(crate) fn decide(&self, req: &RequestShape<'_>) -> Decision {
        let mut s = lock(&self.inner);
        let path = normalise_path(req.path);
        let mut decision = Decision::default();
        let mut fired: Vec<Fault> = Vec::new();
        for r in &mut s.rules {
            if r.rule.path.as_deref().is_some_and(|p| p != path) {
                continue;
            }
            let applies = match r.rule.fault {
                Fault::CursorExpiry => req.has_cursor,
                Fault::MissingPagination | Fault::EmptyPageWithCursor => req.is_list,
                _ => true,
            };
            if !applies {
                continue;
            }
            r.seen += 1;
            if !r.rule.trigger.fires(r.seen, r.armed_at.elapsed()) {
                continue;
            }
            match &r.rule.fault {
                Fault::Latency(d) => {
                    decision.latency += *d;
                    r.served += 1;
                    fired.push(r.rule.fault.clone());
                }
                other if decision.fault.is_none() => {
                    decision.fault = Some(other.clone());
                    r.served += 1;
                    fired.push(other.clone());
                }
                _ => {}
            }
        }
        for f in &fired {
            s.counts.bump(f);
        }
        decision
    }
}
