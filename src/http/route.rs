//! A route as a domain declares it: its pattern, who may call it and its
//! handler, and the path values a match yields (see `router`).

use std::future::Future;
use std::pin::Pin;

use crate::context::Context;
use crate::error::ApiResult;
use crate::http::{ApiRequest, Reply};

/// A route's work, boxed: route futures hold SDK futures and are large.
pub type RouteFuture<'a> = Pin<Box<dyn Future<Output = ApiResult<Reply>> + Send + 'a>>;

/// A route's handler: the context, the request and the path's values.
pub type Handler = for<'a> fn(&'a Context, &'a ApiRequest, &'a Params) -> RouteFuture<'a>;

pub use crate::policy::Access;

/// One route.
pub struct Route {
    /// `METHOD /path/{param}`: what logs name instead of the (identifying)
    /// path, and the operation in `openapi.yaml`.
    pub pattern: &'static str,
    pub access: Access,
    pub run: Handler,
}

impl Route {
    pub const fn new(access: Access, pattern: &'static str, run: Handler) -> Self {
        Self {
            pattern,
            access,
            run,
        }
    }

    /// Anyone, without a token. (see `policy`)
    pub const fn public(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::Public, pattern, run)
    }

    /// Reference data: any staff role. (see `policy`)
    pub const fn reference(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::Reference, pattern, run)
    }

    /// Shared configuration: admin. (see `policy`)
    pub const fn configure(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::Configure, pattern, run)
    }

    /// A list of patients or their tasks. (see `policy`)
    pub const fn list(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::List, pattern, run)
    }

    /// Registering a patient. (see `policy`)
    pub const fn register(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::Register, pattern, run)
    }

    /// A read of one patient's record. (see `policy`)
    pub const fn read(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::Read, pattern, run)
    }

    /// A read a reviewer may make of a shared patient. (see `policy`)
    pub const fn shared_read(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::SharedRead, pattern, run)
    }

    /// A change to one patient's record. (see `policy`)
    pub const fn write(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::Write, pattern, run)
    }

    /// A registration correction. (see `policy`)
    pub const fn correct(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::Correct, pattern, run)
    }

    /// The patient's audit ledger. (see `policy`)
    pub const fn ledger(pattern: &'static str, run: Handler) -> Self {
        Self::new(Access::Ledger, pattern, run)
    }

    pub(crate) fn method(&self) -> &'static str {
        self.pattern.split_once(' ').map_or("", |(m, _)| m)
    }

    pub(crate) fn path(&self) -> impl Iterator<Item = &'static str> {
        let path = self.pattern.split_once(' ').map_or("", |(_, p)| p);
        path.split('/').filter(|s| !s.is_empty())
    }

    /// The path's values if `segments` is this route's path, with how
    /// specific the match is (literal segments beat parameters, leftmost
    /// first: `/patients/by-mrn/{mrn}` beats `/patients/{id}/state`).
    pub(crate) fn matches(&self, segments: &[String]) -> Option<(Vec<bool>, Params)> {
        let mut literal = Vec::new();
        let mut params = Params::default();
        let mut given = segments.iter();
        for part in self.path() {
            let value = given.next()?;
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => {
                    literal.push(false);
                    params.0.push((name, value.clone()));
                }
                None if part == value => literal.push(true),
                None => return None,
            }
        }
        given.next().is_none().then_some((literal, params))
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.pattern)
    }
}

/// The values of a path's `{param}` segments, decoded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(pub(crate) Vec<(&'static str, String)>);

impl Params {
    /// The value of `{name}`. A handler names only its pattern's
    /// parameters (checked in debug builds, which every route's tests run).
    pub fn get(&self, name: &str) -> &str {
        let value = self.0.iter().find(|(n, _)| *n == name);
        debug_assert!(value.is_some(), "the route has no {{{name}}}");
        value.map_or("", |(_, v)| v.as_str())
    }
}
