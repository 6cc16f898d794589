//! Shared by the integration test binaries and the benches: what a Postgres server counted
//! itself (`pg_stat_statements`, preloaded by the testkit).

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// Calls the server at `url` counted so far of statements whose text contains `fragment`
/// (the counting statement itself left out).
pub(crate) async fn calls(url: &str, fragment: &str) -> i64 {
    let mut c = AsyncPgConnection::establish(url).await.unwrap();
    diesel::select(sql::<BigInt>(&format!(
        "(SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements \
         WHERE query LIKE '%{fragment}%' AND query NOT LIKE '%pg_stat_statements%')"
    )))
    .get_result(&mut c)
    .await
    .unwrap()
}
