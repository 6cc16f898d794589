//! `/metrics` scraped by a real Prometheus (Debian package `prometheus`): after traffic with a
//! lagging replica, one series of each kind answers a query (counter, gauge, histogram), and
//! every query of the Grafana dashboard under `docs/grafana/` is valid PromQL; the core ones
//! return data.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use payments::demo::{Mode, run_mode};
use payments::http::app;
use payments::repo::{PgPayments, schema};
use ryw::layer::RywLayer;
use ryw::store::MemoryStore;
use ryw::{KeyRing, Postgres, RouterConfig, TokenCodec};
use ryw_testkit::{PgTopology, Topology};
use serde_json::Value;

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/grafana/ryw-dashboard.json"
);

fn prometheus_binary() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
        .expect("`prometheus` not found on PATH: install the Debian package `prometheus` (.ci/install-deps does)")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Prometheus scraping `target` every 500 ms; killed when the returned child drops.
fn start_prometheus(dir: &Path, target: &str, port: u16) -> tokio::process::Child {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 500ms\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: payments\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    tokio::process::Command::new(prometheus_binary())
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Runs an instant query; `Err` carries Prometheus' error for invalid PromQL.
async fn query(http: &reqwest::Client, prom: &str, q: &str) -> Result<Vec<Value>, String> {
    let url = reqwest::Url::parse_with_params(&format!("{prom}/api/v1/query"), &[("query", q)])
        .map_err(|e| e.to_string())?;
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if body["status"] != "success" {
        return Err(format!("{q}: {}", body["error"]));
    }
    Ok(body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Polls `q` until it returns at least one sample (bounded).
async fn wait_for(http: &reqwest::Client, prom: &str, q: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = query(http, prom, q).await
            && !r.is_empty()
        {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had data for {q}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_kind_of_series_and_the_dashboard_queries_run() {
    let topo = PgTopology::start(1).await.unwrap();
    for stmt in schema(true, 20, 1_000) {
        topo.execute_on_primary(&stmt).await.unwrap();
    }
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .unwrap();
    topo.set_lag(0, Duration::from_millis(200)).await.unwrap();
    let router = payments::service::router(
        Postgres::new(),
        &topo.primary_url(),
        &topo.replica_urls(),
        Arc::new(MemoryStore::new(1000)),
        RouterConfig::default(),
    )
    .await
    .unwrap();
    let layer = RywLayer::new(TokenCodec::new(KeyRing::new(1, &[3; 32]).unwrap()));
    let state = payments::service::state(
        PgPayments {
            router: router.clone(),
        },
        router,
        &layer,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app(state, layer, payments::http::Limits::default()),
        )
        .await
    });

    let dir = tempdir();
    let prom_port = free_port();
    let mut prometheus = start_prometheus(&dir, &addr.to_string(), prom_port);
    let prom = format!("http://127.0.0.1:{prom_port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // Traffic: fenced reads that wait out the lag (replica first), writes, a forged token.
    let ryw = run_mode(&base, 1, 10, 1_000, 2, Mode::ReplicaFirst)
        .await
        .unwrap();
    assert_eq!(ryw.stale, 0);
    // … and the default (latency first), whose reads right after a write use the leader's
    // budget.
    let fast = run_mode(&base, 11, 10, 1_000, 2, Mode::Ryw).await.unwrap();
    assert_eq!(fast.stale, 0);
    assert!(fast.stats.leader_reads > 0, "{:?}", fast.stats);
    let forged = http
        .get(format!("{base}/users/1/balance"))
        .header("ryw-token", "v1.not-a-token")
        .send()
        .await
        .unwrap();
    assert!(
        forged.status().is_success(),
        "a bad token never fails a request"
    );
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("ryw_reads_total"),
        "/metrics lacks ryw_reads_total:\n{text}"
    );

    // One series of each kind, as Prometheus stored it.
    let reads = wait_for(&http, &prom, "sum(ryw_reads_total{route=\"replica\"})").await;
    assert!(value(&reads[0]) >= 20.0, "replica reads {reads:?}");
    let online = wait_for(&http, &prom, "ryw_replica_online{replica=\"replica-0\"}").await;
    assert_eq!(value(&online[0]), 1.0);
    let waits = wait_for(
        &http,
        &prom,
        "sum(ryw_read_wait_seconds_count{outcome=\"caught_up\"})",
    )
    .await;
    assert!(value(&waits[0]) > 0.0);
    let p99 = wait_for(
        &http,
        &prom,
        "histogram_quantile(0.99, sum by (le) (ryw_read_wait_seconds_bucket))",
    )
    .await;
    let p99 = value(&p99[0]);
    assert!(p99 > 0.0 && p99 <= 2.5, "p99 wait {p99} s from the buckets");
    let rejected = wait_for(&http, &prom, "sum(ryw_tokens_rejected_total)").await;
    assert!(value(&rejected[0]) >= 1.0);

    // Writes over, the replica catches up and idles: its replay lag is 0 (it has every
    // commit), while the time since its last replayed commit keeps growing — the series an
    // alert on "lag" used to read, and cry wolf whenever writes paused.
    wait_for(
        &http,
        &prom,
        "ryw_replica_lag_seconds{replica=\"replica-0\"} == 0",
    )
    .await;
    wait_for(
        &http,
        &prom,
        "ryw_replica_last_replay_age_seconds{replica=\"replica-0\"} > 1",
    )
    .await;
    let idle = query(
        &http,
        &prom,
        "ryw_replica_lag_seconds{replica=\"replica-0\"}",
    )
    .await
    .unwrap();
    assert_eq!(value(&idle[0]), 0.0, "an idle caught-up replica lags 0 s");

    // Every dashboard query is valid PromQL; the core panels have data (rates need two
    // scrapes of a series).
    wait_for(&http, &prom, "sum(rate(ryw_tokens_rejected_total[1m]))").await;
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push((
                panel["title"].as_str().unwrap().to_owned(),
                target["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "1m"),
            ));
        }
    }
    assert!(
        exprs.len() >= 15,
        "the dashboard has {} queries",
        exprs.len()
    );
    let mut with_data = Vec::new();
    for (title, expr) in &exprs {
        let result = query(&http, &prom, expr)
            .await
            .unwrap_or_else(|e| panic!("panel {title:?}: {e}"));
        if !result.is_empty() {
            with_data.push(title.clone());
        }
    }
    for core in [
        "Reads by route",
        "Leader share of reads",
        "Fenced read wait (p50 / p99)",
        "Replica online",
        "Position queries",
        "Token rejections by reason",
        "Writes by capture",
        "Leader budget",
    ] {
        assert!(
            with_data.iter().any(|t| t == core),
            "panel {core:?} has no data; with data: {with_data:?}"
        );
    }
    eprintln!(
        "{} dashboard queries valid, {} with data: {with_data:?}",
        exprs.len(),
        with_data.len()
    );

    prometheus.kill().await.unwrap();
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ryw-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
