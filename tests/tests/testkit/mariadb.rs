//! MariaDB: the suite, and the harsher faults.

use ryw_testkit::MariaDbTopology;

use crate::backend::MariaDb;
use crate::steps::survives_harsh_faults;

testkit_suite!(MariaDb);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults() {
    let topo = MariaDbTopology::start(1).await.expect("start");
    survives_harsh_faults::<MariaDb>(&topo, 0).await;
}
