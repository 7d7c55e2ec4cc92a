//! Discord as a user meets it: messages on the gateway, or slash commands at the interactions
//! endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use imgate_channels::discord::api::RestApi;
use imgate_core::Platform;
use imgate_core::ports::Deps;
use imgate_core::relay::Connector;
use serde_json::{Value, json};

use super::Support;
use super::chat::{Chat, ChatHarness, ChatScenario, Picture};
use crate::fake_discord::{APP_PUBLIC_KEY, BOT_ID, FakeDiscord, sign_interaction};
use crate::fake_media::{Cdn, File, OVERSIZED, PNG};

const TOKEN: &str = "conformance-discord-token";

/// How messages reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// `MESSAGE_CREATE` on the gateway, in the relay.
    Gateway,
    /// Slash commands at `/api/discord/interactions/{id}`.
    Interactions,
}

/// The harness.
pub struct DiscordChat {
    fake: FakeDiscord,
    receive: Receive,
    http: reqwest::Client,
    next: AtomicU64,
    /// Discord's CDN, serving the attachments users send.
    cdn: Cdn,
}

impl DiscordChat {
    /// A harness with its fake Discord.
    pub async fn start(receive: Receive) -> Self {
        Self {
            fake: FakeDiscord::start(TOKEN).await,
            receive,
            http: reqwest::Client::new(),
            next: AtomicU64::new(1),
            cdn: Cdn::start().await,
        }
    }

    /// Waits for the gateway session, so a message is not replayed as history of a new one.
    async fn session(&self) {
        for _ in 0..200 {
            if self.fake.sessions().0 > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Posts a signed `/ask` (or `/<command>`) interaction; returns its token.
    async fn interact(&self, gateway_base: &str, integration: &str, text: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let token = format!("interaction-token-{n}");
        let data = match text.strip_prefix('/') {
            Some(command) => json!({"name": command}),
            None => json!({"name": "ask", "options": [{"name": "text", "type": 3, "value": text}]}),
        };
        let body = json!({"application_id": "app-1", "id": format!("9{n:06}"), "token": token, "type": 2, "version": 1,
            "channel_id": "dm-i", "user": {"id": "700", "username": "alice"}, "data": data})
        .to_string();
        let timestamp = imgate_core::Timestamp::now().as_secs().to_string();
        let signature = sign_interaction(&timestamp, body.as_bytes());
        let response = self
            .http
            .post(format!("{gateway_base}/api/discord/interactions/{integration}"))
            .header("content-type", "application/json")
            .header("X-Signature-Ed25519", signature)
            .header("X-Signature-Timestamp", timestamp)
            .body(body)
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(response.text().await.unwrap_or_default(), r#"{"type":5}"#, "deferred");
        token
    }
}

#[async_trait]
impl ChatHarness for DiscordChat {
    fn name(&self) -> &'static str {
        match self.receive {
            Receive::Gateway => "discord/gateway",
            Receive::Interactions => "discord/interactions",
        }
    }

    fn platform(&self) -> Platform {
        Platform::Discord
    }

    fn integration(&self) -> Value {
        let mode = match self.receive {
            Receive::Gateway => "long_connection",
            Receive::Interactions => "webhook",
        };
        json!({"name": "dc", "platform": "discord", "mode": mode,
            "credentials": {"application_id": "app-1", "public_key": APP_PUBLIC_KEY, "bot_token": TOKEN}})
    }

    fn endpoints(&self, endpoints: &mut imgate_channels::Endpoints) {
        endpoints.discord.api = self.fake.base.clone();
    }

    fn connector(&self, deps: &Deps) -> Option<Arc<dyn Connector>> {
        (self.receive == Receive::Gateway).then(|| {
            let api = RestApi::new(reqwest::Client::new(), self.fake.base.clone());
            Arc::new(imgate_channels::discord::long::Connector::new(api, deps.store.clone())) as Arc<dyn Connector>
        })
    }

    async fn say(&self, gateway_base: &str, integration: &str, chat: Chat, text: &str, from_bot: bool) -> String {
        if self.receive == Receive::Interactions {
            return self.interact(gateway_base, integration, text).await;
        }
        let (channel, guild, content, mention) = match chat {
            Chat::Direct => ("dm-c", None, text.to_owned(), false),
            Chat::Group { mention: true } => ("guild-c", Some("g-c"), format!("<@{BOT_ID}> {text}"), true),
            Chat::Group { mention: false } => ("guild-c", Some("g-c"), text.to_owned(), false),
        };
        self.session().await;
        let id = if from_bot {
            self.fake.bot_message(channel, guild, &content, mention)
        } else {
            self.fake.user_message(channel, guild, &content, mention)
        };
        format!("{channel} {id}")
    }

    async fn answer(&self, said: &str) -> Option<String> {
        let answer = match said.split_once(' ') {
            Some((channel, id)) => self.fake.answer_to(channel, id),
            None => self.fake.interaction_answer(said),
        };
        let text: String = answer.iter().map(|m| m.content.as_str()).collect();
        (!answer.is_empty() && !text.is_empty()).then_some(text)
    }

    /// The image embeds of the answer's messages, by URL.
    async fn images(&self, said: &str) -> Vec<String> {
        let answer = match said.split_once(' ') {
            Some((channel, id)) => self.fake.answer_to(channel, id),
            None => self.fake.interaction_answer(said),
        };
        self.fake
            .embedded_images()
            .into_iter()
            .filter(|e| answer.iter().any(|m| m.channel == e.channel && m.id == e.message_id))
            .map(|e| e.url)
            .collect()
    }

    /// The gateway dispatches the message again (a replay after a resume can).
    async fn again(&self, _gateway_base: &str, _integration: &str, said: &str) -> String {
        if let Some((_, id)) = said.split_once(' ') {
            assert!(self.fake.dispatch_again(id), "{}: a kept message", self.name());
        }
        said.to_owned()
    }

    /// The gateway has no acknowledgements: a message is taken once the client reports a
    /// sequence number past it (heartbeat or resume), so no resume replays it.
    async fn taken(&self, said: &str) -> bool {
        said.split_once(' ').is_some_and(|(_, id)| self.fake.confirmed(id))
    }

    fn connections(&self) -> (usize, usize) {
        self.fake.live()
    }

    fn supports(&self, scenario: ChatScenario) -> Support {
        match (self.receive, scenario) {
            (Receive::Interactions, ChatScenario::GroupWithoutMention) => {
                Support::No("a slash command always addresses the bot")
            }
            (Receive::Interactions, ChatScenario::FromAnotherBot) => Support::No("bots cannot use slash commands"),
            (Receive::Interactions, ChatScenario::Redelivery) => {
                Support::No("Discord sends an interaction once and never retries it")
            }
            (Receive::Interactions, ChatScenario::ImageIn | ChatScenario::OversizedImageIn) => Support::No(
                "imgate's slash command takes text only; pictures arrive as message attachments on the gateway",
            ),
            (Receive::Interactions, ChatScenario::QueueOutage | ChatScenario::TwoRelays) => Support::No(
                "the interactions endpoint holds no connection: Discord shows its own failure when the answer is not 2xx",
            ),
            _ => Support::Yes,
        }
    }
    /// A direct message with the picture attached: its URL on the fake CDN, its size stated.
    async fn say_image(&self, _gateway_base: &str, _integration: &str, picture: Picture) -> String {
        let key = format!("attachment-{}", self.next.fetch_add(1, Ordering::SeqCst));
        let (file, size) = match picture {
            Picture::Small => (File::png(), PNG.len() as u64),
            Picture::Oversized => (File::oversized(), OVERSIZED),
        };
        let url = self.cdn.add(&key, file);
        self.session().await;
        let id = self.fake.user_attachment("dm-c", "", &url, "image/png", size);
        format!("dm-c {id}")
    }

    /// Downloads from the fake CDN.
    fn downloads(&self) -> usize {
        self.cdn.library.all_downloads()
    }
}
