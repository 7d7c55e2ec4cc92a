//! The conversation half of the conformance suite: every mode's harness, every scenario, on
//! the embedded store and on DynamoDB/SQS (moto). A test's name says scenario, mode and
//! backend; a scenario a mode cannot do prints the reason its harness declares.

#![allow(clippy::unwrap_used)]

use imgate_core::ports::Deps;
use imgate_tests::conformance::chat;
use imgate_tests::conformance::chat_dingtalk::{self, DingtalkChat};
use imgate_tests::conformance::chat_discord::{self, DiscordChat};
use imgate_tests::conformance::chat_lark::{self, LarkChat};
use imgate_tests::conformance::chat_telegram::{self, TelegramChat};
use imgate_tests::conformance::chat_wechat::WechatChat;
use imgate_tests::conformance::chat_wecom::{self, WecomChat};
use imgate_tests::conformance::chat_weibo::WeiboChat;

async fn embedded() -> Deps {
    imgate_tests::world::embedded_deps(2).await
}

async fn moto() -> Deps {
    imgate_tests::aws::fresh_deps(2).await.unwrap()
}

macro_rules! modes {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            modes!(@mode $scenario, wecom_webhook, WecomChat::start(chat_wecom::Receive::Webhook));
            modes!(@mode $scenario, wecom_long_connection, WecomChat::start(chat_wecom::Receive::LongConnection));
            modes!(@mode $scenario, dingtalk_stream, DingtalkChat::start(chat_dingtalk::Receive::Stream));
            modes!(@mode $scenario, dingtalk_http, DingtalkChat::start(chat_dingtalk::Receive::Http));
            modes!(@mode $scenario, lark_webhook, LarkChat::start(chat_lark::Receive::Webhook));
            modes!(@mode $scenario, lark_long_connection, LarkChat::start(chat_lark::Receive::LongConnection));
            modes!(@mode $scenario, telegram_webhook, TelegramChat::start(chat_telegram::Receive::Webhook));
            modes!(@mode $scenario, telegram_polling, TelegramChat::start(chat_telegram::Receive::Polling));
            modes!(@mode $scenario, discord_gateway, DiscordChat::start(chat_discord::Receive::Gateway));
            modes!(@mode $scenario, discord_interactions, DiscordChat::start(chat_discord::Receive::Interactions));
            modes!(@mode $scenario, weibo_long_connection, WeiboChat::start());
            modes!(@mode $scenario, wechat_long_connection, WechatChat::start());
        }
    };
    (@mode $scenario:ident, $mode:ident, $harness:expr) => {
        mod $mode {
            use super::*;

            #[tokio::test]
            async fn embedded() {
                chat::$scenario(super::super::embedded().await, &$harness.await).await;
            }

            #[tokio::test]
            async fn moto() {
                chat::$scenario(super::super::moto().await, &$harness.await).await;
            }
        }
    };
}

modes!(text_is_answered);
modes!(agent_failure_is_honest);
modes!(groups_answer_only_mentions);
modes!(commands_are_answered);
modes!(other_bots_are_ignored);
modes!(long_answers_arrive_whole);
modes!(delivered_three_times_answered_once);
modes!(taken_only_after_the_enqueue);
modes!(two_relays_hold_one_connection);
modes!(cancel_stops_the_answer);
modes!(interrupt_answers_both_together);
modes!(collect_answers_what_arrived_meanwhile);
modes!(switch_moves_the_conversation);
modes!(strangers_are_told_once);
modes!(images_arrive_as_images);
modes!(sent_images_reach_the_agent);
modes!(oversized_images_are_described_not_fetched);
