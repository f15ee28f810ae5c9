//! Patients written straight to the table with a shorter uid than the API
//! mints, for the tests that store files in a note's or medication's folder.
//!
//! Why: the S3 emulator (s3s-fs) keeps each object's metadata in a file named
//! `.bucket-{base64(bucket)}.object-{base64(key)}.metadata.json`, and a file
//! name stops at 255 bytes, so it cannot store a key longer than ~154 bytes.
//! An entity file of an API-made patient (36-char uid) and note (36-char id)
//! has a ~163-byte key (real S3 allows 1024). A 20-char uid keeps the same
//! layout under the emulator's limit.

use hms::patients::model::{MrnEntry, MrnPointer};
use hms::patients::PatientItem;
use hms::{clock, keys, store};

use crate::support::{unique, App};

/// Creates a patient (META item and MRN pointer) with a 20-char,
/// time-sortable uid; returns (uid, mrn).
pub async fn patient_with_short_uid(app: &App) -> (String, String) {
    let simple = uuid::Uuid::now_v7().simple().to_string();
    let uid = format!("p{}", &simple[..19]);
    let mrn = unique("MRN");
    let now = clock::now_rfc3339();
    let mut patient = PatientItem {
        pk: keys::patient_pk(&uid),
        sk: keys::META_SK.to_string(),
        patient_uid: uid.clone(),
        name: Some("Seeded Patient".into()),
        department: Some(unique("Dept")),
        active_reg_mrn: Some(mrn.clone()),
        active_scheme: Some("GENERAL".into()),
        mrn_history: vec![MrnEntry {
            mrn: mrn.clone(),
            scheme: "GENERAL".into(),
            date: Some(now.clone()),
        }],
        current_state: Some("onboarding".into()),
        created_at: Some(now.clone()),
        updated_at: Some(now.clone()),
        last_updated: Some(now),
        ..Default::default()
    };
    patient.sync_index_keys();
    let pointer = MrnPointer::new(&mrn, &patient);
    for item in [
        store::to_item(&patient).expect("patient item"),
        store::to_item(&pointer).expect("pointer item"),
    ] {
        app.ctx
            .ddb
            .put_item()
            .table_name(app.ctx.table())
            .set_item(Some(item))
            .send()
            .await
            .expect("seeded");
    }
    (uid, mrn)
}
