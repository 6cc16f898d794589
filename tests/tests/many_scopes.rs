//! A write that changes several scopes (a user and their organisation) raises every floor
//! from one capture: in the context (so the token) and in the store, in one Redis round
//! trip — counted by a relay in front of Redis, not timed. The same through the macro's
//! `#[write(scopes("user_id", "org_id"))]`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use ryw::backend::ReplicationBackend;
use ryw::position::Lsn;
use ryw::position::Position;
use ryw::store::RedisStore;
use ryw::store::ScopeStore;
use ryw::{ClusterId, KeyRing, RywContext, ScopeKey, TokenCodec};
use ryw::{Error, Mysql, Postgres, ReplicatedPool, Router, RouterConfig};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, RedisServer, Topology};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "common/tables.rs"]
mod tables;

/// Relays one client to `port` and counts its turns: each time the client sends after the
/// server has answered (or for the first time) is one round trip.
async fn counting_relay(port: u16) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap().port();
    let turns = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&turns);
    tokio::spawn(async move {
        // The store keeps one multiplexed connection; relay a few in case it reconnects.
        for _ in 0..4 {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let server = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let answered = Arc::new(AtomicBool::new(true));
            let (a1, a2, t) = (
                Arc::clone(&answered),
                Arc::clone(&answered),
                Arc::clone(&counted),
            );
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = cr.read(&mut buf).await {
                    if a1.swap(false, Ordering::SeqCst) {
                        t.fetch_add(1, Ordering::SeqCst);
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = sr.read(&mut buf).await {
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    a2.store(true, Ordering::SeqCst);
                }
            });
        }
    });
    (local, turns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_four_scopes_is_one_redis_round_trip() {
    let redis = RedisServer::start().await.unwrap();
    let (port, turns) = counting_relay(redis.port()).await;
    let store = RedisStore::from_url(&format!("redis://127.0.0.1:{port}"), "many:").unwrap();
    let cluster = ClusterId::new("pg:1:1");
    let scopes: Vec<ScopeKey> = (1..=4).map(|i| ScopeKey::of("user_id", i)).collect();
    let ttl = Duration::from_secs(60);
    // Warm up: the connection is open and the merge script loaded.
    store
        .raise(
            &cluster,
            &ScopeKey::of("warm", 0),
            &Position::Lsn(Lsn::new(1)),
            ttl,
        )
        .await
        .unwrap();
    let count = || AtomicU64::load(&turns, Ordering::SeqCst);
    let before = count();
    store
        .raise_many(&cluster, &scopes, &Position::Lsn(Lsn::new(500)), ttl)
        .await
        .unwrap();
    let many = count() - before;
    let before = count();
    for s in &scopes {
        store
            .raise(&cluster, s, &Position::Lsn(Lsn::new(600)), ttl)
            .await
            .unwrap();
    }
    let one_by_one = count() - before;
    println!("round trips: raise_many {many}, one by one {one_by_one}");
    assert_eq!(many, 1);
    assert_eq!(one_by_one, 4);
    for s in &scopes {
        let held = store.lookup(&cluster, s).await.unwrap().position;
        assert_eq!(held, Some(Position::Lsn(Lsn::new(600))));
    }
    // The max-merge holds for every key of the pipeline: a lower position lowers nothing.
    store
        .raise_many(&cluster, &scopes, &Position::Lsn(Lsn::new(10)), ttl)
        .await
        .unwrap();
    for s in &scopes {
        let held = store.lookup(&cluster, s).await.unwrap().position;
        assert_eq!(held, Some(Position::Lsn(Lsn::new(600))));
    }
}

#[derive(QueryableByName)]
struct V {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

/// A user and their organisation written together; another device (no token, the shared
/// store) reads either fresh, and the writer's token carries both floors.
macro_rules! both_scopes_fenced {
    ($name:expr, $router:expr, $conn:ty, $replica_url:expr) => {{
        let (name, router) = ($name, $router);
        let (user, org) = (ScopeKey::of("user_id", 1), ScopeKey::of("org_id", 9));
        let codec = TokenCodec::new(KeyRing::new(1, &[7; 32]).unwrap());
        let writer = RywContext::new();
        writer
            .clone()
            .run(async {
                router
                    .write_scopes(&[user.clone(), org.clone()], async |c: &mut $conn| {
                        diesel::sql_query("UPDATE acct SET v = 1 WHERE id = 1")
                            .execute(c)
                            .await
                            .map_err(Error::from_diesel)
                    })
                    .await
                    .unwrap();
            })
            .await;
        let mut plain = <$conn>::establish($replica_url).await.unwrap();
        let naive = diesel::sql_query("SELECT v FROM acct WHERE id = 1")
            .get_result::<V>(&mut plain)
            .await
            .unwrap();
        assert_eq!(naive.v, 0, "{name}: the lag is not real");
        for scope in [&user, &org] {
            let read = RywContext::new()
                .run(router.read(scope, async |c: &mut $conn| {
                    diesel::sql_query("SELECT v FROM acct WHERE id = 1")
                        .get_result::<V>(c)
                        .await
                        .map(|r| r.v)
                        .map_err(Error::from_diesel)
                }))
                .await
                .unwrap();
            assert_eq!(
                read.value,
                1,
                "{name}: {scope} read stale on {:?}: {:?}",
                read.served_by,
                router.stats()
            );
        }
        let token = writer.export_token(&codec).unwrap();
        let resumed = RywContext::from_token(&codec, &token).unwrap();
        for scope in [&user, &org] {
            assert!(
                resumed.required(router.cluster(), scope).unwrap().is_some(),
                "{name}"
            );
        }
        let empty = router
            .write_scopes(&[], async |_: &mut $conn| Ok::<_, Error>(()))
            .await;
        assert!(matches!(empty, Err(Error::Config(_))), "{name}");
    }};
}

/// Generous: a store that times out is skipped by design (the read goes on without the
/// shared floor), and 2 cores starting three servers at once can be slow.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Ryw(#[from] Error),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// The same through `#[read_your_writes]`: `#[write(scopes(…))]` on one backend's connection.
macro_rules! members_repo {
    ($repo:ident, $backend:ty, $conn:ty) => {
        struct $repo {
            router: Router<$backend>,
        }

        #[ryw::read_your_writes(router = "router")]
        impl $repo {
            #[write(scopes("user_id", "org_id"))]
            async fn join(
                &self,
                conn: &mut $conn,
                user_id: i64,
                org_id: i64,
                v: i64,
            ) -> Result<(), AppError> {
                let _ = (user_id, org_id);
                diesel::sql_query(format!("UPDATE acct SET v = {v} WHERE id = 1"))
                    .execute(conn)
                    .await?;
                Ok(())
            }

            #[read(scope = "org_id")]
            async fn org_value(&self, conn: &mut $conn, org_id: i64) -> Result<i64, AppError> {
                let _ = org_id;
                Ok(diesel::sql_query("SELECT v FROM acct WHERE id = 1")
                    .get_result::<V>(conn)
                    .await?
                    .v)
            }
        }
    };
}

members_repo!(PgMembers, Postgres, AsyncPgConnection);
members_repo!(MariaMembers, Mysql, AsyncMysqlConnection);

/// A write through the repository, then another device's read of the other scope.
macro_rules! through_the_macro {
    ($name:expr, $repo:expr) => {{
        let repo = $repo;
        RywContext::new().run(repo.join(2, 9, 7)).await.unwrap();
        let seen = RywContext::new().run(repo.org_value(9)).await.unwrap();
        assert_eq!(
            seen, 7,
            "{}: the organisation's read missed the member's write",
            $name
        );
    }};
}

const SETUP: &str =
    "CREATE TABLE acct (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO acct VALUES (1, 0)";

/// [`SETUP`] on `topo`, its one replica 500 ms behind, and a ready router over it whose
/// floors live in `redis` under `prefix`.
async fn lagging_router<B: ReplicationBackend>(
    topo: &impl Topology,
    backend: B,
    redis: &RedisServer,
    prefix: &str,
) -> Router<B> {
    tables::create_everywhere(topo, SETUP).await;
    topo.set_lag(0, Duration::from_millis(500)).await.unwrap();
    let pool = ReplicatedPool::builder(backend, topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let store: Arc<dyn ScopeStore> =
        Arc::new(RedisStore::from_url_with_timeout(&redis.url(), prefix, STORE_TIMEOUT).unwrap());
    let router = Router::with_store(pool, RouterConfig::default(), store)
        .await
        .unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    router
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_write_scopes_fences_every_scope() {
    let (topo, redis) = (
        PgTopology::start(1).await.unwrap(),
        RedisServer::start().await.unwrap(),
    );
    let router = lagging_router(&topo, Postgres::new(), &redis, "pg:").await;
    both_scopes_fenced!(
        "postgres",
        &router,
        AsyncPgConnection,
        &topo.replica_urls()[0]
    );
    through_the_macro!("postgres", PgMembers { router });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_write_scopes_fences_every_scope() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    Box::pin(mysql_family("mariadb", topo)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_write_scopes_fences_every_scope() {
    let topo = MysqlTopology::start(1).await.unwrap();
    Box::pin(mysql_family("mysql", topo)).await;
}

/// MariaDB and MySQL (MySQL's GTID sets merge in the store by compare-and-set, one scope at a
/// time).
async fn mysql_family<T: Topology>(name: &str, topo: T) {
    let redis = RedisServer::start().await.unwrap();
    let router = lagging_router(&topo, Mysql::new(), &redis, "my:").await;
    both_scopes_fenced!(name, &router, AsyncMysqlConnection, &topo.replica_urls()[0]);
    through_the_macro!(name, MariaMembers { router });
}
