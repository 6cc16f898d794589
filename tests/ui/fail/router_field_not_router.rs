//! `router = "…"` names a field that does not hold a router.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/fail.rs");

struct Repo {
    name: String,
}

#[read_your_writes(scope = "user_id", router = "name")]
impl Repo {
    #[read]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}
