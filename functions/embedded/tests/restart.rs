//! A restart after a crash: the messages the dead process held come back at once, with their
//! receive counts, instead of after their visibility.

use std::path::Path;
use std::time::Duration;

use imgate_core::ports::{OutgoingMessage, Queue};
use imgate_embedded::{QueueOptions, SqliteQueue};

const LONG: Duration = Duration::from_secs(600);

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
    let held = queue.receive(2, LONG).await.expect("receive");
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
    let again = queue.receive(10, LONG).await.expect("receive");
    for body in &bodies {
        let d = again.iter().find(|d| d.body == *body).expect("held message is back");
        assert!(d.receive_count >= 2, "its receive count stays");
    }
    assert!(
        again.iter().all(|d| d.body != "timer"),
        "a timer that is not due stays hidden"
    );
}
