//! Stage changes: `PATCH /patients/{id}/state`, and `PUT /patients/{id}`
//! carrying `currentState` (how the frontend changes stage).

use serde::Deserialize;
use serde_json::json;

use super::change::{change, Step, Transition};
use crate::audit::Audit;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{key_text, text_within, texts_within};
use crate::http::{ApiRequest, Reply};

/// Limits of a stage change's free text (characters).
const MAX_DONE: usize = 50;
const MAX_DONE_ITEM: usize = 200;
const MAX_TIMELINE_NOTES: usize = 2_000;

/// The stage-change fields of a body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateFields {
    pub current_state: Option<String>,
    pub checklist_in_done: Option<Vec<String>>,
    pub checklist_out_done: Option<Vec<String>>,
    pub actor_id: Option<String>,
    pub timeline_notes: Option<String>,
    pub force: Option<bool>,
}

impl StateFields {
    /// The transition these fields ask for, if any (`None`: no `currentState`).
    /// With authentication on, the actor is the caller.
    pub fn transition(&self, req: &ApiRequest) -> ApiResult<Option<Transition>> {
        let Some(to) = &self.current_state else {
            return Ok(None);
        };
        let done = |list: &Option<Vec<String>>, field: &str| {
            texts_within(
                list.as_deref().unwrap_or_default(),
                field,
                MAX_DONE,
                MAX_DONE_ITEM,
            )
        };
        let force = self.force.unwrap_or(false);
        if force && !crate::policy::current()?.is_admin() {
            return Err(ApiError::Forbidden(
                "force (past the checklist rules) needs the admin group".into(),
            ));
        }
        Ok(Some(Transition {
            to: key_text(to, "currentState")?,
            checklist_in_done: done(&self.checklist_in_done, "checklistInDone")?,
            checklist_out_done: done(&self.checklist_out_done, "checklistOutDone")?,
            actor_id: req.attributed(text_within(&self.actor_id, "actorId", MAX_DONE_ITEM)?),
            notes: text_within(&self.timeline_notes, "timelineNotes", MAX_TIMELINE_NOTES)?,
            force,
            enforce_rules: true,
        }))
    }
}

pub async fn patch_state(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let body: StateFields = req.json()?;
    let transition = body
        .transition(req)?
        .ok_or_else(|| ApiError::bad_request("currentState is required"))?;
    let audit = Audit::of(req, "patient.state");
    let (patient, written) = change(ctx, id, &audit, |patient, _now| {
        if patient.current_state.as_deref() == Some(transition.to.as_str()) {
            return Ok(Step::NoOp);
        }
        Ok(Step::Write {
            transition: Some(transition.clone()),
            extra: Vec::new(),
        })
    })
    .await?;
    let message = if written { "state-updated" } else { "no-op" };
    Ok(Reply::ok(
        json!({"message": message, "patient": patient.to_json()}),
    ))
}
