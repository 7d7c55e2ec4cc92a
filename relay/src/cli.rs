//! Command-line interface. Every flag can also come from an `IMGATE_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// imgate: connect chat platforms to AI agents.
#[derive(Debug, Parser)]
#[command(name = "imgate", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "IMGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole gateway in one process on an embedded store.
    Serve(ServeArgs),
    /// Hold the long connections (WeCom long connection, DingTalk Stream) of every enabled, bound
    /// long-connection integration, on the AWS backend (DynamoDB, SQS, KMS).
    Relay(RelayArgs),
    /// Ask a running relay whether it is healthy; exits 0 only if it answers 200.
    Health(HealthArgs),
    /// Send real signed platform callbacks to a running gateway and print the reply.
    #[command(subcommand)]
    Simulate(Simulate),
    /// Log a bot in by scanning a QR code, through a running gateway's admin API.
    #[command(subcommand)]
    Login(Login),
}

/// Platforms whose bots log in by QR code.
#[derive(Debug, Subcommand)]
pub enum Login {
    /// A WeChat bot (iLink): draws the code, follows the scan until it is confirmed.
    Wechat(LoginWechatArgs),
}

/// `imgate login wechat` options.
#[derive(Debug, Clone, clap::Args)]
pub struct LoginWechatArgs {
    /// The integration id (`int_…`) of a WeChat integration.
    #[arg(long)]
    pub integration: String,

    /// The gateway's base URL (or its admin API's, `…/api/admin/v1`).
    #[arg(long, env = "IMGATE_ADMIN_URL", default_value = "http://127.0.0.1:8080")]
    pub admin_url: String,

    /// An organization API key.
    #[arg(long, env = "IMGATE_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

/// Platforms `imgate simulate` can play.
#[derive(Debug, Subcommand)]
pub enum Simulate {
    /// A WeCom smart bot user (callback mode).
    Wecom(SimulateWecomArgs),
    /// A Lark / Feishu user (webhook mode), with a stand-in Open API that shows the reply.
    Lark(SimulateLarkArgs),
    /// A Telegram user (webhook mode), with a stand-in Bot API that shows the reply.
    Telegram(SimulateTelegramArgs),
}

/// `imgate simulate telegram` options.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateTelegramArgs {
    /// The integration id (`int_…`) of a Telegram webhook-mode integration.
    #[arg(long)]
    pub integration: String,

    /// The message text.
    #[arg(long)]
    pub text: String,

    /// The sender's user id (also the private chat's id).
    #[arg(long, default_value_t = 100_001)]
    pub user: i64,

    /// Send as a group message in this chat (a negative id), mentioning the bot.
    #[arg(long, allow_negative_numbers = true)]
    pub group: Option<i64>,

    /// The gateway's base URL.
    #[arg(long, env = "IMGATE_GATEWAY", default_value = "http://127.0.0.1:8080")]
    pub gateway: String,

    /// Where the stand-in Bot API listens while the simulation runs. Start the gateway with
    /// `--telegram-api-base http://<this address>` so its replies come here.
    #[arg(long, default_value = "127.0.0.1:8092")]
    pub api_listen: SocketAddr,

    /// The database of the local `imgate serve` (to read the integration's secret token).
    #[arg(long, env = "IMGATE_DB", default_value = "./imgate.db")]
    pub db: PathBuf,

    /// The key file of the local `imgate serve`.
    #[arg(long, env = "IMGATE_KEY_FILE", default_value = "./imgate.key")]
    pub key_file: PathBuf,

    /// The webhook secret token, instead of reading it from the database (for a remote gateway).
    #[arg(long, hide_env_values = true)]
    pub secret_token: Option<String>,
}

/// `imgate simulate lark` options.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateLarkArgs {
    /// The integration id (`int_…`) of a Lark webhook-mode integration.
    #[arg(long)]
    pub integration: String,

    /// The message text.
    #[arg(long)]
    pub text: String,

    /// The sender's open_id.
    #[arg(long, default_value = "ou_simulated_user")]
    pub user: String,

    /// Send as a group message in this chat (`oc_…`), mentioning the bot.
    #[arg(long)]
    pub group: Option<String>,

    /// The gateway's base URL.
    #[arg(long, env = "IMGATE_GATEWAY", default_value = "http://127.0.0.1:8080")]
    pub gateway: String,

    /// Where the stand-in Lark Open API listens while the simulation runs. Start the gateway
    /// with `--lark-api-base http://<this address>` so its replies come here.
    #[arg(long, default_value = "127.0.0.1:8091")]
    pub api_listen: SocketAddr,

    /// The database of the local `imgate serve` (to read the integration's credentials).
    #[arg(long, env = "IMGATE_DB", default_value = "./imgate.db")]
    pub db: PathBuf,

    /// The key file of the local `imgate serve`.
    #[arg(long, env = "IMGATE_KEY_FILE", default_value = "./imgate.key")]
    pub key_file: PathBuf,

    /// The Verification Token, instead of reading it from the database (for a remote gateway).
    #[arg(long, hide_env_values = true)]
    pub verification_token: Option<String>,

    /// The Encrypt Key (when the integration has one), instead of reading it from the database.
    #[arg(long, requires = "verification_token", hide_env_values = true)]
    pub encrypt_key: Option<String>,
}

/// `imgate simulate wecom` options.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateWecomArgs {
    /// The integration id (`int_…`).
    #[arg(long)]
    pub integration: String,

    /// The message text.
    #[arg(long)]
    pub text: String,

    /// The sender's WeCom userid.
    #[arg(long, default_value = "zhangsan")]
    pub user: String,

    /// Send as a group message in this chat (mentioning the bot).
    #[arg(long)]
    pub group: Option<String>,

    /// The gateway's base URL.
    #[arg(long, env = "IMGATE_GATEWAY", default_value = "http://127.0.0.1:8080")]
    pub gateway: String,

    /// The database of the local `imgate serve` (to read the integration's credentials).
    #[arg(long, env = "IMGATE_DB", default_value = "./imgate.db")]
    pub db: PathBuf,

    /// The key file of the local `imgate serve`.
    #[arg(long, env = "IMGATE_KEY_FILE", default_value = "./imgate.key")]
    pub key_file: PathBuf,

    /// The callback Token, instead of reading it from the database (for a remote gateway).
    #[arg(long, requires = "encoding_aes_key", hide_env_values = true)]
    pub token: Option<String>,

    /// The EncodingAESKey, instead of reading it from the database.
    #[arg(long, requires = "token", hide_env_values = true)]
    pub encoding_aes_key: Option<String>,
}

/// `imgate serve` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "IMGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQLite database file (created on first start).
    #[arg(long, env = "IMGATE_DB", default_value = "./imgate.db")]
    pub db: PathBuf,

    /// Key file that encrypts credentials at rest (created on first start, mode 0600).
    /// Keep it apart from backups of the database.
    #[arg(long, env = "IMGATE_KEY_FILE", default_value = "./imgate.key")]
    pub key_file: PathBuf,

    /// Public base URL platforms reach this gateway at; callback URLs are built from it.
    /// Defaults to `http://<listen>`.
    #[arg(long, env = "IMGATE_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// Bootstrap admin key. When unset, one is generated on first start and printed once.
    #[arg(long, env = "IMGATE_BOOTSTRAP_KEY", hide_env_values = true)]
    pub bootstrap_key: Option<String>,

    /// Base URL of the WeCom API (for private deployments and tests).
    #[arg(long, env = "IMGATE_WECOM_API_BASE", default_value = "https://qyapi.weixin.qq.com")]
    pub wecom_api_base: String,

    /// How many times a queued message is tried before it moves to the dead-letter queue.
    #[arg(long, env = "IMGATE_MAX_RECEIVES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_receives: u32,

    /// Largest file a user sends that is fetched for the agent, in bytes (default 20 MiB);
    /// larger ones are described to the agent instead.
    #[arg(long, env = "IMGATE_MEDIA_MAX_BYTES", default_value_t = imgate_core::media::DEFAULT_MAX_BYTES, value_parser = clap::value_parser!(u64).range(1..=imgate_core::media::MAX_MAX_BYTES))]
    pub media_max_bytes: u64,

    /// Directory of the files kept for agents (owner-only; each removed when its link
    /// expires). Defaults to `media/` beside the database.
    #[arg(long, env = "IMGATE_MEDIA_DIR")]
    pub media_dir: Option<PathBuf>,

    /// HTTP connections served at once; past it a new connection is answered 503 `overloaded`
    /// and closed (slow and idle clients are also cut off after 10 s without a request head, and
    /// requests after 30 s). Lowered to half the open-file limit (`ulimit -n`) when above it.
    #[arg(long, env = "IMGATE_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536))]
    pub max_connections: usize,

    /// Milliseconds a client may take to send a request head, and a keep-alive connection may
    /// stay idle, before it is closed (default 10,000). For tests and operators; the default
    /// suits every platform.
    #[arg(long, env = "IMGATE_HEADER_READ_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub header_read_timeout_ms: Option<u64>,

    /// Milliseconds a request may take, body included, before it is answered 408 and its
    /// connection closed (default 30,000). For tests and operators.
    #[arg(long, env = "IMGATE_REQUEST_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub request_timeout_ms: Option<u64>,

    /// Long connections (the relay that `imgate serve` runs too).
    #[command(flatten)]
    pub connections: ConnectionArgs,
}

impl ServeArgs {
    /// The limits of the HTTP server: the defaults of [`imgate_http::serve::Limits`] with the
    /// connection cap and the timeouts given on the command line.
    pub fn http_limits(&self) -> imgate_http::serve::Limits {
        let defaults = imgate_http::serve::Limits::default();
        imgate_http::serve::Limits {
            max_connections: self.max_connections,
            header_read: self
                .header_read_timeout_ms
                .map_or(defaults.header_read, std::time::Duration::from_millis),
            request: self
                .request_timeout_ms
                .map_or(defaults.request, std::time::Duration::from_millis),
            ..defaults
        }
    }
}

/// `imgate relay` options. The backend comes from `IMGATE_TABLE`, `IMGATE_QUEUE_URL`,
/// `IMGATE_DLQ_URL`, `IMGATE_DELAY_QUEUE_URL`, `IMGATE_KMS_KEY_ID` and the standard AWS SDK
/// environment, as for the Lambda functions.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// Address of the health endpoint (`GET /healthz`).
    #[arg(long, env = "IMGATE_RELAY_LISTEN", default_value = "0.0.0.0:8081")]
    pub listen: SocketAddr,

    /// Where the dispatcher runs: `lambda` (the dispatcher function reads the queues) or
    /// `relay` (this process reads them with the same dispatcher code, so waiting on a
    /// streaming agent costs no Lambda time). Must match the serverless stack's
    /// `DispatcherPlacement`, which turns the function's queue triggers off for `relay`.
    #[arg(long, env = "IMGATE_DISPATCHER_PLACEMENT", value_enum, default_value_t = DispatcherPlacement::Lambda)]
    pub dispatcher: DispatcherPlacement,

    /// Long connections.
    #[command(flatten)]
    pub connections: ConnectionArgs,
}

/// Where the dispatcher of an AWS deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DispatcherPlacement {
    /// The dispatcher function, on the queues' event source mappings.
    Lambda,
    /// The relay process, polling the queues itself.
    Relay,
}

/// Settings of the relay's connections, shared by `imgate relay` and `imgate serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// This relay's name as the owner of connection leases; unique per running process.
    /// Defaults to the ECS task id (from `ECS_CONTAINER_METADATA_URI_V4`), else `<hostname>-<pid>`.
    #[arg(long, env = "IMGATE_RELAY_OWNER")]
    pub relay_owner: Option<String>,

    /// WeCom long-connection endpoint (private deployments and tests).
    #[arg(long, env = "IMGATE_WECOM_WS_URL", default_value = imgate_channels::wecom::long::DEFAULT_URL)]
    pub wecom_ws_url: String,

    /// DingTalk OpenAPI base: Stream registration, access tokens, robot messages, AI cards
    /// (tests and proxies).
    #[arg(long, env = "IMGATE_DINGTALK_API_BASE", default_value = imgate_channels::dingtalk::api::DEFAULT_BASE_URL)]
    pub dingtalk_api_base: String,

    /// One base URL for both the Feishu and the Lark Open Platform: tokens, messages, cards and
    /// the long-connection endpoint (tests and proxies). By default each app uses its domain's
    /// (`https://open.feishu.cn` or `https://open.larksuite.com`).
    #[arg(long, env = "IMGATE_LARK_API_BASE")]
    pub lark_api_base: Option<String>,

    /// Base URL of the Telegram Bot API (a self-hosted Bot API server, or tests).
    #[arg(long, env = "IMGATE_TELEGRAM_API_BASE", default_value = "https://api.telegram.org")]
    pub telegram_api_base: String,

    /// Base URL of Discord's REST API (tests).
    #[arg(long, env = "IMGATE_DISCORD_API_BASE", default_value = "https://discord.com/api/v10")]
    pub discord_api_base: String,

    /// Base URL of Weibo's token endpoint (`/open/auth/ws_token`; private deployments and tests).
    #[arg(long, env = "IMGATE_WEIBO_API_BASE", default_value = imgate_channels::weibo::api::DEFAULT_API_BASE)]
    pub weibo_api_base: String,

    /// Base URL of Weibo's stream (`/ws/stream`): `wss://` by default; `ws://` only where TLS is
    /// not served (the token travels in the URL).
    #[arg(long, env = "IMGATE_WEIBO_WS_BASE", default_value = imgate_channels::weibo::api::DEFAULT_WS_BASE)]
    pub weibo_ws_base: String,

    /// Base URL of WeChat's iLink API: the QR login, and the bot API of logins that name no
    /// other (tests).
    #[arg(long, env = "IMGATE_WECHAT_API_BASE", default_value = imgate_channels::wechat::api::DEFAULT_BASE_URL)]
    pub wechat_api_base: String,
}

/// `imgate health` options.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// The health endpoint to ask.
    #[arg(long, default_value = "http://127.0.0.1:8081/healthz")]
    pub url: String,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn serve_args(flags: &[&str]) -> ServeArgs {
        let mut argv = vec!["imgate", "serve"];
        argv.extend_from_slice(flags);
        match Cli::try_parse_from(argv).map(|cli| cli.command) {
            Ok(Command::Serve(args)) => args,
            other => panic!("not serve arguments: {other:?}"),
        }
    }

    #[test]
    fn the_http_limits_come_from_the_flags_and_default_otherwise() {
        let limits = serve_args(&[
            "--max-connections",
            "8",
            "--header-read-timeout-ms",
            "500",
            "--request-timeout-ms",
            "1500",
        ])
        .http_limits();
        let defaults = imgate_http::serve::Limits::default();
        assert_eq!(
            limits,
            imgate_http::serve::Limits {
                max_connections: 8,
                header_read: Duration::from_millis(500),
                request: Duration::from_millis(1500),
                ..defaults
            }
        );
        // Without flags (or their IMGATE_* variables): the library's defaults.
        assert_eq!(serve_args(&[]).http_limits(), defaults);
        assert!(
            Cli::try_parse_from(["imgate", "serve", "--max-connections", "0"]).is_err(),
            "a cap of 0 would refuse everything"
        );
        assert!(Cli::try_parse_from(["imgate", "serve", "--header-read-timeout-ms", "5"]).is_err());
    }

    #[test]
    fn the_media_cap_defaults_to_20_mib_and_is_bounded() {
        assert_eq!(serve_args(&[]).media_max_bytes, 20 * 1024 * 1024);
        assert_eq!(serve_args(&["--media-max-bytes", "1024"]).media_max_bytes, 1024);
        assert!(Cli::try_parse_from(["imgate", "serve", "--media-max-bytes", "0"]).is_err());
        assert!(Cli::try_parse_from(["imgate", "serve", "--media-max-bytes", "20MB"]).is_err());
    }
}
