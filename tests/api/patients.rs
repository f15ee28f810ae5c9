//! Patient create and read, with resolution by UID or MRN.

use serde_json::json;

use crate::support::{unique, App};

#[tokio::test]
async fn create_accepts_camel_and_snake_case_and_returns_the_patient() {
    let app = App::new();
    let mrn = unique("MRN");
    let r = app
        .post(
            "/patients",
            json!({
                "name": "Asha Rao", "age": "61", "sex": "F",
                "emergencyContact": {"name": "Ravi", "phone": "123", "alt_phone": "456", "address": {"postal_code": "560001"}},
                "registration": {"mrn": mrn, "scheme": "CGHS", "department": "Surgery",
                    "assignedDoctor": "Dr A", "assigned_doctor_id": "doc-1", "comorbidities": ["DM", " "],
                    "isUrgent": true, "diagnosis": "Hernia"}
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["message"], "created");
    let uid = r.body["patientId"].as_str().unwrap();
    assert_eq!(r.body["patient_uid"], uid);
    assert_eq!(r.body["latestMrn"], mrn);
    let p = &r.body["patient"];
    assert_eq!(p["id"], uid);
    assert_eq!(p["age"], 61);
    assert_eq!(p["assignedDoctor"], "Dr A");
    assert_eq!(p["assignedDoctorId"], "doc-1");
    assert_eq!(p["comorbidities"], json!(["DM"]));
    assert_eq!(p["isUrgent"], true);
    assert_eq!(p["currentState"], "onboarding");
    assert_eq!(p["status"], "ACTIVE");
    assert_eq!(p["emergencyContact"]["altPhone"], "456");
    assert_eq!(p["emergencyContact"]["address"]["postalCode"], "560001");
    assert_eq!(p["mrnHistory"][0]["mrn"], mrn);
    assert_eq!(p["mrnHistory"][0]["scheme"], "CGHS");
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1);

    // Reads by UID, by MRN and through the by-mrn route agree
    for path in [
        format!("/patients/{uid}"),
        format!("/patients/{mrn}"),
        format!("/patients/by-mrn/{mrn}"),
    ] {
        let got = app.get(&path).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(&got.body, p, "{path}");
    }
}

#[tokio::test]
async fn create_requires_name_mrn_scheme_and_department() {
    let app = App::new();
    let cases = [
        json!({"registration": {"mrn": unique("M"), "scheme": "S", "department": "D"}}),
        json!({"name": "  ", "registration": {"mrn": unique("M"), "scheme": "S", "department": "D"}}),
        json!({"name": "N"}),
        json!({"name": "N", "registration": {"scheme": "S", "department": "D"}}),
        json!({"name": "N", "registration": {"mrn": unique("M"), "department": "D"}}),
        json!({"name": "N", "registration": {"mrn": unique("M"), "scheme": "S"}}),
        json!({"name": "N", "age": "old", "registration": {"mrn": unique("M"), "scheme": "S", "department": "D"}}),
        json!({"name": "N", "registration": "M1"}),
    ];
    for body in cases {
        let r = app.post("/patients", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(
            r.calls.service_total("DynamoDB"),
            0,
            "nothing written for {body}"
        );
    }
}

#[tokio::test]
async fn a_duplicate_mrn_is_a_conflict_and_creates_nothing() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let r = app
        .post("/patients", json!({"name": "Other", "registration": {"mrn": mrn, "scheme": "S", "department": "D"}}))
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.body["error"]
        .as_str()
        .unwrap()
        .contains("already registered"));
    // The MRN still resolves to the first patient
    let got = app.get(&format!("/patients/{mrn}")).await;
    assert_eq!(got.body["id"], uid.as_str());
}

#[tokio::test]
async fn unknown_patients_are_404_on_every_patient_route() {
    let app = App::new();
    let ghost = unique("ghost");
    for (method, path) in [
        ("GET", format!("/patients/{ghost}")),
        ("GET", format!("/patients/by-mrn/{ghost}")),
        ("GET", format!("/patients/{ghost}/documents")),
        ("POST", format!("/patients/{ghost}/documents/init")),
        ("GET", format!("/patients/{ghost}/files")),
    ] {
        let r = app.call(method, &path, None).await;
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(r.body, json!({"error": "Patient not found"}));
    }
}

#[tokio::test]
async fn resolution_costs_one_call_by_uid_and_two_by_mrn() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    // The ledger entry goes out alongside the read: by UID with the first
    // batch, by MRN with the second (once the pointer named the UID).
    let r = app.get(&format!("/patients/{uid}")).await;
    assert_eq!(
        r.calls.to_string(),
        "DynamoDB.BatchGetItem x1, DynamoDB.TransactWriteItems x1"
    );
    let r = app.get(&format!("/patients/{mrn}")).await;
    assert_eq!(
        r.calls.to_string(),
        "DynamoDB.BatchGetItem x2, DynamoDB.TransactWriteItems x1"
    );
}
