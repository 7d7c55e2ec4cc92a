//! Robot messages → [`InboundEvent`]s.
//!
//! - Event id: `msgId` (DingTalk may deliver a message twice; the ingress dedupes on it).
//! - Conversation: `conversationId` for both kinds (single chats have their own `cid…`), so
//!   the session key is stable; groups carry `conversationTitle` as the name.
//! - Sender: `senderStaffId` when present (the org userId the robot OpenAPI and cards address),
//!   else the encrypted `senderId` (users outside the org).
//! - Mentions: `mentions_bot` is `isInAtList`; when DingTalk leaves it out it is assumed for
//!   groups, which only deliver messages that @-mention the robot. Other `atUsers` become
//!   [`Mention`]s.
//! - Media: [`MediaRef::key`] holds the `downloadCode` (exchanged for a temporary URL through
//!   `/v1.0/robot/messageFiles/download`), never a URL.

use imgate_core::event::{
    Command, Conversation, ConversationKind, InboundEvent, InboundKind, MediaKind, MediaRef, Mention, Message,
    ReplyContext, Sender,
};
use imgate_core::{IntegrationId, Platform, Timestamp};

use crate::wire::{AtUser, Content, Media, RichTextItem, RobotMessage};

/// Removes a leading `@Name` token and the whitespace after it (shared with WeCom: both use a
/// space or U+2005 after the name).
use imgate_channel_kit::mention::strip_leading_mention;

/// Normalizes a robot message received at `received_at`.
///
/// Text is trimmed. In groups DingTalk removes the robot's own @-mention from `text.content`
/// itself; a leading `@Name` token is additionally stripped only when the robot is the only
/// user in `atUsers` (so it can only be the robot's mention, e.g. in rich text), never when
/// other users were mentioned (the token may then be theirs). `/commands` are parsed after
/// that. Audio carries DingTalk's recognition text as the message text.
pub fn robot_message(integration_id: &IntegrationId, msg: &RobotMessage, received_at: Timestamp) -> InboundEvent {
    let group = msg.is_group();
    let kind = match &msg.content {
        Content::Unsupported { msgtype } => InboundKind::Unsupported {
            raw_type: if msgtype.is_empty() {
                "unknown".to_owned()
            } else {
                msgtype.clone()
            },
        },
        content => {
            let (text, media) = text_and_media(content);
            let text = text.trim();
            let text = if group && only_the_robot_mentioned(msg) {
                strip_leading_mention(text)
            } else {
                text.to_owned()
            };
            InboundKind::Message(Message {
                command: Command::parse(&text),
                text,
                mentions_bot: msg.is_in_at_list.unwrap_or(group),
                mentions: mentions(msg),
                media,
                quoted: None,
            })
        }
    };
    InboundEvent {
        event_id: msg.msg_id.clone(),
        platform: Platform::Dingtalk,
        integration_id: integration_id.clone(),
        conversation: Conversation {
            id: msg.conversation_id.clone(),
            kind: if group {
                ConversationKind::Group
            } else {
                ConversationKind::Direct
            },
            thread_id: None,
            name: if group { msg.conversation_title.clone() } else { None },
        },
        sender: Sender {
            id: sender_id(msg).to_owned(),
            name: msg.sender_nick.clone(),
            is_bot: false,
        },
        kind,
        reply: ReplyContext::Dingtalk {
            session_webhook: msg.session_webhook.clone(),
            session_webhook_expires_at: msg.session_webhook_expired_time.map(Timestamp::from_millis),
            conversation_id: msg.conversation_id.clone(),
            sender_staff_id: msg.sender_staff_id.clone(),
        },
        occurred_at: msg.create_at.map(Timestamp::from_millis),
        received_at,
    }
}

/// The id a sender is known by: staff id, else the encrypted sender id.
pub fn sender_id(msg: &RobotMessage) -> &str {
    msg.sender_staff_id.as_deref().unwrap_or(&msg.sender_id)
}

fn is_robot(msg: &RobotMessage, user: &AtUser) -> bool {
    msg.chatbot_user_id.as_deref() == Some(user.dingtalk_id.as_str())
}

fn only_the_robot_mentioned(msg: &RobotMessage) -> bool {
    msg.at_users.iter().all(|user| is_robot(msg, user))
}

fn mentions(msg: &RobotMessage) -> Vec<Mention> {
    msg.at_users
        .iter()
        .filter(|user| !is_robot(msg, user))
        .filter_map(|user| {
            let id = user.staff_id.clone().filter(|s| !s.is_empty());
            let id = id.or_else(|| Some(user.dingtalk_id.clone()).filter(|s| !s.is_empty()))?;
            Some(Mention { id, name: None })
        })
        .collect()
}

fn text_and_media(content: &Content) -> (String, Vec<MediaRef>) {
    match content {
        Content::Text(text) => (text.clone(), Vec::new()),
        Content::Picture(m) => (String::new(), vec![media_ref(MediaKind::Image, m)]),
        Content::Audio { media, recognition } => (
            recognition.clone().unwrap_or_default(),
            vec![media_ref(MediaKind::Voice, media)],
        ),
        Content::Video(m) => (String::new(), vec![media_ref(MediaKind::Video, m)]),
        Content::File(m) => (String::new(), vec![media_ref(MediaKind::File, m)]),
        Content::RichText(items) => {
            let mut texts = Vec::new();
            let mut media = Vec::new();
            for item in items {
                match item {
                    RichTextItem::Text(t) if !t.trim().is_empty() => texts.push(t.trim()),
                    RichTextItem::Picture(m) => media.push(media_ref(MediaKind::Image, m)),
                    RichTextItem::Text(_) | RichTextItem::Other(_) => {}
                }
            }
            (texts.join("\n"), media)
        }
        Content::Unsupported { .. } => (String::new(), Vec::new()),
    }
}

fn media_ref(kind: MediaKind, media: &Media) -> MediaRef {
    let mime = match (kind, media.video_type.as_deref()) {
        (MediaKind::Video, Some(t)) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Some(format!("video/{}", t.to_ascii_lowercase()))
        }
        _ => None,
    };
    MediaRef {
        kind,
        url: None,
        key: Some(media.download_code.clone()).filter(|c| !c.is_empty()),
        name: media.file_name.clone(),
        mime,
        size: None,
        aes_key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ConversationType, parse_robot_message};

    fn group_text(content: &str, at_users: &str) -> RobotMessage {
        parse_robot_message(
            format!(
                r#"{{"msgId":"m","conversationId":"cid","conversationType":"2","senderId":"s",
                    "chatbotUserId":"$:bot","isInAtList":true,"atUsers":{at_users},
                    "msgtype":"text","text":{{"content":{}}}}}"#,
                serde_json::Value::from(content)
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn text_of(event: &InboundEvent) -> &str {
        match &event.kind {
            InboundKind::Message(m) => &m.text,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn leading_mention_is_stripped_only_when_it_can_only_be_the_robot() {
        let id = IntegrationId::generate();
        let now = Timestamp::from_millis(0);
        let robot_only = r#"[{"dingtalkId":"$:bot"}]"#;
        let with_alice = r#"[{"dingtalkId":"$:bot"},{"dingtalkId":"$:alice","staffId":"alice"}]"#;
        assert_eq!(
            text_of(&robot_message(&id, &group_text(" /new", robot_only), now)),
            "/new"
        );
        assert_eq!(
            text_of(&robot_message(&id, &group_text("@Bot /new x", robot_only), now)),
            "/new x"
        );
        assert_eq!(
            text_of(&robot_message(&id, &group_text(" @Alice look", with_alice), now)),
            "@Alice look"
        );
        let event = robot_message(&id, &group_text("@Bot /help", robot_only), now);
        let InboundKind::Message(m) = &event.kind else { panic!() };
        assert_eq!(m.command.as_ref().map(|c| c.name.as_str()), Some("help"));
        assert!(m.mentions.is_empty());
        let event = robot_message(&id, &group_text("hi", with_alice), now);
        let InboundKind::Message(m) = &event.kind else { panic!() };
        assert_eq!(
            m.mentions,
            vec![Mention {
                id: "alice".into(),
                name: None
            }]
        );
    }

    #[test]
    fn direct_text_keeps_a_leading_at() {
        let mut msg = group_text("@someone hello", "[]");
        msg.conversation_type = ConversationType::Single;
        let event = robot_message(&IntegrationId::generate(), &msg, Timestamp::from_millis(0));
        assert_eq!(text_of(&event), "@someone hello");
        assert_eq!(event.conversation.kind, ConversationKind::Direct);
    }
}
