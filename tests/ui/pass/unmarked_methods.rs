//! Items without `#[read]` / `#[write]` pass through untouched: sync methods, associated
//! functions, `&mut self` methods, consts, other attributes, and async methods that do their
//! own routing.

use diesel_async::AsyncPgConnection;
use ryw::{Postgres, Router, read_your_writes};

include!("../shared/app_error.rs");

struct Repo {
    router: Router<Postgres>,
    calls: u32,
}

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    const TABLE: &'static str = "users";

    fn new(router: Router<Postgres>) -> Self {
        Self { router, calls: 0 }
    }

    fn table(&self) -> &'static str {
        Self::TABLE
    }

    fn bump(&mut self) -> u32 {
        self.calls += 1;
        self.calls
    }

    /// Unmarked: keeps its connection parameter and is not routed.
    #[inline]
    #[allow(clippy::unused_async)]
    async fn raw(&self, conn: &mut AsyncPgConnection, user_id: i64) -> i64 {
        let _ = conn;
        user_id
    }

    /// Unmarked, no `Result`, no connection: fine.
    async fn plain(&self) -> u32 {
        self.calls
    }

    #[read]
    #[must_use = "the balance is the point"]
    async fn routed(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        Ok(self.raw(conn, user_id).await)
    }
}

async fn use_it(router: Router<Postgres>, conn: &mut AsyncPgConnection) -> Result<(), AppError> {
    let mut repo = Repo::new(router);
    let _ = repo.bump();
    let _ = repo.table();
    let _ = repo.raw(conn, 1).await;
    let _ = repo.plain().await;
    let _ = repo.routed(1).await?;
    Ok(())
}

fn main() {
    let _ = use_it;
}
