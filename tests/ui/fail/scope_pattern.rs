//! The scope parameter is bound by a pattern instead of a plain name.

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

fn main() {}
