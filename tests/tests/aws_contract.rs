//! The port contracts of `imgate_core::testing`, run against the AWS adapters on moto's server.
//!
//! Each store test gets its own table and each queue test its own FIFO queue + dead-letter queue
//! and delay queue + dead-letter queue, so the tests run in parallel on the one shared server.

use std::time::Duration;

use anyhow::{Context, Result};
use imgate_aws::{
    DynamoStore, KmsKeyring, SqsQueue, create_delay_queue_with_dlq, create_fifo_queue_with_dlq, create_table,
};
use imgate_core::keyring::Keyring;
use imgate_core::keyring::{KeyringError, SealedSecret};
use imgate_core::ports::{
    AggregationStore, CachedToken, Delivery, MAX_QUEUE_DELAY, OutgoingMessage, Queue, QueueError, StreamState,
    StreamStore, TokenCache, UserDirectory,
};
use imgate_core::testing;
use imgate_core::{IntegrationId, UserId};
use imgate_tests::moto::{MotoServer, unique_name};

/// Receives before SQS moves a message to the dead-letter queue.
const MAX_RECEIVES: u32 = 3;
/// A visibility timeout no test outlasts.
const LONG: Duration = Duration::from_secs(60);

async fn fresh_store() -> Result<DynamoStore> {
    let config = MotoServer::shared().sdk_config();
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique_name("imgate-contract");
    create_table(&client, &table)
        .await
        .with_context(|| format!("create table {table}"))?;
    Ok(DynamoStore::new(client, table))
}

async fn fresh_queue() -> Result<SqsQueue> {
    let config = MotoServer::shared().sdk_config();
    let client = aws_sdk_sqs::Client::new(&config);
    let name = unique_name("imgate-contract");
    let (queue_url, dlq_url) = create_fifo_queue_with_dlq(&client, &name, MAX_RECEIVES)
        .await
        .with_context(|| format!("create queue {name}"))?;
    let (delay_url, delay_dlq_url) = create_delay_queue_with_dlq(&client, &name, MAX_RECEIVES)
        .await
        .with_context(|| format!("create delay queue {name}"))?;
    Ok(SqsQueue::new(client, queue_url, dlq_url, delay_url).with_delay_dead_letter_queue(delay_dlq_url))
}

#[tokio::test]
async fn orgs_and_api_keys() -> Result<()> {
    testing::orgs_and_api_keys(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn integrations() -> Result<()> {
    testing::integrations(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn integration_statuses() -> Result<()> {
    testing::integration_statuses(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn long_connection_integrations() -> Result<()> {
    testing::long_connection_integrations(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn agents() -> Result<()> {
    testing::agents(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn triggers() -> Result<()> {
    testing::triggers(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn sessions() -> Result<()> {
    testing::sessions(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn session_listing() -> Result<()> {
    testing::session_listing(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn dedupe() -> Result<()> {
    testing::dedupe(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn leases() -> Result<()> {
    testing::leases(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn event_log() -> Result<()> {
    testing::event_log(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn event_log_keyed_sets() -> Result<()> {
    testing::event_log_keyed_sets(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn user_directory() -> Result<()> {
    testing::user_directory(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn history() -> Result<()> {
    testing::history(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn aggregation() -> Result<()> {
    testing::aggregation(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn streams() -> Result<()> {
    testing::streams(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn tokens() -> Result<()> {
    testing::tokens(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn dead_letters() -> Result<()> {
    testing::dead_letters(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn whole_store_contract_on_one_table() -> Result<()> {
    // The contracts generate their own ids, so they also pass side by side on one table.
    testing::store_contract(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn queue_fifo_per_group() -> Result<()> {
    testing::queue_fifo_per_group(&fresh_queue().await?).await;
    Ok(())
}

#[tokio::test]
async fn queue_dedupe_id() -> Result<()> {
    testing::queue_dedupe_id(&fresh_queue().await?).await;
    Ok(())
}

#[tokio::test]
async fn queue_visibility_and_retry() -> Result<()> {
    testing::queue_visibility_and_retry(&fresh_queue().await?).await;
    Ok(())
}

#[tokio::test]
async fn queue_heartbeat() -> Result<()> {
    testing::queue_heartbeat(&fresh_queue().await?).await;
    Ok(())
}

#[tokio::test]
async fn queue_dead_letters() -> Result<()> {
    testing::queue_dead_letters(&fresh_queue().await?, MAX_RECEIVES).await;
    Ok(())
}

#[tokio::test]
async fn queue_delayed() -> Result<()> {
    testing::queue_delayed(&fresh_queue().await?).await;
    Ok(())
}

#[tokio::test]
async fn unknown_receipts_are_reported() -> Result<()> {
    let queue = fresh_queue().await?;
    // No queue prefix, and well-formed prefixes with handles SQS does not know.
    for receipt in [
        "not-a-receipt",
        "fifo:not-a-receipt",
        "delay:not-a-receipt",
        "fifo-dlq:nope",
    ] {
        let err = queue.ack(receipt).await.expect_err("bogus receipt");
        assert!(matches!(err, QueueError::UnknownReceipt), "ack of {receipt}: {err:?}");
        let err = queue
            .retry_later(receipt, Duration::ZERO)
            .await
            .expect_err("bogus receipt");
        assert!(matches!(err, QueueError::UnknownReceipt), "retry of {receipt}: {err:?}");
    }
    Ok(())
}

#[tokio::test]
async fn delays_beyond_fifteen_minutes_are_rejected() -> Result<()> {
    let queue = fresh_queue().await?;
    let err = queue
        .enqueue_delayed("{}", MAX_QUEUE_DELAY + Duration::from_secs(1))
        .await
        .expect_err("too long");
    assert!(matches!(err, QueueError::Rejected(_)), "{err:?}");
    queue
        .enqueue_delayed("{}", MAX_QUEUE_DELAY)
        .await
        .context("the longest delay is accepted")?;
    Ok(())
}

/// Receives until `want` messages arrived or a few empty polls passed.
async fn receive_some(queue: &SqsQueue, want: usize, dead: bool) -> Result<Vec<Delivery>> {
    let mut got = Vec::new();
    for _ in 0..15 {
        if got.len() >= want {
            break;
        }
        let batch = if dead {
            queue.receive_dead_letters(want - got.len(), LONG).await?
        } else {
            queue.receive(want - got.len(), LONG).await?
        };
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        got.extend(batch);
    }
    Ok(got)
}

#[tokio::test]
async fn timer_messages_share_receive_batches_and_have_their_own_dead_letters() -> Result<()> {
    let queue = fresh_queue().await?;
    queue.enqueue_delayed("timer", Duration::ZERO).await?;
    queue
        .enqueue(&OutgoingMessage {
            group: "g".into(),
            dedupe_id: "m1".into(),
            body: "inbound".into(),
        })
        .await?;
    let both = receive_some(&queue, 2, false).await?;
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(both[0].body, "inbound", "the FIFO queue comes first");
    assert!(both[0].receipt.starts_with("fifo:"));
    assert_eq!(both[1].body, "timer");
    assert_eq!(both[1].group, "");
    assert!(both[1].receipt.starts_with("delay:"));
    queue.ack(&both[0].receipt).await?;

    // A timer that keeps failing moves to the delay queue's dead-letter queue.
    let mut timer = both[1].clone();
    for attempt in 1..=MAX_RECEIVES {
        assert_eq!(timer.receive_count, attempt);
        queue.retry_later(&timer.receipt, Duration::ZERO).await?;
        if attempt < MAX_RECEIVES {
            timer = receive_some(&queue, 1, false)
                .await?
                .pop()
                .with_context(|| format!("attempt {}", attempt + 1))?;
        }
    }
    assert!(
        receive_some(&queue, 1, false).await?.is_empty(),
        "gone from the delay queue"
    );
    let dead = receive_some(&queue, 1, true).await?;
    assert_eq!(dead.len(), 1, "in the delay dead-letter queue");
    assert_eq!(dead[0].body, "timer");
    assert_eq!(dead[0].group, "");
    assert!(dead[0].receipt.starts_with("delay-dlq:"), "{}", dead[0].receipt);
    queue.ack(&dead[0].receipt).await.context("ack a dead letter")?;
    Ok(())
}

#[tokio::test]
async fn expired_buffers_and_streams_are_replaced() -> Result<()> {
    use imgate_core::event::{
        Conversation, ConversationKind, InboundEvent, InboundKind, Message, ReplyContext, Sender,
    };
    let store = fresh_store().await?;
    let event = InboundEvent {
        event_id: "m1".into(),
        platform: imgate_core::platform::Platform::Wecom,
        integration_id: IntegrationId::generate(),
        conversation: Conversation {
            id: "c".into(),
            kind: ConversationKind::Direct,
            thread_id: None,
            name: None,
        },
        sender: Sender {
            id: "u".into(),
            name: None,
            is_bot: false,
        },
        kind: InboundKind::Message(Message {
            text: "hi".into(),
            ..Message::default()
        }),
        reply: ReplyContext::WecomApp {
            agent_id: "1000002".into(),
            to_user: "u".into(),
        },
        occurred_at: None,
        received_at: testing::NOW,
    };
    let key = format!("{}:conv", IntegrationId::generate());
    let ttl = Duration::from_secs(60);
    assert_eq!(store.append_pending(&key, &event, testing::NOW, ttl).await?, 1);
    assert_eq!(store.append_pending(&key, &event, testing::NOW, ttl).await?, 2);
    // TTL deletion is lazy: after expiry the stored buffer is replaced, not appended to.
    let later = testing::NOW.plus(ttl);
    assert_eq!(store.append_pending(&key, &event, later, ttl).await?, 1);
    let taken = store.take_pending(&key, 1).await?.context("new buffer")?;
    assert_eq!(taken.len(), 1);

    let stream = StreamState {
        integration_id: IntegrationId::generate(),
        id: "x".repeat(3000),
        content: String::new(),
        finished: false,
        card: None,
        version: 1,
        created_at: testing::NOW,
        expires_at: testing::NOW.plus(ttl),
    };
    assert!(store.create_stream(&stream).await?);
    assert_eq!(
        store
            .get_stream(&stream.integration_id, &stream.id, testing::NOW)
            .await?,
        Some(stream.clone()),
        "long ids and empty content round-trip"
    );
    let again = StreamState {
        content: "again".into(),
        created_at: stream.expires_at,
        expires_at: stream.expires_at.plus(ttl),
        ..stream.clone()
    };
    assert!(store.create_stream(&again).await?, "an expired stream counts as absent");
    assert_eq!(
        store
            .get_stream(&stream.integration_id, &stream.id, again.created_at)
            .await?,
        Some(again)
    );
    Ok(())
}

#[tokio::test]
async fn long_identities_and_token_keys_are_hashed() -> Result<()> {
    let store = fresh_store().await?;
    let identity = format!("org_x:wecom:{}", "u".repeat(3000));
    let user = UserId::generate();
    assert_eq!(store.resolve_user(&identity, &user, testing::NOW).await?, user);
    assert_eq!(
        store.resolve_user(&identity, &UserId::generate(), testing::NOW).await?,
        user
    );
    let key = format!("wecom:{}", "k".repeat(3000));
    let token = CachedToken {
        token: SealedSecret::from_stored("v1.local.dG9rZW4"),
        expires_at: testing::NOW.plus(Duration::from_secs(60)),
    };
    store.put_token(&key, &token).await?;
    assert_eq!(store.get_token(&key, testing::NOW).await?, Some(token));
    Ok(())
}

#[tokio::test]
async fn kms_keyring_seals_and_opens() -> Result<()> {
    let config = MotoServer::shared().sdk_config();
    let client = aws_sdk_kms::Client::new(&config);
    let key_id = client
        .create_key()
        .description("imgate contract test")
        .send()
        .await
        .context("create KMS key")?
        .key_metadata
        .map(|m| m.key_id)
        .context("CreateKey returned no key metadata")?;

    let ring = KmsKeyring::new(client.clone(), &key_id);
    let sealed = ring.seal(b"app-secret", "int_a").await?;
    let stored = sealed.as_stored();
    assert!(stored.starts_with("v1.kms."), "sealed format");
    assert!(!stored.contains("app-secret"));
    assert_eq!(ring.open(&sealed, "int_a").await?, b"app-secret");
    assert!(
        matches!(ring.open(&sealed, "int_b").await, Err(KeyringError::Open)),
        "a different context must not open"
    );
    let again = ring.seal(b"app-secret", "int_a").await?;
    assert_ne!(again.as_stored(), stored, "fresh nonce per seal");

    // Another process (an empty cache) opens it through KMS.
    let other = KmsKeyring::new(client.clone(), &key_id);
    assert_eq!(other.open(&sealed, "int_a").await?, b"app-secret");
    assert!(matches!(other.open(&sealed, "int_b").await, Err(KeyringError::Open)));

    // A wrapped key KMS cannot decrypt does not open; text of another format is rejected.
    let (_, body) = stored
        .strip_prefix("v1.kms.")
        .and_then(|rest| rest.split_once('.'))
        .context("split sealed text")?;
    let forged = SealedSecret::from_stored(format!("v1.kms.Zm9yZ2Vka2V5.{body}"));
    assert!(
        matches!(
            KmsKeyring::new(client.clone(), &key_id).open(&forged, "int_a").await,
            Err(KeyringError::Open)
        ),
        "a forged wrapped key must not open"
    );
    assert!(matches!(
        ring.open(&SealedSecret::from_stored("v1.local.YWJj"), "int_a").await,
        Err(KeyringError::Format)
    ));
    Ok(())
}

#[tokio::test]
async fn a_long_polling_queue_reads_timers_once_per_wait_while_the_fifo_queue_is_busy() -> Result<()> {
    let queue = fresh_queue().await?.with_wait_time(Duration::from_secs(2));
    let inbound = |n: u32| OutgoingMessage {
        group: format!("g{n}"),
        dedupe_id: format!("busy-{n}"),
        body: format!("inbound {n}"),
    };
    queue.enqueue(&inbound(1)).await?;
    queue.enqueue_delayed("timer 1", Duration::ZERO).await?;
    let first = queue.receive(10, Duration::from_secs(30)).await?;
    let bodies: Vec<&str> = first.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, ["inbound 1", "timer 1"], "the first receive reads both queues");

    // Within the wait time, a receive that finds inbound messages leaves the timers.
    queue.enqueue(&inbound(2)).await?;
    queue.enqueue_delayed("timer 2", Duration::ZERO).await?;
    let busy = queue.receive(10, Duration::from_secs(30)).await?;
    let bodies: Vec<&str> = busy.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, ["inbound 2"], "one request for a busy queue");

    // The timer comes with the next receive that finds the FIFO queue empty.
    let started = std::time::Instant::now();
    let idle = queue.receive(10, Duration::from_secs(30)).await?;
    let bodies: Vec<&str> = idle.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, ["timer 2"]);
    assert!(started.elapsed() < Duration::from_secs(5), "at most one wait late");
    Ok(())
}

#[tokio::test]
async fn media_are_kept_behind_presigned_urls() -> Result<()> {
    use imgate_core::ports::MediaStore;
    let store = imgate_tests::aws::fresh_media_store().await?;
    let ttl = Duration::from_secs(3600);
    let before = imgate_core::Timestamp::now();
    let stored = store.put("abc-0.png", b"first", "image/png", ttl).await?;
    let url = url::Url::parse(&stored.url)?;
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query.get("X-Amz-Expires").map(String::as_str), Some("3600"));
    assert!(query.contains_key("X-Amz-Signature"));
    assert!(url.path().ends_with("/media/abc-0.png"), "{}", url.path());
    let expires = stored.expires_at.as_millis() - before.as_millis();
    assert!((3_600_000..3_605_000).contains(&expires), "{expires}");

    // The URL alone (no credentials) serves the bytes with their type.
    let http = reqwest::Client::new();
    let answer = http.get(&stored.url).send().await?;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "image/png");
    assert_eq!(answer.bytes().await?.as_ref(), b"first");

    // A second put (a redelivery) replaces the object; the earlier link reads the new bytes.
    let again = store.put("abc-0.png", b"second", "image/png", ttl).await?;
    assert_eq!(http.get(&again.url).send().await?.bytes().await?.as_ref(), b"second");
    assert_eq!(http.get(&stored.url).send().await?.bytes().await?.as_ref(), b"second");

    // A link is no key to the bucket: the unsigned address is refused.
    let mut unsigned = url.clone();
    unsigned.set_query(None);
    assert_eq!(http.get(unsigned).send().await?.status(), 403);
    Ok(())
}
