//! `scopes` misused: on a `#[read]`, together with `scope`, empty, a name listed twice, a
//! name that is no parameter.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/fail.rs");
include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read(scopes("user_id", "org_id"))]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64, org_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id + org_id)
    }

    #[write(scope = "user_id", scopes("user_id", "org_id"))]
    async fn both(&self, conn: &mut AsyncPgConnection, user_id: i64, org_id: i64) -> Result<(), AppError> {
        let _ = (conn, user_id, org_id);
        Ok(())
    }

    #[write(scopes())]
    async fn none(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
        let _ = (conn, user_id);
        Ok(())
    }

    #[write(scopes("user_id", "user_id"))]
    async fn twice(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
        let _ = (conn, user_id);
        Ok(())
    }

    #[write(scopes("user_id", "team_id"))]
    async fn unknown(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
        let _ = (conn, user_id);
        Ok(())
    }
}
