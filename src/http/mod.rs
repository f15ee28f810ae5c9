//! Request parsing and response building shared by every route: path segments,
//! query parameters, JSON bodies (camelCase or snake_case field names) and
//! JSON responses.

pub mod input;
pub mod route;

use std::collections::HashMap;

use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Who the audit ledger names when authentication is off.
pub const ANONYMOUS: &str = "anonymous";

/// The client's address: the Function URL's (API Gateway v2 payload)
/// `requestContext.http.sourceIp` (the local server fills it the same way).
fn source_ip(req: &Request) -> Option<String> {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
        _ => None,
    }
}

/// Largest request body accepted (bytes); larger bodies get a 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What a route needs from a request, detached from the Lambda event types.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The verified caller; `None` when authentication is off.
    pub caller: Option<Caller>,
    pub request_id: String,
    /// `X-Break-Glass-Reason`: as sent, then as `policy::decide` checked it
    /// (trimmed), which the pipeline puts back before the handler runs.
    pub break_glass: Option<String>,
    /// The client's address as the Function URL saw it.
    pub source_ip: Option<String>,
}

impl ApiRequest {
    pub fn from_lambda(req: &Request, request_id: &str) -> ApiResult<Self> {
        let body = match req.body() {
            Body::Empty => Vec::new(),
            Body::Text(text) => text.as_bytes().to_vec(),
            Body::Binary(bytes) => bytes.clone(),
            _ => Vec::new(),
        };
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        Ok(Self {
            method: req.method().clone(),
            segments: path_segments(req.uri().path())?,
            query: parse_query(req.uri().query().unwrap_or("")),
            body,
            caller: None,
            request_id: request_id.to_string(),
            break_glass: req
                .headers()
                .get(crate::policy::BREAK_GLASS_HEADER)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            source_ip: source_ip(req),
        })
    }

    /// Who did it, for the audit ledger: the token's subject, or `anonymous`.
    pub fn actor(&self) -> &str {
        self.caller
            .as_ref()
            .map_or(ANONYMOUS, |c| c.subject.as_str())
    }

    /// A client-sent "who" (`uploadedBy`, `authorId`, ...): with
    /// authentication on it is always the token's subject, whatever was sent.
    pub fn attributed(&self, sent: Option<String>) -> Option<String> {
        match &self.caller {
            Some(caller) => Some(caller.subject.clone()),
            None => sent,
        }
    }

    /// `?cursor=`, refused (400) unless shaped like a cursor the pager made:
    /// a read checks it before it starts (and before its ledger entry).
    pub fn cursor(&self) -> ApiResult<Option<&str>> {
        let cursor = self.query("cursor");
        if let Some(c) = cursor {
            crate::store::pager::check_cursor_shape(c)?;
        }
        Ok(cursor)
    }

    /// A query parameter, trimmed; empty counts as absent.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A boolean flag such as `presign=1` or `desc=true`.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.query(name), Some("1" | "true" | "yes"))
    }

    /// `?limit=` bounded to `1..=max` (a larger one is served as `max`),
    /// `default` when absent; junk is a 400.
    pub fn limit(&self, default: usize, max: usize) -> ApiResult<usize> {
        self.limit_within(default, max, Over::Max)
    }

    /// `?limit=` in `1..=max` exactly: anything else, a larger number
    /// included, is a 400.
    pub fn strict_limit(&self, default: usize, max: usize) -> ApiResult<usize> {
        self.limit_within(default, max, Over::Refused)
    }

    fn limit_within(&self, default: usize, max: usize, over: Over) -> ApiResult<usize> {
        let bad = || ApiError::bad_request(format!("limit must be an integer between 1 and {max}"));
        match self.query("limit") {
            None => Ok(default),
            Some(raw) => match (raw.parse::<usize>(), over) {
                (Ok(n), _) if (1..=max).contains(&n) => Ok(n),
                (Ok(n), Over::Max) if n > max => Ok(max),
                _ => Err(bad()),
            },
        }
    }

    /// The body as a JSON object, with snake_case keys turned into camelCase
    /// (at every depth) so one camelCase struct accepts both spellings.
    pub fn json_object(&self) -> ApiResult<Map<String, Value>> {
        self.object(Depth::All)
    }

    /// The names of the body's top-level fields, for the audit ledger
    /// (names only, never values; names that are not plain identifiers of
    /// at most 64 characters are left out).
    pub fn field_names(&self) -> Vec<String> {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&self.body) else {
            return Vec::new();
        };
        body.keys()
            .filter(|k| {
                !k.is_empty()
                    && k.len() <= 64
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .take(64)
            .cloned()
            .collect()
    }

    /// The body deserialized into `T` (camelCase or snake_case field names).
    pub fn json<T: DeserializeOwned>(&self) -> ApiResult<T> {
        deserialize(self.object(Depth::All)?)
    }

    /// The body deserialized into `T`, only its top-level field names in
    /// either spelling: nested objects keep the client's own keys (a
    /// discharge summary's section and field names are its data).
    pub fn json_document<T: DeserializeOwned>(&self) -> ApiResult<T> {
        deserialize(self.object(Depth::TopLevel)?)
    }

    fn object(&self, depth: Depth) -> ApiResult<Map<String, Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("Request body must be a JSON object"));
        }
        let value: Value = serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
        let value = match (depth, value) {
            (Depth::All, value) => camelize(value),
            (Depth::TopLevel, Value::Object(map)) => Value::Object(camelize_keys(map, |v| v)),
            (Depth::TopLevel, other) => other,
        };
        match value {
            Value::Object(map) => Ok(map),
            other => Err(ApiError::bad_request(format!(
                "Request body must be a JSON object, got {}",
                json_type(&other)
            ))),
        }
    }
}

/// How deep field names are turned into camelCase.
#[derive(Clone, Copy)]
enum Depth {
    All,
    TopLevel,
}

fn deserialize<T: DeserializeOwned>(map: Map<String, Value>) -> ApiResult<T> {
    serde_json::from_value(Value::Object(map))
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// For patch bodies, `#[serde(default, deserialize_with = "nullable")]` on an
/// `Option<Option<T>>` tells "sent as null" (`Some(None)`: clear it) from
/// "not sent" (`None`: keep it).
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Splits a path into percent-decoded segments (decoded once), tolerating a
/// trailing slash. Empty segments in the middle and invalid UTF-8 are a 400.
pub fn path_segments(path: &str) -> ApiResult<Vec<String>> {
    let trimmed = path.trim_start_matches('/').trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    trimmed
        .split('/')
        .map(|raw| {
            let seg = percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| ApiError::bad_request("Path is not valid UTF-8"))?;
            if seg.is_empty() {
                return Err(ApiError::bad_request("Path has an empty segment"));
            }
            Ok(seg.into_owned())
        })
        .collect()
}

/// Parses `a=1&b=x%20y` (form encoding, `+` is a space); the last value wins.
pub fn parse_query(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// `assigned_doctor` → `assignedDoctor`; keys already in camelCase are unchanged.
pub fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for (i, c) in key.chars().enumerate() {
        if c == '_' && i > 0 {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn camelize(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(camelize_keys(map, camelize)),
        Value::Array(items) => Value::Array(items.into_iter().map(camelize).collect()),
        other => other,
    }
}

/// The object's keys in camelCase, each value passed through `inner`.
fn camelize_keys(map: Map<String, Value>, inner: fn(Value) -> Value) -> Map<String, Value> {
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let key = snake_to_camel(&k);
        // When both spellings are sent, the camelCase one wins.
        if key != k && out.contains_key(&key) {
            continue;
        }
        out.insert(key, inner(v));
    }
    out
}

/// What a `?limit=` over the maximum gets.
#[derive(Clone, Copy)]
enum Over {
    Max,
    Refused,
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// The JSON of a response view (an item's `view()`). Views hold strings,
/// numbers, booleans, lists, JSON values and string-keyed maps, which always
/// serialize: `serde_json` fails only on a map with non-string keys or a
/// `Serialize` impl that errors, and views have neither.
pub fn view_json(view: &impl Serialize) -> Value {
    serde_json::to_value(view).expect("a response view always serializes to JSON")
}

/// What a route returns: a status, a JSON body and optional extra headers.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self::with_status(StatusCode::OK, body)
    }

    pub fn created(body: Value) -> Self {
        Self::with_status(StatusCode::CREATED, body)
    }

    pub fn with_status(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// A page as a JSON array, the next page's cursor in `x-next-cursor`.
    pub fn array_page(items: Vec<Value>, next_cursor: Option<String>) -> Self {
        let reply = Self::ok(Value::Array(items));
        match next_cursor {
            Some(cursor) => reply.header("x-next-cursor", cursor),
            None => reply,
        }
    }

    /// A page as `{items, nextCursor}`.
    pub fn items_page(items: Vec<Value>, next_cursor: Option<String>) -> Self {
        Self::ok(serde_json::json!({"items": items, "nextCursor": next_cursor}))
    }

    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let mut resp = json_response(self.status, &self.body);
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req_with_body(body: &str) -> ApiRequest {
        ApiRequest {
            method: Method::POST,
            segments: vec![],
            query: HashMap::new(),
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn segments_are_decoded_once_and_trailing_slash_is_tolerated() {
        assert_eq!(
            path_segments("/patients/MRN%2F1/").unwrap(),
            vec!["patients", "MRN/1"]
        );
        assert_eq!(
            path_segments("/patients/a%2520b").unwrap(),
            vec!["patients", "a%20b"]
        );
        assert!(path_segments("/").unwrap().is_empty());
        assert!(path_segments("/patients//x").is_err());
        assert!(path_segments("/patients/%ff").is_err());
    }

    #[test]
    fn query_is_form_decoded() {
        let q = parse_query("department=General+Surgery&mrn=A%2B1&limit=5");
        assert_eq!(q["department"], "General Surgery");
        assert_eq!(q["mrn"], "A+1");
        assert_eq!(q["limit"], "5");
    }

    #[test]
    fn snake_case_keys_become_camel_case_at_every_depth() {
        let req = req_with_body(
            r#"{"assigned_doctor":"d","emergency_contact":{"alt_phone":"1","address":{"postal_code":"9"}},"list":[{"mime_type":"x"}]}"#,
        );
        let obj = Value::Object(req.json_object().unwrap());
        assert_eq!(
            obj,
            json!({"assignedDoctor":"d","emergencyContact":{"altPhone":"1","address":{"postalCode":"9"}},"list":[{"mimeType":"x"}]})
        );
        assert_eq!(snake_to_camel("currentState"), "currentState");
        assert_eq!(snake_to_camel("_private"), "_private");
    }

    #[test]
    fn camel_case_wins_when_both_spellings_are_sent() {
        let req = req_with_body(r#"{"assignedDoctor":"camel","assigned_doctor":"snake"}"#);
        assert_eq!(req.json_object().unwrap()["assignedDoctor"], "camel");
    }

    #[test]
    fn malformed_or_non_object_bodies_are_bad_requests() {
        for body in ["", "  ", "{", "\"text\"", "[1,2]", "null", "42"] {
            let err = req_with_body(body).json_object().unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "body {body:?}");
        }
    }

    #[test]
    fn wrong_field_types_are_bad_requests() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            key: String,
        }
        let err = req_with_body(r#"{"key": 5}"#).json::<Body>().unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.to_string().contains("Invalid request body"));
    }

    #[test]
    fn limit_is_bounded_and_validated() {
        let mut req = req_with_body("");
        assert_eq!(req.limit(50, 1000).unwrap(), 50);
        req.query.insert("limit".into(), "5000".into());
        assert_eq!(req.limit(50, 1000).unwrap(), 1000);
        req.query.insert("limit".into(), "0".into());
        assert!(req.limit(50, 1000).is_err());
        req.query.insert("limit".into(), "ten".into());
        assert!(req.limit(50, 1000).is_err());
    }
}

#[cfg(test)]
mod properties {
    //! Any query and body: a limit and a JSON object, or a 400.

    use proptest::prelude::*;

    use crate::proptest_support::{body, config, is_client_error, request};

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn queries_and_bodies_parse_or_are_a_400(body in body(), query in ".{0,40}") {
            let req = request(body, &query);
            prop_assert!(is_client_error(&req.limit(50, 200)));
            prop_assert!(is_client_error(&req.json_object()));
        }
    }
}
