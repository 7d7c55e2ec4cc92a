use super::*;

#[test]
fn valid_ids_pass_through() {
    assert_eq!(deduplication_id("wecom:msg-1"), "wecom:msg-1");
    let max = "a".repeat(128);
    assert_eq!(deduplication_id(&max), max);
}

#[test]
fn long_or_odd_ids_are_hashed() {
    for id in ["a".repeat(129), "has space".into(), "消息".into(), String::new()] {
        let sent = deduplication_id(&id);
        assert_eq!(sent.len(), 64, "{id:?}");
        assert!(sent.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(is_valid_fifo_id(&sent));
    }
    assert_ne!(deduplication_id("a b"), deduplication_id("a  b"));
}

#[test]
fn groups_are_checked() {
    assert!(is_valid_fifo_id("int_0123:abcdef"));
    assert!(!is_valid_fifo_id(""));
    assert!(!is_valid_fifo_id("a\nb"));
}

#[test]
fn receipts_name_their_queue() {
    for source in Source::ALL {
        let receipt = format!("{}AQEB+x/y=", source.prefix());
        assert_eq!(Source::parse(&receipt), Some((source, "AQEB+x/y=")));
    }
    assert_eq!(Source::parse("fifo-dlq:h"), Some((Source::InboundDead, "h")));
    assert_eq!(Source::parse("delay:h"), Some((Source::Delay, "h")));
    assert_eq!(Source::parse("not-a-receipt"), None);
    assert_eq!(Source::parse("fifo:"), None);
    assert_eq!(Source::parse(""), None);
}

#[test]
fn seconds_round_up() {
    assert_eq!(whole_seconds(Duration::ZERO), 0);
    assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
    assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
    assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
}
