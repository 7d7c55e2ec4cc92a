//! Platform JSON errors made safe for logs, event lines and HTTP answers.
//!
//! serde_json's own messages quote the offending input ("invalid type: string \"…\""), and a
//! platform body can carry message text, tokens or webhook URLs. What is kept is the kind of
//! failure and where it happened, never a byte of the input.

/// `"<kind> at line L column C"` for `error`, without any of the input it quotes.
pub fn json_error(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "unexpected end of input",
    };
    format!("{kind} at line {} column {}", error.line(), error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Shape {
        #[allow(dead_code)]
        n: u32,
    }

    #[test]
    fn the_input_is_never_quoted() {
        let Err(error) = serde_json::from_str::<Shape>(r#"{"n":"secret-token-123"}"#) else {
            panic!("a string is not a number");
        };
        assert!(
            error.to_string().contains("secret-token-123"),
            "serde_json quotes the input"
        );
        let safe = json_error(&error);
        assert_eq!(safe, "unexpected shape at line 1 column 23");
        assert!(!safe.contains("secret"));
    }

    #[test]
    fn each_kind_is_named() {
        let kind = |text: &str| json_error(&serde_json::from_str::<Shape>(text).unwrap_err());
        assert!(kind("{").starts_with("unexpected end of input"));
        assert!(kind("{x}").starts_with("syntax error"));
        assert!(kind(r#"["x"]"#).starts_with("unexpected shape"));
    }
}
