//! The closure type routed calls take.

use std::future::Future;

use crate::Error;

/// An async closure taking a connection: `async |conn| { … }`.
///
/// A named form of `for<'r> AsyncFnOnce(&'r mut C) -> R` whose future is `Send`, so routed
/// calls can run inside spawned tasks. Every `async |conn: &mut C| …` closure implements it.
pub trait ConnFn<C, R>: AsyncFnOnce(C) -> R + FnOnce(C) -> <Self as ConnFn<C, R>>::Fut {
    /// The closure's future.
    type Fut: Future<Output = R>;
}

impl<F, C, Fut, R> ConnFn<C, R> for F
where
    F: AsyncFnOnce(C) -> R + FnOnce(C) -> Fut,
    Fut: Future<Output = R>,
{
    type Fut = Fut;
}

/// A read's closure as the router passes it around: a [`ConnFn`] on `C` whose future is
/// `Send`, and `Clone` so a read that overran on a replica can run again on the leader.
pub(crate) trait ReadFn<C, R, E>:
    for<'r> ConnFn<&'r mut C, Result<R, E>, Fut: Send> + Clone + Send
{
}

impl<F, C, R, E> ReadFn<C, R, E> for F where
    F: for<'r> ConnFn<&'r mut C, Result<R, E>, Fut: Send> + Clone + Send
{
}

/// The error of a routed call's closure: the router's own errors convert into it.
pub(crate) trait CallError: From<Error> + Send {}

impl<E: From<Error> + Send> CallError for E {}
