//! The access policy end to end, through the real handler with
//! authentication on (keys generated here, see `jwt`): every route for every
//! role (in the patient's department or not, breaking glass or not, the
//! patient shared or not, and a token without any role), what a government
//! reviewer sees, break-glass and its trail in the ledger, the department
//! scope of lists and dashboards, note authorship and amendments; and, with
//! authentication off, that every patient-scoped route leaves exactly one
//! ledger entry and no value of the request in it.
//!
//! The expected outcomes are written out here (`ROUTES` and `allowed`),
//! independently of `hms::policy`: a change of the policy or of a route's
//! access has to change this table too.

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::jwt::{self, Signer, AUDIENCE, ISSUER};
use crate::support::{put_presigned, unique, App, Reply};

const GLASS_HEADER: &str = "x-break-glass-reason";
const GLASS_REASON: &str = "unconscious in ER";

/// Values the fixtures send that must never reach the ledger (it holds
/// field names and keys, never values).
const PATIENT_NAME: &str = "Test Patient";
const DIAGNOSIS: &str = "Appendicitis suspected, secret-diagnosis-text";
const REVISED_DIAGNOSIS: &str = "Appendicitis confirmed, secret-revised-text";
const NOTE_TEXT: &str = "Patient comfortable, secret-note-text";
const EDITED_NOTE_TEXT: &str = "Patient resting, secret-edited-note-text";
const DISCHARGE_TEXT: &str = "Discharged home, secret-discharge-text";
const SECRETS: [&str; 6] = [
    PATIENT_NAME,
    DIAGNOSIS,
    REVISED_DIAGNOSIS,
    NOTE_TEXT,
    EDITED_NOTE_TEXT,
    DISCHARGE_TEXT,
];

const JPEG: &[u8] = b"\xff\xd8access-test\xff\xd9";
const PDF: &[u8] = b"%PDF-1.4 access-test";

// ------------------------------------------------------------------ callers

/// An app trusting `signer`'s key, as production trusts the issuer's.
fn secured_app(signer: &Signer) -> App {
    let doc = jwt::jwks(&[signer.jwk()]);
    App::with_env(&[
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_JWKS", &doc),
    ])
}

fn dept_group(department: &str) -> String {
    format!("dept:{department}")
}

/// Someone calling the API: a bearer token (none with authentication off)
/// and, when breaking glass, a reason.
#[derive(Clone)]
struct Client<'a> {
    app: &'a App,
    subject: String,
    token: Option<String>,
    glass: Option<String>,
}

impl<'a> Client<'a> {
    /// No token: for an app with authentication off.
    fn anonymous(app: &'a App) -> Self {
        Self {
            app,
            subject: "anonymous".into(),
            token: None,
            glass: None,
        }
    }

    /// A token of `subject` (made unique) with `groups`.
    fn signed(app: &'a App, signer: &Signer, subject: &str, groups: &[String]) -> Self {
        let subject = unique(subject);
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        Self {
            app,
            token: Some(signer.token(&subject, &groups)),
            subject,
            glass: None,
        }
    }

    fn breaking_glass(mut self, reason: &str) -> Self {
        self.glass = Some(reason.to_string());
        self
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let headers: Vec<(&str, &str)> = self
            .glass
            .iter()
            .map(|reason| (GLASS_HEADER, reason.as_str()))
            .collect();
        self.app
            .call_with(self.token.as_deref(), &headers, method, path, body)
            .await
    }

    /// A call that must be refused (403 with a message) before anything is
    /// written; its answer.
    async fn refused(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let r = self.call(method, path, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {:?}", r.body);
        assert!(
            r.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: {:?}",
            r.body
        );
        assert_eq!(r.writes(), 0, "{method} {path}: {}", r.calls);
        r
    }

    /// A call that must answer `status`; its body.
    async fn expect(&self, status: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method, path, body).await;
        assert_eq!(r.status, status, "{method} {path}: {:?}", r.body);
        r.body
    }
}

// ----------------------------------------------------------------- fixtures

/// A note, medication or task with two uploaded files in its folder: one
/// free to attach, one attached (to detach).
struct Attachable {
    id: String,
    free: String,
    attached: String,
}

/// Records made by staff of `department` (an admin in it, for the matrix),
/// so that a note's author is never the caller under test.
impl Client<'_> {
    /// A patient of `department` (shared with the government reviewer when
    /// `shared`); its UID and MRN.
    async fn patient(&self, department: &str, shared: bool) -> (String, String) {
        let mrn = unique("MRN");
        let body = self
            .expect(
                201,
                "POST",
                "/patients",
                Some(json!({"name": PATIENT_NAME, "age": 50, "sex": "F",
                    "registration": {"mrn": mrn, "scheme": "GENERAL",
                                     "department": department, "diagnosis": DIAGNOSIS}})),
            )
            .await;
        let uid = body["patientId"].as_str().expect("patientId").to_string();
        if shared {
            let body = self
                .expect(
                    200,
                    "PATCH",
                    &format!("/patients/{uid}/documents/gov-share"),
                    Some(json!({"share": true})),
                )
                .await;
            assert_eq!(body["shared"], true);
        }
        (uid, mrn)
    }

    async fn note(&self, uid: &str) -> String {
        let body = self
            .expect(
                201,
                "POST",
                &format!("/patients/{uid}/notes"),
                Some(json!({"authorId": "dr-fixture", "category": "doctorNote", "content": NOTE_TEXT})),
            )
            .await;
        body["note"]["noteId"].as_str().expect("noteId").to_string()
    }

    async fn med(&self, uid: &str) -> String {
        let body = self
            .expect(
                201,
                "POST",
                &format!("/patients/{uid}/meds"),
                Some(med_body()),
            )
            .await;
        body["med"]["medId"].as_str().expect("medId").to_string()
    }

    async fn task(&self, uid: &str) -> String {
        let body = self
            .expect(
                201,
                "POST",
                &format!("/patients/{uid}/tasks"),
                Some(task_body()),
            )
            .await;
        body["task"]["taskId"].as_str().expect("taskId").to_string()
    }

    async fn discharge(&self, uid: &str) -> String {
        let body = self
            .expect(
                201,
                "POST",
                &format!("/patients/{uid}/discharge"),
                Some(discharge_body()),
            )
            .await;
        body["version"]["versionId"]
            .as_str()
            .expect("versionId")
            .to_string()
    }

    /// Presigns an upload and PUTs `bytes` to S3; the key.
    async fn upload(&self, uid: &str, body: Value, bytes: &[u8]) -> String {
        let answer = self
            .expect(
                200,
                "POST",
                &format!("/patients/{uid}/files/presign-upload"),
                Some(body),
            )
            .await;
        assert_eq!(put_presigned(&answer, bytes, None).await, 200, "PUT");
        answer["key"].as_str().expect("key").to_string()
    }

    /// An uploaded lab report (not attached).
    async fn lab_doc(&self, uid: &str) -> String {
        self.upload(uid, lab_upload_body(), JPEG).await
    }

    /// An uploaded lab report, attached to the patient's documents.
    async fn attached_lab_doc(&self, uid: &str) -> String {
        let key = self.lab_doc(uid).await;
        self.expect(
            200,
            "POST",
            &format!("/patients/{uid}/documents/attach"),
            Some(json!({"category": "lab_reports", "key": key})),
        )
        .await;
        key
    }

    /// Two files in the folder of entity `id` (`kind`: note, med or task;
    /// `segment`: its path segment), the second one attached.
    async fn attachable(&self, uid: &str, segment: &str, kind: &str, id: String) -> Attachable {
        let body = json!({"filename": "a.pdf", "mimeType": "application/pdf",
                          "kind": kind, "refId": id});
        let free = self.upload(uid, body.clone(), PDF).await;
        let attached = self.upload(uid, body, PDF).await;
        self.expect(
            200,
            "POST",
            &format!("/patients/{uid}/{segment}/{id}/files/attach"),
            Some(json!({"key": attached})),
        )
        .await;
        Attachable { id, free, attached }
    }

    async fn doctor(&self, department: &str) -> String {
        let id = unique("dr");
        self.expect(201, "POST", "/doctors", Some(doctor_body(&id, department)))
            .await;
        id
    }

    /// A checklist rule between two states of its own; its path.
    async fn rule(&self) -> String {
        let path = rule_path();
        self.expect(200, "PUT", &path, Some(json!({"inRequired": ["consent"]})))
            .await;
        path
    }
}

fn med_body() -> Value {
    json!({"name": "Paracetamol", "dose": "1 g", "route": "oral", "freq": "QID",
           "start": "2030-01-01T00:00:00Z"})
}

fn task_body() -> Value {
    json!({"title": "Draw bloods", "type": "lab", "due": "2030-01-01T10:00:00Z",
           "assigneeId": "dr-fixture"})
}

fn discharge_body() -> Value {
    json!({
        "sections": {"diagnosis": {"primary": DISCHARGE_TEXT, "icd_code": "K35"},
                     "follow_up": {"clinic": "OPD"}},
        "summary": {"diagnosis": DISCHARGE_TEXT, "dod": "2025-11-28"},
        "authorName": "Dr A",
        "commitMessage": "saved",
    })
}

fn lab_upload_body() -> Value {
    json!({"filename": "scan.jpg", "mimeType": "image/jpeg", "docType": "lab"})
}

fn doctor_body(id: &str, department: &str) -> Value {
    json!({"userId": id, "name": "Dr Access", "email": "access@clinic.org",
           "department": department})
}

fn rule_path() -> String {
    format!("/checklists/{}/{}", unique("from"), unique("to"))
}

/// One caller's records: a patient with one of each record (a second of
/// each a delete removes, so no request changes what another sees), files,
/// a doctor and checklist rules.
struct Fixture {
    department: String,
    shared: bool,
    uid: String,
    mrn: String,
    note: Attachable,
    note_to_delete: String,
    med: Attachable,
    med_to_stop: String,
    task: Attachable,
    task_to_cancel: String,
    version: String,
    version_to_delete: String,
    doc_free: String,
    doc_attached: String,
    doc_to_delete: String,
    doctor: String,
    doctor_to_delete: String,
    rule: String,
    rule_to_delete: String,
}

impl Fixture {
    async fn build(staff: &Client<'_>, department: &str, shared: bool) -> Self {
        let (uid, mrn) = staff.patient(department, shared).await;
        let note_id = staff.note(&uid).await;
        let med_id = staff.med(&uid).await;
        let task_id = staff.task(&uid).await;
        Self {
            department: department.to_string(),
            shared,
            note: staff.attachable(&uid, "notes", "note", note_id).await,
            note_to_delete: staff.note(&uid).await,
            med: staff.attachable(&uid, "meds", "med", med_id).await,
            med_to_stop: staff.med(&uid).await,
            task: staff.attachable(&uid, "tasks", "task", task_id).await,
            task_to_cancel: staff.task(&uid).await,
            version: staff.discharge(&uid).await,
            version_to_delete: staff.discharge(&uid).await,
            doc_free: staff.lab_doc(&uid).await,
            doc_attached: staff.attached_lab_doc(&uid).await,
            doc_to_delete: staff.lab_doc(&uid).await,
            doctor: staff.doctor(department).await,
            doctor_to_delete: staff.doctor(department).await,
            rule: staff.rule().await,
            rule_to_delete: staff.rule().await,
            uid,
            mrn,
        }
    }
}

impl Fixture {
    /// Removes the checklist rules made for it (and `more`) from the shared
    /// rules; a rule a case deleted already answers 404.
    async fn remove_rules(&self, staff: &Client<'_>, more: &[String]) {
        for rule in [&self.rule, &self.rule_to_delete].into_iter().chain(more) {
            let r = staff.call("DELETE", rule, None).await;
            assert!(matches!(r.status, 200 | 404), "{rule}: {:?}", r.body);
        }
    }
}

// ------------------------------------------------------------- the requests

/// One valid request of a route; `uid` is the patient it acts on (for the
/// ledger), if any.
struct Call {
    method: &'static str,
    path: String,
    body: Option<Value>,
    uid: Option<String>,
}

fn call(method: &'static str, path: String, body: Option<Value>) -> Call {
    Call {
        method,
        path,
        body,
        uid: None,
    }
}

impl Call {
    fn on(mut self, uid: &str) -> Self {
        self.uid = Some(uid.to_string());
        self
    }
}

/// A valid request of `pattern` against `fx`, or `None` for a route this
/// test does not know (a failure: every route needs a case). Requests that
/// would change a patient's registration, sharing or existence act on a
/// patient of their own, made by `staff`, like the fixture's.
async fn request_for(pattern: &str, fx: &Fixture, staff: &Client<'_>) -> Option<Call> {
    let (uid, dept) = (fx.uid.as_str(), fx.department.as_str());
    let p = format!("/patients/{uid}");
    let own_patient = || staff.patient(dept, fx.shared);
    let key = |k: &str| Some(json!({"key": k}));
    let c = match pattern {
        "POST /patients" => call(
            "POST",
            "/patients".into(),
            Some(json!({"name": PATIENT_NAME, "registration":
                {"mrn": unique("MRN"), "scheme": "GENERAL", "department": dept}})),
        ),
        "GET /patients" => call("GET", format!("/patients?department={dept}&limit=5"), None),
        "GET /patients/by-mrn/{mrn}" => {
            call("GET", format!("/patients/by-mrn/{}", fx.mrn), None).on(uid)
        }
        "GET /patients/{id}" => call("GET", p.clone(), None).on(uid),
        "PUT /patients/{id}" => call(
            "PUT",
            p.clone(),
            Some(json!({"diagnosis": REVISED_DIAGNOSIS})),
        )
        .on(uid),
        "DELETE /patients/{id}" => {
            let (own, _) = own_patient().await;
            call("DELETE", format!("/patients/{own}"), None).on(&own)
        }
        "PATCH /patients/{id}/state" => call(
            "PATCH",
            format!("{p}/state"),
            Some(json!({"currentState": unique("stage")})),
        )
        .on(uid),
        "PATCH /patients/{id}/registration" => {
            let (own, _) = own_patient().await;
            call(
                "PATCH",
                format!("/patients/{own}/registration"),
                Some(json!({"mrn": unique("MRN"), "scheme": "GENERAL"})),
            )
            .on(&own)
        }
        "PATCH /patients/{id}/mrn-history" | "PATCH /patients/{id}/mrn-overwrite" => {
            let (own, mrn) = own_patient().await;
            let action = pattern.rsplit('/').next().unwrap_or_default();
            call(
                "PATCH",
                format!("/patients/{own}/{action}"),
                Some(json!({"mrnHistory": [{"mrn": mrn, "scheme": "GENERAL",
                                             "date": "2025-01-01T00:00:00Z"}]})),
            )
            .on(&own)
        }
        "PATCH /patients/{id}/documents/gov-share" => {
            let (own, _) = own_patient().await;
            // The opposite of what the patient is: a real change.
            call(
                "PATCH",
                format!("/patients/{own}/documents/gov-share"),
                Some(json!({"share": !fx.shared})),
            )
            .on(&own)
        }
        "GET /patients/{id}/timeline" => call("GET", format!("{p}/timeline"), None).on(uid),
        "GET /patients/{id}/audit" => call("GET", format!("{p}/audit"), None).on(uid),
        "GET /patients/{id}/meds" => call("GET", format!("{p}/meds"), None).on(uid),
        "POST /patients/{id}/meds" => call("POST", format!("{p}/meds"), Some(med_body())).on(uid),
        "PATCH /patients/{id}/meds/{medId}" => call(
            "PATCH",
            format!("{p}/meds/{}", fx.med.id),
            Some(json!({"dose": "500 mg"})),
        )
        .on(uid),
        "DELETE /patients/{id}/meds/{medId}" => {
            call("DELETE", format!("{p}/meds/{}", fx.med_to_stop), None).on(uid)
        }
        "POST /patients/{id}/meds/{medId}/files/attach" => call(
            "POST",
            format!("{p}/meds/{}/files/attach", fx.med.id),
            key(&fx.med.free),
        )
        .on(uid),
        "POST /patients/{id}/meds/{medId}/files/detach" => call(
            "POST",
            format!("{p}/meds/{}/files/detach", fx.med.id),
            key(&fx.med.attached),
        )
        .on(uid),
        "POST /doctors" => call(
            "POST",
            "/doctors".into(),
            Some(doctor_body(&unique("dr"), dept)),
        ),
        "GET /doctors" => call("GET", format!("/doctors?department={dept}"), None),
        "GET /doctors/{doctorId}" => call("GET", format!("/doctors/{}", fx.doctor), None),
        "PATCH /doctors/{doctorId}" => call(
            "PATCH",
            format!("/doctors/{}", fx.doctor),
            Some(json!({"role": "nurse"})),
        ),
        "DELETE /doctors/{doctorId}" => {
            call("DELETE", format!("/doctors/{}", fx.doctor_to_delete), None)
        }
        "POST /patients/{id}/tasks" => {
            call("POST", format!("{p}/tasks"), Some(task_body())).on(uid)
        }
        "GET /patients/{id}/tasks" => call("GET", format!("{p}/tasks"), None).on(uid),
        "PATCH /patients/{id}/tasks/{taskId}" => call(
            "PATCH",
            format!("{p}/tasks/{}", fx.task.id),
            Some(json!({"status": "in-progress"})),
        )
        .on(uid),
        "DELETE /patients/{id}/tasks/{taskId}" => {
            call("DELETE", format!("{p}/tasks/{}", fx.task_to_cancel), None).on(uid)
        }
        "POST /patients/{id}/tasks/{taskId}/files/attach" => call(
            "POST",
            format!("{p}/tasks/{}/files/attach", fx.task.id),
            key(&fx.task.free),
        )
        .on(uid),
        "POST /patients/{id}/tasks/{taskId}/files/detach" => call(
            "POST",
            format!("{p}/tasks/{}/files/detach", fx.task.id),
            key(&fx.task.attached),
        )
        .on(uid),
        "GET /tasks" => call("GET", format!("/tasks?department={dept}&limit=5"), None),
        "GET /patients/{id}/notes" => call("GET", format!("{p}/notes"), None).on(uid),
        "POST /patients/{id}/notes" => call(
            "POST",
            format!("{p}/notes"),
            Some(json!({"authorId": "dr-caller", "category": "nurseNote", "content": NOTE_TEXT})),
        )
        .on(uid),
        "PATCH /patients/{id}/notes/{noteId}" => call(
            "PATCH",
            format!("{p}/notes/{}", fx.note.id),
            Some(json!({"content": EDITED_NOTE_TEXT})),
        )
        .on(uid),
        "DELETE /patients/{id}/notes/{noteId}" => {
            call("DELETE", format!("{p}/notes/{}", fx.note_to_delete), None).on(uid)
        }
        "GET /patients/{id}/notes/{noteId}/versions" => {
            call("GET", format!("{p}/notes/{}/versions", fx.note.id), None).on(uid)
        }
        "POST /patients/{id}/notes/{noteId}/files/attach" => call(
            "POST",
            format!("{p}/notes/{}/files/attach", fx.note.id),
            key(&fx.note.free),
        )
        .on(uid),
        "POST /patients/{id}/notes/{noteId}/files/detach" => call(
            "POST",
            format!("{p}/notes/{}/files/detach", fx.note.id),
            key(&fx.note.attached),
        )
        .on(uid),
        "POST /patients/{id}/files/presign-upload" => call(
            "POST",
            format!("{p}/files/presign-upload"),
            Some(lab_upload_body()),
        )
        .on(uid),
        "GET /patients/{id}/files" => call("GET", format!("{p}/files?docType=lab"), None).on(uid),
        "POST /patients/{id}/files/presign-download" => call(
            "POST",
            format!("{p}/files/presign-download"),
            key(&fx.doc_attached),
        )
        .on(uid),
        "POST /patients/{id}/files/delete" => {
            call("POST", format!("{p}/files/delete"), key(&fx.doc_to_delete)).on(uid)
        }
        "GET /patients/{id}/discharge" => call("GET", format!("{p}/discharge"), None).on(uid),
        "POST /patients/{id}/discharge" => {
            call("POST", format!("{p}/discharge"), Some(discharge_body())).on(uid)
        }
        "GET /patients/{id}/discharge/versions" => {
            call("GET", format!("{p}/discharge/versions"), None).on(uid)
        }
        "GET /patients/{id}/discharge/versions/{versionId}" => call(
            "GET",
            format!("{p}/discharge/versions/{}", fx.version),
            None,
        )
        .on(uid),
        "PATCH /patients/{id}/discharge/versions/{versionId}" => call(
            "PATCH",
            format!("{p}/discharge/versions/{}", fx.version),
            Some(json!({"status": "published"})),
        )
        .on(uid),
        "DELETE /patients/{id}/discharge/versions/{versionId}" => call(
            "DELETE",
            format!("{p}/discharge/versions/{}", fx.version_to_delete),
            None,
        )
        .on(uid),
        "GET /checklists" => call("GET", "/checklists".into(), None),
        "GET /checklists/{from}/{to}" => call("GET", fx.rule.clone(), None),
        "PUT /checklists/{from}/{to}" => call(
            "PUT",
            rule_path(),
            Some(json!({"inRequired": ["consent"], "outRequired": ["handover"]})),
        ),
        "DELETE /checklists/{from}/{to}" => call("DELETE", fx.rule_to_delete.clone(), None),
        "GET /patients/{id}/documents" => call("GET", format!("{p}/documents"), None).on(uid),
        "POST /patients/{id}/documents/init" => {
            // A patient without a documents record yet: init creates it.
            let (own, _) = own_patient().await;
            call("POST", format!("/patients/{own}/documents/init"), None).on(&own)
        }
        "POST /patients/{id}/documents/attach" => call(
            "POST",
            format!("{p}/documents/attach"),
            Some(json!({"category": "lab_reports", "key": fx.doc_free})),
        )
        .on(uid),
        "POST /patients/{id}/documents/detach" => call(
            "POST",
            format!("{p}/documents/detach"),
            Some(json!({"category": "lab_reports", "key": fx.doc_attached})),
        )
        .on(uid),
        _ => return None,
    };
    Some(c)
}

// ------------------------------------------------------ the expected table

/// A role group, as this test names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Admin,
    Clinician,
    Readonly,
    Reviewer,
}

impl Role {
    fn group(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Readonly => "readonly",
            Role::Reviewer => "reviewer",
        }
    }
}

/// What a route asks of its caller, as the policy states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// `POST /patients`: a clinician (or admin) of the new patient's
    /// department.
    Register,
    /// `GET /patients?department=`: staff of that department; a reviewer
    /// (their list holds shared patients only).
    PatientList,
    /// `GET /tasks?department=`: staff of that department, no reviewer.
    DepartmentList,
    /// `GET /doctors?department=`: staff (reference data) of that department.
    DoctorList,
    /// Checklist rules and a doctor's profile: any staff role.
    Reference,
    /// Changes to rules and doctors: admin.
    Configure,
    /// A patient's record: staff of its department, a clinician or admin
    /// breaking glass.
    Read,
    /// As `Read`, and a reviewer for a shared patient.
    SharedRead,
    /// A change: clinician or admin of the department, or breaking glass.
    Write,
    /// A change of a note the fixture's admin wrote: only an admin (who
    /// may still need the department or break-glass).
    NoteAuthor,
    /// Registration corrections: admin, whatever the department.
    Correct,
    /// The audit ledger: admin anywhere, a clinician only breaking glass.
    Ledger,
}

/// Every route but `GET /health`, with what it needs.
const ROUTES: &[(&str, Need)] = &[
    ("POST /patients", Need::Register),
    ("GET /patients", Need::PatientList),
    ("GET /patients/by-mrn/{mrn}", Need::SharedRead),
    ("GET /patients/{id}", Need::SharedRead),
    ("PUT /patients/{id}", Need::Write),
    ("DELETE /patients/{id}", Need::Write),
    ("PATCH /patients/{id}/state", Need::Write),
    ("PATCH /patients/{id}/registration", Need::Write),
    ("PATCH /patients/{id}/mrn-history", Need::Correct),
    ("PATCH /patients/{id}/mrn-overwrite", Need::Correct),
    ("PATCH /patients/{id}/documents/gov-share", Need::Write),
    ("GET /patients/{id}/timeline", Need::Read),
    ("GET /patients/{id}/audit", Need::Ledger),
    ("GET /patients/{id}/meds", Need::Read),
    ("POST /patients/{id}/meds", Need::Write),
    ("PATCH /patients/{id}/meds/{medId}", Need::Write),
    ("DELETE /patients/{id}/meds/{medId}", Need::Write),
    ("POST /patients/{id}/meds/{medId}/files/attach", Need::Write),
    ("POST /patients/{id}/meds/{medId}/files/detach", Need::Write),
    ("POST /doctors", Need::Configure),
    ("GET /doctors", Need::DoctorList),
    ("GET /doctors/{doctorId}", Need::Reference),
    ("PATCH /doctors/{doctorId}", Need::Configure),
    ("DELETE /doctors/{doctorId}", Need::Configure),
    ("POST /patients/{id}/tasks", Need::Write),
    ("GET /patients/{id}/tasks", Need::Read),
    ("PATCH /patients/{id}/tasks/{taskId}", Need::Write),
    ("DELETE /patients/{id}/tasks/{taskId}", Need::Write),
    (
        "POST /patients/{id}/tasks/{taskId}/files/attach",
        Need::Write,
    ),
    (
        "POST /patients/{id}/tasks/{taskId}/files/detach",
        Need::Write,
    ),
    ("GET /tasks", Need::DepartmentList),
    ("GET /patients/{id}/notes", Need::Read),
    ("POST /patients/{id}/notes", Need::Write),
    ("PATCH /patients/{id}/notes/{noteId}", Need::NoteAuthor),
    ("DELETE /patients/{id}/notes/{noteId}", Need::NoteAuthor),
    ("GET /patients/{id}/notes/{noteId}/versions", Need::Read),
    (
        "POST /patients/{id}/notes/{noteId}/files/attach",
        Need::NoteAuthor,
    ),
    (
        "POST /patients/{id}/notes/{noteId}/files/detach",
        Need::NoteAuthor,
    ),
    ("POST /patients/{id}/files/presign-upload", Need::Write),
    ("GET /patients/{id}/files", Need::Read),
    (
        "POST /patients/{id}/files/presign-download",
        Need::SharedRead,
    ),
    ("POST /patients/{id}/files/delete", Need::Write),
    ("GET /patients/{id}/discharge", Need::SharedRead),
    ("POST /patients/{id}/discharge", Need::Write),
    ("GET /patients/{id}/discharge/versions", Need::SharedRead),
    (
        "GET /patients/{id}/discharge/versions/{versionId}",
        Need::SharedRead,
    ),
    (
        "PATCH /patients/{id}/discharge/versions/{versionId}",
        Need::Write,
    ),
    (
        "DELETE /patients/{id}/discharge/versions/{versionId}",
        Need::Write,
    ),
    ("GET /checklists", Need::Reference),
    ("GET /checklists/{from}/{to}", Need::Reference),
    ("PUT /checklists/{from}/{to}", Need::Configure),
    ("DELETE /checklists/{from}/{to}", Need::Configure),
    ("GET /patients/{id}/documents", Need::SharedRead),
    ("POST /patients/{id}/documents/init", Need::Write),
    ("POST /patients/{id}/documents/attach", Need::Write),
    ("POST /patients/{id}/documents/detach", Need::Write),
];

fn need_of(pattern: &str) -> Option<Need> {
    ROUTES.iter().find(|(p, _)| *p == pattern).map(|(_, n)| *n)
}

/// One caller of the matrix: its role groups (none, one, or the reviewer's
/// with a staff role), in the patient's department or in another, breaking
/// glass or not, the patient shared with the reviewer or not.
#[derive(Clone, Copy, Debug)]
struct Caller {
    roles: &'static [Role],
    in_dept: bool,
    glass: bool,
    shared: bool,
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            if self.roles.is_empty() {
                "no-role".to_string()
            } else {
                self.roles
                    .iter()
                    .map(|r| r.group())
                    .collect::<Vec<_>>()
                    .join("+")
            },
            if self.in_dept {
                "in-dept"
            } else {
                "other-dept"
            },
            if self.glass { "glass" } else { "no-glass" },
            if self.shared { "shared" } else { "unshared" },
        )
    }
}

/// Whether `c` may call a route that needs `need`: what any one of its
/// roles may (a second role never takes anything away).
fn allowed(need: Need, c: &Caller) -> bool {
    if c.roles.is_empty() {
        return allowed_as(need, None, c);
    }
    c.roles.iter().any(|r| allowed_as(need, Some(*r), c))
}

/// Whether a caller with the one role `role` (and `c`'s department,
/// break-glass and share) may call a route that needs `need`: the policy,
/// written out.
fn allowed_as(need: Need, role: Option<Role>, c: &Caller) -> bool {
    use Role::*;
    let staff = matches!(role, Some(Admin | Clinician | Readonly));
    let writer = matches!(role, Some(Admin | Clinician));
    let reads = (writer && (c.in_dept || c.glass)) || (role == Some(Readonly) && c.in_dept);
    match need {
        Need::Register => writer && c.in_dept,
        Need::PatientList => role == Some(Reviewer) || (staff && c.in_dept),
        Need::DepartmentList | Need::DoctorList => staff && c.in_dept,
        Need::Reference => staff,
        Need::Configure | Need::Correct => role == Some(Admin),
        Need::Read => reads,
        Need::SharedRead => reads || (role == Some(Reviewer) && c.shared),
        Need::Write => writer && (c.in_dept || c.glass),
        Need::NoteAuthor => role == Some(Admin) && (c.in_dept || c.glass),
        Need::Ledger => role == Some(Admin) || (role == Some(Clinician) && c.glass),
    }
}

/// Every caller of the matrix: each role alone, and the reviewer's with
/// `readonly` or `clinician`, × in the department or not × breaking glass
/// or not × the patient shared or not; and a token with the department's
/// group but no role (with and without break-glass).
fn callers() -> Vec<Caller> {
    use Role::*;
    const ROLE_SETS: [&[Role]; 6] = [
        &[Admin],
        &[Clinician],
        &[Readonly],
        &[Reviewer],
        &[Reviewer, Readonly],
        &[Reviewer, Clinician],
    ];
    let mut all = Vec::new();
    for roles in ROLE_SETS {
        for in_dept in [true, false] {
            for glass in [false, true] {
                for shared in [false, true] {
                    all.push(Caller {
                        roles,
                        in_dept,
                        glass,
                        shared,
                    });
                }
            }
        }
    }
    for glass in [false, true] {
        all.push(Caller {
            roles: &[],
            in_dept: true,
            glass,
            shared: false,
        });
    }
    all
}

/// What went wrong with one answer, if anything.
fn verdict(expected: bool, need: Need, method: &str, r: &Reply) -> Option<String> {
    let body: String = r.body.to_string().chars().take(300).collect();
    if expected {
        // Every request is valid and its records exist: allowed means 2xx.
        return (!(200..300).contains(&r.status))
            .then(|| format!("expected allowed, got {}: {body}", r.status));
    }
    if r.status != 403 {
        return Some(format!("expected 403, got {}: {body}", r.status));
    }
    if !r.body.is_object() || r.body["error"].as_str().is_none_or(str::is_empty) {
        return Some(format!("403 without an error message: {body}"));
    }
    // Refused before anything is written. A refused read, a download link
    // among them, may leave the ledger entry of its attempt (one
    // transaction, sent alongside the read) and the `access.refused` entry
    // that follows it (one put), and nothing else.
    let read = method == "GET" || matches!(need, Need::Read | Need::SharedRead);
    let (entry, refusal) = (
        r.calls.get("DynamoDB.TransactWriteItems"),
        r.calls.get("DynamoDB.PutItem"),
    );
    let ledger_only = entry <= 1 && refusal <= entry && r.writes() == entry + refusal;
    if (!read && r.writes() > 0) || (read && !ledger_only) {
        return Some(format!("a refused {method} wrote: {}", r.calls));
    }
    None
}

/// Runs every route for one caller against fresh records; the number of
/// cases and the failures.
async fn run_caller(
    app: &App,
    signer: &Signer,
    (ward, elsewhere): (&str, &str),
    caller: Caller,
) -> (usize, Vec<String>) {
    // The records are made by an admin of the ward: never the caller.
    let admin = Client::signed(
        app,
        signer,
        "fixture-admin",
        &["admin".into(), dept_group(ward)],
    );
    let fx = Fixture::build(&admin, ward, caller.shared).await;
    // A department group matches the patient's department in any case.
    let mut groups = vec![if caller.in_dept {
        dept_group(&fx.department.to_uppercase())
    } else {
        dept_group(elsewhere)
    }];
    groups.extend(caller.roles.iter().map(|r| r.group().to_string()));
    let mut client = Client::signed(app, signer, "caller", &groups);
    if caller.glass {
        client = client.breaking_glass(GLASS_REASON);
    }
    let (mut cases, mut failures) = (0, Vec::new());
    let mut rules = Vec::new();
    for route in hms::router::routes().filter(|r| r.pattern != "GET /health") {
        let pattern = route.pattern;
        let (Some(need), Some(req)) = (need_of(pattern), request_for(pattern, &fx, &admin).await)
        else {
            failures.push(format!("{pattern}: no case in this test"));
            continue;
        };
        if req.method == "PUT" && pattern.starts_with("PUT /checklists") {
            rules.push(req.path.clone());
        }
        let r = client.call(req.method, &req.path, req.body).await;
        cases += 1;
        if let Some(wrong) = verdict(allowed(need, &caller), need, req.method, &r) {
            failures.push(format!("[{caller}] {pattern} ({need:?}): {wrong}"));
        }
    }
    fx.remove_rules(&admin, &rules).await;
    (cases, failures)
}

#[tokio::test]
async fn every_route_answers_per_the_policy_for_each_role_and_department() {
    let signer = Signer::ec(&unique("access"));
    let app = secured_app(&signer);
    let (ward, elsewhere) = (unique("Ward"), unique("Elsewhere"));
    // The table and the router list the same routes.
    let routed: BTreeSet<&str> = hms::router::routes()
        .map(|r| r.pattern)
        .filter(|p| *p != "GET /health")
        .collect();
    let tabled: BTreeSet<&str> = ROUTES.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        routed.difference(&tabled).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "routes without a case in ROUTES"
    );
    assert_eq!(
        tabled.difference(&routed).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "ROUTES names routes the router does not have"
    );

    let callers = callers();
    let results: Vec<(usize, Vec<String>)> = stream::iter(callers.iter().copied())
        .map(|caller| run_caller(&app, &signer, (&ward, &elsewhere), caller))
        .buffer_unordered(4)
        .collect()
        .await;
    let cases: usize = results.iter().map(|(n, _)| n).sum();
    let failures: Vec<&String> = results.iter().flat_map(|(_, f)| f).collect();
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(cases, callers.len() * routed.len());
    println!(
        "access matrix: {cases} cases ({} callers x {} routes)",
        callers.len(),
        routed.len()
    );
}

// --------------------------------------------------------- focused tests

/// An admin of `department`, for fixtures and ledger reads.
fn admin_of<'a>(app: &'a App, signer: &Signer, department: &str) -> Client<'a> {
    Client::signed(
        app,
        signer,
        "admin",
        &["admin".into(), dept_group(department)],
    )
}

/// The ids of every patient `client` lists at `path` (following
/// `x-next-cursor`).
async fn listed_ids(client: &Client<'_>, path: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let r = client.call("GET", &page, None).await;
        assert_eq!(r.status, 200, "{page}: {:?}", r.body);
        ids.extend(
            r.body
                .as_array()
                .expect("a JSON array")
                .iter()
                .map(|p| p["patientId"].as_str().expect("patientId").to_string()),
        );
        match r.headers.get("x-next-cursor").and_then(|v| v.to_str().ok()) {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
}

/// The patient's ledger, newest first, every page of up to 200 (each page
/// read leaves an `audit.read` entry the next read shows); the entries and
/// how many pages it took.
async fn ledger(client: &Client<'_>, uid: &str) -> (Vec<Value>, usize) {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/patients/{uid}/audit?limit=200&cursor={c}"),
            None => format!("/patients/{uid}/audit?limit=200"),
        };
        let body = client.expect(200, "GET", &path, None).await;
        pages += 1;
        entries.extend(body["items"].as_array().expect("items").iter().cloned());
        match body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (entries, pages),
        }
    }
}

#[tokio::test]
async fn a_reviewer_sees_only_shared_patients() {
    let signer = Signer::ec(&unique("access"));
    let app = secured_app(&signer);
    let dept = unique("Ward");
    let admin = admin_of(&app, &signer, &dept);
    let (shared, _) = admin.patient(&dept, true).await;
    let (private, _) = admin.patient(&dept, false).await;
    let reviewer = Client::signed(&app, &signer, "reviewer", &["reviewer".into()]);

    // The department's list holds the shared patient only
    let ids = listed_ids(&reviewer, &format!("/patients?department={dept}")).await;
    assert_eq!(ids, vec![shared.clone()]);
    // And so does the hospital-wide list, among other tests' shared patients
    let all = listed_ids(&reviewer, "/patients?limit=1000").await;
    assert!(all.contains(&shared), "the shared patient is listed");
    assert!(!all.contains(&private), "the unshared patient is not");

    // The unshared record is closed, the shared one open
    let r = reviewer
        .call("GET", &format!("/patients/{private}"), None)
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()));
    let body = reviewer
        .expect(200, "GET", &format!("/patients/{shared}"), None)
        .await;
    assert_eq!(body["patientId"], shared.as_str());
    // But not its notes: a reviewer reads only what is shared
    let r = reviewer
        .call("GET", &format!("/patients/{shared}/notes"), None)
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
}

#[tokio::test]
async fn break_glass_is_allowed_and_recorded_with_its_reason() {
    let signer = Signer::ec(&unique("access"));
    let app = secured_app(&signer);
    let (dept, other) = (unique("Ward"), unique("Elsewhere"));
    let admin = admin_of(&app, &signer, &dept);
    let (uid, _) = admin.patient(&dept, false).await;
    let path = format!("/patients/{uid}");
    let clinician = Client::signed(
        &app,
        &signer,
        "clinician",
        &["clinician".into(), dept_group(&other)],
    );

    // Outside their department without a reason: refused
    let r = clinician.call("GET", &path, None).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()));
    // With one: open
    let glass = |reason: &str| clinician.clone().breaking_glass(reason);
    let body = glass(GLASS_REASON).expect(200, "GET", &path, None).await;
    assert_eq!(body["patientId"], uid.as_str());

    // The ledger holds the read, by the clinician, with the reason
    let (entries, _) = ledger(&admin, &uid).await;
    let broken: Vec<&Value> = entries
        .iter()
        .filter(|e| e["breakGlassReason"] == GLASS_REASON)
        .collect();
    assert_eq!(broken.len(), 1, "{entries:#?}");
    let entry = broken[0];
    assert_eq!(entry["action"], "patient.read");
    assert_eq!(entry["actor"], clinician.subject.as_str());
    assert_eq!(entry["roles"], json!(["clinician"]));
    assert_eq!(entry["departments"], json!([other.to_lowercase()]));
    assert!(entry["requestId"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(entry.get("sourceIp").is_some(), "{entry}");
    // And the refused attempt before it: its read entry, then the refusal
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "access.refused")
        .collect();
    assert_eq!(refused.len(), 1, "{entries:#?}");
    assert_eq!(refused[0]["target"], "patient.read");
    assert_eq!(refused[0]["actor"], clinician.subject.as_str());

    // A reason is 1 to 500 characters (after trimming)
    for bad in [String::new(), "   ".to_string(), "x".repeat(501)] {
        let r = glass(&bad).call("GET", &path, None).await;
        assert_eq!(r.status, 400, "reason of {} chars: {:?}", bad.len(), r.body);
        assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    glass(&"x".repeat(500))
        .expect(200, "GET", &path, None)
        .await;
}

#[tokio::test]
async fn lists_hold_only_the_callers_departments() {
    let signer = Signer::ec(&unique("access"));
    let app = secured_app(&signer);
    let (a, b) = (unique("WardA"), unique("WardB"));
    let (in_a, _) = admin_of(&app, &signer, &a).patient(&a, false).await;
    let admin_b = admin_of(&app, &signer, &b);
    let (in_b, _) = admin_b.patient(&b, false).await;
    admin_b.task(&in_b).await;
    let reader = Client::signed(
        &app,
        &signer,
        "readonly",
        &["readonly".into(), dept_group(&a)],
    );

    // The hospital-wide list, every page: A's patient, never B's
    let all = listed_ids(&reader, "/patients?limit=1000").await;
    assert!(all.contains(&in_a), "A's patient is listed");
    assert!(!all.contains(&in_b), "B's patient is not");
    // A's own department list; B's is refused, and so is B's dashboard
    let ids = listed_ids(&reader, &format!("/patients?department={a}")).await;
    assert_eq!(ids, vec![in_a.clone()]);
    for path in [
        format!("/patients?department={b}"),
        format!("/tasks?department={b}"),
    ] {
        let r = reader.call("GET", &path, None).await;
        assert_eq!(r.status, 403, "{path}: {:?}", r.body);
        assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    reader
        .expect(200, "GET", &format!("/tasks?department={a}"), None)
        .await;

    // Each patient listed has a `patients.list` entry by the reader
    let admin = Client::signed(&app, &signer, "auditor", &["admin".into()]);
    let (entries, _) = ledger(&admin, &in_a).await;
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "patients.list" && e["actor"] == reader.subject.as_str()),
        "{entries:#?}"
    );
    // And the patient never listed has none
    let (entries, _) = ledger(&admin, &in_b).await;
    assert!(
        entries
            .iter()
            .all(|e| e["actor"] != reader.subject.as_str()),
        "{entries:#?}"
    );
}

#[tokio::test]
async fn only_the_author_or_an_admin_changes_a_note() {
    let signer = Signer::ec(&unique("access"));
    let app = secured_app(&signer);
    let dept = unique("Ward");
    let admin = admin_of(&app, &signer, &dept);
    let (uid, _) = admin.patient(&dept, false).await;
    let staff = || vec!["clinician".to_string(), dept_group(&dept)];
    let (x, y) = (
        Client::signed(&app, &signer, "clinician-x", &staff()),
        Client::signed(&app, &signer, "clinician-y", &staff()),
    );

    // X writes a note; the author is X whatever the body says
    let body = x
        .expect(
            201,
            "POST",
            &format!("/patients/{uid}/notes"),
            Some(json!({"authorId": "dr-forged", "category": "doctorNote", "content": NOTE_TEXT})),
        )
        .await;
    assert_eq!(body["note"]["authorId"], x.subject.as_str());
    let note = body["note"]["noteId"].as_str().expect("noteId").to_string();
    let path = format!("/patients/{uid}/notes/{note}");
    let edit = Some(json!({"content": EDITED_NOTE_TEXT}));

    // Y, of the same department, may not change it; X may
    y.refused("PATCH", &path, edit.clone()).await;
    y.refused("DELETE", &path, None).await;
    // Nor attach or detach its files; X may
    let files = x.attachable(&uid, "notes", "note", note.clone()).await;
    for (action, key) in [("attach", &files.free), ("detach", &files.attached)] {
        let files_path = format!("{path}/files/{action}");
        y.refused("POST", &files_path, Some(json!({"key": key})))
            .await;
    }
    let body = x
        .expect(
            200,
            "POST",
            &format!("{path}/files/attach"),
            Some(json!({"key": files.free})),
        )
        .await;
    assert_eq!(body["note"]["files"].as_array().map(Vec::len), Some(2));
    let body = x.expect(200, "PATCH", &path, edit).await;
    assert_eq!(body["note"]["content"], EDITED_NOTE_TEXT);

    // The amendment history keeps the text the edit replaced
    let body = x
        .expect(200, "GET", &format!("{path}/versions"), None)
        .await;
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    let earlier = &items[0];
    assert_eq!(earlier["content"], NOTE_TEXT);
    assert_eq!(earlier["noteId"], note.as_str());
    assert_eq!(earlier["replacedBy"], x.subject.as_str());
    assert!(earlier["versionId"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(earlier["replacedAt"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));

    // An admin may delete anyone's note
    let body = admin.expect(200, "DELETE", &path, None).await;
    assert_eq!(body["message"], "deleted");
}

#[tokio::test]
async fn break_glass_does_not_cover_moving_a_patient_to_another_department() {
    let signer = Signer::ec(&unique("access"));
    let app = secured_app(&signer);
    let (home, other) = (unique("Ward"), unique("Ward"));
    let staff_of = |d: &str| vec!["clinician".to_string(), dept_group(d)];
    let x = Client::signed(&app, &signer, "clinician-x", &staff_of(&home));
    let y = Client::signed(&app, &signer, "clinician-y", &staff_of(&other));
    let (uid, _) = y.patient(&other, false).await;
    let path = format!("/patients/{uid}");
    let into_home = Some(json!({"department": home}));

    // X, breaking glass, opens and treats the patient but may not move it
    // into their own department (nor by a registration switch)
    let glass = x.clone().breaking_glass(GLASS_REASON);
    glass.expect(200, "GET", &path, None).await;
    let r = glass.refused("PUT", &path, into_home.clone()).await;
    assert!(r.body["error"]
        .as_str()
        .is_some_and(|e| e.contains("does not cover a transfer")));
    let switch = json!({"mrn": unique("MRN"), "scheme": "GENERAL", "department": home});
    glass
        .refused("PATCH", &format!("{path}/registration"), Some(switch))
        .await;
    // Other changes under break-glass still go through
    let body = glass
        .expect(
            200,
            "PUT",
            &path,
            Some(json!({"diagnosis": REVISED_DIAGNOSIS})),
        )
        .await;
    assert_eq!(body["patient"]["department"], other.as_str());
    // Still outside X's departments
    assert_eq!(x.call("GET", &path, None).await.status, 403);

    // Y, of the patient's department, hands the patient over to X's
    let body = y.expect(200, "PUT", &path, into_home).await;
    assert_eq!(body["patient"]["department"], home.as_str());
    x.expect(200, "GET", &path, None).await;
    assert_eq!(y.call("GET", &path, None).await.status, 403);

    // An admin breaking glass moves it back
    let admin = admin_of(&app, &signer, &unique("Ward")).breaking_glass(GLASS_REASON);
    let body = admin
        .expect(200, "PUT", &path, Some(json!({"department": other})))
        .await;
    assert_eq!(body["patient"]["department"], other.as_str());
}

/// What is wrong with the ledger entries `pattern` left, if anything:
/// `before` and `after` are the ledger read around the request (`pages`
/// page reads before it).
fn ledger_problems(pattern: &str, before: &[Value], pages: usize, after: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let ids: BTreeSet<&str> = before.iter().filter_map(|e| e["id"].as_str()).collect();
    let new: Vec<&Value> = after
        .iter()
        .filter(|e| !e["id"].as_str().is_some_and(|id| ids.contains(id)))
        .collect();
    let (reads, others): (Vec<&Value>, Vec<&Value>) =
        new.iter().partition(|e| e["action"] == "audit.read");
    // The ledger read before the request shows in the one after (one entry
    // per page read); a read of the ledger is itself one more.
    let own_read = usize::from(pattern == "GET /patients/{id}/audit");
    if reads.len() != pages + own_read {
        problems.push(format!(
            "{pattern}: {} new audit.read entries, expected {}",
            reads.len(),
            pages + own_read
        ));
    }
    if others.len() != 1 - own_read {
        let actions: Vec<&Value> = others.iter().map(|e| &e["action"]).collect();
        problems.push(format!(
            "{pattern}: {} new entries, expected {}: {actions:?}",
            others.len(),
            1 - own_read
        ));
    }
    for entry in &new {
        let by_anonymous = entry["actor"] == "anonymous";
        let request_id = entry["requestId"].as_str().is_some_and(|r| !r.is_empty());
        if !by_anonymous || !request_id {
            problems.push(format!(
                "{pattern}: entry without actor or request id: {entry}"
            ));
        }
    }
    // The ledger names fields and keys, never the values sent.
    for entry in after {
        let text = entry.to_string();
        for secret in SECRETS.iter().filter(|s| text.contains(**s)) {
            problems.push(format!("{pattern}: {secret:?} in {text}"));
        }
    }
    problems
}

#[tokio::test]
async fn every_patient_scoped_route_leaves_exactly_one_ledger_entry() {
    let app = App::new();
    let anyone = Client::anonymous(&app);
    let fx = Fixture::build(&anyone, &unique("Ward"), false).await;
    let (mut checked, mut problems) = (0, Vec::new());
    for route in hms::router::routes() {
        let pattern = route.pattern;
        if !(pattern.contains("/patients/{id}") || pattern.contains("/patients/by-mrn/")) {
            continue;
        }
        let Some(req) = request_for(pattern, &fx, &anyone).await else {
            problems.push(format!("{pattern}: no case in this test"));
            continue;
        };
        let uid = req
            .uid
            .clone()
            .expect("a patient-scoped call names its patient");
        let (before, pages) = ledger(&anyone, &uid).await;
        let r = anyone.call(req.method, &req.path, req.body).await;
        checked += 1;
        if !(200..300).contains(&r.status) {
            problems.push(format!("{pattern}: {} {}", r.status, r.body));
            continue;
        }
        let (after, _) = ledger(&anyone, &uid).await;
        problems.extend(ledger_problems(pattern, &before, pages, &after));
    }
    fx.remove_rules(&anyone, &[]).await;
    assert!(
        problems.is_empty(),
        "{} problems in {checked} routes:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(checked >= 40, "only {checked} patient-scoped routes");
}
