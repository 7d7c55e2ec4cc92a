//! The key file: created owner-only, read back identically, refused when malformed or exposed.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use imgate_embedded::{KeyFileError, OpenError, QueueOptions, load_or_create_key};

#[test]
fn created_owner_only_and_read_back_identically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.key");
    let key = load_or_create_key(&path).expect("create");
    let meta = fs::metadata(&path).expect("metadata");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = fs::read_to_string(&path).expect("read");
    assert_eq!(text.len(), 65, "64 hex digits and a newline");
    assert_eq!(load_or_create_key(&path).expect("reload"), key);
    // No temporary files left behind.
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["imgate.key"]);
    // A second key file gets a different key.
    assert_ne!(
        load_or_create_key(&dir.path().join("other.key")).expect("create other"),
        key
    );
}

#[test]
fn accepts_a_hand_written_key_with_or_without_newline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.key");
    for text in ["ab".repeat(32), format!("{}\n", "AB".repeat(32))] {
        fs::write(&path, &text).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).expect("chmod");
        assert_eq!(load_or_create_key(&path).expect("load"), [0xab; 32]);
        fs::remove_file(&path).expect("remove");
    }
}

#[test]
fn malformed_key_files_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.key");
    for text in [
        String::new(),
        "ab".repeat(31),
        "ab".repeat(33),
        format!("{}\n\n", "ab".repeat(32)),
        format!(" {}", "ab".repeat(32)),
        "zz".repeat(32),
    ] {
        fs::write(&path, &text).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(
            matches!(load_or_create_key(&path), Err(KeyFileError::Malformed { .. })),
            "{text:?} must be refused"
        );
        // Refused, not replaced.
        assert_eq!(fs::read_to_string(&path).expect("read"), text);
        fs::remove_file(&path).expect("remove");
    }
}

#[test]
fn key_files_readable_by_others_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.key");
    let key = load_or_create_key(&path).expect("create");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        match load_or_create_key(&path) {
            Err(e @ KeyFileError::TooOpen { .. }) => {
                assert!(e.to_string().contains("owner only"), "{e}");
            }
            other => panic!("mode {mode:o} must be refused: {other:?}"),
        }
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(load_or_create_key(&path).expect("load"), key);
}

#[tokio::test]
async fn open_refuses_a_bad_key_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("imgate.key");
    fs::write(&key, "not a key").expect("write");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    let result = imgate_embedded::open(&dir.path().join("imgate.db"), &key, QueueOptions::default()).await;
    assert!(matches!(result, Err(OpenError::Key(KeyFileError::Malformed { .. }))));
}
