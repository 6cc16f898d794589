//! `crate = "…"`: the expansion reaches ryw through a re-export under another name (an
//! application that re-exports ryw from a crate of its own).

mod reexport {
    pub use ::ryw;
}

use crate::reexport::ryw::{Postgres, Router, read_your_writes};
use diesel_async::AsyncPgConnection;

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Ryw(#[from] reexport::ryw::Error),
}

struct Repo {
    router: Router<Postgres>,
}

#[read_your_writes(scope = "user_id", router = "router", crate = "crate::reexport::ryw")]
impl Repo {
    #[write]
    async fn put(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
        let _ = (conn, user_id);
        Ok(())
    }

    #[read(wait_ms = 100, fallback = "leader")]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}

struct ViaTrait {
    router: Router<Postgres>,
}

impl reexport::ryw::RywRepository for ViaTrait {
    type Backend = Postgres;
    fn ryw_router(&self) -> &Router<Postgres> {
        &self.router
    }
}

#[read_your_writes(crate = "reexport::ryw", scope = "user_id")]
impl ViaTrait {
    #[read]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}

async fn use_it(repo: &Repo, via: &ViaTrait) -> Result<(), AppError> {
    repo.put(1).await?;
    repo.get(1).await?;
    via.get(1).await?;
    Ok(())
}

fn main() {
    let _ = use_it;
}
