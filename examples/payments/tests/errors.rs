//! How the service answers errors: retryable ones (the leader down, a replica too slow) are
//! 503 with `Retry-After`; an unknown COMMIT outcome says to check before paying again; other
//! 5xx bodies carry no internal text.
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use axum::body::to_bytes;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::IntoResponse;
use payments::repo::AppError;

async fn answer(e: AppError) -> (StatusCode, Option<String>, String) {
    let r = e.into_response();
    let status = r.status();
    let retry = r
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = to_bytes(r.into_body(), 4096).await.unwrap();
    (status, retry, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn retryable_errors_are_503_with_retry_after() {
    let down = AppError::Ryw(ryw::Error::Pool {
        node: "leader".into(),
        reason: "connection refused to 10.0.0.1:5432".into(),
    });
    let (status, retry, body) = answer(down).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(!body.contains("10.0.0.1"), "{body}");
    let slow = AppError::Ryw(ryw::Error::Deadline {
        node: "r0".into(),
        what: "replica read",
        after: Duration::from_secs(5),
    });
    assert_eq!(answer(slow).await.0, StatusCode::SERVICE_UNAVAILABLE);
    // A statement that lost its connection before COMMIT wrote nothing: retry is safe.
    let lost = AppError::Db(diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::Unknown,
        Box::new("terminating connection due to administrator command".to_owned()),
    ));
    let (status, retry, _) = answer(lost).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("1"));
}

#[tokio::test]
async fn internal_errors_keep_their_text_in_the_log() {
    let db = AppError::Db(diesel::result::Error::QueryBuilderError(
        "relation \"users\" secret detail".into(),
    ));
    let (status, retry, body) = answer(db).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(retry.is_none());
    assert!(!body.contains("secret"), "{body}");
    let unknown = AppError::Ryw(ryw::Error::CommitOutcomeUnknown {
        node: "leader".into(),
        source: diesel::result::Error::BrokenTransactionManager,
    });
    let (status, retry, body) = answer(unknown).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(retry.is_none());
    assert!(body.contains("check the payment history"), "{body}");
}
