//! Creates the table (with every index the code queries) and the files bucket
//! on a local emulator. The same layout is declared in template.yaml for AWS.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType,
};

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};

use crate::context::Context;
use crate::keys;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

/// The bucket's CORS rule, as template.yaml declares it (a test holds them
/// together): browsers PUT to presigned URLs and GET/HEAD the links.
pub const CORS_METHODS: [&str; 3] = ["PUT", "GET", "HEAD"];
pub const CORS_ALLOWED_HEADERS: [&str; 1] = ["*"];
pub const CORS_EXPOSED_HEADERS: [&str; 1] = ["ETag"];
pub const CORS_MAX_AGE_SECS: i32 = 3000;

/// Creates the files bucket unless it exists, and applies its CORS rule for
/// the configured origin.
pub async fn ensure_bucket(ctx: &Context) -> Result<(), BoxError> {
    let Some(bucket) = ctx.settings.bucket.as_deref() else {
        return Ok(());
    };
    if ctx.s3.head_bucket().bucket(bucket).send().await.is_err() {
        ctx.s3.create_bucket().bucket(bucket).send().await?;
    }
    let rule = CorsRule::builder()
        .allowed_origins(ctx.settings.cors_origin.clone())
        .set_allowed_methods(Some(CORS_METHODS.map(String::from).to_vec()))
        .set_allowed_headers(Some(CORS_ALLOWED_HEADERS.map(String::from).to_vec()))
        .set_expose_headers(Some(CORS_EXPOSED_HEADERS.map(String::from).to_vec()))
        .max_age_seconds(CORS_MAX_AGE_SECS)
        .build()?;
    ctx.s3
        .put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(CorsConfiguration::builder().cors_rules(rule).build()?)
        .send()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_cors_rule_is_the_templates() {
        let template = include_str!("../template.yaml");
        let start = template.find("CorsConfiguration:").expect("bucket CORS");
        let block = &template[start..start + 400];
        let list = |items: &[&str]| items.join(", ");
        assert!(block.contains(&format!("AllowedMethods: [{}]", list(&CORS_METHODS))));
        let quoted: Vec<String> = CORS_ALLOWED_HEADERS
            .iter()
            .map(|h| format!("'{h}'"))
            .collect();
        assert!(block.contains(&format!("AllowedHeaders: [{}]", quoted.join(", "))));
        assert!(block.contains(&format!(
            "ExposedHeaders: [{}]",
            list(&CORS_EXPOSED_HEADERS)
        )));
        assert!(block.contains(&format!("MaxAge: {CORS_MAX_AGE_SECS}")));
        assert!(block.contains("- !Ref CorsAllowOrigin"));
    }
}
