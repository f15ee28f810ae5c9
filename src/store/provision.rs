//! Creates the table (with every index the code queries) on a local
//! emulator. The same layout is declared in template.yaml for AWS.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType,
};

use crate::context::Context;
use crate::keys;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn attr(name: &str) -> Result<AttributeDefinition, BoxError> {
    Ok(AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()?)
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, BoxError> {
    Ok(KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()?)
}

fn gsi(name: &str, hash: &str, range: Option<&str>) -> Result<GlobalSecondaryIndex, BoxError> {
    let mut schema = vec![key(hash, KeyType::Hash)?];
    if let Some(r) = range {
        schema.push(key(r, KeyType::Range)?);
    }
    Ok(GlobalSecondaryIndex::builder()
        .index_name(name)
        .set_key_schema(Some(schema))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()?)
}

/// Creates the table unless it exists.
pub async fn ensure_table(ctx: &Context) -> Result<(), BoxError> {
    let table = ctx.table();
    if ctx
        .ddb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let defs = [
        "PK",
        "SK",
        "GSI1PK",
        "GSI2PK",
        "GSI2SK",
        "GSI3PK",
        "GSI3SK",
        "LSI_CUR_MRN",
    ]
    .iter()
    .map(|n| attr(n))
    .collect::<Result<Vec<_>, _>>()?;
    ctx.ddb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(defs))
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?)
        .global_secondary_indexes(gsi(keys::GSI1, "GSI1PK", None)?)
        .global_secondary_indexes(gsi(keys::GSI2, "GSI2PK", Some("GSI2SK"))?)
        .global_secondary_indexes(gsi(keys::GSI3, "GSI3PK", Some("GSI3SK"))?)
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(keys::LSI_CUR_MRN)
                .key_schema(key("PK", KeyType::Hash)?)
                .key_schema(key("LSI_CUR_MRN", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}
