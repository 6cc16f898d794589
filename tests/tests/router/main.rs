//! The read-router suite, written once and run against every backend's real replicated
//! topology (primary + 2 replicas from `ryw-testkit`) with injected lag.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

#[macro_use]
mod suite;

mod postgres {
    use diesel_async::AsyncPgConnection;
    use ryw_diesel::Postgres;
    use ryw_testkit::PgTopology;

    async fn topology() -> PgTopology {
        PgTopology::start(2).await.expect("start postgres topology")
    }

    type TestBackend = Postgres;

    fn backend() -> Postgres {
        Postgres::new()
    }

    /// A cluster id of the same family that is not this cluster (another system identifier).
    const FOREIGN_CLUSTER: &str = "pg:1111111111111111111:1";

    fn far_future() -> ryw_core::Position {
        ryw_core::position::Lsn::new(u64::MAX / 2).into()
    }

    router_suite!(AsyncPgConnection);
}
