//! The demo's claim as a test: with the same lagging replicas, plain replica routing serves
//! stale balances and ryw serves none, through the real HTTP service and its tower layer.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use payments::demo::{Mode, run_mode};
use payments::http::{AppState, app};
use payments::repo::{PgPayments, schema};
use ryw::layer::RywLayer;
use ryw::{KeyRing, TokenCodec};
use ryw::{Postgres, ReplicatedPool, Router, RouterConfig};
use ryw_testkit::{PgTopology, Topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_routing_is_stale_and_ryw_is_not() {
    let topo = PgTopology::start(2).await.unwrap();
    for stmt in schema(true, 40, 1_000) {
        topo.execute_on_primary(&stmt).await.unwrap();
    }
    for r in 0..2 {
        topo.wait_caught_up(r, Duration::from_secs(10))
            .await
            .unwrap();
        topo.set_lag(r, Duration::from_millis(300)).await.unwrap();
    }
    let urls = topo.replica_urls();
    let pool = ReplicatedPool::builder(Postgres::new(), topo.primary_url())
        .replica("r0", &urls[0])
        .replica("r1", &urls[1])
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default()).await.unwrap();
    assert!(router.ready(Duration::from_secs(5)).await);
    let stats_router = router.clone();
    let state = Arc::new(AppState {
        repo: PgPayments { router },
        plain_reads: Default::default(),
        stats: Box::new(move || stats_router.stats()),
        layer: ryw::layer::LayerStats::default(),
    });
    let layer = RywLayer::new(TokenCodec::new(KeyRing::new(1, &[3; 32]).unwrap()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app(state, layer, payments::http::Limits::default()),
        )
        .await
    });

    let plain = run_mode(&base, 1, 20, 1_000, 2, Mode::Plain).await.unwrap();
    let ryw = run_mode(&base, 21, 20, 1_000, 2, Mode::Ryw).await.unwrap();
    server.abort();

    assert_eq!(plain.reads, 40);
    assert!(
        plain.stale > 0,
        "the lag must make plain replica reads stale"
    );
    assert_eq!(ryw.reads, 40);
    assert_eq!(ryw.stale, 0, "ryw must never serve a stale balance");
    assert_eq!(ryw.stats.replica_reads + ryw.stats.leader_reads, 40);
}
