//! `hms-admin` operations against the emulator, on items in the shapes the
//! Node.js version wrote.

use aws_sdk_dynamodb::types::AttributeValue;
use hms::admin::{self, RunOptions};
use hms::policy::{self, Access, Grant};

use crate::support::{unique, App};

/// An active patient as the Node.js version stored it: no index keys of
/// this project, a lower-case status.
async fn node_patient(app: &App, department: &str) -> String {
    let uid = uuid::Uuid::new_v4().to_string();
    let s = |v: &str| AttributeValue::S(v.to_string());
    app.ctx
        .ddb
        .put_item()
        .table_name(app.ctx.table())
        .item("PK", s(&format!("PATIENT#{uid}")))
        .item("SK", s(hms::keys::META_SK))
        .item("patient_uid", s(&uid))
        .item("name", s("Node Patient"))
        .item("status", s("active"))
        .item("department", s(department))
        .item("active_reg_mrn", s(&unique("NODE")))
        .item("current_state", s("onboarding"))
        .send()
        .await
        .expect("seed");
    uid
}

/// Every patient id `GET /patients` lists, all pages.
async fn listed(app: &App) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/patients?limit=1000&cursor={c}"),
            None => "/patients?limit=1000".to_string(),
        };
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for p in r.body.as_array().expect("array") {
            ids.push(p["id"].as_str().unwrap_or_default().to_string());
        }
        match r.headers.get("x-next-cursor") {
            Some(c) => cursor = Some(c.to_str().unwrap().to_string()),
            None => return ids,
        }
    }
}

async fn run_backfill(app: &App, opts: &RunOptions) -> admin::Tally {
    policy::within(Grant::open(Access::Write), admin::backfill(&app.ctx, opts))
        .await
        .expect("backfill")
}

#[tokio::test]
async fn backfill_lists_node_patients_once_and_a_second_run_changes_nothing() {
    let app = App::new();
    let ward = unique("NodeWard");
    let patients = [
        node_patient(&app, &ward).await,
        node_patient(&app, &ward).await,
    ];
    // Before: readable by id, missing from the all-active list
    for uid in &patients {
        assert_eq!(app.get(&format!("/patients/{uid}")).await.status, 200);
    }
    let before = listed(&app).await;
    assert!(patients.iter().all(|p| !before.contains(p)));

    // A dry run finds them and writes nothing
    let dry = run_backfill(
        &app,
        &RunOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await;
    assert!(dry.skipped >= 2 && dry.changed == 0, "{dry:?}");
    assert!(listed(&app).await.iter().all(|p| !patients.contains(p)));

    // The run lists them
    let first = run_backfill(&app, &RunOptions::default()).await;
    assert!(first.changed >= 2, "{first:?}");
    let after = listed(&app).await;
    assert!(patients.iter().all(|p| after.contains(p)), "{after:?}");
    // And a second run finds nothing to do
    let second = run_backfill(&app, &RunOptions::default()).await;
    assert_eq!(second.changed, 0, "{second:?}");
}
