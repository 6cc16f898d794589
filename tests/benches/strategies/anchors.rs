//! The hand-written anchors, on plain pooled diesel-async connections (ryw's pools, not its
//! router): the row queries, the position queries, and the checked and waiting reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::sql_types::Bool;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::{Postgres, ReplicatedPool};

use crate::workload::User;

diesel::table! {
    users (id) {
        id -> BigInt,
        v -> BigInt,
    }
}

// Wrappers created by `SETUP_SQL`, so the position queries are cacheable prepared statements
// (one round trip), as a hand-written anchor would have them.
diesel::define_sql_function!(fn bench_insert_lsn() -> BigInt);
diesel::define_sql_function!(fn bench_replay_lsn() -> BigInt);

/// Schema of the bench: one row per user, a version counter, and the position functions.
pub(crate) const SETUP_SQL: &str = "
    CREATE TABLE users (id BIGINT PRIMARY KEY, v BIGINT NOT NULL);
    INSERT INTO users (id, v) SELECT g, 0 FROM generate_series(1, 64) g;
    CREATE FUNCTION bench_insert_lsn() RETURNS bigint LANGUAGE sql VOLATILE
        AS $$ SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint $$;
    CREATE FUNCTION bench_replay_lsn() RETURNS bigint LANGUAGE sql VOLATILE
        AS $$ SELECT COALESCE((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, 0) $$;
";

/// How long every read takes on the server, ms (0: as fast as it goes). The budget-binding
/// scenario slows reads on every node alike, so fallback reads hold the leader long enough
/// to queue for its slots.
static READ_PAUSE_MS: AtomicU64 = AtomicU64::new(0);

/// Sets [`READ_PAUSE_MS`].
pub(crate) fn set_read_pause(ms: u64) {
    READ_PAUSE_MS.store(ms, Ordering::Relaxed);
}

/// The marker of a paused read in `pg_stat_activity`.
pub(crate) const PAUSE_MARK: &str = "pg_sleep";

/// Reads the version of row `id`.
pub(crate) async fn select(c: &mut AsyncPgConnection, id: i64) -> diesel::QueryResult<i64> {
    let pause = AtomicU64::load(&READ_PAUSE_MS, Ordering::Relaxed);
    let q = users::table.find(id).select(users::v);
    if pause == 0 {
        return q.get_result(c).await;
    }
    let slow = format!("(SELECT true FROM {PAUSE_MARK}({}))", pause as f64 / 1000.0);
    q.filter(sql::<Bool>(&slow)).get_result(c).await
}

/// Sets the version of row `id`.
pub(crate) async fn update(
    c: &mut AsyncPgConnection,
    id: i64,
    v: i64,
) -> diesel::QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::v.eq(v))
        .execute(c)
        .await
}

/// Every user's version, from the leader, in id order.
pub(crate) async fn versions(pool: &ReplicatedPool<Postgres>) -> Vec<i64> {
    let mut c = pool.leader().await.expect("leader");
    users::table
        .order(users::id)
        .select(users::v)
        .load(&mut *c)
        .await
        .expect("versions")
}

/// A leader transaction setting the row; with `capture`, then the leader's WAL insert
/// position on the same connection.
pub(crate) async fn write(
    pool: &ReplicatedPool<Postgres>,
    id: i64,
    v: i64,
    capture: bool,
) -> Option<i64> {
    let mut c = pool.leader().await.expect("leader");
    (*c).transaction(async |c: &mut AsyncPgConnection| update(c, id, v).await)
        .await
        .expect("write");
    if !capture {
        return None;
    }
    Some(
        diesel::select(bench_insert_lsn())
            .get_result(&mut *c)
            .await
            .expect("capture"),
    )
}

async fn replay_lsn(c: &mut AsyncPgConnection) -> i64 {
    diesel::select(bench_replay_lsn())
        .get_result(c)
        .await
        .expect("replay position")
}

/// The row, read on the leader.
pub(crate) async fn read_leader(pool: &ReplicatedPool<Postgres>, id: i64) -> i64 {
    let mut c = pool.leader().await.expect("leader");
    select(&mut c, id).await.expect("leader read")
}

/// The row, read on a random replica.
pub(crate) async fn read_replica(pool: &ReplicatedPool<Postgres>, user: &mut User) -> (i64, bool) {
    let i = user.rng.below(pool.replicas().len() as u64) as usize;
    let mut c = pool.replica(i).await.expect("replica");
    (select(&mut c, user.id).await.expect("replica read"), false)
}

/// GitLab's web path: with a write pending, one position query on every replica, then a
/// random caught-up replica, else the leader at once. The pending write is forgotten once
/// every replica has replayed it (GitLab unsticks the session then).
pub(crate) async fn read_checked(pool: &ReplicatedPool<Postgres>, user: &mut User) -> (i64, bool) {
    let Some(lsn) = user.lsn else {
        return read_replica(pool, user).await;
    };
    let mut caught_up = Vec::new();
    let replicas = pool.replicas().len();
    for i in 0..replicas {
        let mut c = pool.replica(i).await.expect("replica");
        if replay_lsn(&mut c).await >= lsn {
            caught_up.push(c);
        }
    }
    if caught_up.len() == replicas {
        user.lsn = None;
    }
    if caught_up.is_empty() {
        return (read_leader(pool, user.id).await, true);
    }
    let pick = user.rng.below(caught_up.len() as u64) as usize;
    let c = &mut caught_up[pick];
    (select(c, user.id).await.expect("replica read"), false)
}

/// MaxScale causal_reads: on a random replica, poll its replay position every `poll` until it
/// passes the user's last write (each read of a user that wrote pays at least one check),
/// then read there; after `timeout`, read the leader.
pub(crate) async fn read_waiting(
    pool: &ReplicatedPool<Postgres>,
    user: &mut User,
    poll: Duration,
    timeout: Duration,
) -> (i64, bool) {
    let i = user.rng.below(pool.replicas().len() as u64) as usize;
    let mut c = pool.replica(i).await.expect("replica");
    if let Some(lsn) = user.lsn {
        let deadline = Instant::now() + timeout;
        let max_polls = timeout.as_millis() / poll.as_millis().max(1) + 2;
        let mut caught_up = false;
        for _ in 0..max_polls {
            if replay_lsn(&mut c).await >= lsn {
                caught_up = true;
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(poll.min(deadline - now)).await;
        }
        if !caught_up {
            drop(c);
            return (read_leader(pool, user.id).await, true);
        }
    }
    (select(&mut c, user.id).await.expect("replica read"), false)
}
