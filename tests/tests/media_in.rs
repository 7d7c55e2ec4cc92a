//! Every platform's media fetcher, through the registry's `Channels::media` as the dispatcher
//! uses it, against the platform's fake: the user's file arrives whole (decrypted where the
//! platform encrypts it) with its type; a size the platform states above the cap is refused
//! with no download; a body that passes the cap is cut off; the platform's refusals are
//! `Platform` errors; and no error text carries a token, a key, a signed URL or an address.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use imgate_channels::{Channels, Endpoints};
use imgate_core::credentials::Credentials;
use imgate_core::event::{MediaKind, MediaRef};
use imgate_core::integration::IntegrationRecord;
use imgate_core::keyring::SealedSecret;
use imgate_core::ports::{Download, MediaError, MediaFetcher};
use imgate_core::{ConnectionMode, IntegrationId, OrgId, Platform, Timestamp};
use imgate_tests::fake_media::{Cdn, File, OVERSIZED, PNG};
use serde_json::{Value, json};

use ConnectionMode::{LongConnection, Webhook};

/// The cap of these tests: 1 MB.
const LIMIT: u64 = 1024 * 1024;

/// The registry's fetchers on a fresh embedded store, with the platforms at `endpoints`.
struct Bench {
    media: Arc<dyn MediaFetcher>,
    platform: Platform,
    mode: ConnectionMode,
    credentials: Credentials,
}

impl Bench {
    async fn new(platform: Platform, mode: ConnectionMode, credentials: Value, endpoints: &Endpoints) -> Self {
        let deps = imgate_tests::world::embedded_deps(2).await;
        Self {
            media: Channels::new(&deps, &reqwest::Client::new(), endpoints).media(),
            platform,
            mode,
            credentials: Credentials::parse(platform, mode, &credentials).unwrap(),
        }
    }

    async fn fetch(&self, media: &MediaRef, limit: u64) -> Result<Download, MediaError> {
        let record = IntegrationRecord {
            id: IntegrationId::generate(),
            org_id: OrgId::generate(),
            name: "bot".into(),
            platform: self.platform,
            mode: self.mode,
            enabled: true,
            account: None,
            credentials: SealedSecret::from_stored("sealed"),
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            version: 1,
        };
        self.media.fetch(&record, &self.credentials, media, limit).await
    }
}

/// A reference as a normalizer writes it.
fn reference(kind: MediaKind, url: Option<&str>, key: Option<&str>, size: Option<u64>) -> MediaRef {
    MediaRef {
        kind,
        url: url.map(str::to_owned),
        key: key.map(str::to_owned),
        name: None,
        mime: None,
        size,
        aes_key: None,
    }
}

/// The test picture arrived whole, as a PNG.
fn the_picture(download: &Download) {
    assert_eq!(download.bytes, PNG);
    assert_eq!(download.mime.as_deref(), Some("image/png"));
}

/// `error`'s text shows none of `secrets`, no signed URL and no address.
fn clean(error: &MediaError, secrets: &[&str]) {
    let text = error.to_string();
    for secret in secrets.iter().chain(&["signature", "127.0.0.1", "http://"]) {
        assert!(!text.contains(secret), "{text:?} shows {secret:?}");
    }
}

/// A file that passes the cap while streaming.
fn cut_off(result: Result<Download, MediaError>, secrets: &[&str]) {
    let error = result.unwrap_err();
    assert_eq!(
        error,
        MediaError::TooLarge {
            size: None,
            limit: LIMIT
        }
    );
    clean(&error, secrets);
}

/// A refusal by the platform saying `words`.
fn refused(result: Result<Download, MediaError>, words: &str, secrets: &[&str]) {
    let error = result.unwrap_err();
    assert!(
        matches!(&error, MediaError::Platform(text) if text.contains(words)),
        "{error:?} is not a refusal saying {words:?}"
    );
    clean(&error, secrets);
}

mod telegram {
    use imgate_tests::fake_telegram::FakeTelegram;

    use super::*;

    const TOKEN: &str = "123456:TEST-media-token";

    async fn setup() -> (FakeTelegram, Bench) {
        let fake = FakeTelegram::start(TOKEN).await;
        let mut endpoints = Endpoints::default();
        endpoints.telegram.api = fake.base.clone();
        let bench = Bench::new(
            Platform::Telegram,
            LongConnection,
            json!({"bot_token": TOKEN}),
            &endpoints,
        )
        .await;
        (fake, bench)
    }

    fn photo(file_id: &str, size: Option<u64>) -> MediaRef {
        reference(MediaKind::Image, None, Some(file_id), size)
    }

    #[tokio::test]
    async fn a_photo_arrives_through_get_file() {
        let (fake, bench) = setup().await;
        fake.add_photo("ph-1", File::new(PNG, Some("application/octet-stream")));
        let download = bench.fetch(&photo("ph-1", None), LIMIT).await.unwrap();
        the_picture(&download);
        assert_eq!(fake.media.downloads("ph-1"), 1);
    }

    #[tokio::test]
    async fn a_stated_size_above_the_cap_is_never_downloaded() {
        let (fake, bench) = setup().await;
        fake.add_photo("big", File::oversized());
        let error = bench.fetch(&photo("big", Some(OVERSIZED)), LIMIT).await.unwrap_err();
        assert_eq!(
            error,
            MediaError::TooLarge {
                size: Some(OVERSIZED),
                limit: LIMIT
            }
        );
        // Unstated in the update, getFile states it (and refuses past 20 MB).
        let error = bench.fetch(&photo("big", None), u64::MAX).await.unwrap_err();
        assert!(matches!(error, MediaError::TooLarge { .. }), "{error:?}");
        assert_eq!(fake.media.all_downloads(), 0);
    }

    #[tokio::test]
    async fn the_bot_api_limit_of_20_mb_caps_a_larger_gateway_cap() {
        let (fake, bench) = setup().await;
        let size = 25 * 1024 * 1024;
        fake.add_photo(
            "25mb",
            File {
                stated: Some(size),
                ..File::endless()
            },
        );
        let error = bench
            .fetch(&photo("25mb", Some(size)), 100 * 1024 * 1024)
            .await
            .unwrap_err();
        assert_eq!(
            error,
            MediaError::TooLarge {
                size: Some(size),
                limit: 20 * 1024 * 1024
            }
        );
        assert_eq!(fake.media.all_downloads(), 0);
    }

    #[tokio::test]
    async fn a_body_past_the_cap_is_cut_off_and_refusals_keep_the_token_out() {
        let (fake, bench) = setup().await;
        fake.add_photo("endless", File::endless());
        cut_off(bench.fetch(&photo("endless", None), LIMIT).await, &[TOKEN]);
        refused(
            bench.fetch(&photo("nope", None), LIMIT).await,
            "invalid file_id",
            &[TOKEN],
        );
    }
}

mod discord {
    use imgate_tests::fake_discord::APP_PUBLIC_KEY;

    use super::*;

    const TOKEN: &str = "discord-media-bot-token";

    async fn setup() -> (Cdn, Bench) {
        let cdn = Cdn::start().await;
        let credentials = json!({"application_id": "1", "public_key": APP_PUBLIC_KEY, "bot_token": TOKEN});
        let bench = Bench::new(Platform::Discord, LongConnection, credentials, &Endpoints::default()).await;
        (cdn, bench)
    }

    #[tokio::test]
    async fn an_attachment_arrives_from_the_cdn() {
        let (cdn, bench) = setup().await;
        let url = cdn.add("a1", File::png());
        let download = bench
            .fetch(
                &reference(MediaKind::Image, Some(&url), Some("a1"), Some(PNG.len() as u64)),
                LIMIT,
            )
            .await
            .unwrap();
        the_picture(&download);
        assert_eq!(cdn.library.downloads("a1"), 1);
    }

    #[tokio::test]
    async fn the_size_cap_holds_before_and_during_the_download() {
        let (cdn, bench) = setup().await;
        let big = cdn.add("big", File::oversized());
        let error = bench
            .fetch(&reference(MediaKind::File, Some(&big), None, Some(OVERSIZED)), LIMIT)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            MediaError::TooLarge {
                size: Some(OVERSIZED),
                ..
            }
        ));
        assert_eq!(cdn.library.downloads("big"), 0);
        let endless = cdn.add("endless", File::endless());
        cut_off(
            bench
                .fetch(&reference(MediaKind::File, Some(&endless), None, None), LIMIT)
                .await,
            &[TOKEN],
        );
        let gone = cdn.url("gone");
        refused(
            bench
                .fetch(&reference(MediaKind::File, Some(&gone), None, None), LIMIT)
                .await,
            "HTTP 404",
            &[TOKEN],
        );
    }
}

mod dingtalk {
    use imgate_tests::fake_dingtalk::FakeDingtalk;

    use super::*;

    const SECRET: &str = "dingtalk-media-secret";

    async fn setup() -> (FakeDingtalk, Bench) {
        let fake = FakeDingtalk::start("ding-media", SECRET).await;
        let endpoints = Endpoints {
            dingtalk: fake.endpoints(),
            ..Endpoints::default()
        };
        let credentials = json!({"client_id": "ding-media", "client_secret": SECRET, "robot_code": "ding-media"});
        let bench = Bench::new(Platform::Dingtalk, LongConnection, credentials, &endpoints).await;
        (fake, bench)
    }

    fn code(code: &str) -> MediaRef {
        reference(MediaKind::Image, None, Some(code), None)
    }

    #[tokio::test]
    async fn a_download_code_becomes_the_file() {
        let (fake, bench) = setup().await;
        fake.media.add("code-1", File::png());
        the_picture(&bench.fetch(&code("code-1"), LIMIT).await.unwrap());
        assert_eq!(fake.media.downloads("code-1"), 1);
    }

    #[tokio::test]
    async fn the_cap_holds_on_the_stated_length_and_while_streaming() {
        let (fake, bench) = setup().await;
        let two_mb = vec![7u8; 2 * 1024 * 1024];
        fake.media.add("long", File::new(&two_mb, Some("application/pdf")));
        let error = bench.fetch(&code("long"), LIMIT).await.unwrap_err();
        assert_eq!(
            error,
            MediaError::TooLarge {
                size: Some(two_mb.len() as u64),
                limit: LIMIT
            }
        );
        fake.media.add("endless", File::endless());
        cut_off(bench.fetch(&code("endless"), LIMIT).await, &[SECRET, "token-"]);
        refused(
            bench.fetch(&code("unknown"), LIMIT).await,
            "downloadCode is invalid",
            &[SECRET, "token-"],
        );
    }
}

mod lark {
    use imgate_tests::fake_lark::FakeLark;

    use super::*;

    const SECRET: &str = "lark-media-secret";

    async fn setup() -> (FakeLark, Bench) {
        let fake = FakeLark::start("cli_media", SECRET).await;
        let endpoints = Endpoints {
            lark: imgate_channels::lark::Endpoints::single(&fake.base),
            ..Endpoints::default()
        };
        let credentials = json!({"app_id": "cli_media", "app_secret": SECRET});
        let bench = Bench::new(Platform::Lark, LongConnection, credentials, &endpoints).await;
        (fake, bench)
    }

    fn resource(kind: MediaKind, message_id: &str, file_key: &str) -> MediaRef {
        let key = imgate_channels::lark::media::resource_key(message_id, file_key);
        reference(kind, None, Some(&key), None)
    }

    #[tokio::test]
    async fn a_message_resource_arrives_with_the_tenant_token() {
        let (fake, bench) = setup().await;
        fake.media.add("om_1/img_v2_1", File::png());
        the_picture(
            &bench
                .fetch(&resource(MediaKind::Image, "om_1", "img_v2_1"), LIMIT)
                .await
                .unwrap(),
        );
        let file = File::new(b"%PDF-1.4", Some("application/pdf")).named("report.pdf");
        fake.media.add("om_2/file_v2_2", file);
        let download = bench
            .fetch(&resource(MediaKind::File, "om_2", "file_v2_2"), LIMIT)
            .await
            .unwrap();
        assert_eq!(download.mime.as_deref(), Some("application/pdf"));
        assert_eq!(download.name.as_deref(), Some("report.pdf"));
    }

    #[tokio::test]
    async fn the_cap_holds_and_refusals_are_lark_s_words() {
        let (fake, bench) = setup().await;
        fake.media.add("om_1/big", File::new(&vec![0u8; 2 * 1024 * 1024], None));
        let error = bench
            .fetch(&resource(MediaKind::File, "om_1", "big"), LIMIT)
            .await
            .unwrap_err();
        assert!(matches!(error, MediaError::TooLarge { size: Some(_), .. }), "{error:?}");
        fake.media.add("om_1/endless", File::endless());
        cut_off(
            bench.fetch(&resource(MediaKind::File, "om_1", "endless"), LIMIT).await,
            &[SECRET],
        );
        // The key of another message is not this message's.
        refused(
            bench.fetch(&resource(MediaKind::File, "om_9", "big"), LIMIT).await,
            "234003",
            &[SECRET, "t-"],
        );
        let over_100_mb = File {
            stated: Some(200 * 1024 * 1024),
            ..File::endless()
        };
        fake.media.add("om_1/over100", over_100_mb);
        refused(
            bench.fetch(&resource(MediaKind::Video, "om_1", "over100"), LIMIT).await,
            "234037",
            &[SECRET],
        );
        assert_eq!(fake.media.downloads("om_1/over100"), 0);
    }

    #[tokio::test]
    async fn stickers_and_bare_keys_are_not_asked_for() {
        let (fake, bench) = setup().await;
        let sticker = bench.fetch(&resource(MediaKind::Sticker, "om_1", "s"), LIMIT).await;
        assert!(matches!(sticker, Err(MediaError::Unsupported(_))));
        let bare = bench
            .fetch(&reference(MediaKind::Image, None, Some("img_v2_1"), None), LIMIT)
            .await;
        assert!(matches!(bare, Err(MediaError::Unsupported(_))));
        assert_eq!(fake.media.all_downloads(), 0);
    }
}

mod wecom {
    use imgate_channels::wecom::verify::encrypt_media;
    use imgate_tests::fake_wecom_app::FakeWecomApp;

    use super::*;

    const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    /// A long-connection file's own key (vector V5's).
    const FILE_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    const CORP_SECRET: &str = "wecom-app-media-secret";

    async fn bot(mode: ConnectionMode) -> (Cdn, Bench) {
        let cdn = Cdn::start().await;
        let credentials = match mode {
            Webhook => json!({"token": "t0k3n", "encoding_aes_key": AES_KEY}),
            LongConnection => json!({"bot_id": "bot", "secret": "bot-secret"}),
        };
        let bench = Bench::new(Platform::Wecom, mode, credentials, &Endpoints::default()).await;
        (cdn, bench)
    }

    fn encrypted(key: &str) -> File {
        File::new(&[], Some("application/octet-stream")).serving(encrypt_media(key, PNG).unwrap())
    }

    #[tokio::test]
    async fn a_callback_image_is_decrypted_with_the_bot_key() {
        let (cdn, bench) = bot(Webhook).await;
        let url = cdn.add("img", encrypted(AES_KEY));
        the_picture(
            &bench
                .fetch(&reference(MediaKind::Image, Some(&url), None, None), LIMIT)
                .await
                .unwrap(),
        );
        // A file encrypted with another key does not open.
        let url = cdn.add("other", encrypted(FILE_KEY));
        let error = bench
            .fetch(&reference(MediaKind::Image, Some(&url), None, None), LIMIT)
            .await
            .unwrap_err();
        assert_eq!(error, MediaError::Decrypt);
        clean(&error, &[AES_KEY, FILE_KEY]);
    }

    #[tokio::test]
    async fn a_long_connection_file_is_decrypted_with_its_own_key() {
        let (cdn, bench) = bot(LongConnection).await;
        let url = cdn.add("img", encrypted(FILE_KEY));
        let media = MediaRef {
            aes_key: Some(FILE_KEY.into()),
            ..reference(MediaKind::Image, Some(&url), None, None)
        };
        the_picture(&bench.fetch(&media, LIMIT).await.unwrap());
        let without_key = bench
            .fetch(&reference(MediaKind::Image, Some(&url), None, None), LIMIT)
            .await;
        assert!(matches!(without_key, Err(MediaError::Unsupported(_))));
        let endless = cdn.add("endless", File::endless());
        let media = MediaRef {
            aes_key: Some(FILE_KEY.into()),
            ..reference(MediaKind::File, Some(&endless), None, None)
        };
        // The cap leaves room for the padding of an encrypted file.
        let error = bench.fetch(&media, LIMIT).await.unwrap_err();
        assert_eq!(
            error,
            MediaError::TooLarge {
                size: None,
                limit: LIMIT + 32
            }
        );
        clean(&error, &[FILE_KEY]);
        let expired = cdn.url("expired");
        refused(
            bench
                .fetch(
                    &MediaRef {
                        aes_key: Some(FILE_KEY.into()),
                        ..reference(MediaKind::File, Some(&expired), None, None)
                    },
                    LIMIT,
                )
                .await,
            "HTTP 404",
            &[FILE_KEY],
        );
    }

    async fn app() -> (FakeWecomApp, Bench) {
        let fake = FakeWecomApp::start("ww-media", CORP_SECRET).await;
        let mut endpoints = Endpoints::default();
        endpoints.wecom.api = fake.base.clone();
        let credentials =
            json!({"token": "t0k3n", "encoding_aes_key": AES_KEY, "corp_id": "ww-media", "corp_secret": CORP_SECRET});
        let bench = Bench::new(Platform::Wecom, Webhook, credentials, &endpoints).await;
        (fake, bench)
    }

    #[tokio::test]
    async fn an_app_image_arrives_through_media_get() {
        let (fake, bench) = app().await;
        fake.media.add("MEDIA_1", File::png().named("MEDIA_1.png"));
        let media = reference(MediaKind::Image, Some("http://pic.invalid/x"), Some("MEDIA_1"), None);
        let download = bench.fetch(&media, LIMIT).await.unwrap();
        the_picture(&download);
        assert_eq!(download.name.as_deref(), Some("MEDIA_1.png"));
        assert_eq!(fake.media.downloads("MEDIA_1"), 1);
        assert_eq!(fake.token_requests(), 1);
    }

    #[tokio::test]
    async fn media_get_refusals_and_its_20_mb_are_kept_apart_from_files() {
        let (fake, bench) = app().await;
        refused(
            bench
                .fetch(&reference(MediaKind::Voice, None, Some("EXPIRED"), None), LIMIT)
                .await,
            "40007",
            &[CORP_SECRET, "wecom-token"],
        );
        fake.media.add("HUGE", File::oversized());
        let error = bench
            .fetch(&reference(MediaKind::Video, None, Some("HUGE"), None), u64::MAX)
            .await
            .unwrap_err();
        assert!(matches!(error, MediaError::TooLarge { size: None, limit } if limit == 20 * 1024 * 1024));
        fake.media.add("endless", File::endless());
        cut_off(
            bench
                .fetch(&reference(MediaKind::File, None, Some("endless"), None), LIMIT)
                .await,
            &[CORP_SECRET, "wecom-token"],
        );
    }
}

mod wechat {
    use imgate_channels::wechat::media::seal;

    use super::*;

    const HEX_KEY: &str = "00112233445566778899aabbccddeeff";
    const KEY: [u8; 16] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    ];
    const TOKEN: &str = "wechat-media-bot-token";

    async fn setup() -> (Cdn, Bench) {
        let cdn = Cdn::start().await;
        let mut endpoints = Endpoints::default();
        endpoints.wechat.cdn = cdn.base.clone();
        let bench = Bench::new(
            Platform::Wechat,
            LongConnection,
            json!({"bot_token": TOKEN}),
            &endpoints,
        )
        .await;
        (cdn, bench)
    }

    fn item(handle: &str, aes_key: Option<&str>, size: Option<u64>) -> MediaRef {
        MediaRef {
            aes_key: aes_key.map(str::to_owned),
            ..reference(MediaKind::Image, None, Some(handle), size)
        }
    }

    #[tokio::test]
    async fn a_cdn_file_is_decrypted_whatever_the_key_encoding() {
        let (cdn, bench) = setup().await;
        cdn.library.add("h+/=1", File::new(&[], None).serving(seal(&KEY, PNG)));
        for key in [
            HEX_KEY,
            "MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmY=",
            "ABEiM0RVZneImaq7zN3u/w==",
        ] {
            the_picture(&bench.fetch(&item("h+/=1", Some(key), None), LIMIT).await.unwrap());
        }
        // full_url wins over the handle.
        let url = cdn.add("full", File::new(&[], None).serving(seal(&KEY, PNG)));
        let media = MediaRef {
            url: Some(url),
            ..item("not-this", Some(HEX_KEY), None)
        };
        the_picture(&bench.fetch(&media, LIMIT).await.unwrap());
        // No key: served in clear.
        cdn.library.add("plain", File::png());
        the_picture(&bench.fetch(&item("plain", None, None), LIMIT).await.unwrap());
        assert_eq!(cdn.library.downloads("h+/=1"), 3);
        assert_eq!(cdn.library.downloads("not-this"), 0);
    }

    #[tokio::test]
    async fn the_cap_holds_and_bad_keys_say_so() {
        let (cdn, bench) = setup().await;
        cdn.library.add("big", File::oversized());
        let error = bench
            .fetch(&item("big", Some(HEX_KEY), Some(OVERSIZED)), LIMIT)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            MediaError::TooLarge {
                size: Some(OVERSIZED),
                ..
            }
        ));
        assert_eq!(cdn.library.downloads("big"), 0);
        cdn.library.add("endless", File::endless());
        let error = bench.fetch(&item("endless", None, None), LIMIT).await.unwrap_err();
        assert_eq!(
            error,
            MediaError::TooLarge {
                size: None,
                limit: LIMIT
            }
        );
        let error = bench
            .fetch(&item("big", Some("c2hvcnQ="), None), LIMIT)
            .await
            .unwrap_err();
        assert_eq!(error, MediaError::Decrypt);
        refused(
            bench.fetch(&item("gone", Some(HEX_KEY), None), LIMIT).await,
            "HTTP 404",
            &[HEX_KEY, TOKEN, "gone"],
        );
    }
}

#[tokio::test]
async fn weibo_says_why_nothing_is_downloaded() {
    let bench = Bench::new(
        Platform::Weibo,
        LongConnection,
        json!({"app_id": "1", "app_secret": "weibo-secret"}),
        &Endpoints::default(),
    )
    .await;
    let media = MediaRef {
        name: Some("photo.png".into()),
        mime: Some("image/png".into()),
        ..reference(MediaKind::Image, None, None, Some(68))
    };
    let error = bench.fetch(&media, LIMIT).await.unwrap_err();
    assert!(
        matches!(&error, MediaError::Unsupported(why) if why.contains("no download API")),
        "{error:?}"
    );
}
