//! The Postgres functions the capture calls, declared to diesel with their real types
//! (`pg_lsn` is diesel's `sql_types::PgLsn`), so the capture is a query with a static id:
//! prepared once per connection and then only executed. A raw `sql(…)` fragment is never
//! cached, so each write prepared it again — one more round trip per write.

use diesel::sql_types::PgLsn;

diesel::define_sql_function! {
    /// The end of the WAL inserted so far (covers every commit that has returned).
    fn pg_current_wal_insert_lsn() -> PgLsn;
}

diesel::define_sql_function! {
    /// The WAL segment file name holding `lsn` (its first 8 hex digits are the timeline).
    fn pg_walfile_name(lsn: PgLsn) -> Text;
}
