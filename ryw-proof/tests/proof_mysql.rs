//! CI proof run on Oracle MySQL: every fault the testkit has for it, the switchover included.
#![allow(missing_docs)]

#[macro_use]
mod proof_common;

// Named: the leader's server_uuid changes with the switchover, floors must not.
proof_test!(
    "mysql",
    ryw_testkit::MysqlTopology::start(2),
    ryw_diesel::Mysql::new().with_cluster_name("ryw-proof")
);
