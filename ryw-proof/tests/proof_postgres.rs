//! CI proof run on Postgres: every fault, including a switchover.
#![allow(missing_docs)]

#[macro_use]
mod proof_common;

proof_test!(
    "postgres",
    ryw_testkit::PgTopology::start(2),
    ryw::Postgres::new()
);
