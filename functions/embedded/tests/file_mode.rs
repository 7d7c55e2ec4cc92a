//! The database file and its `-wal` and `-shm` files are created readable by their owner only;
//! an existing database file keeps its mode, with a warning when others may read it.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use imgate_core::ports::{OutgoingMessage, Queue};
use imgate_embedded::{LocalBackend, QueueOptions};

/// Set in the child process that runs a test under a known umask.
const CHILD: &str = "IMGATE_FILE_MODE_CHILD";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Opens `db`, enqueues one message (so the `-wal` and `-shm` files exist) and answers the
/// backend, still open.
async fn open_and_write(db: &Path) -> LocalBackend {
    let backend = LocalBackend::open(db, QueueOptions::default()).await.expect("open");
    backend
        .queue
        .enqueue(&OutgoingMessage {
            group: "g".into(),
            dedupe_id: "m".into(),
            body: "body".into(),
        })
        .await
        .expect("enqueue");
    backend
}

/// Runs the test named `name` again in a child process whose umask is 022, the usual default
/// under which files are created 0644, so a 0600 result cannot come from a stricter umask of the
/// environment. True in the child, which then runs the test's body.
fn in_child_with_umask_022(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary");
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .status()
        .expect("run the test binary under umask 022");
    assert!(status.success(), "{name} failed in the child process: {status}");
    false
}

#[test]
fn a_new_database_and_its_wal_and_shm_are_owner_only() {
    if !in_child_with_umask_022("a_new_database_and_its_wal_and_shm_are_owner_only") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    // The umask is in effect: an ordinary new file is 0644.
    let probe = dir.path().join("probe");
    std::fs::write(&probe, "x").expect("probe file");
    assert_eq!(mode(&probe), 0o644, "the child's umask is not 022");

    let db = dir.path().join("imgate.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let backend = open_and_write(&db).await;
        for path in [db.clone(), sibling(&db, "-wal"), sibling(&db, "-shm")] {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        drop(backend);
    });
}

/// WARN events seen by this process, as text.
fn warnings() -> &'static Mutex<Vec<String>> {
    static WARNINGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    WARNINGS.get_or_init(|| {
        // The backend logs from its own threads, so the subscriber must be the global one.
        tracing::subscriber::set_global_default(Warnings).expect("first subscriber");
        Mutex::new(Vec::new())
    })
}

/// A subscriber that keeps the fields of WARN events and ignores everything else.
struct Warnings;

impl tracing::Subscriber for Warnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() == tracing::Level::WARN
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        warnings()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(text.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn an_existing_database_keeps_its_mode_and_a_readable_one_is_warned_about() {
    let warned_about = |db: &Path| {
        let shown = db.display().to_string();
        warnings()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|w| w.contains(&shown))
            .count()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("imgate.db");
    warnings();

    // Created by the backend (0600): no warning on reopening.
    drop(open_and_write(&db).await);
    drop(open_and_write(&db).await);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(warned_about(&db), 0);

    // Made readable by others (as files created before this change were): left as it is, and
    // the warning names the file.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let backend = open_and_write(&db).await;
    assert_eq!(mode(&db), 0o644, "an existing file's mode is not changed");
    assert_eq!(warned_about(&db), 1);
    drop(backend);
}
