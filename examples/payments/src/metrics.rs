//! `GET /metrics`: ryw's series (and anything else recorded through the `metrics` facade)
//! in the Prometheus text format, from `metrics-exporter-prometheus`' recorder.

use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of `ryw_read_wait_seconds`: from a caught-up replica's sub-millisecond answer to
/// the default 1 s wait budget and beyond.
const WAIT_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The process-wide recorder, installed on first use. `None` when another recorder was
/// installed first (then `/metrics` answers 503 and says so).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("ryw_read_wait_seconds".to_owned()),
                    &WAIT_BUCKETS,
                )
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::error!(error = %e, "cannot install the Prometheus recorder; /metrics is off");
                    None
                }
            }
        })
        .as_ref()
}

/// The `/metrics` handler.
pub async fn render() -> Response {
    match handle() {
        Some(h) => {
            h.run_upkeep();
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                h.render(),
            )
                .into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed",
        )
            .into_response(),
    }
}
