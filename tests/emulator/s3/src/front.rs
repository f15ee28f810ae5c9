//! The HTTP service in front of `s3s`: answers CORS preflights itself (they
//! are not signed), passes every other request to `s3s`, and adds what S3 adds
//! to answers: CORS headers for an allowed `Origin`, request ids, a log line.

use crate::cors;
use crate::s3::RequestId;
use crate::store::Store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use s3s::service::S3Service;
use s3s::{Body, HttpError};
use sha2::{Digest, Sha256};

pub struct Front {
    pub s3: S3Service,
    pub store: Arc<Store>,
    pub verbose: bool,
    ids: AtomicU64,
    seed: u128,
}

/// The bucket of a path-style request (`/{bucket}` or `/{bucket}/{key}`).
pub fn bucket_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let bucket = rest.split('/').next()?;
    (!bucket.is_empty()).then_some(bucket)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_xml(
    status: StatusCode,
    code: &str,
    message: &str,
    extra: &str,
    request_id: &str,
) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>{extra}<RequestId>{request_id}</RequestId><HostId>local</HostId></Error>",
        xml_escape(message)
    );
    let mut resp = Response::new(Body::from(xml));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

fn add_headers(resp: &mut Response<Body>, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            resp.headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
}

impl Front {
    pub fn new(s3: S3Service, store: Arc<Store>, verbose: bool) -> Front {
        let seed =
            u128::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(0);
        Front {
            s3,
            store,
            verbose,
            ids: AtomicU64::new(0),
            seed,
        }
    }

    fn next_request_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let digest = Sha256::digest(format!("{}-{n}", self.seed).as_bytes());
        hex::encode_upper(&digest[..8])
    }

    pub async fn handle(
        &self,
        mut req: Request<hyper::body::Incoming>,
    ) -> Result<Response<Body>, HttpError> {
        let method = req.method().clone();
        let path_len = req.uri().path().len();
        let bucket = bucket_of(req.uri().path()).map(str::to_owned);
        let origin = header_str(req.headers(), "origin").map(str::to_owned);
        let request_id = self.next_request_id();

        let mut resp = if method == Method::OPTIONS {
            self.preflight(bucket.as_deref(), req.headers(), &request_id)
        } else {
            req.extensions_mut().insert(RequestId(request_id.clone()));
            let mut resp = self.s3.call(req.map(Body::from)).await?;
            if let (Some(origin), Some(bucket)) = (origin.as_deref(), bucket.as_deref()) {
                self.decorate(&mut resp, bucket, origin, method.as_str());
            }
            resp
        };

        let headers = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.entry("x-amz-request-id").or_insert(v);
        }
        if let Ok(v) = HeaderValue::from_str(&hex::encode(Sha256::digest(request_id.as_bytes()))) {
            headers.entry("x-amz-id-2").or_insert(v);
        }
        if self.verbose {
            eprintln!(
                "{method} bucket={} path_len={path_len} -> {}",
                bucket.as_deref().unwrap_or("-"),
                resp.status().as_u16()
            );
        }
        Ok(resp)
    }

    /// The answer S3 gives to `OPTIONS /{bucket}[/{key}]`, from the bucket's CORS rules.
    fn preflight(
        &self,
        bucket: Option<&str>,
        headers: &HeaderMap,
        request_id: &str,
    ) -> Response<Body> {
        let origin = header_str(headers, "origin");
        let method = header_str(headers, "access-control-request-method");
        let (Some(origin), Some(method)) = (origin, method) else {
            return error_xml(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Origin request header needed.",
                "",
                request_id,
            );
        };
        let requested = header_str(headers, "access-control-request-headers")
            .map(cors::parse_request_headers)
            .unwrap_or_default();
        let extra = format!(
            "<Method>{}</Method><ResourceType>OBJECT</ResourceType>",
            xml_escape(method)
        );
        let rules = bucket.and_then(|b| self.store.cors(b).ok().flatten());
        let Some(rules) = rules else {
            return error_xml(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: CORS is not enabled for this bucket.",
                &extra,
                request_id,
            );
        };
        match cors::match_preflight(&rules, origin, method, &requested) {
            Some(rule) => {
                let mut resp = Response::new(Body::empty());
                add_headers(&mut resp, cors::preflight_headers(rule, origin, &requested));
                resp
            }
            None => error_xml(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
                &extra,
                request_id,
            ),
        }
    }

    /// Adds the CORS headers of the first rule allowing `origin` and `method`.
    fn decorate(&self, resp: &mut Response<Body>, bucket: &str, origin: &str, method: &str) {
        let Ok(Some(rules)) = self.store.cors(bucket) else {
            return;
        };
        if let Some(rule) = cors::match_request(&rules, origin, method) {
            add_headers(resp, cors::request_headers(rule, origin));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bucket_of_a_path() {
        assert_eq!(bucket_of("/b/k/x"), Some("b"));
        assert_eq!(bucket_of("/b"), Some("b"));
        assert_eq!(bucket_of("/b/"), Some("b"));
        assert_eq!(bucket_of("/"), None);
        assert_eq!(bucket_of(""), None);
    }
}
