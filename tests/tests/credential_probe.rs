//! The credential test ("test credentials") of every platform, through the registry's
//! `Channels::probe`, against each platform's fake: working credentials name the bot where the
//! platform tells it, refused ones are `rejected` with words for the operator (never the
//! secret), and the modes that cannot be tested without disturbing the live connection answer
//! `unsupported` without a single request reaching the fake.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use imgate_channels::{Channels, Endpoints};
use imgate_core::credentials::Credentials;
use imgate_core::integration::IntegrationRecord;
use imgate_core::keyring::SealedSecret;
use imgate_core::ports::{CredentialProbe, ProbeFailure, ProbeFailureKind, ProbeReport};
use imgate_core::{ConnectionMode, IntegrationId, OrgId, Platform, Timestamp};
use imgate_tests::counting_proxy::CountingProxy;
use imgate_tests::fake_dingtalk::FakeDingtalk;
use imgate_tests::fake_discord::{APP_PUBLIC_KEY, BOT_USERNAME as DISCORD_BOT, FakeDiscord};
use imgate_tests::fake_lark::{APP_NAME, FakeLark};
use imgate_tests::fake_telegram::{BOT_USERNAME as TELEGRAM_BOT, FakeTelegram};
use imgate_tests::fake_wechat::FakeWechat;
use imgate_tests::fake_wecom_app::FakeWecomApp;
use imgate_tests::fake_wecom_long::FakeWecom;
use imgate_tests::fake_weibo::FakeWeibo;
use serde_json::{Value, json};

use ConnectionMode::{LongConnection, Webhook};
use ProbeFailureKind::{Rejected, Unsupported};

const WRONG: &str = "not-the-right-secret-0000";

/// The registry's credential test for one platform, on a fresh embedded store (an empty token
/// cache), with the platforms' APIs at `endpoints`.
struct Bench {
    probe: Arc<dyn CredentialProbe>,
    platform: Platform,
}

impl Bench {
    async fn new(platform: Platform, endpoints: &Endpoints) -> Self {
        let deps = imgate_tests::world::embedded_deps(2).await;
        let probe = Channels::new(&deps, &reqwest::Client::new(), endpoints).probe();
        Self { probe, platform }
    }

    /// Tests `credentials` of an integration in `mode`.
    async fn ask(&self, mode: ConnectionMode, credentials: &Value) -> Result<ProbeReport, ProbeFailure> {
        let credentials = Credentials::parse(self.platform, mode, credentials).unwrap();
        self.probe.probe(&record(self.platform, mode), &credentials).await
    }
}

/// An integration on `platform` in `mode` (its sealed credentials are not read by a probe).
fn record(platform: Platform, mode: ConnectionMode) -> IntegrationRecord {
    IntegrationRecord {
        id: IntegrationId::generate(),
        org_id: OrgId::generate(),
        name: "bot".into(),
        platform,
        mode,
        enabled: true,
        account: None,
        credentials: SealedSecret::from_stored("sealed"),
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
        version: 1,
    }
}

/// Checks that `result` failed as `kind`, with a message that names each of `phrases` (the
/// field and where to find it) and never shows `secret`.
fn expect_failure(result: Result<ProbeReport, ProbeFailure>, kind: ProbeFailureKind, secret: &str, phrases: &[&str]) {
    let failure = result.unwrap_err();
    let message = failure.message;
    assert_eq!(failure.kind, kind, "{message}");
    assert!(!message.contains(secret), "the message shows a secret: {message}");
    for phrase in phrases {
        assert!(message.contains(phrase), "{message} does not say {phrase:?}");
    }
}

mod telegram {
    use super::*;

    const TOKEN: &str = "123456:TEST-bot-token";

    async fn setup() -> (FakeTelegram, Bench) {
        let fake = FakeTelegram::start(TOKEN).await;
        let mut endpoints = Endpoints::default();
        endpoints.telegram.api = fake.base.clone();
        (fake, Bench::new(Platform::Telegram, &endpoints).await)
    }

    #[tokio::test]
    async fn get_me_names_the_bot() {
        let (fake, bench) = setup().await;
        let report = bench.ask(LongConnection, &json!({"bot_token": TOKEN})).await.unwrap();
        assert_eq!(report.account, Some(format!("@{TELEGRAM_BOT}")));
        assert_eq!(fake.calls_of("getMe").len(), 1);
    }

    #[tokio::test]
    async fn a_wrong_token_is_rejected() {
        let (_fake, bench) = setup().await;
        let credentials = json!({"bot_token": format!("123456:{WRONG}"), "secret_token": "webhook-secret_1"});
        let result = bench.ask(Webhook, &credentials).await;
        expect_failure(result, Rejected, WRONG, &["bot token (401", "@BotFather"]);
    }
}

mod discord {
    use super::*;

    const TOKEN: &str = "discord-bot-token";

    async fn setup() -> Bench {
        let fake = FakeDiscord::start(TOKEN).await;
        let mut endpoints = Endpoints::default();
        endpoints.discord.api = fake.base.clone();
        Bench::new(Platform::Discord, &endpoints).await
    }

    fn credentials(token: &str) -> Value {
        json!({"application_id": "1100000000000000001", "public_key": APP_PUBLIC_KEY, "bot_token": token})
    }

    #[tokio::test]
    async fn users_me_names_the_bot_in_both_modes() {
        let bench = setup().await;
        for mode in [Webhook, LongConnection] {
            let report = bench.ask(mode, &credentials(TOKEN)).await.unwrap();
            assert_eq!(report.account.as_deref(), Some(DISCORD_BOT));
        }
    }

    #[tokio::test]
    async fn a_wrong_token_is_rejected() {
        let bench = setup().await;
        let result = bench.ask(LongConnection, &credentials(WRONG)).await;
        expect_failure(result, Rejected, WRONG, &["bot token (401", "Bot → Token"]);
    }
}

mod lark {
    use super::*;

    const APP_ID: &str = "cli_probe";
    const SECRET: &str = "lark-app-secret";
    const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";

    async fn setup() -> (FakeLark, Bench) {
        let fake = FakeLark::start(APP_ID, SECRET).await;
        let endpoints = Endpoints {
            lark: imgate_channels::lark::Endpoints::single(&fake.base),
            ..Endpoints::default()
        };
        (fake, Bench::new(Platform::Lark, &endpoints).await)
    }

    fn paths(fake: &FakeLark) -> Vec<String> {
        fake.calls().into_iter().map(|call| call.path).collect()
    }

    #[tokio::test]
    async fn a_token_then_the_bot_info_names_the_app() {
        let (fake, bench) = setup().await;
        let credentials = json!({"app_id": APP_ID, "app_secret": SECRET});
        let report = bench.ask(LongConnection, &credentials).await.unwrap();
        assert_eq!(report.account.as_deref(), Some(APP_NAME));
        assert_eq!(paths(&fake), [TOKEN_PATH, "/open-apis/bot/v3/info"]);
    }

    #[tokio::test]
    async fn a_wrong_secret_is_rejected_with_lark_s_code() {
        let (fake, bench) = setup().await;
        let credentials = json!({"app_id": APP_ID, "app_secret": WRONG, "verification_token": "vt"});
        let result = bench.ask(Webhook, &credentials).await;
        let phrases = ["App Secret (code 10014)", "Credentials & Basic Info"];
        expect_failure(result, Rejected, WRONG, &phrases);
        assert_eq!(paths(&fake), [TOKEN_PATH]);
    }
}

mod dingtalk {
    use super::*;

    const CLIENT_ID: &str = "ding-probe";
    const SECRET: &str = "ding-secret";

    async fn setup() -> Bench {
        let fake = FakeDingtalk::start(CLIENT_ID, SECRET).await;
        let endpoints = Endpoints {
            dingtalk: fake.endpoints(),
            ..Endpoints::default()
        };
        Bench::new(Platform::Dingtalk, &endpoints).await
    }

    fn credentials(secret: &str) -> Value {
        json!({"client_id": CLIENT_ID, "client_secret": secret, "robot_code": CLIENT_ID})
    }

    #[tokio::test]
    async fn an_access_token_passes_without_a_name() {
        let bench = setup().await;
        let report = bench.ask(LongConnection, &credentials(SECRET)).await.unwrap();
        assert_eq!(report.account, None);
    }

    #[tokio::test]
    async fn a_wrong_secret_is_rejected() {
        let bench = setup().await;
        let result = bench.ask(Webhook, &credentials(WRONG)).await;
        expect_failure(result, Rejected, WRONG, &["invalidClientIdOrSecret", "Client Secret"]);
    }
}

mod wecom {
    use super::*;

    const CORP_ID: &str = "ww1234567890abcdef";
    const SECRET: &str = "wecom-app-secret";
    const TOKEN: &str = "t0k3nForGatewayTests";
    const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    /// The app API behind a counting proxy, and the bench calling the proxy.
    async fn setup() -> (FakeWecomApp, CountingProxy, Endpoints) {
        let fake = FakeWecomApp::start(CORP_ID, SECRET).await;
        let proxy = CountingProxy::start(&fake.base).await;
        let mut endpoints = Endpoints::default();
        endpoints.wecom.api = proxy.endpoint.clone();
        (fake, proxy, endpoints)
    }

    fn app(corp_id: &str, secret: &str) -> Value {
        json!({"token": TOKEN, "encoding_aes_key": AES_KEY, "corp_id": corp_id, "corp_secret": secret})
    }

    #[tokio::test]
    async fn a_self_built_app_gets_a_token() {
        let (fake, _proxy, endpoints) = setup().await;
        let bench = Bench::new(Platform::Wecom, &endpoints).await;
        let report = bench.ask(Webhook, &app(CORP_ID, SECRET)).await.unwrap();
        assert_eq!(report.account, None);
        assert_eq!(fake.token_requests(), 1);
    }

    #[tokio::test]
    async fn a_wrong_secret_or_corp_id_is_rejected_by_name() {
        let (_fake, _proxy, endpoints) = setup().await;
        let bench = Bench::new(Platform::Wecom, &endpoints).await;
        let result = bench.ask(Webhook, &app(CORP_ID, WRONG)).await;
        expect_failure(result, Rejected, WRONG, &["app Secret (code 40001)", "App Management"]);
        let result = bench.ask(Webhook, &app("ww-someone-else", SECRET)).await;
        expect_failure(result, Rejected, SECRET, &["corp ID (code 40013)", "My Company"]);
    }

    #[tokio::test]
    async fn a_smart_bot_in_callback_mode_is_not_tested_and_nothing_is_asked() {
        let (fake, proxy, endpoints) = setup().await;
        let bench = Bench::new(Platform::Wecom, &endpoints).await;
        let result = bench
            .ask(Webhook, &json!({"token": TOKEN, "encoding_aes_key": AES_KEY}))
            .await;
        expect_failure(result, Unsupported, TOKEN, &["checks the callback URL"]);
        assert!(proxy.counts().is_empty(), "{:?}", proxy.counts());
        assert_eq!(fake.token_requests(), 0);
    }

    #[tokio::test]
    async fn a_smart_bot_on_the_long_connection_is_not_tested_and_nothing_is_opened() {
        let (_fake, proxy, mut endpoints) = setup().await;
        let long = FakeWecom::start().await;
        long.add_bot("bot-1", SECRET);
        endpoints.wecom.long_connection = long.url.clone();
        let bench = Bench::new(Platform::Wecom, &endpoints).await;
        let result = bench
            .ask(LongConnection, &json!({"bot_id": "bot-1", "secret": SECRET}))
            .await;
        expect_failure(result, Unsupported, SECRET, &["connection status"]);
        assert_eq!(long.open_connections(), 0);
        assert_eq!(long.subscribes("bot-1"), 0);
        assert!(proxy.counts().is_empty(), "{:?}", proxy.counts());
    }
}

mod weibo {
    use super::*;

    const APP_ID: &str = "weibo-app";
    const SECRET: &str = "weibo-secret";

    async fn setup() -> (FakeWeibo, Bench) {
        let fake = FakeWeibo::start(APP_ID, SECRET).await;
        let mut endpoints = Endpoints::default();
        endpoints.weibo.api = fake.api_base.clone();
        endpoints.weibo.ws = fake.ws_base.clone();
        (fake, Bench::new(Platform::Weibo, &endpoints).await)
    }

    #[tokio::test]
    async fn a_stream_token_passes_without_opening_the_stream() {
        let (fake, bench) = setup().await;
        let credentials = json!({"app_id": APP_ID, "app_secret": SECRET});
        let report = bench.ask(LongConnection, &credentials).await.unwrap();
        assert_eq!(report.account, None);
        assert_eq!(fake.token_fetches(), 1);
        assert_eq!(fake.sockets().2, 0, "no stream was opened");
    }

    #[tokio::test]
    async fn a_wrong_secret_is_rejected() {
        let (_fake, bench) = setup().await;
        let result = bench
            .ask(LongConnection, &json!({"app_id": APP_ID, "app_secret": WRONG}))
            .await;
        expect_failure(result, Rejected, WRONG, &["code 4002", "@微博龙虾助手"]);
    }
}

mod wechat {
    use super::*;

    const TOKEN: &str = "wechat-bot-token";

    /// The fake behind a counting proxy, and the bench calling the proxy.
    async fn setup() -> (FakeWechat, CountingProxy, Bench) {
        let fake = FakeWechat::start(Some(TOKEN)).await;
        let proxy = CountingProxy::start(&fake.base).await;
        let endpoints = Endpoints {
            wechat: imgate_channels::wechat::Endpoints::at(&proxy.endpoint),
            ..Endpoints::default()
        };
        let bench = Bench::new(Platform::Wechat, &endpoints).await;
        (fake, proxy, bench)
    }

    #[tokio::test]
    async fn a_login_is_not_tested_and_nothing_is_asked() {
        let (fake, proxy, bench) = setup().await;
        let credentials = json!({"bot_token": TOKEN, "base_url": proxy.endpoint,
            "bot_id": "4a0a06b511ad@im.bot", "owner_user_id": "o9cq80@im.wechat"});
        let result = bench.ask(LongConnection, &credentials).await;
        expect_failure(result, Unsupported, TOKEN, &["log in again with the QR code"]);
        assert!(proxy.counts().is_empty(), "{:?}", proxy.counts());
        assert!(fake.calls_of("getupdates").is_empty());
    }

    #[tokio::test]
    async fn a_bot_without_a_login_is_told_to_scan() {
        let (_fake, proxy, bench) = setup().await;
        let result = bench.ask(LongConnection, &json!({})).await;
        expect_failure(result, Unsupported, TOKEN, &["no login yet", "QR code"]);
        assert!(proxy.counts().is_empty(), "{:?}", proxy.counts());
    }
}

/// A record and credentials of different platforms get an answer, not a call.
#[tokio::test]
async fn credentials_of_another_platform_are_not_sent() {
    let fake = FakeTelegram::start("123456:TEST-bot-token").await;
    let mut endpoints = Endpoints::default();
    endpoints.telegram.api = fake.base.clone();
    let bench = Bench::new(Platform::Telegram, &endpoints).await;
    let credentials = json!({"app_id": "cli_x", "app_secret": WRONG});
    let lark = Credentials::parse(Platform::Lark, LongConnection, &credentials).unwrap();
    let result = bench
        .probe
        .probe(&record(Platform::Telegram, LongConnection), &lark)
        .await;
    expect_failure(result, Unsupported, WRONG, &["not Telegram credentials"]);
    assert!(fake.calls().is_empty());
}

/// Through the admin API's operation: a passing test keeps the bot's name on the integration
/// without moving its version (a live connection is not restarted), and the overview shows it.
#[tokio::test]
async fn the_admin_test_keeps_the_bot_name_without_a_new_version() {
    use imgate_core::admin::{Admin, AdminSettings, CreateIntegration, Principal};

    let telegram = FakeTelegram::start("123456:real-token").await;
    let endpoints = Endpoints {
        telegram: imgate_channels::telegram::Endpoints {
            api: telegram.base.clone(),
        },
        ..Endpoints::default()
    };
    let deps = imgate_tests::world::embedded_deps(2).await;
    let probe = Channels::new(&deps, &reqwest::Client::new(), &endpoints).probe();
    let admin = Admin::new(
        deps.clone(),
        AdminSettings {
            public_base_url: "https://gw.example.com".into(),
            bootstrap_key_hash: None,
        },
    )
    .with_probe(probe);
    let org = imgate_core::org::Organization {
        id: OrgId::generate(),
        name: "Acme".into(),
        created_at: Timestamp::now(),
    };
    deps.store.create_org(&org).await.unwrap();
    let principal = Principal::Org {
        org_id: org.id.clone(),
        key_id: imgate_core::ApiKeyId::generate(),
    };
    let created = admin
        .create_integration(
            &principal,
            CreateIntegration {
                name: "tg".into(),
                platform: Platform::Telegram,
                mode: Some(LongConnection),
                credentials: json!({"bot_token": "123456:real-token"}),
                enabled: Some(true),
            },
        )
        .await
        .unwrap();
    let id: IntegrationId = created.id.parse().unwrap();
    let before = deps.store.get_integration(&id).await.unwrap().unwrap();

    let tested = admin.test_credentials(&principal, &created.id).await.unwrap();
    assert!(tested.ok, "{}", tested.message);
    assert_eq!(tested.account.as_deref(), Some(format!("@{TELEGRAM_BOT}").as_str()));
    let after = deps.store.get_integration(&id).await.unwrap().unwrap();
    assert_eq!(after.account, tested.account);
    assert_eq!((after.version, after.updated_at), (before.version, before.updated_at));
    let overview = admin.integration_overview(&principal).await.unwrap();
    assert_eq!(overview[0].account, tested.account);
}
