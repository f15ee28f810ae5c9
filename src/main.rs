//! The API Lambda: tracing, the context (once per cold start), the runtime.
//! A Lambda instance handles one event at a time, so one runtime thread
//! serves it: fewer threads, less memory.

use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    hms::logging::init();
    let ctx = hms::Context::from_env().await;
    lambda_http::run(service_fn(|req: Request| {
        let ctx = ctx.clone();
        async move { Ok::<_, Error>(hms::handle(&ctx, req).await) }
    }))
    .await
}
