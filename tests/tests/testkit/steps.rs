//! Steps more than one test takes, each with the checks it has always made.

use std::time::{Duration, Instant};

use ryw_testkit::{Faults, Topology};

use crate::backend::Backend;
use crate::client::{Client, Failure};

/// The client of backend `B`.
type C<B> = <B as Backend>::Client;
/// An open connection of backend `B`.
pub(crate) type Conn<B> = <C<B> as Client>::Conn;

/// How long a frozen replica is given to answer.
const ANSWER: Duration = Duration::from_secs(1);

/// Opens a connection to `url`.
pub(crate) async fn conn<B: Backend>(url: &str) -> Conn<B> {
    C::<B>::conn(url).await
}

/// Rows of `table` with `id`, over `c`.
pub(crate) async fn count<B: Backend>(c: &mut Conn<B>, table: &str, id: i32) -> i64 {
    C::<B>::count(c, table, id).await
}

/// Runs `sql` over `c`.
pub(crate) async fn exec<B: Backend>(c: &mut Conn<B>, sql: &str) -> Result<(), Failure> {
    C::<B>::exec(c, sql).await
}

/// Polls (bounded) until the row is visible over `c`; returns the time it took.
pub(crate) async fn wait_visible<B: Backend>(
    c: &mut Conn<B>,
    table: &str,
    id: i32,
    bound: Duration,
) -> Duration {
    C::<B>::wait_visible(c, table, id, bound).await
}

/// Writes row `id` of `table` over `c`.
async fn insert<B: Backend>(c: &mut Conn<B>, table: &str, id: i32) {
    exec::<B>(c, &format!("INSERT INTO {table} VALUES ({id})"))
        .await
        .expect("insert");
}

/// Puts 500 ms of lag on replica 0, writes row `id` of `table` on the primary, and checks
/// that replica 0 does not see it yet.
pub(crate) async fn stale_under_lag<B: Backend>(
    topo: &B::Topo,
    primary: &mut Conn<B>,
    replica: &mut Conn<B>,
    table: &str,
    id: i32,
) {
    topo.set_lag(0, Duration::from_millis(500))
        .await
        .expect("lag");
    insert::<B>(primary, table, id).await;
    assert_eq!(
        count::<B>(replica, table, id).await,
        0,
        "must be stale under lag"
    );
}

/// Pauses replay on replica 1 (`replica` is connected to it), writes row `id` of `table`,
/// checks that the replica neither applies it nor counts as caught up, resumes, and waits
/// until the row is visible.
pub(crate) async fn paused_then_resumed<B: Backend>(
    topo: &B::Topo,
    primary: &mut Conn<B>,
    replica: &mut Conn<B>,
    table: &str,
    id: i32,
) {
    topo.pause_replay(1).await.expect("pause");
    insert::<B>(primary, table, id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count::<B>(replica, table, id).await,
        0,
        "paused replica applied"
    );
    assert!(
        topo.wait_caught_up(1, Duration::from_millis(300))
            .await
            .is_err(),
        "wait_caught_up must time out while paused"
    );
    topo.resume_replay(1).await.expect("resume");
    wait_visible::<B>(replica, table, id, Duration::from_secs(5)).await;
}

/// Kills replica 0 (at `url`), checks it accepts no connection, writes row 1 of `kill_t`,
/// restarts the replica and checks it caught up.
pub(crate) async fn kill_and_restart_replica<B: Backend>(topo: &B::Topo, url: &str) {
    topo.kill_replica(0).await.expect("kill");
    assert!(
        !C::<B>::connects(url).await,
        "killed replica still accepts connections"
    );
    topo.execute_on_primary("INSERT INTO kill_t VALUES (1)")
        .await
        .expect("insert");
    let t0 = Instant::now();
    topo.restart_replica(0).await.expect("restart replica");
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .expect("caught up");
    eprintln!(
        "{} replica restart + catch-up in {:?}",
        B::NAME,
        t0.elapsed()
    );
    assert_eq!(count::<B>(&mut conn::<B>(url).await, "kill_t", 1).await, 1);
}

/// After a restart of the primary: writes row 2 of `kill_t` and waits until replica 0 has it.
pub(crate) async fn replicates_after_primary_restart<B: Backend>(topo: &B::Topo) {
    topo.execute_on_primary("INSERT INTO kill_t VALUES (2)")
        .await
        .expect("insert after primary restart");
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .expect("caught up after primary restart");
}

/// On a fresh topology: a frozen replica 0 answers nothing until thawed, killing the
/// primary's client connections breaks an open one, and a crash restart of the primary keeps
/// committed rows and replication (to `replica`). Leaves table `f` with rows 1 and 2.
pub(crate) async fn survives_harsh_faults<B: Backend>(topo: &B::Topo, replica: usize) {
    topo.execute_on_primary("CREATE TABLE f (id int); INSERT INTO f VALUES (1)")
        .await
        .expect("setup");
    topo.wait_caught_up(0, Duration::from_secs(20))
        .await
        .expect("caught up");
    let mut r0 = conn::<B>(&topo.replica_urls()[0]).await;

    // Frozen: no answer within the deadline; thawed: answers again.
    topo.freeze_replica(0).await.expect("freeze");
    let frozen = tokio::time::timeout(ANSWER, C::<B>::total(&mut r0, "f")).await;
    assert!(frozen.is_err(), "a frozen replica answered");
    topo.thaw_replica(0).await.expect("thaw");
    let thawed = tokio::time::timeout(Duration::from_secs(10), C::<B>::total(&mut r0, "f")).await;
    assert_eq!(thawed.expect("answers after thaw"), 1);

    // Killing client connections breaks an open one.
    let mut victim = conn::<B>(&topo.primary_url()).await;
    let killed = topo.kill_primary_connections().await.expect("kill");
    assert!(killed >= 1, "killed {killed}");
    assert!(exec::<B>(&mut victim, "SELECT 1").await.is_err());

    // Crash restart keeps committed rows and replication.
    topo.restart_primary_immediate()
        .await
        .expect("crash restart");
    topo.execute_on_primary("INSERT INTO f VALUES (2)")
        .await
        .expect("write after crash");
    topo.wait_caught_up(replica, Duration::from_secs(20))
        .await
        .expect("replicates");
}
