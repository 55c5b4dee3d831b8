//! Reads the connector table's definition out of the SAM template.

use serde_yaml::Value;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the SAM template {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the SAM template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error(
        "the SAM template has {0} resources of type AWS::DynamoDB::Table; expected exactly one"
    )]
    TableCount(usize),
    #[error("the table definition in the SAM template is missing or has a malformed {0}")]
    Malformed(&'static str),
}

/// The parts of `AWS::DynamoDB::Table` that decide how items are keyed and indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// Logical id in the template (e.g. `ConnectorTable`).
    pub logical_id: String,
    /// (name, type) as in `AttributeDefinitions`.
    pub attributes: Vec<(String, String)>,
    /// (name, HASH|RANGE) as in `KeySchema`.
    pub key_schema: Vec<(String, String)>,
    pub global_secondary_indexes: Vec<IndexDefinition>,
    pub billing_mode: String,
    pub point_in_time_recovery: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

impl TableDefinition {
    pub fn from_template(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_template_str(&text)
    }

    pub fn from_template_str(text: &str) -> Result<Self, TemplateError> {
        // CloudFormation short-form tags (!Ref, !Sub…) parse as tagged values; the table's key parts use none.
        let doc: Value = serde_yaml::from_str(text)?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or(TemplateError::Malformed("Resources"))?;
        let tables: Vec<(&Value, &Value)> = resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
            .collect();
        let [(id, table)] = tables.as_slice() else {
            return Err(TemplateError::TableCount(tables.len()));
        };
        let props = table
            .get("Properties")
            .ok_or(TemplateError::Malformed("Properties"))?;
        let pairs = |v: Option<&Value>,
                     a: &str,
                     b: &str,
                     what: &'static str|
         -> Result<Vec<(String, String)>, TemplateError> {
            v.and_then(Value::as_sequence)
                .ok_or(TemplateError::Malformed(what))?
                .iter()
                .map(|e| {
                    let x = e.get(a).and_then(Value::as_str);
                    let y = e.get(b).and_then(Value::as_str);
                    match (x, y) {
                        (Some(x), Some(y)) => Ok((x.to_string(), y.to_string())),
                        _ => Err(TemplateError::Malformed(what)),
                    }
                })
                .collect()
        };
        let attributes = pairs(
            props.get("AttributeDefinitions"),
            "AttributeName",
            "AttributeType",
            "AttributeDefinitions",
        )?;
        let key_schema = pairs(
            props.get("KeySchema"),
            "AttributeName",
            "KeyType",
            "KeySchema",
        )?;
        let mut global_secondary_indexes = Vec::new();
        if let Some(gsis) = props.get("GlobalSecondaryIndexes") {
            for g in gsis
                .as_sequence()
                .ok_or(TemplateError::Malformed("GlobalSecondaryIndexes"))?
            {
                let projection = g
                    .get("Projection")
                    .ok_or(TemplateError::Malformed("Projection"))?;
                global_secondary_indexes.push(IndexDefinition {
                    name: g
                        .get("IndexName")
                        .and_then(Value::as_str)
                        .ok_or(TemplateError::Malformed("IndexName"))?
                        .to_string(),
                    key_schema: pairs(
                        g.get("KeySchema"),
                        "AttributeName",
                        "KeyType",
                        "index KeySchema",
                    )?,
                    projection_type: projection
                        .get("ProjectionType")
                        .and_then(Value::as_str)
                        .ok_or(TemplateError::Malformed("ProjectionType"))?
                        .to_string(),
                    non_key_attributes: projection
                        .get("NonKeyAttributes")
                        .and_then(Value::as_sequence)
                        .map(|s| {
                            s.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
        }
        Ok(Self {
            logical_id: id.as_str().unwrap_or_default().to_string(),
            attributes,
            key_schema,
            global_secondary_indexes,
            billing_mode: props
                .get("BillingMode")
                .and_then(Value::as_str)
                .unwrap_or("PROVISIONED")
                .to_string(),
            point_in_time_recovery: props
                .get("PointInTimeRecoverySpecification")
                .and_then(|p| p.get("PointInTimeRecoveryEnabled"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}
