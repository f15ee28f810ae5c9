//! Every DynamoDB key string and index name of the single-table layout, in one
//! place (see the table layout in the API contract).

use crate::store::Index;

pub const GSI1: &str = "GSI1PK-index";
pub const GSI2: &str = "GSI2PK-GSI2SK-index";
/// Sparse index of active patients: only ACTIVE patients carry `GSI3PK`.
pub const GSI3: &str = "GSI3PK-GSI3SK-index";
pub const LSI_CUR_MRN: &str = "LSI_CUR_MRN-index";

/// Department lists: patients by department and status, doctors by department.
pub const GSI1_INDEX: Index = Index {
    name: GSI1,
    hash: "GSI1PK",
    range: None,
};
/// The task dashboard: status and department, then assignee and recurrence.
pub const GSI2_INDEX: Index = Index {
    name: GSI2,
    hash: "GSI2PK",
    range: Some("GSI2SK"),
};
pub const GSI3_INDEX: Index = Index {
    name: GSI3,
    hash: "GSI3PK",
    range: Some("GSI3SK"),
};

pub const META_SK: &str = "META_LATEST";
pub const MRN_SK: &str = "MRN";
pub const DOCS_SK: &str = "DOCS#PROFILE";
pub const PROFILE_SK: &str = "PROFILE";
pub const CHECKLIST_PK: &str = "CHECKLIST";
/// One item holding every checklist rule, so a state change reads its rule in
/// the same batch as the patient.
pub const CHECKLIST_SUMMARY_SK: &str = "RULES";
pub const ACTIVE_PATIENTS: &str = "PATIENTS#ACTIVE";

pub const PATIENT_PREFIX: &str = "PATIENT#";
pub const TIMELINE_PREFIX: &str = "TL#";
pub const NOTE_PREFIX: &str = "NOTE#";
pub const TASK_PREFIX: &str = "TASK#";
pub const MED_PREFIX: &str = "MED#";
pub const CHECKLIST_PREFIX: &str = "STAGE#";
pub const AUDIT_PREFIX: &str = "AT#";
pub const UPLOAD_PREFIX: &str = "UPLOAD#";

/// An id as stored on an item, or, for items written without it, the part of
/// its key after `prefix`.
pub fn stored_or_key_id<'a>(stored: &'a str, key: &'a str, prefix: &str) -> &'a str {
    if stored.is_empty() {
        key.strip_prefix(prefix).unwrap_or(key)
    } else {
        stored
    }
}

pub fn patient_pk(uid: &str) -> String {
    format!("{PATIENT_PREFIX}{uid}")
}

/// The partition prefix of every ledger (`AUDIT#{uid}`, `AUDIT#CONFIG`);
/// the template denies rewriting items under it.
pub const AUDIT_PK_PREFIX: &str = "AUDIT#";

/// A patient's audit ledger lives in its own partition, apart from the record.
pub fn audit_pk(uid: &str) -> String {
    format!("{AUDIT_PK_PREFIX}{uid}")
}

/// Audit entry ids are UUIDv7: the ledger sorts by time.
pub fn audit_sk(entry_id: &str) -> String {
    format!("{AUDIT_PREFIX}{entry_id}")
}

/// An upload intent is found by the object key it was presigned for.
/// Document entries, one item each: `DOC#{category}#{entryId}`, ids
/// time-sortable, so a category lists in attach order by sort key.
pub const DOC_PREFIX: &str = "DOC#";

/// The ledger of shared configuration (checklist rules, doctors):
/// `AUDIT#CONFIG`, beside the patients' `AUDIT#{uid}`.
pub const CONFIG_LEDGER: &str = "CONFIG";

/// Could `id` be a patient UID (a UUID, or the ULID the earlier version
/// minted)? Resolution tries such an id as a UID first.
pub fn looks_like_uid(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok()
        || (id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub fn doc_category_prefix(category: &str) -> String {
    format!("{DOC_PREFIX}{category}#")
}

pub fn doc_entry_sk(category: &str, entry_id: &str) -> String {
    format!("{DOC_PREFIX}{category}#{entry_id}")
}

/// The one-per-key guard of a document entry, `DOCKEY#{sha256(key)}`: an
/// object key (up to 1024 bytes) is attached at most once, and found by key
/// in the batch that resolves the patient.
pub fn doc_key_sk(object_key: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, object_key.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("DOCKEY#{hex}")
}

pub fn upload_sk(object_key: &str) -> String {
    format!("{UPLOAD_PREFIX}{object_key}")
}

pub fn mrn_pk(mrn: &str) -> String {
    format!("MRN#{mrn}")
}

pub fn timeline_sk(date_in: &str, state: &str) -> String {
    format!("{TIMELINE_PREFIX}{date_in}#{state}")
}

/// Note ids are UUIDv7, so `NOTE#{id}` sorts by creation time and a note is
/// found by id with one GetItem.
/// Discharge summary versions: `DS#{versionId}`. A version id starts with
/// its RFC 3339 creation time, as the Node.js version's `DS#{iso}#{id}`
/// keys do, so versions of both sort by time under `DS#2` (years 2000 to
/// 2999), apart from the pointer to the current one, `DS#LATEST`.
pub const DS_VERSIONS_PREFIX: &str = "DS#2";
pub const DS_LATEST_SK: &str = "DS#LATEST";

pub fn ds_sk(version_id: &str) -> String {
    format!("DS#{version_id}")
}

pub fn note_sk(note_id: &str) -> String {
    format!("{NOTE_PREFIX}{note_id}")
}

/// A note's earlier versions: `NOTEV#{noteId}#{versionId}` (UUIDv7, so in
/// the order they were replaced; outside `NOTE#`, so never listed as notes).
pub fn note_versions_prefix(note_id: &str) -> String {
    format!("NOTEV#{note_id}#")
}

pub fn note_version_sk(note_id: &str, version_id: &str) -> String {
    format!("{}{version_id}", note_versions_prefix(note_id))
}

pub fn task_sk(task_id: &str) -> String {
    format!("{TASK_PREFIX}{task_id}")
}

pub fn med_sk(med_id: &str) -> String {
    format!("{MED_PREFIX}{med_id}")
}

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn checklist_sk(from: &str, to: &str) -> String {
    format!("{CHECKLIST_PREFIX}{}", transition_name(from, to))
}

/// `{from}#TO#{to}`: a rule's attribute name on the summary item.
pub fn transition_name(from: &str, to: &str) -> String {
    format!("{from}#TO#{to}")
}

/// Patients of a department by status: `DEPT#{dept}#{STATUS}`.
pub fn dept_status_gsi1(department: &str, status: &str) -> String {
    format!("DEPT#{department}#{}", status.to_uppercase())
}

/// Doctors of a department: `DEPT#{dept}#ROLE#DOCTOR`.
pub fn doctor_gsi1(department: &str) -> String {
    format!("DEPT#{department}#ROLE#DOCTOR")
}

pub fn current_mrn_lsi(mrn: &str) -> String {
    format!("CUR#{mrn}")
}

/// Task dashboard partition: `TASK#{STATUS}#DEPT#{dept}`.
pub fn task_gsi2pk(status: &str, department: &str) -> String {
    format!("TASK#{}#DEPT#{department}", status.to_uppercase())
}

/// Task dashboard sort key: `ASSIGNEE#{a}#RECURRING#{YES|NO}#TASK#{id}`.
pub fn task_gsi2sk(assignee: &str, recurring: bool, task_id: &str) -> String {
    let rec = if recurring { "YES" } else { "NO" };
    format!("ASSIGNEE#{assignee}#RECURRING#{rec}#TASK#{task_id}")
}

pub fn task_gsi2sk_assignee_prefix(assignee: &str) -> String {
    format!("ASSIGNEE#{assignee}#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_table_layout() {
        assert_eq!(patient_pk("u1"), "PATIENT#u1");
        assert_eq!(mrn_pk("M-1"), "MRN#M-1");
        assert_eq!(
            timeline_sk("2025-01-01T00:00:00.000Z", "preop"),
            "TL#2025-01-01T00:00:00.000Z#preop"
        );
        assert_eq!(
            checklist_sk("onboarding", "preop"),
            "STAGE#onboarding#TO#preop"
        );
        assert_eq!(dept_status_gsi1("Surgery", "active"), "DEPT#Surgery#ACTIVE");
        assert_eq!(doctor_gsi1("Surgery"), "DEPT#Surgery#ROLE#DOCTOR");
        assert_eq!(task_gsi2pk("open", "Surgery"), "TASK#OPEN#DEPT#Surgery");
        assert_eq!(
            task_gsi2sk("d1", true, "t1"),
            "ASSIGNEE#d1#RECURRING#YES#TASK#t1"
        );
        assert!(task_gsi2sk("d1", false, "t1").starts_with(&task_gsi2sk_assignee_prefix("d1")));
        assert_eq!(current_mrn_lsi("M1"), "CUR#M1");
        assert_eq!(stored_or_key_id("", "NOTE#n1", NOTE_PREFIX), "n1");
        assert_eq!(stored_or_key_id("n2", "NOTE#n1", NOTE_PREFIX), "n2");
        assert_eq!(note_sk("n1"), "NOTE#n1");
        assert!(note_sk("n1").starts_with(NOTE_PREFIX));
        assert_eq!(med_sk("m1"), "MED#m1");
        assert!(med_sk("m1").starts_with(MED_PREFIX));
    }
}
