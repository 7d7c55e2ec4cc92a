//! The gateway (§3) in the relay: one session per bot, under the relay's lease.
//!
//! - `GET /gateway/bot` gives the URL; the socket opens with `?v=10&encoding=json` through the
//!   kit's dial. After Hello, heartbeats go at the interval Discord gives, the first after a
//!   random part of it; a heartbeat that is not acknowledged before the next one is due marks
//!   the link dead: it is closed (not with 1000, so the session stays resumable) and resumed.
//! - Identify asks for guild messages and direct messages, and for message content only when
//!   the trigger's group policy is `all_messages` (without it Discord still sends the content of
//!   direct messages and of messages that mention the bot, §3.5).
//! - `READY` gives the session id, the resume URL and the bot's own id; `RESUMED` ends a resume.
//!   After a drop, op 7 or op 9 `true` the session is resumed on the resume URL with the last
//!   sequence number, so Discord replays what was missed; op 9 `false`, 4007 and 4009 start a
//!   new session.
//! - Slash commands arrive as `INTERACTION_CREATE` when the application has no interactions
//!   endpoint URL: they are queued and acknowledged with a deferred response at once, and the
//!   commands are registered on `READY`.
//! - A `MESSAGE_CREATE` goes through the ingress; the sequence number moves past it only once it
//!   is queued. When the queue fails the connection is dropped and resumed from the last queued
//!   event, so Discord sends the event again instead of it being lost (the gateway has no
//!   acknowledgements).
//! - Close 4004 (bad token) stops with `auth_failed`; 4010–4014 stop with the reason (4014 names
//!   the intent to enable in the Developer Portal). Other closes resume.
//! - Discord lets any number of sessions run on one bot token and tells none of them about the
//!   others, so a second program on the same bot answers every message as well. The gateway
//!   shows every message the bot user creates; the replier marks its own
//!   ([`crate::reply::sent_key`]), and a channel message from the bot without the mark a while
//!   later is reported as another program connected as this bot (`last_error` in the status).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use imgate_channel_kit::dial::{self, Socket};
use imgate_core::Timestamp;
use imgate_core::credentials::{Credentials, Discord};
use imgate_core::ports::{Claim, ReplyError, Store};
use imgate_core::relay::{Link, LinkEnd};
use imgate_core::trigger::GroupPolicy;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::api::RestApi;
use crate::normalize;
use crate::wire::{Payload, Ready, op, parse_interaction, parse_message, parse_payload};

/// Guilds, guild messages and direct messages (§3.5).
pub const BASE_INTENTS: u64 = 1 | (1 << 9) | (1 << 12);
/// Message content (privileged).
pub const MESSAGE_CONTENT: u64 = 1 << 15;

/// How long Hello may take after the socket opens.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before reconnecting within a run.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Reconnects within one run before it ends and the supervisor backs off.
const MAX_RECONNECTS: u32 = 5;
/// How long after the gateway shows a message from the bot user it is checked for imgate's
/// mark: the replier marks it once Discord's REST answer is back, which can come after the event.
pub const OWN_MESSAGE_CHECK_AFTER: Duration = Duration::from_secs(10);

/// A session that can be resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Session {
    id: String,
    resume_url: String,
    /// The last sequence number whose event is handled.
    seq: Option<u64>,
    bot_id: String,
}

/// How one socket ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Told to stop.
    Stopped,
    /// Resume on a new socket.
    Resume(String),
    /// Start a new session.
    Reidentify(String),
    /// Configuration Discord will keep refusing.
    Fatal(LinkEnd),
}

/// The gateway connector.
#[derive(Clone)]
pub struct Connector {
    api: RestApi,
    store: Arc<dyn Store>,
    own_check_after: Duration,
}

impl Connector {
    /// Connects through `api`; reads the bot's trigger from `store` for its intents.
    pub fn new(api: RestApi, store: Arc<dyn Store>) -> Self {
        Self {
            api,
            store,
            own_check_after: OWN_MESSAGE_CHECK_AFTER,
        }
    }

    /// The same connector checking the bot's messages for imgate's mark after `after` (tests).
    #[must_use]
    pub fn with_own_check_after(mut self, after: Duration) -> Self {
        self.own_check_after = after;
        self
    }

    async fn intents(&self, link: &Link) -> u64 {
        let all = match self.store.get_trigger(link.integration_id()).await {
            Ok(trigger) => trigger.is_some_and(|t| t.group_policy == GroupPolicy::AllMessages),
            Err(error) => {
                tracing::warn!(%error, "the trigger could not be read; connecting without message content");
                false
            }
        };
        if all {
            BASE_INTENTS | MESSAGE_CONTENT
        } else {
            BASE_INTENTS
        }
    }
}

#[async_trait]
impl imgate_core::relay::Connector for Connector {
    async fn run(&self, link: Link) -> LinkEnd {
        let Credentials::Discord(app) = link.credentials() else {
            return LinkEnd::AuthFailed("the integration's credentials are not Discord credentials".into());
        };
        let url = match self.api.gateway_url(&app.bot_token).await {
            Ok(url) => url,
            Err(ReplyError::Platform {
                code: 401 | 40_001 | 0,
                message,
            }) => {
                return LinkEnd::AuthFailed(format!("Discord refused the bot token ({message})"));
            }
            Err(error) => {
                link.error(&format!("the gateway URL could not be read: {error}")).await;
                return LinkEnd::Closed;
            }
        };
        let intents = self.intents(&link).await;
        let mut own = OwnMessages {
            store: self.store.clone(),
            after: self.own_check_after,
            seen: VecDeque::new(),
        };
        let mut session: Option<Session> = None;
        let mut reconnects = 0;
        loop {
            let target = session.as_ref().map_or(url.as_str(), |s| s.resume_url.as_str());
            let address = format!("{}/?v=10&encoding=json", target.trim_end_matches('/'));
            let socket = match dial::dial(&address, dial::Limits::default()).await {
                Ok(socket) => socket,
                Err(error) => {
                    link.error(&format!("the gateway could not be reached: {error}")).await;
                    return LinkEnd::Closed;
                }
            };
            let ended = connection(&self.api, &link, socket, app, intents, &mut session, &mut own).await;
            let why = match ended {
                Ended::Stopped => return LinkEnd::Stopped,
                Ended::Fatal(end) => return end,
                Ended::Resume(why) => why,
                Ended::Reidentify(why) => {
                    session = None;
                    why
                }
            };
            reconnects += 1;
            if reconnects > MAX_RECONNECTS {
                link.error(&why).await;
                return LinkEnd::Closed;
            }
            link.error(&why).await;
            link.reconnecting(RECONNECT_DELAY).await;
            tokio::select! {
                () = link.stopping() => return LinkEnd::Stopped,
                () = tokio::time::sleep(RECONNECT_DELAY) => {}
            }
        }
    }
}

/// Messages the gateway showed from the bot user, waiting to be checked for imgate's mark.
struct OwnMessages {
    store: Arc<dyn Store>,
    after: Duration,
    /// `(when to check, message id, channel id)`, oldest first.
    seen: VecDeque<(Instant, String, String)>,
}

impl OwnMessages {
    /// At most this many wait: a flood from another program is reported from its first ones.
    const MAX_WAITING: usize = 100;

    fn saw(&mut self, message_id: String, channel_id: String) {
        if self.seen.len() < Self::MAX_WAITING {
            self.seen
                .push_back((Instant::now() + self.after, message_id, channel_id));
        }
    }

    /// Checks the messages whose time has come; reports one not sent by imgate.
    async fn check(&mut self, link: &Link) {
        while self.seen.front().is_some_and(|(due, _, _)| *due <= Instant::now()) {
            let Some((_, message_id, channel_id)) = self.seen.pop_front() else {
                return;
            };
            let key = crate::reply::sent_key(&message_id);
            match self
                .store
                .claim(&key, Timestamp::now(), crate::reply::SENT_RECORD_TTL)
                .await
            {
                Ok(Claim::Duplicate) => {}
                Ok(Claim::Claimed) => {
                    link.error(&format!(
                        "another program is connected to Discord as this bot: it sent message {message_id} in \
                         channel {channel_id}, which imgate did not send; both answer every message until it stops \
                         or this integration gets a bot of its own"
                    ))
                    .await;
                }
                Err(error) => {
                    tracing::warn!(platform = "discord", %error, "the bot's message could not be checked");
                }
            }
        }
    }
}

/// Sends one payload.
async fn send(socket: &mut Socket, payload: Value) -> Result<(), String> {
    socket
        .send(Message::text(payload.to_string()))
        .await
        .map_err(|e| dial::describe(&e))
}

/// Runs one socket: Hello, Identify or Resume, heartbeats and events.
async fn connection(
    api: &RestApi,
    link: &Link,
    mut socket: Socket,
    app: &Discord,
    intents: u64,
    session: &mut Option<Session>,
    own: &mut OwnMessages,
) -> Ended {
    let token = &app.bot_token;
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, next_payload(&mut socket)).await {
        Ok(Ok(Some(hello))) if hello.op == op::HELLO => hello,
        Ok(Ok(Some(other))) => return Ended::Resume(format!("the gateway sent op {} before Hello", other.op)),
        Ok(Ok(None)) => return Ended::Resume("the gateway closed before Hello".into()),
        Ok(Err(ended)) => return ended,
        Err(_) => return Ended::Resume("no Hello within 10 s".into()),
    };
    let interval = Duration::from_millis(hello.d["heartbeat_interval"].as_u64().unwrap_or(41_250).max(100));
    let greeting = match session {
        Some(s) => json!({"op": op::RESUME, "d": {"token": token.expose(), "session_id": s.id, "seq": s.seq}}),
        None => json!({"op": op::IDENTIFY, "d": {"token": token.expose(), "intents": intents,
            "properties": {"os": std::env::consts::OS, "browser": "imgate", "device": "imgate"}}}),
    };
    if let Err(why) = send(&mut socket, greeting).await {
        return Ended::Resume(why);
    }
    let mut next_beat = Instant::now() + interval.mul_f64(rand::random::<f64>());
    let mut acked = true;
    loop {
        let payload = tokio::select! {
            () = link.stopping() => {
                let _ = socket.close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() })).await;
                return Ended::Stopped;
            }
            () = tokio::time::sleep_until(next_beat) => {
                if !acked {
                    let _ = socket.close(Some(CloseFrame { code: CloseCode::Library(4000), reason: "".into() })).await;
                    return Ended::Resume("no heartbeat acknowledgement: the link is dead".into());
                }
                acked = false;
                next_beat = Instant::now() + interval;
                own.check(link).await;
                let seq = session.as_ref().and_then(|s| s.seq);
                if let Err(why) = send(&mut socket, json!({"op": op::HEARTBEAT, "d": seq})).await {
                    return Ended::Resume(why);
                }
                continue;
            }
            payload = next_payload(&mut socket) => payload,
        };
        let payload = match payload {
            Ok(Some(payload)) => payload,
            Ok(None) => return Ended::Resume("the gateway closed the connection".into()),
            Err(ended) => return ended,
        };
        match payload.op {
            op::HEARTBEAT_ACK => acked = true,
            op::HEARTBEAT => {
                let seq = session.as_ref().and_then(|s| s.seq);
                if let Err(why) = send(&mut socket, json!({"op": op::HEARTBEAT, "d": seq})).await {
                    return Ended::Resume(why);
                }
            }
            op::RECONNECT => return Ended::Resume("the gateway asked to reconnect".into()),
            op::INVALID_SESSION if payload.d.as_bool() == Some(true) => {
                return Ended::Resume("the gateway invalidated the session (resumable)".into());
            }
            op::INVALID_SESSION => return Ended::Reidentify("the gateway invalidated the session".into()),
            op::DISPATCH => {
                if let Err(ended) = dispatch(api, link, app, &payload, session, own).await {
                    let _ = socket
                        .close(Some(CloseFrame {
                            code: CloseCode::Library(4000),
                            reason: "".into(),
                        }))
                        .await;
                    return ended;
                }
            }
            _ => {}
        }
    }
}

/// Handles one event; the sequence number moves past it only when it is handled.
async fn dispatch(
    api: &RestApi,
    link: &Link,
    app: &Discord,
    payload: &Payload,
    session: &mut Option<Session>,
    own: &mut OwnMessages,
) -> Result<(), Ended> {
    match payload.t.as_deref() {
        Some("READY") => {
            let ready: Ready = serde_json::from_value(payload.d.clone())
                .map_err(|_| Ended::Reidentify("READY could not be read".into()))?;
            *session = Some(Session {
                id: ready.session_id,
                resume_url: ready.resume_gateway_url,
                seq: payload.s,
                bot_id: ready.user.id,
            });
            link.connected().await;
            if let Err(error) = crate::register::register_commands(api, app).await {
                link.error(&format!("the slash commands were not registered: {error}"))
                    .await;
            }
            return Ok(());
        }
        Some("RESUMED") => link.connected().await,
        Some("INTERACTION_CREATE") => match parse_interaction(payload.d.to_string().as_bytes()) {
            Ok(interaction) => {
                if let Some(event) = normalize::interaction(&interaction, link.integration_id(), Timestamp::now()) {
                    if let Err(error) = link.ingress().receive(event, "gateway interaction").await {
                        return Err(Ended::Resume(format!(
                            "interaction {} not queued ({error}); resuming",
                            interaction.id
                        )));
                    }
                    // Within Discord's 3 s: "thinking…" until the answer edits it.
                    if let Err(error) = api.defer(&interaction.id, &interaction.token).await {
                        link.error(&format!("interaction {} not acknowledged: {error}", interaction.id))
                            .await;
                    }
                }
                link.event_received().await;
            }
            Err(error) => link.error(&format!("an interaction was skipped: {error}")).await,
        },
        Some("MESSAGE_CREATE") => {
            let Some(current) = session.as_ref() else {
                return Err(Ended::Reidentify("an event before READY".into()));
            };
            match parse_message(&payload.d) {
                Ok(message) => {
                    if message.author.id == current.bot_id
                        && message.webhook_id.is_none()
                        && message.interaction_metadata.is_none()
                    {
                        own.saw(message.id.clone(), message.channel_id.clone());
                    }
                    if let Some(event) =
                        normalize::message(&message, link.integration_id(), &current.bot_id, Timestamp::now())
                    {
                        if let Err(error) = link.ingress().receive(event, "gateway message").await {
                            return Err(Ended::Resume(format!(
                                "message {} not queued ({error}); resuming",
                                message.id
                            )));
                        }
                    }
                    link.event_received().await;
                }
                Err(error) => link.error(&format!("a message was skipped: {error}")).await,
            }
        }
        _ => {}
    }
    if let (Some(current), Some(seq)) = (session.as_mut(), payload.s) {
        current.seq = Some(current.seq.map_or(seq, |s| s.max(seq)));
    }
    Ok(())
}

/// The next payload; `Ok(None)` when the socket ended without a close code, `Err` with how the
/// run goes on for a close code.
async fn next_payload(socket: &mut Socket) -> Result<Option<Payload>, Ended> {
    loop {
        let Some(frame) = socket.next().await else {
            return Ok(None);
        };
        match frame {
            Ok(Message::Text(text)) => match parse_payload(text.as_str()) {
                Ok(payload) => return Ok(Some(payload)),
                Err(error) => tracing::warn!(%error, "an unreadable gateway payload was skipped"),
            },
            Ok(Message::Close(frame)) => return Err(closed(frame.map(|f| u16::from(f.code)))),
            Ok(_) => {}
            Err(error) => return Err(Ended::Resume(dial::describe(&error))),
        }
    }
}

/// How a close code ends the socket (§3.6).
fn closed(code: Option<u16>) -> Ended {
    match code {
        Some(4004) => Ended::Fatal(LinkEnd::AuthFailed("Discord refused the bot token (close 4004)".into())),
        Some(4014) => Ended::Fatal(LinkEnd::AuthFailed(
            "Discord refused a privileged intent (close 4014): enable Message Content Intent on the \
             application's Bot page in the Developer Portal, or use the mention-only group policy"
                .into(),
        )),
        Some(code @ 4010..=4013) => Ended::Fatal(LinkEnd::AuthFailed(format!(
            "Discord refused the session's settings (close {code}); check the application"
        ))),
        Some(code @ (4007 | 4009)) => Ended::Reidentify(format!("the session cannot be resumed (close {code})")),
        Some(code) => Ended::Resume(format!("the gateway closed the connection (close {code})")),
        None => Ended::Resume("the gateway closed the connection".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_what_the_notes_say() {
        assert!(matches!(closed(Some(4004)), Ended::Fatal(LinkEnd::AuthFailed(_))));
        let Ended::Fatal(LinkEnd::AuthFailed(text)) = closed(Some(4014)) else {
            panic!()
        };
        assert!(text.contains("Message Content Intent"));
        for code in 4010..=4013 {
            assert!(matches!(closed(Some(code)), Ended::Fatal(_)), "{code}");
        }
        assert!(matches!(closed(Some(4007)), Ended::Reidentify(_)));
        assert!(matches!(closed(Some(4009)), Ended::Reidentify(_)));
        for code in [4000, 4001, 4002, 4003, 4005, 4008, 1006] {
            assert!(matches!(closed(Some(code)), Ended::Resume(_)), "{code}");
        }
        assert!(matches!(closed(None), Ended::Resume(_)));
    }
}
