//! The `-wal` file stays bounded under steady writes with concurrent readers.
//!
//! Writers enqueue large messages, receive and acknowledge them, and write stream buffers, claims
//! and event-log lines without pause, while readers read the same records throughout (thousands
//! of lookups a second), so a write transaction is nearly always open or about to start and
//! readers come and go all the time: the conditions in which the background `PASSIVE`
//! checkpoints alone never let the WAL start over (with the writer's restart switched off, the
//! same run leaves a WAL file of over 350 MiB). Every byte written goes through the WAL, and the
//! test writes more than four times the bound; since the file never grows past the bound (plus
//! the one batch that crosses it), the WAL must have been restarted and reused, which a file that
//! only grows cannot do.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use imgate_core::Timestamp;
use imgate_core::ids::IntegrationId;
use imgate_core::ports::{DedupeStore, EventLog, EventLogEntry, OutgoingMessage, Queue, StreamState, StreamStore};
use imgate_embedded::{LocalBackend, QueueOptions};

/// The bound the writer keeps: `WAL_RESTART_BYTES` in `src/db.rs` (not exported; keep equal).
const BOUND: u64 = 32 * 1024 * 1024;
/// What the file may exceed the bound by: the frames of the one batch that crosses it. A batch
/// here holds at most one write per writer task (each waits for its answer), the largest being
/// an enqueue of [`BODY_BYTES`] plus a few index and freelist pages: under 1 MiB for four writers.
const MARGIN: u64 = 2 * 1024 * 1024;
/// Concurrent writer tasks.
const WRITERS: usize = 4;
/// Concurrent reader tasks.
const READERS: usize = 2;
/// Message body: near the queue's 256 KiB limit, so the WAL fills quickly.
const BODY_BYTES: usize = 240 * 1024;
/// Stream buffer content, written twice per cycle (created, then finished).
const STREAM_BYTES: usize = 16 * 1024;
/// Cycles per writer: 4 × 150 × (240 + 2 × 16) KiB ≈ 160 MiB, five times the bound.
const CYCLES: usize = 150;

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Polls the file's size every 100 µs until `stop`, and answers the largest size seen. The file
/// only grows between truncations, and a truncation comes only after a checkpoint (an fsync of
/// the database, milliseconds), so a peak lasts far longer than one poll.
fn watch_size(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(meta) = std::fs::metadata(&path) {
                peak = peak.max(meta.len());
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        peak
    })
}

fn stream(integration: &IntegrationId, id: &str, content: String, finished: bool, version: u64) -> StreamState {
    let now = Timestamp::now();
    StreamState {
        integration_id: integration.clone(),
        id: id.into(),
        content,
        finished,
        card: None,
        version,
        created_at: now,
        expires_at: now.plus(Duration::from_secs(3600)),
    }
}

/// One writer: `CYCLES` times, an enqueue, a stream created and finished, a claim and an event
/// line, then a receive whose messages are all acknowledged. Answers the bytes it wrote.
async fn writer(backend: LocalBackend, integration: IntegrationId, w: usize, acked: Arc<AtomicUsize>) -> u64 {
    let mut written = 0u64;
    for i in 0..CYCLES {
        let body = format!("{w:02}{i:04}").repeat(BODY_BYTES / 6);
        written += body.len() as u64;
        backend
            .queue
            .enqueue(&OutgoingMessage {
                group: format!("group-{w}"),
                dedupe_id: format!("m-{w}-{i}"),
                body,
            })
            .await
            .expect("enqueue");
        let id = format!("s-{w}-{i}");
        let content = "答".repeat(STREAM_BYTES / 3);
        written += 2 * content.len() as u64;
        let created = backend
            .store
            .create_stream(&stream(&integration, &id, content.clone(), false, 1))
            .await
            .expect("create stream");
        assert!(created);
        let updated = backend
            .store
            .update_stream(&stream(&integration, &id, content, true, 2))
            .await
            .expect("update stream");
        assert!(updated);
        backend
            .store
            .claim(&format!("c-{w}-{i}"), Timestamp::now(), Duration::from_secs(3600))
            .await
            .expect("claim");
        let entry = EventLogEntry {
            at: Timestamp::now(),
            kind: "received".into(),
            event_id: Some(format!("e-{w}-{i}")),
            detail: "wal bound test".into(),
        };
        backend
            .store
            .record_event(&integration, &entry, Duration::from_secs(3600))
            .await
            .expect("event");
        for delivery in backend
            .queue
            .receive(16, Duration::from_secs(60))
            .await
            .expect("receive")
        {
            backend.queue.ack(&delivery.receipt).await.expect("ack");
            acked.fetch_add(1, Ordering::Relaxed);
        }
    }
    written
}

/// One reader: reads streams and claims the writers have written, until `stop`. Answers how
/// many reads it made.
async fn reader(backend: LocalBackend, integration: IntegrationId, r: usize, stop: Arc<AtomicBool>) -> u64 {
    let mut reads = 0u64;
    let mut n = r;
    while !stop.load(Ordering::Relaxed) {
        let (w, i) = (n % WRITERS, (n / WRITERS) % CYCLES);
        backend
            .store
            .get_stream(&integration, &format!("s-{w}-{i}"), Timestamp::now())
            .await
            .expect("get stream");
        backend
            .store
            .is_claimed(&format!("c-{w}-{i}"), Timestamp::now())
            .await
            .expect("is claimed");
        reads += 2;
        n += 7;
        // Reads run on the calling thread: let the writers' tasks in, and pause now and then so
        // that the readers do not take the two cores from the writers (bursts of 8 lookups).
        if reads % 8 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    reads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_stays_bounded_under_steady_writes_and_reads() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("imgate.db");
    let backend = LocalBackend::open(&db, QueueOptions::default()).await.expect("open");
    let integration = IntegrationId::generate();

    let stop_watch = Arc::new(AtomicBool::new(false));
    let watcher = watch_size(wal_path(&db), stop_watch.clone());
    let stop_readers = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|r| tokio::spawn(reader(backend.clone(), integration.clone(), r, stop_readers.clone())))
        .collect();
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(backend.clone(), integration.clone(), w, acked.clone())))
        .collect();
    let mut written = 0;
    for w in writers {
        written += w.await.expect("writer");
    }
    stop_readers.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.expect("reader");
    }
    // What the writers' last receives left behind (another writer's group in flight).
    while acked.load(Ordering::Relaxed) < WRITERS * CYCLES {
        let got = backend
            .queue
            .receive(16, Duration::from_secs(60))
            .await
            .expect("receive");
        assert!(
            !got.is_empty(),
            "messages lost: {} acked",
            acked.load(Ordering::Relaxed)
        );
        for delivery in got {
            backend.queue.ack(&delivery.receipt).await.expect("ack");
            acked.fetch_add(1, Ordering::Relaxed);
        }
    }
    stop_watch.store(true, Ordering::Relaxed);
    let peak = watcher.join().expect("watcher");
    let took = started.elapsed();
    eprintln!(
        "wrote {:.1} MiB in {took:?} ({reads} reads alongside); largest WAL file {:.1} MiB, bound {} MiB",
        written as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        BOUND / 1048576
    );

    // The WAL carried several times the bound...
    assert!(written > 4 * BOUND, "only {written} bytes written");
    assert!(reads > 0, "the readers never ran");
    // ...and filled up to it (the watcher saw the writes)...
    assert!(peak > BOUND / 2, "the WAL file never grew: {peak} bytes");
    // ...but its file never outgrew the bound by more than one batch.
    assert!(
        peak <= BOUND + MARGIN,
        "the WAL file reached {peak} bytes, over the bound of {BOUND} + {MARGIN}"
    );
}
