//! Per-method scopes: `#[read(scope = "…")]` / `#[write(scope = "…")]` override the impl's
//! scope; an impl whose marked methods all set their own scope needs no impl-level `scope`.

use diesel_async::AsyncPgConnection;
use ryw::{Postgres, Router, read_your_writes};

include!("../shared/app_error.rs");

include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[write]
    async fn rename(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        name: String,
    ) -> Result<(), AppError> {
        let _ = (conn, user_id, name);
        Ok(())
    }

    #[read(scope = "account_id")]
    async fn account_total(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        account_id: i64,
    ) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id + account_id)
    }

    #[write(scope = "account_id")]
    async fn close_account(
        &self,
        conn: &mut AsyncPgConnection,
        account_id: i64,
    ) -> Result<(), AppError> {
        let _ = (conn, account_id);
        Ok(())
    }
}

struct Orgs {
    router: Router<Postgres>,
}

#[read_your_writes(router = "router")]
impl Orgs {
    #[write(scope = "org_id")]
    async fn create_team(
        &self,
        conn: &mut AsyncPgConnection,
        org_id: i64,
        team: &str,
    ) -> Result<(), AppError> {
        let _ = (conn, org_id, team);
        Ok(())
    }

    #[read(scope = "team_id")]
    async fn team(&self, conn: &mut AsyncPgConnection, team_id: i64) -> Result<String, AppError> {
        let _ = conn;
        Ok(team_id.to_string())
    }
}

async fn use_it(repo: &Repo, orgs: &Orgs) -> Result<(), AppError> {
    repo.rename(1, "a".to_owned()).await?;
    repo.account_total(1, 2).await?;
    repo.close_account(2).await?;
    orgs.create_team(1, "core").await?;
    orgs.team(3).await?;
    Ok(())
}

fn main() {
    let _ = use_it;
}
