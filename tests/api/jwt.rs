//! Locally generated signing keys (RSA 2048 and P-256) and the JWTs they sign,
//! made with aws-lc-rs directly (not the library the service verifies with),
//! plus a tiny JWKS server on 127.0.0.1 that counts its fetches.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

pub const ISSUER: &str = "https://idp.test/pool-1";
pub const AUDIENCE: &str = "hms-app";

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

pub struct Signer {
    pub kid: String,
    key: Key,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(header).base64url(claims)`: what a JWT signature covers.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Signer {
    pub fn rsa(kid: &str) -> Self {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        Self {
            kid: kid.to_string(),
            key: Key::Rsa(key),
        }
    }

    pub fn ec(kid: &str) -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key");
        Self {
            kid: kid.to_string(),
            key: Key::Ec(key),
        }
    }

    pub fn alg(&self) -> &'static str {
        match self.key {
            Key::Rsa(_) => "RS256",
            Key::Ec(_) => "ES256",
        }
    }

    /// The public half as a JWK, under `kid`.
    pub fn jwk_as(&self, kid: &str) -> Value {
        match &self.key {
            Key::Rsa(k) => {
                let public = k.public_key();
                json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                       "n": b64(public.modulus().big_endian_without_leading_zero()),
                       "e": b64(public.exponent().big_endian_without_leading_zero())})
            }
            Key::Ec(k) => {
                // Uncompressed point: 0x04 || x || y.
                let point = k.public_key().as_ref();
                json!({"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
                       "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
        }
    }

    pub fn jwk(&self) -> Value {
        self.jwk_as(&self.kid)
    }

    /// Signs `header.claims` as given (the header is not completed).
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let message = signing_input(header, claims);
        let rng = SystemRandom::new();
        let signature = match &self.key {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message.as_bytes(), &mut sig)
                    .expect("RSA signature");
                sig
            }
            Key::Ec(k) => k
                .sign(&rng, message.as_bytes())
                .expect("EC signature")
                .as_ref()
                .to_vec(),
        };
        format!("{message}.{}", b64(&signature))
    }

    /// The classic confusion attack: an HS256 token whose HMAC secret is
    /// this key's public half (the JWK's JSON text), under this key's kid.
    pub fn hs256_with_public_key(&self, claims: &Value) -> String {
        let header = json!({"alg": "HS256", "kid": self.kid, "typ": "JWT"});
        let message = signing_input(&header, claims);
        let secret = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            self.jwk().to_string().as_bytes(),
        );
        let tag = aws_lc_rs::hmac::sign(&secret, message.as_bytes());
        format!("{message}.{}", b64(tag.as_ref()))
    }

    /// A token with this key's alg and kid over `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_raw(
            &json!({"alg": self.alg(), "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }

    /// A token valid for now: issuer, audience, subject, groups.
    pub fn token(&self, sub: &str, groups: &[&str]) -> String {
        self.sign(&claims(sub, groups))
    }
}

/// Claims valid for the next hour.
pub fn claims(sub: &str, groups: &[&str]) -> Value {
    let now = now();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now - 5,
           "exp": now + 3600, "cognito:groups": groups, "token_use": "id"})
}

pub fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// A JWKS endpoint on 127.0.0.1 serving `doc`, counting the fetches.
pub struct JwksServer {
    pub url: String,
    pub doc: Arc<Mutex<String>>,
    pub hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub fn start(doc: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().expect("addr")
        );
        let doc = Arc::new(Mutex::new(doc));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counter) = (doc.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let mut request = Vec::new();
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().map(|d| d.clone()).unwrap_or_default();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(reply.as_bytes()).ok();
            }
        });
        Self { url, doc, hits }
    }

    pub fn serve(&self, doc: String) {
        *self.doc.lock().expect("doc") = doc;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
