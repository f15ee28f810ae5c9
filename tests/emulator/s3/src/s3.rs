//! The S3 operations, served from the [`Store`] through the `s3s` S3 trait,
//! and the static access key that `s3s` checks signatures against.

use crate::cors::{self, CorsRule};
use crate::notify::Notifier;
use crate::store::{ListQuery, ObjectMeta, Precondition, Store, StoreError};

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::sync::Arc;

use futures_util::StreamExt;
use md5::{Digest, Md5};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// The request id the front layer gives every request (carried in extensions).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// One access key and its secret; any other key is `InvalidAccessKeyId`.
pub struct StaticKey {
    pub access_key: String,
    pub secret_key: String,
}

#[async_trait::async_trait]
impl S3Auth for StaticKey {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.access_key {
            Ok(SecretKey::from(self.secret_key.as_str()))
        } else {
            Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ))
        }
    }
}

pub struct LocalS3 {
    pub store: Arc<Store>,
    pub notifier: Option<Arc<Notifier>>,
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchBucket => {
                s3_error!(NoSuchBucket, "The specified bucket does not exist")
            }
            StoreError::NoSuchKey => s3_error!(NoSuchKey, "The specified key does not exist."),
            StoreError::BucketExists => s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            ),
            StoreError::BucketNotEmpty => s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            ),
            StoreError::PreconditionFailed => s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ),
            StoreError::Io(e) => S3Error::internal_error(e),
        }
    }
}

fn etag_of(meta: &ObjectMeta) -> ETag {
    ETag::Strong(meta.etag_hex().to_owned())
}

fn timestamp(meta: &ObjectMeta) -> Timestamp {
    Timestamp::from(meta.last_modified)
}

fn user_metadata(meta: &ObjectMeta) -> Option<Metadata> {
    (!meta.metadata.is_empty()).then(|| meta.metadata.clone().into_iter().collect())
}

fn size_i64(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// Who made a write, for its event document.
struct Caller {
    principal: String,
    request_id: String,
}

impl Caller {
    fn of<T>(req: &S3Request<T>) -> Caller {
        Caller {
            principal: req
                .credentials
                .as_ref()
                .map(|c| c.access_key.clone())
                .unwrap_or_default(),
            request_id: req
                .extensions
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
        }
    }
}

/// The version of the object `If-Match` / `If-None-Match` on a GET or HEAD allow.
fn check_read_conditions(
    meta: &ObjectMeta,
    if_match: Option<&IfMatch>,
    if_none_match: Option<&IfNoneMatch>,
) -> S3Result<()> {
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == meta.etag_hex(),
    };
    if let Some(c) = if_match {
        if !matches(c) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    if let Some(c) = if_none_match {
        if matches(c) {
            return Err(s3_error!(NotModified));
        }
    }
    Ok(())
}

fn write_precondition(
    if_match: Option<&IfMatch>,
    if_none_match: Option<&IfNoneMatch>,
) -> S3Result<Precondition> {
    match (if_match, if_none_match) {
        (None, None) => Ok(Precondition::None),
        (None, Some(ETagCondition::Any)) => Ok(Precondition::Absent),
        (Some(ETagCondition::ETag(e)), None) => {
            Ok(Precondition::EtagIs(format!("\"{}\"", e.value())))
        }
        _ => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented"
        )),
    }
}

impl LocalS3 {
    /// Stores `meta` whose body is at `temp`, then queues its ObjectCreated event.
    fn commit(
        &self,
        bucket: &str,
        meta: ObjectMeta,
        temp: &std::path::Path,
        pre: &Precondition,
        event_name: &str,
        caller: &Caller,
    ) -> S3Result<Arc<ObjectMeta>> {
        let notifier = self.notifier.as_deref();
        let meta = self
            .store
            .commit_object(bucket, meta, temp, pre, |meta, sequence| {
                if let Some(n) = notifier {
                    n.queue(
                        bucket,
                        meta,
                        event_name,
                        &caller.principal,
                        &caller.request_id,
                        sequence,
                    );
                }
            })?;
        Ok(meta)
    }
}

/// A body that ended early, or whose SHA-256 is not the signed one.
fn body_error(e: s3s::StdError) -> S3Error {
    // s3s's body checker is private: its error is known by its text.
    if e.to_string().contains("Sha256Mismatch") {
        let code: S3ErrorCode = "XAmzContentSHA256Mismatch"
            .parse()
            .unwrap_or(S3ErrorCode::BadDigest);
        let mut err = S3Error::with_message(
            code,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        err.set_status_code(hyper::StatusCode::BAD_REQUEST);
        return err;
    }
    S3Error::with_source(S3ErrorCode::IncompleteBody, e)
}

/// Streams `body` into a new file at `path`; returns its size and hex MD5.
async fn write_body(
    path: &std::path::Path,
    body: Option<StreamingBlob>,
) -> S3Result<(u64, String)> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(S3Error::internal_error)?;
    let mut md5 = Md5::new();
    let mut size = 0u64;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(body_error)?;
            md5.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(S3Error::internal_error)?;
        }
    }
    file.flush().await.map_err(S3Error::internal_error)?;
    Ok((size, hex::encode(md5.finalize())))
}

fn cors_to_dto(rule: &CorsRule) -> CORSRule {
    let opt = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    CORSRule {
        allowed_headers: opt(&rule.allowed_headers),
        allowed_methods: rule.allowed_methods.clone(),
        allowed_origins: rule.allowed_origins.clone(),
        expose_headers: opt(&rule.expose_headers),
        id: rule.id.clone(),
        max_age_seconds: rule.max_age_seconds,
    }
}

fn cors_from_dto(rule: CORSRule) -> CorsRule {
    CorsRule {
        id: rule.id,
        allowed_origins: rule.allowed_origins,
        allowed_methods: rule.allowed_methods,
        allowed_headers: rule.allowed_headers.unwrap_or_default(),
        expose_headers: rule.expose_headers.unwrap_or_default(),
        max_age_seconds: rule.max_age_seconds,
    }
}

#[async_trait::async_trait]
impl S3 for LocalS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.store.create_bucket(&req.input.bucket)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store.delete_bucket(&req.input.bucket)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        if !self.store.bucket_exists(&req.input.bucket) {
            return Err(StoreError::NoSuchBucket.into());
        }
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .store
            .list_buckets()
            .into_iter()
            .map(|(name, created)| Bucket {
                name: Some(name),
                creation_date: Some(Timestamp::from(created)),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some("local".to_owned()),
                id: Some("LOCALOWNER".to_owned()),
            }),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let caller = Caller::of(&req);
        let input = req.input;
        let pre = write_precondition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        // Refuse early what would be refused after reading the body.
        match (&pre, self.store.head_object(&input.bucket, &input.key)) {
            (_, Err(StoreError::NoSuchBucket)) => return Err(StoreError::NoSuchBucket.into()),
            (Precondition::Absent, Ok(_)) => return Err(StoreError::PreconditionFailed.into()),
            _ => {}
        }
        let temp = self.store.temp_file();
        let written = write_body(&temp, input.body).await;
        let (size, md5) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
        };
        if input.content_length.is_some_and(|n| n != size_i64(size)) {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(s3_error!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header"
            ));
        }
        let meta = ObjectMeta {
            key: input.key,
            size,
            etag: format!("\"{md5}\""),
            last_modified: crate::store::now_millis(),
            content_type: input
                .content_type
                .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            cache_control: input.cache_control,
            content_disposition: input.content_disposition,
            content_encoding: input.content_encoding,
            content_language: input.content_language,
            metadata: input
                .metadata
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
        };
        let meta = self.commit(
            &input.bucket,
            meta,
            &temp,
            &pre,
            "ObjectCreated:Put",
            &caller,
        )?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag_of(&meta)),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = Caller::of(&req);
        let input = req.input;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket/key copy sources are supported"
            ));
        };
        let (src, file) = self.store.open_object(src_bucket, src_key)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if !replace && **src_bucket == *input.bucket && **src_key == *input.key {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let temp = self.store.temp_file();
        let mut from = tokio::fs::File::from_std(file);
        let copied = async {
            let mut to = tokio::fs::File::create(&temp).await?;
            tokio::io::copy(&mut from, &mut to).await?;
            to.flush().await
        }
        .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(S3Error::internal_error(e));
        }
        let mut meta = ObjectMeta {
            key: input.key,
            last_modified: crate::store::now_millis(),
            ..(*src).clone()
        };
        if replace {
            meta.content_type = input
                .content_type
                .unwrap_or_else(|| "binary/octet-stream".to_owned());
            meta.metadata = input.metadata.unwrap_or_default().into_iter().collect();
            meta.cache_control = input.cache_control;
            meta.content_disposition = input.content_disposition;
            meta.content_encoding = input.content_encoding;
            meta.content_language = input.content_language;
        }
        let meta = self.commit(
            &input.bucket,
            meta,
            &temp,
            &Precondition::None,
            "ObjectCreated:Copy",
            &caller,
        )?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag_of(&meta)),
                last_modified: Some(timestamp(&meta)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let (meta, file) = self.store.open_object(&input.bucket, &input.key)?;
        check_read_conditions(&meta, input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let (start, end, content_range) = match input.range {
            None => (0, meta.size, None),
            Some(range) => {
                let r = range.check(meta.size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let content_range = format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size);
                (r.start, r.end, Some(content_range))
            }
        };
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            file.seek(SeekFrom::Start(start))
                .await
                .map_err(S3Error::internal_error)?;
        }
        let stream =
            tokio_util::io::ReaderStream::new(tokio::io::AsyncReadExt::take(file, end - start));
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            accept_ranges: Some("bytes".to_owned()),
            content_length: Some(size_i64(end - start)),
            content_range,
            content_type: Some(meta.content_type.clone()),
            cache_control: meta.cache_control.clone(),
            content_disposition: meta.content_disposition.clone(),
            content_encoding: meta.content_encoding.clone(),
            content_language: meta.content_language.clone(),
            e_tag: Some(etag_of(&meta)),
            last_modified: Some(timestamp(&meta)),
            metadata: user_metadata(&meta),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let meta = self.store.head_object(&input.bucket, &input.key)?;
        check_read_conditions(&meta, input.if_match.as_ref(), input.if_none_match.as_ref())?;
        Ok(S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".to_owned()),
            content_length: Some(size_i64(meta.size)),
            content_type: Some(meta.content_type.clone()),
            cache_control: meta.cache_control.clone(),
            content_disposition: meta.content_disposition.clone(),
            content_encoding: meta.content_encoding.clone(),
            content_language: meta.content_language.clone(),
            e_tag: Some(etag_of(&meta)),
            last_modified: Some(timestamp(&meta)),
            metadata: user_metadata(&meta),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.store
            .delete_object(&req.input.bucket, &req.input.key)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if !self.store.bucket_exists(&input.bucket) {
            return Err(StoreError::NoSuchBucket.into());
        }
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "A Delete request may name at most 1000 keys"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in input.delete.objects {
            match self.store.delete_object(&input.bucket, &object.key) {
                Ok(()) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(object.key),
                            ..Default::default()
                        });
                    }
                }
                Err(e) => {
                    let e = S3Error::from(e);
                    errors.push(Error {
                        code: Some(e.code().as_str().to_owned()),
                        key: Some(object.key),
                        message: e.message().map(str::to_owned),
                        version_id: None,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            request_charged: None,
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let max_keys = input.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(s3_error!(InvalidArgument, "maxKeys should be non-negative"));
        }
        let after_token = match input.continuation_token.as_deref() {
            None => None,
            Some(token) => {
                let bytes = hex::decode(token).map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The continuation token provided is incorrect"
                    )
                })?;
                let key = String::from_utf8(bytes).map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The continuation token provided is incorrect"
                    )
                })?;
                Some(key)
            }
        };
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            after: after_token.or_else(|| input.start_after.clone()),
            max_keys: usize::try_from(max_keys.min(1000)).unwrap_or(1000),
        };
        let page = self.store.list(&input.bucket, &query)?;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: &str| {
            if url {
                crate::notify::event_key(s)
            } else {
                s.to_owned()
            }
        };
        let key_count = page.objects.len() + page.common_prefixes.len();
        let contents = page
            .objects
            .iter()
            .map(|m| Object {
                key: Some(enc(&m.key)),
                size: Some(size_i64(m.size)),
                e_tag: Some(etag_of(m)),
                last_modified: Some(timestamp(m)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let common_prefixes = page
            .common_prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p)),
            })
            .collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(&query.prefix)),
            delimiter: input.delimiter.as_deref().map(enc),
            max_keys: Some(max_keys),
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            continuation_token: input.continuation_token,
            start_after: input.start_after.as_deref().map(enc),
            is_truncated: Some(page.is_truncated()),
            next_continuation_token: page
                .next_after
                .as_deref()
                .map(|k| hex::encode(k.as_bytes())),
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let input = req.input;
        let rules: Vec<CorsRule> = input
            .cors_configuration
            .cors_rules
            .into_iter()
            .map(cors_from_dto)
            .collect();
        cors::validate(&rules)
            .map_err(|msg| S3Error::with_message(S3ErrorCode::InvalidRequest, msg))?;
        self.store.set_cors(&input.bucket, Some(rules))?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let rules = self.store.cors(&req.input.bucket)?.ok_or_else(|| {
            s3_error!(
                NoSuchCORSConfiguration,
                "The CORS configuration does not exist"
            )
        })?;
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(rules.iter().map(cors_to_dto).collect()),
        }))
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.store.set_cors(&req.input.bucket, None)?;
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }
}
