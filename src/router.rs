//! The router. Each domain lists its routes once, in its own `ROUTES` of
//! `http::route::Route`s: the pattern (`METHOD /path/{param}`, also the
//! route's name in logs and in `openapi.yaml`), who may call it and its
//! handler. This module gathers the tables and finds the route a request
//! names: 404 for an unknown path, 405 for a known path with another method.
//! It holds no domain logic.

use lambda_http::http::Method;

use crate::error::{ApiError, ApiResult};
use crate::http::route::{Params, Route};
use crate::http::Reply;
use crate::{checklists, discharge, doctors, documents, files, meds, notes, patients, tasks};

/// `GET /health`
const HEALTH: &[Route] = &[Route::public("GET /health", |_, _, _| {
    Box::pin(async {
        Ok(Reply::ok(
            serde_json::json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}),
        ))
    })
})];

/// Every domain's routes.
const TABLES: [&[Route]; 10] = [
    HEALTH,
    patients::ROUTES,
    checklists::ROUTES,
    files::ROUTES,
    documents::ROUTES,
    discharge::ROUTES,
    notes::ROUTES,
    meds::ROUTES,
    tasks::ROUTES,
    doctors::ROUTES,
];

/// Every route of the API.
pub fn routes() -> impl Iterator<Item = &'static Route> {
    TABLES.iter().flat_map(|table| table.iter())
}

/// The route for `method` on `segments`, with the path's values.
pub fn route(method: &Method, segments: &[String]) -> ApiResult<(&'static Route, Params)> {
    let mut best: Option<Vec<bool>> = None;
    let mut found = None;
    for route in routes() {
        let Some((specificity, params)) = route.matches(segments) else {
            continue;
        };
        if best.as_ref().is_some_and(|b| *b > specificity) {
            continue;
        }
        if best.as_ref() != Some(&specificity) {
            // A more specific path: forget routes of less specific ones.
            best = Some(specificity);
            found = None;
        }
        if route.method() == method.as_str() {
            found = Some((route, params));
        }
    }
    match (found, best) {
        (Some(found), _) => Ok(found),
        (None, Some(_)) => Err(ApiError::MethodNotAllowed),
        (None, None) => Err(ApiError::not_found("Not found")),
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::StatusCode;

    use super::*;
    use crate::http::route::Access;

    fn segs(path: &str) -> Vec<String> {
        crate::http::path_segments(path).unwrap()
    }

    /// The pattern and the path's values `method path` routes to.
    fn routed(method: Method, path: &str) -> (&'static str, Vec<(&'static str, String)>) {
        let (route, params) = route(&method, &segs(path)).unwrap();
        (route.pattern, params.0)
    }

    fn status(method: Method, path: &str) -> StatusCode {
        route(&method, &segs(path)).unwrap_err().status()
    }

    fn values(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(n, v)| (*n, v.to_string())).collect()
    }

    #[test]
    fn known_paths_route_to_their_handlers() {
        for (method, path, pattern, params) in [
            (Method::GET, "/health", "GET /health", values(&[])),
            (
                Method::GET,
                "/patients/by-mrn/M1",
                "GET /patients/by-mrn/{mrn}",
                values(&[("mrn", "M1")]),
            ),
            (
                Method::POST,
                "/patients/u1/documents/attach/",
                "POST /patients/{id}/documents/attach",
                values(&[("id", "u1")]),
            ),
            (Method::GET, "/patients", "GET /patients", values(&[])),
            (
                Method::PUT,
                "/patients/u1",
                "PUT /patients/{id}",
                values(&[("id", "u1")]),
            ),
            (
                Method::PATCH,
                "/patients/M%201/state",
                "PATCH /patients/{id}/state",
                values(&[("id", "M 1")]),
            ),
            (
                Method::DELETE,
                "/checklists/preop/intraop",
                "DELETE /checklists/{from}/{to}",
                values(&[("from", "preop"), ("to", "intraop")]),
            ),
            (
                Method::POST,
                "/patients/u1/files/presign-upload",
                "POST /patients/{id}/files/presign-upload",
                values(&[("id", "u1")]),
            ),
        ] {
            assert_eq!(routed(method, path), (pattern, params), "{path}");
        }
    }

    #[test]
    fn wrong_method_is_405_and_unknown_path_is_404() {
        for (m, p) in [
            (Method::PATCH, "/patients/u1"),
            (Method::POST, "/checklists/a/b"),
            (Method::DELETE, "/health"),
            (Method::GET, "/patients/u1/documents/attach"),
            // A literal segment beats a parameter: this is the by-MRN path.
            (Method::PATCH, "/patients/by-mrn/state"),
        ] {
            assert_eq!(
                status(m.clone(), p),
                StatusCode::METHOD_NOT_ALLOWED,
                "{m} {p}"
            );
        }
        for p in ["/nope", "/patients/u1/documents/x/y"] {
            assert_eq!(status(Method::GET, p), StatusCode::NOT_FOUND, "{p}");
        }
    }

    #[test]
    fn notes_routes_share_paths_by_method() {
        // Given the notes paths of one patient
        let (notes, note) = ("/patients/M-1/notes/", "/patients/u1/notes/n1");
        let ids = values(&[("id", "u1"), ("noteId", "n1")]);
        // Then each method picks its route, with decoded path values
        assert_eq!(
            routed(Method::GET, notes),
            ("GET /patients/{id}/notes", values(&[("id", "M-1")]))
        );
        assert_eq!(
            routed(Method::POST, notes),
            ("POST /patients/{id}/notes", values(&[("id", "M-1")]))
        );
        assert_eq!(
            routed(Method::PATCH, note),
            ("PATCH /patients/{id}/notes/{noteId}", ids.clone())
        );
        assert_eq!(
            routed(Method::DELETE, note),
            ("DELETE /patients/{id}/notes/{noteId}", ids.clone())
        );
        for (path, pattern) in [
            (
                "/patients/u1/notes/n1/files/attach",
                "POST /patients/{id}/notes/{noteId}/files/attach",
            ),
            (
                "/patients/u1/notes/n1/files/detach/",
                "POST /patients/{id}/notes/{noteId}/files/detach",
            ),
        ] {
            assert_eq!(routed(Method::POST, path), (pattern, ids.clone()));
        }
    }

    #[test]
    fn meds_routes_share_paths_by_method() {
        let (meds, med) = ("/patients/u1/meds", "/patients/u1/meds/m1");
        let ids = values(&[("id", "u1"), ("medId", "m1")]);
        assert_eq!(routed(Method::GET, meds).0, "GET /patients/{id}/meds");
        assert_eq!(routed(Method::POST, meds).0, "POST /patients/{id}/meds");
        assert_eq!(
            routed(Method::PATCH, med),
            ("PATCH /patients/{id}/meds/{medId}", ids.clone())
        );
        assert_eq!(
            routed(Method::DELETE, med),
            ("DELETE /patients/{id}/meds/{medId}", ids.clone())
        );
        assert_eq!(
            routed(Method::POST, "/patients/u1/meds/m1/files/detach"),
            ("POST /patients/{id}/meds/{medId}/files/detach", ids)
        );
    }

    #[test]
    fn notes_and_meds_wrong_method_is_405_and_unknown_action_is_404() {
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
    fn task_routes_match_their_methods() {
        // Given the task paths
        let (list, one) = ("/patients/M1/tasks/", "/patients/u1/tasks/t1");
        let ids = values(&[("id", "u1"), ("taskId", "t1")]);
        // Then each method picks its route
        assert_eq!(routed(Method::GET, list).0, "GET /patients/{id}/tasks");
        assert_eq!(routed(Method::POST, list).0, "POST /patients/{id}/tasks");
        assert_eq!(
            routed(Method::PATCH, one),
            ("PATCH /patients/{id}/tasks/{taskId}", ids.clone())
        );
        assert_eq!(
            routed(Method::DELETE, one),
            ("DELETE /patients/{id}/tasks/{taskId}", ids.clone())
        );
        assert_eq!(routed(Method::GET, "/tasks").0, "GET /tasks");
        assert_eq!(
            routed(Method::POST, "/patients/u1/tasks/t1/files/detach"),
            ("POST /patients/{id}/tasks/{taskId}/files/detach", ids)
        );
        // And other methods are 405, other file actions 404
        for (m, path) in [
            (Method::PUT, "/patients/u1/tasks"),
            (Method::GET, "/patients/u1/tasks/t1"),
            (Method::POST, "/patients/u1/tasks/t1"),
            (Method::GET, "/patients/u1/tasks/t1/files/attach"),
            (Method::POST, "/tasks"),
        ] {
            assert_eq!(
                status(m.clone(), path),
                StatusCode::METHOD_NOT_ALLOWED,
                "{m} {path}"
            );
        }
        assert_eq!(
            status(Method::POST, "/patients/u1/tasks/t1/files/remove"),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn doctor_routes_match_their_methods() {
        assert_eq!(routed(Method::GET, "/doctors").0, "GET /doctors");
        assert_eq!(routed(Method::POST, "/doctors/").0, "POST /doctors");
        let d = "/doctors/dr.a%40x.org";
        let id = values(&[("doctorId", "dr.a@x.org")]);
        for (m, pattern) in [
            (Method::GET, "GET /doctors/{doctorId}"),
            (Method::PATCH, "PATCH /doctors/{doctorId}"),
            (Method::DELETE, "DELETE /doctors/{doctorId}"),
        ] {
            assert_eq!(routed(m, d), (pattern, id.clone()));
        }
        assert_eq!(
            status(Method::DELETE, "/doctors"),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(status(Method::PUT, d), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(status(Method::GET, "/doctors/d1/x"), StatusCode::NOT_FOUND);
    }

    #[test]
    fn patterns_never_carry_path_values() {
        for (m, p) in [
            (Method::GET, "/patients/SECRET-MRN"),
            (Method::PATCH, "/patients/SECRET/notes/NOTEID"),
            (Method::POST, "/patients/SECRET/notes/NOTEID/files/attach"),
            (Method::DELETE, "/patients/SECRET/meds/MEDID"),
            (Method::POST, "/patients/SECRET/meds/MEDID/files/detach"),
            (Method::GET, "/doctors/dr.a%40x.org"),
        ] {
            let pattern = routed(m.clone(), p).0;
            assert!(
                !pattern.contains("SECRET")
                    && !pattern.contains("ID")
                    && !pattern.contains("x.org"),
                "{pattern}"
            );
            assert!(pattern.starts_with(m.as_str()), "{pattern}");
        }
    }

    #[test]
    fn the_route_table_is_well_formed() {
        // Given every route of every domain
        let mut seen = std::collections::BTreeSet::new();
        for route in routes() {
            // Then each pattern is unique, names a method, and its
            // parameters are distinct
            assert!(seen.insert(route.pattern), "{route:?} twice");
            assert!(
                Method::from_bytes(route.method().as_bytes()).is_ok(),
                "{route:?}"
            );
            let names: Vec<&str> = route.path().filter(|p| p.starts_with('{')).collect();
            let unique: std::collections::BTreeSet<_> = names.iter().collect();
            assert_eq!(names.len(), unique.len(), "{route:?}");
        }
        // And only shared configuration needs the admin group
        let admin: Vec<&str> = routes()
            .filter(|r| r.access == Access::Configure)
            .map(|r| r.pattern)
            .collect();
        assert_eq!(
            admin,
            [
                "PUT /checklists/{from}/{to}",
                "DELETE /checklists/{from}/{to}",
                "POST /doctors",
                "PATCH /doctors/{doctorId}",
                "DELETE /doctors/{doctorId}",
            ]
        );
        let public: Vec<&str> = routes()
            .filter(|r| r.access == Access::Public)
            .map(|r| r.pattern)
            .collect();
        assert_eq!(public, ["GET /health"]);
        // And every route of one patient meets the patient's admission: a
        // read needs a read access, anything else a write or an admin's
        for route in routes() {
            let one_patient = route.pattern.contains("/patients/{id}")
                || route.pattern.contains("/patients/by-mrn/");
            assert_eq!(route.access.patient_scoped(), one_patient, "{route:?}");
            if one_patient {
                let reads = matches!(
                    route.access,
                    Access::Read | Access::SharedRead | Access::Ledger
                );
                // (a presigned download is a read sent as a POST)
                let read_method =
                    route.method() == "GET" || route.pattern.ends_with("/presign-download");
                assert_eq!(reads, read_method, "{route:?}");
            }
        }
    }
}

#[cfg(test)]
mod spec_tests {
    //! The route table and `openapi.yaml` list the same operations.

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

    /// An operation with its parameter names blanked (`{id}` and `{uid}`
    /// name the same segment).
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
        out
    }

    #[test]
    fn every_spec_operation_routes_to_its_own_pattern() {
        let ops = spec_operations();
        assert!(ops.len() > 20, "spec parsed: {ops:?}");
        for op in &ops {
            let (method, path) = op.split_once(' ').unwrap();
            let sample = path.replace('{', "x").replace('}', "");
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let (route, _) = route(&method, &crate::http::path_segments(&sample).unwrap())
                .unwrap_or_else(|e| panic!("{op} is not routed: {e}"));
            assert_eq!(shape(route.pattern), shape(op), "{op} routes to {route:?}");
        }
    }

    #[test]
    fn every_route_is_in_the_spec() {
        let spec: BTreeSet<String> = spec_operations().iter().map(|o| shape(o)).collect();
        assert!(routes().count() > 10);
        for route in routes() {
            assert!(
                spec.contains(&shape(route.pattern)),
                "{route:?} is missing from openapi.yaml"
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
                    if let Ok((route, _)) = routed {
                        prop_assert!(route.pattern.starts_with(method.as_str()));
                    }
                }
                Err(e) => prop_assert!(e.status().is_client_error()),
            }
        }
    }
}
