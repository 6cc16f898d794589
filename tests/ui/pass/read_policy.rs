//! Per-method read policy: `#[read(wait_ms = …, fallback = "…", prefer = "…")]`, alone or
//! together.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/app_error.rs");

include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read(wait_ms = 250, fallback = "error")]
    async fn strict(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }

    #[read(fallback = "leader")]
    async fn to_leader(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }

    #[read(fallback = "stale", wait_ms = 0)]
    async fn dashboard(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }

    #[read(prefer = "replica")]
    async fn report(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }

    #[read(prefer = "latency", wait_ms = 500, policy = "checkout")]
    async fn checkout(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }

    #[read(wait_ms = 1_000)]
    async fn patient(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }

    #[read(scope = "other", wait_ms = 50, fallback = "error")]
    async fn other(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        other: i64,
    ) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id + other)
    }
}

async fn use_it(repo: &Repo) -> Result<i64, AppError> {
    Ok(repo.strict(1).await?
        + repo.to_leader(1).await?
        + repo.dashboard(1).await?
        + repo.patient(1).await?
        + repo.report(1).await?
        + repo.checkout(1).await?
        + repo.other(1, 2).await?)
}

fn main() {
    let _ = use_it;
}
