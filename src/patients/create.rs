//! `POST /patients`: the patient item, its first timeline row and its MRN
//! pointer in one transaction; an MRN already taken is a 409.

use serde::Deserialize;
use serde_json::json;

use super::change::UNAUDITED;
use super::fields::{mrn_text, EpisodeFields, PersonFields, SchedulingFields};
use super::model::{MrnEntry, MrnPointer, PatientItem, FIRST_STATE};
use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{key_text, required, text_within};
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::store::{self, tx, Refused};
use crate::timeline::{NewRow, TimelineRow};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    #[serde(flatten)]
    person: PersonFields,
    /// Scheduling fields may come at the top level or in `registration`.
    #[serde(flatten)]
    scheduling: SchedulingFields,
    registration: Option<RegistrationBody>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationBody {
    mrn: Option<String>,
    scheme: Option<String>,
    current_state: Option<String>,
    #[serde(flatten)]
    episode: EpisodeFields,
}

pub async fn create(ctx: &Context, req: &ApiRequest) -> ApiResult<Reply> {
    create_as(ctx, req, clock::new_id()).await
}

/// [`create`] under a UID given (`hms-admin seed-fixtures` registers the
/// patient the `events/` fixtures name; the API always mints one).
pub async fn create_as(ctx: &Context, req: &ApiRequest, uid: String) -> ApiResult<Reply> {
    let body: CreateBody = req.json()?;
    let name = required(&body.person.name, "name")?;
    let reg = body
        .registration
        .ok_or_else(|| ApiError::bad_request("registration is required"))?;
    let mrn = mrn_text(&required(&reg.mrn, "registration.mrn")?, "registration.mrn")?;
    required(&reg.scheme, "registration.scheme")?;
    let scheme = text_within(
        &reg.scheme,
        "registration.scheme",
        super::registration::MAX_SCHEME,
    )?
    .unwrap_or_default();
    required(&reg.episode.department, "registration.department")?;
    crate::policy::current()?.register_in(reg.episode.department.as_deref())?;
    let state = match &reg.current_state {
        Some(s) => key_text(s, "registration.currentState")?,
        None => FIRST_STATE.to_string(),
    };

    let now = clock::now_rfc3339();
    let mut patient = PatientItem {
        pk: keys::patient_pk(&uid),
        sk: keys::META_SK.to_string(),
        patient_uid: uid.clone(),
        name: Some(name),
        active_reg_mrn: Some(mrn.clone()),
        active_scheme: Some(scheme.clone()),
        mrn_history: vec![MrnEntry {
            mrn: mrn.clone(),
            scheme: scheme.clone(),
            date: Some(now.clone()),
        }],
        created_at: Some(now.clone()),
        updated_at: Some(now.clone()),
        last_updated: Some(now.clone()),
        ..Default::default()
    };
    body.person.apply(&mut patient)?;
    body.scheduling.apply(&mut patient)?;
    reg.episode.apply(&mut patient)?;
    let row = TimelineRow::open(NewRow {
        uid: &uid,
        state: &state,
        now: &now,
        mrn: Some(mrn.clone()),
        scheme: Some(scheme),
        actor_id: req.attributed(None),
        notes: None,
    });
    patient.current_state = Some(state.clone());
    patient.state_dates.insert(state, now.clone());
    patient.timeline_open_sk = Some(row.sk.clone());
    patient.sync_index_keys();

    let table = ctx.table();
    let pointer = MrnPointer::new(&mrn, &patient);
    let patient_item = store::to_item(&patient)?;
    let mut fields: Vec<&String> = patient_item
        .keys()
        .filter(|f| !matches!(f.as_str(), "PK" | "SK") && !UNAUDITED.contains(&f.as_str()))
        .collect();
    fields.sort();
    let audit = Audit::of(req, "patient.create").fields(fields);
    let items = vec![
        tx::put_new(table, patient_item.clone())?,
        tx::put_new(table, store::to_item(&row)?)?,
        tx::put_new(table, store::to_item(&pointer)?)?,
        audit.tx_item(table, &uid)?,
    ];
    match store::transact(ctx, items).await? {
        Ok(()) => {}
        Err(Refused::Condition(_)) => {
            return Err(ApiError::conflict(format!(
                "MRN {mrn} is already registered to another patient"
            )))
        }
        Err(refused) => return Err(refused.into()),
    }
    Ok(Reply::created(json!({
        "message": "created",
        "patientId": uid,
        "patient_uid": uid,
        "latestMrn": mrn,
        "patient": patient.to_json(),
    })))
}
