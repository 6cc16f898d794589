//! `router_suite!(ConnectionType)` expands the whole router suite in the calling module, which
//! must define `async fn topology() -> impl Topology`, `fn backend() -> impl ReplicationBackend`,
//! `FOREIGN_CLUSTER` and `fn far_future() -> Position`.

macro_rules! router_suite {
    ($conn:ty) => {
        use std::sync::Arc;
        use std::time::Duration;

        use diesel::dsl::sql;
        use diesel::sql_types::BigInt;
        use diesel_async::RunQueryDsl;
        use ryw::store::MemoryStore;
        use ryw::{ClusterId, Fallback, Prefer, ReadPolicy, RywContext, ScopeKey};
        use ryw::{
            Error, FallbackReason, ReplicatedPool, Router, RouterConfig, ServedBy, TrackerConfig,
        };
        use ryw_testkit::Topology;

        const LAG: Duration = Duration::from_millis(500);

        struct Fixture<T> {
            topo: T,
            router: Router<TestBackend>,
            table: String,
        }

        async fn fixture_with(policy: ReadPolicy) -> Fixture<impl Topology> {
            let topo = topology().await;
            let table = "ryw_balances".to_owned();
            crate::tables::create_everywhere(
                &topo,
                &format!(
                    "CREATE TABLE {table} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
                     INSERT INTO {table} (id, v) VALUES (1, 0), (2, 0)"
                ),
            )
            .await;
            let urls = topo.replica_urls();
            let pool = ReplicatedPool::builder(backend(), topo.primary_url())
                .replica("r0", &urls[0])
                .replica("r1", &urls[1])
                .build()
                .unwrap();
            let config = RouterConfig::default().with_policy(policy).with_tracker(
                TrackerConfig::default().with_idle_interval(Duration::from_millis(200)),
            );
            let router = Router::with_store(pool, config, Arc::new(MemoryStore::new(10_000)))
                .await
                .unwrap();
            assert!(router.ready(Duration::from_secs(5)).await);
            Fixture {
                topo,
                router,
                table,
            }
        }

        async fn fixture() -> Fixture<impl Topology> {
            fixture_with(ReadPolicy::default().with_wait_budget(Duration::from_secs(3))).await
        }

        /// Replica first (`Prefer::Replica`): a fenced read waits for a replica while the
        /// wait pays off, the leader only as the fallback.
        fn replica_first() -> ReadPolicy {
            ReadPolicy::default()
                .with_wait_budget(Duration::from_secs(3))
                .with_prefer(Prefer::Replica)
        }

        fn user(id: i64) -> ScopeKey {
            ScopeKey::of("user_id", id)
        }

        impl<T: Topology> Fixture<T> {
            async fn set_lag_all(&self, lag: Duration) {
                for r in 0..self.topo.replica_count() {
                    self.topo.set_lag(r, lag).await.unwrap();
                }
            }

            async fn pay(&self, id: i64, value: i64) -> ryw::Routed<usize> {
                let sql_text = format!("UPDATE {} SET v = {value} WHERE id = {id}", self.table);
                self.router
                    .write(
                        &user(id),
                        async |conn: &mut $conn| -> Result<usize, Error> {
                            Ok(diesel::sql_query(sql_text).execute(conn).await?)
                        },
                    )
                    .await
                    .unwrap()
            }

            async fn balance(&self, id: i64) -> ryw::Routed<i64> {
                self.balance_with(id, None).await.unwrap()
            }

            async fn balance_with(
                &self,
                id: i64,
                policy: Option<ReadPolicy>,
            ) -> Result<ryw::Routed<i64>, Error> {
                let q = format!("(SELECT v FROM {} WHERE id = {id})", self.table);
                let f = async |conn: &mut $conn| -> Result<i64, Error> {
                    Ok(diesel::select(sql::<BigInt>(&q)).get_result(conn).await?)
                };
                match policy {
                    Some(p) => self.router.read_with(&user(id), &p, f).await,
                    None => self.router.read(&user(id), f).await,
                }
            }

            /// A plain replica read, bypassing the router.
            async fn naive(&self, replica: usize, id: i64) -> i64 {
                let mut conn = self.router.pool().replica(replica).await.unwrap();
                let q = format!("(SELECT v FROM {} WHERE id = {id})", self.table);
                diesel::select(sql::<BigInt>(&q))
                    .get_result(&mut *conn)
                    .await
                    .unwrap()
            }
        }

        fn replica_name(s: &ServedBy) -> Option<&str> {
            match s {
                ServedBy::Replica(n) => Some(n),
                ServedBy::Leader => None,
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn lag_makes_naive_reads_stale_but_routed_reads_fresh() {
            let fx = fixture().await;
            fx.set_lag_all(LAG).await;
            RywContext::new()
                .run(async {
                    fx.pay(1, 100).await;
                    // The lag is real: both replicas still show the old balance.
                    assert_eq!(fx.naive(0, 1).await, 0, "replica 0 should be stale");
                    assert_eq!(fx.naive(1, 1).await, 0, "replica 1 should be stale");
                    let read = fx.balance(1).await;
                    assert_eq!(read.value, 100, "routed read must see the write");
                })
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn prefer_replica_budget_above_lag_waits_for_a_replica() {
            let fx = fixture_with(replica_first()).await;
            fx.set_lag_all(LAG).await;
            RywContext::new()
                .run(async {
                    fx.pay(1, 7).await;
                    assert_eq!(fx.naive(0, 1).await, 0, "lag must be real");
                    let read = fx.balance(1).await;
                    assert_eq!(read.value, 7);
                    eprintln!(
                        "served by {:?} after {:?}; server-side waits so far: {}",
                        read.served_by,
                        read.waited,
                        fx.router.stats().server_waits
                    );
                    assert!(
                        replica_name(&read.served_by).is_some(),
                        "served by {:?}",
                        read.served_by
                    );
                    assert!(
                        read.waited >= Duration::from_millis(250)
                            && read.waited < Duration::from_millis(2500),
                        "waited {:?}, lag {LAG:?}",
                        read.waited
                    );
                })
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn prefer_replica_budget_below_lag_falls_back_to_the_leader() {
            let fx = fixture().await;
            fx.set_lag_all(Duration::from_millis(1500)).await;
            RywContext::new()
                .run(async {
                    fx.pay(1, 8).await;
                    assert_eq!(fx.naive(0, 1).await, 0, "lag must be real");
                    let budget = Duration::from_millis(150);
                    let read = fx
                        .balance_with(1, Some(replica_first().with_wait_budget(budget)))
                        .await
                        .unwrap();
                    assert_eq!(read.value, 8);
                    assert_eq!(read.served_by, ServedBy::Leader);
                    assert_eq!(read.fallback, Some(FallbackReason::BudgetExhausted));
                    // Never past the budget; sooner once the router sees the lag outlasts it.
                    assert!(
                        read.waited < budget + Duration::from_millis(500),
                        "waited {:?} for a budget of {budget:?}",
                        read.waited
                    );
                    // Under Fallback::Error the same read fails with a typed error instead.
                    fx.pay(1, 9).await;
                    let err = fx
                        .balance_with(
                            1,
                            Some(
                                ReadPolicy::default()
                                    .with_wait_budget(budget)
                                    .with_fallback(Fallback::Error),
                            ),
                        )
                        .await
                        .unwrap_err();
                    assert!(matches!(err, Error::FenceTimeout { .. }), "{err}");
                    // Under Fallback::Stale it is served by a replica and flagged.
                    let stale = fx
                        .balance_with(
                            1,
                            Some(
                                ReadPolicy::default()
                                    .with_wait_budget(budget)
                                    .with_fallback(Fallback::Stale),
                            ),
                        )
                        .await
                        .unwrap();
                    assert!(stale.stale && replica_name(&stale.served_by).is_some());
                    assert_eq!(stale.value, 0, "a stale-flagged read really was stale here");
                })
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn prefer_replica_paused_replica_is_skipped_without_waiting() {
            let fx = fixture_with(replica_first()).await;
            fx.topo.pause_replay(0).await.unwrap();
            RywContext::new()
                .run(async {
                    fx.pay(1, 11).await;
                    assert_eq!(fx.naive(0, 1).await, 0, "paused replica must be stale");
                    for _ in 0..20 {
                        let read = fx.balance(1).await;
                        assert_eq!(read.value, 11);
                        assert_eq!(replica_name(&read.served_by), Some("r1"));
                        assert!(
                            read.waited < Duration::from_millis(150),
                            "waited {:?}",
                            read.waited
                        );
                    }
                })
                .await;
            fx.topo.resume_replay(0).await.unwrap();
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn killed_replica_is_avoided_and_reused_after_restart() {
            let fx = fixture().await;
            fx.topo.kill_replica(0).await.unwrap();
            RywContext::new()
                .run(async {
                    for i in 0..30 {
                        fx.pay(1, 100 + i).await;
                        let read = fx.balance(1).await;
                        assert_eq!(read.value, 100 + i);
                        assert_ne!(replica_name(&read.served_by), Some("r0"));
                    }
                })
                .await;
            fx.topo.restart_replica(0).await.unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            loop {
                let read = fx.balance(2).await;
                if replica_name(&read.served_by) == Some("r0") {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "r0 never used again after restart"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn many_waiting_reads_share_one_poll_stream_per_replica() {
            let fx = fixture().await;
            fx.set_lag_all(LAG).await;
            let ctx = RywContext::new();
            ctx.clone().run(async { fx.pay(1, 42).await }).await;
            assert_eq!(fx.naive(0, 1).await, 0, "lag must be real");
            let before: u64 = fx.router.stats().position_queries.iter().sum();
            let started = std::time::Instant::now();
            let fx = Arc::new(fx);
            let mut tasks = Vec::new();
            const READERS: usize = 200;
            for _ in 0..READERS {
                let fx = Arc::clone(&fx);
                tasks.push(tokio::spawn(
                    ctx.fork().run(async move { fx.balance(1).await }),
                ));
            }
            for t in tasks {
                let read = t.await.unwrap();
                assert_eq!(read.value, 42);
            }
            let elapsed = started.elapsed();
            let queries: u64 = fx.router.stats().position_queries.iter().sum::<u64>() - before;
            // One stream per replica at the 5 ms busy cadence (plus wake-ups), independent of
            // the number of readers; 200 polling loops would send tens of thousands.
            let per_replica_bound = elapsed.as_millis() as u64 / 5 + 20;
            eprintln!("{READERS} waiting readers: {queries} position queries in {elapsed:?}");
            assert!(
                queries <= 2 * per_replica_bound,
                "{queries} queries in {elapsed:?}"
            );
            // Backends with a server-side wait send at most one wait statement per reader.
            let waits = fx.router.stats().server_waits;
            eprintln!("server-side wait statements: {waits}");
            assert!(waits <= READERS as u64, "{waits} wait statements");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_write_for_one_scope_does_not_delay_another() {
            let fx = fixture().await;
            fx.set_lag_all(LAG).await;
            RywContext::new()
                .run(async {
                    fx.pay(1, 5).await;
                    assert_eq!(fx.naive(0, 1).await, 0, "lag must be real");
                    let other = fx.balance(2).await;
                    assert!(replica_name(&other.served_by).is_some());
                    assert!(other.position.is_none(), "user 2 has no floor");
                    assert!(
                        other.waited < Duration::from_millis(50),
                        "waited {:?}",
                        other.waited
                    );
                    // And user 1 in the same request still gets the fresh value.
                    assert_eq!(fx.balance(1).await.value, 5);
                })
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_floor_from_another_cluster_is_ignored_and_counted() {
            let fx = fixture().await;
            let foreign = ClusterId::new(FOREIGN_CLUSTER);
            assert_ne!(&foreign, fx.router.cluster());
            let ctx = RywContext::new();
            ctx.raise(&foreign, &user(1), far_future()).unwrap();
            ctx.run(async {
                let read = fx.balance(1).await;
                assert!(
                    replica_name(&read.served_by).is_some(),
                    "served by {:?}",
                    read.served_by
                );
                assert!(read.position.is_none());
                assert!(read.waited < Duration::from_millis(50));
            })
            .await;
            assert_eq!(fx.router.stats().foreign_floors, 1);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_store_carries_floors_to_requests_without_a_token() {
            let fx = fixture().await;
            fx.set_lag_all(LAG).await;
            RywContext::new().run(async { fx.pay(1, 77).await }).await;
            assert_eq!(fx.naive(0, 1).await, 0, "lag must be real");
            // A new request with an empty context: the floor comes from the scope store.
            let read = RywContext::new().run(async { fx.balance(1).await }).await;
            assert_eq!(read.value, 77);
            assert!(read.position.is_some());
        }
    };
}
