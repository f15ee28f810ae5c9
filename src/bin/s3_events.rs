//! The S3 event Lambda: attaches newly created optimized documents.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    hms::logging::init();
    let ctx = hms::Context::from_env().await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<S3Event>| {
        let ctx = ctx.clone();
        async move {
            let report = hms::s3_events::ingest(&ctx, &event.payload).await;
            hms::metrics::emit(&report.metrics());
            if report.failed > 0 {
                // Retried by Lambda; records already attached stay unchanged.
                return Err(Error::from(format!("{} record(s) failed", report.failed)));
            }
            Ok::<_, Error>(())
        }
    }))
    .await
}
