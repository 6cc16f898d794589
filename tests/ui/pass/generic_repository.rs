//! A generic repository: the impl's generic parameters and where clauses are kept.

use std::marker::PhantomData;

use diesel_async::AsyncPgConnection;
use ryw::{Postgres, Router, RywRepository, read_your_writes};

include!("../shared/app_error.rs");

trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        0
    }
}

struct Events<C, T> {
    router: Router<Postgres>,
    clock: C,
    _kind: PhantomData<fn() -> T>,
}

impl<C: Clock, T> RywRepository for Events<C, T> {
    type Backend = Postgres;
    fn ryw_router(&self) -> &Router<Postgres> {
        &self.router
    }
}

#[read_your_writes(scope = "user_id")]
impl<C: Clock, T> Events<C, T>
where
    T: Default + Send + 'static,
{
    #[write]
    async fn record(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let _ = (conn, user_id);
        Ok(self.clock.now())
    }

    #[read]
    async fn latest(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<T, AppError> {
        let _ = (conn, user_id);
        Ok(T::default())
    }

    /// A method with its own generic parameter and where clause.
    #[read]
    async fn latest_as<U>(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<U, AppError>
    where
        U: From<i64> + Send,
    {
        let _ = conn;
        Ok(U::from(user_id + self.clock.now()))
    }
}

async fn use_it(events: &Events<SystemClock, String>) -> Result<(), AppError> {
    events.record(1).await?;
    let _: String = events.latest(1).await?;
    let _: i128 = events.latest_as(1).await?;
    Ok(())
}

fn main() {
    let _ = use_it;
}
