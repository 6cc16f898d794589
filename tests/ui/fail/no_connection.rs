//! A marked method without a connection parameter.

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
    async fn get(&self, user_id: i64) -> Result<i64, AppError> {
        Ok(user_id)
    }
}

fn main() {}
