//! A payment the balance does not cover is refused whole (409), under concurrency too: the
//! debit and the check are one statement.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use payments::repo::{AppError, Payments, PgPayments, schema};
use ryw::RywContext;
use ryw::{Postgres, ReplicatedPool, Router, RouterConfig};
use ryw_testkit::{PgTopology, Topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdrafts_are_refused() {
    let topo = PgTopology::start(1).await.unwrap();
    for sql in schema(true, 1, 100) {
        topo.execute_on_primary(&sql).await.unwrap();
    }
    let pool = ReplicatedPool::builder(Postgres::new(), topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default()).await.unwrap();
    let repo = PgPayments { router };
    RywContext::new()
        .run(async {
            match repo.pay(1, 101).await {
                Err(AppError::InsufficientFunds { balance, cents }) => {
                    assert_eq!((balance, cents), (100, 101));
                }
                other => panic!("an overdraft went through: {other:?}"),
            }
            assert_eq!(repo.balance(1).await.unwrap(), 100);
            // Ten concurrent payments of 30: only three fit.
            let paid = futures_join(&repo).await;
            assert_eq!(paid, 3);
            assert_eq!(repo.balance(1).await.unwrap(), 10);
            assert!(matches!(repo.pay(2, 1).await, Err(AppError::NoUser(2))));
        })
        .await;
}

async fn futures_join(repo: &PgPayments) -> usize {
    let results = futures_util::future::join_all((0..10).map(|_| repo.pay(1, 30))).await;
    let mut ok = 0;
    for r in results {
        match r {
            Ok(_) => ok += 1,
            Err(AppError::InsufficientFunds { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    ok
}
