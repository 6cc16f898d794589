//! Runs the tester's fault recipe against the payments service and prints what clients saw
//! per phase. Exits with 1 when a client read a balance older than its own acknowledged
//! payment, or a request went unanswered past the client's deadline.
//!
//! ```sh
//! cargo run -p payments --release --bin fault_recipe -- --clients 200
//! ```

use std::time::Duration;

use clap::Parser;
use payments::recipe::{self, RecipeConfig};

/// The fault recipe.
#[derive(Debug, Parser)]
struct Args {
    /// Clients carrying their tokens.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Baseline clients reading replicas plainly.
    #[arg(long, default_value_t = 20)]
    plain_clients: usize,
    /// Replication lag, in milliseconds.
    #[arg(long, default_value_t = 300)]
    lag_ms: u64,
    /// Seconds each phase runs on after its fault.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
}

#[allow(clippy::print_stdout)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    payments::service::init_tracing();
    let args = Args::parse();
    let config = RecipeConfig {
        clients: args.clients,
        plain_clients: args.plain_clients,
        lag: Duration::from_millis(args.lag_ms),
        settle: Duration::from_secs(args.settle_secs),
        ..RecipeConfig::default()
    };
    let report = recipe::run(&config).await?;
    recipe::print(&report);
    let total = report.total();
    if total.stale > 0 || total.hung > 0 {
        println!(
            "FAILED: {} stale reads, {} hung requests",
            total.stale, total.hung
        );
        std::process::exit(1);
    }
    Ok(())
}
