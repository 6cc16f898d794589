//! The client-side cache pattern ("instant UI"), through the real service: a payment's
//! response carries the new balance (render it at once) and the session token; another
//! device that sends that token reads its own write while a plain replica read is still
//! stale. On Postgres and MariaDB, replicas 300 ms behind.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use payments::http::{AppState, BalanceBody, Limits, PayRequest, app};
use payments::repo::{MariaPayments, Payments, PgPayments, schema};
use reqwest::Client;
use ryw::backend::ReplicationBackend;
use ryw::layer::RywLayer;
use ryw::{KeyRing, Mysql, Postgres, ReplicatedPool, Router, RouterConfig, TokenCodec};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, Topology};

const LAG: Duration = Duration::from_millis(300);

/// Serves `repo` and checks the pattern; `stats` reads the router's counters.
async fn instant_ui<R: Payments + Send + Sync + 'static>(
    name: &str,
    repo: R,
    stats: Box<dyn Fn() -> ryw::RouterStats + Send + Sync>,
) {
    let state = Arc::new(AppState {
        repo,
        plain_reads: Default::default(),
        stats,
        layer: ryw::layer::LayerStats::default(),
    });
    let layer = RywLayer::new(TokenCodec::new(KeyRing::new(1, &[5; 32]).unwrap()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server =
        tokio::spawn(
            async move { axum::serve(listener, app(state, layer, Limits::default())).await },
        );
    let (phone, laptop) = (Client::new(), Client::new());

    let paid = phone
        .post(format!("{base}/users/1/payments"))
        .json(&PayRequest { cents: 100 })
        .send()
        .await
        .unwrap();
    let header = paid
        .headers()
        .get("ryw-token")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: BalanceBody = paid.json().await.unwrap();
    assert_eq!(
        body.balance, 900,
        "{name}: the response carries the new balance"
    );
    let token = body
        .token
        .clone()
        .expect("the payment's body carries the token");
    // The header carries it too (encoded a moment later, so the bytes may differ).
    assert!(
        header.is_some_and(|h| !h.is_empty()),
        "{name}: no token header"
    );

    // A plain replica read right now still shows the old balance: rendering from the
    // response is what makes the UI instant.
    let plain: BalanceBody = laptop
        .get(format!("{base}/users/1/balance?routing=plain"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain.balance, 1_000, "{name}: the lag is not real");

    // Another device with the token reads its own write.
    let fresh: BalanceBody = laptop
        .get(format!("{base}/users/1/balance"))
        .header("ryw-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        fresh.balance, body.balance,
        "{name}: the token's read missed the write"
    );
    assert!(
        fresh.token.is_none(),
        "{name}: reads carry no token in the body"
    );
    server.abort();
}

/// The payments schema on `topo` (Postgres's dialect when `postgres`), its one replica
/// [`LAG`] behind, and a ready router over it. No shared store: the token alone carries the
/// floor to the other device.
async fn lagging_router<B: ReplicationBackend>(
    topo: &impl Topology,
    backend: B,
    postgres: bool,
) -> Router<B> {
    for stmt in schema(postgres, 4, 1_000) {
        topo.execute_on_primary(&stmt).await.unwrap();
    }
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .unwrap();
    topo.set_lag(0, LAG).await.unwrap();
    let pool = ReplicatedPool::builder(backend, topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let router = Router::without_store(pool, RouterConfig::default())
        .await
        .unwrap();
    assert!(router.ready(Duration::from_secs(5)).await);
    router
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_payment_response_carries_balance_and_token() {
    let topo = PgTopology::start(1).await.unwrap();
    let router = lagging_router(&topo, Postgres::new(), true).await;
    let r = router.clone();
    instant_ui(
        "postgres",
        PgPayments { router },
        Box::new(move || r.stats()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_payment_response_carries_balance_and_token() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    Box::pin(mysql_family("mariadb", topo)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_payment_response_carries_balance_and_token() {
    let topo = MysqlTopology::start(1).await.unwrap();
    Box::pin(mysql_family("mysql", topo)).await;
}

async fn mysql_family<T: Topology>(name: &str, topo: T) {
    let router = lagging_router(&topo, Mysql::new(), false).await;
    let r = router.clone();
    instant_ui(name, MariaPayments { router }, Box::new(move || r.stats())).await;
}
