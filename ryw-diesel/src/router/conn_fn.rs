//! The closure type routed calls take.

use std::future::Future;

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
