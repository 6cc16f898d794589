//! `#[read(policy = "…")]`: a policy the router defines at run time, optionally with
//! `wait_ms` / `fallback` overriding its fields; written against the one-crate facade.

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ryw::{Postgres, Router, read_your_writes};

include!("../shared/db_error.rs");

struct Reports {
    router: Router<Postgres>,
}

#[read_your_writes(scope = "user_id", router = "router")]
impl Reports {
    #[read(policy = "reports")]
    pub async fn total(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let q = format!("(SELECT count(*) FROM payments WHERE user_id = {user_id})");
        Ok(diesel::select(sql::<BigInt>(&q)).get_result(conn).await?)
    }

    #[read(policy = "reports", fallback = "error")]
    pub async fn strict_total(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
    ) -> Result<i64, AppError> {
        let q = format!("(SELECT count(*) FROM payments WHERE user_id = {user_id})");
        Ok(diesel::select(sql::<BigInt>(&q)).get_result(conn).await?)
    }
}

fn main() {
    let _ = |r: &'static Reports| async move { (r.total(1).await, r.strict_total(1).await) };
}
