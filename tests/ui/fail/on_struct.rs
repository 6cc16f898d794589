//! The attribute on a struct instead of an impl block.

use ryw::{Postgres, Router, read_your_writes};

#[read_your_writes(scope = "user_id")]
struct Repo {
    router: Router<Postgres>,
}

fn main() {
    let _ = |r: Repo| r.router;
}
