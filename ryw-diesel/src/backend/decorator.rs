//! Backends that change part of another backend's behaviour (a fault injected into the
//! capture, a capture pinned for a test, a metric around the poll) and forward the rest.
//!
//! Implement [`Decorator`] with [`inner`](Decorator::inner) and only the methods that
//! change; every [`Decorator`] is a [`ReplicationBackend`].
//!
//! ```
//! use ryw_diesel::backend::{Captured, Decorator, ReplicationBackend};
//! use ryw_diesel::{Error, Postgres};
//!
//! /// Logs every capture, changes nothing else.
//! #[derive(Clone)]
//! struct Logged(Postgres);
//!
//! impl Decorator for Logged {
//!     type Inner = Postgres;
//!
//!     fn inner(&self) -> &Postgres {
//!         &self.0
//!     }
//!
//!     async fn capture(
//!         &self,
//!         conn: &mut diesel_async::AsyncPgConnection,
//!     ) -> Result<Captured, Error> {
//!         let captured = ReplicationBackend::capture(&self.0, conn).await?;
//!         tracing::info!(position = %captured.position, "captured");
//!         Ok(captured)
//!     }
//! }
//! ```

use std::future::Future;
use std::time::Duration;

use diesel_async::{AsyncConnection, TransactionManager};
use ryw_core::position::LeaderHolds;
use ryw_core::{ClusterId, EpochHistory, Family, Position, PositionKind};

use super::{Captured, ReplicaPosition, ReplicationBackend, WaitMethod, WaitOutcome};
use crate::Error;

type Conn<D> = <<D as Decorator>::Inner as ReplicationBackend>::Connection;
type Manager<D> = <<D as Decorator>::Inner as ReplicationBackend>::Manager;

/// A backend made of another: each method defaults to the inner backend's.
pub trait Decorator: Clone + Send + Sync + 'static {
    /// The backend decorated.
    type Inner: ReplicationBackend;

    /// How this backend waits (the inner backend's way by default).
    const WAIT: WaitMethod = <Self::Inner as ReplicationBackend>::WAIT;

    /// The backend decorated.
    fn inner(&self) -> &Self::Inner;

    /// See [`ReplicationBackend::manager`].
    fn manager(&self, url: &str) -> Manager<Self> {
        self.inner().manager(url)
    }

    /// See [`ReplicationBackend::kind`].
    fn kind(&self) -> PositionKind {
        self.inner().kind()
    }

    /// See [`ReplicationBackend::family`].
    fn family(&self) -> Family {
        self.inner().family()
    }

    /// See [`ReplicationBackend::is_alive`].
    fn is_alive(&self, conn: &mut Conn<Self>) -> impl Future<Output = bool> + Send {
        self.inner().is_alive(conn)
    }

    /// See [`ReplicationBackend::cluster_id`].
    fn cluster_id(
        &self,
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<ClusterId, Error>> + Send {
        self.inner().cluster_id(conn)
    }

    /// See [`ReplicationBackend::capture`].
    fn capture(
        &self,
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<Captured, Error>> + Send {
        self.inner().capture(conn)
    }

    /// See [`ReplicationBackend::commit_and_capture`]. The default is the two-step one —
    /// COMMIT, then this decorator's [`capture`](Self::capture) — so a decorator that changes
    /// the capture is never bypassed by the inner backend's one-round-trip path. A decorator
    /// that leaves the capture alone can forward to `self.inner().commit_and_capture(conn)`
    /// to keep that path.
    fn commit_and_capture(
        &self,
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<Result<Captured, Error>, diesel::result::Error>> + Send {
        async move {
            <Conn<Self> as AsyncConnection>::TransactionManager::commit_transaction(conn).await?;
            Ok(Decorator::capture(self, conn).await)
        }
    }

    /// See [`ReplicationBackend::leader_position`].
    fn leader_position(
        &self,
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<Captured, Error>> + Send {
        self.inner().leader_position(conn)
    }

    /// See [`ReplicationBackend::epoch_history`].
    fn epoch_history(
        &self,
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<Option<EpochHistory>, Error>> + Send {
        self.inner().epoch_history(conn)
    }

    /// See [`ReplicationBackend::leader_holds`].
    fn leader_holds(
        &self,
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<Option<LeaderHolds>, Error>> + Send {
        self.inner().leader_holds(conn)
    }

    /// See [`ReplicationBackend::replica_position`].
    fn replica_position(
        &self,
        conn: &mut Conn<Self>,
        node: &str,
    ) -> impl Future<Output = Result<ReplicaPosition, Error>> + Send {
        self.inner().replica_position(conn, node)
    }

    /// See [`ReplicationBackend::server_wait`].
    fn server_wait(
        &self,
        conn: &mut Conn<Self>,
        node: &str,
        position: &Position,
        timeout: Duration,
    ) -> impl Future<Output = Result<WaitOutcome, Error>> + Send {
        self.inner().server_wait(conn, node, position, timeout)
    }

    /// See [`ReplicationBackend::prepare_read`].
    fn prepare_read(
        &self,
        conn: &mut Conn<Self>,
        node: &str,
        floor: Option<&Position>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.inner().prepare_read(conn, node, floor)
    }
}

impl<D: Decorator> ReplicationBackend for D {
    type Connection = Conn<D>;
    type Manager = Manager<D>;
    const WAIT: WaitMethod = <D as Decorator>::WAIT;

    fn manager(&self, url: &str) -> Self::Manager {
        Decorator::manager(self, url)
    }

    fn kind(&self) -> PositionKind {
        Decorator::kind(self)
    }

    fn family(&self) -> Family {
        Decorator::family(self)
    }

    fn is_alive(&self, conn: &mut Self::Connection) -> impl Future<Output = bool> + Send {
        Decorator::is_alive(self, conn)
    }

    fn cluster_id(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<ClusterId, Error>> + Send {
        Decorator::cluster_id(self, conn)
    }

    fn capture(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Captured, Error>> + Send {
        Decorator::capture(self, conn)
    }

    fn commit_and_capture(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Result<Captured, Error>, diesel::result::Error>> + Send {
        Decorator::commit_and_capture(self, conn)
    }

    fn leader_position(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Captured, Error>> + Send {
        Decorator::leader_position(self, conn)
    }

    fn epoch_history(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Option<EpochHistory>, Error>> + Send {
        Decorator::epoch_history(self, conn)
    }

    fn leader_holds(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Option<LeaderHolds>, Error>> + Send {
        Decorator::leader_holds(self, conn)
    }

    fn replica_position(
        &self,
        conn: &mut Self::Connection,
        node: &str,
    ) -> impl Future<Output = Result<ReplicaPosition, Error>> + Send {
        Decorator::replica_position(self, conn, node)
    }

    fn server_wait(
        &self,
        conn: &mut Self::Connection,
        node: &str,
        position: &Position,
        timeout: Duration,
    ) -> impl Future<Output = Result<WaitOutcome, Error>> + Send {
        Decorator::server_wait(self, conn, node, position, timeout)
    }

    fn prepare_read(
        &self,
        conn: &mut Self::Connection,
        node: &str,
        floor: Option<&Position>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        Decorator::prepare_read(self, conn, node, floor)
    }
}
