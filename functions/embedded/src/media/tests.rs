//! The media directory: kept files read back through their links, owner-only, replaced on a
//! second put, refused when forged or expired, swept when their time is up.

use std::os::unix::fs::PermissionsExt;

use super::*;

const SECRET: [u8; KEY_LEN] = [42; KEY_LEN];
const DAY: Duration = Duration::from_secs(24 * 3600);

fn media(dir: &Path) -> MediaDir {
    MediaDir::open(&dir.join("media"), &SECRET, "http://gw.example/").expect("media directory")
}

fn token(url: &str) -> &str {
    url.strip_prefix("http://gw.example/media/")
        .expect("a link under the base URL")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[tokio::test]
async fn a_kept_file_reads_back_through_its_link_and_is_private() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let media = media(dir.path());
    let stored = media.put("abc-0.png", b"picture", "image/png", DAY).await.expect("put");
    let file = media.open(token(&stored.url), Timestamp::now()).await.expect("open");
    assert_eq!(
        file,
        MediaFile {
            bytes: b"picture".to_vec(),
            mime: "image/png".to_owned()
        }
    );
    let expected = Timestamp::now().plus(DAY).as_millis();
    assert!((expected - stored.expires_at.as_millis()).abs() < 5_000);
    assert_eq!(mode(media.path()), 0o700);
    assert_eq!(mode(&media.path().join("abc-0.png")), 0o600);
    assert!(
        !stored.url.contains("abc-0.png"),
        "the name is not readable in the link"
    );
}

#[tokio::test]
async fn a_second_put_replaces_the_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let media = media(dir.path());
    media
        .put("abc-0.pdf", b"first", "application/pdf", DAY)
        .await
        .expect("put");
    let stored = media
        .put("abc-0.pdf", b"second", "application/pdf", DAY)
        .await
        .expect("put");
    let file = media.open(token(&stored.url), Timestamp::now()).await.expect("open");
    assert_eq!(file.bytes, b"second");
    let names: Vec<_> = fs::read_dir(media.path()).expect("list").collect();
    assert_eq!(names.len(), 1, "one file, no temporary left");
}

#[tokio::test]
async fn forged_expired_and_swept_links_are_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let media = media(dir.path());
    let stored = media.put("abc-1.png", b"x", "image/png", DAY).await.expect("put");
    let token = token(&stored.url);
    let later = stored.expires_at.plus(Duration::from_millis(1));
    assert_eq!(media.open(token, later).await, Err(MediaLinkError::Expired));
    let mut forged = token.to_owned();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(media.open(&forged, Timestamp::now()).await, Err(MediaLinkError::Forged));
    let elsewhere = MediaDir::open(&dir.path().join("other"), &[1; KEY_LEN], "http://gw.example")
        .expect("another gateway's directory");
    assert_eq!(
        elsewhere.open(token, Timestamp::now()).await,
        Err(MediaLinkError::Forged)
    );
    fs::remove_file(media.path().join("abc-1.png")).expect("remove");
    assert_eq!(media.open(token, Timestamp::now()).await, Err(MediaLinkError::Gone));
}

#[tokio::test]
async fn the_sweep_removes_what_expired_and_crash_leftovers() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let media = media(dir.path());
    let short = media
        .put("short-0.png", b"x", "image/png", Duration::from_secs(60))
        .await
        .expect("put");
    media.put("long-0.png", b"x", "image/png", DAY).await.expect("put");
    let leftover = media.path().join(format!("{TEMPORARY}1000-0000000000000001"));
    fs::write(&leftover, b"half").expect("leftover");
    let fresh = media
        .path()
        .join(format!("{TEMPORARY}{}-02", Timestamp::now().as_millis()));
    fs::write(&fresh, b"being written").expect("fresh temporary");

    assert_eq!(media.sweep(Timestamp::now()).await.expect("sweep"), 1, "the leftover");
    assert!(!leftover.exists() && fresh.exists());
    let after_short = short.expires_at.plus(Duration::from_secs(1));
    assert_eq!(media.sweep(after_short).await.expect("sweep"), 1);
    assert!(!media.path().join("short-0.png").exists());
    assert!(media.path().join("long-0.png").exists());
}

#[tokio::test]
async fn names_that_are_paths_are_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let media = media(dir.path());
    for bad in ["../db", "a/b", ".hidden", "", "a b"] {
        assert!(
            matches!(
                media.put(bad, b"x", "text/plain", DAY).await,
                Err(MediaError::Storage(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn beside_the_database() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let media = MediaDir::beside(&dir.path().join("imgate.db"), &SECRET, "http://gw").expect("open");
    assert_eq!(media.path(), dir.path().join("media"));
}
