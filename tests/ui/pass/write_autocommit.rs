//! `#[write(autocommit)]`: a single-statement write without BEGIN / COMMIT, alone, with a
//! method scope, and with several scopes.

use diesel_async::AsyncPgConnection;
use ryw::{Postgres, Router, read_your_writes};

include!("../shared/app_error.rs");

struct Accounts {
    router: Router<Postgres>,
}

#[read_your_writes(router = "router", scope = "user_id")]
impl Accounts {
    #[write(autocommit)]
    async fn touch(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<u32, AppError> {
        let _ = (conn, user_id);
        Ok(1)
    }

    #[write(autocommit, scope = "owner")]
    async fn rename(&self, conn: &mut AsyncPgConnection, owner: i64) -> Result<(), AppError> {
        let _ = (conn, owner);
        Ok(())
    }

    #[write(scopes("user_id", "org_id"), autocommit)]
    async fn join(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        org_id: String,
    ) -> Result<(), AppError> {
        let _ = (conn, user_id, org_id);
        Ok(())
    }
}

fn main() {}
