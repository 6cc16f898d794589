//! `#[read_your_writes]` on a trait impl: the trait stays plain (and mockable), the annotated
//! impl fulfils it with routed methods.

use diesel_async::AsyncPgConnection;
use ryw::{Postgres, Router, read_your_writes};

include!("../shared/app_error.rs");

trait Balances {
    async fn set_balance(&self, user_id: i64, cents: i64) -> Result<(), AppError>;
    async fn balance(&self, user_id: i64) -> Result<i64, AppError>;
    fn name(&self) -> &'static str;
}

struct PgBalances {
    router: Router<Postgres>,
}

#[read_your_writes(scope = "user_id", router = "router")]
impl Balances for PgBalances {
    #[write]
    async fn set_balance(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        cents: i64,
    ) -> Result<(), AppError> {
        let _ = (conn, user_id, cents);
        Ok(())
    }

    #[read]
    async fn balance(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }

    fn name(&self) -> &'static str {
        "pg"
    }
}

/// A mock implements the same trait without any routing.
struct Mock;

impl Balances for Mock {
    async fn set_balance(&self, _: i64, _: i64) -> Result<(), AppError> {
        Ok(())
    }
    async fn balance(&self, user_id: i64) -> Result<i64, AppError> {
        Ok(user_id)
    }
    fn name(&self) -> &'static str {
        "mock"
    }
}

async fn use_it<B: Balances>(repo: &B) -> Result<i64, AppError> {
    repo.set_balance(1, 100).await?;
    let _ = repo.name();
    repo.balance(1).await
}

fn main() {
    let _ = use_it::<PgBalances>;
    let _ = use_it::<Mock>;
}
