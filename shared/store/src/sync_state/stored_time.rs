//! The sync state's timestamps (watermark, high water) as stored: RFC 3339 text, the format they had when they were
//! kept as strings, so items written before and after read alike. Compared as times, never as text: text order is
//! wrong once fractional seconds differ in length (`…00.5Z` sorts before `…00Z`). A stored value that does not
//! parse reads as absent, which makes the next threat walk start from the beginning rather than fail the sync.

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

pub(super) fn format(t: OffsetDateTime) -> String {
    // Only a year outside 0..=9999 fails; it then reads back as absent (see above).
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

pub(super) fn serialize<S: Serializer>(
    t: &Option<OffsetDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&format(*t)),
        None => s.serialize_none(),
    }
}

pub(super) fn deserialize<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    Ok(raw.and_then(|r| OffsetDateTime::parse(&r, &Rfc3339).ok()))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Item {
        #[serde(default, with = "super")]
        at: Option<time::OffsetDateTime>,
    }

    #[test]
    fn stored_text_is_unchanged_and_unreadable_text_is_absent() {
        let at = datetime!(2026-11-25 01:20:00.123456 UTC);
        let text = serde_json::to_value(Item { at: Some(at) }).unwrap();
        assert_eq!(text["at"], "2026-11-25T01:20:00.123456Z");
        let back: Item = serde_json::from_value(text).unwrap();
        assert_eq!(back.at, Some(at));
        let garbage: Item = serde_json::from_value(serde_json::json!({"at": "garbage"})).unwrap();
        assert_eq!(garbage.at, None);
    }

    #[test]
    fn later_times_compare_later_whatever_their_fraction() {
        let whole = datetime!(2026-11-25 01:20:00 UTC);
        let half = datetime!(2026-11-25 01:20:00.5 UTC);
        assert!(half > whole);
        // The text order the strings had got this wrong.
        assert!(super::format(half) < super::format(whole));
    }
}
