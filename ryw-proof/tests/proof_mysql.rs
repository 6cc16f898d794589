//! CI proof run on Oracle MySQL: every fault the testkit has for it, a lossy failover included
//! (the planned switchover has its own tests in `tests/tests/mysql_live.rs`).
#![allow(missing_docs)]

#[macro_use]
mod proof_common;

// Named: the leader's server_uuid changes with the failover, floors must not.
proof_test!(
    "mysql",
    ryw_testkit::MysqlTopology::start(2),
    ryw::Mysql::new().with_cluster_name("ryw-proof")
);
