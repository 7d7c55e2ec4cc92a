//! WeChat (iLink) as a user meets it: private messages polled by the relay's `getupdates`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use imgate_core::Platform;
use imgate_core::ports::Deps;
use imgate_core::relay::Connector;
use serde_json::{Value, json};

use super::Support;
use super::chat::{Chat, ChatHarness, ChatScenario, Picture};
use crate::fake_media::{File, OVERSIZED, PNG};
use crate::fake_wechat::{BOT_ID, FakeWechat};
use imgate_channels::wechat::media::seal;

const TOKEN: &str = "conformance-wechat-bot-token";
const USER: &str = "o9cq80conformance@im.wechat";
/// The AES key of the pictures users send, as `image_item.aeskey` writes it.
const HEX_KEY: &str = "00112233445566778899aabbccddeeff";
const KEY: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

/// The next picture message's id (far from the fake's own).
static NEXT_PICTURE: AtomicU64 = AtomicU64::new(900_000);

/// The harness.
pub struct WechatChat {
    fake: FakeWechat,
}

impl WechatChat {
    /// A harness with its fake iLink API, the bot token set by hand.
    pub async fn start() -> Self {
        Self {
            fake: FakeWechat::start(Some(TOKEN)).await,
        }
    }
}

#[async_trait]
impl ChatHarness for WechatChat {
    fn name(&self) -> &'static str {
        "wechat/long_connection"
    }

    fn platform(&self) -> Platform {
        Platform::Wechat
    }

    fn integration(&self) -> Value {
        json!({"name": "wx", "platform": "wechat", "mode": "long_connection",
            "credentials": {"bot_token": TOKEN, "base_url": self.fake.base}})
    }

    fn endpoints(&self, endpoints: &mut imgate_channels::Endpoints) {
        endpoints.wechat = imgate_channels::wechat::Endpoints::at(&self.fake.base);
    }

    fn connector(&self, deps: &Deps) -> Option<Arc<dyn Connector>> {
        Some(Arc::new(imgate_channels::wechat::long::Connector::new(
            imgate_channels::wechat::api::Client::new(reqwest::Client::new()),
            deps.store.clone(),
            self.fake.base.clone(),
        )))
    }

    /// Every chat is private (groups and other bots are declared unsupported).
    async fn say(&self, _gateway_base: &str, _integration: &str, _chat: Chat, text: &str, _from_bot: bool) -> String {
        self.fake.push_text(USER, text).to_string()
    }

    async fn answer(&self, said: &str) -> Option<String> {
        let answer = self.fake.answer_to(said.parse().ok()?);
        (!answer.is_empty()).then(|| answer.concat())
    }

    /// The image items sent with the message's context token, by CDN handle.
    async fn images(&self, said: &str) -> Vec<String> {
        said.parse()
            .map(|id| self.fake.images_answering(id).into_iter().map(|i| i.handle).collect())
            .unwrap_or_default()
    }

    /// iLink delivers at least once: the same message (same `message_id`) is served again.
    async fn again(&self, _gateway_base: &str, _integration: &str, said: &str) -> String {
        if let Some(message) = said.parse().ok().and_then(|id| self.fake.message(id)) {
            self.fake.push_raw(message);
        }
        said.to_owned()
    }

    /// The cursor the poller sends has moved past every copy of the message.
    async fn taken(&self, said: &str) -> bool {
        said.parse().is_ok_and(|id| self.fake.is_confirmed(id))
    }

    /// `getupdates` calls in progress.
    fn connections(&self) -> (usize, usize) {
        self.fake.polling()
    }

    fn supports(&self, scenario: ChatScenario) -> Support {
        match scenario {
            ChatScenario::GroupWithoutMention => Support::No(
                "iLink bots have private chats only: no group endpoint exists and group requests were closed \
                 unsupported (notes §9)",
            ),
            ChatScenario::FromAnotherBot => Support::No(
                "no other bot can message an iLink bot: its only peers are WeChat users, and the bot's own \
                 echoes (message_type 2) are skipped",
            ),
            _ => Support::Yes,
        }
    }
    /// An image item on the fake CDN, AES-128-ECB encrypted under its own `aeskey`; the
    /// oversized picture is a file item whose `len` states its size.
    async fn say_image(&self, _gateway_base: &str, _integration: &str, picture: Picture) -> String {
        let id = NEXT_PICTURE.fetch_add(1, Ordering::SeqCst);
        let handle = format!("handle+/={id}");
        let item = match picture {
            Picture::Small => {
                let sealed = seal(&KEY, PNG);
                let size = sealed.len();
                self.fake.media.add(&handle, File::new(&[], None).serving(sealed));
                json!({"type": 2, "msg_id": format!("v1:{id}"), "image_item": {"aeskey": HEX_KEY,
                    "media": {"encrypt_query_param": handle, "encrypt_type": 1}, "mid_size": size}})
            }
            Picture::Oversized => {
                self.fake.media.add(&handle, File::oversized());
                json!({"type": 4, "msg_id": format!("v1:{id}"), "file_item": {"file_name": "huge.png",
                    "len": OVERSIZED.to_string(), "media": {"encrypt_query_param": handle, "encrypt_type": 1}}})
            }
        };
        self.fake.push_raw(
            json!({"seq": id, "message_id": id, "from_user_id": USER, "to_user_id": BOT_ID,
            "create_time_ms": 1_789_481_963_761_u64, "message_type": 1, "message_state": 2,
            "context_token": format!("ctx-{id}"), "item_list": [item]}),
        );
        id.to_string()
    }

    /// Downloads from the fake CDN.
    fn downloads(&self) -> usize {
        self.fake.media.all_downloads()
    }
}
