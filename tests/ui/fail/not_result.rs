//! A marked method that does not return a `Result` (and one returning nothing).

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/fail.rs");
include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Option<i64> {
        let _ = conn;
        Some(user_id)
    }

    #[write]
    async fn put(&self, conn: &mut AsyncPgConnection, user_id: i64) {
        let _ = (conn, user_id);
    }
}
