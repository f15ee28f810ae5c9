//! CloudFront signed URLs (canned policy, RSA-SHA256): the only links to
//! patient files the API hands out when a CDN is configured. The distribution
//! trusts a key group holding the public half of this key and refuses
//! unsigned requests; the private half is read once per cold start from SSM
//! Parameter Store (a SecureString), never from the environment.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

use crate::error::{ApiError, ApiResult};

/// Kept as is in a URL path segment: RFC 3986 unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Signs CloudFront URLs for one distribution domain with one key.
pub struct UrlSigner {
    domain: String,
    key_pair_id: String,
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSigner")
            .field("domain", &self.domain)
            .field("key_pair_id", &self.key_pair_id)
            .finish_non_exhaustive()
    }
}

/// The signing key's PEM, read from its SSM SecureString `param` (once, at
/// cold start); the error says what failed, never the key.
pub async fn read_private_key(ssm: &aws_sdk_ssm::Client, param: &str) -> Result<String, String> {
    let out = ssm
        .get_parameter()
        .name(param)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| ApiError::from(e).to_string())?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| "parameter has no value".to_string())
}

impl UrlSigner {
    /// `pem`: an RSA private key, PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa` writes).
    pub fn from_pem(domain: &str, key_pair_id: &str, pem: &str) -> ApiResult<Self> {
        let invalid = |what: &str| ApiError::Internal(format!("CDN signing key: {what}"));
        let der = PrivateKeyDer::from_pem_slice(pem.trim().as_bytes())
            .map_err(|_| invalid("not a PEM private key"))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(invalid("not an RSA key")),
        }
        .map_err(|_| invalid("RSA key rejected"))?;
        if key_pair_id.trim().is_empty() {
            return Err(invalid("no key pair id"));
        }
        Ok(Self {
            domain: domain.to_string(),
            key_pair_id: key_pair_id.trim().to_string(),
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The object's URL on the distribution (path segments percent-encoded).
    pub fn resource(&self, key: &str) -> String {
        let path: Vec<String> = key
            .split('/')
            .map(|seg| utf8_percent_encode(seg, PATH_SEGMENT).to_string())
            .collect();
        format!("https://{}/{}", self.domain, path.join("/"))
    }

    /// A URL for `key` valid until `expires_epoch` (seconds).
    pub fn sign(&self, key: &str, expires_epoch: u64) -> ApiResult<String> {
        let resource = self.resource(key);
        let policy = canned_policy(&resource, expires_epoch);
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                policy.as_bytes(),
                &mut signature,
            )
            .map_err(|_| ApiError::Internal("CDN URL signing failed".into()))?;
        Ok(format!(
            "{resource}?Expires={expires_epoch}&Signature={}&Key-Pair-Id={}&Hash-Algorithm=SHA256",
            url_safe(&STANDARD.encode(signature)),
            self.key_pair_id
        ))
    }
}

/// The canned policy CloudFront rebuilds from the URL to check the signature:
/// this exact text (key order, no whitespace). `resource` is percent-encoded,
/// so it needs no JSON escaping.
pub fn canned_policy(resource: &str, expires_epoch: u64) -> String {
    format!(
        r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires_epoch}}}}}}}]}}"#
    )
}

/// CloudFront's URL-safe base64: `+` → `-`, `=` → `_`, `/` → `~`.
fn url_safe(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::{KeyPair as _, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    fn pem_of(key: &KeyPair) -> String {
        let der = key.as_der().unwrap();
        let body = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    fn query<'a>(url: &'a str, name: &str) -> &'a str {
        url.split_once('?')
            .unwrap()
            .1
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap()
    }

    #[test]
    fn a_signed_url_verifies_against_the_public_key() {
        // Given a signer with a fresh RSA 2048 key
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let signer = UrlSigner::from_pem("d1.cloudfront.net", "K2JCJMDEHXQW5F", &pem_of(&key))
            .expect("signer");
        let object = "patients/u1/optimized/docs/lab/1-a b-q80-1600w.jpg";
        // When a URL is signed
        let url = signer.sign(object, 1_767_290_400).unwrap();
        // Then it names the object, the expiry, the key and the hash
        assert!(url.starts_with(
            "https://d1.cloudfront.net/patients/u1/optimized/docs/lab/1-a%20b-q80-1600w.jpg?"
        ));
        assert_eq!(query(&url, "Expires"), "1767290400");
        assert_eq!(query(&url, "Key-Pair-Id"), "K2JCJMDEHXQW5F");
        assert_eq!(query(&url, "Hash-Algorithm"), "SHA256");
        // And the signature is the canned policy's, under the public key, as
        // CloudFront checks it
        let sig = query(&url, "Signature")
            .replace('-', "+")
            .replace('_', "=")
            .replace('~', "/");
        let sig = STANDARD.decode(sig).unwrap();
        let resource = url.split_once('?').unwrap().0;
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());
        public
            .verify(canned_policy(resource, 1_767_290_400).as_bytes(), &sig)
            .expect("signature verifies");
        // And it does not verify for another expiry or another object
        assert!(public
            .verify(canned_policy(resource, 1_767_290_401).as_bytes(), &sig)
            .is_err());
        let other = signer.resource("patients/u2/optimized/docs/lab/x.jpg");
        assert!(public
            .verify(canned_policy(&other, 1_767_290_400).as_bytes(), &sig)
            .is_err());
    }

    #[test]
    fn the_policy_has_no_whitespace_and_the_signature_no_url_unsafe_characters() {
        let policy = canned_policy("https://d/k", 5);
        assert_eq!(
            policy,
            r#"{"Statement":[{"Resource":"https://d/k","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#
        );
        assert_eq!(url_safe("a+b/c=="), "a-b~c__");
    }

    #[test]
    fn a_bad_key_is_refused() {
        assert!(UrlSigner::from_pem("d", "K", "not a key").is_err());
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        assert!(UrlSigner::from_pem("d", " ", &pem_of(&key)).is_err());
    }
}
