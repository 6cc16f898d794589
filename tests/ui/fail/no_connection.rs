//! A marked method without a connection parameter.

use ryw::read_your_writes;

include!("../shared/fail.rs");
include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read]
    async fn get(&self, user_id: i64) -> Result<i64, AppError> {
        Ok(user_id)
    }
}
