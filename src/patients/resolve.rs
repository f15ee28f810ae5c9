//! Patient resolution for every `/patients/{id}/...` route: `{id}` is the UID
//! or any MRN pointing to the patient.
//!
//! One BatchGetItem asks for the patient item, the MRN pointer and any other
//! items of the patient a route needs (e.g. its documents record). A UID thus
//! resolves in one call; an MRN needs a second batch for the patient's items.
//!
//! Every resolution meets the request's access decision
//! (`policy::admit_current`) as soon as the patient is read: a caller outside
//! the patient's departments gets 403 before anything is written.

use std::collections::HashMap;

use super::model::{MrnPointer, PatientItem};
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::store::{self, Item};

/// DynamoDB keys are at most 1 KiB for the sort key and 2 KiB for the hash
/// key; anything near that is no patient id.
const MAX_ID_LEN: usize = 256;

/// A resolved patient and the extra items of theirs that were asked for.
#[derive(Debug)]
pub struct Resolved {
    pub patient: PatientItem,
    /// Items under `PATIENT#{uid}` by sort key; absent when not stored.
    pub items: HashMap<String, Item>,
    /// Items outside the patient asked for in the same batch, by (PK, SK).
    pub shared: HashMap<(String, String), Item>,
}

pub async fn resolve(ctx: &Context, id: &str) -> ApiResult<PatientItem> {
    Ok(resolve_with(ctx, id, &[]).await?.patient)
}

pub async fn resolve_with(ctx: &Context, id: &str, extra_sks: &[&str]) -> ApiResult<Resolved> {
    resolve_full(ctx, id, extra_sks, &[]).await
}

/// Like [`resolve_with`], also reading `shared` items (not the patient's) in
/// the first batch.
pub async fn resolve_full(
    ctx: &Context,
    id: &str,
    extra_sks: &[&str],
    shared: &[(String, String)],
) -> ApiResult<Resolved> {
    let id = id.trim();
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(ApiError::patient_not_found());
    }
    let mut wanted = patient_keys(id, extra_sks);
    let pointer_key = (keys::mrn_pk(id), keys::MRN_SK.to_string());
    wanted.push(pointer_key.clone());
    wanted.extend(shared.iter().cloned());
    let mut found = store::batch_get(ctx, &wanted).await?;
    let shared_items: HashMap<(String, String), Item> = shared
        .iter()
        .filter_map(|k| found.remove(k).map(|item| (k.clone(), item)))
        .collect();
    if let Some(mut resolved) = take_patient(&mut found, id, extra_sks)? {
        resolved.shared = shared_items;
        return Ok(resolved);
    }
    let pointer: MrnPointer = match found.remove(&pointer_key) {
        Some(item) => store::from_item(item)?,
        None => return Err(ApiError::patient_not_found()),
    };
    let uid = pointer.patient_uid.as_str();
    let wanted = patient_keys(uid, extra_sks);
    let second = store::batch_get(ctx, &wanted);
    let mut found = crate::audit::alongside_resolution(ctx, uid, second).await?;
    take_patient(&mut found, &pointer.patient_uid, extra_sks)?
        .ok_or_else(ApiError::patient_not_found)
}

fn patient_keys(uid: &str, extra_sks: &[&str]) -> Vec<(String, String)> {
    let pk = keys::patient_pk(uid);
    std::iter::once(keys::META_SK)
        .chain(extra_sks.iter().copied())
        .map(|sk| (pk.clone(), sk.to_string()))
        .collect()
}

fn take_patient(
    found: &mut HashMap<(String, String), Item>,
    uid: &str,
    extra_sks: &[&str],
) -> ApiResult<Option<Resolved>> {
    let pk = keys::patient_pk(uid);
    let Some(meta) = found.remove(&(pk.clone(), keys::META_SK.to_string())) else {
        return Ok(None);
    };
    let patient: PatientItem = store::from_item(meta)?;
    // The request's access decision, before any of the record is used.
    crate::policy::admit_current(patient.department.as_deref(), patient.gov_share)?;
    let items = extra_sks
        .iter()
        .filter_map(|sk| {
            found
                .remove(&(pk.clone(), sk.to_string()))
                .map(|item| (sk.to_string(), item))
        })
        .collect();
    Ok(Some(Resolved {
        patient,
        items,
        shared: HashMap::new(),
    }))
}
