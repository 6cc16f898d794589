//! COMMIT and the capture in one round trip on Postgres.
//!
//! `AsyncPgConnection` pipelines the statements whose futures are polled together through
//! shared references (diesel-async's "Pipelining"): both are sent before either answer is
//! awaited, and the server runs them in the order sent, each in its own protocol sync. The
//! capture therefore reads the insert position after the commit record, as the two-step path
//! does, at the cost of one round trip instead of two. `tests/round_trips.rs` counts the
//! round trips; `pipelined_capture_covers_its_commit` reads the commit record's end from the
//! WAL and checks the captured position is past it.

use std::num::NonZeroU32;

use diesel::connection::TransactionManagerStatus;
use diesel::pg::Pg;
use diesel::pg::data_types::PgLsn;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::{Error as DieselError, QueryResult};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};

use super::pg_sql::{pg_current_wal_insert_lsn, pg_walfile_name};
use super::postgres::{Postgres, query_err};
use super::{Captured, ReplicationBackend};
use crate::Error;

/// `COMMIT` as a query with a static id: prepared once per connection, then only executed
/// (`batch_execute`, the transaction manager's way, cannot be pipelined).
#[derive(Debug, Clone, Copy, QueryId)]
struct Commit;

impl QueryFragment<Pg> for Commit {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("COMMIT");
        Ok(())
    }
}

/// The capture's row: the insert position and the WAL file holding it (its timeline).
pub(super) type CaptureRow = (PgLsn, String);

/// The capture statement (declared functions: a static id, prepared once per connection).
pub(super) async fn capture_row(conn: &AsyncPgConnection) -> QueryResult<CaptureRow> {
    diesel::select((
        pg_current_wal_insert_lsn(),
        pg_walfile_name(pg_current_wal_insert_lsn()),
    ))
    .get_result(&mut &*conn)
    .await
}

impl Postgres {
    /// COMMIT and the capture, pipelined. `Err` is COMMIT's own error; `Ok` carries the
    /// capture's result.
    pub(super) async fn commit_pipelined(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<Result<Captured, Error>, DieselError> {
        let status = AnsiTransactionManager::transaction_manager_status_mut(conn);
        if status.transaction_depth() != Ok(NonZeroU32::new(1)) {
            // Not exactly one level open (the closure left a savepoint open): the
            // transaction manager's own path, two round trips.
            AnsiTransactionManager::commit_transaction(conn).await?;
            return Ok(self.capture(conn).await);
        }
        // Marked broken while both statements are in flight: a write dropped half-way
        // leaves a connection the pool discards, never one that believes it is still inside
        // a transaction.
        status.set_in_error();
        let shared: &AsyncPgConnection = conn;
        let commit = Commit.execute(&mut &*shared);
        let capture = capture_row(shared);
        let (committed, captured) = tokio::join!(commit, capture);
        // The transaction is over whichever way COMMIT went: committed, refused (the server
        // rolled it back), or the connection lost (its next use finds out).
        *AnsiTransactionManager::transaction_manager_status_mut(conn) =
            TransactionManagerStatus::default();
        committed?;
        Ok(captured
            .map_err(query_err("capturing the commit position", "leader"))
            .and_then(|row| self.captured(row)))
    }
}
