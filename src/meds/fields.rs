//! Medication fields as requests send them (camelCase or snake_case), checked
//! once for create and for partial update alike: texts non-empty and bounded,
//! times RFC 3339 (stored in our UTC form), priority from the closed list.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;

use super::model::{MedItem, Priority};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::http::input::present;
use crate::store;

const MAX_TEXT: usize = 500;
const MAX_SCHEDULE_TIMES: usize = 48;
const MAX_SCHEDULE_TIME_LEN: usize = 32;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedFields {
    name: Option<String>,
    dose: Option<String>,
    route: Option<String>,
    freq: Option<String>,
    start: Option<String>,
    #[serde(default, deserialize_with = "present")]
    end: Option<Option<String>>,
    priority: Option<String>,
    schedule_times: Option<Vec<String>>,
}

/// Checked values; `None` means "not sent".
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MedChanges {
    pub name: Option<String>,
    pub dose: Option<String>,
    pub route: Option<String>,
    pub freq: Option<String>,
    pub start: Option<String>,
    /// `Some(None)`: the end is cleared (the medication runs on).
    pub end: Option<Option<String>>,
    pub priority: Option<Priority>,
    pub schedule_times: Option<Vec<String>>,
}

fn text(value: Option<String>, field: &str) -> ApiResult<Option<String>> {
    let Some(raw) = value else { return Ok(None) };
    let v = raw.trim();
    if v.is_empty() {
        return Err(ApiError::bad_request(format!("{field} must not be empty")));
    }
    if v.chars().count() > MAX_TEXT || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must be at most {MAX_TEXT} characters without control characters"
        )));
    }
    Ok(Some(v.to_string()))
}

fn timestamp(raw: &str, field: &str) -> ApiResult<String> {
    clock::normalize_rfc3339(raw).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{field} must be an RFC 3339 timestamp (e.g. 2025-08-20T06:07:11.255Z)"
        ))
    })
}

fn schedule_times(times: Vec<String>) -> ApiResult<Vec<String>> {
    if times.len() > MAX_SCHEDULE_TIMES {
        return Err(ApiError::bad_request(format!(
            "scheduleTimes holds at most {MAX_SCHEDULE_TIMES} entries"
        )));
    }
    times
        .into_iter()
        .map(|t| {
            let t = t.trim();
            if t.is_empty() || t.len() > MAX_SCHEDULE_TIME_LEN || t.chars().any(char::is_control) {
                Err(ApiError::bad_request(format!(
                    "scheduleTimes entries must be 1-{MAX_SCHEDULE_TIME_LEN} characters"
                )))
            } else {
                Ok(t.to_string())
            }
        })
        .collect()
}

impl MedChanges {
    pub fn from_fields(f: MedFields) -> ApiResult<Self> {
        let changes = Self {
            name: text(f.name, "name")?,
            dose: text(f.dose, "dose")?,
            route: text(f.route, "route")?,
            freq: text(f.freq, "freq")?,
            start: f.start.map(|s| timestamp(&s, "start")).transpose()?,
            end: f
                .end
                .map(|e| e.map(|s| timestamp(&s, "end")).transpose())
                .transpose()?,
            priority: f
                .priority
                .map(|p| {
                    Priority::parse(&p).ok_or_else(|| {
                        ApiError::bad_request(
                            "priority must be one of routine, important, critical",
                        )
                    })
                })
                .transpose()?,
            schedule_times: f.schedule_times.map(schedule_times).transpose()?,
        };
        // Both are in one UTC form, so text order is time order.
        if let (Some(start), Some(Some(end))) = (&changes.start, &changes.end) {
            if end < start {
                return Err(ApiError::bad_request("end must not be before start"));
            }
        }
        Ok(changes)
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// What a new medication must have.
    pub fn require_for_create(&self) -> ApiResult<()> {
        let required = [
            ("name", self.name.is_some()),
            ("dose", self.dose.is_some()),
            ("route", self.route.is_some()),
            ("freq", self.freq.is_some()),
            ("start", self.start.is_some()),
        ];
        match required.iter().find(|(_, present)| !present) {
            Some((field, _)) => Err(ApiError::bad_request(format!("{field} is required"))),
            None => Ok(()),
        }
    }

    /// Fills a new medication; the priority defaults to routine.
    pub fn apply(self, med: &mut MedItem) {
        med.name = self.name;
        med.dose = self.dose;
        med.route = self.route;
        med.freq = self.freq;
        med.start = self.start;
        med.end = self.end.flatten();
        med.priority = Some(self.priority.unwrap_or_default().as_str().to_string());
        med.schedule_times = self.schedule_times.unwrap_or_default();
    }

    /// Stored attribute names to set (with their values) and to remove.
    pub fn update_parts(&self) -> (Vec<(&'static str, AttributeValue)>, Vec<&'static str>) {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let texts = [
            ("name", &self.name),
            ("dose", &self.dose),
            ("route", &self.route),
            ("freq", &self.freq),
            ("start", &self.start),
        ];
        for (attr, value) in texts {
            if let Some(v) = value {
                set.push((attr, store::s(v.as_str())));
            }
        }
        match &self.end {
            Some(Some(end)) => set.push(("end", store::s(end.as_str()))),
            Some(None) => remove.push("end"),
            None => {}
        }
        if let Some(p) = self.priority {
            set.push(("priority", store::s(p.as_str())));
        }
        if let Some(times) = &self.schedule_times {
            let list = times.iter().map(|t| store::s(t.as_str())).collect();
            set.push(("schedule_times", AttributeValue::L(list)));
        }
        (set, remove)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn changes(body: serde_json::Value) -> ApiResult<MedChanges> {
        MedChanges::from_fields(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn times_are_normalised_and_junk_is_rejected() {
        let c = changes(json!({"start": "2025-08-20T08:00:00+02:00"})).unwrap();
        assert_eq!(c.start.as_deref(), Some("2025-08-20T06:00:00.000Z"));
        for bad in [
            json!({"start": "tomorrow"}),
            json!({"end": "2025-13-01"}),
            json!({"priority": "urgent"}),
            json!({"name": "  "}),
            json!({"scheduleTimes": [""]}),
            json!({"start": "2025-08-20T08:00:00Z", "end": "2025-08-19T08:00:00Z"}),
        ] {
            assert_eq!(
                changes(bad.clone()).unwrap_err().status().as_u16(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn create_names_the_first_missing_field() {
        let c = changes(json!({"name": "Paracetamol", "dose": "1 g", "route": "PO"})).unwrap();
        let err = c.require_for_create().unwrap_err();
        assert_eq!(err.to_string(), "freq is required");
    }

    #[test]
    fn a_null_end_clears_it_and_an_absent_end_leaves_it() {
        // Given a patch with end: null and one without end
        let cleared = changes(json!({"end": null})).unwrap();
        let untouched = changes(json!({"dose": "2 g"})).unwrap();
        // Then only the first removes the attribute
        assert_eq!(cleared.update_parts(), (vec![], vec!["end"]));
        assert!(!cleared.is_empty());
        let (set, remove) = untouched.update_parts();
        assert_eq!(set, vec![("dose", store::s("2 g"))]);
        assert!(remove.is_empty());
        assert!(changes(json!({"unknownField": 1})).unwrap().is_empty());
    }

    #[test]
    fn priority_defaults_to_routine_on_create() {
        let mut med = MedItem::default();
        changes(json!({"name": "x"})).unwrap().apply(&mut med);
        assert_eq!(med.priority.as_deref(), Some("routine"));
    }
}

#[cfg(test)]
mod properties {
    //! Any body: medication changes, or a 400.

    use proptest::prelude::*;

    use super::{MedChanges, MedFields};

    use crate::proptest_support::{body, config, is_client_error, request};

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_medication_body_is_changes_or_a_400(body in body(), query in ".{0,40}") {
            let req = request(body, &query);
            let med = req.json::<MedFields>().and_then(MedChanges::from_fields);
            prop_assert!(is_client_error(&med));
        }
    }
}
