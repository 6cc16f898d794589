//! The leader's position read to fence a read, shared. A position whose read began after a
//! read began covers every write acknowledged before that read began, so every read that
//! began before it can fence by it. When many reads need one at once (a scope store that
//! cannot be read: every read fences this way), they take turns on one read at a time and
//! share its answer: about one leader query per round trip, not one per read.

use std::time::Duration;

use tokio::time::Instant;

use super::leader::Leader;
use crate::Error;
use crate::backend::{Captured, ReplicationBackend};

impl<B: ReplicationBackend> Leader<B> {
    /// The leader's position as read after `since` (reading it now unless a read that began
    /// after `since` already answered), within `within`.
    pub(super) async fn position_since(
        &self,
        since: Instant,
        within: Duration,
    ) -> Result<Captured, Error> {
        let mut last = self.fresh.lock().await;
        if let Some((started, captured)) = last.as_ref()
            && *started >= since
        {
            return Ok(captured.clone());
        }
        let started = Instant::now();
        let captured = self.position(within).await?;
        *last = Some((started, captured.clone()));
        Ok(captured)
    }
}
