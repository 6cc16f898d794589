//! One bad method next to a good one: only the bad method's error is reported (no
//! cascade: the good method and its callers still type-check).

use diesel_async::AsyncPgConnection;
use ryw_diesel::{Postgres, Router, read_your_writes};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Ryw(#[from] ryw_diesel::Error),
}

struct Repo {
    router: Router<Postgres>,
}

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
