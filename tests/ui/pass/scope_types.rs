//! Every kind of scope value: integers, `uuid::Uuid`, `String`, `&str` and a newtype
//! implementing `ryw::ScopeValue`.

use diesel_async::AsyncPgConnection;
use ryw::ScopeValue;
use ryw::read_your_writes;

include!("../shared/app_error.rs");
include!("../shared/repo.rs");

/// A newtype scope value.
struct AccountId(u64);

impl ScopeValue for AccountId {
    fn write_scope_value(&self, out: &mut String) {
        self.0.write_scope_value(out);
    }
}

#[read_your_writes(scope = "id", router = "router")]
impl Repo {
    #[read]
    async fn by_i64(&self, conn: &mut AsyncPgConnection, id: i64) -> Result<(), AppError> {
        let _ = (conn, id);
        Ok(())
    }

    #[read]
    async fn by_u32(&self, conn: &mut AsyncPgConnection, id: u32) -> Result<(), AppError> {
        let _ = (conn, id);
        Ok(())
    }

    #[write]
    async fn by_uuid(&self, conn: &mut AsyncPgConnection, id: uuid::Uuid) -> Result<(), AppError> {
        let _ = (conn, id);
        Ok(())
    }

    #[read]
    async fn by_string(&self, conn: &mut AsyncPgConnection, id: String) -> Result<(), AppError> {
        let _ = (conn, id);
        Ok(())
    }

    #[read]
    async fn by_str(&self, conn: &mut AsyncPgConnection, id: &str) -> Result<(), AppError> {
        let _ = (conn, id);
        Ok(())
    }

    #[read]
    async fn by_ref<'a>(&self, conn: &mut AsyncPgConnection, id: &'a String) -> Result<(), AppError> {
        let _ = (conn, id);
        Ok(())
    }

    #[write]
    async fn by_newtype(&self, conn: &mut AsyncPgConnection, id: AccountId) -> Result<(), AppError> {
        let _ = (conn, id.0);
        Ok(())
    }
}

async fn use_it(repo: &Repo) -> Result<(), AppError> {
    repo.by_i64(1).await?;
    repo.by_u32(1).await?;
    repo.by_uuid(uuid::Uuid::nil()).await?;
    repo.by_string("a".to_owned()).await?;
    repo.by_str("a").await?;
    repo.by_ref(&"a".to_owned()).await?;
    repo.by_newtype(AccountId(7)).await
}

fn main() {
    let _ = use_it;
}
