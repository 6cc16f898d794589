//! The HTTP API (axum), behind ryw's tower layer so every request carries its session token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::repo::{AppError, Payment, Payments};
use ryw::layer::TokenIssuer;

/// The largest payment accepted, in cents.
pub const MAX_CENTS: i64 = 10_000_000;

/// How long a client may take to send a request, and how large its body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the end of the request head to the response (a body sent slowly, a handler
    /// stuck): past it the answer is 408.
    pub request_timeout: Duration,
    /// How long a request head may take to arrive (see [`crate::serve::serve`]).
    pub header_timeout: Duration,
    /// The largest request body, in bytes: past it the answer is 413.
    pub body_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(5),
            body_limit: 4096,
        }
    }
}

/// Shared state of the handlers.
pub struct AppState<R> {
    /// The repository.
    pub repo: R,
    /// Reads served by the unfenced (`?routing=plain`) path.
    pub plain_reads: AtomicU64,
    /// Where routed reads went, as the router counts them.
    pub stats: Box<dyn Fn() -> ryw::RouterStats + Send + Sync>,
    /// Incoming tokens the layer rejected (bad, forged, expired).
    pub layer: ryw::layer::LayerStats,
}

/// Request body of a payment.
#[derive(Debug, Deserialize, Serialize)]
pub struct PayRequest {
    /// Amount in cents.
    pub cents: i64,
}

/// A balance.
#[derive(Debug, Deserialize, Serialize)]
pub struct BalanceBody {
    /// Balance in cents.
    pub balance: i64,
    /// With a payment: the session token after it (also in the `ryw-token` header), so a
    /// client that renders the new balance at once can keep the token with it and send it
    /// on its next request — from this device or another — to read its own write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `?routing=plain` reads a replica without a fence, `?routing=replica` reads replica first
/// (for the demo's comparison).
#[derive(Debug, Deserialize)]
pub struct Routing {
    routing: Option<String>,
}

/// Counters for the demo and for operators.
#[derive(Debug, Deserialize, Serialize, Default, Clone, PartialEq, Eq)]
pub struct StatsBody {
    /// Routed reads served by replicas.
    pub replica_reads: u64,
    /// Routed reads served by the leader.
    pub leader_reads: u64,
    /// Routed reads that fell back to the leader.
    pub fallbacks: u64,
    /// Unfenced reads (all served by replicas).
    pub plain_reads: u64,
    /// Incoming tokens rejected and treated as absent.
    #[serde(default)]
    pub rejected_tokens: u64,
    /// Floors of another cluster ignored.
    #[serde(default)]
    pub foreign_floors: u64,
    /// Scope store failures.
    #[serde(default)]
    pub store_errors: u64,
    /// Writes whose position could not be captured at all.
    #[serde(default)]
    pub uncaptured_writes: u64,
    /// Writes whose lost capture was recovered on a fresh connection.
    #[serde(default)]
    pub recaptured_writes: u64,
    /// Replica checkouts, reads and waits abandoned at their deadline.
    #[serde(default)]
    pub deadline_hits: u64,
    /// Rejected tokens per reason (`malformed`, `bad_signature`, `expired`, …).
    #[serde(default)]
    pub rejected_by_reason: std::collections::BTreeMap<String, u64>,
    /// Reads of a scope written without a known position, fenced by the leader's position.
    #[serde(default)]
    pub unfenced_resolved: u64,
    /// Reads of such a scope sent to the leader (its position could not be read).
    #[serde(default)]
    pub unfenced_leader_reads: u64,
    /// Floors a failover lost (writes acknowledged before it, missing after it).
    #[serde(default)]
    pub lost_floors: u64,
    /// New leader epochs (failovers) seen.
    #[serde(default)]
    pub epoch_changes: u64,
    /// Replica reads abandoned at their deadline and run again on the leader.
    #[serde(default)]
    pub reads_rerun_on_leader: u64,
    /// Dead pooled leader connections a write's BEGIN left behind for another.
    #[serde(default)]
    pub begin_retries: u64,
    /// Reads served while the scope store answered (its round trip hidden).
    #[serde(default)]
    pub store_overlapped_reads: u64,
    /// Overlapped reads redone because the store held a newer floor.
    #[serde(default)]
    pub store_overlap_redone: u64,
    /// The most fallback reads the leader served at once (since the service started).
    #[serde(default)]
    pub leader_fallback_peak: usize,
    /// The bound on that: the leader's fallback budget.
    #[serde(default)]
    pub leader_fallback_limit: usize,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        // 4xx say what was wrong; 5xx carry a stable code only (details go to the log).
        let (status, body, retry) = match &self {
            AppError::NoUser(_) => (StatusCode::NOT_FOUND, self.to_string(), false),
            AppError::InvalidAmount { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, self.to_string(), false)
            }
            AppError::InsufficientFunds { .. } => (StatusCode::CONFLICT, self.to_string(), false),
            AppError::Ryw(e) if e.is_retryable() => {
                // Debug, not warn: an outage brings one per request, and ryw itself warns
                // (rate-limited) about the outage.
                tracing::debug!(error = %e, "temporarily unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily unavailable, retry shortly".to_owned(),
                    true,
                )
            }
            // The connection died before COMMIT: nothing was written, the request can be retried.
            AppError::Db(e) if ryw::is_connection_lost(e) => {
                tracing::debug!(error = %e, "connection lost before commit: temporarily unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily unavailable, retry shortly".to_owned(),
                    true,
                )
            }
            AppError::Ryw(e @ ryw::Error::CommitOutcomeUnknown { .. }) => {
                tracing::error!(error = %e, "payment outcome unknown");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the outcome is unknown: check the payment history before paying again"
                        .to_owned(),
                    false,
                )
            }
            _ => {
                tracing::error!(error = %self, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                    false,
                )
            }
        };
        let mut response = (status, Json(serde_json::json!({ "error": body }))).into_response();
        if retry {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

async fn pay<R: Payments>(
    State(st): State<Arc<AppState<R>>>,
    Path(user): Path<i64>,
    issuer: Option<Extension<TokenIssuer>>,
    Json(req): Json<PayRequest>,
) -> Result<(StatusCode, Json<BalanceBody>), AppError> {
    if !(1..=MAX_CENTS).contains(&req.cents) {
        return Err(AppError::InvalidAmount {
            cents: req.cents,
            max: MAX_CENTS,
        });
    }
    let balance = st.repo.pay(user, req.cents).await?;
    let token = issuer.and_then(|Extension(i)| i.token());
    Ok((StatusCode::CREATED, Json(BalanceBody { balance, token })))
}

async fn balance<R: Payments>(
    State(st): State<Arc<AppState<R>>>,
    Path(user): Path<i64>,
    Query(routing): Query<Routing>,
) -> Result<Json<BalanceBody>, AppError> {
    let balance = match routing.routing.as_deref() {
        Some("plain") => {
            st.plain_reads.fetch_add(1, Ordering::Relaxed);
            st.repo.balance_unfenced(user).await?
        }
        Some("replica") => st.repo.balance_replica_first(user).await?,
        _ => st.repo.balance(user).await?,
    };
    Ok(Json(BalanceBody {
        balance,
        token: None,
    }))
}

async fn history<R: Payments>(
    State(st): State<Arc<AppState<R>>>,
    Path(user): Path<i64>,
) -> Result<Json<Vec<Payment>>, AppError> {
    Ok(Json(st.repo.history(user).await?))
}

async fn stats<R: Payments>(State(st): State<Arc<AppState<R>>>) -> Json<StatsBody> {
    let s = (st.stats)();
    Json(StatsBody {
        replica_reads: s.replica_reads,
        leader_reads: s.leader_reads,
        fallbacks: s.fallbacks,
        plain_reads: st.plain_reads.load(Ordering::Relaxed),
        rejected_tokens: st.layer.rejected_tokens(),
        foreign_floors: s.foreign_floors,
        store_errors: s.store_errors,
        uncaptured_writes: s.uncaptured_writes,
        recaptured_writes: s.recaptured_writes,
        deadline_hits: s.deadline_hits,
        rejected_by_reason: st
            .layer
            .rejected_by_reason()
            .into_iter()
            .map(|(reason, n)| (reason.to_owned(), n))
            .collect(),
        unfenced_resolved: s.unfenced_resolved,
        unfenced_leader_reads: s.unfenced_leader_reads,
        lost_floors: s.lost_floors,
        epoch_changes: s.epoch_changes,
        reads_rerun_on_leader: s.reads_rerun_on_leader,
        begin_retries: s.begin_retries,
        store_overlapped_reads: s.store_overlapped_reads,
        store_overlap_redone: s.store_overlap_redone,
        leader_fallback_peak: s.leader_fallback_peak,
        leader_fallback_limit: s.leader_fallback_limit,
    })
}

/// The service: `POST /users/{id}/payments`, `GET /users/{id}/balance`,
/// `GET /users/{id}/payments`, `GET /stats`, `GET /metrics` (Prometheus), wrapped in
/// `layer`, with `limits`' request timeout and body limit.
pub fn app<R: Payments>(
    state: Arc<AppState<R>>,
    layer: ryw::layer::RywLayer,
    limits: Limits,
) -> Router {
    // Before any traffic, so the first requests are counted.
    crate::metrics::handle();
    Router::new()
        .route("/metrics", get(crate::metrics::render))
        .route("/users/{id}/payments", post(pay::<R>).get(history::<R>))
        .route("/users/{id}/balance", get(balance::<R>))
        .route("/stats", get(stats::<R>))
        .with_state(state)
        .layer(layer)
        .layer(RequestBodyLimitLayer::new(limits.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
}
