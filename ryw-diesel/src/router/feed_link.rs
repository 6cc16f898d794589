//! A router's link to the shared position feed of its store: what its trackers publish and
//! read under, and the name it holds leases by.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use ryw_core::{ClusterId, ScopeStore};

use super::leader::Leader;
use crate::backend::ReplicationBackend;
use crate::tracker::FeedLink;

/// The feed link of a router on `store` serving `cluster`: a holder name unique to this
/// router (process id, start time, a counter), and the leader's epoch as it knows it.
pub(super) fn feed_link<B: ReplicationBackend>(
    store: &Arc<dyn ScopeStore>,
    cluster: &ClusterId,
    leader: &Arc<Leader<B>>,
) -> FeedLink {
    static ROUTERS: AtomicU64 = AtomicU64::new(0);
    let started = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = ROUTERS.fetch_add(1, Ordering::Relaxed);
    let holder = format!("{}-{started:x}-{n}", std::process::id());
    let leader = Arc::clone(leader);
    FeedLink {
        store: Arc::clone(store),
        cluster: cluster.clone(),
        holder: holder.into(),
        epoch: Arc::new(move || leader.epoch()),
    }
}
