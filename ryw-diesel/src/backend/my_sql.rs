//! `SELECT <system variable>` as a query diesel may prepare once per connection and reuse,
//! keyed by its text. A raw `sql(…)` fragment opts out of the statement cache, so each
//! capture after a write was prepared again — a second round trip.

use diesel::QueryResult;
use diesel::mysql::Mysql;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Text};

/// `SELECT expr` for one of the backend's fixed expressions (`@@last_gtid`, …).
#[derive(Debug, Clone, Copy)]
pub(super) struct SelectVar(pub(super) &'static str);

impl QueryId for SelectVar {
    type QueryId = ();
    // No static id: the statement cache keys it by its SQL text, which is fixed per value.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Mysql> for SelectVar {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        out.push_sql(self.0);
        Ok(())
    }
}

impl Query for SelectVar {
    type SqlType = Nullable<Text>;
}
