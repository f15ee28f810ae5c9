//! Doctors: profiles, the department list through the sparse GSI1 key (moved
//! in the same write as the department), and soft delete.

use serde_json::{json, Value};

use crate::support::{unique, App};

async fn create_doctor(app: &App, body: Value) -> Value {
    let r = app.post("/doctors", body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["message"], "created");
    r.body["doctor"].clone()
}

async fn listed(app: &App, department: &str) -> Vec<String> {
    let r = app.get(&format!("/doctors?department={department}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["doctorId"].as_str().unwrap().to_string())
        .collect()
}

fn doctor_id() -> String {
    unique("dr").to_lowercase()
}

#[tokio::test]
async fn create_and_get_a_doctor_with_defaults() {
    let app = App::new();
    let id = doctor_id();
    let dept = unique("Cardiology");
    let r = app
        .post(
            "/doctors",
            json!({"userId": id, "name": "Dr. Jane Roe", "email": "jane@clinic.org",
                   "department": dept}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // The profile and its ledger entry, in one transaction.
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.PutItem"), 0);
    let doctor = &r.body["doctor"];
    assert_eq!(doctor["doctorId"], id.as_str());
    assert_eq!(doctor["name"], "Dr. Jane Roe");
    assert_eq!(doctor["email"], "jane@clinic.org");
    assert_eq!(doctor["role"], "doctor");
    assert_eq!(doctor["department"], dept.as_str());
    assert_eq!(doctor["avatar"], Value::Null);
    assert_eq!(doctor["contactInfo"], json!({}));
    assert_eq!(doctor["permissions"], json!([]));
    assert_eq!(doctor["deleted"], false);
    assert!(doctor["createdAt"].as_str().unwrap().ends_with('Z'));

    let r = app.get(&format!("/doctors/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, *doctor);
    assert_eq!(r.calls.get("DynamoDB.GetItem"), 1);

    let item = hms::store::get_raw(&app.ctx, &format!("USER#{id}"), "PROFILE")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        item["GSI1PK"].as_s().unwrap(),
        &format!("DEPT#{dept}#ROLE#DOCTOR")
    );
    assert_eq!(item["user_id"].as_s().unwrap(), &id);
    // No contact info was sent: none is stored (the `{}` above is the
    // reply's default for an absent attribute)
    assert!(!item.contains_key("contact_info"), "{item:?}");

    // Without a userId an id is minted
    let minted = create_doctor(&app, json!({"name": "Dr. Who", "email": "who@clinic.org"})).await;
    assert_eq!(minted["doctorId"].as_str().unwrap().len(), 36);
    assert_eq!(minted["department"], Value::Null);

    assert_eq!(
        app.get(&format!("/doctors/{}", doctor_id())).await.status,
        404
    );
    assert_eq!(app.get("/doctors/bad%20id").await.status, 404);
}

#[tokio::test]
async fn an_existing_id_is_a_conflict_and_the_profile_is_untouched() {
    let app = App::new();
    let id = doctor_id();
    create_doctor(
        &app,
        json!({"userId": id, "name": "First", "email": "a@b.org"}),
    )
    .await;
    let r = app
        .post(
            "/doctors",
            json!({"userId": id, "name": "Second", "email": "c@d.org"}),
        )
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("already exists"));
    assert_eq!(
        app.get(&format!("/doctors/{id}")).await.body["name"],
        "First"
    );
}

#[tokio::test]
async fn create_validates_and_accepts_snake_case() {
    let app = App::new();
    for (body, message) in [
        (json!({"email": "a@b.org"}), "name is required"),
        (json!({"name": "X"}), "email is required"),
        (json!({"name": "X", "email": "not-an-email"}), "email must"),
        (
            json!({"name": "X", "email": "a@b.org", "userId": "has space"}),
            "userId",
        ),
        (
            json!({"name": "X", "email": "a@b.org", "userId": "a/b"}),
            "userId",
        ),
        (
            json!({"name": "X", "email": "a@b.org", "contactInfo": "phone"}),
            "Invalid request body",
        ),
        (
            json!({"name": "X", "email": "a@b.org", "permissions": "all"}),
            "Invalid request body",
        ),
        (
            json!({"name": "X", "email": "a@b.org", "department": ""}),
            "department",
        ),
    ] {
        let r = app.post("/doctors", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(
            r.body["error"].as_str().unwrap().starts_with(message),
            "{body}: {:?}",
            r.body
        );
        assert_eq!(r.calls.total(), 0, "nothing written: {body}");
    }
    assert_eq!(app.raw("POST", "/doctors", "{oops").await.status, 400);

    let id = doctor_id();
    let dept = unique("Neuro");
    let doctor = create_doctor(
        &app,
        json!({"user_id": id, "name": "Dr. Snake", "email": "snake@clinic.org", "role": "Doctor",
               "department": dept, "avatar": "avatars/snake.png",
               "contact_info": {"phone": "123", "pager": "77"}, "permissions": ["read", "write"]}),
    )
    .await;
    assert_eq!(doctor["doctorId"], id.as_str());
    assert_eq!(doctor["role"], "doctor");
    assert_eq!(doctor["avatar"], "avatars/snake.png");
    assert_eq!(
        doctor["contactInfo"],
        json!({"phone": "123", "pager": "77"})
    );
    assert_eq!(doctor["permissions"], json!(["read", "write"]));
    // The contact info sent is stored as a map under its snake_case name
    let item = hms::store::get_raw(&app.ctx, &format!("USER#{id}"), "PROFILE")
        .await
        .unwrap()
        .unwrap();
    let stored = item["contact_info"].as_m().expect("contact_info is a map");
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored["phone"].as_s().unwrap(), "123");
    assert_eq!(stored["pager"].as_s().unwrap(), "77");
    assert_eq!(listed(&app, &dept).await, vec![id]);
}

#[tokio::test]
async fn the_department_list_holds_only_its_active_doctors() {
    let app = App::new();
    let dept = unique("Ortho");
    let b = create_doctor(
        &app,
        json!({"name": "Dr. B", "email": "b@x.org", "department": dept}),
    )
    .await;
    let a = create_doctor(
        &app,
        json!({"name": "Dr. A", "email": "a@x.org", "department": dept}),
    )
    .await;
    // A nurse of the department and a doctor of another department are not listed
    create_doctor(
        &app,
        json!({"name": "Nurse N", "email": "n@x.org", "department": dept, "role": "nurse"}),
    )
    .await;
    create_doctor(
        &app,
        json!({"name": "Dr. C", "email": "c@x.org", "department": unique("Other")}),
    )
    .await;

    let r = app.get(&format!("/doctors?department={dept}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.calls.get("DynamoDB.Query"), 1);
    assert_eq!(r.calls.get("DynamoDB.Scan"), 0);
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Dr. A", "Dr. B"]);
    assert_eq!(r.body[0], a);
    assert_eq!(r.body[1], b);

    let r = app.get("/doctors").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "department is required");
    assert_eq!(listed(&app, &unique("Nobody")).await, Vec::<String>::new());
}

#[tokio::test]
async fn patch_moves_the_department_in_one_write() {
    let app = App::new();
    let (from, to) = (unique("From"), unique("To"));
    let id = doctor_id();
    let created = create_doctor(
        &app,
        json!({"userId": id, "name": "Dr. Move", "email": "m@x.org", "department": from,
               "avatar": "a.png"}),
    )
    .await;
    assert_eq!(listed(&app, &from).await, vec![id.clone()]);
    let path = format!("/doctors/{id}");

    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"department": to, "contactInfo": {"phone": "555"},
                        "permissions": ["admin"], "avatar": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "updated");
    // The guarded update and its ledger entry, in one transaction.
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.UpdateItem"), 0);
    assert_eq!(r.calls.get("DynamoDB.PutItem"), 0);
    let d = &r.body["doctor"];
    assert_eq!(d["department"], to.as_str());
    assert_eq!(d["contactInfo"], json!({"phone": "555"}));
    assert_eq!(d["permissions"], json!(["admin"]));
    assert_eq!(d["avatar"], Value::Null);
    assert_eq!(d["name"], "Dr. Move");
    assert_eq!(d["email"], "m@x.org");
    assert_eq!(d["createdAt"], created["createdAt"]);
    assert!(listed(&app, &from).await.is_empty());
    assert_eq!(listed(&app, &to).await, vec![id.clone()]);

    // snake_case and a role change: no longer a doctor, off the list
    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"role": "admin", "contact_info": {"alt_phone": "1"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["doctor"]["role"], "admin");
    assert!(listed(&app, &to).await.is_empty());
    let item = hms::store::get_raw(&app.ctx, &format!("USER#{id}"), "PROFILE")
        .await
        .unwrap()
        .unwrap();
    assert!(!item.contains_key("GSI1PK"), "sparse key removed");
    assert!(!item.contains_key("avatar"));
    // Back to doctor: listed again
    let r = app
        .call("PATCH", &path, Some(json!({"role": "doctor"})))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(listed(&app, &to).await, vec![id.clone()]);
}

#[tokio::test]
async fn patch_rejects_bad_bodies_and_unknown_doctors_without_writing() {
    let app = App::new();
    let id = doctor_id();
    create_doctor(
        &app,
        json!({"userId": id, "name": "Dr. P", "email": "p@x.org"}),
    )
    .await;
    let path = format!("/doctors/{id}");
    for body in [
        json!({}),
        json!({"unknown": 1}),
        json!({"email": "nope"}),
        json!({"name": ""}),
    ] {
        let r = app.call("PATCH", &path, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.calls.total(), 0);
    }
    assert_eq!(app.raw("PATCH", &path, "").await.status, 400);

    let ghost = doctor_id();
    let r = app
        .call(
            "PATCH",
            &format!("/doctors/{ghost}"),
            Some(json!({"name": "Ghost"})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "Doctor not found");
    assert_eq!(
        r.calls.get("DynamoDB.UpdateItem") + r.calls.get("DynamoDB.PutItem"),
        0
    );
    assert_eq!(app.get(&format!("/doctors/{ghost}")).await.status, 404);
}

#[tokio::test]
async fn soft_delete_leaves_the_list_and_keeps_the_profile() {
    let app = App::new();
    let dept = unique("Derm");
    let id = doctor_id();
    create_doctor(
        &app,
        json!({"userId": id, "name": "Dr. Gone", "email": "g@x.org", "department": dept}),
    )
    .await;
    assert_eq!(listed(&app, &dept).await, vec![id.clone()]);

    let r = app.call("DELETE", &format!("/doctors/{id}"), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "deleted");
    assert_eq!(r.body["doctor"]["deleted"], true);
    assert_eq!(r.body["doctor"]["department"], dept.as_str());
    // The flag and its ledger entry in one transaction, then the profile.
    assert_eq!(
        r.calls.to_string(),
        "DynamoDB.GetItem x1, DynamoDB.TransactWriteItems x1"
    );

    assert!(listed(&app, &dept).await.is_empty());
    let r = app.get(&format!("/doctors/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["deleted"], true);
    assert_eq!(r.body["name"], "Dr. Gone");

    // A patch of a deleted doctor keeps them off the list
    let r = app
        .call(
            "PATCH",
            &format!("/doctors/{id}"),
            Some(json!({"department": unique("Derm2")})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["doctor"]["deleted"], true);
    let dept2 = r.body["doctor"]["department"].as_str().unwrap().to_string();
    assert!(listed(&app, &dept2).await.is_empty());

    let ghost = doctor_id();
    let r = app.call("DELETE", &format!("/doctors/{ghost}"), None).await;
    assert_eq!(r.status, 404);
    assert_eq!(app.get(&format!("/doctors/{ghost}")).await.status, 404);
}
