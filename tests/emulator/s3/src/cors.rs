//! Bucket CORS as S3 evaluates it: rules, matching, and the headers of a
//! preflight answer or of an actual request's answer.

use serde::{Deserialize, Serialize};

/// One CORS rule of a bucket (stored as JSON in the bucket's `cors.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i32>,
}

const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// Checks a configuration the way PutBucketCors does; the error is a message
/// for an `InvalidRequest` / `MalformedXML` answer.
pub fn validate(rules: &[CorsRule]) -> Result<(), String> {
    if rules.is_empty() || rules.len() > 100 {
        return Err("A CORS configuration must have between 1 and 100 rules".into());
    }
    for rule in rules {
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err("Each CORSRule must have an AllowedOrigin and an AllowedMethod".into());
        }
        if let Some(m) = rule
            .allowed_methods
            .iter()
            .find(|m| !METHODS.contains(&m.as_str()))
        {
            return Err(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            ));
        }
        if let Some(o) = rule
            .allowed_origins
            .iter()
            .find(|o| o.matches('*').count() > 1)
        {
            return Err(format!(
                "AllowedOrigin \"{o}\" can not have more than one wildcard."
            ));
        }
        if let Some(h) = rule
            .allowed_headers
            .iter()
            .find(|h| h.matches('*').count() > 1)
        {
            return Err(format!(
                "AllowedHeader \"{h}\" can not have more than one wildcard."
            ));
        }
    }
    Ok(())
}

/// `pattern` with at most one `*` standing for any run of characters.
pub fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.is_char_boundary(head.len())
                && value.is_char_boundary(value.len() - tail.len())
                && eq(&value[..head.len()], head)
                && eq(&value[value.len() - tail.len()..], tail)
        }
    }
}

impl CorsRule {
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|p| wildcard_match(p, origin, false))
    }

    pub fn allows_method(&self, method: &str) -> bool {
        self.allowed_methods.iter().any(|m| m == method)
    }

    /// Every requested header must match one AllowedHeader (case-insensitive).
    pub fn allows_headers(&self, headers: &[String]) -> bool {
        headers.iter().all(|h| {
            self.allowed_headers
                .iter()
                .any(|p| wildcard_match(p.trim(), h, true))
        })
    }
}

/// The first rule that allows a preflight for `origin`, `method` and `headers`.
pub fn match_preflight<'r>(
    rules: &'r [CorsRule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'r CorsRule> {
    rules
        .iter()
        .find(|r| r.allows_origin(origin) && r.allows_method(method) && r.allows_headers(headers))
}

/// The first rule that allows an actual request from `origin` with `method`.
pub fn match_request<'r>(
    rules: &'r [CorsRule],
    origin: &str,
    method: &str,
) -> Option<&'r CorsRule> {
    rules
        .iter()
        .find(|r| r.allows_origin(origin) && r.allows_method(method))
}

/// The comma-separated `Access-Control-Request-Headers`, trimmed and lower-cased.
pub fn parse_request_headers(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// Origin, credentials, exposed headers and Vary: what both answers carry.
fn common_headers(rule: &CorsRule, origin: &str) -> Vec<(&'static str, String)> {
    let wildcard = rule.allowed_origins.iter().any(|o| o == "*");
    let mut out = vec![(
        "access-control-allow-origin",
        if wildcard {
            "*".to_owned()
        } else {
            origin.to_owned()
        },
    )];
    out.push((
        "access-control-allow-methods",
        rule.allowed_methods.join(", "),
    ));
    if !wildcard {
        out.push(("access-control-allow-credentials", "true".to_owned()));
    }
    if !rule.expose_headers.is_empty() {
        out.push((
            "access-control-expose-headers",
            rule.expose_headers.join(", "),
        ));
    }
    if let Some(age) = rule.max_age_seconds {
        out.push(("access-control-max-age", age.to_string()));
    }
    out.push(("vary", VARY.to_owned()));
    out
}

/// The headers of a 200 preflight answer from `rule`.
pub fn preflight_headers(
    rule: &CorsRule,
    origin: &str,
    headers: &[String],
) -> Vec<(&'static str, String)> {
    let mut out = common_headers(rule, origin);
    if !headers.is_empty() {
        out.push(("access-control-allow-headers", headers.join(", ")));
    }
    out
}

/// The headers added to the answer of an actual request that `rule` allows.
pub fn request_headers(rule: &CorsRule, origin: &str) -> Vec<(&'static str, String)> {
    common_headers(rule, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(3000),
            id: None,
        }
    }

    fn hs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards_match_like_s3() {
        assert!(wildcard_match("*", "http://anything", false));
        assert!(wildcard_match(
            "http://*.example.com",
            "http://app.example.com",
            false
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "http://example.com",
            false
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "https://app.example.com",
            false
        ));
        assert!(wildcard_match("x-amz-*", "X-Amz-Meta-Patient-Uid", true));
        assert!(!wildcard_match("x-amz-*", "content-type", true));
        assert!(wildcard_match("Content-Type", "content-type", true));
        assert!(!wildcard_match(
            "http://localhost:5173",
            "http://localhost:5174",
            false
        ));
        // The head and tail must not overlap
        assert!(!wildcard_match("ab*ba", "aba", false));
    }

    #[test]
    fn preflight_takes_the_first_rule_that_allows_origin_method_and_every_header() {
        let rules = vec![
            rule(
                &["http://localhost:5173"],
                &["PUT"],
                &["content-type", "x-amz-meta-*"],
            ),
            rule(&["*"], &["GET", "HEAD"], &[]),
        ];
        let ok = match_preflight(
            &rules,
            "http://localhost:5173",
            "PUT",
            &hs(&["content-type", "x-amz-meta-patient-uid"]),
        );
        assert_eq!(ok, Some(&rules[0]));
        // A header outside AllowedHeaders, another origin, another method: refused
        assert_eq!(
            match_preflight(
                &rules,
                "http://localhost:5173",
                "PUT",
                &hs(&["authorization"])
            ),
            None
        );
        assert_eq!(
            match_preflight(&rules, "http://evil.test", "PUT", &hs(&[])),
            None
        );
        assert_eq!(
            match_preflight(&rules, "http://localhost:5173", "DELETE", &hs(&[])),
            None
        );
        // GET from anywhere falls to the second rule, which allows no headers
        assert_eq!(
            match_preflight(&rules, "http://evil.test", "GET", &hs(&[])),
            Some(&rules[1])
        );
        assert_eq!(
            match_preflight(&rules, "http://evil.test", "GET", &hs(&["x-a"])),
            None
        );
        assert_eq!(match_request(&rules, "http://evil.test", "PUT"), None);
        assert_eq!(
            match_request(&rules, "http://localhost:5173", "PUT"),
            Some(&rules[0])
        );
    }

    #[test]
    fn answers_carry_the_origin_or_a_star() {
        let exact = rule(&["http://localhost:5173"], &["PUT", "GET"], &["*"]);
        let h = preflight_headers(&exact, "http://localhost:5173", &hs(&["content-type"]));
        let get = |name: &str| h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        assert_eq!(
            get("access-control-allow-origin"),
            Some("http://localhost:5173")
        );
        assert_eq!(get("access-control-allow-methods"), Some("PUT, GET"));
        assert_eq!(get("access-control-allow-headers"), Some("content-type"));
        assert_eq!(get("access-control-max-age"), Some("3000"));
        assert_eq!(get("access-control-expose-headers"), Some("ETag"));
        assert_eq!(get("access-control-allow-credentials"), Some("true"));
        assert!(get("vary").unwrap().starts_with("Origin"));

        let star = rule(&["*"], &["GET"], &[]);
        let h = request_headers(&star, "http://a.test");
        assert_eq!(h[0], ("access-control-allow-origin", "*".to_owned()));
        assert!(!h
            .iter()
            .any(|(n, _)| *n == "access-control-allow-credentials"));
    }

    #[test]
    fn parses_requested_headers_and_validates_rules() {
        assert_eq!(
            parse_request_headers(" Content-Type ,x-amz-meta-a,"),
            ["content-type", "x-amz-meta-a"]
        );
        assert!(validate(&[rule(&["*"], &["GET"], &[])]).is_ok());
        assert!(validate(&[rule(&["*"], &["PATCH"], &[])]).is_err());
        assert!(validate(&[rule(&["http://*.*.test"], &["GET"], &[])]).is_err());
        assert!(validate(&[]).is_err());
    }
}
