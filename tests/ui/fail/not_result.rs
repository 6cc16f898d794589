//! A marked method that does not return a `Result` (and one returning nothing).

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
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Option<i64> {
        let _ = conn;
        Some(user_id)
    }

    #[write]
    async fn put(&self, conn: &mut AsyncPgConnection, user_id: i64) {
        let _ = (conn, user_id);
    }
}

fn main() {}
