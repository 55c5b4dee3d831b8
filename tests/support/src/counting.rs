//! An SDK interceptor that counts what a client sends, for suites and benchmarks that show a cost by counting calls
//! rather than by timing them (counts do not depend on the machine's load). One [`Calls`] can be shared by several
//! clients (DynamoDB and SQS speak the same JSON protocol); each client's [`CallCounter`] labels its operations.
//! Each operation's round trips are summed too (sent to response, so calls in flight at once each count their own
//! wait), for the main command's `LOCAL_SYNC_CALL_STATS`: where a run's store time goes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

#[derive(Debug, Default)]
struct State {
    by_operation: BTreeMap<String, u64>,
    in_flight: u64,
    max_in_flight: u64,
    busy_since: Option<Instant>,
    busy: Duration,
    sent: Vec<String>,
    /// Requests on the wire: operation and when it was sent, by the address of the call's config bag. Each call
    /// has its own bag, which stays in place (in the call's pinned future) from before transmit to after the
    /// attempt; the serialised request itself is no longer in the context once sent.
    open: HashMap<usize, (String, Instant)>,
    round_trips: BTreeMap<String, Duration>,
}

/// What the counters saw, shared between the interceptors and the test.
#[derive(Debug, Default)]
pub struct Calls {
    state: Mutex<State>,
}

/// The figures at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallsSnapshot {
    /// Requests sent (each attempt, so retries count), by `<label>:<Operation>` (`<Operation>` without a label).
    pub by_operation: BTreeMap<String, u64>,
    /// The most operations in flight at once.
    pub max_in_flight: u64,
    /// The time during which at least one operation was in flight (the union of their intervals, so concurrent
    /// calls are not counted twice).
    pub busy: Duration,
    /// Round trips summed by operation (keyed like `by_operation`).
    pub round_trips: BTreeMap<String, Duration>,
}

impl CallsSnapshot {
    /// What happened between `before` and this snapshot (`max_in_flight` is this snapshot's).
    pub fn since(&self, before: &CallsSnapshot) -> CallsSnapshot {
        let by_operation = self
            .by_operation
            .iter()
            .filter_map(|(op, n)| {
                let d = n - before.by_operation.get(op).copied().unwrap_or_default();
                (d > 0).then(|| (op.clone(), d))
            })
            .collect();
        let round_trips = self
            .round_trips
            .iter()
            .filter_map(|(op, t)| {
                let d = t.saturating_sub(before.round_trips.get(op).copied().unwrap_or_default());
                (!d.is_zero()).then(|| (op.clone(), d))
            })
            .collect();
        CallsSnapshot {
            by_operation,
            max_in_flight: self.max_in_flight,
            busy: self.busy.saturating_sub(before.busy),
            round_trips,
        }
    }

    pub fn calls(&self) -> u64 {
        self.by_operation.values().sum()
    }

    /// `Op=calls` for each operation.
    pub fn describe(&self) -> String {
        self.by_operation
            .iter()
            .map(|(op, n)| format!("{op}={n}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Calls {
    pub fn snapshot(&self) -> CallsSnapshot {
        let Ok(s) = self.state.lock() else {
            return CallsSnapshot::default();
        };
        let open = s.busy_since.map(|t| t.elapsed()).unwrap_or_default();
        CallsSnapshot {
            by_operation: s.by_operation.clone(),
            max_in_flight: s.max_in_flight,
            busy: s.busy + open,
            round_trips: s.round_trips.clone(),
        }
    }

    /// Every message body of every `SendMessageBatch` request, as sent.
    pub fn sent_messages(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.sent.clone())
            .unwrap_or_default()
    }
}

/// The interceptor of one client; `label` prefixes its operations (empty: none).
#[derive(Debug, Clone)]
pub struct CallCounter {
    calls: Arc<Calls>,
    label: &'static str,
}

impl CallCounter {
    pub fn new(calls: Arc<Calls>, label: &'static str) -> Self {
        Self { calls, label }
    }

    /// A DynamoDB client like `client` whose calls this counter counts.
    pub fn dynamodb_client(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        let conf = client
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }
}

/// The address of a call's config bag: the same from before transmit to after the attempt.
fn call_id(cfg: &ConfigBag) -> usize {
    std::ptr::from_ref::<ConfigBag>(cfg) as usize
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "test-support call counter"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut s) = self.calls.state.lock() {
            if s.in_flight == 0 {
                s.busy_since = Some(Instant::now());
            }
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Both services use the JSON protocol: the operation is named in X-Amz-Target ("<Service>.<Operation>").
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown");
        let key = if self.label.is_empty() {
            op.to_string()
        } else {
            format!("{}:{op}", self.label)
        };
        let sent: Vec<String> = if op == "SendMessageBatch" {
            let body: serde_json::Value = context
                .request()
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            body["Entries"]
                .as_array()
                .map(|entries| {
                    entries
                        .iter()
                        .filter_map(|e| e["MessageBody"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if let Ok(mut s) = self.calls.state.lock() {
            *s.by_operation.entry(key.clone()).or_default() += 1;
            s.sent.extend(sent);
            s.open.insert(call_id(cfg), (key, Instant::now()));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut s) = self.calls.state.lock() {
            if let Some((op, sent)) = s.open.remove(&call_id(cfg)) {
                *s.round_trips.entry(op).or_default() += sent.elapsed();
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut s) = self.calls.state.lock() {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                if let Some(since) = s.busy_since.take() {
                    s.busy += since.elapsed();
                }
            }
        }
        Ok(())
    }
}
