//! Creates the files bucket on a local S3 server, with the CORS rule
//! template.yaml declares for AWS.

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};

use crate::context::Context;
use crate::store::provision::BoxError;

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
        let template = include_str!("../../template.yaml");
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
