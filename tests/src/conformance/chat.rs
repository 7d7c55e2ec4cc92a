//! The conversation half of the suite: what a user sees. Each mode's [`ChatHarness`] plays a
//! user on its platform's fake (through the webhook or the relay's connection, as the mode
//! receives) and reads back what the chat shows; the scenarios hold every mode to the same
//! answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use imgate_core::Platform;
use imgate_core::ports::{Deps, Queue};
use imgate_core::relay::Connector;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::Support;
use crate::fake_agent::FakeAgent;
use crate::flaky_queue::FlakyQueue;
use crate::gateway::Gateway;
use crate::world::{TestOrg, fast_relay, start_relay};
use imgate_core::relay::RelaySettings;

/// How long an answer may take (an agent failure is retried once after 2 s first).
const ANSWER_WAIT: Duration = Duration::from_secs(15);
/// How long silence is watched for before "no answer" holds.
const SILENCE: Duration = Duration::from_millis(1500);

/// Where a message is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chat {
    /// A direct chat with the bot.
    Direct,
    /// A group chat; `mention` says whether the message addresses the bot.
    Group {
        /// Whether it mentions the bot.
        mention: bool,
    },
}

/// The conversation scenarios, for declarations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatScenario {
    /// A group message that does not address the bot.
    GroupWithoutMention,
    /// A message from another bot.
    FromAnotherBot,
    /// An answer past the platform's size limit.
    LongAnswer,
    /// The platform delivering one message three times.
    Redelivery,
    /// A queue outage on a connection that acknowledges what it takes.
    QueueOutage,
    /// Two relays competing for one bot's connection.
    TwoRelays,
    /// An image in the agent's answer, sent as an image message.
    ImageOut,
    /// A picture the user sends, fetched for the agent.
    ImageIn,
    /// A picture the platform says is larger than the gateway's cap.
    OversizedImageIn,
}

/// A picture a user sends ([`ChatHarness::say_image`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picture {
    /// The test PNG ([`crate::fake_media::PNG`]), which the platform's fake serves.
    Small,
    /// One the platform states is [`crate::fake_media::OVERSIZED`], above the gateway's cap.
    Oversized,
}

/// One platform mode, as a user meets it.
#[async_trait]
pub trait ChatHarness: Send + Sync {
    /// `"<platform>/<mode>"`.
    fn name(&self) -> &'static str;
    /// The platform.
    fn platform(&self) -> Platform;
    /// The admin API body of the bot.
    fn integration(&self) -> Value;
    /// Points the gateway at this harness's fake.
    fn endpoints(&self, endpoints: &mut imgate_channels::Endpoints);
    /// For modes that receive over a connection: the relay's connector for it.
    fn connector(&self, deps: &Deps) -> Option<Arc<dyn Connector>>;
    /// Plays a user's message; returns what finds its answer. `gateway_base` is where the
    /// gateway's webhooks listen.
    async fn say(&self, gateway_base: &str, integration: &str, chat: Chat, text: &str, from_bot: bool) -> String;
    /// What the chat shows as the answer to `said`: every message of it, joined; `None` before
    /// anything is shown.
    async fn answer(&self, said: &str) -> Option<String>;
    /// Plays another direct message, `text`, from the sender of `said` (the same
    /// conversation); returns what finds its answer. By default a direct message: modes whose
    /// direct messages all come from one user.
    async fn say_again_from(&self, gateway_base: &str, integration: &str, said: &str, text: &str) -> String {
        let _ = said;
        self.say(gateway_base, integration, Chat::Direct, text, false).await
    }
    /// Delivers the message of `said` once more, as the platform does when it retries (the same
    /// message, a new delivery); returns what finds the answer from now on.
    async fn again(&self, gateway_base: &str, integration: &str, said: &str) -> String;
    /// Whether the platform counts the delivery of `said` as taken: acknowledged, or its offset
    /// or sequence number confirmed. Asked only of modes that support
    /// [`ChatScenario::QueueOutage`].
    async fn taken(&self, _said: &str) -> bool {
        false
    }
    /// `(connections the platform sees for the bot now, the most at once so far)`. Asked only of
    /// modes that support [`ChatScenario::TwoRelays`].
    fn connections(&self) -> (usize, usize) {
        (0, 0)
    }
    /// Whether the mode can do `scenario`.
    fn supports(&self, _scenario: ChatScenario) -> Support {
        Support::Yes
    }
    /// What identifies each image message the platform received as (part of) the answer to
    /// `said` (its URL, key, handle or digest, as the platform names it), in order. Asked of
    /// every mode by [`images_arrive_as_images`]; a mode that shows no images answers none.
    async fn images(&self, _said: &str) -> Vec<String> {
        Vec::new()
    }
    /// Plays a user sending `picture` in a direct chat, without text; returns what finds its
    /// answer. Asked only of modes that support [`ChatScenario::ImageIn`] (or
    /// [`ChatScenario::OversizedImageIn`]); a mode that cannot send pictures declares it there.
    async fn say_image(&self, _gateway_base: &str, _integration: &str, _picture: Picture) -> String {
        panic!(
            "{} sends no pictures: its harness must declare ImageIn unsupported",
            self.name()
        )
    }
    /// How many times the platform's fake served a picture's file (its download endpoint).
    fn downloads(&self) -> usize {
        0
    }
}

// The outbound media scenarios live in their own file, with this module's stage.
#[path = "chat_media_out.rs"]
mod media_out;
pub use media_out::images_arrive_as_images;

/// A gateway with its worker, the bot bound to its agent, and the relays of connection modes.
struct Stage {
    gateway: Gateway,
    integration: String,
    /// The relays' shutdown switches (sending `true` stops one, as a deploy does).
    relays: Vec<watch::Sender<bool>>,
}

/// How a stage is set up.
struct Setup {
    /// The agent's admin API body; the org's echo agent when `None`.
    agent: Option<Value>,
    /// Relays for connection modes.
    relays: usize,
    /// The queue the relays enqueue to; the deps' queue when `None`.
    relay_queue: Option<Arc<dyn Queue>>,
    /// The trigger's settings besides its agent.
    trigger: Value,
    /// Agents (admin API bodies) a conversation may move to with `/switch`.
    others: Vec<Value>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            agent: None,
            relays: 1,
            relay_queue: None,
            trigger: json!({}),
            others: Vec::new(),
        }
    }
}

impl Stage {
    async fn new(deps: Deps, harness: &dyn ChatHarness) -> Self {
        Self::with(deps, harness, Setup::default()).await
    }

    async fn with(deps: Deps, harness: &dyn ChatHarness, setup: Setup) -> Self {
        let mut endpoints = imgate_channels::Endpoints::default();
        harness.endpoints(&mut endpoints);
        let org = TestOrg::create(&deps).await;
        let agent = match setup.agent {
            Some(body) => org.agent(body).await,
            None => org.echo_agent_id.clone(),
        };
        let mut trigger = setup.trigger;
        let mut others = Vec::new();
        for body in setup.others {
            others.push(org.agent(body).await);
        }
        if !others.is_empty() {
            trigger["agents"] = json!(others);
        }
        let integration = org.bot(harness.integration(), Some(&agent), trigger).await;
        let gateway = Gateway::start_with(deps.clone(), 2, true, &endpoints).await;
        let queue = setup.relay_queue.unwrap_or_else(|| deps.queue.clone());
        let relays = (0..setup.relays)
            .filter_map(|n| {
                harness.connector(&deps).map(|connector| {
                    start_relay(
                        &deps,
                        queue.clone(),
                        harness.platform(),
                        connector,
                        RelaySettings {
                            // Room for a busy test machine: a late renewal must not let the
                            // other relay in while this one still holds the connection. A
                            // stopping relay releases its lease, so takeovers stay quick.
                            lease_ttl: Duration::from_secs(3),
                            renew_every: Duration::from_millis(300),
                            ..fast_relay(&format!("relay-conformance-{n}"))
                        },
                    )
                })
            })
            .collect();
        Self {
            gateway,
            integration: integration.to_string(),
            relays,
        }
    }

    async fn again(&self, harness: &dyn ChatHarness, said: &str) -> String {
        harness.again(&self.gateway.base, &self.integration, said).await
    }

    async fn say(&self, harness: &dyn ChatHarness, chat: Chat, text: &str, from_bot: bool) -> String {
        harness
            .say(&self.gateway.base, &self.integration, chat, text, from_bot)
            .await
    }
}

/// The admin API body of an agent served by `agent`.
fn agent_body(name: &str, agent: &FakeAgent) -> Value {
    json!({"name": name, "kind": "openai_compatible",
        "config": {"base_url": agent.base_url, "model": "m", "api_key": "sk-test", "timeout_seconds": 5}})
}

/// Waits until `check` holds.
async fn until<F, Fut>(harness: &dyn ChatHarness, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: timed out waiting for {what}",
            harness.name()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the answer to `said` satisfies `check`.
async fn answered(harness: &dyn ChatHarness, said: &str, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    loop {
        let seen = harness.answer(said).await;
        if seen.as_deref().is_some_and(&check) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: timed out waiting for {what}; the chat shows {seen:?}",
            harness.name()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Holds that nothing answers `said` for a while.
async fn silent(harness: &dyn ChatHarness, said: &str, what: &str) {
    tokio::time::sleep(SILENCE).await;
    assert_eq!(harness.answer(said).await, None, "{}: {what}", harness.name());
}

/// A text message is answered with exactly the agent's answer, HTML-like text intact.
///
/// # Panics
/// When the mode does not conform.
pub async fn text_is_answered(deps: Deps, harness: &dyn ChatHarness) {
    let stage = Stage::new(deps, harness).await;
    let said = stage.say(harness, Chat::Direct, "hello <b>world</b> & co", false).await;
    answered(harness, &said, "the echo", |a| a == "You said: hello <b>world</b> & co").await;
}

/// A failing agent gets an honest answer that shows the way to a new conversation.
///
/// # Panics
/// When the mode does not conform.
pub async fn agent_failure_is_honest(deps: Deps, harness: &dyn ChatHarness) {
    let agent = FakeAgent::start(&["never"]).await;
    agent.set_down(true);
    let setup = Setup {
        agent: Some(agent_body("down", &agent)),
        ..Setup::default()
    };
    let stage = Stage::with(deps, harness, setup).await;
    let said = stage.say(harness, Chat::Direct, "are you there?", false).await;
    answered(harness, &said, "an honest failure", |a| {
        let lower = a.to_lowercase();
        lower.contains("agent failed") && (lower.contains("new conversation") || a.contains("/new"))
    })
    .await;
    assert_eq!(
        agent.calls(),
        2,
        "{}: tried as often as the queue allows",
        harness.name()
    );
}

/// In a group only a message that addresses the bot is answered.
///
/// # Panics
/// When the mode does not conform.
pub async fn groups_answer_only_mentions(deps: Deps, harness: &dyn ChatHarness) {
    if let Support::No(reason) = harness.supports(ChatScenario::GroupWithoutMention) {
        println!("{}: group without a mention: not applicable: {reason}", harness.name());
        return;
    }
    let stage = Stage::new(deps, harness).await;
    let quiet = stage
        .say(harness, Chat::Group { mention: false }, "just chatting", false)
        .await;
    let asked = stage
        .say(harness, Chat::Group { mention: true }, "over here", false)
        .await;
    answered(harness, &asked, "the mention answered", |a| a == "You said: over here").await;
    silent(harness, &quiet, "a group message without a mention is not answered").await;
}

/// `/help`, `/status` and `/new` are the gateway's own answers.
///
/// # Panics
/// When the mode does not conform.
pub async fn commands_are_answered(deps: Deps, harness: &dyn ChatHarness) {
    let stage = Stage::new(deps, harness).await;
    for (command, expected) in [
        ("/help", "Commands:"),
        ("/status", "Agent: echo"),
        ("/new", "Started a new conversation"),
    ] {
        let said = stage.say(harness, Chat::Direct, command, false).await;
        answered(harness, &said, command, |a| a.contains(expected)).await;
    }
}

/// `/cancel` stops the answer in progress: what was shown is finished as stopped, the rest of
/// the agent's answer never arrives, and `/cancel` says it stopped something.
///
/// # Panics
/// When the mode does not conform.
pub async fn cancel_stops_the_answer(deps: Deps, harness: &dyn ChatHarness) {
    let mut chunks = vec!["Thinking it over"];
    chunks.extend(std::iter::repeat_n(".", 40));
    chunks.push(" THE END");
    let agent = FakeAgent::start_paced(&chunks, Duration::from_millis(250)).await;
    let mut body = agent_body("slow", &agent);
    body["config"]["timeout_seconds"] = json!(60);
    let setup = Setup {
        agent: Some(body),
        ..Setup::default()
    };
    let stage = Stage::with(deps, harness, setup).await;
    let said = stage.say(harness, Chat::Direct, "a long question", false).await;
    until(harness, "the agent to start answering", || async {
        agent.timings().first().is_some_and(|t| t.first_chunk.is_some())
    })
    .await;
    let cancel = harness
        .say_again_from(&stage.gateway.base, &stage.integration, &said, "/cancel")
        .await;
    answered(harness, &said, "the answer finished as stopped", |a| {
        a.contains("(stopped / 已停止)")
    })
    .await;
    // (Where replies go to the user rather than to a message, this is both answers.)
    answered(harness, &cancel, "/cancel's answer", |a| a.contains("Stopped.")).await;
    let shown = harness.answer(&said).await.unwrap_or_default();
    assert!(
        shown.starts_with("Thinking it over") && !shown.contains("THE END"),
        "{}: the rest of the answer never arrives: {shown}",
        harness.name()
    );
}

/// Under the `interrupt` busy policy a second message stops the running answer, and the two
/// are answered together: one agent call with both questions, its answer to the second.
///
/// # Panics
/// When the mode does not conform.
pub async fn interrupt_answers_both_together(deps: Deps, harness: &dyn ChatHarness) {
    let (agent, stage, first) = busy_stage(deps, harness, "interrupt").await;
    let second = harness
        .say_again_from(&stage.gateway.base, &stage.integration, &first, "and another thing")
        .await;
    answered(harness, &first, "the first answer finished as stopped", |a| {
        a.contains("(stopped / 已停止)")
    })
    .await;
    answered(harness, &second, "the answer to both", |a| a.contains("THE END")).await;
    let asked: Vec<String> = agent.timings().into_iter().map(|t| t.text).collect();
    assert_eq!(
        asked,
        ["a long question", "a long question\nand another thing"],
        "{}: the interrupted question is asked again with the new one",
        harness.name()
    );
}

/// Under the `collect` busy policy the running answer ends normally, and the messages that
/// arrived meanwhile are answered together in one agent call, as a reply to the last of them.
///
/// # Panics
/// When the mode does not conform.
pub async fn collect_answers_what_arrived_meanwhile(deps: Deps, harness: &dyn ChatHarness) {
    let (agent, stage, first) = busy_stage(deps, harness, "collect").await;
    let mut last = String::new();
    for text in ["second", "third"] {
        last = harness
            .say_again_from(&stage.gateway.base, &stage.integration, &first, text)
            .await;
    }
    answered(harness, &first, "the first answer, whole", |a| a.contains("THE END")).await;
    answered(harness, &last, "the answer to both, on the last", |a| {
        a.contains("THE END")
    })
    .await;
    until(harness, "one more agent call with both messages", || async {
        agent.timings().len() >= 2
    })
    .await;
    tokio::time::sleep(SILENCE).await;
    let asked: Vec<String> = agent.timings().into_iter().map(|t| t.text).collect();
    assert_eq!(
        asked,
        ["a long question", "second\nthird"],
        "{}: what arrived meanwhile is asked in one call",
        harness.name()
    );
}

/// A stage whose trigger has busy policy `policy` and whose agent's first answer takes a few
/// seconds (later ones come at once), with that first answer under way.
async fn busy_stage(deps: Deps, harness: &dyn ChatHarness, policy: &str) -> (FakeAgent, Stage, String) {
    let mut chunks = vec!["Thinking it over"];
    chunks.extend(std::iter::repeat_n(".", 16));
    chunks.push(" THE END");
    let agent = FakeAgent::start_slow_first(&chunks, Duration::from_millis(250)).await;
    let mut body = agent_body("slow", &agent);
    body["config"]["timeout_seconds"] = json!(60);
    let setup = Setup {
        agent: Some(body),
        trigger: json!({ "busyPolicy": policy }),
        ..Setup::default()
    };
    let stage = Stage::with(deps, harness, setup).await;
    let first = stage.say(harness, Chat::Direct, "a long question", false).await;
    until(harness, "the agent to start answering", || async {
        agent.timings().first().is_some_and(|t| t.first_chunk.is_some())
    })
    .await;
    (agent, stage, first)
}

/// `/switch` lists the trigger's agents and moves the conversation to another one, which
/// answers from then on.
///
/// # Panics
/// When the mode does not conform.
pub async fn switch_moves_the_conversation(deps: Deps, harness: &dyn ChatHarness) {
    let backup = FakeAgent::start(&["Backup here"]).await;
    let setup = Setup {
        others: vec![agent_body("backup", &backup)],
        ..Setup::default()
    };
    let stage = Stage::with(deps, harness, setup).await;
    let listed = stage.say(harness, Chat::Direct, "/switch", false).await;
    answered(harness, &listed, "the agents listed", |a| {
        a.contains("echo") && a.contains("backup")
    })
    .await;
    let again = |text: &'static str| harness.say_again_from(&stage.gateway.base, &stage.integration, &listed, text);
    let switched = again("/switch backup").await;
    answered(harness, &switched, "the move", |a| a.contains("Now talking to backup")).await;
    let asked = again("hello").await;
    answered(harness, &asked, "the other agent's answer", |a| {
        a.contains("Backup here")
    })
    .await;
    assert_eq!(backup.calls(), 1, "{}: the backup agent answered", harness.name());
}

/// A sender outside the trigger's allowlist is told once, politely, and then not again.
///
/// # Panics
/// When the mode does not conform.
pub async fn strangers_are_told_once(deps: Deps, harness: &dyn ChatHarness) {
    let setup = Setup {
        trigger: json!({ "allowedUsers": ["only-the-boss"] }),
        ..Setup::default()
    };
    let stage = Stage::with(deps, harness, setup).await;
    let first = stage.say(harness, Chat::Direct, "hello", false).await;
    answered(harness, &first, "the refusal", |a| a.contains("not on its list")).await;
    let told = harness.answer(&first).await;
    let second = harness
        .say_again_from(&stage.gateway.base, &stage.integration, &first, "hello?")
        .await;
    tokio::time::sleep(SILENCE).await;
    let shown = harness.answer(&second).await;
    // Where replies go to the user rather than to a message, the chat still shows one refusal.
    assert!(
        shown.is_none() || shown == told,
        "{}: told only once: {shown:?}",
        harness.name()
    );
}

/// Another bot's message is never answered.
///
/// # Panics
/// When the mode does not conform.
pub async fn other_bots_are_ignored(deps: Deps, harness: &dyn ChatHarness) {
    if let Support::No(reason) = harness.supports(ChatScenario::FromAnotherBot) {
        println!("{}: messages from other bots: not applicable: {reason}", harness.name());
        return;
    }
    let stage = Stage::new(deps, harness).await;
    let from_bot = stage.say(harness, Chat::Direct, "beep", true).await;
    let person = stage.say(harness, Chat::Direct, "and a person", false).await;
    answered(harness, &person, "the person answered", |a| {
        a == "You said: and a person"
    })
    .await;
    silent(harness, &from_bot, "another bot's message is not answered").await;
}

/// An answer of about 28,000 characters, past every platform's limit for one message or card,
/// arrives whole across several.
///
/// # Panics
/// When the mode does not conform.
pub async fn long_answers_arrive_whole(deps: Deps, harness: &dyn ChatHarness) {
    if let Support::No(reason) = harness.supports(ChatScenario::LongAnswer) {
        println!("{}: long answer: not applicable: {reason}", harness.name());
        return;
    }
    let stage = Stage::new(deps, harness).await;
    let text: String = (0..4600)
        .map(|i| format!("w{i} "))
        .collect::<String>()
        .trim_end()
        .to_owned();
    let said = stage.say(harness, Chat::Direct, &text, false).await;
    let expected = format!("You said: {text}");
    answered(harness, &said, "the whole long answer", |a| a == expected).await;
}

/// A message the platform delivers three times is answered once, by one agent call.
///
/// # Panics
/// When the mode does not conform.
pub async fn delivered_three_times_answered_once(deps: Deps, harness: &dyn ChatHarness) {
    if let Support::No(reason) = harness.supports(ChatScenario::Redelivery) {
        println!("{}: delivered three times: not applicable: {reason}", harness.name());
        return;
    }
    let agent = FakeAgent::start(&["Answered once."]).await;
    let setup = Setup {
        agent: Some(agent_body("once", &agent)),
        ..Setup::default()
    };
    let stage = Stage::with(deps, harness, setup).await;
    let first = stage.say(harness, Chat::Direct, "only once please", false).await;
    let second = stage.again(harness, &first).await;
    let said = stage.again(harness, &second).await;
    answered(harness, &said, "the answer", |a| a == "Answered once.").await;
    tokio::time::sleep(SILENCE).await;
    assert_eq!(
        harness.answer(&said).await.as_deref(),
        Some("Answered once."),
        "{}: shown once",
        harness.name()
    );
    assert_eq!(agent.calls(), 1, "{}: one agent call", harness.name());
}

/// While the queue is down a connection takes nothing, so the platform keeps the message and
/// delivers it again; once the queue is back it is taken and answered once.
///
/// # Panics
/// When the mode does not conform.
pub async fn taken_only_after_the_enqueue(deps: Deps, harness: &dyn ChatHarness) {
    if let Support::No(reason) = harness.supports(ChatScenario::QueueOutage) {
        println!("{}: queue outage: not applicable: {reason}", harness.name());
        return;
    }
    let down = Arc::new(AtomicBool::new(false));
    let queue: Arc<dyn Queue> = Arc::new(FlakyQueue::new(deps.queue.clone(), down.clone()));
    let setup = Setup {
        relay_queue: Some(queue),
        ..Setup::default()
    };
    let stage = Stage::with(deps, harness, setup).await;
    down.store(true, Ordering::SeqCst);
    let said = stage.say(harness, Chat::Direct, "during an outage", false).await;
    tokio::time::sleep(SILENCE).await;
    assert!(
        !harness.taken(&said).await,
        "{}: taken while the queue is down",
        harness.name()
    );
    assert_eq!(
        harness.answer(&said).await,
        None,
        "{}: answered while the queue is down",
        harness.name()
    );

    down.store(false, Ordering::SeqCst);
    let said = stage.again(harness, &said).await;
    let expected = "You said: during an outage";
    answered(harness, &said, "the answer after the outage", |a| a == expected).await;
    until(harness, "the delivery taken", || harness.taken(&said)).await;
    tokio::time::sleep(SILENCE).await;
    assert_eq!(
        harness.answer(&said).await.as_deref(),
        Some(expected),
        "{}: answered once",
        harness.name()
    );
}

/// Two relays hold one connection between them, and when one stops the other carries on.
///
/// # Panics
/// When the mode does not conform.
pub async fn two_relays_hold_one_connection(deps: Deps, harness: &dyn ChatHarness) {
    if let Support::No(reason) = harness.supports(ChatScenario::TwoRelays) {
        println!("{}: two relays: not applicable: {reason}", harness.name());
        return;
    }
    let setup = Setup {
        relays: 2,
        ..Setup::default()
    };
    let mut stage = Stage::with(deps, harness, setup).await;
    until(harness, "a connection", || async { harness.connections().0 == 1 }).await;
    tokio::time::sleep(SILENCE).await;
    assert_eq!(
        harness.connections(),
        (1, 1),
        "{}: one connection, never two",
        harness.name()
    );
    let said = stage.say(harness, Chat::Direct, "which relay?", false).await;
    answered(harness, &said, "the answer", |a| a == "You said: which relay?").await;

    // One relay stops (a deploy, a scale-in): the bot stays connected and answered.
    let stopped = stage.relays.remove(0);
    let _ = stopped.send(true);
    tokio::time::sleep(SILENCE).await;
    until(harness, "a connection after one relay stopped", || async {
        harness.connections().0 == 1
    })
    .await;
    let said = stage.say(harness, Chat::Direct, "still there?", false).await;
    answered(harness, &said, "the answer after one relay stopped", |a| {
        a == "You said: still there?"
    })
    .await;
}

// The inbound media scenarios live in their own file, with this module's stage.
#[path = "chat_media_in.rs"]
mod media_in;
pub use media_in::{oversized_images_are_described_not_fetched, sent_images_reach_the_agent};
