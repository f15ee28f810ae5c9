//! Contract rules that no other module pins down: the timeline by MRN,
//! unknown patients on every changing route, stage changes through PUT
//! against a checklist rule and under concurrency, the mrn-overwrite
//! conflict, status changes and the active lists, the files listing's page
//! sizes, a successful CloudFront invalidation, and documents under racing
//! attach, detach and ingest.

use aws_lambda_events::event::s3::S3Event;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::support::{unique, writes, App, Reply, BUCKET};

async fn change_state(app: &App, id: &str, to: &str) -> Reply {
    app.call(
        "PATCH",
        &format!("/patients/{id}/state"),
        Some(json!({"currentState": to})),
    )
    .await
}

async fn timeline(app: &App, id: &str) -> Vec<Value> {
    let r = app.get(&format!("/patients/{id}/timeline")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body.as_array().expect("an array").clone()
}

async fn patient(app: &App, id: &str) -> Value {
    let r = app.get(&format!("/patients/{id}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

/// The actions of the patient's audit ledger that record changes, newest
/// first (the reads around them are recorded too).
async fn ledger_actions(app: &App, uid: &str) -> Vec<String> {
    let mut actions = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/patients/{uid}/audit?limit=200&cursor={c}"),
            None => format!("/patients/{uid}/audit?limit=200"),
        };
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for e in r.body["items"].as_array().expect("items") {
            let action = e["action"].as_str().expect("action");
            if !crate::support::is_read_action(action) {
                actions.push(action.to_string());
            }
        }
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return actions,
        }
    }
}

// ---------------------------------------------------------------- timeline

#[tokio::test]
async fn the_timeline_by_mrn_is_the_timeline_by_uid() {
    // Given a patient with a few stage changes and a second registration
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    for to in ["ward", "preop"] {
        let r = change_state(&app, &uid, to).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["message"], "state-updated");
    }
    let by_uid = timeline(&app, &uid).await;
    // When it is read by its MRN
    let by_mrn = timeline(&app, &mrn).await;
    // Then it is the same rows, in the same order
    assert_eq!(by_uid.len(), 3);
    assert_eq!(by_mrn, by_uid);
    let desc = |id: &str| format!("/patients/{id}/timeline?desc=1&limit=2");
    let desc_uid = app.get(&desc(&uid)).await;
    let desc_mrn = app.get(&desc(&mrn)).await;
    assert_eq!(desc_mrn.status, 200, "{:?}", desc_mrn.body);
    assert_eq!(desc_mrn.body, desc_uid.body);
    assert_eq!(desc_mrn.body[0]["state"], "preop");

    // And after a registration switch, the old and the new MRN alike
    let new_mrn = unique("MRN");
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/registration"),
            Some(json!({"mrn": new_mrn, "scheme": "PMJAY"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let by_uid = timeline(&app, &uid).await;
    assert_eq!(by_uid.len(), 4);
    assert_eq!(timeline(&app, &mrn).await, by_uid);
    assert_eq!(timeline(&app, &new_mrn).await, by_uid);
}

// ---------------------------------------------------------- unknown patient

#[tokio::test]
async fn unknown_patients_are_404_on_every_changing_route_and_nothing_is_written() {
    let app = App::new();
    // An MRN-shaped and a UID-shaped id that name nobody
    for ghost in [unique("ghost"), uuid::Uuid::now_v7().to_string()] {
        let key = format!(
            "patients/{ghost}/optimized/docs/lab/1-{}-q80-1600w.jpg",
            uuid::Uuid::now_v7()
        );
        let new_mrn = unique("MRN");
        let history = json!({"mrnHistory": [{"mrn": unique("MRN"), "scheme": "GEN"}]});
        let task = uuid::Uuid::now_v7();
        let routes = [
            ("DELETE", format!("/patients/{ghost}/tasks/{task}"), None),
            (
                "PATCH",
                format!("/patients/{ghost}/state"),
                Some(json!({"currentState": "ward"})),
            ),
            (
                "PATCH",
                format!("/patients/{ghost}/registration"),
                Some(json!({"mrn": new_mrn, "scheme": "GEN"})),
            ),
            (
                "PATCH",
                format!("/patients/{ghost}/mrn-history"),
                Some(history.clone()),
            ),
            (
                "PATCH",
                format!("/patients/{ghost}/mrn-overwrite"),
                Some(history),
            ),
            ("DELETE", format!("/patients/{ghost}"), None),
            (
                "POST",
                format!("/patients/{ghost}/files/presign-download"),
                Some(json!({"key": key})),
            ),
            (
                "POST",
                format!("/patients/{ghost}/files/delete"),
                Some(json!({"key": key})),
            ),
            (
                "POST",
                format!("/patients/{ghost}/documents/attach"),
                Some(json!({"category": "lab_reports", "key": key})),
            ),
            (
                "POST",
                format!("/patients/{ghost}/documents/detach"),
                Some(json!({"category": "lab_reports", "key": key})),
            ),
        ];
        for (method, path, body) in routes {
            let r = app.call(method, &path, body).await;
            assert_eq!(r.status, 404, "{method} {path}: {:?}", r.body);
            assert_eq!(
                r.body,
                json!({"error": "Patient not found"}),
                "{method} {path}"
            );
            // A download link is a read: by UID its ledger entry is tried
            // alongside the read, as one transaction conditional on the
            // patient (nothing lands, see below)
            let tried = if path.ends_with("/presign-download") && hms::keys::looks_like_uid(&ghost)
            {
                1
            } else {
                0
            };
            assert_eq!(
                writes(&r.calls),
                tried,
                "{method} {path} wrote: {}",
                r.calls
            );
            assert_eq!(
                r.calls.get("DynamoDB.TransactWriteItems"),
                tried,
                "{method} {path}: {}",
                r.calls
            );
            assert_eq!(
                r.calls.service_total("S3"),
                0,
                "{method} {path}: {}",
                r.calls
            );
        }
        // Nothing appeared under the id: no patient, no MRN pointer, no ledger
        assert_eq!(app.get(&format!("/patients/{new_mrn}")).await.status, 404);
        let ledger = app.partition(&hms::keys::audit_pk(&ghost)).await;
        assert_eq!(ledger.len(), 0, "{ghost}");
        let record = app.partition(&hms::keys::patient_pk(&ghost)).await;
        assert_eq!(record.len(), 0, "{ghost}");
    }
}

// ------------------------------------------------------ stage change by PUT

#[tokio::test]
async fn put_with_current_state_obeys_the_checklist_rule() {
    // Given a patient in onboarding and a rule for onboarding -> {to}
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let to = unique("theatre");
    let rule = app
        .call(
            "PUT",
            &format!("/checklists/onboarding/{to}"),
            Some(json!({"inRequired": ["consent", "fasting"], "outRequired": ["handover"]})),
        )
        .await;
    assert_eq!(rule.status, 200, "{:?}", rule.body);
    let path = format!("/patients/{uid}");
    let before = patient(&app, &uid).await;
    let ledger_before = ledger_actions(&app, &uid).await;

    // When the frontend changes stage through PUT with items missing
    let r = app
        .call(
            "PUT",
            &path,
            Some(json!({"currentState": to, "diagnosis": "Cholelithiasis",
                        "checklistInDone": ["consent"]})),
        )
        .await;
    // Then it is a 409 listing them, and nothing is written (not even the
    // other fields of the body)
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(r.body["missingIn"], json!(["fasting"]));
    assert_eq!(r.body["missingOut"], json!(["handover"]));
    assert!(
        r.body["error"]
            .as_str()
            .expect("error")
            .contains("Checklist incomplete"),
        "{:?}",
        r.body
    );
    assert_eq!(writes(&r.calls), 0, "{}", r.calls);
    assert_eq!(patient(&app, &uid).await, before);
    assert_eq!(timeline(&app, &uid).await.len(), 1);
    assert_eq!(ledger_actions(&app, &uid).await, ledger_before);

    // When it sends every item (by MRN this time)
    let r = app
        .call(
            "PUT",
            &format!("/patients/{mrn}"),
            Some(json!({"currentState": to, "diagnosis": "Cholelithiasis",
                        "checklistInDone": ["consent", "fasting"],
                        "checklistOutDone": ["handover"], "actorId": "dr-9"})),
        )
        .await;
    // Then the stage changes with the fields, and a new timeline row opens
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "updated");
    assert_eq!(r.body["patient"]["currentState"], to.as_str());
    assert_eq!(r.body["patient"]["diagnosis"], "Cholelithiasis");
    assert_eq!(r.body["patient"]["updateCounter"], 1);
    let rows = timeline(&app, &uid).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["state"], "onboarding");
    assert!(rows[0]["dateOut"].is_string(), "{:?}", rows[0]);
    assert_eq!(rows[0]["requiredOut"], json!(["handover"]));
    assert_eq!(rows[0]["checklistOut"], json!(["handover"]));
    assert_eq!(rows[1]["state"], to.as_str());
    assert_eq!(rows[1]["dateOut"], Value::Null);
    assert_eq!(rows[1]["requiredIn"], json!(["consent", "fasting"]));
    assert_eq!(rows[1]["checklistIn"], json!(["consent", "fasting"]));
    assert_eq!(rows[1]["actorId"], "dr-9");
}

#[tokio::test]
async fn concurrent_state_changes_leave_exactly_one_open_row() {
    // Given a patient
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let states: Vec<String> = (0..8).map(|i| unique(&format!("stage{i}"))).collect();
    // When eight stage changes to distinct states race (PATCH and PUT mixed)
    let (patch, put) = (format!("/patients/{uid}/state"), format!("/patients/{uid}"));
    let answers = join_all(states.iter().enumerate().map(|(i, to)| {
        let (method, path) = if i % 2 == 0 {
            ("PATCH", &patch)
        } else {
            ("PUT", &put)
        };
        app.call(method, path, Some(json!({"currentState": to})))
    }))
    .await;
    // Then each is acknowledged or refused as a conflict
    let mut acknowledged = Vec::new();
    for (to, r) in states.iter().zip(&answers) {
        match r.status {
            200 => {
                assert_eq!(r.body["patient"]["currentState"], to.as_str());
                acknowledged.push(to.clone());
            }
            409 => assert!(r.body["error"].is_string(), "{:?}", r.body),
            other => panic!("{to}: {other} {:?}", r.body),
        }
    }
    assert!(!acknowledged.is_empty());
    // And the timeline holds the first row plus one row per acknowledged
    // change, exactly one of them open: the patient's current state
    let rows = timeline(&app, &uid).await;
    let mut row_states: Vec<String> = rows
        .iter()
        .map(|r| r["state"].as_str().expect("state").to_string())
        .collect();
    assert_eq!(rows.len(), 1 + acknowledged.len(), "{row_states:?}");
    let open: Vec<&Value> = rows.iter().filter(|r| r["dateOut"].is_null()).collect();
    assert_eq!(open.len(), 1, "{rows:?}");
    let p = patient(&app, &uid).await;
    assert_eq!(open[0]["state"], p["currentState"]);
    assert_eq!(row_states.remove(0), "onboarding");
    row_states.sort();
    acknowledged.sort();
    assert_eq!(row_states, acknowledged, "every 200's state is a row");
    assert_eq!(p["updateCounter"], acknowledged.len() as u64);
}

// ------------------------------------------------------------ mrn-overwrite

#[tokio::test]
async fn mrn_overwrite_to_another_patients_mrn_is_a_conflict_that_changes_nothing() {
    // Given two patients
    let app = App::new();
    let (a, mrn_a) = app.create_patient().await;
    let (b, mrn_b) = app.create_patient().await;
    let before_a = patient(&app, &a).await;
    let before_b = patient(&app, &b).await;
    let ledger_before = ledger_actions(&app, &a).await;
    // When A's history is overwritten with B's MRN as its latest entry
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{a}/mrn-overwrite"),
            Some(json!({"mrnHistory": [
                {"mrn": mrn_a, "scheme": "GENERAL", "date": "2024-01-01T00:00:00.000Z"},
                {"mrn": mrn_b, "scheme": "CGHS", "date": "2025-06-01T00:00:00.000Z"}]})),
        )
        .await;
    // Then it is a 409 naming the MRN
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"error": format!("MRN {mrn_b} is already registered to another patient")})
    );
    // And the only write was the one transaction, cancelled: nothing changed
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);
    assert_eq!(writes(&r.calls), 1, "{}", r.calls);
    assert_eq!(patient(&app, &a).await, before_a);
    assert_eq!(patient(&app, &b).await, before_b);
    assert_eq!(patient(&app, &mrn_b).await["id"], b.as_str());
    assert_eq!(patient(&app, &mrn_a).await["id"], a.as_str());
    assert_eq!(timeline(&app, &a).await.len(), 1);
    assert_eq!(ledger_actions(&app, &a).await, ledger_before);
}

// ------------------------------------------------------------------- status

/// Whether the sparse all-active index lists the patient.
async fn in_active_index(app: &App, uid: &str) -> bool {
    let out = app
        .ctx
        .ddb
        .query()
        .table_name(app.ctx.table())
        .index_name(hms::keys::GSI3)
        .key_condition_expression("GSI3PK = :pk AND GSI3SK = :sk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(hms::keys::ACTIVE_PATIENTS.into()),
        )
        .expression_attribute_values(
            ":sk",
            aws_sdk_dynamodb::types::AttributeValue::S(hms::keys::patient_pk(uid)),
        )
        .send()
        .await
        .expect("index query");
    out.count() == 1
}

async fn department_list(app: &App, dept: &str) -> Vec<String> {
    let r = app.get(&format!("/patients?department={dept}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
        .as_array()
        .expect("an array")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn a_status_change_by_put_moves_the_patient_off_and_back_on_the_active_lists() {
    // Given an active patient in a department of its own
    let app = App::new();
    let dept = unique("Dept");
    let mrn = unique("MRN");
    let r = app
        .post(
            "/patients",
            json!({"name": "P", "registration": {"mrn": mrn, "scheme": "GEN", "department": dept}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let uid = r.body["patientId"].as_str().expect("uid").to_string();
    assert_eq!(department_list(&app, &dept).await, vec![uid.clone()]);
    assert!(in_active_index(&app, &uid).await);

    // When PUT sets it INACTIVE
    let r = app
        .call(
            "PUT",
            &format!("/patients/{uid}"),
            Some(json!({"status": "INACTIVE"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["patient"]["status"], "INACTIVE");
    // Then it leaves the department's list and the all-active index, and
    // the stored index key says so
    assert!(department_list(&app, &dept).await.is_empty());
    assert!(!in_active_index(&app, &uid).await);
    let item = hms::store::get_raw(&app.ctx, &hms::keys::patient_pk(&uid), "META_LATEST")
        .await
        .unwrap()
        .expect("patient item");
    assert_eq!(
        item["GSI1PK"].as_s().unwrap(),
        &hms::keys::dept_status_gsi1(&dept, "INACTIVE")
    );
    assert!(!item.contains_key("GSI3PK"), "{item:?}");
    // The patient itself stays readable, by UID and MRN
    assert_eq!(patient(&app, &mrn).await["status"], "INACTIVE");

    // When it is set active again (any case)
    let r = app
        .call(
            "PUT",
            &format!("/patients/{uid}"),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["patient"]["status"], "ACTIVE");
    // Then it is back on both lists
    assert_eq!(department_list(&app, &dept).await, vec![uid.clone()]);
    assert!(in_active_index(&app, &uid).await);
    assert_eq!(patient(&app, &uid).await["updateCounter"], 2);
}

// -------------------------------------------------------------------- files

fn keys_of(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| e["key"].as_str().expect("key").to_string())
        .collect()
}

/// Stores `n` small objects in the patient's optimized lab folder with the
/// SDK; returns their keys, sorted.
async fn store_lab_objects(app: &App, uid: &str, n: usize) -> Vec<String> {
    let mut keys: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "patients/{uid}/optimized/docs/lab/{}-{}-q80-1600w.jpg",
                1_700_000_000_000u64 + i as u64,
                uuid::Uuid::now_v7()
            )
        })
        .collect();
    join_all(keys.iter().map(|key| {
        app.ctx
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .content_type("image/jpeg")
            .body(b"x".to_vec().into())
            .send()
    }))
    .await
    .into_iter()
    .for_each(|put| {
        put.expect("object stored");
    });
    keys.sort();
    keys
}

#[tokio::test]
async fn the_files_listing_pages_fifty_by_default_and_up_to_a_thousand() {
    // Given a patient with 51 objects
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let keys = store_lab_objects(&app, &uid, 51).await;
    // When the files are listed without a limit
    let first = app.get(&format!("/patients/{uid}/files")).await;
    // Then the page holds 50 items and a cursor to the 51st
    assert_eq!(first.status, 200, "{:?}", first.body);
    let listed = keys_of(&first.body["items"]);
    assert_eq!(listed, keys[..50].to_vec());
    let cursor = first.body["nextCursor"].as_str().expect("a next cursor");
    let rest = app
        .get(&format!("/patients/{uid}/files?cursor={cursor}"))
        .await;
    assert_eq!(rest.status, 200, "{:?}", rest.body);
    assert_eq!(keys_of(&rest.body["items"]), keys[50..].to_vec());
    assert_eq!(rest.body["nextCursor"], Value::Null);
    // And a limit of 1000 (the maximum) lists all 51 on one page
    let all = app.get(&format!("/patients/{uid}/files?limit=1000")).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(keys_of(&all.body["items"]), keys);
    assert_eq!(all.body["nextCursor"], Value::Null);
}

#[tokio::test]
async fn a_files_limit_over_a_thousand_is_the_maximum_and_a_bad_one_is_400() {
    // Given a patient with a few files
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    app.upload_doc(&uid, "lab").await;
    // When its files are listed with a limit over the maximum of 1000, it
    // is served as the maximum (clients asking for "everything" keep
    // working); a limit that is no positive number is a 400 touching nothing
    let r = app.get(&format!("/patients/{uid}/files?limit=1001")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    for bad in ["0", "-1", "abc"] {
        let r = app.get(&format!("/patients/{uid}/files?limit={bad}")).await;
        assert_eq!(r.status, 400, "limit={bad}: {:?}", r.body);
        assert!(r.body["error"].is_string(), "{:?}", r.body);
        assert_eq!(r.calls.service_total("S3"), 0, "{}", r.calls);
        assert_eq!(writes(&r.calls), 0, "{}", r.calls);
    }
}

/// A distribution on the emulator's CloudFront; returns its id.
async fn create_distribution(app: &App) -> String {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, ViewerProtocolPolicy,
    };
    let origin_id = "hms-files";
    let config = DistributionConfig::builder()
        .caller_reference(unique("hms-test"))
        .comment("HMS test distribution")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id(origin_id)
                        .domain_name(format!("{BUCKET}.s3.amazonaws.com"))
                        .build()
                        .expect("origin"),
                )
                .build()
                .expect("origins"),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id(origin_id)
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .expect("cache behavior"),
        )
        .build()
        .expect("distribution config");
    let out = app
        .ctx
        .cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("distribution created");
    out.distribution().expect("a distribution").id().to_string()
}

#[tokio::test]
async fn a_delete_invalidates_the_deleted_paths_on_cloudfront() {
    // Given a real distribution, configured as CF_DISTRIBUTION_ID
    let dist = create_distribution(&App::new()).await;
    let app = App::with_env(&[("CF_DISTRIBUTION_ID", &dist)]);
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    // When the file is deleted
    let r = app
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"key": key, "includeSiblings": false}),
        )
        .await;
    // Then the answer carries the invalidation's id and no warning
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["deleted"], 1);
    let id = r.body["invalidationId"]
        .as_str()
        .expect("an invalidation id");
    assert!(!id.is_empty());
    assert!(r.body.get("warning").is_none(), "{:?}", r.body);
    assert_eq!(r.calls.get("CloudFront.CreateInvalidation"), 1);
    // And the invalidation names exactly the deleted path
    let got = app
        .ctx
        .cloudfront
        .get_invalidation()
        .distribution_id(&dist)
        .id(id)
        .send()
        .await
        .expect("invalidation read");
    let paths = got
        .invalidation()
        .and_then(|i| i.invalidation_batch())
        .and_then(|b| b.paths())
        .expect("paths");
    assert_eq!(paths.items(), [format!("/{key}")]);
    let listed = app.get(&format!("/patients/{uid}/files")).await;
    assert_eq!(listed.body["items"], json!([]));
}

// ---------------------------------------------------------------- documents

async fn documents(app: &App, uid: &str) -> Value {
    let r = app.get(&format!("/patients/{uid}/documents")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

#[tokio::test]
async fn two_concurrent_detaches_of_one_key_remove_it_once() {
    // Given an attached document
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "radiology").await;
    app.attach_doc(&uid, "radiology", &key).await;
    let path = format!("/patients/{uid}/documents/detach");
    let body = json!({"category": "radiology", "key": key});
    // When two detaches of it race
    let answers = join_all((0..2).map(|_| app.post(&path, body.clone()))).await;
    // Then one succeeds, the other finds it gone
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(statuses, vec![200, 404], "{answers:?}");
    let ok = answers.iter().find(|r| r.status == 200).unwrap();
    assert_eq!(ok.body["message"], "detached");
    assert_eq!(ok.body["documents"]["radiology"], json!([]));
    let missing = answers.iter().find(|r| r.status == 404).unwrap();
    assert_eq!(missing.body, json!({"error": "Document not attached"}));
    // And the entry is gone, detached once in the ledger
    assert_eq!(documents(&app, &uid).await["radiology"], json!([]));
    assert_eq!(
        count(&ledger_actions(&app, &uid).await, "documents.detach"),
        1
    );
}

#[tokio::test]
async fn attach_racing_detach_ends_as_the_acknowledged_order_says() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let (mut attached_first, mut detached_first) = (0, 0);
    let attach_path = format!("/patients/{uid}/documents/attach");
    let detach_path = format!("/patients/{uid}/documents/detach");
    // The detach is quicker (no HeadObject); later starts let the attach
    // come first too
    let starts = [0, 0, 20, 60];
    for delay in starts {
        // Given an uploaded, not yet attached document
        let key = app.upload_doc(&uid, "otnotes").await;
        let body = json!({"category": "ot_notes", "key": key});
        // When an attach and a detach of it race
        let (attach, detach) = tokio::join!(app.post(&attach_path, body.clone()), async {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            app.post(&detach_path, body.clone()).await
        });
        // Then the attach always lands, listing the key
        assert_eq!(attach.status, 200, "{:?}", attach.body);
        assert!(keys_of(&attach.body["documents"]["otNotes"]).contains(&key));
        let stored = keys_of(&documents(&app, &uid).await["otNotes"]);
        match detach.status {
            // The detach came second: it removed what the attach added
            200 => {
                attached_first += 1;
                assert!(!keys_of(&detach.body["documents"]["otNotes"]).contains(&key));
                assert!(!stored.contains(&key), "{stored:?}");
            }
            // The detach came first and found nothing: the attach stands
            404 => {
                detached_first += 1;
                assert_eq!(detach.body, json!({"error": "Document not attached"}));
                assert_eq!(stored.iter().filter(|k| **k == key).count(), 1);
            }
            other => panic!("detach answered {other}: {:?}", detach.body),
        }
    }
    // And the ledger holds one entry per acknowledged change
    let actions = ledger_actions(&app, &uid).await;
    assert_eq!(count(&actions, "documents.attach"), starts.len());
    assert_eq!(count(&actions, "documents.detach"), attached_first);
    assert_eq!(attached_first + detached_first, starts.len());
}

/// The S3 fixture, for `key` in the test bucket.
fn object_created(key: &str) -> S3Event {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/s3-object-created.json");
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    event["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    event["Records"][0]["s3"]["object"]["key"] = json!(key);
    serde_json::from_value(event).expect("S3 event")
}

#[tokio::test]
async fn attach_racing_the_ingest_leaves_exactly_one_entry() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut keys = Vec::new();
    let attach_path = format!("/patients/{uid}/documents/attach");
    for _ in 0..3 {
        // Given an uploaded document, attached by the client while its
        // ObjectCreated event is ingested
        let key = app.upload_doc(&uid, "lab").await;
        let event = object_created(&key);
        let (attach, report) = tokio::join!(
            app.post(
                &attach_path,
                json!({"category": "lab_reports", "key": key, "caption": "CBC",
                       "uploadedBy": "dr-x"}),
            ),
            hms::s3_events::ingest(&app.ctx, &event),
        );
        // Then both succeed
        assert_eq!(attach.status, 200, "{:?}", attach.body);
        assert_eq!(report.attached + report.unchanged, 1, "{report:?}");
        assert_eq!((report.ignored, report.failed), (0, 0), "{report:?}");
        let in_answer = keys_of(&attach.body["documents"]["labReports"]);
        assert_eq!(in_answer.iter().filter(|k| **k == key).count(), 1);
        // And the record holds the key once, with what the client sent
        // whichever came first
        let list = documents(&app, &uid).await["labReports"].clone();
        let entries: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["key"] == key.as_str())
            .collect();
        assert_eq!(entries.len(), 1, "{list}");
        assert_eq!(entries[0]["caption"], "CBC");
        assert_eq!(entries[0]["uploadedBy"], "dr-x");
        keys.push(key);
    }
    let mut stored = keys_of(&documents(&app, &uid).await["labReports"]);
    stored.sort();
    keys.sort();
    assert_eq!(stored, keys);
}
