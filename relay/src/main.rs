//! `imgate`: the gateway's always-on process.
//!
//! `imgate serve` runs everything in one process on an embedded SQLite store.

mod cli;
mod logging;
mod serve;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        cli::Command::Serve(args) => serve::run(args).await,
    }
}
