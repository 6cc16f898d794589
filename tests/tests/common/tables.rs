//! Shared by the integration test binaries and the benches: the tables a test starts from,
//! on every node before it starts.

use std::time::Duration;

use ryw_testkit::Topology;

/// Runs `sql` (statements that create and fill tables) on the leader of `topo`, then waits
/// until every replica has applied it (30 s at most each).
pub(crate) async fn create_everywhere(topo: &impl Topology, sql: &str) {
    topo.execute_on_primary(sql).await.unwrap();
    for r in 0..topo.replica_count() {
        topo.wait_caught_up(r, Duration::from_secs(30))
            .await
            .unwrap();
    }
}
