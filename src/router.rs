//! The router: a `match` on method and path segments. It holds no domain
//! logic: it names the route, calls its module, turns errors into responses,
//! adds CORS headers and logs one line per request (no PHI: route patterns,
//! never path values).

use std::time::Instant;

use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::attachments::FileAction;
use crate::auth::{Authenticator, Caller};
use crate::aws_calls::{self, CallCounts};
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{json_response, ApiRequest, Reply};
use crate::{checklists, doctors, documents, files, meds, notes, patients, tasks};

/// A matched route with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    PatientCreate,
    PatientList,
    PatientGet {
        id: String,
    },
    PatientByMrn {
        mrn: String,
    },
    PatientUpdate {
        id: String,
    },
    PatientDelete {
        id: String,
    },
    PatientState {
        id: String,
    },
    PatientRegistration {
        id: String,
    },
    PatientMrnHistory {
        id: String,
    },
    PatientMrnOverwrite {
        id: String,
    },
    Timeline {
        id: String,
    },
    AuditList {
        id: String,
    },
    ChecklistList,
    ChecklistGet {
        from: String,
        to: String,
    },
    ChecklistPut {
        from: String,
        to: String,
    },
    ChecklistDelete {
        from: String,
        to: String,
    },
    FilesPresignUpload {
        id: String,
    },
    FilesList {
        id: String,
    },
    FilesPresignDownload {
        id: String,
    },
    FilesDelete {
        id: String,
    },
    DocumentsGet {
        id: String,
    },
    DocumentsInit {
        id: String,
    },
    DocumentsAttach {
        id: String,
    },
    DocumentsDetach {
        id: String,
    },
    NotesList {
        id: String,
    },
    NoteCreate {
        id: String,
    },
    NoteEdit {
        id: String,
        note_id: String,
    },
    NoteDelete {
        id: String,
        note_id: String,
    },
    NoteFiles {
        id: String,
        note_id: String,
        action: FileAction,
    },
    MedsList {
        id: String,
    },
    MedCreate {
        id: String,
    },
    MedEdit {
        id: String,
        med_id: String,
    },
    MedStop {
        id: String,
        med_id: String,
    },
    MedFiles {
        id: String,
        med_id: String,
        action: FileAction,
    },
    TaskCreate {
        id: String,
    },
    TaskList {
        id: String,
    },
    TaskUpdate {
        id: String,
        task_id: String,
    },
    TaskDelete {
        id: String,
        task_id: String,
    },
    TaskFiles {
        id: String,
        task_id: String,
        action: FileAction,
    },
    TaskDashboard,
    DoctorCreate,
    DoctorList,
    DoctorGet {
        doctor_id: String,
    },
    DoctorUpdate {
        doctor_id: String,
    },
    DoctorDelete {
        doctor_id: String,
    },
}

impl Route {
    /// The route's pattern, used in logs instead of the (identifying) path.
    pub fn pattern(&self) -> &'static str {
        match self {
            Route::Health => "GET /health",
            Route::PatientCreate => "POST /patients",
            Route::PatientList => "GET /patients",
            Route::PatientGet { .. } => "GET /patients/{id}",
            Route::PatientByMrn { .. } => "GET /patients/by-mrn/{mrn}",
            Route::PatientUpdate { .. } => "PUT /patients/{id}",
            Route::PatientDelete { .. } => "DELETE /patients/{id}",
            Route::PatientState { .. } => "PATCH /patients/{id}/state",
            Route::PatientRegistration { .. } => "PATCH /patients/{id}/registration",
            Route::PatientMrnHistory { .. } => "PATCH /patients/{id}/mrn-history",
            Route::PatientMrnOverwrite { .. } => "PATCH /patients/{id}/mrn-overwrite",
            Route::Timeline { .. } => "GET /patients/{id}/timeline",
            Route::AuditList { .. } => "GET /patients/{id}/audit",
            Route::ChecklistList => "GET /checklists",
            Route::ChecklistGet { .. } => "GET /checklists/{from}/{to}",
            Route::ChecklistPut { .. } => "PUT /checklists/{from}/{to}",
            Route::ChecklistDelete { .. } => "DELETE /checklists/{from}/{to}",
            Route::FilesPresignUpload { .. } => "POST /patients/{id}/files/presign-upload",
            Route::FilesList { .. } => "GET /patients/{id}/files",
            Route::FilesPresignDownload { .. } => "POST /patients/{id}/files/presign-download",
            Route::FilesDelete { .. } => "POST /patients/{id}/files/delete",
            Route::DocumentsGet { .. } => "GET /patients/{id}/documents",
            Route::DocumentsInit { .. } => "POST /patients/{id}/documents/init",
            Route::DocumentsAttach { .. } => "POST /patients/{id}/documents/attach",
            Route::DocumentsDetach { .. } => "POST /patients/{id}/documents/detach",
            Route::NotesList { .. } => "GET /patients/{id}/notes",
            Route::NoteCreate { .. } => "POST /patients/{id}/notes",
            Route::NoteEdit { .. } => "PATCH /patients/{id}/notes/{noteId}",
            Route::NoteDelete { .. } => "DELETE /patients/{id}/notes/{noteId}",
            Route::NoteFiles { .. } => "POST /patients/{id}/notes/{noteId}/files/{action}",
            Route::MedsList { .. } => "GET /patients/{id}/meds",
            Route::MedCreate { .. } => "POST /patients/{id}/meds",
            Route::MedEdit { .. } => "PATCH /patients/{id}/meds/{medId}",
            Route::MedStop { .. } => "DELETE /patients/{id}/meds/{medId}",
            Route::MedFiles { .. } => "POST /patients/{id}/meds/{medId}/files/{action}",
            Route::TaskCreate { .. } => "POST /patients/{id}/tasks",
            Route::TaskList { .. } => "GET /patients/{id}/tasks",
            Route::TaskUpdate { .. } => "PATCH /patients/{id}/tasks/{taskId}",
            Route::TaskDelete { .. } => "DELETE /patients/{id}/tasks/{taskId}",
            Route::TaskFiles { action, .. } => match action {
                FileAction::Attach => "POST /patients/{id}/tasks/{taskId}/files/attach",
                FileAction::Detach => "POST /patients/{id}/tasks/{taskId}/files/detach",
            },
            Route::TaskDashboard => "GET /tasks",
            Route::DoctorCreate => "POST /doctors",
            Route::DoctorList => "GET /doctors",
            Route::DoctorGet { .. } => "GET /doctors/{doctorId}",
            Route::DoctorUpdate { .. } => "PATCH /doctors/{doctorId}",
            Route::DoctorDelete { .. } => "DELETE /doctors/{doctorId}",
        }
    }
}

impl Route {
    /// Routes that change shared configuration: the `admin` group only (when
    /// authentication is on).
    pub fn admin_only(&self) -> bool {
        matches!(
            self,
            Route::ChecklistPut { .. }
                | Route::ChecklistDelete { .. }
                | Route::DoctorCreate
                | Route::DoctorUpdate { .. }
                | Route::DoctorDelete { .. }
        )
    }
}

/// Picks the route for `method` on `segments`: 404 for an unknown path, 405
/// for a known path with another method.
pub fn route(method: &Method, segments: &[String]) -> ApiResult<Route> {
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let only = |allowed: Method, route: Route| {
        if *method == allowed {
            Ok(route)
        } else {
            Err(ApiError::MethodNotAllowed)
        }
    };
    // A path served by several methods: the one asked for, or 405.
    let any = |routes: Vec<(Method, Route)>| {
        routes
            .into_iter()
            .find(|(m, _)| m == method)
            .map(|(_, r)| r)
            .ok_or(ApiError::MethodNotAllowed)
    };
    let id = |s: &str| s.to_string();
    // `files/{action}` names a route only for attach and detach.
    let file_action =
        |s: &str| FileAction::parse(s).ok_or_else(|| ApiError::not_found("Not found"));
    match segs.as_slice() {
        ["health"] => only(Method::GET, Route::Health),
        ["patients"] => any(vec![
            (Method::GET, Route::PatientList),
            (Method::POST, Route::PatientCreate),
        ]),
        ["patients", "by-mrn", mrn] => only(Method::GET, Route::PatientByMrn { mrn: id(mrn) }),
        ["patients", p] => any(vec![
            (Method::GET, Route::PatientGet { id: id(p) }),
            (Method::PUT, Route::PatientUpdate { id: id(p) }),
            (Method::DELETE, Route::PatientDelete { id: id(p) }),
        ]),
        ["patients", p, "state"] => only(Method::PATCH, Route::PatientState { id: id(p) }),
        ["patients", p, "registration"] => {
            only(Method::PATCH, Route::PatientRegistration { id: id(p) })
        }
        ["patients", p, "mrn-history"] => {
            only(Method::PATCH, Route::PatientMrnHistory { id: id(p) })
        }
        ["patients", p, "mrn-overwrite"] => {
            only(Method::PATCH, Route::PatientMrnOverwrite { id: id(p) })
        }
        ["patients", p, "timeline"] => only(Method::GET, Route::Timeline { id: id(p) }),
        ["patients", p, "audit"] => only(Method::GET, Route::AuditList { id: id(p) }),
        ["checklists"] => only(Method::GET, Route::ChecklistList),
        ["checklists", from, to] => {
            let (from, to) = (id(from), id(to));
            any(vec![
                (
                    Method::GET,
                    Route::ChecklistGet {
                        from: from.clone(),
                        to: to.clone(),
                    },
                ),
                (
                    Method::PUT,
                    Route::ChecklistPut {
                        from: from.clone(),
                        to: to.clone(),
                    },
                ),
                (Method::DELETE, Route::ChecklistDelete { from, to }),
            ])
        }
        ["patients", p, "files"] => only(Method::GET, Route::FilesList { id: id(p) }),
        ["patients", p, "files", "presign-upload"] => {
            only(Method::POST, Route::FilesPresignUpload { id: id(p) })
        }
        ["patients", p, "files", "presign-download"] => {
            only(Method::POST, Route::FilesPresignDownload { id: id(p) })
        }
        ["patients", p, "files", "delete"] => only(Method::POST, Route::FilesDelete { id: id(p) }),
        ["patients", p, "documents"] => only(Method::GET, Route::DocumentsGet { id: id(p) }),
        ["patients", p, "documents", "init"] => {
            only(Method::POST, Route::DocumentsInit { id: id(p) })
        }
        ["patients", p, "documents", "attach"] => {
            only(Method::POST, Route::DocumentsAttach { id: id(p) })
        }
        ["patients", p, "documents", "detach"] => {
            only(Method::POST, Route::DocumentsDetach { id: id(p) })
        }
        ["patients", p, "notes"] => any(vec![
            (Method::GET, Route::NotesList { id: id(p) }),
            (Method::POST, Route::NoteCreate { id: id(p) }),
        ]),
        ["patients", p, "notes", n] => any(vec![
            (
                Method::PATCH,
                Route::NoteEdit {
                    id: id(p),
                    note_id: id(n),
                },
            ),
            (
                Method::DELETE,
                Route::NoteDelete {
                    id: id(p),
                    note_id: id(n),
                },
            ),
        ]),
        ["patients", p, "notes", n, "files", action] => {
            let action = file_action(action)?;
            only(
                Method::POST,
                Route::NoteFiles {
                    id: id(p),
                    note_id: id(n),
                    action,
                },
            )
        }
        ["patients", p, "meds"] => any(vec![
            (Method::GET, Route::MedsList { id: id(p) }),
            (Method::POST, Route::MedCreate { id: id(p) }),
        ]),
        ["patients", p, "meds", m] => any(vec![
            (
                Method::PATCH,
                Route::MedEdit {
                    id: id(p),
                    med_id: id(m),
                },
            ),
            (
                Method::DELETE,
                Route::MedStop {
                    id: id(p),
                    med_id: id(m),
                },
            ),
        ]),
        ["patients", p, "meds", m, "files", action] => {
            let action = file_action(action)?;
            only(
                Method::POST,
                Route::MedFiles {
                    id: id(p),
                    med_id: id(m),
                    action,
                },
            )
        }
        ["patients", p, "tasks"] => any(vec![
            (Method::GET, Route::TaskList { id: id(p) }),
            (Method::POST, Route::TaskCreate { id: id(p) }),
        ]),
        ["patients", p, "tasks", t] => any(vec![
            (
                Method::PATCH,
                Route::TaskUpdate {
                    id: id(p),
                    task_id: id(t),
                },
            ),
            (
                Method::DELETE,
                Route::TaskDelete {
                    id: id(p),
                    task_id: id(t),
                },
            ),
        ]),
        ["patients", p, "tasks", t, "files", action] => match FileAction::parse(action) {
            Some(action) => only(
                Method::POST,
                Route::TaskFiles {
                    id: id(p),
                    task_id: id(t),
                    action,
                },
            ),
            None => Err(ApiError::not_found("Not found")),
        },
        ["tasks"] => only(Method::GET, Route::TaskDashboard),
        ["doctors"] => any(vec![
            (Method::GET, Route::DoctorList),
            (Method::POST, Route::DoctorCreate),
        ]),
        ["doctors", d] => any(vec![
            (Method::GET, Route::DoctorGet { doctor_id: id(d) }),
            (Method::PATCH, Route::DoctorUpdate { doctor_id: id(d) }),
            (Method::DELETE, Route::DoctorDelete { doctor_id: id(d) }),
        ]),
        _ => Err(ApiError::not_found("Not found")),
    }
}

async fn dispatch(ctx: &Context, route: &Route, req: &ApiRequest) -> ApiResult<Reply> {
    match route {
        Route::Health => Ok(Reply::ok(
            serde_json::json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}),
        )),
        Route::PatientCreate => patients::create::create(ctx, req).await,
        Route::PatientList => patients::list::list(ctx, req).await,
        Route::PatientGet { id } | Route::PatientByMrn { mrn: id } => {
            patients::read::get(ctx, id).await
        }
        Route::PatientUpdate { id } => patients::update::put(ctx, id, req).await,
        Route::PatientDelete { id } => patients::update::delete(ctx, id, req).await,
        Route::PatientState { id } => patients::state::patch_state(ctx, id, req).await,
        Route::PatientRegistration { id } => patients::registration::switch(ctx, id, req).await,
        Route::PatientMrnHistory { id } => {
            patients::registration::replace_history(ctx, id, req).await
        }
        Route::PatientMrnOverwrite { id } => patients::registration::overwrite(ctx, id, req).await,
        Route::Timeline { id } => patients::history::timeline(ctx, id, req).await,
        Route::AuditList { id } => patients::history::ledger(ctx, id, req).await,
        Route::ChecklistList => checklists::list(ctx).await,
        Route::ChecklistGet { from, to } => checklists::get(ctx, from, to).await,
        Route::ChecklistPut { from, to } => checklists::put(ctx, from, to, req).await,
        Route::ChecklistDelete { from, to } => checklists::delete(ctx, from, to).await,
        Route::FilesPresignUpload { id } => files::upload::presign_upload(ctx, id, req).await,
        Route::FilesList { id } => files::list::list(ctx, id, req).await,
        Route::FilesPresignDownload { id } => files::download::presign_download(ctx, id, req).await,
        Route::FilesDelete { id } => files::delete::delete(ctx, id, req).await,
        Route::DocumentsGet { id } => documents::get(ctx, id, req).await,
        Route::DocumentsInit { id } => documents::init(ctx, id, req).await,
        Route::DocumentsAttach { id } => documents::attach(ctx, id, req).await,
        Route::DocumentsDetach { id } => documents::detach(ctx, id, req).await,
        Route::NotesList { id } => notes::list(ctx, id, req).await,
        Route::NoteCreate { id } => notes::create(ctx, id, req).await,
        Route::NoteEdit { id, note_id } => notes::edit(ctx, id, note_id, req).await,
        Route::NoteDelete { id, note_id } => notes::delete(ctx, id, note_id).await,
        Route::NoteFiles {
            id,
            note_id,
            action,
        } => notes::files(ctx, id, note_id, *action, req).await,
        Route::MedsList { id } => meds::list(ctx, id, req).await,
        Route::MedCreate { id } => meds::create(ctx, id, req).await,
        Route::MedEdit { id, med_id } => meds::edit(ctx, id, med_id, req).await,
        Route::MedStop { id, med_id } => meds::stop(ctx, id, med_id).await,
        Route::MedFiles { id, med_id, action } => meds::files(ctx, id, med_id, *action, req).await,
        Route::TaskCreate { id } => tasks::create(ctx, id, req).await,
        Route::TaskList { id } => tasks::list(ctx, id, req).await,
        Route::TaskUpdate { id, task_id } => tasks::update(ctx, id, task_id, req).await,
        Route::TaskDelete { id, task_id } => tasks::delete(ctx, id, task_id).await,
        Route::TaskFiles {
            id,
            task_id,
            action,
        } => tasks::files(ctx, id, task_id, *action, req).await,
        Route::TaskDashboard => tasks::dashboard::dashboard(ctx, req).await,
        Route::DoctorCreate => doctors::create(ctx, req).await,
        Route::DoctorList => doctors::list(ctx, req).await,
        Route::DoctorGet { doctor_id } => doctors::get(ctx, doctor_id).await,
        Route::DoctorUpdate { doctor_id } => doctors::update(ctx, doctor_id, req).await,
        Route::DoctorDelete { doctor_id } => doctors::delete(ctx, doctor_id).await,
    }
}

/// Routes and runs one request; never fails (every error becomes a response).
async fn run(ctx: &Context, req: &Request, request_id: &str) -> (&'static str, Response<Body>) {
    if req.method() == Method::OPTIONS {
        let mut resp = Response::new(Body::Empty);
        *resp.status_mut() = StatusCode::NO_CONTENT;
        return ("OPTIONS", resp);
    }
    let mut pattern = "unmatched";
    // One deadline covers the key fetch of authentication and the route.
    let deadline = tokio::time::Instant::now() + ctx.settings.limits.request_timeout;
    let result = async {
        let mut api_req = ApiRequest::from_lambda(req, request_id)?;
        let route = route(&api_req.method, &api_req.segments)?;
        pattern = route.pattern();
        if let (Some(auth), false) = (&ctx.auth, route == Route::Health) {
            let caller = tokio::time::timeout_at(deadline, authorize(auth, req, &route))
                .await
                .map_err(|_| past_deadline())??;
            api_req.caller = Some(caller);
        }
        // Boxed: route futures hold SDK futures and are large.
        tokio::time::timeout_at(deadline, Box::pin(dispatch(ctx, &route, &api_req)))
            .await
            .map_err(|_| past_deadline())?
    }
    .await;
    let resp = match result {
        Ok(reply) => reply.into_response(),
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!(route = pattern, error = %err, "request failed");
            }
            let mut resp = json_response(err.status(), &err.body());
            for (name, value) in err.headers() {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    resp.headers_mut().insert(name, value);
                }
            }
            resp
        }
    };
    (pattern, resp)
}

fn past_deadline() -> ApiError {
    ApiError::Unavailable("request deadline passed".into())
}

/// The verified caller of a request, allowed to use `route`.
async fn authorize(auth: &Authenticator, req: &Request, route: &Route) -> ApiResult<Caller> {
    let header = req
        .headers()
        .get("authorization")
        .map(HeaderValue::as_bytes);
    let caller = auth.authenticate(header).await.map_err(|rejection| {
        tracing::info!(
            route = route.pattern(),
            reason = rejection.reason(),
            "request not authenticated"
        );
        ApiError::from(rejection)
    })?;
    if route.admin_only() && !caller.is_admin() {
        return Err(ApiError::Forbidden(
            "This action needs the admin group".into(),
        ));
    }
    Ok(caller)
}

/// The handler the Lambda runtime, the local server and the tests all call.
pub async fn handle(ctx: &Context, req: Request) -> Response<Body> {
    handle_counted(ctx, req).await.0
}

/// [`handle`], also returning the AWS calls the request made.
pub async fn handle_counted(ctx: &Context, req: Request) -> (Response<Body>, CallCounts) {
    let started = Instant::now();
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ((pattern, mut resp), calls) =
        aws_calls::scope(Box::pin(run(ctx, &req, &request_id))).await;
    add_cors(ctx, &mut resp);
    log_request(&request_id, pattern, resp.status(), started, &calls);
    (resp, calls)
}

fn add_cors(ctx: &Context, resp: &mut Response<Body>) {
    let headers = resp.headers_mut();
    let origin =
        HeaderValue::from_str(&ctx.settings.cors_origin).unwrap_or(HeaderValue::from_static("*"));
    headers.insert("access-control-allow-origin", origin);
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET,POST,PUT,PATCH,DELETE,OPTIONS"),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Content-Type,Authorization"),
    );
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("x-next-cursor,retry-after,www-authenticate"),
    );
}

fn log_request(
    request_id: &str,
    pattern: &str,
    status: StatusCode,
    started: Instant,
    calls: &CallCounts,
) {
    tracing::info!(
        request_id = %request_id,
        route = pattern,
        status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        ddb_calls = calls.service_total("DynamoDB"),
        s3_calls = calls.service_total("S3"),
        aws_calls = %calls,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        crate::http::path_segments(path).unwrap()
    }

    #[test]
    fn known_paths_route_to_their_handlers() {
        assert_eq!(
            route(&Method::GET, &segs("/health")).unwrap(),
            Route::Health
        );
        assert_eq!(
            route(&Method::GET, &segs("/patients/by-mrn/M1")).unwrap(),
            Route::PatientByMrn { mrn: "M1".into() }
        );
        assert_eq!(
            route(&Method::POST, &segs("/patients/u1/documents/attach/")).unwrap(),
            Route::DocumentsAttach { id: "u1".into() }
        );
        assert_eq!(
            route(&Method::GET, &segs("/patients")).unwrap(),
            Route::PatientList
        );
        assert_eq!(
            route(&Method::PUT, &segs("/patients/u1")).unwrap(),
            Route::PatientUpdate { id: "u1".into() }
        );
        assert_eq!(
            route(&Method::PATCH, &segs("/patients/M%201/state")).unwrap(),
            Route::PatientState { id: "M 1".into() }
        );
        assert_eq!(
            route(&Method::DELETE, &segs("/checklists/preop/intraop")).unwrap(),
            Route::ChecklistDelete {
                from: "preop".into(),
                to: "intraop".into()
            }
        );
        assert_eq!(
            route(&Method::POST, &segs("/patients/u1/files/presign-upload")).unwrap(),
            Route::FilesPresignUpload { id: "u1".into() }
        );
    }

    #[test]
    fn wrong_method_is_405_and_unknown_path_is_404() {
        let err = route(&Method::PATCH, &segs("/patients/u1")).unwrap_err();
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        let err = route(&Method::POST, &segs("/checklists/a/b")).unwrap_err();
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        let err = route(&Method::DELETE, &segs("/health")).unwrap_err();
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        let err = route(&Method::GET, &segs("/patients/u1/documents/attach")).unwrap_err();
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        let err = route(&Method::GET, &segs("/nope")).unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        let err = route(&Method::GET, &segs("/patients/u1/documents/x/y")).unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn notes_routes_share_paths_by_method() {
        // Given the notes paths of one patient
        let notes = segs("/patients/M-1/notes/");
        let note = segs("/patients/u1/notes/n1");
        // Then each method picks its route, with decoded path values
        assert_eq!(
            route(&Method::GET, &notes).unwrap(),
            Route::NotesList { id: "M-1".into() }
        );
        assert_eq!(
            route(&Method::POST, &notes).unwrap(),
            Route::NoteCreate { id: "M-1".into() }
        );
        assert_eq!(
            route(&Method::PATCH, &note).unwrap(),
            Route::NoteEdit {
                id: "u1".into(),
                note_id: "n1".into()
            }
        );
        assert_eq!(
            route(&Method::DELETE, &note).unwrap(),
            Route::NoteDelete {
                id: "u1".into(),
                note_id: "n1".into()
            }
        );
        for (path, action) in [
            ("/patients/u1/notes/n1/files/attach", FileAction::Attach),
            ("/patients/u1/notes/n1/files/detach/", FileAction::Detach),
        ] {
            assert_eq!(
                route(&Method::POST, &segs(path)).unwrap(),
                Route::NoteFiles {
                    id: "u1".into(),
                    note_id: "n1".into(),
                    action
                }
            );
        }
    }

    #[test]
    fn meds_routes_share_paths_by_method() {
        let meds = segs("/patients/u1/meds");
        let med = segs("/patients/u1/meds/m1");
        assert_eq!(
            route(&Method::GET, &meds).unwrap(),
            Route::MedsList { id: "u1".into() }
        );
        assert_eq!(
            route(&Method::POST, &meds).unwrap(),
            Route::MedCreate { id: "u1".into() }
        );
        let ids = || ("u1".to_string(), "m1".to_string());
        let (id, med_id) = ids();
        assert_eq!(
            route(&Method::PATCH, &med).unwrap(),
            Route::MedEdit { id, med_id }
        );
        let (id, med_id) = ids();
        assert_eq!(
            route(&Method::DELETE, &med).unwrap(),
            Route::MedStop { id, med_id }
        );
        let (id, med_id) = ids();
        assert_eq!(
            route(&Method::POST, &segs("/patients/u1/meds/m1/files/detach")).unwrap(),
            Route::MedFiles {
                id,
                med_id,
                action: FileAction::Detach
            }
        );
    }

    #[test]
    fn notes_and_meds_wrong_method_is_405_and_unknown_action_is_404() {
        let status = |m: Method, p: &str| route(&m, &segs(p)).unwrap_err().status();
        for (m, p) in [
            (Method::DELETE, "/patients/u1/notes"),
            (Method::PUT, "/patients/u1/notes"),
            (Method::GET, "/patients/u1/notes/n1"),
            (Method::POST, "/patients/u1/notes/n1"),
            (Method::GET, "/patients/u1/notes/n1/files/attach"),
            (Method::PATCH, "/patients/u1/meds"),
            (Method::GET, "/patients/u1/meds/m1"),
            (Method::DELETE, "/patients/u1/meds/m1/files/detach"),
        ] {
            assert_eq!(
                status(m.clone(), p),
                StatusCode::METHOD_NOT_ALLOWED,
                "{m} {p}"
            );
        }
        for (m, p) in [
            (Method::POST, "/patients/u1/notes/n1/files/remove"),
            (Method::GET, "/patients/u1/notes/n1/files/remove"),
            (Method::POST, "/patients/u1/meds/m1/files/x"),
            (Method::POST, "/patients/u1/notes/n1/files"),
            (Method::GET, "/patients/u1/meds/m1/extra"),
        ] {
            assert_eq!(status(m.clone(), p), StatusCode::NOT_FOUND, "{m} {p}");
        }
    }

    #[test]
    fn notes_and_meds_patterns_never_carry_path_values() {
        for (m, p) in [
            (Method::PATCH, "/patients/SECRET/notes/NOTEID"),
            (Method::POST, "/patients/SECRET/notes/NOTEID/files/attach"),
            (Method::DELETE, "/patients/SECRET/meds/MEDID"),
            (Method::POST, "/patients/SECRET/meds/MEDID/files/detach"),
        ] {
            let pattern = route(&m, &segs(p)).unwrap().pattern();
            assert!(
                !pattern.contains("SECRET") && !pattern.contains("ID"),
                "{pattern}"
            );
            assert!(pattern.starts_with(m.as_str()), "{pattern}");
        }
    }

    #[test]
    fn task_routes_match_their_methods() {
        // Given the task paths
        let list = segs("/patients/M1/tasks/");
        let one = segs("/patients/u1/tasks/t1");
        // Then each method picks its route
        assert_eq!(
            route(&Method::GET, &list).unwrap(),
            Route::TaskList { id: "M1".into() }
        );
        assert_eq!(
            route(&Method::POST, &list).unwrap(),
            Route::TaskCreate { id: "M1".into() }
        );
        assert_eq!(
            route(&Method::PATCH, &one).unwrap(),
            Route::TaskUpdate {
                id: "u1".into(),
                task_id: "t1".into()
            }
        );
        assert_eq!(
            route(&Method::DELETE, &one).unwrap(),
            Route::TaskDelete {
                id: "u1".into(),
                task_id: "t1".into()
            }
        );
        assert_eq!(
            route(&Method::GET, &segs("/tasks")).unwrap(),
            Route::TaskDashboard
        );
        let attach = route(&Method::POST, &segs("/patients/u1/tasks/t1/files/detach")).unwrap();
        assert_eq!(
            attach,
            Route::TaskFiles {
                id: "u1".into(),
                task_id: "t1".into(),
                action: FileAction::Detach
            }
        );
        assert_eq!(
            attach.pattern(),
            "POST /patients/{id}/tasks/{taskId}/files/detach"
        );
        // And other methods are 405, other file actions 404
        for (m, path) in [
            (Method::PUT, "/patients/u1/tasks"),
            (Method::GET, "/patients/u1/tasks/t1"),
            (Method::POST, "/patients/u1/tasks/t1"),
            (Method::GET, "/patients/u1/tasks/t1/files/attach"),
            (Method::POST, "/tasks"),
        ] {
            let err = route(&m, &segs(path)).unwrap_err();
            assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
        }
        let err = route(&Method::POST, &segs("/patients/u1/tasks/t1/files/remove")).unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn doctor_routes_match_their_methods() {
        assert_eq!(
            route(&Method::GET, &segs("/doctors")).unwrap(),
            Route::DoctorList
        );
        assert_eq!(
            route(&Method::POST, &segs("/doctors/")).unwrap(),
            Route::DoctorCreate
        );
        let d = segs("/doctors/dr.a%40x.org");
        let id = || "dr.a@x.org".to_string();
        assert_eq!(
            route(&Method::GET, &d).unwrap(),
            Route::DoctorGet { doctor_id: id() }
        );
        assert_eq!(
            route(&Method::PATCH, &d).unwrap(),
            Route::DoctorUpdate { doctor_id: id() }
        );
        assert_eq!(
            route(&Method::DELETE, &d).unwrap(),
            Route::DoctorDelete { doctor_id: id() }
        );
        assert_eq!(
            route(&Method::DELETE, &segs("/doctors"))
                .unwrap_err()
                .status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            route(&Method::PUT, &d).unwrap_err().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            route(&Method::GET, &segs("/doctors/d1/x"))
                .unwrap_err()
                .status(),
            StatusCode::NOT_FOUND
        );
        assert!(!route(&Method::GET, &d).unwrap().pattern().contains("x.org"));
    }

    #[test]
    fn patterns_never_carry_path_values() {
        let r = route(&Method::GET, &segs("/patients/SECRET-MRN")).unwrap();
        assert!(!r.pattern().contains("SECRET"));
    }
}

#[cfg(test)]
mod spec_tests {
    //! The router and `openapi.yaml` must list the same routes.

    use std::collections::BTreeSet;

    use super::*;

    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

    /// `METHOD /path/{param}` of every operation under `paths:` in the spec.
    fn spec_operations() -> BTreeSet<String> {
        let spec = include_str!("../openapi.yaml");
        let mut ops = BTreeSet::new();
        let mut in_paths = false;
        let mut path: Option<String> = None;
        for line in spec.lines() {
            if !line.starts_with(' ') && !line.is_empty() {
                in_paths = line.trim_end() == "paths:";
                continue;
            }
            if !in_paths {
                continue;
            }
            if let Some(p) = line
                .strip_prefix("  /")
                .and_then(|l| l.trim_end().strip_suffix(':'))
            {
                path = Some(format!("/{p}"));
            } else if let (Some(p), Some(m)) = (
                &path,
                line.strip_prefix("    ")
                    .and_then(|l| l.trim_end().strip_suffix(':')),
            ) {
                if METHODS.contains(&m) {
                    ops.insert(format!("{} {p}", m.to_uppercase()));
                }
            }
        }
        ops
    }

    /// Every pattern string the router names, with `{action}` expanded.
    fn router_patterns() -> BTreeSet<String> {
        let source = include_str!("router.rs");
        let body = source
            .split("pub fn pattern(&self)")
            .nth(1)
            .unwrap_or_default();
        let body = body.split("pub fn route(").next().unwrap_or_default();
        let mut out = BTreeSet::new();
        for literal in body.split('"').skip(1).step_by(2) {
            if literal.contains("{action}") {
                out.insert(literal.replace("{action}", "attach"));
                out.insert(literal.replace("{action}", "detach"));
            } else {
                out.insert(literal.to_string());
            }
        }
        out
    }

    fn shape(op: &str) -> String {
        let mut out = String::new();
        let mut in_param = false;
        for c in op.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push_str("{}");
                }
                '}' => in_param = false,
                _ if !in_param => out.push(c),
                _ => {}
            }
        }
        out.replace("{uid}", "{}")
    }

    #[test]
    fn every_spec_operation_routes_to_its_own_pattern() {
        let ops = spec_operations();
        assert!(ops.len() > 20, "spec parsed: {ops:?}");
        for op in &ops {
            let (method, path) = op.split_once(' ').unwrap();
            let sample = path.replace('{', "x").replace('}', "");
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let route = route(&method, &crate::http::path_segments(&sample).unwrap())
                .unwrap_or_else(|e| panic!("{op} is not routed: {e}"));
            let pattern = route
                .pattern()
                .replace("{action}", path.rsplit('/').next().unwrap());
            assert_eq!(
                shape(&pattern),
                shape(op),
                "{op} routes to {}",
                route.pattern()
            );
        }
    }

    #[test]
    fn every_router_pattern_is_in_the_spec() {
        let spec: BTreeSet<String> = spec_operations().iter().map(|o| shape(o)).collect();
        let patterns = router_patterns();
        assert!(patterns.len() > 10, "{patterns:?}");
        for p in patterns {
            assert!(
                spec.contains(&shape(&p)),
                "{p} is missing from openapi.yaml"
            );
        }
    }
}

#[cfg(test)]
mod properties {
    //! Any method and path is a route or a 4xx, and a route's pattern names
    //! its method.

    use lambda_http::http::Method;
    use proptest::prelude::*;

    use super::route;
    use crate::http;
    use crate::proptest_support::{config, is_client_error};

    fn path() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            prop::sample::select(vec![
                "patients",
                "by-mrn",
                "documents",
                "attach",
                "files",
                "notes",
                "meds",
                "tasks",
                "doctors",
                "checklists",
                "audit",
                "state",
                "health",
                "u1",
                "..",
                "%2F",
                "%",
            ])
            .prop_map(String::from),
            any::<String>(),
        ];
        prop::collection::vec(segment, 0..8).prop_map(|s| format!("/{}", s.join("/")))
    }

    fn method() -> impl Strategy<Value = Method> {
        prop_oneof![
            Just(Method::GET),
            Just(Method::POST),
            Just(Method::PUT),
            Just(Method::PATCH),
            Just(Method::DELETE),
            Just(Method::HEAD),
            "[A-Z]{1,8}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap_or(Method::TRACE)),
        ]
    }

    proptest! {
        #![proptest_config(config())]

    #[test]
        fn routing_any_path_is_a_route_or_a_4xx(method in method(), path in path()) {
            match http::path_segments(&path) {
                Ok(segments) => {
                    let routed = route(&method, &segments);
                    prop_assert!(is_client_error(&routed));
                    if let Ok(route) = routed {
                        prop_assert!(route.pattern().starts_with(method.as_str()));
                    }
                }
                Err(e) => prop_assert!(e.status().is_client_error()),
            }
        }
    }
}
