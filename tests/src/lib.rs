//! Shared helpers for the end-to-end tests.

pub mod aws;
pub mod browser;
pub mod conformance;
pub mod counting_proxy;
pub mod crash;
pub mod event_source;
pub mod fake_agent;
pub mod fake_dingtalk;
pub mod fake_discord;
pub mod fake_lark;
pub mod fake_media;
pub mod fake_telegram;
pub mod fake_wechat;
pub mod fake_wecom_app;
pub mod fake_wecom_long;
pub mod fake_weibo;
pub mod flaky_queue;
pub mod gateway;
pub mod image_host;
pub mod in_progress;
pub mod moto;
pub mod world;

/// Runs each named scenario `async fn scenario(deps: Deps)` of an end-to-end test file as two
/// tests, `scenario::embedded` and `scenario::moto`, on the file's own `embedded()` and `moto()`
/// backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn embedded() {
                    super::$scenario(super::embedded().await).await;
                }
                #[tokio::test]
                async fn moto() {
                    super::$scenario(super::moto().await).await;
                }
            }
        )*
    };
}
