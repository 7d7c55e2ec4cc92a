//! Queue behaviour the core contracts leave open: what is refused, batching, timers.

use super::*;

fn msg(group: &str, id: &str) -> OutgoingMessage {
    OutgoingMessage {
        group: group.into(),
        dedupe_id: id.into(),
        body: format!("body-{id}"),
    }
}

#[tokio::test]
async fn refuses_what_sqs_refuses() {
    let q = SqliteQueue::open_in_memory(QueueOptions::default()).expect("open in memory");
    for bad in [
        msg("", "id"),
        msg("g", ""),
        msg(&"g".repeat(129), "id"),
        OutgoingMessage {
            body: "x".repeat(MAX_BODY_BYTES + 1),
            ..msg("g", "id")
        },
    ] {
        assert!(matches!(q.enqueue(&bad).await, Err(QueueError::Rejected(_))));
    }
    assert!(
        q.receive(10, Duration::from_secs(30))
            .await
            .expect("receive")
            .is_empty()
    );
}

#[tokio::test]
async fn a_batch_holds_a_groups_messages_in_order() {
    let q = SqliteQueue::open_in_memory(QueueOptions::default()).expect("open in memory");
    for m in [msg("a", "1"), msg("b", "2"), msg("a", "3")] {
        q.enqueue(&m).await.expect("enqueue");
    }
    let got = q.receive(10, Duration::from_secs(30)).await.expect("receive");
    let bodies: Vec<_> = got.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, ["body-1", "body-3", "body-2"]);
    // The second of group a is acked first; a stays blocked while the first is in flight.
    q.ack(&got[1].receipt).await.expect("ack");
    q.retry_later(&got[2].receipt, Duration::ZERO)
        .await
        .expect("retry later");
    let again = q.receive(10, Duration::from_secs(30)).await.expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body, "body-2");
    assert_eq!(again[0].receive_count, 2);
}

#[tokio::test]
async fn zero_visibility_does_not_deliver_twice_in_one_call() {
    let q = SqliteQueue::open_in_memory(QueueOptions::default()).expect("open in memory");
    q.enqueue(&msg("a", "1")).await.expect("enqueue");
    let got = q.receive(10, Duration::ZERO).await.expect("receive");
    assert_eq!(got.len(), 1);
    let again = q.receive(10, Duration::ZERO).await.expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    assert!(matches!(q.ack(&got[0].receipt).await, Err(QueueError::UnknownReceipt)));
    q.ack(&again[0].receipt).await.expect("ack");
}

#[tokio::test]
async fn refuses_long_delays_and_large_timer_bodies() {
    let q = SqliteQueue::open_in_memory(QueueOptions::default()).expect("open in memory");
    let too_long = MAX_QUEUE_DELAY + Duration::from_millis(1);
    assert!(matches!(
        q.enqueue_delayed("t", too_long).await,
        Err(QueueError::Rejected(_))
    ));
    assert!(matches!(
        q.enqueue_delayed(&"x".repeat(MAX_BODY_BYTES + 1), Duration::ZERO).await,
        Err(QueueError::Rejected(_))
    ));
    q.enqueue_delayed("max", MAX_QUEUE_DELAY)
        .await
        .expect("the limit itself is fine");
    assert!(
        q.receive(10, Duration::from_secs(30))
            .await
            .expect("receive")
            .is_empty()
    );
}

#[tokio::test]
async fn timers_neither_block_nor_wait_for_anything() {
    let q = SqliteQueue::open_in_memory(QueueOptions::default()).expect("open in memory");
    q.enqueue_delayed("t1", Duration::ZERO).await.expect("timer");
    q.enqueue(&msg("a", "1")).await.expect("enqueue");
    q.enqueue_delayed("t2", Duration::ZERO).await.expect("timer");
    q.enqueue_delayed("later", Duration::from_secs(60))
        .await
        .expect("timer");
    // One at a time: a timer in flight holds back neither another timer nor a group.
    let first = q.receive(1, Duration::from_secs(30)).await.expect("receive");
    assert_eq!((first[0].group.as_str(), first[0].body.as_str()), ("", "t1"));
    let second = q.receive(1, Duration::from_secs(30)).await.expect("receive");
    assert_eq!((second[0].group.as_str(), second[0].body.as_str()), ("a", "body-1"));
    // Group a is in flight; the next timer still comes.
    q.enqueue(&msg("a", "2")).await.expect("enqueue");
    let rest = q.receive(10, Duration::from_secs(30)).await.expect("receive");
    let bodies: Vec<_> = rest.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, ["t2"], "not due: `later`; blocked: group a");
    for d in first.iter().chain(&second).chain(&rest) {
        q.ack(&d.receipt).await.expect("ack");
    }
    let last = q.receive(10, Duration::from_secs(30)).await.expect("receive");
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].body, "body-2");
}

#[tokio::test]
async fn over_received_timers_become_dead_letters() {
    let q = SqliteQueue::open_in_memory(QueueOptions { max_receives: 1 }).expect("open in memory");
    q.enqueue_delayed("poison", Duration::ZERO).await.expect("timer");
    let got = q.receive(1, Duration::ZERO).await.expect("receive");
    assert_eq!(got.len(), 1);
    assert!(q.receive(1, Duration::ZERO).await.expect("receive").is_empty());
    let dead = q.receive_dead_letters(10, Duration::from_secs(30)).await.expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].group.as_str(), dead[0].body.as_str()), ("", "poison"));
    q.ack(&dead[0].receipt).await.expect("ack");
}

#[tokio::test]
async fn a_waiting_poller_wakes_on_an_enqueue_instead_of_at_its_timeout() {
    let q = std::sync::Arc::new(SqliteQueue::open_in_memory(QueueOptions::default()).expect("open in memory"));
    let waiter = q.clone();
    let started = std::time::Instant::now();
    let waiting = tokio::spawn(async move {
        waiter.wait_for_messages(Duration::from_secs(30)).await;
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    q.enqueue(&msg("g", "wake")).await.expect("enqueue");
    let waited = waiting.await.expect("waiter");
    assert!(waited < Duration::from_secs(5), "woke after {waited:?}");
    assert_eq!(q.receive(10, Duration::from_secs(30)).await.expect("receive").len(), 1);
    // Nothing enqueued since: the next wait lasts its timeout.
    let started = std::time::Instant::now();
    q.wait_for_messages(Duration::from_millis(200)).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
}
