//! The request pipeline every request goes through: request id, AWS call
//! counting, one deadline, authentication and the access policy, the route
//! (found by `router`), error → response, CORS headers and one log line (no
//! PHI: route patterns, never path values).

use std::time::Instant;

use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::auth::{Authenticator, Caller};
use crate::aws_calls::{self, CallCounts};
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::route::{Access, Route};
use crate::http::{json_response, ApiRequest};
use crate::{metrics, policy, router, xray};
use tracing::Instrument;

/// What the request log line names besides the route: the caller (token
/// subject, when authenticated) and the client's address. Never a path
/// value, a body or a patient.
#[derive(Debug, Default)]
struct Who {
    actor: Option<String>,
    source_ip: Option<String>,
}

/// Routes and runs one request; never fails (every error becomes a response).
async fn run(
    ctx: &Context,
    req: &Request,
    request_id: &str,
) -> (&'static str, Who, Response<Body>) {
    if req.method() == Method::OPTIONS {
        let mut resp = Response::new(Body::Empty);
        *resp.status_mut() = StatusCode::NO_CONTENT;
        return ("OPTIONS", Who::default(), resp);
    }
    let mut pattern = "unmatched";
    let mut who = Who::default();
    // One deadline covers the key fetch of authentication and the route.
    let deadline = tokio::time::Instant::now() + ctx.settings.limits.request_timeout;
    let result = async {
        let mut api_req = ApiRequest::from_lambda(req, request_id)?;
        who.source_ip = api_req.source_ip.clone();
        let (route, params) = router::route(&api_req.method, &api_req.segments)?;
        pattern = route.pattern;
        if let (Some(auth), false) = (&ctx.auth, route.access == Access::Public) {
            let caller = tokio::time::timeout_at(deadline, authenticate(auth, req, route))
                .await
                .map_err(|_| past_deadline())??;
            who.actor = Some(caller.subject.clone());
            api_req.caller = Some(caller);
        }
        // The roles the route needs, before anything is read or written.
        let grant = policy::decide(
            route.access,
            api_req.caller.as_ref(),
            api_req.break_glass.as_deref(),
        )?;
        // The reason as checked (trimmed, bounded): what the ledger records.
        api_req.break_glass = grant.break_glass.clone();
        // Boxed by the route: its future holds SDK futures and is large.
        let work = policy::within(grant, (route.run)(ctx, &api_req, &params));
        tokio::time::timeout_at(deadline, work)
            .await
            .map_err(|_| past_deadline())?
    }
    .await;
    let resp = match result {
        Ok(reply) => reply.into_response(),
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!(route = pattern, error = %err, "request failed");
            }
            let mut resp = json_response(err.status(), &err.body());
            for (name, value) in err.headers() {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    resp.headers_mut().insert(name, value);
                }
            }
            resp
        }
    };
    (pattern, who, resp)
}

fn past_deadline() -> ApiError {
    ApiError::Unavailable("request deadline passed".into())
}

/// The verified caller of a request to `route`.
async fn authenticate(auth: &Authenticator, req: &Request, route: &Route) -> ApiResult<Caller> {
    let header = req
        .headers()
        .get("authorization")
        .map(HeaderValue::as_bytes);
    let caller = auth.authenticate(header).await.map_err(|rejection| {
        tracing::info!(
            route = route.pattern,
            reason = rejection.reason(),
            "request not authenticated"
        );
        ApiError::from(rejection)
    })?;
    Ok(caller)
}

/// The handler the Lambda runtime and the local server call: the response,
/// after one log line and one metrics document.
pub async fn handle(ctx: &Context, req: Request) -> Response<Body> {
    let handled = handle_observed(ctx, req).await;
    metrics::emit(&handled.metrics);
    handled.response
}

/// What [`handle_observed`] gives: the response, the AWS calls the request
/// made and its metrics document (EMF).
#[derive(Debug)]
pub struct Handled {
    pub response: Response<Body>,
    pub calls: CallCounts,
    pub metrics: serde_json::Value,
}

/// [`handle`] without writing the metrics document (the tests read it).
pub async fn handle_observed(ctx: &Context, req: Request) -> Handled {
    let started = Instant::now();
    let lambda = req.lambda_context_ref();
    let request_id = lambda
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // The invocation's trace (Lambda's), else the one the caller sent.
    let trace_id = lambda
        .and_then(|c| c.xray_trace_id.clone())
        .or_else(|| {
            req.headers()
                .get("x-amzn-trace-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .filter(|id| !id.is_empty());
    // Every line logged while the request runs names its ids.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = trace_id.as_deref().unwrap_or("")
    );
    let ((pattern, who, mut resp), calls, spans) =
        aws_calls::scope(Box::pin(run(ctx, &req, &request_id).instrument(span))).await;
    if let (Some(daemon), Some(trace)) = (&ctx.settings.xray_daemon, &trace_id) {
        xray::send(daemon, trace, &spans);
    }
    add_cors(ctx, &mut resp);
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let measure = metrics::RequestMeasure {
        route: pattern,
        status: resp.status().as_u16(),
        latency_ms,
        calls: &calls,
        request_id: &request_id,
        trace_id: trace_id.as_deref(),
    };
    log_request(&measure, &who);
    Handled {
        metrics: metrics::request_document(&measure),
        response: resp,
        calls,
    }
}

fn add_cors(ctx: &Context, resp: &mut Response<Body>) {
    let headers = resp.headers_mut();
    let origin =
        HeaderValue::from_str(&ctx.settings.cors_origin).unwrap_or(HeaderValue::from_static("*"));
    headers.insert("access-control-allow-origin", origin);
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET,POST,PUT,PATCH,DELETE,OPTIONS"),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Content-Type,Authorization,X-Break-Glass-Reason"),
    );
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("x-next-cursor,retry-after,www-authenticate"),
    );
}

fn log_request(m: &metrics::RequestMeasure<'_>, who: &Who) {
    tracing::info!(
        request_id = %m.request_id,
        trace_id = m.trace_id.unwrap_or(""),
        route = m.route,
        actor = who.actor.as_deref().unwrap_or(""),
        source_ip = who.source_ip.as_deref().unwrap_or(""),
        status = m.status,
        latency_ms = m.latency_ms,
        ddb_calls = m.calls.service_total("DynamoDB"),
        s3_calls = m.calls.service_total("S3"),
        aws_calls = %m.calls,
        "request"
    );
}
