//! The answer a user sees when the agent failed, on platforms that answer in plain messages: what
//! the agent had written so far, then the failure and the way to a new conversation.

/// Tells the user how to start over.
pub const NEW_CONVERSATION_HINT: &str = "Send /new to start a new conversation. 发送 /new 开始新的对话。";

/// `so_far` (if anything), then `message` and [`NEW_CONVERSATION_HINT`], a blank line apart.
pub fn failure_text(so_far: &str, message: &str) -> String {
    let note = format!("{message}\n\n{NEW_CONVERSATION_HINT}");
    if so_far.trim().is_empty() {
        note
    } else {
        format!("{so_far}\n\n{note}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_follows_what_was_written() {
        assert_eq!(
            failure_text(" ", "agent failed"),
            format!("agent failed\n\n{NEW_CONVERSATION_HINT}")
        );
        assert_eq!(
            failure_text("Half an", "agent failed"),
            format!("Half an\n\nagent failed\n\n{NEW_CONVERSATION_HINT}")
        );
    }
}
