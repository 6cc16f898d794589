//! The error type lacks `From<ryw::Error>` and is hidden behind a `Result` alias.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

#[derive(Debug)]
struct AppError;

type AppResult<T> = Result<T, AppError>;

include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[write]
    async fn put(&self, conn: &mut AsyncPgConnection, user_id: i64) -> AppResult<()> {
        let _ = (conn, user_id);
        Ok(())
    }
}

fn main() {}
