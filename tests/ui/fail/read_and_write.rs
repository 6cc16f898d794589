//! A method marked both `#[read]` and `#[write]`.

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
    #[write]
    async fn upsert(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}

fn main() {}
