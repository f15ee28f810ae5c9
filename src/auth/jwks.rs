//! The issuer's signing keys: read once per cold start (lazily, on the first
//! authenticated request), re-read when a token names an unknown `kid` or the
//! keys are older than `max_age`, at most once per `min_refresh`. While the
//! issuer is unreachable, keys that have only aged out are still used.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

use super::{AuthSettings, Rejection};

/// A JWKS document larger than this is refused.
const MAX_JWKS_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

type Keys = HashMap<String, (Algorithm, DecodingKey)>;

pub struct KeyStore {
    source: Source,
    keys: RwLock<Arc<Keys>>,
    /// When the keys held were read.
    loaded_at: RwLock<Option<Instant>>,
    /// When the keys were last read and whether that worked; held while
    /// reading so that concurrent requests for one unknown `kid` share a fetch.
    last_fetch: Mutex<Option<(Instant, bool)>>,
    min_refresh: Duration,
    max_age: Duration,
}

enum Source {
    Inline(String),
    Url(String),
}

impl KeyStore {
    pub fn new(settings: &AuthSettings) -> Self {
        let source = match &settings.inline_jwks {
            Some(doc) => Source::Inline(doc.clone()),
            None => Source::Url(settings.jwks_url.clone()),
        };
        Self {
            source,
            keys: RwLock::new(Arc::new(HashMap::new())),
            loaded_at: RwLock::new(None),
            last_fetch: Mutex::new(None),
            min_refresh: settings.min_refresh,
            max_age: settings.max_age,
        }
    }

    /// The key for `kid`, usable with `alg`.
    pub async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, Rejection> {
        if !self.aged() {
            if let Some(found) = self.lookup(kid, alg)? {
                return Ok(found);
            }
        }
        let mut last = self.last_fetch.lock().await;
        // Another request may have refreshed while this one waited.
        if !self.aged() {
            if let Some(found) = self.lookup(kid, alg)? {
                return Ok(found);
            }
        }
        if let Some((at, worked)) = *last {
            if at.elapsed() < self.min_refresh {
                return self.lookup(kid, alg)?.ok_or(if worked {
                    Rejection::UnknownKey
                } else {
                    Rejection::KeysUnavailable
                });
            }
        }
        let read = self.read().await;
        *last = Some((Instant::now(), read.is_ok()));
        match read {
            Ok(fresh) => {
                tracing::info!(keys = fresh.len(), "signing keys loaded");
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
                *self.loaded_at.write().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            }
            Err(rejection) => {
                let held = self.lookup(kid, alg)?;
                if held.is_none() {
                    return Err(rejection);
                }
                tracing::warn!("signing keys could not be re-read; using the keys held");
            }
        }
        self.lookup(kid, alg)?.ok_or(Rejection::UnknownKey)
    }

    /// Whether the keys held are older than `max_age`.
    fn aged(&self) -> bool {
        self.loaded_at
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() >= self.max_age)
    }

    fn lookup(&self, kid: &str, alg: Algorithm) -> Result<Option<DecodingKey>, Rejection> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        match keys.get(kid) {
            Some((key_alg, key)) if *key_alg == alg => Ok(Some(key.clone())),
            // A key of another type than the token claims: never try it.
            Some(_) => Err(Rejection::UnsupportedAlgorithm),
            None => Ok(None),
        }
    }

    async fn read(&self) -> Result<Keys, Rejection> {
        let doc = match &self.source {
            Source::Inline(doc) => Bytes::from(doc.clone().into_bytes()),
            Source::Url(url) => fetch(url).await.map_err(|e| {
                tracing::warn!(error = %e, "JWKS fetch failed");
                Rejection::KeysUnavailable
            })?,
        };
        parse_jwks(&doc).map_err(|e| {
            tracing::warn!(error = %e, "JWKS unreadable");
            Rejection::KeysUnavailable
        })
    }
}

/// The usable keys of a JWKS document: RSA keys (RS256) and P-256 keys
/// (ES256) with a `kid`. Other entries are skipped, not fatal.
pub fn parse_jwks(doc: &[u8]) -> Result<Keys, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<serde_json::Value>,
    }
    let doc: Doc = serde_json::from_slice(doc).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for raw in doc.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(&jwk)) else {
            continue;
        };
        keys.insert(kid, (alg, key));
    }
    Ok(keys)
}

/// Keys are read over HTTPS only; plain HTTP only from this machine (a
/// local key server in tests).
fn allowed(uri: &hyper::Uri) -> bool {
    match uri.scheme_str() {
        Some("https") => true,
        Some("http") => matches!(
            uri.host(),
            Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
        ),
        _ => false,
    }
}

async fn fetch(url: &str) -> Result<Bytes, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad JWKS URL: {e}"))?;
    if !allowed(&uri) {
        return Err("the JWKS URL must be https".to_string());
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let work = async {
        let resp = client.get(uri).await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("JWKS answered {}", resp.status()));
        }
        Limited::new(resp.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| "JWKS fetch timed out".to_string())?
}

#[cfg(test)]
mod url_tests {
    use super::allowed;

    #[test]
    fn keys_are_read_over_https_or_from_this_machine() {
        let ok = |u: &str| allowed(&u.parse().unwrap());
        assert!(ok(
            "https://cognito-idp.eu-west-1.amazonaws.com/pool/.well-known/jwks.json"
        ));
        assert!(ok("http://127.0.0.1:8080/jwks.json"));
        assert!(ok("http://localhost/jwks.json"));
        assert!(!ok("http://idp.example/jwks.json"));
        assert!(!ok("ftp://idp.example/jwks.json"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_entries_are_skipped() {
        let doc = br#"{"keys":[
            {"kty":"RSA","kid":"r1","n":"sXch","e":"AQAB"},
            {"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"oct","kid":"h1","k":"c2VjcmV0"},
            {"kty":"RSA","n":"sXch","e":"AQAB"},
            {"kty":"weird"}
        ]}"#;
        let keys = parse_jwks(doc).unwrap();
        let mut kids: Vec<&String> = keys.keys().collect();
        kids.sort();
        assert_eq!(kids, ["e1", "r1"]);
        assert_eq!(keys["r1"].0, Algorithm::RS256);
        assert_eq!(keys["e1"].0, Algorithm::ES256);
    }

    #[test]
    fn a_document_without_keys_is_an_error() {
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"not json").is_err());
        assert!(parse_jwks(br#"{"keys":[]}"#).unwrap().is_empty());
    }
}
