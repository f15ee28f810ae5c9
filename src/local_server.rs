//! A small HTTP/1 adapter that serves the Lambda handler on a local port, so
//! local runs and benchmarks exercise exactly the code the Lambda runs.

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

use crate::context::Context;
use crate::http::MAX_BODY_BYTES;

/// Serves `ctx` on `listener` until `shutdown` completes.
pub async fn serve(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut shutdown => return Ok(()),
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(answer(&ctx, req).await) }
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

async fn answer(ctx: &Context, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
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
