//! Mentions written into message text.

/// Removes a leading `@Name` token (up to the first whitespace: WeCom and
/// DingTalk put a space or U+2005 after the name).
pub fn strip_leading_mention(text: &str) -> String {
    let trimmed = text.trim_start();
    match trimmed.strip_prefix('@') {
        Some(rest) => {
            let after = rest.find(char::is_whitespace).map_or("", |i| &rest[i..]);
            after.trim_start().to_owned()
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_mention_is_removed_and_others_are_kept() {
        assert_eq!(strip_leading_mention("@机器人 你好"), "你好");
        assert_eq!(strip_leading_mention("  @Bot\u{2005}hi there"), "hi there");
        assert_eq!(strip_leading_mention("@Bot"), "");
        assert_eq!(strip_leading_mention("hi @Bot"), "hi @Bot");
        assert_eq!(strip_leading_mention("mail a@b.c"), "mail a@b.c");
        assert_eq!(strip_leading_mention("@Bot\u{2005}hello"), "hello");
    }
}
