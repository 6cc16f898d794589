//! CI proof run on MariaDB: every fault the testkit has for it, a lossy failover included.
#![allow(missing_docs)]

#[macro_use]
mod proof_common;

proof_test!(
    "mariadb",
    ryw_testkit::MariaDbTopology::start(2),
    ryw::Mysql::new().with_cluster_name("ryw-proof")
);
