//! An SDK interceptor that counts what a client sends, for suites and benchmarks that show a cost by counting calls
//! rather than by timing them (counts do not depend on the machine's load). One [`Calls`] can be shared by several
//! clients (DynamoDB and SQS speak the same JSON protocol); each client's [`CallCounter`] labels its operations.

use std::collections::BTreeMap;
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
        CallsSnapshot {
            by_operation,
            max_in_flight: self.max_in_flight,
            busy: self.busy.saturating_sub(before.busy),
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
        _: &mut ConfigBag,
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
            *s.by_operation.entry(key).or_default() += 1;
            s.sent.extend(sent);
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
