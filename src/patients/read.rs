//! Reading one patient: `GET /patients/{id}` and `GET /patients/by-mrn/{mrn}`.

use crate::audit::Audit;
use crate::context::Context;
use crate::error::ApiResult;
use crate::http::{ApiRequest, Reply};

/// The patient, with its ledger entry written alongside the read.
pub async fn get(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let read = async {
        let patient = super::resolve::resolve(ctx, id).await?;
        let uid = patient.uid().to_string();
        Ok((Reply::ok(patient.to_json()), uid))
    };
    Audit::of(req, "patient.read")
        .alongside(ctx, id, read)
        .await
}
