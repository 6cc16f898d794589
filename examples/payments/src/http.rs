//! The HTTP API (axum), behind ryw's tower layer so every request carries its session token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::repo::{AppError, Payment, Payments};

/// Shared state of the handlers.
pub struct AppState<R> {
    /// The repository.
    pub repo: R,
    /// Reads served by the unfenced (`?routing=plain`) path.
    pub plain_reads: AtomicU64,
    /// Where routed reads went, as the router counts them.
    pub stats: Box<dyn Fn() -> ryw_diesel::RouterStats + Send + Sync>,
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
}

/// `?routing=plain` reads a replica without a fence (for the demo's comparison).
#[derive(Debug, Deserialize)]
pub struct Routing {
    routing: Option<String>,
}

/// Counters for the demo.
#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy)]
pub struct StatsBody {
    /// Routed reads served by replicas.
    pub replica_reads: u64,
    /// Routed reads served by the leader.
    pub leader_reads: u64,
    /// Routed reads that fell back to the leader.
    pub fallbacks: u64,
    /// Unfenced reads (all served by replicas).
    pub plain_reads: u64,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::NoUser(_) => StatusCode::NOT_FOUND,
            AppError::Ryw(
                ryw_diesel::Error::FenceTimeout { .. } | ryw_diesel::Error::Pool { .. },
            ) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

async fn pay<R: Payments>(
    State(st): State<Arc<AppState<R>>>,
    Path(user): Path<i64>,
    Json(req): Json<PayRequest>,
) -> Result<(StatusCode, Json<BalanceBody>), AppError> {
    let balance = st.repo.pay(user, req.cents).await?;
    Ok((StatusCode::CREATED, Json(BalanceBody { balance })))
}

async fn balance<R: Payments>(
    State(st): State<Arc<AppState<R>>>,
    Path(user): Path<i64>,
    Query(routing): Query<Routing>,
) -> Result<Json<BalanceBody>, AppError> {
    let balance = if routing.routing.as_deref() == Some("plain") {
        st.plain_reads.fetch_add(1, Ordering::Relaxed);
        st.repo.balance_unfenced(user).await?
    } else {
        st.repo.balance(user).await?
    };
    Ok(Json(BalanceBody { balance }))
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
    })
}

/// The service: `POST /users/{id}/payments`, `GET /users/{id}/balance`,
/// `GET /users/{id}/payments`, `GET /stats`, wrapped in `layer`.
pub fn app<R: Payments>(state: Arc<AppState<R>>, layer: ryw_core::layer::RywLayer) -> Router {
    Router::new()
        .route("/users/{id}/payments", post(pay::<R>).get(history::<R>))
        .route("/users/{id}/balance", get(balance::<R>))
        .route("/stats", get(stats::<R>))
        .with_state(state)
        .layer(layer)
}
