//! The backends the suite runs against: a topology type and the client that talks to it.

use std::path::PathBuf;
use std::time::Duration;

use ryw_testkit::{Faults, MariaDbTopology, MysqlTopology, PgTopology, TestkitError};

use crate::client::{Client, My, Pg};

/// One backend: its topology and its client.
pub(crate) trait Backend {
    /// Names it in the tests' output.
    const NAME: &'static str;
    /// Its topology.
    type Topo: Faults + 'static;
    /// Its client.
    type Client: Client;

    /// A topology of its own with `replicas` replicas.
    async fn start(replicas: usize) -> Result<Self::Topo, TestkitError>;

    /// The test binary's shared topology with `replicas` replicas.
    async fn shared(replicas: usize) -> Result<&'static Self::Topo, TestkitError>;

    /// How long the topology took to start.
    fn started_in(topo: &Self::Topo) -> Duration;

    /// The topology's directory.
    fn dir(topo: &Self::Topo) -> PathBuf;
}

macro_rules! backend {
    ($(#[$doc:meta])* $name:ident, $label:literal, $topo:ty, $client:ty) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl Backend for $name {
            const NAME: &'static str = $label;
            type Topo = $topo;
            type Client = $client;

            async fn start(replicas: usize) -> Result<$topo, TestkitError> {
                <$topo>::start(replicas).await
            }

            async fn shared(replicas: usize) -> Result<&'static $topo, TestkitError> {
                <$topo>::shared(replicas).await
            }

            fn started_in(topo: &$topo) -> Duration {
                topo.started_in()
            }

            fn dir(topo: &$topo) -> PathBuf {
                topo.dir().to_path_buf()
            }
        }
    };
}

backend!(
    /// PostgreSQL: physical streaming replicas.
    Postgres, "postgres", PgTopology, Pg
);
backend!(
    /// MariaDB: GTID replicas.
    MariaDb, "mariadb", MariaDbTopology, My
);
backend!(
    /// Oracle MySQL: GTID auto-position replicas.
    Mysql, "mysql", MysqlTopology, My
);
