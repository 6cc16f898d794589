//! Tests of ryw-testkit's Redis server, against a real redis-server.
#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a test failure"
)]

use std::time::Instant;

use ryw_testkit::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn ping(url: &str) -> std::io::Result<String> {
    let addr = url.trim_start_matches("redis://");
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"PING\r\n").await?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test]
async fn start_ping_kill_restart() {
    let t0 = Instant::now();
    let redis = RedisServer::start().await.expect("start");
    eprintln!(
        "startup: redis in {:?} (measured by caller: {:?})",
        redis.started_in(),
        t0.elapsed()
    );
    let url = redis.url();
    assert!(url.starts_with("redis://127.0.0.1:"));
    assert_eq!(ping(&url).await.expect("ping"), "+PONG\r\n");

    redis.kill().await;
    assert!(ping(&url).await.is_err(), "killed redis still answers");

    redis.restart().await.expect("restart");
    assert_eq!(ping(&url).await.expect("ping after restart"), "+PONG\r\n");

    let dir = redis.dir().to_path_buf();
    drop(redis);
    assert!(!dir.exists(), "drop must remove {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_at_once() {
    let (a, b) = tokio::join!(RedisServer::start(), RedisServer::start());
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_ne!(a.port(), b.port());
    assert_eq!(ping(&a.url()).await.expect("a"), "+PONG\r\n");
    assert_eq!(ping(&b.url()).await.expect("b"), "+PONG\r\n");
}
