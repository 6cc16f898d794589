//! In a trait impl, a bad method keeps the trait's signature (the connection parameter is
//! still removed), so the only error is the macro's: no "wrong number of parameters" against
//! the trait, no errors at call sites.

use diesel_async::AsyncPgConnection;
use ryw::{Postgres, Router, read_your_writes};

include!("../shared/app_error.rs");

include!("../shared/balances.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Balances for PgBalances {
    #[write]
    async fn set_balance(
        &self,
        conn: &mut AsyncPgConnection,
        id: i64,
        cents: i64,
    ) -> Result<(), AppError> {
        let _ = (conn, id, cents);
        Ok(())
    }

    #[read]
    async fn balance(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}

async fn use_it<B: Balances>(repo: &B) -> Result<i64, AppError> {
    repo.set_balance(1, 100).await?;
    repo.balance(1).await
}

fn main() {
    let _ = use_it::<PgBalances>;
}
