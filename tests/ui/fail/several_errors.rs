//! Several mistakes in one impl: all are reported in one compile.

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

fn main() {}
