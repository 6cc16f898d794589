//! An argument the macro does not know.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/fail.rs");
include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router", wait_ms = 100)]
impl Repo {
    #[read]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}
