//! Who may do what, in one place. Each route declares one [`Access`] in its
//! domain's `ROUTES`; with authentication on, the pipeline turns the
//! caller's token and that access into a [`Grant`] before the handler runs
//! (403 here, before any read or write), and every patient-scoped route
//! meets [`admit`] when `patients::resolve` has read the patient, before
//! anything is written.
//!
//! Roles and departments come from the token's `cognito:groups`:
//!
//! | group | may |
//! |---|---|
//! | `admin` | change checklist rules and doctors; correct registrations (`mrn-history`, `mrn-overwrite`) and read the audit ledger of any patient; force a stage change; edit or delete anyone's note; otherwise as `clinician` |
//! | `clinician` | read and write patients of their departments |
//! | `readonly` | read patients of their departments |
//! | `reviewer` | read patients whose `govShare` is true (patient, documents, discharge summary, file links), nothing else |
//! | `dept:<Department>` | the departments above (the department as stored on the patient, any case) |
//!
//! **Break-glass**: a clinician (or admin) opens a patient outside their
//! departments by stating why in `X-Break-Glass-Reason` (1–500 characters).
//! The access is allowed and every ledger entry of the request carries the
//! reason. It does not cover moving the patient to another department
//! ([`Grant::transfer`]): only staff of the patient's department, or an
//! admin, do that.
//!
//! With authentication off (local runs) every route is open.

use std::future::Future;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// The header a clinician states a break-glass reason in.
pub const BREAK_GLASS_HEADER: &str = "x-break-glass-reason";
/// The longest break-glass reason, in characters.
pub const MAX_BREAK_GLASS_CHARS: usize = 500;

/// A role group of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Admin,
    Clinician,
    Readonly,
    Reviewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Clinician, Role::Readonly, Role::Reviewer];

    pub fn group(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Readonly => "readonly",
            Role::Reviewer => "reviewer",
        }
    }
}

/// The prefix of a department group.
pub const DEPARTMENT_GROUP_PREFIX: &str = "dept:";

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Reference data (checklist rules, doctors): any staff role.
    Reference,
    /// Changes to shared configuration (checklist rules, doctors): admin.
    Configure,
    /// Lists of patients or of their tasks: the caller's departments (a
    /// reviewer: shared patients).
    List,
    /// Registering a patient: a clinician of the patient's department.
    Register,
    /// Reading a patient's record: staff of the patient's department.
    Read,
    /// Reading what a government reviewer may see of a shared patient.
    SharedRead,
    /// Changing a patient's record: a clinician of the patient's department.
    Write,
    /// Registration corrections: admin, whatever the department.
    Correct,
    /// The patient's audit ledger: admin, or a clinician breaking glass.
    Ledger,
}

impl Access {
    /// The roles that may call a route of this access (before departments).
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Access::Public => &[Admin, Clinician, Readonly, Reviewer],
            Access::Reference | Access::Read => &[Admin, Clinician, Readonly],
            Access::List | Access::SharedRead => &[Admin, Clinician, Readonly, Reviewer],
            Access::Configure | Access::Correct => &[Admin],
            Access::Register | Access::Write | Access::Ledger => &[Admin, Clinician],
        }
    }

    /// Whether a route of this access acts on one patient (and so meets
    /// [`admit`] once the patient is read).
    pub fn patient_scoped(self) -> bool {
        matches!(
            self,
            Access::Read | Access::SharedRead | Access::Write | Access::Correct | Access::Ledger
        )
    }
}

/// The caller's roles and departments, from the token's groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub roles: Vec<Role>,
    /// Lower-cased department names.
    pub departments: Vec<String>,
}

impl Principal {
    pub fn of(caller: &Caller) -> Self {
        let mut roles: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| caller.groups.iter().any(|g| g == r.group()))
            .collect();
        roles.sort();
        let mut departments: Vec<String> = caller
            .groups
            .iter()
            .filter_map(|g| g.strip_prefix(DEPARTMENT_GROUP_PREFIX))
            .map(|d| d.trim().to_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        departments.sort();
        departments.dedup();
        Self {
            subject: caller.subject.clone(),
            roles,
            departments,
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn in_department(&self, department: Option<&str>) -> bool {
        department.is_some_and(|d| {
            let d = d.trim().to_lowercase();
            self.departments.contains(&d)
        })
    }
}

/// How a patient-scoped request was let in (recorded with its entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Authentication is off, or a system actor (the S3 ingest).
    Open,
    /// The patient is in one of the caller's departments.
    Department,
    /// An admin's hospital-wide function (registration, ledger).
    Hospital,
    /// A reviewer, for a shared patient.
    Shared,
    /// Outside the caller's departments, with a stated reason.
    BreakGlass,
}

/// The decision for one request: who, for which access, with which
/// break-glass reason. `principal` is `None` when authentication is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub access: Access,
    pub principal: Option<Principal>,
    pub break_glass: Option<String>,
}

impl Grant {
    /// Everything allowed: authentication off, or a system actor.
    pub fn open(access: Access) -> Self {
        Self {
            access,
            principal: None,
            break_glass: None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.principal.as_ref().is_none_or(|p| p.has(Role::Admin))
    }

    /// Whether the caller is `subject` (always, with authentication off).
    pub fn is(&self, subject: Option<&str>) -> bool {
        self.principal
            .as_ref()
            .is_none_or(|p| subject == Some(p.subject.as_str()))
    }

    /// Whether a patient of `department` (shared or not) is on this caller's
    /// lists.
    pub fn sees(&self, department: Option<&str>, gov_share: bool) -> bool {
        let Some(p) = &self.principal else {
            return true;
        };
        let staff = p.roles.iter().any(|r| *r != Role::Reviewer);
        (staff && p.in_department(department)) || (p.has(Role::Reviewer) && gov_share)
    }

    /// Whether the caller is only a reviewer (their lists hold shared
    /// patients, whatever the department).
    pub fn reviewer_only(&self) -> bool {
        self.principal
            .as_ref()
            .is_some_and(|p| p.roles.iter().all(|r| *r == Role::Reviewer))
    }

    /// A department's list (patients, tasks, doctors): staff of it only.
    pub fn list_department(&self, department: &str) -> ApiResult<()> {
        match &self.principal {
            Some(p) if self.reviewer_only() || !p.in_department(Some(department)) => {
                Err(ApiError::Forbidden(format!(
                    "You are not in this department; your departments are the {DEPARTMENT_GROUP_PREFIX}<Department> groups of your account"
                )))
            }
            _ => Ok(()),
        }
    }

    /// `GET /patients?department=`: staff of the department, or a reviewer
    /// (whatever else the caller is), whose list then holds the shared
    /// patients of it ([`Grant::sees`]).
    pub fn list_patients_of(&self, department: &str) -> ApiResult<()> {
        match &self.principal {
            Some(p) if p.has(Role::Reviewer) => Ok(()),
            _ => self.list_department(department),
        }
    }

    /// A new patient of `department`: only a clinician of it registers one.
    pub fn register_in(&self, department: Option<&str>) -> ApiResult<()> {
        match &self.principal {
            Some(p) if !p.in_department(department) => Err(ApiError::Forbidden(
                "A patient can be registered only in one of your departments".into(),
            )),
            _ => Ok(()),
        }
    }

    /// A patient moving from department `from` to `to`. Staff of `from`
    /// hand a patient over (and lose it from their lists), and an admin
    /// corrects a registration; a caller who opened the patient by
    /// break-glass may not move it, into their own departments or anywhere.
    ///
    /// The names are compared exactly: the department lists key patients by
    /// the name as stored, so even a change of case moves a patient off them.
    pub fn transfer(&self, from: Option<&str>, to: Option<&str>) -> ApiResult<()> {
        let Some(p) = &self.principal else {
            return Ok(());
        };
        if from.map(str::trim) == to.map(str::trim) || p.has(Role::Admin) || p.in_department(from) {
            return Ok(());
        }
        tracing::info!(actor = %p.subject, "department transfer refused");
        Err(ApiError::Forbidden(
            "Only staff of the patient's department (or an admin) may move it to another department; break-glass access does not cover a transfer".into(),
        ))
    }

    /// Whether this request may act on a patient of `department`.
    pub fn admit(&self, department: Option<&str>, gov_share: bool) -> ApiResult<Admission> {
        let Some(p) = &self.principal else {
            return Ok(Admission::Open);
        };
        let allowed = self.access.roles();
        let staff = p
            .roles
            .iter()
            .any(|r| *r != Role::Reviewer && allowed.contains(r));
        if matches!(self.access, Access::Correct | Access::Ledger) && p.has(Role::Admin) {
            return Ok(Admission::Hospital);
        }
        if staff && self.access != Access::Ledger && p.in_department(department) {
            return Ok(Admission::Department);
        }
        let reviewer_reads = matches!(self.access, Access::SharedRead | Access::List);
        if reviewer_reads && p.has(Role::Reviewer) && gov_share {
            return Ok(Admission::Shared);
        }
        let may_break_glass = p.has(Role::Clinician) || p.has(Role::Admin);
        if self.break_glass.is_some() && may_break_glass {
            return Ok(Admission::BreakGlass);
        }
        Err(ApiError::Forbidden(if may_break_glass {
            "This patient is outside your departments; to open the record anyway, state the reason in the X-Break-Glass-Reason header".into()
        } else {
            "This patient is outside what your account may see".into()
        }))
    }
}

/// A request's grant: the roles `access` needs, and a well-formed
/// break-glass reason if one was stated. 403 (or 400 for a malformed
/// reason) before the handler runs.
pub fn decide(
    access: Access,
    caller: Option<&Caller>,
    break_glass: Option<&str>,
) -> ApiResult<Grant> {
    let break_glass = break_glass_reason(break_glass)?;
    let Some(caller) = caller else {
        return Ok(Grant {
            break_glass,
            ..Grant::open(access)
        });
    };
    let principal = Principal::of(caller);
    let roles = access.roles();
    let mut allowed = principal.roles.iter().any(|r| roles.contains(r));
    if access == Access::Ledger && !principal.has(Role::Admin) {
        // A clinician reads the ledger only when breaking glass.
        allowed &= break_glass.is_some();
    }
    if !allowed && access != Access::Public {
        let needs: Vec<&str> = roles.iter().map(|r| r.group()).collect();
        return Err(ApiError::Forbidden(match access {
            Access::Ledger => "The audit ledger needs the admin group, or a clinician stating a reason in X-Break-Glass-Reason".into(),
            _ => format!("This action needs one of the groups: {}", needs.join(", ")),
        }));
    }
    Ok(Grant {
        access,
        principal: Some(principal),
        break_glass,
    })
}

/// The break-glass reason stated, trimmed: non-empty and at most
/// [`MAX_BREAK_GLASS_CHARS`] characters, or a 400.
pub fn break_glass_reason(raw: Option<&str>) -> ApiResult<Option<String>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "X-Break-Glass-Reason must state a reason",
        ));
    }
    if reason.chars().count() > MAX_BREAK_GLASS_CHARS {
        return Err(ApiError::bad_request(format!(
            "X-Break-Glass-Reason is longer than {MAX_BREAK_GLASS_CHARS} characters"
        )));
    }
    Ok(Some(reason.to_string()))
}

tokio::task_local! {
    static GRANT: Grant;
}

/// Runs `work` under `grant` (the pipeline, per request; the S3 ingest,
/// open). Every patient resolved inside meets [`admit_current`].
pub async fn within<F: Future>(grant: Grant, work: F) -> F::Output {
    GRANT.scope(grant, work).await
}

/// The grant of the running request. Outside [`within`] nothing is
/// allowed: every entry point states its grant.
pub fn current() -> ApiResult<Grant> {
    GRANT
        .try_with(Clone::clone)
        .map_err(|_| ApiError::Internal("no access decision for this work".into()))
}

/// [`Grant::admit`] for the running request.
pub fn admit_current(department: Option<&str>, gov_share: bool) -> ApiResult<Admission> {
    let grant = current()?;
    let admission = grant.admit(department, gov_share);
    if let (Err(_), Some(p)) = (&admission, &grant.principal) {
        tracing::info!(
            actor = %p.subject,
            access = ?grant.access,
            "patient access refused"
        );
    }
    admission
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(groups: &[&str]) -> Caller {
        Caller {
            subject: "u-1".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn roles_and_departments_come_from_groups() {
        let p = Principal::of(&caller(&[
            "clinician",
            "dept:Surgery",
            "dept: icu ",
            "Admin",
        ]));
        assert_eq!(p.roles, vec![Role::Clinician]);
        assert_eq!(
            p.departments,
            vec!["icu".to_string(), "surgery".to_string()]
        );
        assert!(p.in_department(Some("SURGERY")));
        assert!(!p.in_department(Some("Cardiology")));
        assert!(!p.in_department(None));
    }

    #[test]
    fn break_glass_reasons_are_bounded() {
        assert_eq!(break_glass_reason(None).unwrap(), None);
        assert_eq!(
            break_glass_reason(Some("  code blue ")).unwrap().as_deref(),
            Some("code blue")
        );
        assert!(break_glass_reason(Some("   ")).is_err());
        assert!(break_glass_reason(Some(&"é".repeat(500))).is_ok());
        assert!(break_glass_reason(Some(&"é".repeat(501))).is_err());
    }

    /// Every access × role (alone, in the patient's department or not,
    /// with and without break-glass, shared or not): the expected outcome
    /// is written out here independently of `Access::roles`.
    #[test]
    fn the_policy_matrix() {
        use Access::*;
        // (access, role, in department, break-glass, shared) -> allowed
        let expect = |access: Access, role: Role, dept: bool, glass: bool, shared: bool| -> bool {
            match (access, role) {
                (Public, _) => true,
                (Reference, Role::Reviewer) => false,
                (Reference, _) => true,
                (Configure, r) => r == Role::Admin,
                (List, _) => true,
                (Register, r) => matches!(r, Role::Admin | Role::Clinician),
                (Read, Role::Readonly) => dept,
                (Read | Write, Role::Admin | Role::Clinician) => dept || glass,
                (SharedRead, Role::Readonly) => dept,
                (SharedRead, Role::Reviewer) => shared,
                (SharedRead, _) => dept || glass,
                (Read | Write, Role::Reviewer) => false,
                (Write, Role::Readonly) => false,
                (Correct, r) => r == Role::Admin,
                (Ledger, Role::Admin) => true,
                (Ledger, Role::Clinician) => glass,
                (Ledger, _) => false,
            }
        };
        let all = [
            Public, Reference, Configure, List, Register, Read, SharedRead, Write, Correct, Ledger,
        ];
        let mut checked = 0;
        for access in all {
            for role in Role::ALL {
                for dept in [false, true] {
                    for glass in [false, true] {
                        for shared in [false, true] {
                            let mut groups = vec![role.group()];
                            if dept {
                                groups.push("dept:Surgery");
                            }
                            let c = caller(&groups);
                            let reason = glass.then_some("unconscious patient in ER");
                            let outcome = decide(access, Some(&c), reason).and_then(|g| {
                                if access.patient_scoped() {
                                    g.admit(Some("surgery"), shared).map(|_| ())
                                } else {
                                    Ok(())
                                }
                            });
                            assert_eq!(
                                outcome.is_ok(),
                                expect(access, role, dept, glass, shared),
                                "{access:?} {role:?} dept={dept} glass={glass} shared={shared}: {outcome:?}"
                            );
                            if let Err(e) = outcome {
                                assert_eq!(e.status().as_u16(), 403);
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 10 * 4 * 8);
    }

    #[test]
    fn without_authentication_everything_is_open() {
        let g = decide(Access::Correct, None, None).unwrap();
        assert_eq!(g.admit(Some("x"), false).unwrap(), Admission::Open);
        assert!(g.is_admin());
        assert!(g.sees(None, false));
    }

    #[test]
    fn no_groups_no_access() {
        let c = caller(&["dept:Surgery"]);
        assert!(decide(Access::Read, Some(&c), None).is_err());
        assert!(decide(Access::List, Some(&c), None).is_err());
        assert!(decide(Access::Public, Some(&c), None).is_ok());
    }

    #[test]
    fn lists_show_the_callers_departments_and_a_reviewer_shared_patients() {
        let g = decide(Access::List, Some(&caller(&["readonly", "dept:ICU"])), None).unwrap();
        assert!(g.sees(Some("icu"), false));
        assert!(!g.sees(Some("Surgery"), true));
        assert!(g.list_department("Icu").is_ok());
        assert!(g.list_department("Surgery").is_err());
        let r = decide(Access::List, Some(&caller(&["reviewer", "dept:ICU"])), None).unwrap();
        assert!(r.reviewer_only());
        assert!(r.list_department("ICU").is_err());
        assert!(r.list_patients_of("ICU").is_ok());
        assert!(!r.sees(Some("icu"), false));
        assert!(r.sees(Some("Surgery"), true));
        // A reviewer who is also staff: both lists, never less than either
        let both = decide(
            Access::List,
            Some(&caller(&["reviewer", "readonly", "dept:ICU"])),
            None,
        )
        .unwrap();
        assert!(!both.reviewer_only());
        assert!(both.list_patients_of("Surgery").is_ok());
        assert!(both.list_department("Surgery").is_err());
        assert!(both.list_department("ICU").is_ok());
        assert!(both.sees(Some("icu"), false));
        assert!(both.sees(Some("Surgery"), true));
        assert!(!both.sees(Some("Surgery"), false));
    }

    #[test]
    fn break_glass_is_told_apart_in_the_admission() {
        let c = caller(&["clinician", "dept:ICU"]);
        let g = decide(Access::Write, Some(&c), Some("transfer")).unwrap();
        assert_eq!(g.admit(Some("icu"), false).unwrap(), Admission::Department);
        assert_eq!(
            g.admit(Some("Surgery"), false).unwrap(),
            Admission::BreakGlass
        );
        let admin = decide(Access::Correct, Some(&caller(&["admin"])), None).unwrap();
        assert_eq!(
            admin.admit(Some("Surgery"), false).unwrap(),
            Admission::Hospital
        );
    }

    #[test]
    fn a_transfer_is_for_staff_of_the_patients_department_or_an_admin() {
        let c = caller(&["clinician", "dept:ICU"]);
        let g = decide(Access::Write, Some(&c), Some("code blue")).unwrap();
        // Handing an own patient over, or leaving the department as it is
        assert!(g.transfer(Some("icu"), Some("Surgery")).is_ok());
        assert!(g.transfer(Some("Surgery"), Some(" Surgery ")).is_ok());
        // Opened by break-glass: moving it anywhere, own departments included
        assert!(g.transfer(Some("Surgery"), Some("ICU")).is_err());
        assert!(g.transfer(Some("Surgery"), Some("Cardiology")).is_err());
        // A change of case takes the patient off the department's list too
        assert!(g.transfer(Some("Surgery"), Some("SURGERY")).is_err());
        assert!(g.transfer(None, Some("ICU")).is_err());
        let admin = decide(Access::Write, Some(&caller(&["admin"])), Some("fix")).unwrap();
        assert!(admin.transfer(Some("Surgery"), Some("ICU")).is_ok());
        let open = decide(Access::Write, None, None).unwrap();
        assert!(open.transfer(Some("Surgery"), Some("ICU")).is_ok());
    }
}
