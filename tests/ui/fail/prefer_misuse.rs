//! `prefer` misused: an unknown preference, and a preference on a write (writes always run
//! on the leader).

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/fail.rs");
include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read(prefer = "fast")]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }

    #[write(prefer = "replica")]
    async fn set(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}
