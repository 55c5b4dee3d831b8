//! The whole items behind a request, read aside with a client that is not metered: what DynamoDB charges a
//! projected or filtered `Query` (every item it read, before projection and filter) and an `UpdateItem` or
//! `DeleteItem` (the larger of the item before and after), which neither the request nor the response shows.
//!
//! The side reads block the calling worker thread (`block_in_place`), so they need the multi-threaded runtime the
//! bench runs on; elsewhere they answer `None` and the meter keeps the lower bound.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use tokio::runtime::{Handle, RuntimeFlavor};

use super::item_size;

pub type Item = HashMap<String, AttributeValue>;

/// Reads the items a metered call touched, through a client without the meter.
#[derive(Debug, Clone)]
pub struct WholeItems {
    client: aws_sdk_dynamodb::Client,
}

impl WholeItems {
    pub fn new(client: aws_sdk_dynamodb::Client) -> Self {
        Self { client }
    }

    /// Bytes of every item a `Query` read to answer `response`: from its start key through the response's last
    /// evaluated key (or the end of what the key condition matches), before any projection or filter.
    pub fn query_bytes(&self, request: &Value, response: &Value) -> Option<usize> {
        let condition = request["KeyConditionExpression"].as_str()?.to_string();
        let names: HashMap<String, String> = request["ExpressionAttributeNames"]
            .as_object()?
            .iter()
            .filter(|(k, _)| mentions(&condition, k))
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        let values: Item = request["ExpressionAttributeValues"]
            .as_object()?
            .iter()
            .filter(|(k, _)| mentions(&condition, k))
            .filter_map(|(k, v)| Some((k.clone(), attribute(v)?)))
            .collect();
        let last = item(&response["LastEvaluatedKey"]);
        let mut start = item(&request["ExclusiveStartKey"]);
        let query = || {
            self.client
                .query()
                .table_name(request["TableName"].as_str().unwrap_or_default())
                .set_index_name(request["IndexName"].as_str().map(str::to_string))
                .key_condition_expression(&condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(request["ScanIndexForward"].as_bool() != Some(false))
                .set_consistent_read(request["ConsistentRead"].as_bool())
        };
        blocking(async move {
            let mut bytes = 0;
            loop {
                let out = query().set_exclusive_start_key(start).send().await.ok()?;
                for i in out.items() {
                    bytes += item_size(i);
                    if last
                        .as_ref()
                        .is_some_and(|l| l.iter().all(|(k, v)| i.get(k) == Some(v)))
                    {
                        return Some(bytes);
                    }
                }
                match out.last_evaluated_key {
                    Some(k) => start = Some(k),
                    None => return Some(bytes),
                }
            }
        })
        .flatten()
    }

    /// The item at the request's `Key` as stored now (`Some(None)`: there is none; `None`: not read).
    pub fn item_at(&self, request: &Value) -> Option<Option<Item>> {
        let key = item(&request["Key"])?;
        let table = request["TableName"].as_str()?.to_string();
        blocking(async move {
            self.client
                .get_item()
                .table_name(table)
                .set_key(Some(key))
                .consistent_read(true)
                .send()
                .await
                .ok()
                .map(|out| out.item)
        })
        .flatten()
    }
}

/// Whether `expression` uses the placeholder `name` (`#sk` is not used by an expression that says `#skx`).
fn mentions(expression: &str, name: &str) -> bool {
    expression.match_indices(name).any(|(at, _)| {
        !expression[at + name.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn blocking<F: std::future::Future>(work: F) -> Option<F::Output> {
    let handle = Handle::try_current().ok()?;
    if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
        return None;
    }
    Some(tokio::task::block_in_place(|| handle.block_on(work)))
}

fn item(v: &Value) -> Option<Item> {
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), attribute(v)?)))
        .collect()
}

/// An attribute value from the wire format (`{"S": "…"}`, `{"N": "…"}`, …).
fn attribute(v: &Value) -> Option<AttributeValue> {
    let (kind, inner) = v.as_object()?.iter().next()?;
    let strings = |a: &Value| -> Option<Vec<String>> {
        a.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    Some(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_string()),
        "N" => AttributeValue::N(inner.as_str()?.to_string()),
        "B" => AttributeValue::B(Blob::new(base64(inner.as_str()?)?)),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "BS" => AttributeValue::Bs(
            strings(inner)?
                .iter()
                .map(|b| base64(b).map(Blob::new))
                .collect::<Option<_>>()?,
        ),
        "L" => AttributeValue::L(
            inner
                .as_array()?
                .iter()
                .map(attribute)
                .collect::<Option<_>>()?,
        ),
        "M" => AttributeValue::M(item(inner)?),
        _ => return None,
    })
}

fn base64(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut held = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_placeholder_is_mentioned_only_as_a_whole_name() {
        let kce = "#qpk = :qpk AND begins_with(#qsk, :qsk)";
        assert!(mentions(kce, "#qpk") && mentions(kce, ":qsk"));
        assert!(!mentions(kce, "#q") && !mentions(kce, "#act") && !mentions(kce, ":t"));
    }

    #[test]
    fn wire_values_become_attribute_values() {
        let v = json!({"M": {"a": {"L": [{"S": "x"}, {"N": "1"}, {"BOOL": true}]}, "b": {"B": "AQID"}}});
        let AttributeValue::M(m) = attribute(&v).unwrap() else {
            panic!("a map");
        };
        assert_eq!(m["b"], AttributeValue::B(Blob::new(vec![1, 2, 3])));
        assert_eq!(
            m["a"],
            AttributeValue::L(vec![
                AttributeValue::S("x".into()),
                AttributeValue::N("1".into()),
                AttributeValue::Bool(true)
            ])
        );
        assert_eq!(base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(attribute(&json!({"X": 1})), None);
    }
}
