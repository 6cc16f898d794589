//! `autocommit` misused: on a read (reads never write), and twice on one write.

use diesel_async::AsyncPgConnection;
use ryw::{Postgres, Router, read_your_writes};

include!("../shared/app_error.rs");

struct Accounts {
    router: Router<Postgres>,
}

#[read_your_writes(router = "router", scope = "user_id")]
impl Accounts {
    #[read(autocommit)]
    async fn balance(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = (conn, user_id);
        Ok(0)
    }

    #[write(autocommit, autocommit)]
    async fn touch(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
        let _ = (conn, user_id);
        Ok(())
    }
}

fn main() {}
