//! The built-in echo agent.

use imgate_core::agent::{AgentConfig, EchoConfig};

use crate::common::{agents, call, request};

#[tokio::test]
async fn echoes_word_by_word_with_the_default_prefix() {
    let req = request(AgentConfig::Echo(EchoConfig::default()), "hello  there\nfriend");
    let (outcome, deltas) = call(&agents(), &req).await;
    assert_eq!(outcome, Ok("You said: hello  there\nfriend".to_owned()));
    assert_eq!(deltas, ["You ", "said: ", "hello ", " ", "there\n", "friend"]);
}

#[tokio::test]
async fn echoes_with_a_configured_prefix() {
    let req = request(
        AgentConfig::Echo(EchoConfig {
            prefix: Some("🦜 ".to_owned()),
        }),
        "hi",
    );
    let (outcome, deltas) = call(&agents(), &req).await;
    assert_eq!(outcome, Ok("🦜 hi".to_owned()));
    assert_eq!(deltas.concat(), "🦜 hi");
}
