//! The router's background task beside the trackers.

use std::time::Duration;

use ryw_core::Position;
use tokio::sync::watch;

use crate::backend::Backend;
use crate::pool::ReplicatedPool;

/// Keeps the leader's current position fresh for lag-in-bytes figures.
pub(super) async fn poll_leader<B: Backend>(
    pool: ReplicatedPool<B>,
    hint: watch::Sender<Option<Position>>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Ok(mut conn) = pool.leader().await
            && let Ok(p) = pool.backend.leader_position(&mut conn).await
        {
            hint.send_if_modified(|h| match h {
                Some(cur) if cur.covers(&p).unwrap_or(true) => false,
                _ => {
                    *h = Some(p);
                    true
                }
            });
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
