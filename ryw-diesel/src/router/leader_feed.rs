//! The leader's position on the shared feed: one instance at a time polls the leader for it
//! (as for a replica: a lease with a fencing token) and publishes it; the others take it from
//! the feed, and poll the leader themselves only every tenth round — to keep their own
//! sample of the leader's round trip, which sizes latency-first routing's hedge — or while
//! no entry of the current epoch is fresh.

use std::time::{Duration, SystemTime};

use ryw_core::store::{Demand, FeedEntry, Lease, Published};

use super::leader::Leader;
use crate::backend::{Captured, ReplicationBackend};
use crate::tracker::FeedLink;

/// The leader's node name in the feed (replica names are the user's; this one is reserved).
pub(super) const LEADER_NODE: &str = "@leader";

/// A non-holder polls the leader itself once in this many rounds.
const OWN_POLL_EVERY: u32 = 10;

/// One router's side of the leader's feed.
pub(super) struct LeaderFeed {
    link: FeedLink,
    lease: Option<Lease>,
    /// How long a lease lasts unrenewed, and how old an entry may be.
    ttl: Duration,
    rounds: u32,
}

impl LeaderFeed {
    pub(super) fn new(link: FeedLink, ttl: Duration) -> Self {
        Self {
            link,
            lease: None,
            ttl,
            rounds: 0,
        }
    }

    /// Takes this round's leader position from the feed when it can (`true`); `false` when
    /// the router must poll the leader itself (it holds the lease, it is its round for a
    /// round-trip sample, or no entry is fresh — the lease is taken then if free).
    pub(super) async fn fed<B: ReplicationBackend>(&mut self, leader: &Leader<B>) -> bool {
        self.rounds = self.rounds.wrapping_add(1);
        let Some(feed) = self.link.store.feed() else {
            return false;
        };
        if self.lease.is_some() || self.rounds.is_multiple_of(OWN_POLL_EVERY) {
            return false;
        }
        let cluster = &self.link.cluster;
        match feed.read(cluster, LEADER_NODE, Demand::Idle).await {
            Ok((Some(entry), _)) if self.link.trusts(&entry, self.ttl) => {
                leader.advanced(&entry.position);
                true
            }
            Ok(_) => {
                let holder = &self.link.holder;
                self.lease = feed
                    .acquire(cluster, LEADER_NODE, holder, self.ttl)
                    .await
                    .ok()
                    .flatten();
                false
            }
            Err(_) => false,
        }
    }

    /// After this router's own poll (begun at `began`): published when it holds the lease.
    pub(super) async fn polled(&mut self, captured: &Captured, began: SystemTime) {
        let (Some(lease), Some(feed)) = (self.lease, self.link.store.feed()) else {
            return;
        };
        let entry = FeedEntry::new(captured.position.clone(), captured.epoch, began);
        let cluster = &self.link.cluster;
        if let Ok(Published::Fenced) = feed
            .publish(cluster, LEADER_NODE, lease, &entry, self.ttl)
            .await
        {
            self.lease = None;
        }
    }
}
