use serde_json::json;

use super::*;

const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

#[test]
fn parses_and_masks_wecom_webhook() {
    let c = Credentials::parse(
        Platform::Wecom,
        ConnectionMode::Webhook,
        &json!({"token": "tok", "encoding_aes_key": AES_KEY, "corp_id": "ww1"}),
    )
    .unwrap();
    assert_eq!(
        c.masked(),
        json!({"token": "***", "encoding_aes_key": "***", "corp_id": "ww1"})
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains("tok\"") && !debug.contains(AES_KEY), "{debug}");
}

#[test]
fn reports_missing_unknown_and_invalid_fields() {
    let p = Platform::Wecom;
    let m = ConnectionMode::Webhook;
    assert_eq!(
        Credentials::parse(p, m, &json!({"token": "t"})),
        Err(CredentialsError::Missing("encoding_aes_key"))
    );
    assert_eq!(
        Credentials::parse(p, m, &json!({"token": "t", "encoding_aes_key": AES_KEY, "x": "1"})),
        Err(CredentialsError::UnknownField("x".into()))
    );
    assert!(matches!(
        Credentials::parse(p, m, &json!({"token": "t", "encoding_aes_key": "short"})),
        Err(CredentialsError::Invalid {
            field: "encoding_aes_key",
            ..
        })
    ));
    assert_eq!(
        Credentials::parse(p, m, &json!({"token": 5, "encoding_aes_key": AES_KEY})),
        Err(CredentialsError::NotAString("token".into()))
    );
    assert_eq!(Credentials::parse(p, m, &json!([])), Err(CredentialsError::NotAnObject));
    // The mask is never accepted as a new secret.
    assert_eq!(
        Credentials::parse(p, m, &json!({"token": "***", "encoding_aes_key": AES_KEY})),
        Err(CredentialsError::Missing("token"))
    );
}

#[test]
fn merge_keeps_secrets_sent_empty_or_masked() {
    let p = Platform::Lark;
    let m = ConnectionMode::Webhook;
    let c = Credentials::parse(
        p,
        m,
        &json!({"app_id": "cli_1", "app_secret": "s1", "verification_token": "v1", "domain": "lark"}),
    )
    .unwrap();
    let merged = c
        .merge(
            p,
            m,
            &json!({"app_id": "cli_2", "app_secret": "***", "verification_token": ""}),
        )
        .unwrap();
    let Credentials::Lark(lark) = &merged else {
        panic!("lark")
    };
    assert_eq!(lark.app_id, "cli_2");
    assert_eq!(lark.app_secret.expose(), "s1");
    assert_eq!(lark.verification_token.as_ref().unwrap().expose(), "v1");
    assert_eq!(lark.domain, LarkDomain::Lark);
    let changed = merged.merge(p, m, &json!({"app_secret": "s2"})).unwrap();
    let Credentials::Lark(lark) = changed else {
        panic!("lark")
    };
    assert_eq!(lark.app_secret.expose(), "s2");
    assert!(matches!(
        c.merge(p, m, &json!({"domain": "moon"})),
        Err(CredentialsError::Invalid { field: "domain", .. })
    ));
}

#[test]
fn every_platform_and_mode_round_trips_through_sealed_json() {
    let samples = [
        (
            Platform::Wecom,
            ConnectionMode::LongConnection,
            json!({"bot_id": "b", "secret": "s"}),
        ),
        (
            Platform::Dingtalk,
            ConnectionMode::LongConnection,
            json!({"client_id": "c", "client_secret": "s", "robot_code": "r"}),
        ),
        (
            Platform::Telegram,
            ConnectionMode::Webhook,
            json!({"bot_token": "1:x", "secret_token": "abc_DEF-1"}),
        ),
        (
            Platform::Discord,
            ConnectionMode::Webhook,
            json!({"application_id": "1", "public_key": "ab".repeat(32), "bot_token": "t"}),
        ),
        (
            Platform::Lark,
            ConnectionMode::LongConnection,
            json!({"app_id": "cli", "app_secret": "s"}),
        ),
        (
            Platform::Weibo,
            ConnectionMode::LongConnection,
            json!({"app_id": "5288388166", "app_secret": "s"}),
        ),
        (
            Platform::Wechat,
            ConnectionMode::LongConnection,
            json!({"bot_token": "t", "base_url": "https://ilinkai.weixin.qq.com", "bot_id": "b@im.bot",
                "owner_user_id": "o@im.wechat"}),
        ),
        (Platform::Wechat, ConnectionMode::LongConnection, json!({})),
    ];
    for (p, m, v) in samples {
        let c = Credentials::parse(p, m, &v).unwrap_or_else(|e| panic!("{p} {m}: {e}"));
        let back = Credentials::from_sealed_json(p, m, &c.to_sealable_json()).unwrap();
        assert_eq!(back, c);
        for spec in fields(p, m).iter().filter(|s| s.secret) {
            if let Some(shown) = c.masked().get(spec.name) {
                assert_eq!(shown, MASK);
            }
        }
    }
}

#[test]
fn telegram_webhook_needs_a_well_formed_secret_token() {
    let p = Platform::Telegram;
    assert_eq!(
        Credentials::parse(p, ConnectionMode::Webhook, &json!({"bot_token": "1:x"})),
        Err(CredentialsError::Missing("secret_token"))
    );
    assert!(
        Credentials::parse(
            p,
            ConnectionMode::Webhook,
            &json!({"bot_token": "1:x", "secret_token": "a b"})
        )
        .is_err()
    );
    assert!(Credentials::parse(p, ConnectionMode::LongConnection, &json!({"bot_token": "1:x"})).is_ok());
}

#[test]
fn weibo_is_long_connection_only() {
    let value = json!({"app_id": "5288388166", "app_secret": "s3cret"});
    let error = Credentials::parse(Platform::Weibo, ConnectionMode::Webhook, &value).unwrap_err();
    assert!(error.to_string().contains("long_connection"), "{error}");
    assert!(!error.to_string().contains("s3cret"));
    let c = Credentials::parse(Platform::Weibo, ConnectionMode::LongConnection, &value).unwrap();
    assert_eq!(c.kind(), (Platform::Weibo, ConnectionMode::LongConnection));
    assert_eq!(c.masked(), json!({"app_id": "5288388166", "app_secret": MASK}));
    assert_eq!(
        Credentials::parse(Platform::Weibo, ConnectionMode::LongConnection, &json!({"app_id": "1"})),
        Err(CredentialsError::Missing("app_secret"))
    );
}

#[test]
fn wechat_polls_only_and_checks_its_base_url() {
    assert_eq!(
        Credentials::parse(Platform::Wechat, ConnectionMode::Webhook, &json!({"bot_token": "t"})),
        Err(CredentialsError::UnsupportedMode {
            platform: Platform::Wechat,
            mode: ConnectionMode::Webhook
        })
    );
    let bad = Credentials::parse(
        Platform::Wechat,
        ConnectionMode::LongConnection,
        &json!({"bot_token": "t", "base_url": "ftp://x"}),
    );
    assert!(matches!(bad, Err(CredentialsError::Invalid { field: "base_url", .. })));
    let token = Credentials::parse(
        Platform::Wechat,
        ConnectionMode::LongConnection,
        &json!({"bot_token": "t"}),
    )
    .unwrap();
    assert_eq!(token.masked(), json!({"bot_token": MASK}));
    assert_eq!(
        serde_json::to_value(crate::integration::StatusReason::LoginExpired).unwrap(),
        "login_expired"
    );
}
