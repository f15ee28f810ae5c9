//! Reading one patient: `GET /patients/{id}` and `GET /patients/by-mrn/{mrn}`.

use crate::context::Context;
use crate::error::ApiResult;
use crate::http::Reply;

pub async fn get(ctx: &Context, id: &str) -> ApiResult<Reply> {
    let patient = super::resolve::resolve(ctx, id).await?;
    Ok(Reply::ok(patient.to_json()))
}
