//! Tracing setup: JSON lines when the Lambda asks for them
//! (`AWS_LAMBDA_LOG_FORMAT=JSON`), plain text otherwise. `RUST_LOG` filters
//! by level and target (`info`, `warn,hms=debug`); without it, the level
//! Lambda's advanced logging controls set (`AWS_LAMBDA_LOG_LEVEL`) applies.
//! No regex engine is linked. Each JSON line logged during a request
//! carries the request's span: its request id and X-Ray trace id.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub fn init() {
    let spec = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| lambda_level(&l))
        });
    let filter = filter(spec.as_deref());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_target(false)
        .without_time();
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder.finish().with(filter).try_init()
    };
}

/// A `RUST_LOG` spec for Lambda's log level (`TRACE`, `DEBUG`, `INFO`,
/// `WARN`, `ERROR`, `FATAL`).
pub fn lambda_level(level: &str) -> String {
    match level.trim().to_ascii_lowercase().as_str() {
        "fatal" => "error".to_string(),
        other => other.to_string(),
    }
}

/// The filter `RUST_LOG` names; `info` when it is unset or unreadable.
pub fn filter(spec: Option<&str>) -> Targets {
    let default = || Targets::new().with_default(LevelFilter::INFO);
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        Some(spec) => spec.parse().unwrap_or_else(|_| default()),
        None => default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_by_target() {
        let f = filter(Some("warn,hms=debug"));
        assert!(f.would_enable("hms::router", &Level::DEBUG));
        assert!(!f.would_enable("hms::router", &Level::TRACE));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
    }

    #[test]
    fn lambda_log_levels_map_to_filters() {
        let f = filter(Some(&lambda_level("WARN")));
        assert!(f.would_enable("hms", &Level::WARN));
        assert!(!f.would_enable("hms", &Level::INFO));
        let f = filter(Some(&lambda_level("FATAL")));
        assert!(f.would_enable("hms", &Level::ERROR));
        assert!(!f.would_enable("hms", &Level::WARN));
        let f = filter(Some(&lambda_level("DEBUG")));
        assert!(f.would_enable("hms", &Level::DEBUG));
    }

    #[test]
    fn info_when_unset_or_unreadable() {
        for spec in [None, Some(""), Some("hms=loud")] {
            let f = filter(spec);
            assert!(f.would_enable("hms", &Level::INFO), "{spec:?}");
            assert!(!f.would_enable("hms", &Level::DEBUG), "{spec:?}");
        }
    }
}
