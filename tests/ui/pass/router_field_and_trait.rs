//! Where the router comes from: `router = "field"` (a `Router`, an `Arc<Router>` or a
//! `&Router` field), or the `RywRepository` trait when no field is named.

use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use ryw::{Postgres, Router, RywRepository, read_your_writes};

include!("../shared/app_error.rs");

struct Owned {
    db: Router<Postgres>,
}

#[read_your_writes(scope = "user_id", router = "db")]
impl Owned {
    #[read]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}

struct Shared {
    router: Arc<Router<Postgres>>,
}

#[read_your_writes(scope = "user_id", router = "router")]
impl Shared {
    #[write]
    async fn put(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
        let _ = (conn, user_id);
        Ok(())
    }
}

struct Borrowed<'r> {
    router: &'r Router<Postgres>,
}

#[read_your_writes(scope = "user_id", router = "router")]
impl Borrowed<'_> {
    #[read]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}

/// Through the trait: the router may live anywhere the impl can reach.
struct ViaTrait {
    inner: Arc<Owned>,
}

impl RywRepository for ViaTrait {
    type Backend = Postgres;
    fn ryw_router(&self) -> &Router<Postgres> {
        &self.inner.db
    }
}

#[read_your_writes(scope = "user_id")]
impl ViaTrait {
    #[read]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}

async fn use_it(
    owned: &Owned,
    shared: &Shared,
    borrowed: &Borrowed<'_>,
    via: &ViaTrait,
) -> Result<(), AppError> {
    owned.get(1).await?;
    shared.put(1).await?;
    borrowed.get(1).await?;
    via.get(1).await?;
    Ok(())
}

fn main() {
    let _ = use_it;
}
