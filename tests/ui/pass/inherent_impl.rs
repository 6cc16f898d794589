//! `#[read_your_writes]` on an inherent impl: the router comes from `RywRepository`, and the
//! connection parameter disappears from the public signature.

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ryw::{Postgres, Router, RywRepository, read_your_writes};

include!("../shared/db_error.rs");

struct Accounts {
    router: Router<Postgres>,
}

impl RywRepository for Accounts {
    type Backend = Postgres;
    fn ryw_router(&self) -> &Router<Postgres> {
        &self.router
    }
}

#[read_your_writes(scope = "user_id")]
impl Accounts {
    #[write]
    async fn pay(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        cents: i64,
    ) -> Result<(), AppError> {
        diesel::sql_query(format!(
            "UPDATE balances SET cents = cents + {cents} WHERE id = {user_id}"
        ))
        .execute(conn)
        .await?;
        Ok(())
    }

    #[read]
    pub async fn balance(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
    ) -> Result<i64, AppError> {
        let q = format!("(SELECT cents FROM balances WHERE id = {user_id})");
        Ok(diesel::select(sql::<BigInt>(&q)).get_result(conn).await?)
    }
}

async fn pay_then_read(accounts: &Accounts) -> Result<i64, AppError> {
    accounts.pay(42, 100).await?;
    accounts.balance(42).await
}

/// The routed methods are `Send` futures: they can be spawned.
fn assert_send<T: Send>(_: T) {}

fn main() {
    let _ = |accounts: &'static Accounts| assert_send(pay_then_read(accounts));
}
