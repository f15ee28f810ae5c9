//! Timestamps and ids: RFC 3339 UTC with milliseconds, and time-sortable UUIDv7.

use chrono::{SecondsFormat, Utc};

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn now_epoch_secs() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

/// A new time-sortable id (patients, notes, tasks, meds, timeline rows).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Accepts an RFC 3339 timestamp (any offset) and returns it in our UTC form.
pub fn normalize_rfc3339(value: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .ok()
        .map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::Millis, true)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2025-08-20T06:07:11.255Z".len());
        assert!(now.ends_with('Z'));
        assert_eq!(
            normalize_rfc3339("2025-08-20T08:07:11+02:00").as_deref(),
            Some("2025-08-20T06:07:11.000Z")
        );
        assert_eq!(normalize_rfc3339("yesterday"), None);
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(a < b);
    }
}
