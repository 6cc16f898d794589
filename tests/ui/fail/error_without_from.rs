//! The error type cannot hold ryw's errors: no `From<ryw::Error>`.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

#[derive(Debug)]
enum AppError {
    NotFound,
}

include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        if user_id < 0 {
            return Err(AppError::NotFound);
        }
        Ok(user_id)
    }
}

fn main() {}
