//! The register as an application would write it: a repository annotated with
//! `#[read_your_writes]`, so the macro's expansion is under test too (half the ryw sessions go
//! through it; the macro returns only the value, so where such a read was served is not known).

use ryw::{ConnectionOf, Error, Router, RywRepository, read_your_writes};

use crate::backends::{CaptureFault, ProofBackend};

/// One app instance's repository over its router.
pub struct ProofRepo<B: ProofBackend> {
    router: Router<CaptureFault<B>>,
}

impl<B: ProofBackend> ProofRepo<B> {
    /// A repository on `router`.
    pub fn new(router: Router<CaptureFault<B>>) -> Self {
        Self { router }
    }
}

impl<B: ProofBackend> RywRepository for ProofRepo<B> {
    type Backend = CaptureFault<B>;

    fn ryw_router(&self) -> &Router<CaptureFault<B>> {
        &self.router
    }
}

#[read_your_writes(scope = "user_id")]
impl<B: ProofBackend> ProofRepo<B> {
    /// Sets the user's register (a leader transaction; raises `user_id`'s floor).
    #[write]
    pub async fn set_version(
        &self,
        conn: &mut ConnectionOf<Self>,
        user_id: i64,
        version: i64,
    ) -> Result<(), Error> {
        B::set_version(conn, user_id, version).await
    }

    /// Reads the user's register (fenced by `user_id`'s floor).
    #[read]
    pub async fn version(&self, conn: &mut ConnectionOf<Self>, user_id: i64) -> Result<i64, Error> {
        B::version(conn, user_id).await
    }
}
