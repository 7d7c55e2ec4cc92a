//! An answer's images, replier by replier, against the platform fakes on the embedded store:
//! each image arrives as an image message once however often the answer is finished (a
//! redelivered queue message opens and finishes it again), and an image the platform cannot
//! get (a page that is not an image) arrives as its link, the answer's text intact.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use imgate_channels::{Channels, Endpoints};
use imgate_core::credentials::{self, Credentials};
use imgate_core::event::ReplyContext;
use imgate_core::ports::{Deps, Replier, ReplyTarget};
use imgate_core::secret::Secret;
use imgate_core::testing::reply_target;
use imgate_core::{IntegrationId, Platform, Timestamp};
use imgate_tests::fake_dingtalk::FakeDingtalk;
use imgate_tests::fake_discord::FakeDiscord;
use imgate_tests::fake_lark::FakeLark;
use imgate_tests::fake_telegram::FakeTelegram;
use imgate_tests::fake_wechat::FakeWechat;
use imgate_tests::image_host::ImageHost;

/// The platform's replier on `deps`, its API at `endpoints`.
fn replier(deps: &Deps, endpoints: &Endpoints, platform: Platform) -> Arc<dyn Replier> {
    Channels::new(deps, &reqwest::Client::new(), endpoints)
        .iter()
        .find(|c| c.platform == platform)
        .map(|c| c.replier.clone())
        .unwrap()
}

/// A direct message `id` on `platform`, answered through `reply`.
fn target(platform: Platform, credentials: Credentials, reply: ReplyContext, id: &str) -> ReplyTarget {
    reply_target(
        platform,
        &IntegrationId::generate(),
        credentials,
        reply,
        id,
        Timestamp::now(),
    )
}

/// "Here:", a PNG and a page that is not an image.
fn answer(host: &ImageHost) -> String {
    format!("Here:\n\n![chart]({})\n\n![page]({})", host.png_url(), host.page_url())
}

/// Finishes the answer to `target` twice, as a redelivery does.
async fn finish_twice(replier: &Arc<dyn Replier>, target: &ReplyTarget, text: &str) {
    for _ in 0..2 {
        let mut reply = replier.open(target.clone()).await.unwrap();
        reply.finish(text).await.unwrap();
    }
}

#[tokio::test]
async fn telegram_sends_a_photo_once_and_the_link_of_one_it_cannot_get() {
    let deps = imgate_tests::world::embedded_deps(2).await;
    let host = ImageHost::start().await;
    let fake = FakeTelegram::start("1:tok").await;
    let mut endpoints = Endpoints::default();
    endpoints.telegram.api = fake.base.clone();
    let credentials = Credentials::Telegram(credentials::Telegram {
        bot_token: Secret::new("1:tok"),
        secret_token: None,
    });
    let reply = ReplyContext::Telegram {
        chat_id: 4001,
        message_id: 55,
        message_thread_id: None,
    };
    let target = target(Platform::Telegram, credentials, reply, "tg-1");
    finish_twice(&replier(&deps, &endpoints, Platform::Telegram), &target, &answer(&host)).await;
    let photos: Vec<String> = fake.photos_answering(55).into_iter().map(|p| p.url).collect();
    assert_eq!(photos, [host.png_url()]);
    let texts: Vec<String> = fake
        .calls_of("sendMessage")
        .iter()
        .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts.len(), 2, "the text and the refused photo's link: {texts:?}");
    assert_eq!(texts[0], "Here:");
    assert!(texts[1].contains(&host.page_url()), "{texts:?}");
    assert_eq!(fake.calls_of("sendPhoto").len(), 2, "no photo is tried again");
}

#[tokio::test]
async fn discord_embeds_each_image_once() {
    let deps = imgate_tests::world::embedded_deps(2).await;
    let host = ImageHost::start().await;
    let fake = FakeDiscord::start("discord-token").await;
    let mut endpoints = Endpoints::default();
    endpoints.discord.api = fake.base.clone();
    let credentials = Credentials::Discord(credentials::Discord {
        application_id: "app-1".into(),
        public_key: "00".into(),
        bot_token: Secret::new("discord-token"),
    });
    let reply = ReplyContext::Discord {
        channel_id: "chan-1".into(),
        message_id: Some("m-1".into()),
        interaction_token: None,
        guild_id: None,
    };
    let target = target(Platform::Discord, credentials, reply, "dc-1");
    let text = format!("Here:\n\n![chart]({})", host.png_url());
    finish_twice(&replier(&deps, &endpoints, Platform::Discord), &target, &text).await;
    let shown = fake.answer_to("chan-1", "m-1");
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(shown[0].content, "Here:");
    let embedded: Vec<String> = fake.embedded_images().into_iter().map(|e| e.url).collect();
    assert_eq!(embedded, [host.png_url()]);
}

#[tokio::test]
async fn lark_uploads_and_sends_each_image_once_and_keeps_a_link_for_one_it_cannot_get() {
    let deps = imgate_tests::world::embedded_deps(2).await;
    let host = ImageHost::start().await;
    let fake = FakeLark::start("cli_app", "app-secret").await;
    fake.note_message("om_user_1", "oc_chat_1");
    let endpoints = Endpoints {
        lark: imgate_channels::lark::Endpoints::single(&fake.base),
        ..Endpoints::default()
    };
    let credentials = Credentials::Lark(credentials::Lark {
        app_id: "cli_app".into(),
        app_secret: Secret::new("app-secret"),
        verification_token: None,
        encrypt_key: None,
        domain: credentials::LarkDomain::default(),
    });
    let reply = ReplyContext::Lark {
        message_id: "om_user_1".into(),
        chat_id: "oc_chat_1".into(),
        root_id: None,
    };
    let target = target(Platform::Lark, credentials, reply, "lark-1");
    finish_twice(&replier(&deps, &endpoints, Platform::Lark), &target, &answer(&host)).await;
    assert_eq!(fake.images_replying_to("om_user_1").len(), 1);
    let texts: Vec<String> = fake
        .sent()
        .iter()
        .filter(|m| m.reply_to.as_deref() == Some("om_user_1"))
        .filter_map(imgate_tests::fake_lark::SentMessage::text)
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with("Here:") && texts[0].contains(&host.page_url()),
        "{texts:?}"
    );
    assert!(!texts[0].contains(&host.png_url()));
}

#[tokio::test]
async fn dingtalk_posts_each_image_once() {
    let deps = imgate_tests::world::embedded_deps(2).await;
    let host = ImageHost::start().await;
    let fake = FakeDingtalk::start("ding-client", "ding-secret").await;
    let endpoints = Endpoints {
        dingtalk: fake.endpoints(),
        ..Endpoints::default()
    };
    let credentials = Credentials::Dingtalk(credentials::Dingtalk {
        client_id: "ding-client".into(),
        client_secret: Secret::new("ding-secret"),
        robot_code: "ding-client".into(),
        card_template_id: None,
    });
    let reply = ReplyContext::Dingtalk {
        session_webhook: Some(format!("{}/robot/sendBySession?session=s1", fake.base)),
        session_webhook_expires_at: Some(Timestamp::now().plus(Duration::from_secs(3600))),
        conversation_id: "cidSingle==".into(),
        sender_staff_id: Some("staff-1".into()),
    };
    let target = target(Platform::Dingtalk, credentials, reply, "ding-1");
    let text = format!("Here:\n\n![chart]({})", host.png_url());
    finish_twice(&replier(&deps, &endpoints, Platform::Dingtalk), &target, &text).await;
    let posts = fake.session_posts("s1");
    assert_eq!(posts.len(), 2, "{posts:#?}");
    assert_eq!(posts[0]["markdown"]["text"], "Here:");
    assert_eq!(posts[1]["markdown"]["text"], format!("![chart]({})", host.png_url()));
}

#[tokio::test]
async fn wechat_uploads_each_image_once_and_keeps_a_link_for_one_it_cannot_get() {
    let deps = imgate_tests::world::embedded_deps(2).await;
    let host = ImageHost::start().await;
    let fake = FakeWechat::start(Some("wx-token")).await;
    let endpoints = Endpoints {
        wechat: imgate_channels::wechat::Endpoints::at(&fake.base),
        ..Endpoints::default()
    };
    let user = "o9cq80user@im.wechat";
    let id = fake.push_text(user, "draw me a chart");
    let credentials = Credentials::Wechat(credentials::Wechat {
        bot_token: Some(Secret::new("wx-token")),
        base_url: Some(fake.base.clone()),
        bot_id: Some("bot@im.bot".into()),
        owner_user_id: None,
    });
    let reply = ReplyContext::Wechat {
        to_user_id: user.into(),
        context_token: Some(Secret::new(format!("ctx-{id}"))),
    };
    let target = target(Platform::Wechat, credentials, reply, "wx-1");
    finish_twice(&replier(&deps, &endpoints, Platform::Wechat), &target, &answer(&host)).await;
    let images = fake.images_answering(id);
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0].size, imgate_tests::image_host::PNG.len());
    let texts = fake.answer_to(id);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0], format!("Here:\n\n[page]({})", host.page_url()));
}
