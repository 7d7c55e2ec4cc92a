//! The inbound media scenarios: a picture a user sends reaches an OpenAI-compatible agent as an
//! image content part (the platform's fake serving it, the platform's fetcher downloading and
//! decrypting it), and one the platform says is larger than the cap is described to the agent
//! without a single download.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imgate_core::ports::Deps;
use serde_json::Value;

use super::{ChatHarness, ChatScenario, Picture, Setup, Stage, Support, agent_body, answered};
use crate::fake_agent::FakeAgent;
use crate::fake_media::PNG;

/// The content of the user's message in the agent's last request.
fn asked(agent: &FakeAgent, harness: &dyn ChatHarness) -> Value {
    let request = agent
        .last_request()
        .unwrap_or_else(|| panic!("{}: the agent was asked", harness.name()));
    request["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .map(|message| message["content"].clone())
        .unwrap_or_default()
}

/// The `image_url` URLs of a message's content parts.
fn image_urls(content: &Value) -> Vec<String> {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter(|part| part["type"] == "image_url")
        .filter_map(|part| part["image_url"]["url"].as_str().map(str::to_owned))
        .collect()
}

/// A stage whose agent is an OpenAI-compatible fake answering `answer`.
async fn stage(deps: Deps, harness: &dyn ChatHarness, answer: &str) -> (Stage, FakeAgent) {
    let agent = FakeAgent::start(&[answer]).await;
    let setup = Setup {
        agent: Some(agent_body("vision", &agent)),
        ..Setup::default()
    };
    (Stage::with(deps, harness, setup).await, agent)
}

/// A picture the user sends reaches the agent as an `image_url` part whose `data:` URL holds
/// exactly the picture's bytes, and the agent's answer is shown.
///
/// # Panics
/// When the mode does not conform.
pub async fn sent_images_reach_the_agent(deps: Deps, harness: &dyn ChatHarness) {
    if let Support::No(reason) = harness.supports(ChatScenario::ImageIn) {
        println!("{}: a picture the user sends: not applicable: {reason}", harness.name());
        return;
    }
    let (stage, agent) = stage(deps, harness, "A one-pixel picture.").await;
    let said = harness
        .say_image(&stage.gateway.base, &stage.integration, Picture::Small)
        .await;
    answered(harness, &said, "the agent's answer", |a| a == "A one-pixel picture.").await;
    let content = asked(&agent, harness);
    let expected = format!("data:image/png;base64,{}", STANDARD.encode(PNG));
    assert_eq!(
        image_urls(&content),
        [expected],
        "{}: the picture as an image part, got {content}",
        harness.name()
    );
    assert!(
        harness.downloads() >= 1,
        "{}: downloaded from the platform",
        harness.name()
    );
}

/// A picture the platform says is larger than the cap is never downloaded: the agent is told
/// it was sent and why it was not fetched.
///
/// # Panics
/// When the mode does not conform.
pub async fn oversized_images_are_described_not_fetched(deps: Deps, harness: &dyn ChatHarness) {
    if let Support::No(reason) = harness.supports(ChatScenario::OversizedImageIn) {
        println!("{}: an oversized picture: not applicable: {reason}", harness.name());
        return;
    }
    let (stage, agent) = stage(deps, harness, "Too big to see.").await;
    let said = harness
        .say_image(&stage.gateway.base, &stage.integration, Picture::Oversized)
        .await;
    answered(harness, &said, "the agent's answer", |a| a == "Too big to see.").await;
    let content = asked(&agent, harness);
    assert!(
        image_urls(&content).is_empty(),
        "{}: no image part: {content}",
        harness.name()
    );
    let text = content.as_str().unwrap_or_default();
    assert!(
        text.contains("not fetched") && text.contains("larger than"),
        "{}: the agent is told why: {text:?}",
        harness.name()
    );
    assert_eq!(harness.downloads(), 0, "{}: never downloaded", harness.name());
}
