//! `conn: &mut ryw::ConnectionOf<Self>`: the connection type follows the repository's
//! backend, so one impl serves Postgres and MySQL repositories.

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use ryw::{ConnectionOf, Mysql, Postgres, Router, RywRepository, read_your_writes};
use ryw::backend::ReplicationBackend;

include!("../shared/app_error.rs");

/// A concrete backend, connection type spelled through the repository.
struct PgRepo {
    router: Router<Postgres>,
}

impl RywRepository for PgRepo {
    type Backend = Postgres;
    fn ryw_router(&self) -> &Router<Postgres> {
        &self.router
    }
}

#[read_your_writes(scope = "user_id")]
impl PgRepo {
    #[read]
    async fn count(&self, conn: &mut ConnectionOf<Self>, user_id: i64) -> Result<i64, AppError> {
        let q = format!("(SELECT count(*) FROM t WHERE user_id = {user_id})");
        diesel::select(sql::<BigInt>(&q))
            .get_result(conn)
            .await
            .map_err(|e| ryw::Error::from_diesel(e).into())
    }
}

/// Generic over the backend.
struct AnyRepo<B: ReplicationBackend> {
    router: Router<B>,
}

impl<B: ReplicationBackend> RywRepository for AnyRepo<B> {
    type Backend = B;
    fn ryw_router(&self) -> &Router<B> {
        &self.router
    }
}

#[read_your_writes(scope = "user_id")]
impl<B: ReplicationBackend> AnyRepo<B> {
    #[write]
    async fn touch(
        &self,
        conn: &mut ryw::ConnectionOf<Self>,
        user_id: i64,
    ) -> Result<(), AppError> {
        let _ = (conn, user_id);
        Ok(())
    }

    #[read]
    async fn get(&self, conn: &mut ConnectionOf<Self>, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}

async fn use_it(
    pg: &PgRepo,
    any_pg: &AnyRepo<Postgres>,
    any_my: &AnyRepo<Mysql>,
) -> Result<(), AppError> {
    pg.count(1).await?;
    any_pg.touch(1).await?;
    any_pg.get(1).await?;
    any_my.touch(1).await?;
    any_my.get(1).await?;
    Ok(())
}

fn main() {
    let _ = use_it;
}
