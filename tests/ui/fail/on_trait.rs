//! The attribute on a trait definition instead of on the impl that fulfils it.

use ryw::read_your_writes;

#[read_your_writes(scope = "user_id")]
trait Balances {
    async fn balance(&self, user_id: i64) -> Result<i64, ryw::Error>;
}

fn main() {}
