//! `scope` names a parameter the method does not have (impl-level and method-level).

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/fail.rs");
include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read]
    async fn by_account(
        &self,
        conn: &mut AsyncPgConnection,
        account_id: i64,
    ) -> Result<i64, AppError> {
        let _ = conn;
        Ok(account_id)
    }

    #[write(scope = "acount_id")]
    async fn close(&self, conn: &mut AsyncPgConnection, account_id: i64) -> Result<(), AppError> {
        let _ = (conn, account_id);
        Ok(())
    }
}
