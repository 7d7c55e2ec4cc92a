//! `imgate`: the gateway's always-on process.
//!
//! `imgate serve` runs everything in one process on an embedded SQLite store;
//! `imgate relay` holds the long connections on the AWS backend (the ECS container), and
//! `imgate health` is its container health check; `imgate simulate wecom` plays a WeCom user
//! against a running gateway; `imgate login wechat` logs a WeChat bot in by QR code.

mod cli;
mod endpoints;
mod health;
mod logging;
mod login;
mod relay;
mod serve;
mod simulate;
mod simulate_lark;
mod simulate_telegram;
mod supervise;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    // The server logs what it does; the simulator's output is the conversation itself.
    let default_level = match cli.command {
        cli::Command::Serve(_) | cli::Command::Relay(_) => "info",
        cli::Command::Health(_) | cli::Command::Simulate(_) | cli::Command::Login(_) => "warn",
    };
    logging::init(cli.log_format, default_level);
    match cli.command {
        cli::Command::Serve(args) => serve::run(args).await,
        cli::Command::Relay(args) => relay::run(args).await,
        cli::Command::Health(args) => health::check(&args).await,
        cli::Command::Simulate(cli::Simulate::Wecom(args)) => simulate::wecom(args).await,
        cli::Command::Simulate(cli::Simulate::Lark(args)) => simulate_lark::run(args).await,
        cli::Command::Simulate(cli::Simulate::Telegram(args)) => simulate_telegram::run(args).await,
        cli::Command::Login(cli::Login::Wechat(args)) => login::wechat(args).await,
    }
}
