//! The write path's transaction: BEGIN, the caller's closure, COMMIT or ROLLBACK.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, TransactionManager};

use crate::Error;
use crate::backend::{Captured, ReplicationBackend};
use crate::conn_fn::ConnFn;
use crate::pool::{Conn, ReplicatedPool};

type Tm<C> = <C as AsyncConnection>::TransactionManager;

/// A leader connection with a transaction open.
///
/// BEGIN changes nothing, so when it fails — typically on a pooled connection the leader
/// closed (a restart, a terminated backend) — the connection is dropped, not returned to the
/// pool, and BEGIN is tried again on the next one. After a restart every idle connection may
/// be dead, so this goes on for up to one more attempt than the pool has connections: each
/// failure removes a dead one, and once the idle ones are used up the pool opens a new
/// connection. A leader that is really down fails that checkout with [`Error::Pool`].
///
/// Returns the connection and how many dead ones were dropped on the way.
pub(crate) async fn begin<B: ReplicationBackend>(
    pool: &ReplicatedPool<B>,
) -> Result<(Conn<B>, u64), Error> {
    let attempts = pool.leader.status().max_size + 1;
    let mut last = None;
    for retries in 0..attempts {
        let mut conn = pool.leader().await?;
        match Tm::<B::Connection>::begin_transaction(&mut conn).await {
            Ok(()) => return Ok((conn, u64::try_from(retries).unwrap_or(u64::MAX))),
            Err(e) => {
                tracing::info!(error = %e, "BEGIN failed on a leader connection; trying another");
                let _ = deadpool::managed::Object::take(conn);
                last = Some(e);
            }
        }
    }
    Err(Error::Query {
        what: "BEGIN",
        node: "leader".into(),
        source: last.unwrap_or(DieselError::BrokenTransactionManager),
    })
}

/// Runs `f` in the transaction [`begin`] opened on `conn`, then COMMITs and captures the
/// position that covers the commit ([`ReplicationBackend::commit_and_capture`]: one round
/// trip on Postgres), or ROLLBACKs when `f` fails. Returns `f`'s value and the capture's
/// result.
///
/// A COMMIT that fails with a definite answer from the server (a serialization failure, a
/// deferred constraint) is [`Error::Query`]; one that fails because the connection broke
/// while it was in flight is [`Error::CommitOutcomeUnknown`]: the transaction may have
/// committed, and must not be retried blindly.
pub(crate) async fn run_and_capture<B, R, E, F>(
    backend: &B,
    conn: &mut B::Connection,
    f: F,
) -> Result<(R, Result<Captured, Error>), E>
where
    B: ReplicationBackend,
    F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
    E: From<Error> + Send,
    R: Send,
{
    match f(&mut *conn).await {
        Ok(v) => {
            let captured = backend
                .commit_and_capture(conn)
                .await
                .map_err(|source| E::from(commit_error(source)))?;
            Ok((v, captured))
        }
        Err(e) => {
            if let Err(rb) = Tm::<B::Connection>::rollback_transaction(conn).await {
                tracing::warn!(error = %rb, "rollback after a failed write failed");
            }
            Err(e)
        }
    }
}

/// Whether a failed COMMIT certainly did not commit: only when the server refused it. A lost
/// connection (diesel-async reports a Postgres socket closed while waiting for the answer as
/// `UnableToSendCommand`) leaves the outcome unknown.
fn commit_error(source: DieselError) -> Error {
    let definite = matches!(
        &source,
        DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::ReadOnlyTransaction
                | DatabaseErrorKind::RestrictViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::ExclusionViolation,
            _
        )
    );
    if definite {
        Error::Query {
            what: "COMMIT",
            node: "leader".into(),
            source,
        }
    } else {
        tracing::warn!(error = %source, "COMMIT outcome unknown: the connection failed while it was in flight");
        Error::CommitOutcomeUnknown {
            node: "leader".into(),
            source,
        }
    }
}
