//! Links to patient files that a browser can render and that expire: a
//! CloudFront signed URL where the CDN serves the key, a presigned S3 GET
//! otherwise (and in local runs). Never an unsigned or lasting link.

use crate::clock;
use crate::context::Context;
use crate::error::ApiResult;
use crate::s3_objects;

/// The distribution's origin access reaches only derived files
/// (`optimized/`, `thumb/`); originals are served by presigned S3 GETs.
pub fn cdn_serves(key: &str) -> bool {
    matches!(key.split('/').nth(2), Some("optimized" | "thumb"))
}

/// A link to `key`, valid for the configured presign lifetime.
pub async fn link(ctx: &Context, key: &str) -> ApiResult<String> {
    match &ctx.cdn {
        Some(signer) if cdn_serves(key) => {
            let expires = clock::now_epoch_secs() + ctx.settings.presign_expires.as_secs();
            signer.sign(key, expires)
        }
        _ => s3_objects::presign_get(ctx, key).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_derived_files_go_through_the_cdn() {
        assert!(cdn_serves("patients/u1/optimized/docs/lab/a.jpg"));
        assert!(cdn_serves("patients/u1/thumb/a-thumb.jpg"));
        assert!(!cdn_serves("patients/u1/originals/a.jpg"));
        assert!(!cdn_serves("optimized"));
    }

    #[tokio::test]
    async fn without_a_cdn_a_link_is_a_presigned_get() {
        let ctx = Context::offline_for_tests();
        let url = link(&ctx, "patients/u1/optimized/docs/lab/a.jpg")
            .await
            .unwrap();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("X-Amz-Expires=900"), "{url}");
    }
}
