//! The write-side fence on real replicas 400 ms behind: after a plain `write`, another
//! session's plain replica read misses it; after `write_fenced`, plain reads on the replicas
//! it names see it at once. The typed outcome says which replicas applied it, and a budget
//! shorter than the lag says the fence did not hold. Postgres waits on the trackers,
//! MariaDB runs the server-side wait on each replica.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use ryw::ScopeKey;
use ryw::backend::ReplicationBackend;
use ryw::{ApplyOn, Error, Mysql, Postgres, ReplicatedPool, Router, RouterConfig, WriteFence};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, Topology};

#[derive(QueryableByName)]
struct V {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

const LAG: Duration = Duration::from_millis(400);
const READ: &str = "SELECT v FROM posts WHERE id = 1";
const CREATE_POSTS: &str = "CREATE TABLE posts (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO posts VALUES (1, 0)";

/// Creates the `posts` table, lags every replica of `topo` by [`LAG`] once it has the table,
/// and returns a ready router over them (named `r0`, `r1`, …).
async fn lagging_router<B: ReplicationBackend>(topo: &impl Topology, backend: B) -> Router<B> {
    topo.execute_on_primary(CREATE_POSTS).await.unwrap();
    let mut builder = ReplicatedPool::builder(backend, topo.primary_url());
    for (i, url) in topo.replica_urls().iter().enumerate() {
        topo.wait_caught_up(i, Duration::from_secs(30))
            .await
            .unwrap();
        topo.set_lag(i, LAG).await.unwrap();
        builder = builder.replica(format!("r{i}"), url);
    }
    let router = Router::new(builder.build().unwrap(), RouterConfig::default())
        .await
        .unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    router
}

macro_rules! scenario {
    ($name:expr, $router:expr, $conn:ty, $urls:expr) => {{
        let (name, router, urls) = ($name, $router, $urls);
        let post = ScopeKey::of("post_id", 1);
        let set = |v: i64| {
            async move |c: &mut $conn| {
                diesel::sql_query(format!("UPDATE posts SET v = {v} WHERE id = 1"))
                    .execute(c)
                    .await
                    .map_err(Error::from_diesel)
            }
        };
        // Another session reading a replica plainly, without ryw.
        let plain = async |i: usize| -> i64 {
            let mut c = <$conn>::establish(&urls[i]).await.unwrap();
            diesel::sql_query(READ)
                .get_result::<V>(&mut c)
                .await
                .unwrap()
                .v
        };

        router.write(&post, set(1)).await.unwrap();
        assert_eq!(plain(0).await, 0, "{name}: the lag is not real");

        let all = WriteFence::new(ApplyOn::AllOnline, Duration::from_secs(5));
        let (_, out) = router.write_fenced(&post, &all, set(2)).await.unwrap();
        println!("{name}: all online {out:?}");
        assert!(
            out.met && out.pending.is_empty() && out.applied.len() == 2,
            "{name}: {out:?}"
        );
        assert!(out.waited >= LAG / 2, "{name}: it did not wait: {out:?}");
        assert_eq!((plain(0).await, plain(1).await), (2, 2), "{name}");

        let named = WriteFence::new(ApplyOn::Named("r1".into()), Duration::from_secs(5));
        let (_, out) = router.write_fenced(&post, &named, set(3)).await.unwrap();
        assert!(
            out.met && out.applied.len() == 1 && &*out.applied[0] == "r1",
            "{name}: {out:?}"
        );
        assert_eq!(plain(1).await, 3, "{name}");

        let one = WriteFence::new(ApplyOn::Replicas(1), Duration::from_secs(5));
        let (_, out) = router.write_fenced(&post, &one, set(4)).await.unwrap();
        assert!(out.met && !out.applied.is_empty(), "{name}: {out:?}");
        let seen = out.applied[0]
            .strip_prefix('r')
            .unwrap()
            .parse::<usize>()
            .unwrap();
        assert_eq!(plain(seen).await, 4, "{name}");

        // A budget shorter than the lag: the write commits, the outcome says the fence failed.
        let short = WriteFence::new(ApplyOn::AllOnline, Duration::from_millis(50));
        let (_, out) = router.write_fenced(&post, &short, set(5)).await.unwrap();
        println!("{name}: short budget {out:?}");
        assert!(!out.met && !out.pending.is_empty(), "{name}: {out:?}");
        assert!(out.waited < LAG, "{name}: {out:?}");

        // An unknown replica is refused before anything is written.
        let unknown = WriteFence::new(ApplyOn::Named("nowhere".into()), Duration::from_secs(1));
        let err = router
            .write_fenced(&post, &unknown, set(6))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{name}: {err}");
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fenced_writes_are_seen_by_plain_replica_reads() {
    let topo = PgTopology::start(2).await.unwrap();
    let router = lagging_router(&topo, Postgres::new()).await;
    scenario!("postgres", &router, AsyncPgConnection, topo.replica_urls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_fenced_writes_are_seen_by_plain_replica_reads() {
    let topo = MariaDbTopology::start(2).await.unwrap();
    Box::pin(mysql_family("mariadb", topo)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_fenced_writes_are_seen_by_plain_replica_reads() {
    let topo = MysqlTopology::start(2).await.unwrap();
    Box::pin(mysql_family("mysql", topo)).await;
}

/// MariaDB and MySQL: the server-side wait on each replica.
async fn mysql_family<T: Topology>(name: &str, topo: T) {
    let router = lagging_router(&topo, Mysql::new()).await;
    scenario!(name, &router, AsyncMysqlConnection, topo.replica_urls());
    assert!(
        router.stats().server_waits == 0,
        "fence waits are not read waits"
    );
}

/// `synchronous_commit = remote_apply` is the server-side alternative on Postgres: COMMIT
/// itself returns once the synchronous standby has applied it. Checked to hold (a plain read
/// after it sees the write), and its cost printed next to a plain commit and `write_fenced`
/// (`cargo test -p ryw-integration-tests --test write_fence -- --nocapture remote_apply`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_remote_apply_is_the_server_side_alternative() {
    let topo = PgTopology::start(1).await.unwrap();
    topo.execute_on_primary(CREATE_POSTS).await.unwrap();
    // A synchronous standby, and `local` commits by default so that only the session that
    // asks for `remote_apply` waits (ALTER SYSTEM cannot run in a multi-statement batch).
    for sql in [
        "ALTER SYSTEM SET synchronous_standby_names = '*'",
        "ALTER SYSTEM SET synchronous_commit = 'local'",
        "SELECT pg_reload_conf()",
    ] {
        topo.execute_on_primary(sql).await.unwrap();
    }
    topo.wait_caught_up(0, Duration::from_secs(30))
        .await
        .unwrap();
    let pool = ReplicatedPool::builder(Postgres::new(), topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default()).await.unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    let mut leader = AsyncPgConnection::establish(&topo.primary_url())
        .await
        .unwrap();
    let mut replica = AsyncPgConnection::establish(&topo.replica_urls()[0])
        .await
        .unwrap();
    let post = ScopeKey::of("post_id", 1);
    let mut v = 0;
    for lag in [Duration::ZERO, Duration::from_millis(200)] {
        topo.set_lag(0, lag).await.unwrap();
        let mut means = Vec::new();
        for mode in ["local", "remote_apply", "write_fenced"] {
            let started = std::time::Instant::now();
            for _ in 0..10 {
                v += 1;
                let sql = format!("UPDATE posts SET v = {v} WHERE id = 1");
                if mode == "write_fenced" {
                    let fence = WriteFence::new(ApplyOn::AllOnline, Duration::from_secs(5));
                    let (_, out) = router
                        .write_fenced(&post, &fence, async |c: &mut AsyncPgConnection| {
                            diesel::sql_query(&sql)
                                .execute(c)
                                .await
                                .map_err(Error::from_diesel)
                        })
                        .await
                        .unwrap();
                    assert!(out.met);
                } else {
                    diesel::sql_query(format!("SET synchronous_commit = {mode}"))
                        .execute(&mut leader)
                        .await
                        .unwrap();
                    diesel::sql_query(&sql).execute(&mut leader).await.unwrap();
                }
                if mode != "local" {
                    let seen = diesel::sql_query(READ)
                        .get_result::<V>(&mut replica)
                        .await
                        .unwrap();
                    assert_eq!(
                        seen.v, v,
                        "{mode} at lag {lag:?}: a plain replica read missed it"
                    );
                }
            }
            means.push(format!(
                "{mode} {:.2} ms",
                started.elapsed().as_secs_f64() * 100.0
            ));
        }
        println!(
            "remote_apply cost at lag {lag:?}: mean write {}",
            means.join(", ")
        );
    }
}
