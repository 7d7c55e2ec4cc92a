//! The conformance suite over every webhook mode, on the embedded store and on DynamoDB/SQS
//! (moto): see `imgate_tests::conformance` for the scenarios and the harnesses.

#![allow(clippy::unwrap_used)]

use imgate_core::ports::Deps;
use imgate_tests::conformance::{self, DingtalkHttp, DiscordInteractions, LarkWebhook, TelegramWebhook, WecomWebhook};

async fn embedded() -> Deps {
    imgate_tests::world::embedded_deps(3).await
}

async fn moto() -> Deps {
    imgate_tests::aws::fresh_deps(3).await.unwrap()
}

/// One test per scenario, mode and backend, named after all three.
macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::*;

                #[tokio::test]
                async fn wecom_webhook_embedded() {
                    conformance::$scenario(embedded().await, &WecomWebhook::default()).await;
                }
                #[tokio::test]
                async fn wecom_webhook_moto() {
                    conformance::$scenario(moto().await, &WecomWebhook::default()).await;
                }
                #[tokio::test]
                async fn dingtalk_http_embedded() {
                    conformance::$scenario(embedded().await, &DingtalkHttp).await;
                }
                #[tokio::test]
                async fn dingtalk_http_moto() {
                    conformance::$scenario(moto().await, &DingtalkHttp).await;
                }
                #[tokio::test]
                async fn lark_webhook_embedded() {
                    conformance::$scenario(embedded().await, &LarkWebhook).await;
                }
                #[tokio::test]
                async fn lark_webhook_moto() {
                    conformance::$scenario(moto().await, &LarkWebhook).await;
                }
                #[tokio::test]
                async fn telegram_webhook_embedded() {
                    conformance::$scenario(embedded().await, &TelegramWebhook).await;
                }
                #[tokio::test]
                async fn telegram_webhook_moto() {
                    conformance::$scenario(moto().await, &TelegramWebhook).await;
                }
                #[tokio::test]
                async fn discord_interactions_embedded() {
                    conformance::$scenario(embedded().await, &DiscordInteractions).await;
                }
                #[tokio::test]
                async fn discord_interactions_moto() {
                    conformance::$scenario(moto().await, &DiscordInteractions).await;
                }
            }
        )*
    };
}

conformance!(
    url_verification,
    delivered_three_times_queued_once,
    bad_requests_are_refused_and_queue_nothing,
    queue_outage_is_a_5xx_and_the_retry_is_queued,
);
