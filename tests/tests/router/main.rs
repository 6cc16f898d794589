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
#[path = "../common/tables.rs"]
mod tables;

mod postgres {
    use diesel_async::AsyncPgConnection;
    use ryw::Postgres;
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

    fn far_future() -> ryw::position::Position {
        ryw::position::Lsn::new(u64::MAX / 2).into()
    }

    router_suite!(AsyncPgConnection);
}

mod mariadb {
    use diesel_async::AsyncMysqlConnection;
    use ryw::Mysql;
    use ryw_testkit::MariaDbTopology;

    async fn topology() -> MariaDbTopology {
        MariaDbTopology::start(2)
            .await
            .expect("start mariadb topology")
    }

    type TestBackend = Mysql;

    fn backend() -> Mysql {
        Mysql::new().with_cluster_name("router-suite")
    }

    /// Another MariaDB cluster: its GTIDs collide with ours (every cluster starts at 0-1-1).
    const FOREIGN_CLUSTER: &str = "mariadb:another-cluster";

    fn far_future() -> ryw::position::Position {
        "0-1-999999999"
            .parse::<ryw::position::GtidList>()
            .unwrap()
            .into()
    }

    router_suite!(AsyncMysqlConnection);
}

mod mysql {
    use diesel_async::AsyncMysqlConnection;
    use ryw::Mysql;
    use ryw_testkit::MysqlTopology;

    async fn topology() -> MysqlTopology {
        MysqlTopology::start(2).await.expect("start mysql topology")
    }

    type TestBackend = Mysql;

    fn backend() -> Mysql {
        Mysql::new()
    }

    /// Another MySQL cluster (another leader `server_uuid`).
    const FOREIGN_CLUSTER: &str = "mysql:3e11fa47-71ca-11e1-9e33-c80aa9429562";

    fn far_future() -> ryw::position::Position {
        // A GTID of this cluster's own leader that will never be reached is not known in
        // advance; a far sequence number of an unknown source is never applied either.
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-999999999"
            .parse::<ryw::position::GtidSet>()
            .unwrap()
            .into()
    }

    router_suite!(AsyncMysqlConnection);
}
