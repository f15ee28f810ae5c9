//! `PATCH /patients/{id}/documents/gov-share`: whether a read-only
//! government reviewer may see this patient (`gov_share`), set in one
//! guarded write of the patient with its audit entry.

use serde_json::{json, Value};

use super::change::{change, Step};
use crate::audit::Audit;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};

pub async fn gov_share(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    // Malformed JSON, a missing flag or anything but a boolean is a 400:
    // never a silent "off".
    let share = match req.json_object()?.get("share") {
        Some(Value::Bool(share)) => *share,
        _ => return Err(ApiError::bad_request("share must be true or false")),
    };
    let audit = Audit::of(req, "patient.gov-share");
    let (patient, _) = change(ctx, id, &audit, |patient, _now| {
        if patient.gov_share == share {
            return Ok(Step::NoOp);
        }
        patient.gov_share = share;
        Ok(Step::fields_only())
    })
    .await?;
    Ok(Reply::ok(json!({
        "message": "gov-share-updated",
        "shared": patient.gov_share,
        "patient": patient.to_json(),
    })))
}
