//! Shared by the Postgres integration test binaries: the write most of them make.

use diesel_async::RunQueryDsl;
use ryw::ScopeKey;
use ryw::{Error, Postgres, Router};

/// Sets `v` of row 1 of `table` through the router, as a write of scope `user_id:1`.
pub(crate) async fn set_v(router: &Router<Postgres>, table: &str, v: i64) {
    let sql = format!("UPDATE {table} SET v = {v} WHERE id = 1");
    router
        .write(&ScopeKey::of("user_id", 1), async move |conn| {
            diesel::sql_query(sql)
                .execute(conn)
                .await
                .map_err(Error::from_diesel)
        })
        .await
        .unwrap();
}
