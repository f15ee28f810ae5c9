//! `PUT /patients/{id}` (partial update of person and episode fields, and a
//! stage change when `currentState` differs) and `DELETE /patients/{id}`
//! (soft delete: INACTIVE, off the active lists).

use serde::Deserialize;
use serde_json::json;

use super::change::{change, Step};
use super::fields::{EpisodeFields, PersonFields};
use super::model::STATUS_INACTIVE;
use super::state::StateFields;
use crate::audit::Audit;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    #[serde(flatten)]
    person: PersonFields,
    #[serde(flatten)]
    episode: EpisodeFields,
    #[serde(flatten)]
    state: StateFields,
}

pub async fn put(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let body: UpdateBody = req.json()?;
    let transition = body.state.transition(req)?;
    if body.person.is_empty() && body.episode.is_empty() && transition.is_none() {
        return Err(ApiError::bad_request(
            "Nothing to update: send at least one patient field",
        ));
    }
    let audit = Audit::of(req, "patient.update");
    let (patient, _) = change(ctx, id, &audit, |patient, _now| {
        body.person.apply(patient)?;
        body.episode.apply(patient)?;
        let transition = transition
            .clone()
            .filter(|t| patient.current_state.as_deref() != Some(t.to.as_str()));
        Ok(Step::Write {
            transition,
            extra: Vec::new(),
        })
    })
    .await?;
    Ok(Reply::ok(
        json!({"message": "updated", "patient": patient.to_json()}),
    ))
}

pub async fn delete(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let audit = Audit::of(req, "patient.delete");
    let (patient, _) = change(ctx, id, &audit, |patient, _now| {
        if !patient.is_active() {
            return Ok(Step::NoOp);
        }
        patient.status = Some(STATUS_INACTIVE.to_string());
        Ok(Step::fields_only())
    })
    .await?;
    Ok(Reply::ok(
        json!({"message": "soft-deleted", "patient": patient.to_json()}),
    ))
}
