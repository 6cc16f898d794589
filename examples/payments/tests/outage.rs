//! The service through outages, as clients see it. The leader away for 5 s under 200 clients
//! that retry every 503 at once: the service answers 503 at the rate it is asked (it fails
//! fast), makes a bounded number of leader connection attempts (counted by the relay in
//! front of the leader), logs a bounded number of warnings, and writes go through again
//! within a second of the leader's return. A replica killed under read load: no read
//! answers 5xx (reads whose replica died under them are run again on the leader).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use payments::http::{Limits, app};
use payments::repo::{PgPayments, schema};
use ryw::layer::RywLayer;
use ryw::store::MemoryStore;
use ryw::{KeyRing, Postgres, RouterConfig, TokenCodec};
use ryw_testkit::{PgTopology, RoundTrips, Topology};
use tokio::time::Instant;
use tracing_subscriber::layer::SubscriberExt as _;

const CLIENTS: u64 = 200;
const USERS: i64 = 50;
const OUTAGE: Duration = Duration::from_secs(5);
/// The leader pools' connections at the first failure (16 writes, 8 reads), then one
/// attempt at a time at most every 50 ms: 24 + 5 s × 20/s.
const ATTEMPTS_BOUND: u64 = 24 + 5 * 20;
/// Warnings the service may log in the outage: each kind at most once per its interval.
const WARNINGS_BOUND: u64 = 50;

/// Counts WARN events of the whole test process.
struct CountWarnings(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountWarnings {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *e.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn warnings() -> &'static AtomicU64 {
    static COUNT: OnceLock<Arc<AtomicU64>> = OnceLock::new();
    COUNT.get_or_init(|| {
        let count = Arc::new(AtomicU64::new(0));
        let subscriber = tracing_subscriber::registry().with(CountWarnings(Arc::clone(&count)));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        count
    })
}

/// The service over `leader` and the topology's replicas, on a free port: its base URL.
async fn service(topo: &PgTopology, leader: &str) -> String {
    let router = payments::service::router(
        Postgres::new(),
        leader,
        &topo.replica_urls(),
        Arc::new(MemoryStore::new(10_000)),
        RouterConfig::default(),
    )
    .await
    .unwrap();
    let layer = RywLayer::new(TokenCodec::new(KeyRing::new(1, &[3; 32]).unwrap()));
    let repo = PgPayments {
        router: router.clone(),
    };
    let state = payments::service::state(repo, router, &layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = app(state, layer, Limits::default());
    tokio::spawn(payments::serve::serve(
        listener,
        app,
        Limits::default().header_timeout,
    ));
    base
}

async fn topology(replicas: usize) -> PgTopology {
    let topo = PgTopology::start(replicas).await.unwrap();
    for stmt in schema(true, USERS, 1_000_000) {
        topo.execute_on_primary(&stmt).await.unwrap();
    }
    for r in 0..replicas {
        topo.wait_caught_up(r, Duration::from_secs(20))
            .await
            .unwrap();
    }
    topo
}

/// What the clients were answered.
#[derive(Default)]
struct Answers {
    ok: AtomicU64,
    unavailable: AtomicU64,
    /// 5xx other than 503 (and transport errors).
    other: AtomicU64,
}

impl Answers {
    fn book(&self, status: Option<u16>) {
        let counter = match status {
            Some(s) if s < 300 => &self.ok,
            Some(503) => &self.unavailable,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, u64, u64) {
        let g = |a: &AtomicU64| AtomicU64::load(a, Ordering::Relaxed);
        (g(&self.ok), g(&self.unavailable), g(&self.other))
    }
}

async fn pay(http: &reqwest::Client, base: &str, user: i64) -> Option<u16> {
    let r = http
        .post(format!("{base}/users/{user}/payments"))
        .header("content-type", "application/json")
        .body(r#"{"cents":1}"#)
        .send()
        .await;
    r.ok().map(|r| r.status().as_u16())
}

async fn balance(http: &reqwest::Client, base: &str, user: i64) -> Option<u16> {
    let r = http
        .get(format!("{base}/users/{user}/balance"))
        .send()
        .await;
    r.ok().map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_leader_stopped_under_200_retrying_clients_fails_fast_and_recovers() {
    let warned = warnings();
    let topo = topology(1).await;
    let relay = RoundTrips::in_front_of(&topo.primary_url()).unwrap();
    let base = service(&topo, &relay.url(&topo.primary_url())).await;
    let http = reqwest::Client::new();
    let answers = Arc::new(Answers::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (http, base) = (http.clone(), base.clone());
            let (answers, stop) = (Arc::clone(&answers), Arc::clone(&stop));
            tokio::spawn(async move {
                // Every answer, 503 included, is followed at once by the next request;
                // bounded in count as in time.
                let user = i64::try_from(i).unwrap() % USERS + 1;
                for _ in 0..1_000_000 {
                    if AtomicBool::load(&stop, Ordering::Relaxed) {
                        break;
                    }
                    answers.book(pay(&http, &base, user).await);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while answers.get().0 < CLIENTS {
        assert!(Instant::now() < deadline, "the service never took the load");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    relay.set_down(true);
    let (attempts0, warned0) = (
        relay.connections(),
        AtomicU64::load(warned, Ordering::Relaxed),
    );
    let (ok0, unavailable0, other0) = answers.get();
    tokio::time::sleep(OUTAGE).await;
    let attempts = relay.connections() - attempts0;
    let warned_in_outage = AtomicU64::load(warned, Ordering::Relaxed) - warned0;
    let (ok1, unavailable1, other1) = answers.get();
    let unavailable = unavailable1 - unavailable0;
    println!(
        "leader away {OUTAGE:?}: {unavailable} answered 503, {} other 5xx, {} ok (in flight), \
         {attempts} leader connection attempts, {warned_in_outage} warnings",
        other1 - other0,
        ok1 - ok0
    );
    assert!(
        unavailable > 10 * CLIENTS,
        "the service did not answer 503 at the rate it was asked: {unavailable} in {OUTAGE:?}"
    );
    assert!(
        other1 - other0 <= CLIENTS,
        "only writes in flight when the leader went away may end otherwise than 503"
    );
    assert!(
        attempts <= ATTEMPTS_BOUND,
        "{attempts} leader connection attempts in {OUTAGE:?}, bound {ATTEMPTS_BOUND}"
    );
    assert!(
        warned_in_outage <= WARNINGS_BOUND,
        "{warned_in_outage} warnings in {OUTAGE:?}, bound {WARNINGS_BOUND}"
    );

    // Back: writes go through within a second (the circuit's longest pause is 500 ms).
    let (ok_before, _, _) = answers.get();
    relay.set_down(false);
    let back = Instant::now();
    let deadline = back + Duration::from_secs(10);
    while answers.get().0 == ok_before {
        assert!(
            Instant::now() < deadline,
            "no write went through after the outage"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let recovered = back.elapsed();
    println!("first write through {recovered:?} after the leader's return");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert!(
        recovered <= Duration::from_secs(1),
        "writes came back {recovered:?} after the leader"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_replica_killed_under_read_load_answers_no_5xx() {
    warnings();
    let topo = topology(2).await;
    let base = service(&topo, &topo.primary_url()).await;
    let http = reqwest::Client::new();
    let reads = Arc::new(Answers::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let (http, base) = (http.clone(), base.clone());
            let (reads, stop) = (Arc::clone(&reads), Arc::clone(&stop));
            tokio::spawn(async move {
                let user = i % USERS + 1;
                for n in 0..1_000_000u64 {
                    if AtomicBool::load(&stop, Ordering::Relaxed) {
                        break;
                    }
                    // Mostly reads, a write now and then so reads are fenced too.
                    if n % 10 == 0 {
                        pay(&http, &base, user).await;
                    } else {
                        reads.book(balance(&http, &base, user).await);
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reads.get().0 < 1_000 {
        assert!(Instant::now() < deadline, "the service never took the load");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    topo.kill_replica(0).await.unwrap();
    let killed = reads.get().0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while reads.get().0 < killed + 2_000 {
        assert!(
            Instant::now() < deadline,
            "reads stopped after the replica died"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let (ok, unavailable, other) = reads.get();
    println!("replica killed under load: {ok} reads ok, {unavailable} 503, {other} other");
    assert_eq!(
        (unavailable, other),
        (0, 0),
        "reads answered 5xx when a replica died under them"
    );
}
