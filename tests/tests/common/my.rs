//! Helpers for the MariaDB and MySQL testkit tests (both speak the MySQL protocol).

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use ryw_testkit::Topology;

pub(crate) async fn conn(url: &str) -> Conn {
    Conn::new(Opts::from_url(url).expect("url"))
        .await
        .expect("connect")
}

pub(crate) async fn count(c: &mut Conn, table: &str, id: i32) -> i64 {
    c.exec_first(format!("SELECT count(*) FROM {table} WHERE id = ?"), (id,))
        .await
        .expect("count")
        .expect("one row")
}

pub(crate) async fn wait_visible(c: &mut Conn, table: &str, id: i32, bound: Duration) -> Duration {
    let t0 = Instant::now();
    while count(c, table, id).await == 0 {
        assert!(
            t0.elapsed() < bound,
            "row {id} of {table} not visible after {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t0.elapsed()
}

pub(crate) async fn setup_table(topo: &impl Topology, table: &str) {
    topo.execute_on_primary(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int primary key)"
    ))
    .await
    .expect("create table");
    for r in 0..topo.replica_count() {
        topo.wait_caught_up(r, Duration::from_secs(10))
            .await
            .expect("caught up");
    }
}
