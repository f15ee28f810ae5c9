//! A small HTTP/1 adapter that serves the Lambda handlers on local ports, so
//! local runs and benchmarks exercise exactly the code the Lambdas run: the
//! API, and the S3 ObjectCreated ingest (the local S3 POSTs each event here,
//! in the shape S3 sends to Lambda).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::http::StatusCode;
use lambda_http::Body;
use tokio::net::TcpListener;

use aws_lambda_events::event::s3::S3Event;

use crate::context::Context;
use crate::http::MAX_BODY_BYTES;
use crate::s3_events::DeadLetters;

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(ctx, listener, shutdown, |ctx, req| async move {
        answer(&ctx, req).await
    })
    .await
}

/// Serves the S3 event ingest on `listener` until `shutdown` completes: each
/// POST body is an S3 event; 200 with the ingest report, or 500 when a record
/// failed (the sender retries, as Lambda's asynchronous invocation does).
pub async fn serve_s3_events(
    ctx: Context,
    listener: TcpListener,
    dead: Option<DeadLetters>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(ctx, listener, shutdown, move |ctx, req| {
        let dead = dead.clone();
        async move { ingest_event(&ctx, req, dead.as_ref()).await }
    })
    .await
}

async fn serve_with<F, Fut>(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    handler: F,
) -> std::io::Result<()>
where
    F: Fn(Context, hyper::Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = hyper::Response<Full<Bytes>>> + Send,
{
    tokio::pin!(shutdown);
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut shutdown => return Ok(()),
        };
        let ctx = ctx.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                let reply = handler(ctx.clone(), req);
                async move { Ok::<_, Infallible>(reply.await) }
            });
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "connection closed with an error");
            }
        });
    }
}

/// The TCP peer of a connection.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

fn function_url_context(peer: SocketAddr) -> lambda_http::request::RequestContext {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
    };
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.source_ip = Some(peer.ip().to_string());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http = http;
    lambda_http::request::RequestContext::ApiGatewayV2(context)
}

async fn ingest_event(
    ctx: &Context,
    req: hyper::Request<Incoming>,
    dead: Option<&DeadLetters>,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        resp
    };
    // A JSON POST (what the local S3 sends) needs a CORS preflight from a
    // browser page, which this port never answers.
    let is_json = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if req.method() != hyper::Method::POST || !is_json {
        return reply(
            StatusCode::BAD_REQUEST,
            "POST an S3 event as application/json".into(),
        );
    }
    let bytes = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, String::new()),
    };
    let event: S3Event = match serde_json::from_slice(&bytes) {
        Ok(event) => event,
        Err(err) => return reply(StatusCode::BAD_REQUEST, format!("not an S3 event: {err}")),
    };
    let report = crate::s3_events::ingest_keeping_failures(ctx, &event, dead).await;
    let status = if report.failed > 0 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    reply(status, format!("{report:?}"))
}

async fn answer(ctx: &Context, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (mut parts, body) = req.into_parts();
    // The client's address, where the Function URL's payload puts it.
    if let Some(Peer(peer)) = parts.extensions.remove::<Peer>() {
        parts.extensions.insert(function_url_context(peer));
    }
    // Read one byte past the limit so the handler still answers 413 itself.
    let bytes = match Limited::new(body, MAX_BODY_BYTES + 1).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let mut big = Vec::with_capacity(MAX_BODY_BYTES + 1);
            big.resize(MAX_BODY_BYTES + 1, b' ');
            Bytes::from(big)
        }
    };
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    let resp = crate::handle(ctx, lambda_http::Request::from_parts(parts, body)).await;
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let mut out = hyper::Response::from_parts(parts, Full::new(bytes));
    if out.status() == StatusCode::NO_CONTENT {
        *out.body_mut() = Full::new(Bytes::new());
    }
    out
}
