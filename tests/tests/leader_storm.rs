//! Every replica lags 2 s and 200 fenced readers arrive at once, each right after its own
//! write: the storm GitLab and others met, where every read falls back to the leader. The
//! leader serves at most `leader_fallback_limit` of them at a time — by the router's count
//! and by the server's own (`pg_stat_activity`, sampled) — and the policy decides the rest:
//! queue (all served, none stale), fail with `LeaderBusy` (counted), or stale (flagged).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::{Error, LeaderBusy, Postgres, ReplicatedPool, Router, RouterConfig};
use ryw::{ReadPolicy, RywContext, ScopeKey};
use ryw_testkit::{PgTopology, Topology};

#[path = "common/tables.rs"]
mod tables;

const READERS: i64 = 200;
const LIMIT: usize = 4;
const LAG: Duration = Duration::from_secs(2);

/// The outcome of one storm: reads fresh, stale-flagged, shed; stale reads not flagged; the
/// leader's busiest moment as the server saw it.
#[derive(Debug, Default)]
struct Storm {
    fresh: i64,
    flagged: i64,
    shed: i64,
    unflagged_stale: i64,
    leader_peak_seen: i64,
}

/// The leader's backends running the storm's read right now.
async fn leader_active(conn: &mut AsyncPgConnection) -> i64 {
    diesel::select(sql::<BigInt>(
        "(SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
          AND query LIKE '%storm-read%' AND query NOT LIKE '%pg_stat_activity%')",
    ))
    .get_result(conn)
    .await
    .unwrap()
}

async fn storm(topo: &PgTopology, round: i64, busy: LeaderBusy) -> (Storm, ryw::RouterStats) {
    let mut builder = ReplicatedPool::builder(Postgres::new(), topo.primary_url())
        .config(ryw::PoolConfig::default().with_max_size(32));
    for (i, url) in topo.replica_urls().iter().enumerate() {
        builder = builder.replica(format!("r{i}"), url);
    }
    let policy = ReadPolicy::default()
        .with_wait_budget(Duration::from_secs(1))
        .with_leader_busy(busy);
    let config = RouterConfig::default()
        .with_policy(policy)
        .with_leader_fallback_limit(LIMIT, Duration::from_secs(20));
    let router = Router::new(builder.build().unwrap(), config).await.unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    // Steady state: the trackers have seen each replica apply a write, so the router knows
    // how far behind they run.
    router
        .write(&ScopeKey::of("user_id", 0), async |conn| {
            diesel::sql_query("UPDATE storm SET v = v + 1 WHERE id = 0")
                .execute(conn)
                .await
                .map_err(Error::from_diesel)
        })
        .await
        .unwrap();
    let known = async {
        while router
            .replica_status()
            .iter()
            .any(|(_, s)| s.replay_lag.is_none_or(|l| l < LAG * 3 / 4))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), known)
        .await
        .expect("the trackers never saw a replica apply a write");

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (stop, peak, url) = (Arc::clone(&stop), Arc::clone(&peak), topo.primary_url());
        tokio::spawn(async move {
            let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
            // Bounded: at most 60 s of samples.
            for _ in 0..12_000 {
                if AtomicBool::load(&stop, Ordering::SeqCst) {
                    break;
                }
                peak.fetch_max(leader_active(&mut conn).await, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for id in 1..=READERS {
        let router = router.clone();
        tasks.push(tokio::spawn(RywContext::new().run(async move {
            let user = ScopeKey::of("user_id", id);
            let v = round * 1000 + id;
            router
                .write(&user, async move |conn| {
                    diesel::sql_query(format!("UPDATE storm SET v = {v} WHERE id = {id}"))
                        .execute(conn)
                        .await
                        .map_err(Error::from_diesel)
                })
                .await
                .unwrap();
            let read = router
                .read(&user, async move |conn| {
                    // Long enough that concurrent reads overlap on the server.
                    diesel::select(sql::<BigInt>(&format!(
                        "(SELECT v FROM storm, pg_sleep(0.05) WHERE id = {id} /* storm-read */)"
                    )))
                    .get_result::<i64>(conn)
                    .await
                    .map_err(Error::from_diesel)
                })
                .await;
            (v, read)
        })));
    }
    let mut out = Storm::default();
    for t in tasks {
        let (v, read) = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("a reader hung")
            .unwrap();
        match read {
            Ok(r) if r.stale => out.flagged += 1,
            Ok(r) if r.value == v => out.fresh += 1,
            Ok(_) => out.unflagged_stale += 1,
            Err(Error::LeaderBusy { .. }) => out.shed += 1,
            Err(e) => panic!("unexpected read error: {e}"),
        }
    }
    stop.store(true, Ordering::SeqCst);
    sampler.await.unwrap();
    out.leader_peak_seen = AtomicI64::load(&peak, Ordering::SeqCst);
    (out, router.stats())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_serves_at_most_its_fallback_bound_when_every_replica_lags() {
    let topo = PgTopology::start(2).await.unwrap();
    let rows: Vec<String> = (0..=READERS).map(|i| format!("({i}, 0)")).collect();
    tables::create_everywhere(
        &topo,
        &format!(
            "CREATE TABLE storm (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO storm VALUES {}",
            rows.join(",")
        ),
    )
    .await;
    for r in 0..2 {
        topo.set_lag(r, LAG).await.unwrap();
    }

    // The lag is real: a plain replica read right after a write misses it.
    topo.execute_on_primary("UPDATE storm SET v = -1 WHERE id = 1")
        .await
        .unwrap();
    let mut replica = AsyncPgConnection::establish(&topo.replica_urls()[0])
        .await
        .unwrap();
    let naive: i64 = diesel::select(sql::<BigInt>("(SELECT v FROM storm WHERE id = 1)"))
        .get_result(&mut replica)
        .await
        .unwrap();
    assert_ne!(
        naive, -1,
        "the replica is not lagging: the storm would prove nothing"
    );

    for (round, busy) in [
        (1, LeaderBusy::Queue),
        (2, LeaderBusy::Error),
        (3, LeaderBusy::Stale),
    ] {
        let (out, stats) = storm(&topo, round, busy).await;
        println!("{busy:?}: {out:?}\n  {stats:?}");
        assert!(
            stats.leader_fallback_peak <= LIMIT,
            "{busy:?}: the router let {} fallbacks run at once",
            stats.leader_fallback_peak
        );
        assert!(
            out.leader_peak_seen <= i64::try_from(LIMIT).unwrap(),
            "{busy:?}: the leader ran {} storm reads at once",
            out.leader_peak_seen
        );
        assert!(
            out.leader_peak_seen > 0,
            "{busy:?}: the sampler saw nothing"
        );
        assert!(
            stats.leader_busy > 0,
            "{busy:?}: the bound was never reached"
        );
        assert_eq!(
            out.unflagged_stale, 0,
            "{busy:?}: a stale read was not flagged"
        );
        assert_eq!(out.fresh + out.flagged + out.shed, READERS);
        match busy {
            LeaderBusy::Queue => assert_eq!((out.fresh, out.shed, out.flagged), (READERS, 0, 0)),
            LeaderBusy::Error => {
                assert!(out.shed > 0 && out.flagged == 0);
                assert_eq!(stats.leader_shed, u64::try_from(out.shed).unwrap());
            }
            _ => assert!(out.flagged > 0 && out.shed == 0),
        }
        // The 2 s lag outlasts the 1 s budget: no read burned it waiting.
        assert!(stats.waits_skipped > 0, "{busy:?}: {stats:?}");
    }
}
