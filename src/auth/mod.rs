//! Bearer-token authentication: JWTs signed by a key of the issuer's JWKS
//! (RS256 or ES256, Cognito-compatible). Off unless `AUTH_ISSUER` is set.
//!
//! The token itself is never logged; a rejected token logs only its reason.

mod jwks;

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

pub use jwks::KeyStore;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 60;
/// The group whose members may change checklist rules and doctors.
pub const ADMIN_GROUP: &str = "admin";
/// Default shortest time between two JWKS fetches triggered by unknown `kid`s.
const DEFAULT_REFRESH_SECS: u64 = 60;
/// Default age after which the keys held are re-read (a retired key stops
/// being trusted within this time).
const DEFAULT_MAX_AGE_SECS: u64 = 3600;
/// Default longest lifetime a token may claim (`exp` at most this far past
/// its `iat`, or past now): a leaked long-lived token is refused.
const DEFAULT_MAX_LIFETIME_SECS: u64 = 12 * 3600;

/// Authentication settings (see the README's configuration table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: Option<String>,
    pub jwks_url: String,
    /// An inline JWKS document (offline use and tests); wins over the URL.
    pub inline_jwks: Option<String>,
    /// Shortest time between two fetches of the JWKS.
    pub min_refresh: Duration,
    /// Keys older than this are re-read before use.
    pub max_age: Duration,
    /// The longest lifetime a token may claim.
    pub max_lifetime: Duration,
}

impl AuthSettings {
    /// `None` when `AUTH_ISSUER` is unset: authentication is off.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let issuer = get("AUTH_ISSUER")?.trim_end_matches('/').to_string();
        let jwks_url =
            get("AUTH_JWKS_URL").unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        let secs = |name: &str, default: u64| {
            Duration::from_secs(
                get(name)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(default),
            )
        };
        Some(Self {
            audience: get("AUTH_AUDIENCE"),
            inline_jwks: get("AUTH_JWKS"),
            min_refresh: secs("AUTH_JWKS_MIN_REFRESH_SEC", DEFAULT_REFRESH_SECS),
            max_age: secs("AUTH_JWKS_MAX_AGE_SEC", DEFAULT_MAX_AGE_SECS),
            max_lifetime: secs("AUTH_MAX_TOKEN_LIFETIME_SEC", DEFAULT_MAX_LIFETIME_SECS),
            jwks_url,
            issuer,
        })
    }
}

/// Who made a request, from a verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub groups: Vec<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == ADMIN_GROUP)
    }
}

/// Why a request was not authenticated. The reason is logged, not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    MissingHeader,
    NotBearer,
    Malformed,
    UnsupportedAlgorithm,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    MissingClaim,
    /// `exp` further away than the longest lifetime allowed.
    TooLongLived,
    /// A `token_use` other than `id` or `access`.
    WrongTokenUse,
    /// The JWKS could not be fetched: a dependency failure, not the caller's.
    KeysUnavailable,
    /// An issuer is set without an audience: every token is refused until
    /// `AUTH_AUDIENCE` names the app client (a fault of the deployment).
    NoAudienceConfigured,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::MissingHeader => "no Authorization header",
            Rejection::NotBearer => "Authorization is not a Bearer token",
            Rejection::Malformed => "malformed token",
            Rejection::UnsupportedAlgorithm => "token algorithm not accepted",
            Rejection::UnknownKey => "token signed by an unknown key",
            Rejection::BadSignature => "bad token signature",
            Rejection::Expired => "token expired",
            Rejection::NotYetValid => "token not yet valid",
            Rejection::WrongIssuer => "token from another issuer",
            Rejection::WrongAudience => "token for another audience",
            Rejection::MissingClaim => "token lacks a required claim",
            Rejection::TooLongLived => "token lives longer than allowed",
            Rejection::WrongTokenUse => "token is neither an id nor an access token",
            Rejection::KeysUnavailable => "signing keys unavailable",
            Rejection::NoAudienceConfigured => {
                "AUTH_AUDIENCE is not set: no token is accepted without an audience to check"
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(rename = "cognito:groups", default)]
    groups: Vec<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    /// Cognito access tokens name their app client here instead of `aud`.
    #[serde(default)]
    client_id: Option<String>,
    /// Must be exactly the issuer (a list holding it is not).
    #[serde(default)]
    iss: serde_json::Value,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    /// Cognito: `id` or `access`; absent in other issuers' tokens.
    #[serde(default)]
    token_use: Option<String>,
}

/// Verifies bearer tokens against the issuer's keys.
pub struct Authenticator {
    settings: AuthSettings,
    keys: KeyStore,
}

impl Authenticator {
    pub fn new(settings: AuthSettings) -> Self {
        let keys = KeyStore::new(&settings);
        Self { settings, keys }
    }

    /// The caller named by a valid `Authorization: Bearer` header value.
    pub async fn authenticate(&self, header: Option<&[u8]>) -> Result<Caller, Rejection> {
        if self.settings.audience.is_none() {
            return Err(Rejection::NoAudienceConfigured);
        }
        let header = header.ok_or(Rejection::MissingHeader)?;
        let token = bearer_token(header)?;
        let head = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
        if !matches!(head.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(Rejection::UnsupportedAlgorithm);
        }
        let kid = head.kid.as_deref().ok_or(Rejection::UnknownKey)?;
        let key = self.keys.key(kid, head.alg).await?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation(head.alg))
            .map_err(|e| rejection_of(e.kind()))?
            .claims;
        if let Some(audience) = &self.settings.audience {
            // With no `aud`, an access token must name the app client instead.
            if claims.aud.is_none() && claims.client_id.as_deref() != Some(audience.as_str()) {
                return Err(Rejection::WrongAudience);
            }
        }
        if claims.iss.as_str() != Some(self.settings.issuer.as_str()) {
            return Err(Rejection::WrongIssuer);
        }
        let now = jsonwebtoken::get_current_timestamp();
        let born = claims.iat.unwrap_or(now).min(now);
        if claims.exp.saturating_sub(born) > self.settings.max_lifetime.as_secs() + LEEWAY_SECS {
            return Err(Rejection::TooLongLived);
        }
        // A Cognito pool's tokens always say what they are; elsewhere the
        // claim is optional, but never another value.
        let token_use_required = self.settings.issuer.contains("cognito-idp.");
        match claims.token_use.as_deref() {
            Some("id" | "access") => {}
            None if !token_use_required => {}
            _ => return Err(Rejection::WrongTokenUse),
        }
        if claims.sub.trim().is_empty() {
            return Err(Rejection::MissingClaim);
        }
        Ok(Caller {
            subject: claims.sub,
            groups: claims.groups,
        })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.set_issuer(&[self.settings.issuer.as_str()]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        match &self.settings.audience {
            Some(aud) => v.set_audience(&[aud.as_str()]),
            None => v.validate_aud = false,
        }
        v
    }
}

/// The token of a `Bearer` header value (scheme case-insensitive).
fn bearer_token(header: &[u8]) -> Result<&str, Rejection> {
    let value = std::str::from_utf8(header).map_err(|_| Rejection::NotBearer)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(Rejection::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() || token.len() > 16 * 1024 {
        return Err(Rejection::Malformed);
    }
    Ok(token)
}

fn rejection_of(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
        ErrorKind::InvalidAudience => Rejection::WrongAudience,
        ErrorKind::InvalidSignature => Rejection::BadSignature,
        ErrorKind::MissingRequiredClaim(_) => Rejection::MissingClaim,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            Rejection::UnsupportedAlgorithm
        }
        _ => Rejection::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Option<AuthSettings> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        AuthSettings::from_lookup(|n| map.get(n).map(|v| v.to_string()))
    }

    #[test]
    fn auth_is_off_without_an_issuer() {
        assert_eq!(settings(&[("AUTH_AUDIENCE", "app")]), None);
    }

    #[test]
    fn the_jwks_url_defaults_to_the_issuers_well_known_path() {
        let s = settings(&[("AUTH_ISSUER", "https://idp.example/pool/")]).unwrap();
        assert_eq!(s.issuer, "https://idp.example/pool");
        assert_eq!(s.jwks_url, "https://idp.example/pool/.well-known/jwks.json");
        assert_eq!(s.audience, None);
        assert_eq!(s.min_refresh, Duration::from_secs(60));
        assert_eq!(s.max_age, Duration::from_secs(3600));
        let s = settings(&[
            ("AUTH_ISSUER", "https://idp.example"),
            ("AUTH_JWKS_URL", "http://127.0.0.1:1/keys"),
            ("AUTH_JWKS_MIN_REFRESH_SEC", "0"),
            ("AUTH_JWKS_MAX_AGE_SEC", "600"),
        ])
        .unwrap();
        assert_eq!(s.jwks_url, "http://127.0.0.1:1/keys");
        assert_eq!(s.min_refresh, Duration::ZERO);
        assert_eq!(s.max_age, Duration::from_secs(600));
    }

    #[test]
    fn only_bearer_headers_carry_a_token() {
        assert_eq!(bearer_token(b"Bearer abc.def.ghi"), Ok("abc.def.ghi"));
        assert_eq!(bearer_token(b"bearer  abc "), Ok("abc"));
        assert_eq!(
            bearer_token(b"Basic dXNlcjpwdw=="),
            Err(Rejection::NotBearer)
        );
        assert_eq!(bearer_token(b"Bearer"), Err(Rejection::NotBearer));
        assert_eq!(bearer_token(b"Bearer  "), Err(Rejection::NotBearer));
        assert_eq!(bearer_token(&[0xff, 0xfe]), Err(Rejection::NotBearer));
    }

    #[test]
    fn admins_are_members_of_the_admin_group() {
        let caller = |groups: &[&str]| Caller {
            subject: "s".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        assert!(caller(&["doctors", "admin"]).is_admin());
        assert!(!caller(&["doctors"]).is_admin());
        assert!(!caller(&["Admin"]).is_admin());
    }
}
