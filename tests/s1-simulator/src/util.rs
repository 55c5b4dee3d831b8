//! Small building blocks shared by the generator and the server: a deterministic PRNG, timestamp
//! formatting in the console's exact style, and id ordering.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// SplitMix64: tiny, fast and stable forever. `rand`'s `StdRng` may change algorithm between
/// releases, which would silently change every generated tenant; a seed must mean the same tenant.
#[derive(Debug, Clone)]
pub(crate) struct SeededRng(u64);

impl SeededRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the tiny modulo bias is irrelevant for test data.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next_u64() % n
    }

    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64) as i64
    }

    /// True with probability `pct` percent.
    pub(crate) fn chance(&mut self, pct: u32) -> bool {
        self.below(10_000) < u64::from(pct) * 100
    }

    /// True with probability `permille` per thousand.
    pub(crate) fn permille(&mut self, permille: u32) -> bool {
        self.below(1000) < u64::from(permille)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub(crate) fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut roll = self.below(total);
        for (item, w) in items {
            let w = u64::from(*w);
            if roll < w {
                return item;
            }
            roll -= w;
        }
        &items[items.len() - 1].0
    }

    pub(crate) fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            let _ = write!(s, "{:016x}", self.next_u64());
        }
        s.truncate(len);
        s
    }
}

/// Microseconds since the Unix epoch: the console's timestamp resolution.
pub(crate) type Micros = i64;

/// `2018-02-27T04:49:26.257525Z`: ISO-8601 UTC with exactly six fractional digits, as the console
/// writes `createdAt`/`updatedAt`.
pub(crate) fn fmt_micros(us: Micros) -> String {
    let mut s = String::with_capacity(27);
    write_micros(&mut s, us);
    s
}

/// Writes [`fmt_micros`]'s form straight into `out`. Hand-rolled because the generator writes tens
/// of timestamps per threat and `time`'s formatting dominated debug-build test time.
pub(crate) fn write_micros(out: &mut String, us: Micros) {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    if !(0..=9999).contains(&y) {
        let dt = to_datetime(us);
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.microsecond()
        );
        return;
    }
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, sod / 3600);
    put(14, 2, sod % 3600 / 60);
    put(17, 2, sod % 60);
    put(20, 6, frac);
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2019-06-27T08:00:31Z`: the whole-second form the console uses for `osStartTime`.
pub(crate) fn fmt_seconds(us: Micros) -> String {
    let dt = to_datetime(us);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

fn to_datetime(us: Micros) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Parses an ISO-8601/RFC 3339 timestamp (with or without fraction) into microseconds.
pub(crate) fn parse_timestamp(s: &str) -> Option<Micros> {
    let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(dt.unix_timestamp_nanos() / 1000).ok()
}

pub(crate) fn datetime_to_micros(dt: OffsetDateTime) -> Micros {
    i64::try_from(dt.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

pub(crate) fn micros_to_datetime(us: Micros) -> OffsetDateTime {
    to_datetime(us)
}

/// Ids are decimal integers serialised as strings; ordering them by (length, text) equals numeric
/// order without parsing, and still gives a total order for anything odd a test seeds.
pub(crate) fn cmp_ids(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// FNV-1a: a stable fingerprint for cursor filter sets (std's hasher is randomly keyed per process).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The simulator holds its state behind std locks; a panicking test thread must not make every
/// later request fail, so a poisoned lock is simply taken over.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_console() {
        let us = parse_timestamp("2018-02-27T04:49:26.257525Z").unwrap();
        assert_eq!(fmt_micros(us), "2018-02-27T04:49:26.257525Z");
        assert_eq!(fmt_seconds(us), "2018-02-27T04:49:26Z");
        let whole = parse_timestamp("2019-06-27T08:00:31Z").unwrap();
        assert_eq!(fmt_micros(whole), "2019-06-27T08:00:31.000000Z");
    }

    #[test]
    fn fast_timestamps_match_the_time_crate() {
        let mut r = SeededRng::new(3);
        for _ in 0..2000 {
            let us = r.range(-2_000_000_000_000_000, 4_000_000_000_000_000);
            let dt = to_datetime(us);
            let expected = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                dt.year(),
                u8::from(dt.month()),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                dt.microsecond()
            );
            assert_eq!(fmt_micros(us), expected, "{us}");
        }
    }

    #[test]
    fn ids_order_numerically() {
        assert_eq!(cmp_ids("99", "100"), Ordering::Less);
        assert_eq!(
            cmp_ids("657613730168123595", "657613730168123594"),
            Ordering::Greater
        );
    }

    #[test]
    fn rng_is_stable_for_a_seed() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = SeededRng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = SeededRng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a[0], SeededRng::new(8).next_u64());
    }
}
