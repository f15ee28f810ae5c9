//! The active MRN: a registration switch (`PATCH .../registration`), and
//! replacing the MRN history (`.../mrn-history`, `.../mrn-overwrite`).
//! A switch closes the open timeline row, opens a new one and points the MRN
//! at the patient, in the same transaction as the patient item; an MRN that
//! already points to another patient is a 409 and nothing changes.

use serde::Deserialize;
use serde_json::json;

use super::change::{change, Extra, Step, Transition};
use super::fields::{mrn_text, EpisodeFields};
use super::model::{unknown_scheme, MrnEntry, MrnPointer, PatientItem, FIRST_STATE};
use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{key_text, required, text_within};
use crate::http::{ApiRequest, Reply};
use crate::store::{self, tx};

/// Registrations a patient record keeps (its item stays far below 400 KB).
pub const MAX_REGISTRATIONS: usize = 100;
/// Schemes are free text (ASP, NAM, EHS, PAID, OTHERS, …).
pub const MAX_SCHEME: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationBody {
    mrn: Option<String>,
    scheme: Option<String>,
    first_state: Option<String>,
    actor_id: Option<String>,
    #[serde(flatten)]
    episode: EpisodeFields,
}

/// Makes `mrn` the patient's active MRN: the pointer write and the transition.
fn switch_to(
    table: &str,
    patient: &mut PatientItem,
    mrn: &str,
    scheme: &str,
    first_state: &str,
    actor_id: Option<String>,
) -> ApiResult<Step> {
    patient.active_reg_mrn = Some(mrn.to_string());
    patient.active_scheme = Some(scheme.to_string());
    let pointer = MrnPointer::new(mrn, patient);
    let values = std::collections::HashMap::from([(":uid".to_string(), store::s(patient.uid()))]);
    let item = tx::put(
        table,
        store::to_item(&pointer)?,
        Some(("attribute_not_exists(PK) OR patient_uid = :uid", values)),
    )?;
    Ok(Step::Write {
        transition: Some(Transition {
            to: first_state.to_string(),
            actor_id,
            enforce_rules: false,
            ..Default::default()
        }),
        extra: vec![Extra {
            item,
            conflict: format!("MRN {mrn} is already registered to another patient"),
        }],
    })
}

pub async fn switch(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let body: RegistrationBody = req.json()?;
    let mrn = mrn_text(&required(&body.mrn, "mrn")?, "mrn")?;
    required(&body.scheme, "scheme")?;
    let scheme = text_within(&body.scheme, "scheme", MAX_SCHEME)?.unwrap_or_default();
    let first_state = match &body.first_state {
        Some(s) => key_text(s, "firstState")?,
        None => FIRST_STATE.to_string(),
    };
    let table = ctx.table().to_string();
    let actor_id = req.attributed(body.actor_id.clone());
    let audit = Audit::of(req, "patient.registration");
    let (patient, _) = change(ctx, id, &audit, |patient, now| {
        body.episode.apply(patient)?;
        if patient.active_reg_mrn.as_deref() == Some(mrn.as_str()) {
            // Same registration: only its scheme and episode fields change.
            patient.active_scheme = Some(scheme.clone());
            return Ok(Step::fields_only());
        }
        if patient.mrn_history.len() >= MAX_REGISTRATIONS {
            return Err(ApiError::conflict(format!(
                "The patient holds {MAX_REGISTRATIONS} registrations, the most a record keeps"
            )));
        }
        patient.mrn_history.push(MrnEntry {
            mrn: mrn.clone(),
            scheme: scheme.clone(),
            date: Some(now.to_string()),
        });
        switch_to(
            &table,
            patient,
            &mrn,
            &scheme,
            &first_state,
            actor_id.clone(),
        )
    })
    .await?;
    Ok(Reply::ok(json!({
        "message": "registration-switched",
        "latestMrn": patient.active_reg_mrn,
        "patient": patient.to_json(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryBody {
    mrn_history: Option<Vec<HistoryEntry>>,
}

#[derive(Debug, Deserialize)]
struct HistoryEntry {
    mrn: Option<String>,
    scheme: Option<String>,
    date: Option<String>,
}

/// The history as sent: entries without an MRN dropped, scheme defaulting to
/// `Unknown`, dates normalised to UTC (an unreadable date is a 400).
fn parse_history(req: &ApiRequest) -> ApiResult<Vec<MrnEntry>> {
    let body: HistoryBody = req.json()?;
    let entries = body
        .mrn_history
        .ok_or_else(|| ApiError::bad_request("mrnHistory is required"))?;
    let mut out = Vec::new();
    for e in entries {
        let Some(mrn) = e.mrn.as_deref().map(str::trim).filter(|m| !m.is_empty()) else {
            continue;
        };
        let date = match e.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => Some(clock::normalize_rfc3339(d).ok_or_else(|| {
                ApiError::bad_request(format!("mrnHistory date {d:?} is not RFC 3339"))
            })?),
        };
        out.push(MrnEntry {
            mrn: mrn_text(mrn, "mrnHistory.mrn")?,
            scheme: text_within(&e.scheme, "mrnHistory.scheme", MAX_SCHEME)?
                .unwrap_or_else(unknown_scheme),
            date,
        });
    }
    if out.is_empty() {
        return Err(ApiError::bad_request(
            "mrnHistory must hold at least one entry with an mrn",
        ));
    }
    if out.len() > MAX_REGISTRATIONS {
        return Err(ApiError::bad_request(format!(
            "mrnHistory holds at most {MAX_REGISTRATIONS} entries"
        )));
    }
    Ok(out)
}

/// The entry with the latest date (undated entries count as oldest; on a tie
/// the later entry in the list wins).
pub fn latest(history: &[MrnEntry]) -> Option<&MrnEntry> {
    history.iter().max_by(|a, b| a.date.cmp(&b.date))
}

pub async fn replace_history(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let history = parse_history(req)?;
    let audit = Audit::of(req, "patient.mrn-history");
    let (patient, _) = change(ctx, id, &audit, |patient, _now| {
        let active = patient.active_reg_mrn.clone().unwrap_or_default();
        if !history.iter().any(|e| e.mrn == active) {
            return Err(ApiError::bad_request(format!(
                "mrnHistory must keep the active MRN {active}"
            )));
        }
        patient.mrn_history = history.clone();
        Ok(Step::fields_only())
    })
    .await?;
    Ok(Reply::ok(
        json!({"message": "mrn-history-updated", "patient": patient.to_json()}),
    ))
}

pub async fn overwrite(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let history = parse_history(req)?;
    let table = ctx.table().to_string();
    let actor_id = req.attributed(None);
    let audit = Audit::of(req, "patient.mrn-overwrite");
    let (patient, _) = change(ctx, id, &audit, |patient, _now| {
        patient.mrn_history = history.clone();
        let Some(newest) = latest(&history).cloned() else {
            return Ok(Step::fields_only());
        };
        if patient.active_reg_mrn.as_deref() == Some(newest.mrn.as_str()) {
            patient.active_scheme = Some(newest.scheme);
            return Ok(Step::fields_only());
        }
        // A correction, not a new episode: the patient stays in its stage.
        let state = patient
            .current_state
            .clone()
            .unwrap_or_else(|| FIRST_STATE.to_string());
        switch_to(
            &table,
            patient,
            &newest.mrn,
            &newest.scheme,
            &state,
            actor_id.clone(),
        )
    })
    .await?;
    Ok(Reply::ok(
        json!({"message": "mrn-overwrite-updated", "patient": patient.to_json()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mrn: &str, date: Option<&str>) -> MrnEntry {
        MrnEntry {
            mrn: mrn.into(),
            scheme: "S".into(),
            date: date.map(str::to_string),
        }
    }

    #[test]
    fn the_latest_dated_entry_wins() {
        let h = vec![
            entry("A", Some("2025-01-01T00:00:00.000Z")),
            entry("B", Some("2025-03-01T00:00:00.000Z")),
            entry("C", None),
        ];
        assert_eq!(latest(&h).unwrap().mrn, "B");
        let tie = vec![
            entry("A", Some("2025-01-01T00:00:00.000Z")),
            entry("B", Some("2025-01-01T00:00:00.000Z")),
        ];
        assert_eq!(latest(&tie).unwrap().mrn, "B");
        assert_eq!(latest(&[entry("X", None)]).unwrap().mrn, "X");
    }
}
