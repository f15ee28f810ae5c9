//! Tasks: create/list/patch/cancel per patient (UID or MRN), the department
//! dashboard and its index keys (moved in the same write as the fields),
//! and files attached to a task.

use serde_json::{json, Value};

use crate::support::{unique, writes, App};

fn task_body(title: &str, due: &str, assignee: &str) -> Value {
    json!({"title": title, "type": "lab", "due": due, "assigneeId": assignee})
}

async fn create_task(app: &App, patient: &str, body: Value) -> Value {
    let r = app.post(&format!("/patients/{patient}/tasks"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["task"].clone()
}

fn id_of(task: &Value) -> String {
    task["taskId"].as_str().expect("taskId").to_string()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("array").iter().map(id_of).collect()
}

async fn dashboard(app: &App, query: &str) -> Vec<String> {
    let r = app.get(&format!("/tasks?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {:?}", r.body);
    ids(&r.body)
}

async fn patch(app: &App, path: &str, body: Value) -> crate::support::Reply {
    app.call("PATCH", path, Some(body)).await
}

#[tokio::test]
async fn create_fills_defaults_and_takes_the_patients_department() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let patient = app.get(&format!("/patients/{uid}")).await.body;

    let r = app
        .post(
            &format!("/patients/{uid}/tasks"),
            json!({"title": " Draw CBC ", "type": "lab", "due": "2025-09-01T10:00:00+02:00",
                   "assigneeId": "dr-a"}),
        )
        .await;

    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["message"], "created");
    let task = &r.body["task"];
    assert_eq!(task["patientId"], uid.as_str());
    assert_eq!(task["title"], "Draw CBC");
    assert_eq!(task["type"], "lab");
    assert_eq!(task["due"], "2025-09-01T08:00:00.000Z");
    assert_eq!(task["assigneeId"], "dr-a");
    assert_eq!(task["status"], "open");
    assert_eq!(task["priority"], "medium");
    assert_eq!(task["recurring"], false);
    assert_eq!(task["recurrence"], Value::Null);
    assert_eq!(task["details"], Value::Null);
    assert_eq!(task["files"], json!([]));
    assert_eq!(task["department"], patient["department"]);
    assert!(task["department"].is_string());
    assert_eq!(task["createdAt"], task["updatedAt"]);
    let id = id_of(task);
    assert_eq!(id.len(), 36, "a UUID: {id}");
    // The task and its ledger entry, in one transaction
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1);
    assert_eq!(r.calls.get("DynamoDB.PutItem"), 0);

    // The stored item carries the dashboard keys of the table layout
    let item = hms::store::get_raw(&app.ctx, &format!("PATIENT#{uid}"), &format!("TASK#{id}"))
        .await
        .unwrap()
        .expect("stored");
    let dept = patient["department"].as_str().unwrap();
    assert_eq!(
        item["GSI2PK"].as_s().unwrap(),
        &format!("TASK#OPEN#DEPT#{dept}")
    );
    assert_eq!(
        item["GSI2SK"].as_s().unwrap(),
        &format!("ASSIGNEE#dr-a#RECURRING#NO#TASK#{id}")
    );
    assert_eq!(item["task_id"].as_s().unwrap(), &id);
    assert_eq!(item["patient_uid"].as_s().unwrap(), &uid);
    assert_eq!(item["assignee_id"].as_s().unwrap(), "dr-a");
}

#[tokio::test]
async fn create_by_mrn_accepts_snake_case_and_every_field() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let dept = unique("Ward");
    let r = app
        .post(
            &format!("/patients/{mrn}/tasks"),
            json!({"title": "Insulin", "type": "medication", "due": "2025-09-01T08:00:00Z",
                   "assignee_id": "nurse-1", "priority": "urgent", "status": "in-progress",
                   "recurring": true, "recurrence": "daily 08:00", "details": "before breakfast",
                   "department": dept}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let task = &r.body["task"];
    assert_eq!(task["patientId"], uid.as_str());
    assert_eq!(task["assigneeId"], "nurse-1");
    assert_eq!(task["priority"], "urgent");
    assert_eq!(task["status"], "in-progress");
    assert_eq!(task["recurring"], true);
    assert_eq!(task["recurrence"], "daily 08:00");
    assert_eq!(task["details"], "before breakfast");
    assert_eq!(task["department"], dept.as_str());

    let list = app.get(&format!("/patients/{uid}/tasks")).await;
    assert_eq!(list.status, 200);
    assert_eq!(ids(&list.body), vec![id_of(task)]);
    assert_eq!(list.body[0], *task);
    assert_eq!(
        dashboard(&app, &format!("department={dept}&status=in-progress")).await,
        vec![id_of(task)]
    );
}

#[tokio::test]
async fn create_rejects_missing_or_invalid_fields_and_writes_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let path = format!("/patients/{uid}/tasks");
    let full = task_body("Draw CBC", "2025-09-01T08:00:00Z", "dr-a");
    let without = |field: &str| {
        let mut b = full.clone();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let with = |field: &str, value: Value| {
        let mut b = full.clone();
        b[field] = value;
        b
    };
    let cases = [
        (without("title"), "title is required"),
        (without("type"), "type is required"),
        (without("due"), "due is required"),
        (without("assigneeId"), "assigneeId is required"),
        (with("title", json!("   ")), "title"),
        (with("type", json!("xray")), "type must be one of"),
        (with("status", json!("closed")), "status must be one of"),
        (with("priority", json!("asap")), "priority must be one of"),
        (with("due", json!("next tuesday")), "due must be"),
        (with("assigneeId", json!("a#b")), "assigneeId"),
        (with("recurring", json!("yes")), "Invalid request body"),
        (with("department", json!("")), "department"),
        (
            with("details", json!(["a"])),
            "details must be a string or an object",
        ),
    ];
    for (body, message) in cases {
        let r = app.post(&path, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(
            r.body["error"].as_str().unwrap().starts_with(message),
            "{body}: {:?}",
            r.body
        );
        assert_eq!(writes(&r.calls), 0, "nothing written: {body}: {}", r.calls);
    }
    for raw in ["", "{", "[]", "\"task\""] {
        let r = app.raw("POST", &path, raw).await;
        assert_eq!(r.status, 400, "{raw:?}");
        assert_eq!(r.calls.total(), 0);
    }
    let r = app.post("/patients/no-such-patient/tasks", full).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "Patient not found");
    assert_eq!(writes(&r.calls), 0, "{}", r.calls);

    let list = app.get(&path).await;
    assert_eq!(list.body, json!([]));
}

#[tokio::test]
async fn list_sorts_by_due_filters_by_status_and_limits() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let late = create_task(
        &app,
        &uid,
        task_body("late", "2025-09-03T08:00:00Z", "dr-a"),
    )
    .await;
    let early = create_task(
        &app,
        &uid,
        task_body("early", "2025-09-01T08:00:00Z", "dr-a"),
    )
    .await;
    // Same instant as `early` in another offset: sorts by the UTC instant
    let middle = create_task(
        &app,
        &uid,
        task_body("middle", "2025-09-02T09:00:00+01:00", "dr-b"),
    )
    .await;
    let path = format!("/patients/{mrn}/tasks");

    let r = app.get(&path).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        ids(&r.body),
        vec![id_of(&early), id_of(&middle), id_of(&late)]
    );
    assert_eq!(r.calls.get("DynamoDB.Query"), 1);

    let r = patch(
        &app,
        &format!("{path}/{}", id_of(&middle)),
        json!({"status": "done"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        ids(&app.get(&format!("{path}?status=done")).await.body),
        vec![id_of(&middle)]
    );
    assert_eq!(
        ids(&app.get(&format!("{path}?status=open")).await.body),
        vec![id_of(&early), id_of(&late)]
    );
    assert_eq!(
        ids(&app.get(&format!("{path}?limit=1")).await.body),
        vec![id_of(&early)]
    );
    assert_eq!(app.get(&format!("{path}?status=closed")).await.status, 400);
    assert_eq!(app.get(&format!("{path}?limit=many")).await.status, 400);
    assert_eq!(app.get("/patients/no-such-patient/tasks").await.status, 404);
}

#[tokio::test]
async fn patch_moves_the_task_between_dashboards_in_one_write() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let (ward_a, ward_b) = (unique("WardA"), unique("WardB"));
    let mut body = task_body("Wound check", "2025-09-01T08:00:00Z", "dr-a");
    body["department"] = json!(ward_a);
    let task = create_task(&app, &uid, body).await;
    let id = id_of(&task);
    let path = format!("/patients/{mrn}/tasks/{id}");
    let only = vec![id.clone()];
    let none: Vec<String> = vec![];
    assert_eq!(dashboard(&app, &format!("department={ward_a}")).await, only);
    assert_eq!(
        dashboard(
            &app,
            &format!("department={ward_a}&status=open&assigneeId=dr-a")
        )
        .await,
        only
    );

    // Status: open → in-progress
    let r = patch(&app, &path, json!({"status": "in-progress"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "updated");
    assert_eq!(r.body["task"]["status"], "in-progress");
    // One guarded update with its ledger entry: one transaction
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.UpdateItem"), 0);
    assert_eq!(r.calls.get("DynamoDB.PutItem"), 0);
    assert_eq!(dashboard(&app, &format!("department={ward_a}")).await, none);
    assert_eq!(
        dashboard(&app, &format!("department={ward_a}&status=in-progress")).await,
        only
    );

    // Assignee: dr-a → dr-b (snake_case body)
    let r = patch(&app, &path, json!({"assignee_id": "dr-b"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1);
    assert_eq!(r.calls.get("DynamoDB.PutItem"), 0);
    let q = format!("department={ward_a}&status=in-progress&assigneeId");
    assert_eq!(dashboard(&app, &format!("{q}=dr-a")).await, none);
    assert_eq!(dashboard(&app, &format!("{q}=dr-b")).await, only);

    // Recurring changes the sort key; the assignee prefix still finds it
    let r = patch(
        &app,
        &path,
        json!({"recurring": true, "recurrence": "weekly"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(dashboard(&app, &format!("{q}=dr-b")).await, only);

    // Department: A → B
    let r = patch(
        &app,
        &path,
        json!({"department": ward_b, "title": "Wound check (day 2)"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1);
    assert_eq!(r.calls.get("DynamoDB.PutItem"), 0);
    assert_eq!(
        dashboard(&app, &format!("department={ward_a}&status=in-progress")).await,
        none
    );
    assert_eq!(
        dashboard(
            &app,
            &format!("department={ward_b}&status=in-progress&assigneeId=dr-b")
        )
        .await,
        only
    );

    let t = &r.body["task"];
    assert_eq!(t["title"], "Wound check (day 2)");
    assert_eq!(t["department"], ward_b.as_str());
    assert_eq!(t["assigneeId"], "dr-b");
    assert_eq!(t["recurring"], true);
    assert_eq!(t["recurrence"], "weekly");
    assert_eq!(t["createdAt"], task["createdAt"]);
    assert!(t["updatedAt"].as_str() >= task["updatedAt"].as_str());
    let item = hms::store::get_raw(&app.ctx, &format!("PATIENT#{uid}"), &format!("TASK#{id}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        item["GSI2PK"].as_s().unwrap(),
        &format!("TASK#IN-PROGRESS#DEPT#{ward_b}")
    );
    assert_eq!(
        item["GSI2SK"].as_s().unwrap(),
        &format!("ASSIGNEE#dr-b#RECURRING#YES#TASK#{id}")
    );
}

#[tokio::test]
async fn patch_rejects_bad_bodies_and_never_creates_unknown_tasks() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let (other, _) = app.create_patient().await;
    let task = create_task(&app, &uid, task_body("x", "2025-09-01T08:00:00Z", "dr-a")).await;
    let path = format!("/patients/{uid}/tasks/{}", id_of(&task));

    for (body, status) in [
        (json!({}), 400),
        (json!({"unknownField": 1}), 400),
        (json!({"status": "closed"}), 400),
        (json!({"type": "xray"}), 400),
        (json!({"priority": "asap"}), 400),
        (json!({"due": "soon"}), 400),
        (json!({"title": ""}), 400),
    ] {
        let r = patch(&app, &path, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert_eq!(r.calls.total(), 0, "nothing read or written for {body}");
    }
    assert_eq!(app.raw("PATCH", &path, "").await.status, 400);
    assert_eq!(app.raw("PATCH", &path, "[1]").await.status, 400);

    // Unknown task, a task of another patient, an unknown patient: 404, no item
    let ghost = uuid::Uuid::now_v7().to_string();
    for p in [
        format!("/patients/{uid}/tasks/{ghost}"),
        format!("/patients/{other}/tasks/{}", id_of(&task)),
        format!("/patients/{uid}/tasks/not..an/id"),
    ] {
        let r = patch(&app, &p, json!({"title": "ghost"})).await;
        assert_eq!(r.status, 404, "{p}: {:?}", r.body);
        assert_eq!(writes(&r.calls), 0, "{p}: {}", r.calls);
    }
    let r = patch(
        &app,
        &format!("/patients/nobody/tasks/{}", id_of(&task)),
        json!({"title": "ghost"}),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "Patient not found");
    assert_eq!(
        app.get(&format!("/patients/{other}/tasks")).await.body,
        json!([])
    );
    let list = app.get(&format!("/patients/{uid}/tasks")).await.body;
    assert_eq!(ids(&list), vec![id_of(&task)]);
    assert_eq!(list[0]["title"], "x");
}

#[tokio::test]
async fn patch_null_clears_optional_text_and_keeps_the_rest() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut body = task_body("x", "2025-09-01T08:00:00Z", "dr-a");
    body["details"] = json!("fasting");
    body["recurrence"] = json!({"every": "day", "at": ["08:00", "20:00"]});
    let task = create_task(&app, &uid, body).await;
    assert_eq!(
        task["recurrence"],
        json!({"every": "day", "at": ["08:00", "20:00"]})
    );
    let r = patch(
        &app,
        &format!("/patients/{uid}/tasks/{}", id_of(&task)),
        json!({"details": null, "priority": "HIGH"}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["task"]["details"], Value::Null);
    assert_eq!(
        r.body["task"]["recurrence"],
        json!({"every": "day", "at": ["08:00", "20:00"]})
    );
    assert_eq!(r.body["task"]["priority"], "high");
    assert_eq!(r.body["task"]["title"], "x");
    let item = hms::store::get_raw(
        &app.ctx,
        &format!("PATIENT#{uid}"),
        &format!("TASK#{}", id_of(&task)),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!item.contains_key("details"), "removed, not stored as NULL");
}

#[tokio::test]
async fn delete_cancels_the_task_and_it_leaves_the_open_dashboard() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let ward = unique("Ward");
    let mut body = task_body("Discharge letter", "2025-09-01T08:00:00Z", "dr-a");
    body["type"] = json!("discharge");
    body["department"] = json!(ward);
    let task = create_task(&app, &uid, body).await;
    let id = id_of(&task);
    assert_eq!(
        dashboard(&app, &format!("department={ward}")).await,
        vec![id.clone()]
    );

    let r = app
        .call("DELETE", &format!("/patients/{mrn}/tasks/{id}"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({"message": "deleted"}));
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1);
    assert_eq!(r.calls.get("DynamoDB.DeleteItem"), 0);

    assert!(dashboard(&app, &format!("department={ward}"))
        .await
        .is_empty());
    assert_eq!(
        dashboard(&app, &format!("department={ward}&status=cancelled")).await,
        vec![id.clone()]
    );
    let list = app.get(&format!("/patients/{uid}/tasks")).await.body;
    assert_eq!(list[0]["status"], "cancelled");

    let ghost = uuid::Uuid::now_v7().to_string();
    let r = app
        .call("DELETE", &format!("/patients/{uid}/tasks/{ghost}"), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "Task not found");
    assert_eq!(
        ids(&app.get(&format!("/patients/{uid}/tasks")).await.body),
        vec![id]
    );
}

#[tokio::test]
async fn dashboard_needs_a_department_and_a_valid_status() {
    let app = App::new();
    let r = app.get("/tasks").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "department is required");
    for q in [
        "department=X&status=closed",
        "department=X&limit=0",
        "department=X&assigneeId=a%23b",
        "department=X&cursor=junk",
    ] {
        let r = app.get(&format!("/tasks?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {:?}", r.body);
        assert_eq!(r.calls.total(), 0);
    }
    let r = app
        .get(&format!("/tasks?department={}", unique("Empty")))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!([]));
    assert_eq!(r.calls.get("DynamoDB.Query"), 1);
    assert_eq!(r.calls.total(), 1);
}

#[tokio::test]
async fn dashboard_lists_a_department_across_patients_and_pages_with_a_cursor() {
    let app = App::new();
    let ward = unique("Ward");
    let (p1, _) = app.create_patient().await;
    let (p2, _) = app.create_patient().await;
    let mut made = Vec::new();
    for (patient, assignee) in [(&p1, "dr-a"), (&p2, "dr-a"), (&p2, "dr-b")] {
        let mut body = task_body("t", "2025-09-01T08:00:00Z", assignee);
        body["department"] = json!(ward);
        made.push(id_of(&create_task(&app, patient, body).await));
    }
    // Another department's task stays off this dashboard
    create_task(
        &app,
        &p1,
        task_body("elsewhere", "2025-09-01T08:00:00Z", "dr-a"),
    )
    .await;

    let mut all = dashboard(&app, &format!("department={ward}")).await;
    all.sort();
    let mut expected = made.clone();
    expected.sort();
    assert_eq!(all, expected);
    let mut by_a = dashboard(&app, &format!("department={ward}&assigneeId=dr-a")).await;
    by_a.sort();
    let mut expected_a = made[..2].to_vec();
    expected_a.sort();
    assert_eq!(by_a, expected_a);

    // Pages of two: the cursor continues where the first page stopped
    let first = app.get(&format!("/tasks?department={ward}&limit=2")).await;
    assert_eq!(first.status, 200);
    assert_eq!(ids(&first.body).len(), 2);
    let cursor = first.headers["x-next-cursor"].to_str().unwrap().to_string();
    let second = app
        .get(&format!("/tasks?department={ward}&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    let mut paged = ids(&first.body);
    paged.extend(ids(&second.body));
    paged.sort();
    assert_eq!(paged, expected);
    // A cursor cannot move the query to another department
    let r = app
        .get(&format!(
            "/tasks?department={}&cursor={cursor}",
            unique("Other")
        ))
        .await;
    assert_eq!(r.status, 400);
}

/// A task as an earlier backend may have stored it: a short id, `recurring`
/// as a string, no `patient_uid`, no `created_at`.
async fn seed_legacy_task(app: &App, uid: &str, task_id: &str, department: &str) {
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    let s = |v: &str| Av::S(v.to_string());
    app.ctx
        .ddb
        .put_item()
        .table_name(app.ctx.table())
        .item("PK", s(&format!("PATIENT#{uid}")))
        .item("SK", s(&format!("TASK#{task_id}")))
        .item("task_id", s(task_id))
        .item("title", s("Legacy ECG"))
        .item("type", s("procedure"))
        .item("due", s("2025-09-01T08:00:00.000Z"))
        .item("assignee_id", s("dr-a"))
        .item("status", s("open"))
        .item("priority", s("high"))
        .item("recurring", s("false"))
        .item("department", s(department))
        .item("files", Av::L(vec![]))
        .item("GSI2PK", s(&format!("TASK#OPEN#DEPT#{department}")))
        .item(
            "GSI2SK",
            s(&format!("ASSIGNEE#dr-a#RECURRING#NO#TASK#{task_id}")),
        )
        .send()
        .await
        .expect("seeded");
}

async fn upload_for(app: &App, uid: &str, ref_id: &str) -> String {
    let answer = app
        .upload(
            uid,
            json!({"filename": "a.pdf", "mimeType": "application/pdf", "kind": "task", "refId": ref_id}),
            b"%PDF-1.4 bytes",
        )
        .await;
    answer["key"].as_str().expect("key").to_string()
}

fn short_id() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

#[tokio::test]
async fn files_attach_and_detach_on_a_task() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let ward = unique("Ward");
    let (id, other_id) = (short_id(), short_id());
    seed_legacy_task(&app, &uid, &id, &ward).await;
    seed_legacy_task(&app, &uid, &other_id, &ward).await;
    let key = upload_for(&app, &uid, &id).await;
    assert!(
        key.starts_with(&format!("patients/{uid}/optimized/tasks/{id}/")),
        "{key}"
    );
    let other_key = upload_for(&app, &uid, &other_id).await;
    let attach = format!("/patients/{mrn}/tasks/{id}/files/attach");
    let detach = format!("/patients/{uid}/tasks/{id}/files/detach");

    let r = app.post(&attach, json!({"key": key})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "attached");
    assert_eq!(r.body["task"]["files"], json!([key]));
    assert_eq!(r.body["task"]["taskId"], id.as_str());
    assert_eq!(r.body["task"]["patientId"], uid.as_str());
    assert_eq!(r.body["task"]["recurring"], false);
    assert_eq!(r.calls.get("S3.GetObject"), 1);

    // Re-attaching is a no-op
    let r = app.post(&attach, json!({"key": key})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["task"]["files"], json!([key]));

    // A patch keeps the files list (and reads the legacy item)
    let r = patch(
        &app,
        &format!("/patients/{uid}/tasks/{id}"),
        json!({"title": "ECG 12-lead"}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["task"]["files"], json!([key]));
    assert_eq!(r.body["task"]["priority"], "high");

    // Another task's file, a never-uploaded key, no key
    let r = app.post(&attach, json!({"key": other_key})).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let never = format!("patients/{uid}/optimized/tasks/{id}/1-never-q80-1600w.pdf");
    let r = app.post(&attach, json!({"key": never})).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert_eq!(writes(&r.calls), 0, "nothing written: {}", r.calls);
    assert_eq!(app.post(&attach, json!({})).await.status, 400);

    // Detach, then detaching again is a 404
    let r = app.post(&detach, json!({"key": key})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "detached");
    assert_eq!(r.body["task"]["files"], json!([]));
    let r = app.post(&detach, json!({"key": key})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "File not attached");

    // An unknown task, even with a real upload in its folder: 404, no ghost item
    let ghost = short_id();
    let ghost_key = upload_for(&app, &uid, &ghost).await;
    let r = app
        .post(
            &format!("/patients/{uid}/tasks/{ghost}/files/attach"),
            json!({"key": ghost_key}),
        )
        .await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert_eq!(r.body["error"], "Task not found");
    let r = app
        .post(
            &format!("/patients/{uid}/tasks/{ghost}/files/detach"),
            json!({"key": ghost_key}),
        )
        .await;
    assert_eq!(r.status, 404);
    let mut listed = ids(&app.get(&format!("/patients/{uid}/tasks")).await.body);
    listed.sort();
    let mut expected = vec![id, other_id];
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn files_routes_check_keys_of_uuid_tasks_before_writing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let (other_patient, _) = app.create_patient().await;
    let task = create_task(&app, &uid, task_body("ECG", "2025-09-01T08:00:00Z", "dr-a")).await;
    let id = id_of(&task);
    let attach = format!("/patients/{uid}/tasks/{id}/files/attach");
    for (key, status) in [
        (
            format!("patients/{uid}/optimized/tasks/{id}/1-x-q80-1600w.pdf"),
            404,
        ),
        (
            format!("patients/{uid}/optimized/notes/{id}/1-x-q80-1600w.pdf"),
            400,
        ),
        (
            format!("patients/{uid}/optimized/tasks/other/1-x-q80-1600w.pdf"),
            400,
        ),
        (
            format!("patients/{other_patient}/optimized/tasks/{id}/1-x-q80-1600w.pdf"),
            400,
        ),
        (
            format!("patients/{uid}/optimized/tasks/{id}/../../x.pdf"),
            400,
        ),
    ] {
        let r = app.post(&attach, json!({"key": key})).await;
        assert_eq!(r.status, status, "{key}: {:?}", r.body);
        assert_eq!(
            writes(&r.calls),
            0,
            "nothing written for {key}: {}",
            r.calls
        );
    }
    let r = app
        .post(
            &format!("/patients/{uid}/tasks/{id}/files/detach"),
            json!({"key": format!("patients/{uid}/optimized/tasks/{id}/1-x-q80-1600w.pdf")}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "File not attached");
    let r = app
        .post("/patients/nobody/tasks/x/files/attach", json!({"key": "k"}))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "Patient not found");
    let task_now = &app.get(&format!("/patients/{uid}/tasks")).await.body[0];
    assert_eq!(task_now["files"], json!([]));
}

#[tokio::test]
async fn concurrent_patches_never_desync_the_dashboard_keys() {
    let (app, _proxy) = App::with_conflicts();
    let (uid, _) = app.create_patient().await;
    let ward = unique("Ward");
    let mut body = task_body("Busy task", "2025-09-01T08:00:00Z", "dr-0");
    body["department"] = json!(ward);
    let id = id_of(&create_task(&app, &uid, body).await);
    let path = format!("/patients/{uid}/tasks/{id}");

    // Status and assignee changed at once by different requests
    let bodies = vec![
        json!({"status": "in-progress"}),
        json!({"assigneeId": "dr-1"}),
        json!({"status": "done"}),
        json!({"assigneeId": "dr-2"}),
        json!({"recurring": true}),
        json!({"title": "Busy task, renamed"}),
    ];
    let replies =
        futures::future::join_all(bodies.into_iter().map(|b| patch(&app, &path, b))).await;
    // Every patch lands (a lost race is re-read and re-applied)
    for r in &replies {
        assert_eq!(r.status, 200, "{:?}", r.body);
    }

    // The stored keys are exactly what the stored fields say
    let item = hms::store::get_raw(&app.ctx, &format!("PATIENT#{uid}"), &format!("TASK#{id}"))
        .await
        .unwrap()
        .unwrap();
    let field = |n: &str| item[n].as_s().unwrap().clone();
    let recurring = *item["recurring"].as_bool().unwrap();
    assert_eq!(
        field("GSI2PK"),
        format!("TASK#{}#DEPT#{ward}", field("status").to_uppercase())
    );
    assert_eq!(
        field("GSI2SK"),
        format!(
            "ASSIGNEE#{}#RECURRING#{}#TASK#{id}",
            field("assignee_id"),
            if recurring { "YES" } else { "NO" }
        )
    );
    // And the dashboard for those fields finds the task
    assert_eq!(
        dashboard(
            &app,
            &format!(
                "department={ward}&status={}&assigneeId={}",
                field("status"),
                field("assignee_id")
            )
        )
        .await,
        vec![id]
    );
}
