//! Outbound media: an image in an agent's Markdown answer (`![chart](<url>)`) arrives at the
//! platform as an image message, and the text around it as text, without the image's Markdown.
//! A mode that cannot show images declares it ([`ChatScenario::ImageOut`]) and must show the
//! image's link instead; nothing is skipped.

use super::{Chat, ChatHarness, ChatScenario, SILENCE, Setup, Stage, agent_body, answered, until};
use crate::conformance::Support;
use crate::fake_agent::FakeAgent;
use crate::image_host::ImageHost;
use imgate_core::ports::Deps;

/// The agent answers "Here:" and a PNG served by a local image host: the platform shows the
/// text and, once, the image as an image message (or, where it cannot, the image's link).
///
/// # Panics
/// When the mode does not conform.
pub async fn images_arrive_as_images(deps: Deps, harness: &dyn ChatHarness) {
    let host = ImageHost::start().await;
    let url = host.png_url();
    let agent = FakeAgent::start(&["Here:\n\n", "![chart](", &url, ")"]).await;
    let setup = Setup {
        agent: Some(agent_body("charts", &agent)),
        ..Setup::default()
    };
    let stage = Stage::with(deps, harness, setup).await;
    let said = stage.say(harness, Chat::Direct, "draw me a chart", false).await;
    match harness.supports(ChatScenario::ImageOut) {
        Support::Yes => {
            until(harness, "the image message", || async {
                !harness.images(&said).await.is_empty()
            })
            .await;
            answered(harness, &said, "the text without the image's Markdown", |a| {
                a.contains("Here:") && !a.contains("![") && !a.contains(&url)
            })
            .await;
            tokio::time::sleep(SILENCE).await;
            assert_eq!(
                harness.images(&said).await.len(),
                1,
                "{}: the image arrives once",
                harness.name()
            );
        }
        Support::No(reason) => {
            println!(
                "{}: image out: not applicable: {reason}; its link is checked instead",
                harness.name()
            );
            answered(harness, &said, "the image's link", |a| {
                a.contains("Here:") && a.contains(&url) && !a.contains("![")
            })
            .await;
            assert!(
                harness.images(&said).await.is_empty(),
                "{}: declared without images, yet images arrived",
                harness.name()
            );
        }
    }
    assert_eq!(agent.calls(), 1, "{}: one agent call", harness.name());
}
