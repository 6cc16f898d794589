//! One topology per test process, type and replica count, started on first use.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};

use tokio::sync::OnceCell;

use crate::dirs::TopoDir;
use crate::error::TestkitError;

/// The cell of each topology type and replica count (a cell is a `OnceCell` of that type).
type Cells = HashMap<(TypeId, usize), &'static (dyn Any + Send + Sync)>;

/// The topology of type `T` for `replicas`, started with `start` on first use; its directory
/// (from `dir`) is registered for removal at process exit, as statics are never dropped.
pub(crate) async fn shared<T, Fut>(
    replicas: usize,
    start: impl FnOnce(usize) -> Fut,
    dir: impl FnOnce(&T) -> &TopoDir,
) -> Result<&'static T, TestkitError>
where
    T: Send + Sync + 'static,
    Fut: Future<Output = Result<T, TestkitError>>,
{
    static CELLS: OnceLock<Mutex<Cells>> = OnceLock::new();
    let cell: &'static (dyn Any + Send + Sync) = {
        let mut map = CELLS
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .map_err(|_| TestkitError::Internal("shared map poisoned".into()))?;
        *map.entry((TypeId::of::<T>(), replicas))
            .or_insert_with(|| Box::leak(Box::new(OnceCell::<T>::new())))
    };
    let cell = cell
        .downcast_ref::<OnceCell<T>>()
        .ok_or_else(|| TestkitError::Internal("shared cell of another type".into()))?;
    cell.get_or_try_init(|| async {
        let t = start(replicas).await?;
        dir(&t).register_shared();
        Ok(t)
    })
    .await
}
