//! The router: a `match` on method and path segments. It holds no domain
//! logic: it names the route, calls its module, turns errors into responses,
//! adds CORS headers and logs one line per request (no PHI: route patterns,
//! never path values).

use std::time::Instant;

use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::attachments::FileAction;
use crate::aws_calls::{self, CallCounts};
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{json_response, ApiRequest, Reply};
use crate::{documents, files, meds, notes, patients};

/// A matched route with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    PatientCreate,
    PatientGet {
        id: String,
    },
    PatientByMrn {
        mrn: String,
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
}

impl Route {
    /// The route's pattern, used in logs instead of the (identifying) path.
    pub fn pattern(&self) -> &'static str {
        match self {
            Route::Health => "GET /health",
            Route::PatientCreate => "POST /patients",
            Route::PatientGet { .. } => "GET /patients/{id}",
            Route::PatientByMrn { .. } => "GET /patients/by-mrn/{mrn}",
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
        }
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
    // One path, several methods (e.g. GET and POST on a collection).
    let either = |routes: Vec<(Method, Route)>| {
        routes
            .into_iter()
            .find(|(allowed, _)| allowed == method)
            .map(|(_, route)| route)
            .ok_or(ApiError::MethodNotAllowed)
    };
    let id = |s: &str| s.to_string();
    // `files/{action}` names a route only for attach and detach.
    let file_action =
        |s: &str| FileAction::parse(s).ok_or_else(|| ApiError::not_found("Not found"));
    match segs.as_slice() {
        ["health"] => only(Method::GET, Route::Health),
        ["patients"] => only(Method::POST, Route::PatientCreate),
        ["patients", "by-mrn", mrn] => only(Method::GET, Route::PatientByMrn { mrn: id(mrn) }),
        ["patients", p] => only(Method::GET, Route::PatientGet { id: id(p) }),
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
        ["patients", p, "notes"] => either(vec![
            (Method::GET, Route::NotesList { id: id(p) }),
            (Method::POST, Route::NoteCreate { id: id(p) }),
        ]),
        ["patients", p, "notes", n] => either(vec![
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
        ["patients", p, "meds"] => either(vec![
            (Method::GET, Route::MedsList { id: id(p) }),
            (Method::POST, Route::MedCreate { id: id(p) }),
        ]),
        ["patients", p, "meds", m] => either(vec![
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
        _ => Err(ApiError::not_found("Not found")),
    }
}

async fn dispatch(ctx: &Context, route: &Route, req: &ApiRequest) -> ApiResult<Reply> {
    match route {
        Route::Health => Ok(Reply::ok(
            serde_json::json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}),
        )),
        Route::PatientCreate => patients::create::create(ctx, req).await,
        Route::PatientGet { id } | Route::PatientByMrn { mrn: id } => {
            patients::read::get(ctx, id).await
        }
        Route::FilesPresignUpload { id } => files::upload::presign_upload(ctx, id, req).await,
        Route::FilesList { id } => files::list::list(ctx, id, req).await,
        Route::FilesPresignDownload { id } => files::download::presign_download(ctx, id, req).await,
        Route::FilesDelete { id } => files::delete::delete(ctx, id, req).await,
        Route::DocumentsGet { id } => documents::get(ctx, id).await,
        Route::DocumentsInit { id } => documents::init(ctx, id).await,
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
    }
}

/// Routes and runs one request; never fails (every error becomes a response).
async fn run(ctx: &Context, req: &Request) -> (&'static str, Response<Body>) {
    if req.method() == Method::OPTIONS {
        let mut resp = Response::new(Body::Empty);
        *resp.status_mut() = StatusCode::NO_CONTENT;
        return ("OPTIONS", resp);
    }
    let mut pattern = "unmatched";
    let result = async {
        let api_req = ApiRequest::from_lambda(req)?;
        let route = route(&api_req.method, &api_req.segments)?;
        pattern = route.pattern();
        // Boxed: route futures hold SDK futures and are large.
        Box::pin(dispatch(ctx, &route, &api_req)).await
    }
    .await;
    let resp = match result {
        Ok(reply) => reply.into_response(),
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!(route = pattern, error = %err, "request failed");
            }
            json_response(err.status(), &err.body())
        }
    };
    (pattern, resp)
}

/// The handler the Lambda runtime, the local server and the tests all call.
pub async fn handle(ctx: &Context, req: Request) -> Response<Body> {
    handle_counted(ctx, req).await.0
}

/// [`handle`], also returning the AWS calls the request made.
pub async fn handle_counted(ctx: &Context, req: Request) -> (Response<Body>, CallCounts) {
    let started = Instant::now();
    let ((pattern, mut resp), calls) = aws_calls::scope(Box::pin(run(ctx, &req))).await;
    add_cors(ctx, &mut resp);
    log_request(&req, pattern, resp.status(), started, &calls);
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
        HeaderValue::from_static("x-next-cursor"),
    );
}

fn log_request(
    req: &Request,
    pattern: &str,
    status: StatusCode,
    started: Instant,
    calls: &CallCounts,
) {
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
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
            route(&Method::POST, &segs("/patients/u1/files/presign-upload")).unwrap(),
            Route::FilesPresignUpload { id: "u1".into() }
        );
    }

    #[test]
    fn wrong_method_is_405_and_unknown_path_is_404() {
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
    fn patterns_never_carry_path_values() {
        let r = route(&Method::GET, &segs("/patients/SECRET-MRN")).unwrap();
        assert!(!r.pattern().contains("SECRET"));
    }
}
