//! The local AWS stack as tests and the local run see it: SDK configuration from the normal aws-config chain
//! (pointed at moto's server by `AWS_ENDPOINT_URL`, which `scripts/local-aws env` exports), and the DynamoDB table
//! created from `infra/template.yaml` — parsed, never re-typed — so local tables always match what SAM deploys.

mod template;

pub use template::{TableDefinition, TemplateError};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use std::path::PathBuf;

/// Why the local stack could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LocalStackError {
    #[error(
        "AWS_ENDPOINT_URL is not set: start the local AWS stack with `scripts/local-aws start` and \
         `eval \"$(scripts/local-aws env)\"`, or run the tests through `scripts/test`"
    )]
    NoEndpoint,
    #[error("AWS_ENDPOINT_URL={0} does not point at 127.0.0.1/localhost: refusing to create tables on a real AWS account")]
    NotLocal(String),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("creating table {table} on the local stack failed: {message}")]
    CreateTable { table: String, message: String },
    #[error("creating queue {queue} on the local stack failed: {message}")]
    CreateQueue { queue: String, message: String },
}

/// Path of the SAM template, from this crate's location in the workspace (override: `S1_TEMPLATE_PATH`).
pub fn template_path() -> PathBuf {
    match std::env::var_os("S1_TEMPLATE_PATH") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml"),
    }
}

/// SDK configuration for the local stack: the standard chain, after checking it targets loopback.
pub async fn sdk_config() -> Result<aws_config::SdkConfig, LocalStackError> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| LocalStackError::NoEndpoint)?;
    let local =
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:");
    if !local {
        return Err(LocalStackError::NotLocal(endpoint));
    }
    Ok(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
}

/// A handle on the local stack with fresh, uniquely named resources per test.
#[derive(Clone)]
pub struct LocalStack {
    pub config: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl LocalStack {
    pub async fn connect() -> Result<Self, LocalStackError> {
        let config = sdk_config().await?;
        Ok(Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            config,
        })
    }

    /// Creates a table named `name` exactly as the template defines the connector table.
    pub async fn create_table(&self, name: &str) -> Result<(), LocalStackError> {
        let def = TableDefinition::from_template(&template_path())?;
        create_table_from(&self.dynamodb, &def, name).await
    }

    /// Creates a uniquely named table from the template and returns its name.
    pub async fn fresh_table(&self) -> Result<String, LocalStackError> {
        let name = format!("s1c-test-{}", uuid::Uuid::new_v4().simple());
        self.create_table(&name).await?;
        Ok(name)
    }

    /// Creates a uniquely named SQS queue and returns its URL.
    pub async fn fresh_queue(&self) -> Result<String, LocalStackError> {
        let name = format!("s1c-test-{}", uuid::Uuid::new_v4().simple());
        self.create_queue(&name).await
    }

    pub async fn create_queue(&self, name: &str) -> Result<String, LocalStackError> {
        let out = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| LocalStackError::CreateQueue {
                queue: name.to_string(),
                message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })?;
        out.queue_url.ok_or_else(|| LocalStackError::CreateQueue {
            queue: name.to_string(),
            message: "no queue URL returned".into(),
        })
    }

    /// A unique secret-name prefix, so tests never see each other's secrets.
    pub fn fresh_secret_prefix(&self) -> String {
        format!("s1-connector/test-{}/", uuid::Uuid::new_v4().simple())
    }
}

/// Creates the table (idempotent: an existing table of that name is left as it is).
pub async fn create_table_from(
    client: &aws_sdk_dynamodb::Client,
    def: &TableDefinition,
    name: &str,
) -> Result<(), LocalStackError> {
    let err = |message: String| LocalStackError::CreateTable {
        table: name.to_string(),
        message,
    };
    let key = |attr: &str, kind: &str| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(if kind == "HASH" {
                KeyType::Hash
            } else {
                KeyType::Range
            })
            .build()
            .map_err(|e| err(e.to_string()))
    };
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attr, ty) in &def.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()
                .map_err(|e| err(e.to_string()))?,
        );
    }
    for (attr, kind) in &def.key_schema {
        req = req.key_schema(key(attr, kind)?);
    }
    for gsi in &def.global_secondary_indexes {
        let mut b = GlobalSecondaryIndex::builder()
            .index_name(&gsi.name)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::from(gsi.projection_type.as_str()))
                    .set_non_key_attributes(
                        (!gsi.non_key_attributes.is_empty())
                            .then(|| gsi.non_key_attributes.clone()),
                    )
                    .build(),
            );
        for (attr, kind) in &gsi.key_schema {
            b = b.key_schema(key(attr, kind)?);
        }
        req = req.global_secondary_indexes(b.build().map_err(|e| err(e.to_string()))?);
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let already = e
                .as_service_error()
                .map(|s| s.is_resource_in_use_exception())
                .unwrap_or(false);
            if already {
                Ok(())
            } else {
                Err(err(
                    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
                ))
            }
        }
    }
}
