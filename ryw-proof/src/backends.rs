//! What the workload needs of a backend beyond [`ReplicationBackend`]: its register table's SQL, and a way
//! to kill its own session (the capture-failure fault).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use diesel::{ExpressionMethods, QueryDsl, QueryableByName};
use diesel_async::{
    AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl, TransactionManager,
};
use ryw::backend::Decorator;
use ryw::backend::{Captured, ReplicationBackend};
use ryw::{Error, Mysql, Postgres};

diesel::table! {
    /// One register per scope.
    ryw_proof (id) {
        /// The scope value.
        id -> BigInt,
        /// The register's version.
        v -> BigInt,
    }
}

/// The SQL creating the register table with `scopes` rows at version 0.
#[must_use]
pub fn setup_sql(scopes: i64) -> String {
    let rows: Vec<String> = (1..=scopes).map(|i| format!("({i}, 0)")).collect();
    format!(
        "DROP TABLE IF EXISTS ryw_proof; \
         CREATE TABLE ryw_proof (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO ryw_proof (id, v) VALUES {};",
        rows.join(", ")
    )
}

diesel::table! {
    /// Every version the register table took on this node's history (filled by a trigger):
    /// after a lossy failover, what the new leader has of the writes acknowledged before it.
    ryw_proof_log (id, v) {
        /// The scope value.
        id -> BigInt,
        /// A version written.
        v -> BigInt,
    }
}

/// A backend the proof workload can drive.
pub trait ProofBackend: ReplicationBackend {
    /// Creates `ryw_proof_log` and the trigger that appends every update of the register
    /// table to it (run after [`setup_sql`]).
    const LOG_SQL: &'static str;
    /// Every `(scope, version)` in the log.
    fn logged(
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Vec<(i64, i64)>, Error>> + Send;
    /// Sets the register of `scope` to `version`.
    fn set_version(
        conn: &mut Self::Connection,
        scope: i64,
        version: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Reads the register of `scope`.
    fn version(
        conn: &mut Self::Connection,
        scope: i64,
    ) -> impl Future<Output = Result<i64, Error>> + Send;
    /// Terminates the server session of `conn` (its next statement fails).
    fn kill_self(conn: &mut Self::Connection) -> impl Future<Output = ()> + Send;
}

macro_rules! register_sql {
    () => {
        async fn set_version(
            conn: &mut Self::Connection,
            scope: i64,
            version: i64,
        ) -> Result<(), Error> {
            diesel::update(ryw_proof::table.find(scope))
                .set(ryw_proof::v.eq(version))
                .execute(conn)
                .await
                .map(drop)
                .map_err(Error::from_diesel)
        }

        async fn logged(conn: &mut Self::Connection) -> Result<Vec<(i64, i64)>, Error> {
            ryw_proof_log::table
                .select((ryw_proof_log::id, ryw_proof_log::v))
                .load(conn)
                .await
                .map_err(Error::from_diesel)
        }

        async fn version(conn: &mut Self::Connection, scope: i64) -> Result<i64, Error> {
            ryw_proof::table
                .find(scope)
                .select(ryw_proof::v)
                .first(conn)
                .await
                .map_err(Error::from_diesel)
        }
    };
}

impl ProofBackend for Postgres {
    const LOG_SQL: &'static str = "DROP TABLE IF EXISTS ryw_proof_log; \
         CREATE TABLE ryw_proof_log (id BIGINT NOT NULL, v BIGINT NOT NULL, PRIMARY KEY (id, v)); \
         CREATE OR REPLACE FUNCTION ryw_proof_log() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN INSERT INTO ryw_proof_log VALUES (NEW.id, NEW.v) ON CONFLICT DO NOTHING; \
         RETURN NEW; END $$; \
         CREATE TRIGGER ryw_proof_log AFTER UPDATE ON ryw_proof \
         FOR EACH ROW EXECUTE FUNCTION ryw_proof_log();";
    register_sql!();

    async fn kill_self(conn: &mut AsyncPgConnection) {
        let _ = diesel::sql_query("SELECT pg_terminate_backend(pg_backend_pid())")
            .execute(conn)
            .await;
    }
}

#[derive(QueryableByName)]
struct ConnectionId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

impl ProofBackend for Mysql {
    const LOG_SQL: &'static str = "DROP TABLE IF EXISTS ryw_proof_log; \
         CREATE TABLE ryw_proof_log (id BIGINT NOT NULL, v BIGINT NOT NULL, PRIMARY KEY (id, v)); \
         CREATE TRIGGER ryw_proof_log AFTER UPDATE ON ryw_proof \
         FOR EACH ROW INSERT IGNORE INTO ryw_proof_log VALUES (NEW.id, NEW.v)";
    register_sql!();

    async fn kill_self(conn: &mut AsyncMysqlConnection) {
        let id = diesel::sql_query("SELECT CAST(CONNECTION_ID() AS SIGNED) AS id")
            .get_result::<ConnectionId>(conn)
            .await;
        if let Ok(ConnectionId { id }) = id {
            let _ = diesel::sql_query(format!("KILL CONNECTION {id}"))
                .execute(conn)
                .await;
        }
    }
}

/// A backend wrapper that, while armed, kills the committing session right after COMMIT and
/// before the position capture: the lost-capture case of a connection that dies between the
/// two, made reachable on demand. Everything else is delegated.
#[derive(Clone)]
pub struct CaptureFault<B> {
    inner: B,
    armed: Arc<AtomicU32>,
    fired: Arc<AtomicU64>,
}

impl<B> CaptureFault<B> {
    /// Wraps `inner`, disarmed.
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            armed: Arc::new(AtomicU32::new(0)),
            fired: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Makes the next `writes` captures (over every clone) lose their connection.
    pub fn arm(&self, writes: u32) {
        self.armed.fetch_add(writes, Ordering::SeqCst);
    }

    /// How many captures were sabotaged so far.
    #[must_use]
    pub fn fired(&self) -> u64 {
        AtomicU64::load(&self.fired, Ordering::SeqCst)
    }

    fn take(&self) -> bool {
        self.armed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl<B: ProofBackend> Decorator for CaptureFault<B> {
    type Inner = B;

    fn inner(&self) -> &B {
        &self.inner
    }

    /// The capture of a write without a transaction (`write_autocommit`); armed, its
    /// connection is killed under it first.
    async fn capture(&self, conn: &mut B::Connection) -> Result<Captured, Error> {
        if self.take() {
            self.fired.fetch_add(1, Ordering::SeqCst);
            B::kill_self(conn).await;
        }
        self.inner.capture(conn).await
    }

    /// Unarmed, the inner backend's own path (on Postgres COMMIT and the capture in one
    /// round trip), so the checker judges what production runs. Armed, the COMMIT alone, then
    /// the connection killed under the capture: a capture lost after a successful COMMIT.
    async fn commit_and_capture(
        &self,
        conn: &mut B::Connection,
    ) -> Result<Result<Captured, Error>, diesel::result::Error> {
        if !self.take() {
            return self.inner.commit_and_capture(conn).await;
        }
        <B::Connection as AsyncConnection>::TransactionManager::commit_transaction(conn).await?;
        self.fired.fetch_add(1, Ordering::SeqCst);
        B::kill_self(conn).await;
        Ok(self.inner.capture(conn).await)
    }
}
