// A plain (mockable) repository trait and the Postgres repository that fulfils it with an
// annotated impl. Included (`include!`) by the ui cases and tests/macro_repository.rs, which
// import `Router` and `Postgres` and define `AppError`.

trait Balances {
    async fn set_balance(&self, user_id: i64, cents: i64) -> Result<(), AppError>;
    async fn balance(&self, user_id: i64) -> Result<i64, AppError>;
}

struct PgBalances {
    router: Router<Postgres>,
}
