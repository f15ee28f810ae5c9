//! Every call to S3 (and the CDN's invalidation): whether an object exists
//! and what S3 says of it, presigned PUTs and GETs, a page of a listing, a
//! batch delete.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::context::Context;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Default)]
pub struct ObjectInfo {
    pub size: i64,
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-*`, names without the prefix).
    pub metadata: HashMap<String, String>,
}

/// HeadObject; `None` when the object does not exist.
pub async fn head(ctx: &Context, key: &str) -> ApiResult<Option<ObjectInfo>> {
    let bucket = ctx.bucket()?;
    match ctx.s3.head_object().bucket(bucket).key(key).send().await {
        Ok(out) => Ok(Some(ObjectInfo {
            size: out.content_length().unwrap_or(0),
            content_type: out.content_type().map(str::to_string),
            metadata: out.metadata().cloned().unwrap_or_default(),
        })),
        Err(err) if matches!(err.as_service_error(), Some(HeadObjectError::NotFound(_))) => {
            Ok(None)
        }
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 404) =>
        {
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

/// HeadObject calls in flight at once when checking many keys.
const HEADS_AT_ONCE: usize = 16;

/// The keys of `keys` that exist (HeadObject each, a few at a time).
pub async fn existing<'a>(
    ctx: &Context,
    keys: impl IntoIterator<Item = &'a String>,
) -> ApiResult<BTreeSet<String>> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let keys: Vec<String> = keys.into_iter().cloned().collect();
    stream::iter(keys)
        .map(|key: String| async move {
            let found = head(ctx, &key).await?;
            Ok::<_, ApiError>(found.map(|_| key))
        })
        .buffer_unordered(HEADS_AT_ONCE)
        .try_filter_map(|found| async move { Ok(found) })
        .try_collect()
        .await
}

/// S3 refuses presigned URLs valid for more than seven days.
const MAX_LIFETIME_SECS: u64 = 7 * 24 * 3600;

/// When a link made at `now` (epoch seconds) is signed and how long it is
/// valid from then: the same for every `now` of one window.
pub fn validity(now: u64, lifetime: Duration) -> (SystemTime, Duration) {
    let lifetime = lifetime.as_secs().max(1);
    let window = (lifetime / 10).clamp(1, 300);
    let signed_at = now - now % window;
    let valid_for = (lifetime + window).min(MAX_LIFETIME_SECS);
    (
        UNIX_EPOCH + Duration::from_secs(signed_at),
        Duration::from_secs(valid_for),
    )
}

/// A presigned GET for `key` (no network call), signed for the current
/// link window (see [`validity`]).
pub async fn presign_get(ctx: &Context, key: &str) -> ApiResult<String> {
    let bucket = ctx.bucket()?;
    let (signed_at, valid_for) =
        validity(crate::clock::now_epoch_secs(), ctx.settings.presign_expires);
    let config = PresigningConfig::builder()
        .start_time(signed_at)
        .expires_in(valid_for)
        .build()
        .map_err(|e| ApiError::Internal(format!("presign config: {e}")))?;
    let req = ctx
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .presigned(config)
        .await
        .map_err(|e| ApiError::Internal(format!("presign GET failed: {e}")))?;
    Ok(req.uri().to_string())
}

/// A presigned PUT: the URL and every header the uploader must send with it.
#[derive(Debug, Clone)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// Presigns a PUT with `Content-Type` and `If-None-Match: *` signed (S3
/// refuses a PUT to a key that exists, so an upload URL can never replace
/// stored bytes) and, when the size is known, `Content-Length` (S3 refuses
/// another size). No user metadata (no network call): provenance lives in
/// the upload intent, not in headers the client must repeat. The headers
/// answered are those the client must send; `Content-Length` is the
/// browser's own.
pub async fn presign_put(
    ctx: &Context,
    key: &str,
    content_type: &str,
    size: Option<i64>,
) -> ApiResult<PresignedPut> {
    let bucket = ctx.bucket()?;
    let config = PresigningConfig::expires_in(ctx.settings.presign_expires)
        .map_err(|e| ApiError::Internal(format!("presign config: {e}")))?;
    let presigned = ctx
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .if_none_match("*")
        .set_content_length(size)
        .presigned(config)
        .await
        .map_err(|e| ApiError::Internal(format!("presign PUT failed: {e}")))?;
    let headers = presigned
        .headers()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("host") && !name.eq_ignore_ascii_case("content-length")
        })
        .map(|(name, value)| {
            let name = if name.eq_ignore_ascii_case("content-type") {
                "Content-Type"
            } else {
                name
            };
            (name.to_string(), value.to_string())
        })
        .collect();
    Ok(PresignedPut {
        url: presigned.uri().to_string(),
        headers,
    })
}

/// An object's size, type and metadata with its first `n` bytes, in one
/// ranged GET (what HeadObject gives, plus the bytes that tell its type);
/// `None` when it does not exist.
pub async fn peek(ctx: &Context, key: &str, n: u64) -> ApiResult<Option<(ObjectInfo, Vec<u8>)>> {
    let bucket = ctx.bucket()?;
    let result = ctx
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .range(format!("bytes=0-{}", n.saturating_sub(1)))
        .send()
        .await;
    let out = match result {
        Ok(out) => out,
        Err(err) if matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
            return Ok(None)
        }
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 404) =>
        {
            return Ok(None)
        }
        // An empty object has no first byte to range over.
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 416) =>
        {
            return Ok(head(ctx, key).await?.map(|info| (info, Vec::new())));
        }
        Err(err) => return Err(err.into()),
    };
    // `bytes 0-15/12345`: the whole size follows the slash.
    let size = out
        .content_range()
        .and_then(|r| r.rsplit('/').next())
        .and_then(|total| total.parse::<i64>().ok())
        .or(out.content_length())
        .unwrap_or(0);
    let info = ObjectInfo {
        size,
        content_type: out.content_type().map(str::to_string),
        metadata: out.metadata().cloned().unwrap_or_default(),
    };
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| ApiError::Unavailable(format!("object read: {e}")))?;
    Ok(Some((info, body.into_bytes().to_vec())))
}

/// One page of the objects under `prefix` after `start_after`
/// (ListObjectsV2).
pub async fn list_page(
    ctx: &Context,
    prefix: &str,
    limit: usize,
    start_after: Option<String>,
) -> ApiResult<ListObjectsV2Output> {
    let bucket = ctx.bucket()?;
    Ok(ctx
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(i32::try_from(limit).unwrap_or(i32::MAX))
        .set_start_after(start_after)
        .send()
        .await?)
}

/// Deletes `keys` in one quiet DeleteObjects; returns the keys S3 reported
/// it could not delete.
pub async fn delete_many<'a>(
    ctx: &Context,
    keys: impl IntoIterator<Item = &'a String>,
) -> ApiResult<BTreeSet<String>> {
    let bucket = ctx.bucket()?;
    let objects = keys
        .into_iter()
        .map(|k| ObjectIdentifier::builder().key(k).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("delete request: {e}")))?;
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .map_err(|e| ApiError::Internal(format!("delete request: {e}")))?;
    let out = ctx
        .s3
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .send()
        .await?;
    Ok(out
        .errors()
        .iter()
        .filter_map(|e| e.key().map(str::to_string))
        .collect())
}

/// One CloudFront invalidation of `keys` on `distribution`; its id.
pub async fn invalidate(
    ctx: &Context,
    distribution: &str,
    keys: &[&String],
) -> ApiResult<Option<String>> {
    let items: Vec<String> = keys.iter().map(|k| format!("/{k}")).collect();
    let paths = Paths::builder()
        .quantity(i32::try_from(items.len()).unwrap_or(i32::MAX))
        .set_items(Some(items))
        .build()
        .map_err(|e| ApiError::Internal(format!("invalidation paths: {e}")))?;
    let batch = InvalidationBatch::builder()
        .paths(paths)
        .caller_reference(uuid::Uuid::new_v4().to_string())
        .build()
        .map_err(|e| ApiError::Internal(format!("invalidation batch: {e}")))?;
    let out = ctx
        .cloudfront
        .create_invalidation()
        .distribution_id(distribution)
        .invalidation_batch(batch)
        .send()
        .await?;
    Ok(out.invalidation().map(|i| i.id().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_one_window_are_the_same_and_live_at_least_the_lifetime() {
        let lifetime = Duration::from_secs(900);
        // 999,990 starts a 90 s window
        let (a, valid_a) = validity(999_990, lifetime);
        let (b, valid_b) = validity(1_000_079, lifetime);
        assert_eq!((a, valid_a), (b, valid_b), "one 90 s window");
        assert_ne!(validity(1_000_080, lifetime).0, a, "the next window");
        let expiry = |now: u64| {
            let (at, valid) = validity(now, lifetime);
            (at + valid).duration_since(UNIX_EPOCH).unwrap().as_secs()
        };
        for now in [999_990, 1_000_000, 1_000_079] {
            assert!((now + 900..=now + 990).contains(&expiry(now)), "{now}");
        }
        // Never longer than S3 allows
        let week = Duration::from_secs(MAX_LIFETIME_SECS);
        assert_eq!(validity(5, week).1, week);
    }

    #[tokio::test]
    async fn presigned_put_signs_the_type_and_no_overwrite_and_carries_no_checksum() {
        // Given an offline context (presigning makes no network call)
        let ctx = Context::offline_for_tests();
        // When a PUT is presigned
        let put = presign_put(
            &ctx,
            "patients/u1/optimized/docs/lab/a.jpg",
            "image/jpeg",
            None,
        )
        .await
        .unwrap();
        // Then the URL carries no checksum of an empty body, which real S3 would
        // compare against the uploaded bytes and reject
        let url = put.url.to_ascii_lowercase();
        assert!(!url.contains("x-amz-checksum"), "{url}");
        assert!(!url.contains("x-amz-sdk-checksum-algorithm"), "{url}");
        assert!(
            url.contains("x-amz-signedheaders=content-type%3bhost%3bif-none-match&"),
            "{url}"
        );
        assert!(url.contains("x-amz-expires=900"));
        // And every signed header the client must send is returned
        let headers: HashMap<_, _> = put.headers.into_iter().collect();
        assert_eq!(
            headers.get("Content-Type").map(String::as_str),
            Some("image/jpeg")
        );
        assert_eq!(headers.get("if-none-match").map(String::as_str), Some("*"));
        assert!(headers.keys().all(|k| {
            let k = k.to_ascii_lowercase();
            !k.contains("checksum") && !k.starts_with("x-amz-meta-")
        }));
        // A stated size is signed (S3 refuses another), and left to the
        // browser to send
        let sized = presign_put(
            &ctx,
            "patients/u1/optimized/docs/lab/b.jpg",
            "image/jpeg",
            Some(2048),
        )
        .await
        .unwrap();
        assert!(
            sized
                .url
                .to_ascii_lowercase()
                .contains("content-length%3bcontent-type%3bhost%3bif-none-match"),
            "{}",
            sized.url
        );
        assert!(sized
            .headers
            .iter()
            .all(|(k, _)| !k.eq_ignore_ascii_case("content-length")));
    }
}
