//! How the files a user sent reach each kind of agent.
//!
//! - HTTP and LangGraph agents receive attachment objects, in the snake_case of the rest of
//!   their JSON: `{"kind", "name", "mime_type", "size", "url", "expires_at"}`, `url` working
//!   until `expires_at` (RFC 3339) without other credentials.
//! - OpenAI-compatible agents receive images inline, as `image_url` content parts with a
//!   `data:<mime>;base64,…` URL after the user's text part, and every other file as a line
//!   with its link in the text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use imgate_core::media::describe;
use imgate_core::ports::{AgentRequest, Attachment};
use serde_json::{Value, json};

/// The attachment objects of `request` for HTTP and LangGraph agents.
pub(crate) fn objects(request: &AgentRequest) -> Vec<Value> {
    request
        .attachments
        .iter()
        .map(|a| {
            json!({
                "kind": a.kind,
                "name": a.name,
                "mime_type": a.mime,
                "size": a.size,
                "url": a.url,
                "expires_at": a.expires_at,
            })
        })
        .collect()
}

/// The line that hands an agent reading text one file by its link: `(the user sent a 1.2 MB
/// file “report.pdf” (application/pdf), kept at <url> until <RFC 3339>)`.
fn link_line(attachment: &Attachment) -> String {
    format!(
        "(the user sent {} ({}), kept at {} until {})",
        describe::sent(attachment.kind, Some(attachment.size), attachment.name.as_deref()),
        attachment.mime,
        attachment.url,
        attachment.expires_at
    )
}

/// The content of the user's chat-completions message: the text (with a link line for each
/// file that is not an inline image) as a plain string, or, when images come with it, a list
/// of content parts: the text part first, then one `image_url` part per image.
pub(crate) fn openai_content(request: &AgentRequest) -> Value {
    let links: Vec<String> = request
        .attachments
        .iter()
        .filter(|a| a.bytes.is_none())
        .map(link_line)
        .collect();
    let text = match (request.text.is_empty(), links.is_empty()) {
        (_, true) => request.text.clone(),
        (true, false) => links.join("\n"),
        (false, false) => format!("{}\n\n{}", request.text, links.join("\n")),
    };
    let images: Vec<(&str, &[u8])> = request
        .attachments
        .iter()
        .filter_map(|a| Some((a.mime.as_str(), a.bytes.as_deref()?)))
        .collect();
    if images.is_empty() {
        return Value::String(text);
    }
    let mut parts = Vec::with_capacity(images.len() + 1);
    if !text.is_empty() {
        parts.push(json!({"type": "text", "text": text}));
    }
    for (mime, bytes) in images {
        let url = format!("data:{mime};base64,{}", STANDARD.encode(bytes));
        parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
    }
    Value::Array(parts)
}

#[cfg(test)]
mod tests {
    use imgate_core::event::MediaKind;
    use imgate_core::{Platform, SessionId, Timestamp, UserId};

    use super::*;

    fn request(text: &str, attachments: Vec<Attachment>) -> AgentRequest {
        AgentRequest {
            config: imgate_core::agent::AgentConfig::Echo(Default::default()),
            session_id: SessionId::generate(),
            user_id: UserId::generate(),
            text: text.to_owned(),
            attachments,
            platform: Platform::Telegram,
            conversation_id: "c".to_owned(),
            sender_name: None,
            history: Vec::new(),
        }
    }

    fn attachment(kind: MediaKind, mime: &str, name: Option<&str>, bytes: Option<&[u8]>) -> Attachment {
        Attachment {
            kind,
            name: name.map(str::to_owned),
            mime: mime.to_owned(),
            size: 1536 * 1024,
            url: format!("https://media.example/{mime}"),
            expires_at: Timestamp::from_millis(86_400_000),
            bytes: bytes.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn text_alone_stays_a_string() {
        assert_eq!(openai_content(&request("hi", Vec::new())), json!("hi"));
    }

    #[test]
    fn images_are_parts_after_the_text_and_files_are_links_in_it() {
        let request = request(
            "what are these?",
            vec![
                attachment(MediaKind::Image, "image/png", None, Some(b"png")),
                attachment(MediaKind::File, "application/pdf", Some("report.pdf"), None),
            ],
        );
        assert_eq!(
            openai_content(&request),
            json!([
                {"type": "text", "text": "what are these?\n\n(the user sent a 1.5 MB file “report.pdf” \
                    (application/pdf), kept at https://media.example/application/pdf until \
                    1970-01-02T00:00:00Z)"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,cG5n"}},
            ])
        );
    }

    #[test]
    fn an_image_without_text_is_its_part_alone() {
        let request = request("", vec![attachment(MediaKind::Image, "image/jpeg", None, Some(b"jpg"))]);
        assert_eq!(
            openai_content(&request),
            json!([{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,anBn"}}])
        );
    }

    #[test]
    fn objects_name_every_field_in_snake_case() {
        let request = request("", vec![attachment(MediaKind::Voice, "audio/ogg", None, None)]);
        assert_eq!(
            objects(&request),
            [
                json!({"kind": "voice", "name": null, "mime_type": "audio/ogg", "size": 1_572_864,
                "url": "https://media.example/audio/ogg", "expires_at": "1970-01-02T00:00:00Z"})
            ]
        );
    }
}
