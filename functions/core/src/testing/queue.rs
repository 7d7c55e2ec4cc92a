//! Queue contracts.

use std::time::Duration;

use crate::ports::{OutgoingMessage, Queue};

fn message(group: &str, id: &str) -> OutgoingMessage {
    OutgoingMessage {
        group: group.into(),
        dedupe_id: id.into(),
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

const LONG: Duration = Duration::from_secs(60);

/// Receives until `want` messages arrived or a few empty polls passed.
async fn receive_some(queue: &dyn Queue, want: usize, visibility: Duration) -> Vec<crate::ports::Delivery> {
    let mut got = Vec::new();
    for _ in 0..10 {
        if got.len() >= want {
            break;
        }
        let batch = queue.receive(want - got.len(), visibility).await.expect("receive");
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        got.extend(batch);
    }
    got
}

/// Per-group order: a group's next message waits until the one in flight is acked.
pub async fn queue_fifo_per_group(queue: &dyn Queue) {
    for m in [message("a", "a1"), message("a", "a2"), message("b", "b1")] {
        queue.enqueue(&m).await.expect("enqueue");
    }
    let first = receive_some(queue, 3, LONG).await;
    let bodies: Vec<&str> = first.iter().map(|d| d.body.as_str()).collect();
    assert!(
        bodies.contains(&"{\"id\":\"a1\"}") && bodies.contains(&"{\"id\":\"b1\"}"),
        "{bodies:?}"
    );
    let a1_at = bodies.iter().position(|b| b.contains("a1"));
    let a2_at = bodies.iter().position(|b| b.contains("a2"));
    if let (Some(a1), Some(a2)) = (a1_at, a2_at) {
        assert!(a1 < a2, "a group's messages come in order");
    }
    for d in &first {
        assert_eq!(d.receive_count, 1);
        assert!(d.group == "a" || d.group == "b");
    }
    if a2_at.is_none() {
        // a1 is in flight: a2 must not be delivered yet.
        assert!(
            queue.receive(10, LONG).await.expect("receive").is_empty(),
            "group a is blocked while a1 is in flight"
        );
        let a1 = first.iter().find(|d| d.body.contains("a1")).expect("a1");
        queue.ack(&a1.receipt).await.expect("ack a1");
        let next = receive_some(queue, 1, LONG).await;
        assert_eq!(next.len(), 1);
        assert!(next[0].body.contains("a2"));
        queue.ack(&next[0].receipt).await.expect("ack a2");
    }
    for d in first.iter().filter(|d| !d.body.contains("a1")) {
        queue.ack(&d.receipt).await.expect("ack");
    }
    assert!(
        queue.receive(10, LONG).await.expect("receive").is_empty(),
        "acked messages are gone"
    );
}

/// The same dedupe id is enqueued once.
pub async fn queue_dedupe_id(queue: &dyn Queue) {
    queue.enqueue(&message("g", "same")).await.expect("enqueue");
    queue.enqueue(&message("g", "same")).await.expect("enqueue duplicate");
    queue.enqueue(&message("g", "next")).await.expect("enqueue next");
    let mut seen = Vec::new();
    for _ in 0..6 {
        let batch = receive_some(queue, 1, LONG).await;
        if batch.is_empty() {
            break;
        }
        for d in batch {
            seen.push(d.body.clone());
            queue.ack(&d.receipt).await.expect("ack");
        }
    }
    assert_eq!(
        seen,
        vec!["{\"id\":\"same\"}".to_owned(), "{\"id\":\"next\"}".to_owned()]
    );
}

/// An unacked message comes back, with a growing receive count.
pub async fn queue_visibility_and_retry(queue: &dyn Queue) {
    queue.enqueue(&message("g", "m")).await.expect("enqueue");
    let first = receive_some(queue, 1, LONG).await;
    assert_eq!(first.len(), 1);
    assert!(
        queue.receive(1, LONG).await.expect("receive").is_empty(),
        "hidden while in flight"
    );
    queue
        .retry_later(&first[0].receipt, Duration::ZERO)
        .await
        .expect("retry");
    let second = receive_some(queue, 1, LONG).await;
    assert_eq!(second.len(), 1, "a retried message is delivered again");
    assert_eq!(second[0].body, first[0].body);
    assert_eq!(second[0].receive_count, 2);
    // Visibility expiry alone also brings it back.
    queue
        .retry_later(&second[0].receipt, Duration::from_secs(1))
        .await
        .expect("retry later");
    assert!(queue.receive(1, LONG).await.expect("receive").is_empty());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let third = receive_some(queue, 1, LONG).await;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].receive_count, 3);
    queue.ack(&third[0].receipt).await.expect("ack");
}

/// A heartbeat keeps a received message hidden past its visibility; without it the message
/// comes back; receipts that hold nothing any more are skipped.
pub async fn queue_heartbeat(queue: &dyn Queue) {
    let short = Duration::from_secs(2);
    queue.enqueue(&message("g", "beat")).await.expect("enqueue");
    let first = receive_some(queue, 1, short).await;
    assert_eq!(first.len(), 1);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        queue
            .extend_visibility(std::slice::from_ref(&first[0].receipt), short)
            .await
            .expect("extend");
    }
    assert!(
        queue.receive(1, short).await.expect("receive").is_empty(),
        "still hidden 3 s into a 2 s visibility, thanks to the heartbeat"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let second = receive_some(queue, 1, LONG).await;
    assert_eq!(second.len(), 1, "without the heartbeat it comes back");
    assert_eq!(second[0].receive_count, 2);
    queue.ack(&second[0].receipt).await.expect("ack");
    queue
        .extend_visibility(&[first[0].receipt.clone(), second[0].receipt.clone()], short)
        .await
        .expect("receipts that hold nothing are skipped");
    queue.extend_visibility(&[], short).await.expect("nothing to extend");
}

/// A message received more than `max_receives` times lands in the dead-letter queue.
pub async fn queue_dead_letters(queue: &dyn Queue, max_receives: u32) {
    queue.enqueue(&message("g", "poison")).await.expect("enqueue");
    for attempt in 1..=max_receives {
        let got = receive_some(queue, 1, LONG).await;
        assert_eq!(got.len(), 1, "attempt {attempt} receives the message");
        assert_eq!(got[0].receive_count, attempt);
        queue
            .retry_later(&got[0].receipt, Duration::ZERO)
            .await
            .expect("fail attempt");
    }
    assert!(
        receive_some(queue, 1, LONG).await.is_empty(),
        "after max receives the message leaves the main queue"
    );
    let mut dead = Vec::new();
    for _ in 0..10 {
        dead = queue.receive_dead_letters(10, LONG).await.expect("dead letters");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(dead.len(), 1, "the poison message is in the dead-letter queue");
    assert_eq!(dead[0].body, "{\"id\":\"poison\"}");
}

/// Timer messages: invisible until their delay passes, then received with an empty group.
pub async fn queue_delayed(queue: &dyn Queue) {
    queue
        .enqueue_delayed("{\"flush\":1}", Duration::from_secs(2))
        .await
        .expect("enqueue delayed");
    queue.enqueue(&message("g", "now")).await.expect("enqueue");
    let first = receive_some(queue, 1, LONG).await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].body, "{\"id\":\"now\"}",
        "the delayed message is not visible yet"
    );
    queue.ack(&first[0].receipt).await.expect("ack");
    assert!(
        queue.receive(10, LONG).await.expect("receive").is_empty(),
        "still delayed"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let delayed = receive_some(queue, 1, LONG).await;
    assert_eq!(delayed.len(), 1, "visible after its delay");
    assert_eq!(delayed[0].body, "{\"flush\":1}");
    assert_eq!(delayed[0].group, "");
    queue.ack(&delayed[0].receipt).await.expect("ack delayed");
    assert!(queue.receive(10, LONG).await.expect("receive").is_empty());
}
