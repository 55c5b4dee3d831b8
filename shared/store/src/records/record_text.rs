//! A record's content (a threat finding's or a vulnerability's) stored as one JSON text attribute, not as a
//! DynamoDB map.
//!
//! The store reads and writes that content only whole: no expression names a path inside it (filters, facets and
//! updates use the item's top-level copies), so DynamoDB's map adds nothing the store uses, and it costs per
//! value everywhere an item is handled. The text is the record's own serde form, the same fields and spellings the
//! map had; DynamoDB charges for the text's bytes as it charged for the map's names and values. Items written
//! before hold the map, and read as before: [`deserialize`] takes either.

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Writes the record as its JSON text.
pub(super) fn serialize<T: Serialize, S: Serializer>(record: &T, to: S) -> Result<S::Ok, S::Error> {
    let text = serde_json::to_string(record).map_err(S::Error::custom)?;
    to.serialize_str(&text)
}

/// Reads the record from its JSON text, or from the map items written before held.
pub(super) fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
    from: D,
) -> Result<T, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored<T> {
        Text(String),
        Map(T),
    }
    match Stored::<T>::deserialize(from)? {
        Stored::Text(text) => serde_json::from_str(&text).map_err(D::Error::custom),
        Stored::Map(record) => Ok(record),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        id: String,
        score: Option<f64>,
        tags: Vec<String>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "super")]
        record: Record,
    }

    fn record() -> Record {
        Record {
            id: "t-1".into(),
            score: Some(8.7),
            tags: vec!["a".into(), "é".into()],
        }
    }

    #[test]
    fn a_record_is_written_as_one_text_attribute_and_read_back_unchanged() {
        let item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(Holder { record: record() }).expect("item");
        let text = item["record"].as_s().expect("one text attribute");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(text).expect("JSON"),
            serde_json::json!({"id": "t-1", "score": 8.7, "tags": ["a", "é"]})
        );
        let back: Holder = serde_dynamo::from_item(item).expect("read back");
        assert_eq!(back.record, record());
    }

    #[test]
    fn a_record_written_as_a_map_before_reads_as_it_did() {
        let map: HashMap<String, AttributeValue> = serde_dynamo::to_item(record()).expect("map");
        let item = HashMap::from([("record".to_string(), AttributeValue::M(map))]);
        let back: Holder = serde_dynamo::from_item(item).expect("read the map");
        assert_eq!(back.record, record());
    }

    #[test]
    fn text_that_is_not_the_record_is_an_error_not_a_default() {
        let item = HashMap::from([(
            "record".to_string(),
            AttributeValue::S("{\"id\": 7}".into()),
        )]);
        assert!(serde_dynamo::from_item::<_, Holder>(item).is_err());
    }
}
