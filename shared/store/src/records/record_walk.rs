//! Walking one kind of a tenant's records (findings or vulnerabilities) page by page across its record partitions,
//! with a position that fits in a string (a checkpoint field, a digest marker attribute, a migration's output).
//!
//! The position of the legacy layout is the last sort key read, exactly as before layouts existed, so a position
//! stored then stays valid; a spread tenant's is `<nn>#<last sort key>` (`<nn>#` at the start of shard `nn`). A
//! position that is not a spread one (saved before the tenant's records moved to shards) restarts the walk: every
//! walk that keeps one (re-evaluation, the digests' pass) is idempotent, so redoing pages loses nothing.

use crate::batch::Item;
use crate::error::Result;
use crate::keys::{RecordLayout, TenantId};
use crate::store::Store;
use crate::views::Query;

/// Where a walk of a tenant's records resumes: a shard and, within it, the last sort key read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WalkPosition {
    shard: u32,
    after: Option<String>,
}

impl WalkPosition {
    fn parse(layout: RecordLayout, at: Option<&str>) -> Self {
        let start = Self {
            shard: 0,
            after: None,
        };
        let Some(at) = at else {
            return start;
        };
        if layout == RecordLayout::LEGACY {
            return Self {
                shard: 0,
                after: Some(at.to_string()),
            };
        }
        let parsed = at.split_once('#').and_then(|(shard, after)| {
            let shard: u32 = shard.parse().ok().filter(|s| *s < layout.shards())?;
            Some(Self {
                shard,
                after: (!after.is_empty()).then(|| after.to_string()),
            })
        });
        parsed.unwrap_or_else(|| {
            tracing::warn!(position = %at, "a record walk position from another layout: the walk restarts");
            start
        })
    }

    fn render(&self, layout: RecordLayout) -> String {
        match layout == RecordLayout::LEGACY {
            true => self.after.clone().unwrap_or_default(),
            false => format!(
                "{:02}#{}",
                self.shard,
                self.after.as_deref().unwrap_or_default()
            ),
        }
    }
}

impl Store {
    /// One page (at most `limit` items) of `q` (a record prefix of the tenant's partition, with its projection)
    /// in the tenant's record partitions, from `at` (`None`: the first). Returns the page and where the next one
    /// starts (`None`: the walk is done). A shard's end costs one page (maybe empty), so a walk of a spread tenant
    /// takes at least one call per shard.
    pub(crate) async fn record_walk_page(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        q: &Query,
        at: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Item>, Option<String>)> {
        let pos = WalkPosition::parse(layout, at);
        let pk = layout.record_partitions(tenant)[pos.shard as usize].clone();
        let q = q.clone().in_partition(pk.clone());
        let start = pos.after.clone().map(|sk| Store::key(pk, sk));
        let (items, last) = self.query_once(&q, start, Some(limit)).await?;
        let last_sk = last
            .and_then(|mut k| k.remove("sk"))
            .and_then(|v| v.as_s().ok().cloned());
        let next = match last_sk {
            Some(sk) => Some(WalkPosition {
                shard: pos.shard,
                after: Some(sk),
            }),
            None if pos.shard + 1 < layout.shards() => Some(WalkPosition {
                shard: pos.shard + 1,
                after: None,
            }),
            None => None,
        };
        Ok((items, next.map(|p| p.render(layout))))
    }

    /// Every item `q` (a record prefix of the tenant's partition) matches in the tenant's record partitions, shard
    /// by shard, handed to `each` a query page at a time.
    pub(crate) async fn record_query_each<F>(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        q: &Query,
        mut each: F,
    ) -> Result<()>
    where
        F: FnMut(Vec<Item>) -> Result<()>,
    {
        for pk in layout.record_partitions(tenant) {
            self.query_each(&q.clone().in_partition(pk), &mut each)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_positions_are_plain_sort_keys() {
        let p = WalkPosition::parse(RecordLayout::LEGACY, Some("FINDING#a"));
        assert_eq!(p.shard, 0);
        assert_eq!(p.render(RecordLayout::LEGACY), "FINDING#a");
    }

    #[test]
    fn spread_positions_name_their_shard() {
        let s = RecordLayout::SPREAD;
        let p = WalkPosition::parse(s, Some("07#FINDING#a"));
        assert_eq!((p.shard, p.after.as_deref()), (7, Some("FINDING#a")));
        assert_eq!(p.render(s), "07#FINDING#a");
        let start = WalkPosition::parse(s, Some("03#"));
        assert_eq!((start.shard, start.after), (3, None));
        let first = WalkPosition {
            shard: 0,
            after: None,
        };
        assert_eq!(WalkPosition::parse(s, Some("16#")), first);
        assert_eq!(
            WalkPosition::parse(s, Some("FINDING#a")),
            first,
            "a legacy position restarts a spread walk"
        );
    }
}
