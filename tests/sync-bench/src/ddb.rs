//! Counts and times every DynamoDB call the store makes (batch and direct: lease/checkpoint, runs, finalize's
//! queries), through an SDK interceptor, so a phase's wall can be split into time waiting on DynamoDB and the rest.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

#[derive(Default, Debug)]
struct State {
    in_flight: usize,
    busy_since: Option<Instant>,
    busy: Duration,
    per_op: BTreeMap<&'static str, u64>,
}

/// Per operation: calls; overall: `busy`, the time during which at least one call was in flight (the union of the
/// calls' intervals, so concurrent calls are not double-counted).
#[derive(Default, Debug)]
pub struct DdbTimes {
    state: Mutex<State>,
}

#[derive(Clone, Default)]
pub struct DdbSnapshot {
    pub busy: Duration,
    pub per_op: BTreeMap<&'static str, u64>,
}

impl DdbSnapshot {
    pub fn since(&self, before: &DdbSnapshot) -> DdbSnapshot {
        let mut per_op = BTreeMap::new();
        for (op, n) in &self.per_op {
            let n0 = before.per_op.get(op).copied().unwrap_or_default();
            if n - n0 > 0 {
                per_op.insert(*op, n - n0);
            }
        }
        DdbSnapshot {
            busy: self.busy.saturating_sub(before.busy),
            per_op,
        }
    }

    pub fn calls(&self) -> u64 {
        self.per_op.values().sum()
    }

    /// `Op=calls` for each operation.
    pub fn describe(&self) -> String {
        self.per_op
            .iter()
            .map(|(op, n)| format!("{op}={n}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl DdbTimes {
    pub fn snapshot(&self) -> DdbSnapshot {
        let Ok(s) = self.state.lock() else {
            return DdbSnapshot::default();
        };
        let open = s.busy_since.map(|t| t.elapsed()).unwrap_or_default();
        DdbSnapshot {
            busy: s.busy + open,
            per_op: s.per_op.clone(),
        }
    }
}

/// The interceptor: shares its figures with the bench through an `Arc<DdbTimes>`.
#[derive(Debug, Clone)]
pub struct Timing(pub std::sync::Arc<DdbTimes>);

fn op_name(ctx: &BeforeSerializationInterceptorContextRef<'_>) -> &'static str {
    use aws_sdk_dynamodb::operation as op;
    let input = ctx.input();
    macro_rules! is {
        ($($t:ty => $name:literal),* $(,)?) => {
            $(if input.downcast_ref::<$t>().is_some() { return $name; })*
        };
    }
    is!(
        op::batch_get_item::BatchGetItemInput => "BatchGetItem",
        op::batch_write_item::BatchWriteItemInput => "BatchWriteItem",
        op::get_item::GetItemInput => "GetItem",
        op::put_item::PutItemInput => "PutItem",
        op::update_item::UpdateItemInput => "UpdateItem",
        op::delete_item::DeleteItemInput => "DeleteItem",
        op::query::QueryInput => "Query",
        op::transact_write_items::TransactWriteItemsInput => "TransactWriteItems",
        op::create_table::CreateTableInput => "CreateTable",
        op::describe_table::DescribeTableInput => "DescribeTable",
    );
    "other"
}

impl Intercept for Timing {
    fn name(&self) -> &'static str {
        "sync-bench-timing"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let now = Instant::now();
        let op = op_name(context);
        if let Ok(mut s) = self.0.state.lock() {
            if s.in_flight == 0 {
                s.busy_since = Some(now);
            }
            s.in_flight += 1;
            *s.per_op.entry(op).or_default() += 1;
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let now = Instant::now();
        if let Ok(mut s) = self.0.state.lock() {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                if let Some(since) = s.busy_since.take() {
                    s.busy += now - since;
                }
            }
        }
        Ok(())
    }
}
