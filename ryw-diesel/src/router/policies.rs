//! Read policies by name, resolved when a read runs: a repository method says
//! `#[read(policy = "reports")]` and each deployment defines what "reports" means (its wait
//! budget, its fallback) from its own configuration, and may change it while running.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use ryw_core::ReadPolicy;

use super::Router;
use crate::Error;
use crate::backend::ReplicationBackend;

/// The router's named policies.
#[derive(Default)]
pub(super) struct Named(RwLock<BTreeMap<Arc<str>, ReadPolicy>>);

impl<B: ReplicationBackend> Router<B> {
    /// Defines (or redefines) the read policy called `name`; reads that name it use the new
    /// definition from their next call on.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use ryw_core::{Fallback, ReadPolicy};
    /// # async fn demo(router: ryw_diesel::Router<ryw_diesel::Postgres>) {
    /// // From this deployment's configuration: reports may wait, the checkout may not.
    /// router.define_policy("reports", ReadPolicy::default().with_wait_budget(Duration::from_secs(2)));
    /// router.define_policy(
    ///     "checkout",
    ///     ReadPolicy::default().with_wait_budget(Duration::ZERO).with_fallback(Fallback::Leader),
    /// );
    /// # }
    /// ```
    pub fn define_policy(&self, name: &str, policy: ReadPolicy) {
        // A poisoned lock only means a writer panicked mid-insert of a `Copy` value: the map
        // is still whole, so keep using it.
        let mut map = self
            .inner
            .policies
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(Arc::from(name), policy);
    }

    /// The policy called `name`.
    ///
    /// # Errors
    /// [`Error::UnknownPolicy`] (with the defined names) when there is none.
    pub fn named_policy(&self, name: &str) -> Result<ReadPolicy, Error> {
        let map = self
            .inner
            .policies
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(name).copied().ok_or_else(|| Error::UnknownPolicy {
            name: name.to_owned(),
            defined: map.keys().map(|k| k.to_string()).collect(),
        })
    }
}
