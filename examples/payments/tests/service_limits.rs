//! The service behaves like one under bad input and slow clients: amounts are validated with
//! a clear 422, a request head that never ends is cut off, a body sent too slowly gets 408,
//! an oversized one 413 — and nothing panics; `/stats` shows what an operator must see. The repository is a stand-in: these are HTTP
//! properties (the overdraft refusal is tested against Postgres in `overdraft.rs`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use payments::http::{AppState, Limits, MAX_CENTS, app};
use payments::repo::{AppError, Payment, Payments};
use ryw::layer::RywLayer;
use ryw::{KeyRing, TokenCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Fixed;

impl Payments for Fixed {
    async fn pay(&self, _user_id: i64, cents: i64) -> Result<i64, AppError> {
        Ok(1_000 - cents)
    }
    async fn balance(&self, _user_id: i64) -> Result<i64, AppError> {
        Ok(1_000)
    }
    async fn history(&self, _user_id: i64) -> Result<Vec<Payment>, AppError> {
        Ok(Vec::new())
    }
    async fn balance_unfenced(&self, _user_id: i64) -> Result<i64, AppError> {
        Ok(1_000)
    }
}

/// Far above the limits below: reaching it means a connection was held.
const HELD: Duration = Duration::from_secs(8);

async fn start() -> String {
    let codec = TokenCodec::new(KeyRing::new(1, &[3u8; 32]).unwrap());
    let layer = RywLayer::new(codec);
    let layer_stats = layer.stats();
    let state = Arc::new(AppState {
        repo: Fixed,
        plain_reads: AtomicU64::new(0),
        stats: Box::new(ryw::RouterStats::default),
        layer: layer_stats,
    });
    let limits = Limits {
        request_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(1),
        body_limit: 256,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = app(state, layer, limits);
    tokio::spawn(payments::serve::serve(listener, app, limits.header_timeout));
    addr
}

/// Sends `raw`, then reads until the server closes; what it answered.
async fn raw(addr: &str, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(HELD, s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server held a half-sent request open");
    String::from_utf8_lossy(&out).into_owned()
}

async fn pay(addr: &str, body: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/users/1/payments"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn amounts_are_validated() {
    let addr = start().await;
    for bad in [i64::MIN, -5, 0, MAX_CENTS + 1, i64::MAX] {
        let (status, body) = pay(&addr, &format!("{{\"cents\":{bad}}}")).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body.contains("invalid amount"), "{body}");
    }
    assert_eq!(pay(&addr, "{\"cents\":100}").await.0, 201);
    for junk in ["", "{", "{\"cents\":\"x\"}", "{\"cents\":1e400}", "[]"] {
        let (status, _) = pay(&addr, junk).await;
        assert!((400..500).contains(&status), "{junk:?} got {status}");
    }
}

#[tokio::test]
async fn a_head_that_never_ends_is_cut_off() {
    let addr = start().await;
    let answer = raw(&addr, b"POST /users/1/payments HTTP/1.1\r\nHost: x\r\n").await;
    assert!(!answer.contains("201"), "{answer}");
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_408() {
    let addr = start().await;
    let head = "POST /users/1/payments HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
                content-length: 40\r\nconnection: close\r\n\r\n{\"cents\":";
    let answer = raw(&addr, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let addr = start().await;
    let body = format!("{{\"cents\":1,\"pad\":\"{}\"}}", "x".repeat(1_000));
    let (status, _) = pay(&addr, &body).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn stats_count_rejected_tokens() {
    let addr = start().await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let r = client
            .get(format!("http://{addr}/users/1/balance"))
            .header("ryw-token", "forged.token")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "a bad token never fails a request"
        );
    }
    let stats: payments::http::StatsBody = client
        .get(format!("http://{addr}/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.rejected_tokens, 3);
}
