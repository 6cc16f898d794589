//! The router's background task beside the trackers.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::watch;

use super::*;

/// Keeps the leader's current position fresh for lag-in-bytes figures, and notices a new
/// leader epoch (a failover) even while nothing is written.
pub(super) async fn poll_leader<B: ReplicationBackend>(
    router: Weak<Inner<B>>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        {
            let Some(inner) = router.upgrade() else {
                return;
            };
            let router = Router { inner };
            let read = async {
                let mut conn = router.inner.pool.leader().await?;
                router.inner.pool.backend.leader_position(&mut conn).await
            };
            if let Ok(Ok(p)) =
                tokio::time::timeout(interval.max(Duration::from_secs(1)), read).await
            {
                router.inner.history.record(Instant::now(), &p.position);
                router.inner.leader_hint.send_if_modified(|h| match h {
                    Some(cur) if cur.covers(&p.position).unwrap_or(true) => false,
                    _ => {
                        *h = Some(p.position.clone());
                        true
                    }
                });
                router.observe_epoch(p.epoch).await;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
