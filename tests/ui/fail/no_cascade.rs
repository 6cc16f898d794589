//! One bad method next to a good one: only the bad method's error is reported (no
//! cascade: the good method and its callers still type-check).

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/app_error.rs");
include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read]
    async fn good(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }

    #[write]
    async fn bad(&self, conn: &mut AsyncPgConnection, id: i64) -> Result<(), AppError> {
        let _ = (conn, id);
        Ok(())
    }
}

async fn use_it(repo: &Repo) -> Result<i64, AppError> {
    repo.good(1).await
}

fn main() {
    let _ = use_it;
}
