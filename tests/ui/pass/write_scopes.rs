//! `#[write(scopes("user_id", "org_id"))]`: a write that changes several scopes raises every
//! one of their floors; an impl whose only marked method lists its scopes needs no impl-level
//! `scope`. Scope parameters of different types mix.

use diesel_async::AsyncPgConnection;
use ryw::{Postgres, Router, read_your_writes};

include!("../shared/app_error.rs");

struct Members {
    router: Router<Postgres>,
}

#[read_your_writes(router = "router")]
impl Members {
    #[write(scopes("user_id", "org_id"))]
    async fn join(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        org_id: String,
    ) -> Result<u32, AppError> {
        let _ = (conn, user_id, org_id);
        Ok(1)
    }
}

fn main() {}
