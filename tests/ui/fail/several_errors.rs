//! Several mistakes in one impl: all are reported in one compile.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/fail.rs");
include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router", retries = 3)]
impl Repo {
    #[read(fallback = "replica")]
    fn get(&self, user_id: i64) -> i64 {
        user_id
    }

    #[write(wait_ms = 10)]
    async fn put(conn: &mut AsyncPgConnection, account_id: i64) -> Result<(), AppError> {
        let _ = (conn, account_id);
        Ok(())
    }
}
