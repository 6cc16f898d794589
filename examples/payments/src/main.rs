//! `payments`: an axum service whose balances are read-your-writes consistent on Postgres or
//! MariaDB replicas.
//!
//! ```sh
//! cargo run -p payments --release -- --demo                    # Postgres, embedded lagging topology
//! cargo run -p payments --release -- --demo --backend mariadb
//! cargo run -p payments --release -- --demo --backend mysql     # as root, after .ci/install-mysql
//! cargo run -p payments -- --leader postgres://… --replica postgres://… --listen 127.0.0.1:8080
//! ```
//!
//! With no database URLs it starts its own primary + 2 replicas with injected lag through
//! `ryw-testkit`, creates the schema and says where it listens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ryw::layer::RywLayer;
use ryw::store::{MemoryStore, ScopeStore};
use ryw::{KeyRing, TokenCodec};
use ryw::{Mysql, Postgres, RouterConfig};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, Topology};

use payments::demo::{self, Mode};
use payments::http;
use payments::repo::{self, MariaPayments, PgPayments};
use payments::service::{START_BALANCE, router, state};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendArg {
    Postgres,
    Mariadb,
    /// Oracle MySQL 8.0+ (embedded: MySQL 9.7 from the sid root `.ci/install-mysql` builds).
    Mysql,
}

/// Payments with read-your-writes balances.
#[derive(Debug, Parser)]
struct Args {
    /// Database family.
    #[arg(long, value_enum, default_value = "postgres")]
    backend: BackendArg,
    /// Leader URL. Without it, an embedded primary + 2 lagging replicas are started.
    #[arg(long)]
    leader: Option<String>,
    /// Replica URLs (repeat the flag).
    #[arg(long)]
    replica: Vec<String>,
    /// Create the schema and seed users on the given leader.
    #[arg(long)]
    init: bool,
    /// Shared scope store for several instances (e.g. `redis://127.0.0.1:6379`).
    #[arg(long)]
    redis: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Injected replica lag of the embedded topology, in milliseconds.
    #[arg(long, default_value_t = 300)]
    lag_ms: u64,
    /// Number of users (seeded with 1 000 000 cents each).
    #[arg(long, default_value_t = 200)]
    users: i64,
    /// Run the demo against the service, print the table, and exit.
    #[arg(long)]
    demo: bool,
    /// Payments per user in the demo.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Token signing secret (at least 32 bytes). Defaults to a development secret.
    #[arg(long, env = "RYW_TOKEN_SECRET")]
    secret: Option<String>,
}

/// An embedded topology, held (never read) so its servers live as long as the service.
type Embedded = Option<Box<dyn Send>>;

#[allow(clippy::print_stdout)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    payments::service::init_tracing();
    // Record from the start: the trackers' first polls are counted too (`GET /metrics`).
    payments::metrics::handle();
    let args = Args::parse();
    let postgres = matches!(args.backend, BackendArg::Postgres);
    let lag = Duration::from_millis(args.lag_ms);

    let (embedded, leader, replicas): (Embedded, String, Vec<String>) = match &args.leader {
        Some(l) => (None, l.clone(), args.replica.clone()),
        None => {
            let name = match args.backend {
                BackendArg::Postgres => "PostgreSQL",
                BackendArg::Mariadb => "MariaDB",
                BackendArg::Mysql => "Oracle MySQL",
            };
            println!("starting an embedded {name} leader + 2 replicas …");
            match args.backend {
                BackendArg::Postgres => embed(PgTopology::start(2).await?, &args, lag).await?,
                BackendArg::Mariadb => embed(MariaDbTopology::start(2).await?, &args, lag).await?,
                BackendArg::Mysql => embed(MysqlTopology::start(2).await?, &args, lag).await?,
            }
        }
    };
    if args.init && embedded.is_none() {
        init_url(&leader, postgres, args.users).await?;
    }
    if embedded.is_some() {
        println!("leader {leader}, replicas {replicas:?}, injected lag {lag:?}");
    }

    let store: Arc<dyn ScopeStore> = match &args.redis {
        Some(url) => Arc::new(ryw::store::RedisStore::from_url(url, "payments:")?),
        None => Arc::new(MemoryStore::new(1_000_000)),
    };
    let secret = args
        .secret
        .clone()
        .unwrap_or_else(|| "development secret: set RYW_TOKEN_SECRET in production".to_owned());
    let codec = TokenCodec::new(KeyRing::new(1, secret.as_bytes())?);
    let layer = RywLayer::new(codec);
    let limits = http::Limits::default();

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let app = if postgres {
        let router = router(
            Postgres::new(),
            &leader,
            &replicas,
            store,
            RouterConfig::default(),
        )
        .await?;
        http::app(
            state(
                PgPayments {
                    router: router.clone(),
                },
                router,
                &layer,
            ),
            layer,
            limits,
        )
    } else {
        let router = router(
            Mysql::new().with_cluster_name("payments-demo"),
            &leader,
            &replicas,
            store,
            RouterConfig::default(),
        )
        .await?;
        http::app(
            state(
                MariaPayments {
                    router: router.clone(),
                },
                router,
                &layer,
            ),
            layer,
            limits,
        )
    };
    println!("payments listening on http://{addr}");
    let server = tokio::spawn(payments::serve::serve(listener, app, limits.header_timeout));

    if args.demo {
        let base = format!("http://{addr}");
        // A third of the users each; the default last, so the leader's fallback peak read
        // after its run is its own (replica first stays below it: with the 1 s budget above
        // the lag it reads the leader only after a wait that did not pay off).
        let third = args.users / 3;
        let mut results = Vec::new();
        for (k, mode) in [Mode::Plain, Mode::ReplicaFirst, Mode::Ryw]
            .into_iter()
            .enumerate()
        {
            let first = 1 + third * i64::try_from(k).unwrap_or(0);
            let r = demo::run_mode(&base, first, third, START_BALANCE, args.rounds, mode).await?;
            results.push(r);
        }
        if let [plain, replica_first, ryw] = &results[..] {
            demo::print_table([plain, ryw, replica_first], lag);
        }
        server.abort();
    } else {
        println!(
            "try: curl -i -X POST -H 'content-type: application/json' -d '{{\"cents\":100}}' http://{addr}/users/1/payments"
        );
        println!(
            "then: curl -i -H 'ryw-token: <token from the response>' http://{addr}/users/1/balance"
        );
        tokio::select! {
            r = server => { r?; }
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    drop(embedded);
    Ok(())
}

/// Creates the schema on an embedded topology, injects the lag, and keeps it alive.
async fn embed<T: Topology + 'static>(
    topo: T,
    args: &Args,
    lag: Duration,
) -> Result<(Embedded, String, Vec<String>), ryw_testkit::TestkitError> {
    let postgres = matches!(args.backend, BackendArg::Postgres);
    init(&topo, postgres, args.users, lag).await?;
    let (leader, replicas) = (topo.primary_url(), topo.replica_urls());
    Ok((Some(Box::new(topo) as Box<dyn Send>), leader, replicas))
}

async fn init<T: Topology>(
    topo: &T,
    postgres: bool,
    users: i64,
    lag: Duration,
) -> Result<(), ryw_testkit::TestkitError> {
    for stmt in repo::schema(postgres, users, START_BALANCE) {
        topo.execute_on_primary(&stmt).await?;
    }
    for r in 0..topo.replica_count() {
        topo.wait_caught_up(r, Duration::from_secs(30)).await?;
        topo.set_lag(r, lag).await?;
    }
    Ok(())
}

async fn init_url(
    leader: &str,
    postgres: bool,
    users: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
    for stmt in repo::schema(postgres, users, START_BALANCE) {
        if postgres {
            let mut c = AsyncPgConnection::establish(leader).await?;
            diesel::sql_query(stmt).execute(&mut c).await?;
        } else {
            let mut c = AsyncMysqlConnection::establish(leader).await?;
            diesel::sql_query(stmt).execute(&mut c).await?;
        }
    }
    Ok(())
}
