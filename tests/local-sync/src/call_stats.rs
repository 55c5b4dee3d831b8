//! `LOCAL_SYNC_CALL_STATS=1`: where the main command's DynamoDB time goes. The test suites' call counter
//! (`test_support::counting`) counts each operation's requests (every attempt) and sums their round trips (sent to
//! response, so calls in flight at once each count their own wait); printed to standard error as one JSON line
//! when the run ends.

use serde_json::{json, Value};
use test_support::counting::CallsSnapshot;

/// `{operation: {calls, ms}}`, and the totals.
pub fn summary(calls: &CallsSnapshot) -> Value {
    let ops: serde_json::Map<String, Value> = calls
        .by_operation
        .iter()
        .map(|(op, n)| {
            let ms = calls
                .round_trips
                .get(op)
                .map_or(0, |t| t.as_millis() as u64);
            (op.clone(), json!({"calls": n, "ms": ms}))
        })
        .collect();
    let ms: u128 = calls.round_trips.values().map(|t| t.as_millis()).sum();
    json!({"dynamodb": ops, "calls": calls.calls(), "ms": ms as u64})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_operation_shows_its_calls_and_summed_round_trips() {
        let calls = CallsSnapshot {
            by_operation: [("Query".to_string(), 3), ("PutItem".to_string(), 1)].into(),
            round_trips: [("Query".to_string(), Duration::from_millis(1_500))].into(),
            ..CallsSnapshot::default()
        };
        assert_eq!(
            summary(&calls),
            json!({"dynamodb": {"PutItem": {"calls": 1, "ms": 0}, "Query": {"calls": 3, "ms": 1500}},
                   "calls": 4, "ms": 1500})
        );
    }
}
