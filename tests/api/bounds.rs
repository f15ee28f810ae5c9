//! Bounded input: every free-text field has a stated maximum, and a value
//! above it is a 400 naming the field that writes nothing, so no item can
//! outgrow DynamoDB's 400 KB through the API (which would be a 500).

use serde_json::json;

use crate::support::{writes, App};

#[tokio::test]
async fn oversized_patient_fields_are_400_naming_the_field() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let path = format!("/patients/{uid}");
    for (body, field) in [
        (json!({"diagnosis": "d".repeat(900 * 1024)}), "diagnosis"),
        (json!({"diagnosis": "d".repeat(4_001)}), "diagnosis"),
        (json!({"name": "n".repeat(201)}), "name"),
        (json!({"urgentReason": "u".repeat(1_001)}), "urgentReason"),
        (json!({"comorbidities": vec!["c"; 101]}), "comorbidities"),
        (json!({"comorbidities": ["c".repeat(201)]}), "comorbidities"),
        (
            json!({"emergencyContact": {"name": "e".repeat(201)}}),
            "emergencyContact.name",
        ),
        (
            json!({"emergencyContact": {"address": {"city": "c".repeat(201)}}}),
            "emergencyContact.address.city",
        ),
        (
            json!({"currentState": "preop", "timelineNotes": "t".repeat(2_001)}),
            "timelineNotes",
        ),
    ] {
        let r = app.call("PUT", &path, Some(body)).await;
        assert_eq!(r.status, 400, "{field}: {:?}", r.body);
        let error = r.body["error"].as_str().unwrap_or_default();
        assert!(error.contains(field), "{field}: {error}");
        assert_eq!(writes(&r.calls), 0, "{field}: {}", r.calls);
    }
    // At the limits, the values are kept
    let r = app
        .call(
            "PUT",
            &path,
            Some(json!({"diagnosis": "d".repeat(4_000), "name": "n".repeat(200)})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["patient"]["diagnosis"].as_str().unwrap().len(),
        4_000
    );
}

#[tokio::test]
async fn an_oversized_caption_or_stamp_is_400_and_attaches_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let path = format!("/patients/{uid}/documents/attach");
    for (extra, field) in [
        (json!({"caption": "c".repeat(390 * 1024)}), "caption"),
        (json!({"caption": "c".repeat(501)}), "caption"),
        (json!({"stamp": {"label": "l".repeat(65)}}), "stamp.label"),
        (json!({"uploadedBy": "u".repeat(257)}), "uploadedBy"),
    ] {
        let mut body = json!({"category": "lab_reports", "key": key});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = app.post(&path, body).await;
        assert_eq!(r.status, 400, "{field}: {:?}", r.body);
        assert!(r.body["error"].as_str().unwrap().contains(field));
        assert_eq!(writes(&r.calls), 0, "{field}: {}", r.calls);
    }
    // And the patient's documents still take the next attach
    let r = app.attach_doc(&uid, "lab_reports", &key).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn the_server_stamps_the_time_of_a_stamp() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "lab_reports", "key": key, "uploadedBy": "dr-a",
                   "stamp": {"label": "verified", "stampedAt": "1999-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let stamp = &r.body["documents"]["labReports"][0]["stamp"];
    let at = stamp["stampedAt"].as_str().unwrap();
    assert!(at.starts_with("20") && !at.starts_with("1999"), "{stamp:?}");
    assert_eq!(stamp["stampedBy"], "dr-a");
}

#[tokio::test]
async fn checklist_rules_and_registrations_are_bounded() {
    let app = App::new();
    let r = app
        .call(
            "PUT",
            "/checklists/preop/intraop-bounds",
            Some(json!({"inRequired": (0..51).map(|i| format!("item {i}")).collect::<Vec<_>>()})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("inRequired"));
    let (uid, mrn) = app.create_patient().await;
    let history: Vec<_> = (0..101)
        .map(|i| json!({"mrn": format!("{mrn}-{i}"), "scheme": "ASP"}))
        .collect();
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/mrn-history"),
            Some(json!({"mrnHistory": history})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(writes(&r.calls), 0);
}

#[tokio::test]
async fn an_mrn_shaped_like_a_patient_id_is_refused() {
    // Given a patient: its UID may not become another patient's MRN
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let r = app
        .post(
            "/patients",
            json!({"name": "Shadow", "registration": {"mrn": uid, "scheme": "ASP", "department": "D"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(writes(&r.calls), 0);
    let ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{mrn}/registration"),
            Some(json!({"mrn": ulid, "scheme": "ASP"})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    // And by-MRN still names the patient itself
    let r = app.get(&format!("/patients/by-mrn/{mrn}")).await;
    assert_eq!(r.body["id"], uid.as_str());
}
