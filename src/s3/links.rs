//! Links to patient files that a browser can render and that expire: a
//! CloudFront signed URL where the CDN serves the key, a presigned S3 GET
//! otherwise (and in local runs). Never an unsigned or lasting link.
//!
//! Links are signed for a time window: every link to a key made within one
//! window is the same URL, so a client polling its documents does not load
//! each image again. A link lives from `PRESIGN_EXPIRES_SEC` to that plus
//! one window (a tenth of it, at most five minutes).

use std::time::UNIX_EPOCH;

use super::objects::{self, validity};
use crate::clock;
use crate::context::Context;
use crate::error::ApiResult;

/// The distribution's origin access reaches only derived files
/// (`optimized/`, `thumb/`); originals are served by presigned S3 GETs.
pub fn cdn_serves(key: &str) -> bool {
    let mut segments = key.split('/');
    segments.next() == Some("patients") && matches!(segments.nth(1), Some("optimized" | "thumb"))
}

/// A link to `key`, valid for the configured presign lifetime.
pub async fn link(ctx: &Context, key: &str) -> ApiResult<String> {
    match &ctx.cdn {
        Some(signer) if cdn_serves(key) => {
            let (signed_at, valid_for) =
                validity(clock::now_epoch_secs(), ctx.settings.presign_expires);
            let expires = signed_at + valid_for;
            let epoch = expires.duration_since(UNIX_EPOCH).unwrap_or_default();
            signer.sign(key, epoch.as_secs())
        }
        _ => objects::presign_get(ctx, key).await,
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
        assert!(!cdn_serves("elsewhere/u1/optimized/a.jpg"));
    }

    #[tokio::test]
    async fn without_a_cdn_a_link_is_a_presigned_get() {
        let ctx = Context::offline_for_tests();
        let url = link(&ctx, "patients/u1/optimized/docs/lab/a.jpg")
            .await
            .unwrap();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("X-Amz-Expires=990"), "{url}");
        // The same link a moment later (within the window)
        let again = link(&ctx, "patients/u1/optimized/docs/lab/a.jpg")
            .await
            .unwrap();
        let window = |u: &str| u.split("X-Amz-Date=").nth(1).map(|d| d[..15].to_string());
        if window(&url) == window(&again) {
            assert_eq!(url, again);
        }
    }
}
