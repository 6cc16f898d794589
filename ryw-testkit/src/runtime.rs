//! The testkit's own runtime: long-lived tasks (the delaying proxies, shared topologies'
//! starts) run on a dedicated one-worker runtime, never on a test's runtime.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::TestkitError;

/// The testkit's dedicated runtime (one worker thread), for long-lived tasks.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime, TestkitError> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ryw-testkit-rt")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build the testkit runtime: {e}"))
    })
    .as_ref()
    .map_err(|e| TestkitError::Internal(e.clone()))
}

/// Runs `fut` to completion on the testkit runtime and awaits it from the caller's runtime.
pub(crate) async fn on_testkit_rt<T: Send + 'static>(
    fut: impl Future<Output = Result<T, TestkitError>> + Send + 'static,
) -> Result<T, TestkitError> {
    runtime()?
        .spawn(fut)
        .await
        .map_err(|e| TestkitError::Internal(format!("testkit task failed: {e}")))?
}
