//! `#[read_your_writes(scope = "…")]`: the repository attribute of ryw. Use it through
//! `ryw::read_your_writes`; the expansion calls only public `ryw` API (see
//! `ryw::repository`), so anything it does can be written by hand.
//!
//! This crate only wires: `attr` parses arguments, `expand` generates code.

mod attr;
mod expand;
mod krate;
mod signature;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Makes the `#[read]` and `#[write]` methods of an `impl` block (inherent or trait impl)
/// read-your-writes consistent.
///
/// * `#[write]` methods run in a leader transaction; after COMMIT the position is captured and
///   becomes the floor of the method's scope (in the request's `RywContext` and the scope
///   store).
/// * `#[read]` methods go through the router: a replica that has applied the scope's floor,
///   else a bounded wait, else the policy's fallback (the leader by default).
/// * Unmarked methods are left alone.
/// * The connection parameter (the `&mut` parameter, or the one named `conn` if there are
///   several) is supplied by the macro and disappears from the public signature: callers write
///   `accounts.balance(42).await`. Write it as `conn: &mut AsyncPgConnection` (or
///   `AsyncMysqlConnection`), or backend-generically as `conn: &mut ryw::ConnectionOf<Self>`.
/// * The scope parameter can be any `ryw::ScopeValue`: integers, `String`, `&str`,
///   `uuid::Uuid` (feature `uuid`), or a newtype implementing the trait. The scope key
///   is `"<parameter name>:<value>"`, e.g. `user_id:42`.
/// * The router comes from `RywRepository::ryw_router(&self)`, or from the field named by
///   `router = "field"` (a `Router`, `Arc<Router>` or `&Router`).
/// * The error type `E` of the `Result` must implement `From<ryw::Error>`.
/// * Bodies run inside an `async move` closure whose future must be `Send` (so `Self: Sync`).
///
/// Arguments: `scope = "param"` (required unless every marked method sets its own),
/// `router = "field"`, `crate = "path"` (where `ryw` is, for re-exports; found in `Cargo.toml` otherwise). Method
/// arguments: `#[read(scope = "other_param", policy = "name", wait_ms = 250, fallback = "leader"
/// | "error" | "stale", prefer = "latency" | "replica")]`, `#[write(scope = "other_param")]`,
/// `#[write(scopes("user_id", "org_id"))]` (a write that changes several scopes: one capture,
/// every floor raised), `#[write(autocommit)]` (one statement that commits on its own: no
/// BEGIN or COMMIT, two round trips; combines with `scope` and `scopes`). `policy`
/// names a policy the router
/// defines at run time with `Router::define_policy` (so each deployment sets its own budgets;
/// an undefined name is `ryw::Error::UnknownPolicy` from the call); `wait_ms` and `fallback`
/// override its fields.
///
/// # Expansion
/// This (an inherent impl whose type implements `RywRepository`):
///
/// ```text
/// #[read_your_writes(scope = "user_id")]
/// impl Accounts {
///     #[write]
///     pub async fn pay(&self, conn: &mut AsyncPgConnection, user_id: i64, cents: i64) -> Result<(), AppError> {
///         diesel::sql_query("UPDATE …").execute(conn).await?;
///         Ok(())
///     }
///     #[read]
///     pub async fn balance(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
///         load_balance(conn, user_id).await
///     }
/// }
/// ```
///
/// expands to calls of public `ryw` API (the `__private` module re-exports
/// `ryw::repository`); `balance` is the same with `read(…, None, …)`, where `None` is
/// the router's default policy (`Some(policy(…))` for `#[read(wait_ms = …)]`):
///
/// ```text
/// impl Accounts {
///     pub async fn pay(&self, user_id: i64, cents: i64) -> Result<(), AppError> {
///         let __ryw_router = ::ryw::__private::RywRepository::ryw_router(self);
///         let __ryw_scope = ::ryw::__private::scope_key("user_id", &user_id);
///         let __ryw_body = async move |conn: &mut AsyncPgConnection| -> Result<(), AppError> {
///             diesel::sql_query("UPDATE …").execute(conn).await?;
///             Ok(())
///         };
///         match ::ryw::__private::write(__ryw_router, &__ryw_scope, __ryw_body).await {
///             Ok(value) => Ok(value),
///             // The body's own error, unchanged.
///             Err(::ryw::__private::RoutedError::User(e)) => Err(e),
///             // ryw's error (pool, fence timeout, BEGIN/COMMIT), through `From<ryw::Error>`.
///             Err(::ryw::__private::RoutedError::Ryw(e)) => {
///                 Err(::ryw::__private::convert_ryw_error(e))
///             }
///         }
///     }
/// }
/// ```
///
/// Mistakes are compile errors that say what to write instead, all reported in one compile,
/// with the rest of the impl still emitted.
#[proc_macro_attribute]
pub fn read_your_writes(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::read_your_writes(attr.into(), item.into()).into()
}
