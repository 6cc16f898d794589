//! The repository side of `#[read_your_writes]`: [`RywRepository`] / [`AsRouter`] (where a
//! repository's router is) and [`ConnectionOf`]. The functions the expansion calls are
//! public so that macro output in other crates can reach them, but hidden from the docs: they
//! are plumbing, not API. By hand, a repository calls [`Router::read`](crate::Router::read),
//! [`Router::read_with`](crate::Router::read_with) and [`Router::write`](crate::Router::write),
//! which is all the expansion does.

use ryw_core::{Fallback, Prefer, ReadPolicy, ScopeKey, ScopeValue};

use crate::Error;
use crate::backend::ReplicationBackend;
use crate::router::{ConnFn, Router};

/// How a repository reaches its [`Router`]. Implement it for repositories annotated with
/// `#[read_your_writes(scope = "…")]` that do not name a router field with `router = "field"`.
///
/// ```no_run
/// use ryw_diesel::{Postgres, Router, RywRepository};
/// struct Accounts { router: Router<Postgres> }
/// impl RywRepository for Accounts {
///     type Backend = Postgres;
///     fn ryw_router(&self) -> &Router<Postgres> { &self.router }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say which router its #[read_your_writes] methods use",
    label = "no router for this repository",
    note = "implement `ryw::RywRepository for {Self}`, or name the field holding the router: `#[read_your_writes(scope = \"…\", router = \"field\")]`"
)]
pub trait RywRepository {
    /// The database backend.
    type Backend: ReplicationBackend;
    /// The router this repository's reads and writes go through.
    fn ryw_router(&self) -> &Router<Self::Backend>;
}

/// The connection type of a repository, for backend-generic method signatures:
/// `conn: &mut ryw_diesel::ConnectionOf<Self>`.
pub type ConnectionOf<R> = <<R as RywRepository>::Backend as ReplicationBackend>::Connection;

/// Anything that holds a [`Router`]: the router itself, an `Arc` or a reference to one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a ryw router",
    label = "`router = \"…\"` names this field",
    note = "the field named by `router = \"…\"` holds a `ryw::Router<B>`, an `Arc<Router<B>>` or a `&Router<B>`"
)]
pub trait AsRouter {
    /// The backend.
    type Backend: ReplicationBackend;
    /// The router.
    fn as_router(&self) -> &Router<Self::Backend>;
}

impl<B: ReplicationBackend> AsRouter for Router<B> {
    type Backend = B;
    fn as_router(&self) -> &Router<B> {
        self
    }
}

impl<T: AsRouter + ?Sized> AsRouter for std::sync::Arc<T> {
    type Backend = T::Backend;
    fn as_router(&self) -> &Router<T::Backend> {
        (**self).as_router()
    }
}

impl<T: AsRouter + ?Sized> AsRouter for &T {
    type Backend = T::Backend;
    fn as_router(&self) -> &Router<T::Backend> {
        (**self).as_router()
    }
}

/// The error type of a `#[read]` / `#[write]` method must convert from [`Error`]: this is the
/// one bound the expansion puts on it, so a missing conversion is one error with this message.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` of a #[read_your_writes] method does not implement `From<ryw::Error>`",
    label = "this error type cannot hold ryw's errors (pool, fence timeout, BEGIN/COMMIT)",
    note = "add a `#[from] ryw::Error` variant to the error enum (thiserror) or `impl From<ryw::Error> for {Self}`; when `{Self}` is not a type of this crate (`String`, `std::io::Error`, an alias of one), the orphan rule forbids that impl: return an error enum of your own that wraps it"
)]
#[doc(hidden)]
pub trait RywErrorTarget: Sized {
    /// Converts one of ryw's errors.
    fn from_ryw(error: Error) -> Self;
}

impl<E: From<Error>> RywErrorTarget for E {
    fn from_ryw(error: Error) -> Self {
        E::from(error)
    }
}

/// What a routed repository call failed with: the method body's own error, or ryw's.
#[doc(hidden)]
#[derive(Debug)]
pub enum RoutedError<E> {
    /// The body's error, unchanged.
    User(E),
    /// ryw's error (pool, fence timeout, BEGIN/COMMIT).
    Ryw(Error),
}

impl<E> From<Error> for RoutedError<E> {
    fn from(error: Error) -> Self {
        Self::Ryw(error)
    }
}

/// ryw's error converted into the method's error type.
#[doc(hidden)]
pub fn convert_ryw_error<E: RywErrorTarget>(error: Error) -> E {
    E::from_ryw(error)
}

/// The scope key of a method call: `name:value`.
#[doc(hidden)]
pub fn scope_key<V: ScopeValue + ?Sized>(name: &str, value: &V) -> ScopeKey {
    ScopeKey::from_value(name, value)
}

/// The policy of a `#[read(policy = "…", wait_ms = …, fallback = "…")]` method: the named
/// policy (or the router's default) with the given overrides.
///
/// # Errors
/// [`Error::UnknownPolicy`] when the router has no policy of that name.
#[doc(hidden)]
pub fn policy<B: ReplicationBackend>(
    router: &Router<B>,
    name: Option<&str>,
    wait_ms: Option<u64>,
    fallback: Option<Fallback>,
) -> Result<ReadPolicy, Error> {
    let mut p = match name {
        Some(name) => router.named_policy(name)?,
        None => router.policy(),
    };
    if let Some(ms) = wait_ms {
        p = p.with_wait_budget(std::time::Duration::from_millis(ms));
    }
    if let Some(f) = fallback {
        p = p.with_fallback(f);
    }
    Ok(p)
}

/// The policy of a `#[read(prefer = "…")]` method: `policy` preferring `prefer`.
///
/// # Errors
/// `policy`'s error.
#[doc(hidden)]
pub fn preferring(policy: Result<ReadPolicy, Error>, prefer: Prefer) -> Result<ReadPolicy, Error> {
    policy.map(|p| p.with_prefer(prefer))
}

/// [`Router::write`] returning only the value (what a `#[write]` method returns), with the
/// body's error kept apart from ryw's ([`RoutedError`]).
///
/// # Errors
/// As [`Router::write`].
#[doc(hidden)]
pub async fn write<B, R, E, F>(
    router: &Router<B>,
    scope: &ScopeKey,
    f: F,
) -> Result<R, RoutedError<E>>
where
    B: ReplicationBackend,
    F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
    E: Send,
    R: Send,
{
    write_scopes(router, std::slice::from_ref(scope), f).await
}

/// [`Router::write_scopes`] returning only the value (a `#[write(scopes(…))]` method).
///
/// # Errors
/// As [`Router::write_scopes`].
#[doc(hidden)]
pub async fn write_scopes<B, R, E, F>(
    router: &Router<B>,
    scopes: &[ScopeKey],
    f: F,
) -> Result<R, RoutedError<E>>
where
    B: ReplicationBackend,
    F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
    E: Send,
    R: Send,
{
    router
        .write_scopes(scopes, async move |conn: &mut B::Connection| {
            f(conn).await.map_err(RoutedError::User)
        })
        .await
        .map(|r| r.value)
}

/// [`Router::write_autocommit`] returning only the value (a `#[write(autocommit)]` method).
///
/// # Errors
/// As [`Router::write_autocommit`].
#[doc(hidden)]
pub async fn write_autocommit<B, R, E, F>(
    router: &Router<B>,
    scopes: &[ScopeKey],
    f: F,
) -> Result<R, RoutedError<E>>
where
    B: ReplicationBackend,
    F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
    E: Send,
    R: Send,
{
    router
        .write_autocommit(scopes, async move |conn: &mut B::Connection| {
            f(conn).await.map_err(RoutedError::User)
        })
        .await
        .map(|r| r.value)
}

/// [`Router::read_with`] returning only the value (what a `#[read]` method returns), with the
/// body's error kept apart from ryw's ([`RoutedError`]).
///
/// # Errors
/// As [`Router::read_with`].
#[doc(hidden)]
pub async fn read<B, R, E, F>(
    router: &Router<B>,
    scope: &ScopeKey,
    policy: Option<Result<ReadPolicy, Error>>,
    f: F,
) -> Result<R, RoutedError<E>>
where
    B: ReplicationBackend,
    F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
    E: Send,
    R: Send,
{
    let policy = match policy {
        None => router.policy(),
        Some(p) => p.map_err(RoutedError::Ryw)?,
    };
    router
        .read_with(scope, &policy, async move |conn: &mut B::Connection| {
            f(conn).await.map_err(RoutedError::User)
        })
        .await
        .map(|r| r.value)
}
