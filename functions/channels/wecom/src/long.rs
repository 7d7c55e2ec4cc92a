//! WeCom smart bots over the long WebSocket connection (§3): the protocol without I/O, and a
//! driver that runs it over any text socket.
//!
//! - [`frame`]: typed frames, outgoing builders and the incoming parser.
//! - [`session`]: the state machine (subscribe, heartbeats, kicks, reply windows), fed the
//!   clock by its caller.
//! - [`driver`]: [`run`] one connection to its [`Outcome`]; [`connect`] opens the real socket.
//! - [`pusher`]: carries the dispatcher's answers from the store's stream buffers onto the
//!   connection; [`uploads`]: the answer's images after its text.
//! - [`connector`]: all of it as the relay's [`imgate_core::relay::Connector`].
//!
//! Callback bodies are the same JSON as in callback mode, so they are parsed with
//! [`crate::wire::parse_bot_callback`] and normalized with [`inbound_event`]. Replies travel
//! on the connection that received the callback, with its req_id.
//!
//! ```text
//! dispatcher ──► stream buffer ──► pusher ──► outbox ──► driver ──► WeCom   (respond frames)
//! ingress ◄── connector ◄── driver ◄── WeCom                                (callbacks, acks)
//! ```

pub mod connector;
pub mod driver;
pub mod frame;
pub mod pusher;
mod queue;
pub mod session;
mod socket;
pub mod uploads;

use imgate_core::event::{InboundEvent, ReplyContext};
use imgate_core::{IntegrationId, Timestamp};

pub use connector::Connector;
pub use driver::{Delivery, DeliveryStatus, DriverError, InboundFrame, Outcome, run, run_reporting};
pub use queue::{ACK_TIMEOUT, MAX_QUEUED, MAX_QUEUED_PER_REQ_ID};
pub use session::{CloseReason, Refusal, Session, State};
pub use socket::{ConnectError, DEFAULT_URL, Peer, TextSocket, WsError, connect, text_socket};

use crate::normalize;
use crate::wire::BotCallback;

/// Normalizes a long-connection callback. Its reply context carries the callback's `req_id`;
/// a message's also carries the stream id of [`normalize::stream_id_for`] (as in callback
/// mode), the stream buffer the dispatcher writes and the [`pusher`] carries out (long mode has
/// no stream-refresh callbacks). `None` for what is not for the agent: `disconnected_event`,
/// unknown events and stream refreshes.
pub fn inbound_event(
    integration_id: &IntegrationId,
    req_id: &str,
    callback: &BotCallback,
    received_at: Timestamp,
) -> Option<InboundEvent> {
    let mut event = match callback {
        BotCallback::Message(message) => {
            let stream_id = normalize::stream_id_for(integration_id, &message.msgid);
            normalize::bot_message(integration_id, message, &stream_id, received_at)
        }
        BotCallback::Event(event) => normalize::bot_event(integration_id, event, received_at)?,
        BotCallback::StreamRefresh { .. } => return None,
    };
    if let ReplyContext::WecomBot { req_id: id, .. } = &mut event.reply {
        *id = Some(req_id.to_owned());
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use imgate_core::event::InboundKind;

    use super::*;
    use crate::wire::parse_bot_callback;

    #[test]
    fn events_carry_the_req_id_and_messages_their_stream() {
        let integration = IntegrationId::generate();
        let message = parse_bot_callback(
            br#"{"msgid":"M1","aibotid":"B1","chattype":"single","from":{"userid":"u1"},"response_url":"https://x/r","msgtype":"text","text":{"content":"hi"}}"#,
        )
        .unwrap();
        let event = inbound_event(&integration, "REQ-1", &message, Timestamp::from_millis(5)).unwrap();
        assert_eq!(event.event_id, "M1");
        assert!(matches!(event.kind, InboundKind::Message(ref m) if m.text == "hi"));
        assert_eq!(
            event.reply,
            ReplyContext::WecomBot {
                response_url: Some("https://x/r".into()),
                req_id: Some("REQ-1".into()),
                stream_id: Some(normalize::stream_id_for(&integration, "M1")),
                chat_type: "single".into(),
            }
        );

        let enter = parse_bot_callback(
            br#"{"msgid":"E1","aibotid":"B1","chattype":"single","from":{"userid":"u1"},"msgtype":"event","event":{"eventtype":"enter_chat"}}"#,
        )
        .unwrap();
        let event = inbound_event(&integration, "EV-1", &enter, Timestamp::from_millis(5)).unwrap();
        assert_eq!(event.kind, InboundKind::EnterChat);
        assert!(
            matches!(event.reply, ReplyContext::WecomBot { req_id: Some(ref r), stream_id: None, .. } if r == "EV-1")
        );

        let kicked = parse_bot_callback(
            br#"{"msgid":"X","aibotid":"B1","msgtype":"event","event":{"eventtype":"disconnected_event"}}"#,
        )
        .unwrap();
        assert_eq!(
            inbound_event(&integration, "EV-2", &kicked, Timestamp::from_millis(5)),
            None
        );
    }
}
