//! The events a router books in its [`Ledger`](super::ledger::Ledger).

use std::time::Duration;

use ryw_core::{ClusterId, LostFloor, Position, RywError, ScopeKey};

use super::outcome::FallbackReason;
use crate::Error;

/// What a read had to give up on at its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Overran {
    /// Checking out a replica connection.
    Checkout,
    /// A read on a replica.
    Read,
    /// A server-side wait.
    ServerWait,
}

impl Overran {
    pub(super) fn what(self) -> &'static str {
        match self {
            Self::Checkout => "replica connection checkout",
            Self::Read => "replica read",
            Self::ServerWait => "server-side wait",
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Checkout => "replica_checkout",
            Self::Read => "replica_read",
            Self::ServerWait => "server_wait",
        }
    }
}

/// What a sampled read's self-verification concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Ok,
    Mismatch,
    Unchecked,
}

/// Something that happened on the router and is worth counting.
pub(super) enum Event<'a> {
    /// A read ran: where, whether fenced, whether stale, and why on the leader.
    Read {
        leader: bool,
        fenced: bool,
        stale: bool,
        fallback: Option<FallbackReason>,
    },
    /// A fenced read failed under `Fallback::Error`.
    FenceTimeout,
    /// A read waited for a replica (and whether one reached its floor).
    ReadWait { waited: Duration, reached: bool },
    /// A fenced read went to its fallback at once: no replica was expected in time.
    WaitSkipped,
    /// A server-side wait statement was sent for a read.
    ServerWait,
    /// Something on a replica was abandoned at its deadline.
    Deadline {
        replica: &'a str,
        what: Overran,
        after: Duration,
    },
    /// A replica connection could not be had.
    ReplicaUnreachable { replica: &'a str, error: &'a Error },
    /// A replica read met a dead pooled connection and ran again on a fresh one.
    DeadConnectionRetried,
    /// A replica read overran and the leader ran it again.
    ReadRerun,
    /// A read bound for the leader found its budget used up; `waits`: it then waited for a
    /// slot (or a replica), rather than failing or reading stale at once.
    LeaderBusy { waits: bool },
    /// Such a read failed with `Error::LeaderBusy`.
    LeaderShed { limit: usize, waited: Duration },
    /// A write committed: whether its position is known.
    Write { captured: bool },
    /// Dead leader connections a write's BEGIN left behind.
    BeginRetries(u64),
    /// A capture failed on the committing connection and succeeded on a fresh one
    /// (`leader_changed`: on another leader than the one that acknowledged the commit).
    Recaptured {
        scope: &'a ScopeKey,
        first: &'a Error,
        leader_changed: bool,
    },
    /// A write committed without a known position.
    Uncaptured {
        scope: &'a ScopeKey,
        first: &'a Error,
        last: &'a str,
    },
    /// A write outside any context on a router without a store.
    UnfencedBySetup { scope: &'a ScopeKey },
    /// A scope written without a position was fenced by the leader's position.
    UnfencedResolved,
    /// … or read from the leader, whose position could not be read.
    UnfencedOnLeader {
        scope: &'a ScopeKey,
        error: &'a Error,
    },
    /// A floor of another cluster of the same family (`foreign`) was ignored by this
    /// router's cluster (`ours`).
    ForeignFloor {
        scope: &'a ScopeKey,
        foreign: &'a ClusterId,
        ours: &'a ClusterId,
    },
    /// The scope store failed.
    StoreError {
        store: &'static str,
        scope: &'a ScopeKey,
        error: &'a RywError,
    },
    /// A read run while the store answered, kept.
    StoreOverlapped,
    /// … discarded and routed again.
    StoreOverlapRedone,
    /// The leader is on a new epoch.
    EpochChange { cluster: &'a ClusterId, epoch: u32 },
    /// Another server leads (MySQL, MariaDB: a failover or switchover).
    LeaderChanged {
        cluster: &'a ClusterId,
        server: &'a str,
    },
    /// Floors a failover lost.
    FloorsLost {
        cluster: &'a ClusterId,
        lost: &'a [LostFloor],
    },
    /// The scope store began a new life (it lost its data): reads are fenced by `fence`, the
    /// leader's position then, until every replica passed it.
    StoreLost { fence: &'a Position },
    /// A monotonic read whose position could not be read.
    MonotonicMiss,
    /// A sampled read's self-verification.
    Verified(Verdict),
}
