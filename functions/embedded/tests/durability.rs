//! Behaviour beyond the core contracts: the queue (timers included) across restarts and
//! crashes, stale receipts, concurrent enqueues, and store and queue sharing one file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use imgate_core::ports::{OutgoingMessage, Queue, QueueError};
use imgate_embedded::{QueueOptions, SqliteQueue};

const LONG: Duration = Duration::from_secs(60);

fn message(group: &str, id: &str) -> OutgoingMessage {
    OutgoingMessage {
        group: group.into(),
        dedupe_id: id.into(),
        body: format!("body:{id}"),
    }
}

async fn open_queue(path: &Path) -> SqliteQueue {
    SqliteQueue::open(path, QueueOptions::default())
        .await
        .expect("open queue")
}

#[tokio::test]
async fn queue_survives_reopening_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.db");
    let queue = open_queue(&path).await;
    queue.enqueue(&message("g", "m1")).await.expect("enqueue");
    queue.enqueue(&message("g", "m2")).await.expect("enqueue");
    drop(queue);

    let queue = open_queue(&path).await;
    // The dedupe window survives too.
    queue.enqueue(&message("g", "m1")).await.expect("enqueue dup");
    let got = queue.receive(10, LONG).await.expect("receive");
    let bodies: Vec<_> = got.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, ["body:m1", "body:m2"]);
    assert!(got.iter().all(|d| d.receive_count == 1));
    for d in &got {
        queue.ack(&d.receipt).await.expect("ack");
    }
    assert!(queue.receive(10, LONG).await.expect("receive").is_empty());
}

#[tokio::test]
async fn delayed_message_survives_reopening_and_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.db");
    let queue = open_queue(&path).await;
    queue
        .enqueue_delayed("timer", Duration::from_secs(1))
        .await
        .expect("enqueue delayed");
    assert!(
        queue.receive(10, LONG).await.expect("receive").is_empty(),
        "not due yet"
    );
    drop(queue);

    let queue = open_queue(&path).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let first = queue.receive(10, Duration::from_secs(1)).await.expect("receive");
    assert_eq!(first.len(), 1, "due after the reopen");
    assert_eq!((first[0].group.as_str(), first[0].body.as_str()), ("", "timer"));
    // The process dies without acking: the timer comes back once its visibility ends.
    drop(queue);

    let queue = open_queue(&path).await;
    assert!(queue.receive(10, LONG).await.expect("receive").is_empty(), "in flight");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = queue.receive(10, LONG).await.expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body, "timer");
    assert_eq!(again[0].receive_count, 2);
    queue.ack(&again[0].receipt).await.expect("ack");
    assert!(queue.receive(10, LONG).await.expect("receive").is_empty());
}

#[tokio::test]
async fn in_flight_message_returns_after_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.db");
    let queue = open_queue(&path).await;
    queue.enqueue(&message("g", "m1")).await.expect("enqueue");
    queue.enqueue(&message("g", "m2")).await.expect("enqueue");
    let first = queue.receive(1, Duration::from_secs(1)).await.expect("receive");
    assert_eq!(first.len(), 1);
    // The process dies without acking.
    drop(queue);

    let queue = open_queue(&path).await;
    assert!(
        queue.receive(10, LONG).await.expect("receive").is_empty(),
        "still hidden, and its group blocked, until the visibility ends"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = queue.receive(1, LONG).await.expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body, "body:m1", "order kept across the crash");
    assert_eq!(again[0].receive_count, 2);
    assert!(matches!(
        queue.ack(&first[0].receipt).await,
        Err(QueueError::UnknownReceipt)
    ));
    queue.ack(&again[0].receipt).await.expect("ack");
}

#[tokio::test]
async fn stale_receipts_are_rejected() {
    let queue = SqliteQueue::open_in_memory(QueueOptions::default()).expect("queue");
    queue.enqueue(&message("g", "m")).await.expect("enqueue");
    let first = queue.receive(1, LONG).await.expect("receive");
    queue
        .retry_later(&first[0].receipt, Duration::ZERO)
        .await
        .expect("retry");
    let second = queue.receive(1, LONG).await.expect("receive");
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].receipt, second[0].receipt);
    for result in [
        queue.ack(&first[0].receipt).await,
        queue.retry_later(&first[0].receipt, Duration::ZERO).await,
        queue.ack("not-a-receipt").await,
    ] {
        assert!(matches!(result, Err(QueueError::UnknownReceipt)), "{result:?}");
    }
    // The stale retry above did not make the message visible.
    assert!(queue.receive(1, LONG).await.expect("receive").is_empty());
    queue.ack(&second[0].receipt).await.expect("ack");
    assert!(matches!(
        queue.ack(&second[0].receipt).await,
        Err(QueueError::UnknownReceipt)
    ));
}

#[tokio::test]
async fn dead_letters_are_kept_and_acked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.db");
    let options = QueueOptions { max_receives: 1 };
    let queue = SqliteQueue::open(&path, options).await.expect("open");
    queue.enqueue(&message("g", "bad")).await.expect("enqueue");
    queue.enqueue(&message("g", "good")).await.expect("enqueue");
    let got = queue.receive(1, LONG).await.expect("receive");
    queue.retry_later(&got[0].receipt, Duration::ZERO).await.expect("fail");
    // The poison message moves aside and the rest of its group flows again.
    let next = queue.receive(10, LONG).await.expect("receive");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].body, "body:good");
    drop(queue);

    let queue = SqliteQueue::open(&path, options).await.expect("reopen");
    let dead = queue.receive_dead_letters(10, LONG).await.expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "body:bad");
    assert_eq!(dead[0].receive_count, 2);
    assert!(queue.receive_dead_letters(10, LONG).await.expect("dead").is_empty());
    queue.ack(&dead[0].receipt).await.expect("ack dead letter");
}

#[tokio::test]
async fn concurrent_enqueues_land_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = Arc::new(open_queue(&dir.path().join("imgate.db")).await);
    const TASKS: usize = 8;
    const PER_TASK: usize = 20;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let queue = Arc::clone(&queue);
        handles.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let group = format!("g{}", t % 3);
                queue
                    .enqueue(&message(&group, &format!("t{t}-{i:02}")))
                    .await
                    .expect("enqueue");
                // Every task also sends the same shared ids: each must land once.
                if i % 4 == 0 {
                    queue
                        .enqueue(&message("shared", &format!("shared-{i:02}")))
                        .await
                        .expect("enqueue shared");
                }
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }

    let mut seen = Vec::new();
    for _ in 0..1000 {
        let batch = queue.receive(10, LONG).await.expect("receive");
        if batch.is_empty() {
            break;
        }
        for d in batch {
            queue.ack(&d.receipt).await.expect("ack");
            seen.push(d.body);
        }
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "nothing delivered twice");
    assert_eq!(seen.len(), TASKS * PER_TASK + PER_TASK / 4);
    // Each task's messages come out in the order it sent them.
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for body in seen.iter().filter(|b| b.starts_with("body:t")) {
        let (task, n) = body.split_once('-').expect("task-n");
        if let Some(prev) = last.insert(task.to_owned(), n.to_owned()) {
            assert!(prev.as_str() < n, "{task}: {prev} then {n}");
        }
    }
}

#[tokio::test]
async fn store_and_queue_share_one_file_and_keyring_works() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("imgate.db");
    let key = dir.path().join("imgate.key");
    let (deps, store) = imgate_embedded::open(&db, &key, QueueOptions::default())
        .await
        .expect("open");
    deps.queue.enqueue(&message("g", "m")).await.expect("enqueue");
    assert!(store.set_meta_if_absent("bootstrap", "hash").await.expect("meta"));
    let sealed = deps.keyring.seal(b"app-secret", "int_x").await.expect("seal");
    drop((deps, store));

    let (deps, store) = imgate_embedded::open(&db, &key, QueueOptions::default())
        .await
        .expect("reopen");
    assert_eq!(
        deps.keyring.open(&sealed, "int_x").await.expect("open sealed"),
        b"app-secret",
        "the same key is used after a restart"
    );
    assert_eq!(
        store.get_meta("bootstrap").await.expect("meta").as_deref(),
        Some("hash")
    );
    assert_eq!(deps.queue.receive(10, LONG).await.expect("receive").len(), 1);
}

/// A restart after a crash: the messages the dead process held come back at once, with their
/// receive counts, instead of after their visibility.
#[tokio::test]
async fn held_messages_are_released_on_start_and_nothing_else_moves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.db");
    let queue = open_queue(&path).await;
    for (group, id) in [("a", "a1"), ("a", "a2"), ("b", "b1"), ("c", "c1")] {
        queue.enqueue(&message(group, id)).await.expect("enqueue");
    }
    queue
        .enqueue_delayed("timer", Duration::from_secs(600))
        .await
        .expect("timer");
    let held = queue.receive(2, Duration::from_secs(600)).await.expect("receive");
    let bodies: Vec<&str> = held.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(held.len(), 2, "{bodies:?}");
    // The process "dies" holding them: nothing acked, nothing given back.
    drop(queue);

    let queue = open_queue(&path).await;
    assert!(
        queue
            .receive(10, LONG)
            .await
            .expect("receive")
            .iter()
            .all(|d| !bodies.contains(&d.body.as_str())),
        "without a release the held messages stay hidden"
    );
    drop(queue);
    let queue = open_queue(&path).await;
    let released = queue.release_in_flight().await.expect("release");
    assert!(released >= 2, "released {released}");
    let again = queue.receive(10, Duration::from_secs(600)).await.expect("receive");
    for body in &bodies {
        let d = again.iter().find(|d| d.body == *body).expect("held message is back");
        assert!(d.receive_count >= 2, "its receive count stays");
    }
    assert!(
        again.iter().all(|d| d.body != "timer"),
        "a timer that is not due stays hidden"
    );
}
