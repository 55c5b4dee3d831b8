//! Field-level leniency for SentinelOne payloads.
//!
//! Real consoles send `"True"` where a boolean belongs, `{}` or `"None"` where a string belongs, and schema
//! placeholders such as `"boolean"`. A strict derive would fail the whole record (or the whole page) on any of them,
//! so every mapped field goes through one of the functions here: a value of the wrong shape becomes "unknown" and
//! is counted as a field warning, and deserialization itself never fails on a well-formed JSON value.
//!
//! Warnings are counted in a thread-local so that the derived record structs stay plain; the page decoder reads the
//! count around each record with [`count_warnings`].

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

thread_local! {
    static FIELD_WARNINGS: Cell<u64> = const { Cell::new(0) };
}

fn warn() {
    FIELD_WARNINGS.with(|c| c.set(c.get().saturating_add(1)));
}

/// Runs `f` and returns how many field warnings it raised. Nested calls are safe: the outer count still includes
/// the inner ones.
pub(crate) fn count_warnings<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = FIELD_WARNINGS.with(|c| c.replace(0));
    let out = f();
    let raised = FIELD_WARNINGS.with(|c| c.get());
    FIELD_WARNINGS.with(|c| c.set(before.saturating_add(raised)));
    (out, raised)
}

/// Strings that exports, mock servers and older consoles put where a value is missing. Compared ASCII
/// case-insensitively after trimming. A computer literally named "none" is therefore treated as unnamed; that is
/// the price of not importing thousands of assets called "None".
const PLACEHOLDERS: &[&str] = &[
    "none",
    "null",
    "nil",
    "undefined",
    "boolean",
    "bool",
    "string",
    "str",
    "integer",
    "int",
    "number",
    "float",
    "object",
    "array",
    "{}",
    "[]",
];

pub(crate) fn is_placeholder(s: &str) -> bool {
    let t = s.trim();
    PLACEHOLDERS.iter().any(|p| t.eq_ignore_ascii_case(p))
}

/// How one kind of field reacts to each JSON shape. The defaults reject the shape with a warning.
pub(crate) trait Leniency {
    type Out;
    fn from_str(_s: &str) -> Option<Self::Out> {
        warn();
        None
    }
    fn from_u64(_v: u64) -> Option<Self::Out> {
        warn();
        None
    }
    fn from_i64(v: i64) -> Option<Self::Out> {
        match u64::try_from(v) {
            Ok(u) => Self::from_u64(u),
            Err(_) => {
                warn();
                None
            }
        }
    }
    fn from_f64(_v: f64) -> Option<Self::Out> {
        warn();
        None
    }
    fn from_bool(_v: bool) -> Option<Self::Out> {
        warn();
        None
    }
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self::Out>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        warn();
        Ok(None)
    }
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self::Out>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        warn();
        Ok(None)
    }
}

struct LenientVisitor<L>(PhantomData<L>);

impl<'de, L: Leniency> Visitor<'de> for LenientVisitor<L> {
    type Value = Option<L::Out>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(L::from_bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(L::from_i64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(L::from_u64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(L::from_f64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(L::from_str(v))
    }
    fn visit_bytes<E: de::Error>(self, _v: &[u8]) -> Result<Self::Value, E> {
        warn();
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        L::from_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        L::from_seq(seq)
    }
}

/// A value that never fails to deserialize: `None` when absent, null or of the wrong shape.
pub(crate) struct Lenient<L: Leniency>(pub Option<L::Out>);

impl<'de, L: Leniency> Deserialize<'de> for Lenient<L> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor::<L>(PhantomData))
            .map(Lenient)
    }
}

/// Free text: trimmed; empty means absent (no warning, consoles send `""` routinely); placeholders are warnings.
/// Integers are accepted as their decimal text because some fields (`osRevision`) are numbers in some versions.
pub(crate) struct Text;
impl Leniency for Text {
    type Out = String;
    fn from_str(s: &str) -> Option<String> {
        let t = s.trim();
        if t.is_empty() {
            None
        } else if is_placeholder(t) {
            warn();
            None
        } else {
            Some(t.to_owned())
        }
    }
    fn from_u64(v: u64) -> Option<String> {
        Some(v.to_string())
    }
    fn from_i64(v: i64) -> Option<String> {
        Some(v.to_string())
    }
}

/// Largest integer an f64 holds exactly (2^53).
const F64_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Identifiers: strings (the documented form) or JSON integers, stringified without precision loss. A float that
/// is not an exact integer cannot be an id we could match later, so it is a warning.
pub(crate) struct Id;
impl Leniency for Id {
    type Out = String;
    fn from_str(s: &str) -> Option<String> {
        Text::from_str(s)
    }
    fn from_u64(v: u64) -> Option<String> {
        Some(v.to_string())
    }
    fn from_i64(v: i64) -> Option<String> {
        Some(v.to_string())
    }
    fn from_f64(v: f64) -> Option<String> {
        if v.is_finite() && v.fract() == 0.0 && v.abs() <= F64_EXACT_INT {
            // Exact by the check above, so the cast neither truncates nor rounds.
            #[allow(clippy::cast_possible_truncation)]
            Some((v as i64).to_string())
        } else {
            warn();
            None
        }
    }
}

/// Booleans: JSON booleans, `"True"`/`"False"` in any case (decision 10: older consoles send them), and 0/1.
pub(crate) struct Flag;
impl Leniency for Flag {
    type Out = bool;
    fn from_bool(v: bool) -> Option<bool> {
        Some(v)
    }
    fn from_str(s: &str) -> Option<bool> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("true") {
            Some(true)
        } else if t.eq_ignore_ascii_case("false") {
            Some(false)
        } else if t.is_empty() {
            None
        } else {
            warn();
            None
        }
    }
    fn from_u64(v: u64) -> Option<bool> {
        match v {
            0 => Some(false),
            1 => Some(true),
            _ => {
                warn();
                None
            }
        }
    }
}

/// Non-negative counts: integers, integral floats and decimal strings.
pub(crate) struct Count;
impl Leniency for Count {
    type Out = u64;
    fn from_u64(v: u64) -> Option<u64> {
        Some(v)
    }
    fn from_f64(v: f64) -> Option<u64> {
        if v.is_finite() && v.fract() == 0.0 && (0.0..=F64_EXACT_INT).contains(&v) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(v as u64)
        } else {
            warn();
            None
        }
    }
    fn from_str(s: &str) -> Option<u64> {
        let t = s.trim();
        if t.is_empty() {
            return None;
        }
        let parsed = t.parse().ok();
        if parsed.is_none() {
            warn();
        }
        parsed
    }
}

/// Timestamps: RFC 3339 only (the API's `2018-02-27T04:49:26.257525Z`), normalised to UTC. Years outside
/// 0000..=9999 after conversion are refused because RFC 3339 cannot format them back.
pub(crate) struct Timestamp;
impl Leniency for Timestamp {
    type Out = OffsetDateTime;
    fn from_str(s: &str) -> Option<OffsetDateTime> {
        let t = s.trim();
        if t.is_empty() {
            return None;
        }
        // `to_offset` panics when the UTC instant leaves time's year range (9999-12-31T23:59:59-01:00), so the
        // checked form is required on external data.
        let utc = OffsetDateTime::parse(t, &Rfc3339)
            .ok()
            .and_then(|dt| dt.checked_to_offset(UtcOffset::UTC))
            .filter(|utc| (0..=9999).contains(&utc.year()));
        if utc.is_none() {
            warn();
        }
        utc
    }
}

/// Scores (CVSS base scores, SentinelOne's risk score): decimal strings as the API sends them (`"7.00"`), or JSON
/// numbers. Empty means absent; anything that is not a finite, non-negative number is a warning.
pub(crate) struct Score;
impl Leniency for Score {
    type Out = f64;
    fn from_str(s: &str) -> Option<f64> {
        let t = s.trim();
        if t.is_empty() {
            return None;
        }
        let parsed = t.parse::<f64>().ok().and_then(Self::from_number);
        if parsed.is_none() {
            warn();
        }
        parsed
    }
    fn from_u64(v: u64) -> Option<f64> {
        // Scores are small; a count this large is not a score.
        u32::try_from(v).ok().map(f64::from).or_else(|| {
            warn();
            None
        })
    }
    fn from_f64(v: f64) -> Option<f64> {
        let kept = Self::from_number(v);
        if kept.is_none() {
            warn();
        }
        kept
    }
}

impl Score {
    fn from_number(v: f64) -> Option<f64> {
        (v.is_finite() && v >= 0.0).then_some(v)
    }
}

/// String enums that keep unknown values (`Other`) but treat placeholders as unknown.
pub(crate) trait WireEnum: Sized {
    fn from_wire(s: &str) -> Self;
    fn is_other(&self) -> bool;
}

pub(crate) struct Enum<T>(PhantomData<T>);
impl<T: WireEnum> Leniency for Enum<T> {
    type Out = T;
    fn from_str(s: &str) -> Option<T> {
        let t = s.trim();
        if t.is_empty() {
            return None;
        }
        let v = T::from_wire(t);
        if v.is_other() && is_placeholder(t) {
            warn();
            None
        } else {
            Some(v)
        }
    }
}

/// Nested objects: a derived struct whose own fields are all lenient, so only a JSON object is accepted and
/// nothing inside it can fail (short of a duplicated key, which fails the record and is reported as a skip).
pub(crate) struct Object<T>(PhantomData<T>);
impl<T: DeserializeOwned> Leniency for Object<T> {
    type Out = T;
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Option<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
}

/// Lists whose elements are each lenient; a non-list is a warning and an empty list.
struct List<L>(PhantomData<L>);
impl<L: Leniency> Leniency for List<L> {
    type Out = Vec<L::Out>;
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self::Out>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Lenient(item)) = seq.next_element::<Lenient<L>>()? {
            if let Some(v) = item {
                out.push(v);
            }
        }
        Ok(Some(out))
    }
}

// Functions for `#[serde(deserialize_with = "...")]`.

pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Lenient::<Text>::deserialize(d).map(|l| l.0)
}

/// Identity fields: an empty string means "absent" so that the record types keep a plain `String`.
pub(crate) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Lenient::<Id>::deserialize(d).map(|l| l.0.unwrap_or_default())
}

pub(crate) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Lenient::<Id>::deserialize(d).map(|l| l.0)
}

pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Lenient::<Flag>::deserialize(d).map(|l| l.0)
}

pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Lenient::<Count>::deserialize(d).map(|l| l.0)
}

pub(crate) fn score<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Lenient::<Score>::deserialize(d).map(|l| l.0)
}

pub(crate) fn timestamp<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    Lenient::<Timestamp>::deserialize(d).map(|l| l.0)
}

pub(crate) fn enumeration<'de, D: Deserializer<'de>, T: WireEnum>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Lenient::<Enum<T>>::deserialize(d).map(|l| l.0)
}

pub(crate) fn object<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    d: D,
) -> Result<T, D::Error> {
    Lenient::<Object<T>>::deserialize(d).map(|l| l.0.unwrap_or_default())
}

pub(crate) fn text_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Lenient::<List<Text>>::deserialize(d).map(|l| l.0.unwrap_or_default())
}

pub(crate) fn object_list<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Lenient::<List<Object<T>>>::deserialize(d).map(|l| l.0.unwrap_or_default())
}
