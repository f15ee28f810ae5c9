//! `hms-local-s3`: a local S3 server for HMS tests and local runs.
//!
//! S3 protocol, routing and SigV4 checks come from `s3s`; objects live in a
//! directory ([`store`]); bucket CORS and preflights are answered in front of
//! `s3s` ([`front`], [`cors`]); ObjectCreated events are POSTed to a URL
//! ([`notify`]).

mod cors;
mod front;
mod notify;
mod s3;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

const USAGE: &str = "\
usage: hms-local-s3 --host 127.0.0.1 --port PORT --access-key KEY --secret-key SECRET --data DIR
                    [--region us-east-1] [--notify-url URL] [--notify-prefix PREFIX] [--verbose]

  --data DIR            objects, sidecars and bucket settings (kept across restarts)
  --region REGION       the region written in event documents (default us-east-1)
  --notify-url URL      POST an S3 ObjectCreated event (JSON) here after each write
  --notify-prefix P     only for keys starting with P (default: every key)
  --verbose             one line per request on stderr";

#[derive(Debug, PartialEq)]
struct Args {
    host: String,
    port: u16,
    access_key: String,
    secret_key: String,
    data: PathBuf,
    region: String,
    notify_url: Option<String>,
    notify_prefix: String,
    verbose: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut host = None;
    let mut port = None;
    let mut access_key = None;
    let mut secret_key = None;
    let mut data = None;
    let mut region = "us-east-1".to_owned();
    let mut notify_url = None;
    let mut notify_prefix = String::new();
    let mut verbose = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if name == "--verbose" {
            verbose = true;
            continue;
        }
        if name == "--help" || name == "-h" {
            return Err(String::new());
        }
        let value = match inline {
            Some(v) => v,
            None => it.next().ok_or_else(|| format!("{name} needs a value"))?,
        };
        match name.as_str() {
            "--host" => host = Some(value),
            "--port" => {
                port = Some(
                    value
                        .parse::<u16>()
                        .map_err(|_| format!("bad --port: {value}"))?,
                )
            }
            "--access-key" => access_key = Some(value),
            "--secret-key" => secret_key = Some(value),
            "--data" => data = Some(PathBuf::from(value)),
            "--region" => region = value,
            "--notify-url" => notify_url = Some(value),
            "--notify-prefix" => notify_prefix = value,
            _ => return Err(format!("unknown argument: {name}")),
        }
    }
    let missing = |n: &str| format!("missing {n}");
    Ok(Args {
        host: host.ok_or_else(|| missing("--host"))?,
        port: port.ok_or_else(|| missing("--port"))?,
        access_key: access_key.ok_or_else(|| missing("--access-key"))?,
        secret_key: secret_key.ok_or_else(|| missing("--secret-key"))?,
        data: data.ok_or_else(|| missing("--data"))?,
        region,
        notify_url,
        notify_prefix,
        verbose,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(msg) => {
            if msg.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("hms-local-s3: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hms-local-s3: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let store = Arc::new(
        store::Store::open(&args.data)
            .map_err(|e| format!("cannot open data dir {}: {e}", args.data.display()))?,
    );
    let notifier = match &args.notify_url {
        Some(url) => {
            let uri: hyper::Uri = url.parse().map_err(|e| format!("bad --notify-url: {e}"))?;
            if uri.scheme_str() != Some("http") {
                return Err("--notify-url must be an http:// URL".into());
            }
            Some(Arc::new(notify::Notifier::start(
                uri,
                args.region.clone(),
                args.notify_prefix.clone(),
            )))
        }
        None => None,
    };

    let mut builder = S3ServiceBuilder::new(s3::LocalS3 {
        store: store.clone(),
        notifier,
    });
    builder.set_auth(s3::StaticKey {
        access_key: args.access_key.clone(),
        secret_key: args.secret_key.clone(),
    });
    let front = Arc::new(front::Front::new(builder.build(), store, args.verbose));

    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let addr: SocketAddr = listener.local_addr()?;
    eprintln!(
        "hms-local-s3 on http://{addr} (data {}, region {}{})",
        args.data.display(),
        args.region,
        if args.notify_url.is_some() {
            ", notifications on"
        } else {
            ""
        }
    );

    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("hms-local-s3: accept failed: {e}");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        // As S3 does: a response is not held back waiting for an ACK (with
        // Nagle's algorithm, a body written after its headers waits for the
        // client's delayed ACK, 40 ms on Linux).
        let _ = stream.set_nodelay(true);
        let front = front.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let front = front.clone();
                async move { front.handle(req).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_command_line() {
        let args = parse_args(strings(&[
            "--host",
            "127.0.0.1",
            "--port",
            "9000",
            "--access-key",
            "ak",
            "--secret-key",
            "sk",
            "--data=/tmp/x",
            "--notify-url",
            "http://127.0.0.1:1/e",
        ]))
        .unwrap();
        assert_eq!(args.port, 9000);
        assert_eq!(args.data, PathBuf::from("/tmp/x"));
        assert_eq!(args.region, "us-east-1");
        assert_eq!(args.notify_prefix, "");
        assert_eq!(args.notify_url.as_deref(), Some("http://127.0.0.1:1/e"));
        assert!(parse_args(strings(&["--host", "h"]))
            .unwrap_err()
            .contains("--port"));
        assert!(parse_args(strings(&["--bogus", "1"])).is_err());
    }
}
