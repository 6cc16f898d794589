//! Telling a lost connection from a refused statement, in the errors diesel-async reports.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Message fragments (lower case) of errors that mean the connection went away: Postgres
/// terminating or refusing the backend (SQLSTATE class 57P), closed or reset sockets, MySQL's
/// "server has gone away" and I/O errors.
const LOST: [&str; 12] = [
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "connection closed",
    "connection reset",
    "broken pipe",
    "server has gone away",
    "lost connection",
    "input/output error",
    "connection refused",
    "unexpected end of file",
];

/// Whether `e` says the connection was lost (closed, reset, terminated by the server, the
/// server shutting down) rather than that the server refused the statement.
///
/// A statement that fails this way inside a write's transaction, *before* COMMIT, changed
/// nothing: the server rolls the transaction back with the connection, so the whole write can
/// be retried (the payments example answers 503 with `Retry-After`). A COMMIT that fails this
/// way is different — see [`Error::CommitOutcomeUnknown`](crate::Error::CommitOutcomeUnknown).
///
/// diesel-async reports a Postgres error without an SQLSTATE (a closed socket) as
/// `UnableToSendCommand`, and MySQL I/O errors as `Unknown` with the driver's text, so the
/// message is read too.
///
/// ```
/// use diesel::result::{DatabaseErrorKind, Error};
/// let closed = Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, Box::new("connection closed".to_owned()));
/// let refused = Error::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new("duplicate key".to_owned()));
/// assert!(ryw_diesel::is_connection_lost(&closed));
/// assert!(!ryw_diesel::is_connection_lost(&refused));
/// ```
#[must_use]
pub fn is_connection_lost(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message().to_ascii_lowercase();
            LOST.iter().any(|fragment| message.contains(fragment))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn lost_connections_are_told_from_refused_statements() {
        for lost in [
            db(
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            db(
                DatabaseErrorKind::Unknown,
                "FATAL: the database system is shutting down",
            ),
            db(
                DatabaseErrorKind::Unknown,
                "Input/output error: Connection reset by peer",
            ),
            db(DatabaseErrorKind::Unknown, "MySQL server has gone away"),
            db(DatabaseErrorKind::ClosedConnection, ""),
            db(DatabaseErrorKind::UnableToSendCommand, "connection closed"),
        ] {
            assert!(is_connection_lost(&lost), "{lost:?}");
        }
        for refused in [
            db(
                DatabaseErrorKind::Unknown,
                "relation \"nope\" does not exist",
            ),
            db(
                DatabaseErrorKind::SerializationFailure,
                "could not serialize access",
            ),
            db(DatabaseErrorKind::CheckViolation, "connection reset"),
            DieselError::NotFound,
        ] {
            assert!(!is_connection_lost(&refused), "{refused:?}");
        }
    }
}
