//! One topology per test process and replica count, started on first use.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};

use tokio::sync::OnceCell;

use crate::TestkitError;
use crate::dirs::TopoDir;

/// The cells of one topology type, one per replica count.
pub(crate) type Cells<T> = OnceLock<Mutex<HashMap<usize, &'static OnceCell<T>>>>;

/// The topology in `cells` for `replicas`, started with `start` on first use; its directory
/// (from `dir`) is registered for removal at process exit, as statics are never dropped.
pub(crate) async fn shared<T, Fut>(
    cells: &'static Cells<T>,
    replicas: usize,
    start: impl FnOnce(usize) -> Fut,
    dir: impl FnOnce(&T) -> &TopoDir,
) -> Result<&'static T, TestkitError>
where
    T: Send + Sync + 'static,
    Fut: Future<Output = Result<T, TestkitError>>,
{
    let cell = {
        let mut map = cells
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .map_err(|_| TestkitError::Internal("shared map poisoned".into()))?;
        *map.entry(replicas)
            .or_insert_with(|| Box::leak(Box::new(OnceCell::new())))
    };
    cell.get_or_try_init(|| async {
        let t = start(replicas).await?;
        dir(&t).register_shared();
        Ok(t)
    })
    .await
}
