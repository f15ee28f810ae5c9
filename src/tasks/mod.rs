//! Tasks: clinical to-dos on a patient (labs, medications, procedures,
//! assessments, discharge), listed per patient and on department dashboards.
//!
//! A task lives in its patient's partition; the dashboard is a GSI whose keys
//! mirror the task's status, department, assignee and recurrence. Every write
//! recomputes those keys and stores them in the same UpdateItem as the fields
//! they mirror (the old backend used a second write and could drift).

pub mod dashboard;
pub mod input;
pub mod model;

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::attachments::{self, FileAction, Target};
use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::patients;
use crate::s3::keys::valid_ref_id;
use crate::s3::keys::EntityKind;
use crate::store::{self, tx, Filter, Query};
use input::{TaskBody, TaskChanges};
use model::{TaskItem, CLEARABLE, INDEX_SOURCES, STATUS_CANCELLED};

use crate::http::route::Route;

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::write("POST /patients/{id}/tasks", |c, r, p| {
        Box::pin(create(c, p.get("id"), r))
    }),
    Route::read("GET /patients/{id}/tasks", |c, r, p| {
        Box::pin(list(c, p.get("id"), r))
    }),
    Route::write("PATCH /patients/{id}/tasks/{taskId}", |c, r, p| {
        Box::pin(update(c, p.get("id"), p.get("taskId"), r))
    }),
    Route::write("DELETE /patients/{id}/tasks/{taskId}", |c, r, p| {
        Box::pin(delete(c, p.get("id"), p.get("taskId"), r))
    }),
    Route::write(
        "POST /patients/{id}/tasks/{taskId}/files/attach",
        |c, r, p| {
            Box::pin(files(
                c,
                p.get("id"),
                p.get("taskId"),
                FileAction::Attach,
                r,
            ))
        },
    ),
    Route::write(
        "POST /patients/{id}/tasks/{taskId}/files/detach",
        |c, r, p| {
            Box::pin(files(
                c,
                p.get("id"),
                p.get("taskId"),
                FileAction::Detach,
                r,
            ))
        },
    ),
    Route::list("GET /tasks", |c, r, _| Box::pin(dashboard::dashboard(c, r))),
];

fn task_not_found() -> ApiError {
    ApiError::not_found("Task not found")
}

/// `POST /patients/{id}/tasks`
pub async fn create(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let changes = req.json::<TaskBody>()?.validate()?;
    changes.require_for_create()?;
    let patient = patients::resolve(ctx, id).await?;
    let department = changes
        .department
        .clone()
        .or_else(|| patient.department.clone())
        .ok_or_else(|| ApiError::bad_request("department is required (the patient has none)"))?;

    let now = clock::now_rfc3339();
    let mut task = TaskItem::new(patient.uid(), &clock::new_id(), &now);
    changes.apply(&mut task);
    task.department = Some(department);
    task.sync_index_keys();
    let table = ctx.table();
    let audit = Audit::of(req, "task.create")
        .target(format!("task:{}", task.task_id))
        .fields(req.field_names());
    // A fresh UUIDv7 key: refused only if the id collided.
    store::transact(
        ctx,
        vec![
            tx::put_new(table, store::to_item(&task)?)?,
            audit.tx_item(table, patient.uid())?,
        ],
    )
    .await??;
    Ok(Reply::created(
        json!({"message": "created", "task": task.to_json()}),
    ))
}

/// `GET /patients/{id}/tasks?status=&limit=`: the patient's tasks, soonest due
/// first (tasks without a due date last).
pub async fn list(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let status = req.query("status").map(input::status).transpose()?;
    let limit = req.limit(100, 500)?;
    let read = async {
        let patient = patients::resolve(ctx, id).await?;
        let mut tasks = query_patient_tasks(ctx, patient.uid(), status.as_deref()).await?;
        tasks.sort_by(|a, b| {
            (a.due.is_none(), &a.due, &a.task_id).cmp(&(b.due.is_none(), &b.due, &b.task_id))
        });
        tasks.truncate(limit);
        let reply = Reply::ok(Value::Array(tasks.iter().map(TaskItem::to_json).collect()));
        Ok((reply, patient.uid().to_string()))
    };
    Audit::of(req, "tasks.read").alongside(ctx, id, read).await
}

/// Every task of the patient (all pages: sorting by due needs them all),
/// optionally of one status.
async fn query_patient_tasks(
    ctx: &Context,
    uid: &str,
    status: Option<&str>,
) -> ApiResult<Vec<TaskItem>> {
    let filter = status.map(|status| Filter {
        expression: "#status = :status".to_string(),
        names: HashMap::from([("#status".to_string(), "status".to_string())]),
        values: HashMap::from([(":status".to_string(), store::s(status))]),
    });
    Query::partition(keys::patient_pk(uid))
        .prefix(keys::TASK_PREFIX)
        .filter(filter)
        .all(ctx)
        .await?
        .into_iter()
        .map(TaskItem::from_item)
        .collect()
}

/// `PATCH /patients/{id}/tasks/{taskId}`
pub async fn update(ctx: &Context, id: &str, task_id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let changes = req.json::<TaskBody>()?.validate()?;
    if changes.is_empty() {
        return Err(ApiError::bad_request(
            "Request body has no task fields to update",
        ));
    }
    let audit = Audit::of(req, "task.update")
        .target(format!("task:{task_id}"))
        .fields(req.field_names());
    let task = modify(ctx, id, task_id, &changes, &audit).await?;
    Ok(Reply::ok(
        json!({"message": "updated", "task": task.to_json()}),
    ))
}

/// `DELETE /patients/{id}/tasks/{taskId}`: the task is kept, cancelled.
pub async fn delete(ctx: &Context, id: &str, task_id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let changes = TaskChanges {
        status: Some(STATUS_CANCELLED.to_string()),
        ..Default::default()
    };
    let audit = Audit::of(req, "task.cancel").target(format!("task:{task_id}"));
    modify(ctx, id, task_id, &changes, &audit).await?;
    Ok(Reply::ok(json!({"message": "deleted"})))
}

/// Reads the task (with the patient, in one batch for a UID), applies the
/// changes, recomputes the dashboard keys and writes fields and keys in one
/// guarded UpdateItem; a lost race re-reads and re-applies.
async fn modify(
    ctx: &Context,
    id: &str,
    task_id: &str,
    changes: &TaskChanges,
    audit: &Audit,
) -> ApiResult<TaskItem> {
    if !valid_ref_id(task_id) {
        return Err(task_not_found());
    }
    let sk = keys::task_sk(task_id);
    let mut resolved = patients::resolve_with(ctx, id, &[&sk]).await?;
    let pk = keys::patient_pk(resolved.patient.uid());
    let first = resolved.items.remove(&sk);
    let stored = store::modify_item(
        ctx,
        "task",
        (&pk, &sk),
        Some(first),
        INDEX_SOURCES,
        task_not_found,
        &[audit.tx_item(ctx.table(), resolved.patient.uid())?],
        |before| {
            let mut task = TaskItem::from_item(before.clone())?;
            changes.apply(&mut task);
            task.updated_at = Some(clock::now_rfc3339());
            task.sync_index_keys();
            let mut modeled = store::to_item(&task)?;
            // The files list belongs to attach/detach; a patch never writes it.
            modeled.remove("files");
            Ok(store::overlay(before, modeled, CLEARABLE))
        },
    )
    .await?;
    TaskItem::from_item(stored)
}

/// `POST /patients/{id}/tasks/{taskId}/files/{attach|detach}`
pub async fn files(
    ctx: &Context,
    id: &str,
    task_id: &str,
    action: FileAction,
    req: &ApiRequest,
) -> ApiResult<Reply> {
    let patient = patients::resolve(ctx, id).await?;
    let uid = patient.uid();
    let target = Target {
        uid,
        kind: EntityKind::Task,
        entity_id: task_id,
        pk: keys::patient_pk(uid),
        sk: keys::task_sk(task_id),
        noun: "Task",
    };
    let item = attachments::apply(ctx, &target, action, req).await?;
    Ok(Reply::ok(
        json!({"message": action.done(), "task": TaskItem::from_item(item)?.to_json()}),
    ))
}
