//! The scope parameter is bound by a pattern instead of a plain name.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/fail.rs");
include!("../shared/repo.rs");

struct UserId(i64);

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read]
    async fn get(
        &self,
        conn: &mut AsyncPgConnection,
        UserId(user_id): UserId,
    ) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}
