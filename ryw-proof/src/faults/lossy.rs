//! The lossy failover fault: the leader killed, a replica promoted with what it had.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{FaultTarget, Nemesis};

/// How far the replica a lossy failover promotes trails the leader: what it loses.
const LOSSY_TRAIL: Duration = Duration::from_millis(500);
/// How long the replica a lossy failover promotes may take to catch up before it is
/// restarted (an earlier fault may have left its replication stuck).
const CANDIDATE_PATIENCE: Duration = Duration::from_secs(10);
/// How far every other replica trails meanwhile (more than the promoted one).
const OTHERS_TRAIL: Duration = Duration::from_secs(1);

impl<T: FaultTarget, B> Nemesis<'_, T, B> {
    /// Kills the leader and promotes `r` with what it had. First `r` is made to trail by
    /// [`LOSSY_TRAIL`] and every other replica by more (the testkit's proxies release held
    /// bytes by the current lag), and `r` is seen to apply what the leader had then: the
    /// writes of the last [`LOSSY_TRAIL`] are lost, and no other replica holds one the new
    /// leader lacks (it could not follow it).
    pub(super) async fn lossy_failover(&self, first: usize) {
        self.lags_held.store(true, Ordering::SeqCst);
        // The candidate: the first replica (from the drawn one on) that catches up with the
        // leader; an earlier fault may have left another's replication stuck. `r` then holds
        // at least what the leader had once the lags changed, so no other replica holds more.
        let mut live = self.live();
        let at = live.iter().position(|l| *l == first).unwrap_or(0);
        live.rotate_left(at);
        let r = first;
        self.trail_behind(&live, r).await;
        let mut chosen = None;
        for c in &live {
            if self
                .topo
                .wait_caught_up(*c, CANDIDATE_PATIENCE)
                .await
                .is_ok()
            {
                chosen = Some(*c);
                break;
            }
        }
        let r = match chosen {
            Some(c) => c,
            None => {
                // None did: the drawn one restarted, as a failover tool repairs its candidate.
                let name = format!("r{r}");
                let restart = self.topo.restart_replica(r);
                self.control("restart_replica", name.clone(), restart).await;
                let caught_up = self.topo.wait_caught_up(r, Duration::from_secs(30));
                self.control("wait_caught_up", name, caught_up).await;
                r
            }
        };
        // The chosen one trails least; then it trails again by `LOSSY_TRAIL`: what it loses.
        self.trail_behind(&live, r).await;
        tokio::time::sleep(LOSSY_TRAIL * 2).await;
        let name = format!("r{r}");
        if self
            .control("lossy_failover", name, self.topo.failover(r))
            .await
            .is_some()
        {
            self.promoted(r);
        }
        // The lag stream takes over again at its next draw; until then no replica trails.
        for other in self.live() {
            let detail = format!("r{other} 0ms");
            self.control("set_lag", detail, self.topo.set_lag(other, Duration::ZERO))
                .await;
        }
        self.lags_held.store(false, Ordering::SeqCst);
    }

    /// Sets every replica of `live` to trail: `r` by [`LOSSY_TRAIL`], the others by more.
    async fn trail_behind(&self, live: &[usize], r: usize) {
        for other in live {
            let lag = if *other == r {
                LOSSY_TRAIL
            } else {
                OTHERS_TRAIL
            };
            let detail = format!("r{other} {}ms", lag.as_millis());
            self.control("set_lag", detail, self.topo.set_lag(*other, lag))
                .await;
        }
    }
}
