//! A MySQL / MariaDB repository: `AsyncMysqlConnection` and `Router<ryw::Mysql>`.

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncMysqlConnection, RunQueryDsl};
use ryw::{Mysql, Router, RywRepository, read_your_writes};

include!("../shared/db_error.rs");

struct Orders {
    router: Router<ryw::Mysql>,
}

impl RywRepository for Orders {
    type Backend = Mysql;
    fn ryw_router(&self) -> &Router<Mysql> {
        &self.router
    }
}

#[read_your_writes(scope = "customer_id")]
impl Orders {
    #[write]
    async fn place(
        &self,
        conn: &mut AsyncMysqlConnection,
        customer_id: u64,
        cents: i64,
    ) -> Result<(), AppError> {
        diesel::sql_query(format!(
            "INSERT INTO orders (customer_id, cents) VALUES ({customer_id}, {cents})"
        ))
        .execute(conn)
        .await?;
        Ok(())
    }

    #[read(wait_ms = 500, fallback = "leader")]
    async fn total(
        &self,
        conn: &mut AsyncMysqlConnection,
        customer_id: u64,
    ) -> Result<i64, AppError> {
        let q = format!("(SELECT SUM(cents) FROM orders WHERE customer_id = {customer_id})");
        Ok(diesel::select(sql::<BigInt>(&q)).get_result(conn).await?)
    }
}

async fn use_it(orders: &Orders) -> Result<i64, AppError> {
    orders.place(7, 1_000).await?;
    orders.total(7).await
}

fn main() {
    let _ = use_it;
}
