//! `LOCAL_SYNC_CALL_STATS=1`: where the main command's DynamoDB time goes. An SDK interceptor counts each
//! operation's requests (every attempt) and sums their round trips (sent to response, so calls in flight at once
//! each count their own wait); printed to standard error as one JSON line when the run ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::{json, Value};

#[derive(Debug, Default)]
struct State {
    /// Requests on the wire: operation and when it was sent, by the address of the call's config bag. Each call
    /// has its own bag, which stays in place (in the call's pinned future) from before transmit to after the
    /// attempt; the serialised request itself is no longer in the context once sent.
    open: HashMap<usize, (String, Instant)>,
    /// Requests and summed round trips, by operation.
    done: BTreeMap<String, (u64, Duration)>,
}

#[derive(Debug, Clone, Default)]
pub struct CallStats(Arc<Mutex<State>>);

fn header<'a>(req: &'a aws_sdk_dynamodb::config::http::HttpRequest, name: &str) -> &'a str {
    req.headers().get(name).unwrap_or("")
}

impl CallStats {
    /// A client like `client` whose calls these figures count.
    pub fn client(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        let conf = client
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// `{operation: {calls, ms}}`, and the totals.
    pub fn summary(&self) -> Value {
        let Ok(s) = self.0.lock() else {
            return Value::Null;
        };
        let mut ops = serde_json::Map::new();
        let (mut calls, mut time) = (0, Duration::ZERO);
        for (op, (n, t)) in &s.done {
            ops.insert(op.clone(), json!({"calls": n, "ms": t.as_millis() as u64}));
            calls += n;
            time += *t;
        }
        json!({"dynamodb": ops, "calls": calls, "ms": time.as_millis() as u64})
    }
}

impl Intercept for CallStats {
    fn name(&self) -> &'static str {
        "local-sync call stats"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        // The JSON protocol names the operation in X-Amz-Target ("DynamoDB_20120810.<Operation>").
        let op = header(req, "x-amz-target")
            .rsplit('.')
            .next()
            .unwrap_or("unknown");
        let id = std::ptr::from_ref::<ConfigBag>(cfg) as usize;
        if let Ok(mut s) = self.0.lock() {
            s.open.insert(id, (op.to_string(), Instant::now()));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let id = std::ptr::from_ref::<ConfigBag>(cfg) as usize;
        if let Ok(mut s) = self.0.lock() {
            if let Some((op, sent)) = s.open.remove(&id) {
                let entry = s.done.entry(op).or_default();
                entry.0 += 1;
                entry.1 += sent.elapsed();
            }
        }
        Ok(())
    }
}
