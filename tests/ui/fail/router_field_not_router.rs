//! `router = "…"` names a field that does not hold a router.

use diesel_async::AsyncPgConnection;
use ryw_diesel::read_your_writes;

#[derive(Debug)]
enum AppError {
    Ryw(ryw_diesel::Error),
}

impl From<ryw_diesel::Error> for AppError {
    fn from(e: ryw_diesel::Error) -> Self {
        Self::Ryw(e)
    }
}

struct Repo {
    name: String,
}

#[read_your_writes(scope = "user_id", router = "name")]
impl Repo {
    #[read]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}

fn main() {}
