//! Serves the API handler on a local port (default 127.0.0.1:3000) against
//! whatever `AWS_ENDPOINT_URL*` points at. `--provision` first creates the
//! table and bucket (with its CORS rules) on the emulator;
//! `--s3-events-addr HOST:PORT` also serves the S3 ObjectCreated ingest there
//! for the local S3's notifications, keeping an event that fails in the SQS
//! queue `--dead-letters URL` when given (as the deployed ingest's on-failure
//! destination does). Stops cleanly on Ctrl-C or SIGTERM.

use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    hms::logging::init();
    let mut addr = "127.0.0.1:3000".to_string();
    let mut provision = false;
    let mut events_addr = None;
    let mut dead_letters = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--provision" => provision = true,
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            "--s3-events-addr" => {
                events_addr = Some(args.next().ok_or("--s3-events-addr needs a value")?)
            }
            "--dead-letters" => {
                dead_letters = Some(args.next().ok_or("--dead-letters needs a queue URL")?)
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; use [--provision] [--addr HOST:PORT] [--s3-events-addr HOST:PORT] [--dead-letters QUEUE_URL]"
                )
                .into())
            }
        }
    }
    let ctx = hms::Context::from_env().await;
    if provision {
        hms::provision::ensure_table(&ctx).await?;
        hms::provision::ensure_bucket(&ctx).await?;
    }
    if let Some(events_addr) = events_addr {
        let events = TcpListener::bind(&events_addr).await?;
        tracing::info!(addr = %events.local_addr()?, "HMS S3 event ingest listening");
        let dead = match dead_letters {
            Some(queue_url) => {
                let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                Some(hms::s3_events::DeadLetters {
                    sqs: aws_sdk_sqs::Client::new(&sdk),
                    queue_url,
                })
            }
            None => None,
        };
        tokio::spawn(hms::local_server::serve_s3_events(
            ctx.clone(),
            events,
            dead,
            std::future::pending(),
        ));
    }
    let listener = TcpListener::bind(&addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "HMS API listening");
    hms::local_server::serve(ctx, listener, shutdown_signal()).await?;
    tracing::info!("HMS API stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
