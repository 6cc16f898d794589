//! Real replicated database topologies on demand, for testing read-your-writes flows.
//!
//! `ryw-testkit` starts, from the locally installed Debian binaries, on free loopback ports and
//! in a short temporary directory under `/tmp/rywtk/`:
//!
//! * [`PgTopology`]: a PostgreSQL primary with N physical streaming replicas;
//! * [`MariaDbTopology`]: a MariaDB primary with N GTID replicas (database `ryw` replicated);
//! * [`MysqlTopology`]: an Oracle MySQL primary with N GTID auto-position replicas, run under
//!   `chroot` from a Debian sid root folder (`.ci/install-mysql` builds it; needs root);
//! * [`RedisServer`]: a standalone Redis server.
//!
//! The three database topologies are one type, [`Replicated`], with a small part per
//! database; they offer the same [`Topology`] and [`Faults`] controls.
//!
//! Each replica reaches its primary through a *delaying TCP proxy*: bytes from the primary are
//! delivered to the replica [`Topology::set_lag`] after they arrived. That is real replication
//! lag (sub-second capable, changeable at run time), not a time window. Replay can also be
//! paused, replicas killed and restarted, the primary restarted, and (Postgres) a replica
//! promoted.
//!
//! # Testing your own read-your-writes flow
//!
//! A test that claims "no stale read" must first show that a plain replica read *is* stale
//! under the same conditions; otherwise it cannot tell a correct implementation from a broken
//! one (a loopback replica is caught up in well under a millisecond). The recipe:
//!
//! 1. **inject lag** on every replica (or pause replay);
//! 2. **write** through your application's write path;
//! 3. **read through every path** (same request, next request with the token, another app
//!    instance, a background job) and assert the write is visible; also assert that a plain
//!    replica read right after the commit is *not* — proving the lag was real.
//!
//! ```no_run
//! use std::time::Duration;
//! use ryw_testkit::{PgTopology, Topology};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // One topology per test binary, started lazily on first use.
//! let topo = PgTopology::shared(2).await?;
//! topo.execute_on_primary("CREATE TABLE IF NOT EXISTS t (id int)").await?;
//! for r in 0..topo.replica_count() {
//!     topo.wait_caught_up(r, Duration::from_secs(10)).await?;
//!     topo.set_lag(r, Duration::from_millis(500)).await?;
//! }
//! // Build your replicated pool from topo.primary_url() / topo.replica_urls(), write through
//! // it, then read through every path: each read must see the row although every replica is
//! // 500 ms behind. A plain replica read right after the commit must NOT see it.
//! for r in 0..topo.replica_count() {
//!     topo.set_lag(r, Duration::ZERO).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Shared topologies run their long-lived parts (proxies, process supervisor) on a dedicated
//! runtime and thread owned by this crate, so they can be used from any `#[tokio::test]`.
//! Servers are spawned with `PR_SET_PDEATHSIG` and die with the test process; leftovers of a
//! crashed earlier run are removed when the next topology starts. Tests that break a topology
//! (kill, promote) should use their own, from `start`.
//!
//! Every topology lives in `/tmp/rywtk/<pid>-<n>/` (override the base with `RYW_TESTKIT_DIR`;
//! keep it after drop for debugging with `RYW_TESTKIT_KEEP=1`). Server logs are there, and
//! every error names the log file concerned. Start-up timings are logged with `tracing` at
//! `info` level and available from `started_in()`.
//!
//! Requirements: PostgreSQL 15 (`/usr/lib/postgresql/*/bin`, package `postgresql`), MariaDB
//! (`mariadbd`, `mariadb-install-db`, package `mariadb-server`), `redis-server` and `redis-cli`
//! (packages `redis-server`, `redis-tools`; `RedisCluster` runs `redis-cli --cluster create`). Works as root (Postgres then runs as the `postgres` user) and as a normal
//! user.

mod dirs;
mod error;
mod faults;
mod host;
mod leftovers;
mod mariadb;
mod mysql;
mod mysql_family;
mod pg;
mod procfs;
mod proxy;
mod redis;
mod redis_cluster;
mod replicated;
mod round_trips;
mod runtime;
mod shared;
mod slot;
mod supervisor;
mod sys;
mod topology;

pub use error::TestkitError;
pub use faults::Faults;
pub use mariadb::MariaDbTopology;
pub use mysql::{MysqlTopology, mysql_root};
pub use pg::PgTopology;
pub use redis::RedisServer;
pub use redis_cluster::{ClusterNode, RedisCluster};
pub use replicated::Replicated;
pub use round_trips::{HOLD, RoundTrips};
pub use topology::Topology;
