//! The request context: AWS clients and settings, built once per cold start and
//! shared (cheaply cloned) by every request.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use crate::auth::{AuthSettings, Authenticator};
use crate::aws_calls::CallCounter;
use crate::error::ApiError;
use crate::s3::cdn::UrlSigner;

/// Settings read from the environment (see the README's configuration table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub table: String,
    pub bucket: Option<String>,
    pub presign_expires: Duration,
    pub cdn_domain: Option<String>,
    /// The CloudFront public key id (`Key-Pair-Id` of signed URLs).
    pub cdn_key_pair_id: Option<String>,
    /// SSM parameter (SecureString) holding the signing key's private half.
    pub cdn_private_key_param: Option<String>,
    pub cf_distribution_id: Option<String>,
    pub cors_origin: String,
    /// The largest upload of each kind, in bytes.
    pub uploads: UploadLimits,
    /// `None`: authentication is off (no `AUTH_ISSUER`).
    pub auth: Option<AuthSettings>,
    /// Where X-Ray's daemon listens (`AWS_XRAY_DAEMON_ADDRESS`, which Lambda
    /// sets when tracing is active): the AWS calls of sampled requests go
    /// there as subsegments.
    pub xray_daemon: Option<String>,
    pub limits: Limits,
}

/// Time and retry bounds, so that a failing dependency gets a 503 well
/// before the Lambda timeout (15 s in template.yaml) cuts the request off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// One attempt of one AWS call.
    pub attempt_timeout: Duration,
    /// One AWS call, retries included.
    pub operation_timeout: Duration,
    /// Attempts per AWS call (the SDK's standard retry mode).
    pub max_attempts: u32,
    /// First retry back-off of the SDK (it grows from here, jittered).
    pub initial_backoff: Duration,
    /// The whole request, however many calls it makes.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_millis(2_500),
            operation_timeout: Duration::from_secs(6),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(12),
        }
    }
}

impl Limits {
    /// The SDK's time and retry settings for every client.
    pub fn sdk_configs(&self) -> (TimeoutConfig, RetryConfig) {
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .connect_timeout(self.attempt_timeout.min(Duration::from_secs(1)))
            .build();
        let retries = RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff);
        (timeouts, retries)
    }
}

pub const DEFAULT_PRESIGN_SECS: u64 = 900;

/// The settings this crate reads, by their primary names (aliases aside); the
/// deployment template must set each of them.
pub const ENV_VARS: [&str; 13] = [
    "TABLE_NAME",
    "FILES_BUCKET",
    "PRESIGN_EXPIRES_SEC",
    "MAX_PHOTO_BYTES",
    "MAX_PDF_BYTES",
    "CDN_DOMAIN",
    "CDN_KEY_PAIR_ID",
    "CDN_PRIVATE_KEY_PARAM",
    "CF_DISTRIBUTION_ID",
    "CORS_ALLOW_ORIGIN",
    "AUTH_ISSUER",
    "AUTH_AUDIENCE",
    "AUTH_JWKS_URL",
];
/// S3 refuses presigned URLs valid for more than seven days.
const MAX_PRESIGN_SECS: u64 = 7 * 24 * 3600;

/// The largest upload of each kind. Photos: a 1600-px JPEG or WebP is
/// well under 2 MB, and a phone camera's original under 10 MB. PDFs: a
/// scanned multi-page report at 300 dpi stays under 25 MB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadLimits {
    pub photo: u64,
    pub pdf: u64,
}

impl UploadLimits {
    pub const DEFAULT_PHOTO: u64 = 10 * 1024 * 1024;
    pub const DEFAULT_PDF: u64 = 25 * 1024 * 1024;

    /// The limit for an object of `content_type`.
    pub fn for_type(&self, content_type: &str) -> u64 {
        if content_type.eq_ignore_ascii_case("application/pdf") {
            self.pdf
        } else {
            self.photo
        }
    }
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            photo: Self::DEFAULT_PHOTO,
            pdf: Self::DEFAULT_PDF,
        }
    }
}

/// A byte count from the environment (1 byte to 5 GB, S3's largest single
/// PUT), else `default`.
fn bytes_setting(raw: Option<String>, default: u64) -> u64 {
    raw.and_then(|v| v.parse::<u64>().ok())
        .filter(|n| (1..=5 * 1024 * 1024 * 1024).contains(n))
        .unwrap_or(default)
}

impl Settings {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so the rules are testable without touching
    /// the process environment. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let first = |names: &[&str]| names.iter().find_map(|n| get(n));
        let presign_secs = get("PRESIGN_EXPIRES_SEC")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|secs| (1..=MAX_PRESIGN_SECS).contains(secs))
            .unwrap_or(DEFAULT_PRESIGN_SECS);
        Self {
            table: get("TABLE_NAME").unwrap_or_else(|| "HMS".to_string()),
            bucket: first(&["FILES_BUCKET", "DOCS_BUCKET", "S3_BUCKET"]),
            presign_expires: Duration::from_secs(presign_secs),
            cdn_domain: first(&["CDN_DOMAIN", "CF_DOMAIN"]).map(|d| {
                d.trim_start_matches("https://")
                    .trim_end_matches('/')
                    .to_string()
            }),
            cdn_key_pair_id: get("CDN_KEY_PAIR_ID"),
            cdn_private_key_param: get("CDN_PRIVATE_KEY_PARAM"),
            cf_distribution_id: get("CF_DISTRIBUTION_ID"),
            cors_origin: get("CORS_ALLOW_ORIGIN").unwrap_or_else(|| "*".to_string()),
            uploads: UploadLimits {
                photo: bytes_setting(get("MAX_PHOTO_BYTES"), UploadLimits::DEFAULT_PHOTO),
                pdf: bytes_setting(get("MAX_PDF_BYTES"), UploadLimits::DEFAULT_PDF),
            },
            auth: AuthSettings::from_lookup(get),
            xray_daemon: get("AWS_XRAY_DAEMON_ADDRESS"),
            limits: Limits::default(),
        }
    }
}

/// Where each client sends its calls when not to AWS itself (tests pass these
/// explicitly; local runs use the standard `AWS_ENDPOINT_URL*` variables).
#[derive(Clone, Debug, Default)]
pub struct Endpoints {
    pub dynamodb: Option<String>,
    pub s3: Option<String>,
    pub cloudfront: Option<String>,
}

#[derive(Clone)]
pub struct Context {
    pub ddb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub settings: Arc<Settings>,
    /// Signs CloudFront URLs; present when a CDN and its key are configured.
    pub cdn: Option<Arc<UrlSigner>>,
    /// Present when authentication is on.
    pub auth: Option<Arc<Authenticator>>,
}

impl Context {
    /// One `aws_config` load; clients are built from it without any network call.
    pub async fn from_env() -> Self {
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        let settings = Settings::from_env();
        if settings.auth.as_ref().is_some_and(|a| a.audience.is_none()) {
            tracing::error!(
                "AUTH_ISSUER is set without AUTH_AUDIENCE: every request is refused until the audience (the app client id) is set"
            );
        }
        if settings.auth.is_none() {
            tracing::warn!(
                "authentication is OFF (AUTH_ISSUER unset): every route is open to anyone who can reach the URL"
            );
        }
        let s3_endpoint_set = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()));
        let (timeouts, retries) = settings.limits.sdk_configs();
        let cdn = settings.cdn_domain.is_some();
        let ctx = Self::build(&sdk, settings, &Endpoints::default(), s3_endpoint_set);
        if !cdn {
            return ctx;
        }
        let ssm = aws_sdk_ssm::config::Builder::from(&sdk)
            .timeout_config(timeouts)
            .retry_config(retries)
            .build();
        ctx.with_cdn_key_from(&aws_sdk_ssm::Client::from_conf(ssm))
            .await
    }

    /// Reads the CDN signing key from SSM once (cold start). Without it, links
    /// fall back to presigned S3 GETs: still signed and expiring.
    pub async fn with_cdn_key_from(mut self, ssm: &aws_sdk_ssm::Client) -> Self {
        let s = &self.settings;
        let (Some(domain), Some(id), Some(param)) = (
            s.cdn_domain.as_deref(),
            s.cdn_key_pair_id.as_deref(),
            s.cdn_private_key_param.as_deref(),
        ) else {
            if s.cdn_domain.is_some() {
                tracing::error!("CDN_DOMAIN is set without CDN_KEY_PAIR_ID and CDN_PRIVATE_KEY_PARAM; links are presigned S3 GETs");
            }
            return self;
        };
        let pem = crate::s3::cdn::read_private_key(ssm, param).await;
        match pem.and_then(|pem| UrlSigner::from_pem(domain, id, &pem).map_err(|e| e.to_string())) {
            Ok(signer) => self.cdn = Some(Arc::new(signer)),
            Err(err) => {
                tracing::error!(error = %err, "CDN signing key unavailable; links are presigned S3 GETs")
            }
        }
        self
    }

    /// Builds the clients. `s3_path_style` is needed by local S3 servers, which
    /// have no per-bucket DNS names.
    pub fn build(
        sdk: &SdkConfig,
        settings: Settings,
        endpoints: &Endpoints,
        s3_path_style: bool,
    ) -> Self {
        let (timeouts, retries) = settings.limits.sdk_configs();
        let mut ddb = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(CallCounter)
            .retry_classifier(crate::store::sdk_errors::ConflictRetry)
            // Each context its own retry budget (a Lambda builds one): clients
            // of one process otherwise share the SDK's token bucket.
            .retry_partition(aws_smithy_runtime::client::retries::RetryPartition::new(
                format!("dynamodb-{}", uuid::Uuid::new_v4().simple()),
            ))
            .timeout_config(timeouts.clone())
            .retry_config(retries.clone());
        if let Some(url) = &endpoints.dynamodb {
            ddb = ddb.endpoint_url(url);
        }
        // Presigned PUTs must not carry a checksum of an empty body: real S3 would
        // reject every real upload. Checksums are only computed where required.
        let mut s3 = aws_sdk_s3::config::Builder::from(sdk)
            .interceptor(CallCounter)
            .timeout_config(timeouts.clone())
            .retry_config(retries.clone())
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
            .force_path_style(s3_path_style || endpoints.s3.is_some());
        if let Some(url) = &endpoints.s3 {
            s3 = s3.endpoint_url(url);
        }
        let mut cf = aws_sdk_cloudfront::config::Builder::from(sdk)
            .interceptor(CallCounter)
            .timeout_config(timeouts)
            .retry_config(retries);
        if let Some(url) = &endpoints.cloudfront {
            cf = cf.endpoint_url(url);
        }
        Self {
            ddb: aws_sdk_dynamodb::Client::from_conf(ddb.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            cloudfront: aws_sdk_cloudfront::Client::from_conf(cf.build()),
            cdn: None,
            auth: settings
                .auth
                .clone()
                .map(|a| Arc::new(Authenticator::new(a))),
            settings: Arc::new(settings),
        }
    }

    pub fn table(&self) -> &str {
        &self.settings.table
    }

    /// The files bucket, or the 500 the contract asks for on file routes only.
    pub fn bucket(&self) -> Result<&str, ApiError> {
        self.settings
            .bucket
            .as_deref()
            .ok_or(ApiError::NotConfigured("FILES_BUCKET"))
    }
}

#[cfg(test)]
impl Context {
    /// A context whose clients point at a closed local port: for unit tests of
    /// code that makes no network call (presigning).
    pub fn offline_for_tests() -> Self {
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                aws_sdk_s3::config::Credentials::new("test", "test", None, None, "unit-test"),
            ))
            .behavior_version(BehaviorVersion::latest())
            .build();
        let settings =
            Settings::from_lookup(|name| (name == "FILES_BUCKET").then(|| "hms-test".to_string()));
        let endpoint = Some("http://127.0.0.1:9".to_string());
        let endpoints = Endpoints {
            dynamodb: endpoint.clone(),
            s3: endpoint.clone(),
            cloudfront: endpoint,
        };
        Self::build(&sdk, settings, &endpoints, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn production_limits_answer_before_the_lambda_timeout() {
        let l = Limits::default();
        assert_eq!(l.attempt_timeout, Duration::from_millis(2_500));
        assert_eq!(l.operation_timeout, Duration::from_secs(6));
        assert_eq!(l.request_timeout, Duration::from_secs(12));
        assert_eq!(l.max_attempts, 3);
        // Every attempt of a call fits its operation bound, and the request
        // bound cuts the last call off below the Lambda timeout of the template
        assert!(l.attempt_timeout * 2 <= l.operation_timeout);
        assert!(l.operation_timeout < l.request_timeout);
        let template = include_str!("../template.yaml");
        let lambda_timeout: u64 = template
            .lines()
            .find_map(|line| line.trim().strip_prefix("Timeout: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("the template's function timeout");
        assert!(
            l.request_timeout + Duration::from_secs(2) <= Duration::from_secs(lambda_timeout),
            "12 s request bound and {lambda_timeout} s Lambda timeout"
        );
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = settings(&[]);
        assert_eq!(s.table, "HMS");
        assert_eq!(s.bucket, None);
        assert_eq!(s.presign_expires, Duration::from_secs(900));
        assert_eq!(s.cors_origin, "*");
        assert_eq!(s.cdn_domain, None);
    }

    #[test]
    fn bucket_and_cdn_fall_back_to_their_aliases() {
        let s = settings(&[
            ("S3_BUCKET", "b3"),
            ("DOCS_BUCKET", "b2"),
            ("CF_DOMAIN", "https://d1.cloudfront.net/"),
        ]);
        assert_eq!(s.bucket.as_deref(), Some("b2"));
        assert_eq!(s.cdn_domain.as_deref(), Some("d1.cloudfront.net"));
        let s = settings(&[("FILES_BUCKET", "b1"), ("DOCS_BUCKET", "b2")]);
        assert_eq!(s.bucket.as_deref(), Some("b1"));
    }

    #[test]
    fn invalid_presign_expiry_falls_back_to_default() {
        assert_eq!(
            settings(&[("PRESIGN_EXPIRES_SEC", "abc")])
                .presign_expires
                .as_secs(),
            900
        );
        assert_eq!(
            settings(&[("PRESIGN_EXPIRES_SEC", "0")])
                .presign_expires
                .as_secs(),
            900
        );
        assert_eq!(
            settings(&[("PRESIGN_EXPIRES_SEC", "60")])
                .presign_expires
                .as_secs(),
            60
        );
    }
}
