//! `policy` on a `#[write]`: writes always run on the leader, and a policy that is not a
//! string on a `#[read]`.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/fail.rs");
include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[write(policy = "reports")]
    async fn put(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
        let _ = (conn, user_id);
        Ok(())
    }

    #[read(policy = 250)]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = conn;
        Ok(user_id)
    }
}
