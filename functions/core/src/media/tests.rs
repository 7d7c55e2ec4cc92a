//! The pipeline with a fake platform and a fake store: the cap, files described instead of
//! fetched, failures as lines, voice transcripts, and redeliveries that overwrite.

use super::*;
use crate::credentials::{Credentials, Telegram};
use crate::event::{Conversation, ConversationKind, InboundEvent, InboundKind, Message, ReplyContext, Sender};
use crate::ids::{IntegrationId, OrgId};
use crate::integration::IntegrationRecord;
use crate::keyring::SealedSecret;
use crate::platform::{ConnectionMode, Platform};
use crate::secret::Secret;
use crate::testing::media::{FakeMediaFetcher, MemoryMediaStore, PNG, media_ref};
use crate::time::Timestamp;

const MB: u64 = 1024 * 1024;

fn target(event_id: &str) -> ReplyTarget {
    let integration_id = IntegrationId::generate();
    ReplyTarget {
        integration: IntegrationRecord {
            id: integration_id.clone(),
            org_id: OrgId::generate(),
            name: "tg".to_owned(),
            platform: Platform::Telegram,
            mode: ConnectionMode::Webhook,
            enabled: true,
            credentials: SealedSecret::from_stored(""),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            version: 1,
            account: None,
        },
        credentials: Credentials::Telegram(Telegram {
            bot_token: Secret::new("123:token"),
            secret_token: None,
        }),
        event: InboundEvent {
            event_id: event_id.to_owned(),
            platform: Platform::Telegram,
            integration_id,
            conversation: Conversation {
                id: "chat".to_owned(),
                kind: ConversationKind::Direct,
                thread_id: None,
                name: None,
            },
            sender: Sender {
                id: "u1".to_owned(),
                name: None,
                is_bot: false,
            },
            kind: InboundKind::Message(Message::default()),
            reply: ReplyContext::Telegram {
                chat_id: 1,
                message_id: 1,
                message_thread_id: None,
            },
            occurred_at: None,
            received_at: Timestamp::from_millis(0),
        },
    }
}

/// A pipeline over `fetcher` and `store`, and the way to run it on messages.
struct Bench {
    pipeline: MediaPipeline,
    target: ReplyTarget,
}

impl Bench {
    fn new(fetcher: &FakeMediaFetcher, store: &MemoryMediaStore, settings: MediaSettings) -> Self {
        Self {
            pipeline: MediaPipeline::new(Arc::new(fetcher.clone()), Arc::new(store.clone()), settings),
            target: target("m1"),
        }
    }

    /// Prepares `media` sent with `text`; returns what the agent gets and the event-log lines'
    /// details.
    async fn run(&self, media: &[MediaRef], text: &str) -> (ForAgent, Vec<String>) {
        run(Some(&self.pipeline), &self.target, media, text).await
    }
}

async fn run(
    pipeline: Option<&MediaPipeline>,
    target: &ReplyTarget,
    media: &[MediaRef],
    text: &str,
) -> (ForAgent, Vec<String>) {
    let mut lines = EventLines::default();
    let prepared = prepare(pipeline, target, media, text, &mut lines).await;
    let details = lines.into_entries().into_iter().map(|e| e.detail).collect();
    (prepared, details)
}

#[tokio::test]
async fn an_image_is_kept_and_handed_over_with_its_bytes() {
    let store = MemoryMediaStore::default();
    let bench = Bench::new(
        &FakeMediaFetcher::default().with("photo", PNG, None),
        &store,
        MediaSettings::default(),
    );
    let (prepared, lines) = bench
        .run(
            &[media_ref(MediaKind::Image, "photo", Some(PNG.len() as u64))],
            "what is this?",
        )
        .await;
    assert!(prepared.notes.is_empty());
    let [attachment] = prepared.attachments.as_slice() else {
        panic!("one attachment: {prepared:?}")
    };
    assert_eq!(attachment.kind, MediaKind::Image);
    assert_eq!(attachment.mime, "image/png");
    assert_eq!(attachment.size, PNG.len() as u64);
    assert_eq!(attachment.bytes.as_deref(), Some(PNG));
    assert!(attachment.url.starts_with("memory://"));
    assert!(attachment.url.ends_with("-0.png"), "{}", attachment.url);
    assert!(attachment.expires_at > Timestamp::now().plus(DEFAULT_LINK_TTL - Duration::from_secs(60)));
    assert_eq!(prepared.input("what is this?"), "what is this?");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("image 1 of 1 kept for the agent"), "{lines:?}");
    assert!(!lines[0].contains("memory://"), "no URL in the log");
}

#[tokio::test]
async fn other_files_are_links_without_bytes() {
    let store = MemoryMediaStore::default();
    let bench = Bench::new(
        &FakeMediaFetcher::default().with("doc", b"%PDF-1.7 ...", None),
        &store,
        MediaSettings::default(),
    );
    let mut media = media_ref(MediaKind::File, "doc", None);
    media.name = Some("report.pdf".to_owned());
    let (prepared, _) = bench.run(&[media], "").await;
    let attachment = &prepared.attachments[0];
    assert_eq!(attachment.mime, "application/pdf");
    assert_eq!(attachment.name.as_deref(), Some("report.pdf"));
    assert_eq!(attachment.bytes, None);
}

#[tokio::test]
async fn a_file_over_the_cap_is_described_not_fetched() {
    let fetcher = FakeMediaFetcher::default().with("video", b"small really", None);
    let settings = MediaSettings {
        max_bytes: 20 * MB,
        ..MediaSettings::default()
    };
    let bench = Bench::new(&fetcher, &MemoryMediaStore::default(), settings);
    let (prepared, lines) = bench
        .run(&[media_ref(MediaKind::Video, "video", Some(40 * MB))], "look")
        .await;
    assert!(fetcher.fetched().is_empty(), "not downloaded");
    assert!(prepared.attachments.is_empty());
    assert_eq!(
        prepared.input("look"),
        "look\n\n(the user sent a 40 MB video that was not fetched: larger than the 20 MB limit)"
    );
    assert_eq!(lines, ["video 1 of 1 (40 MB) not fetched: larger than the 20 MB limit"]);
}

#[tokio::test]
async fn a_download_past_the_cap_is_described_too() {
    let store = MemoryMediaStore::default();
    let settings = MediaSettings {
        max_bytes: 1024,
        ..MediaSettings::default()
    };
    let bench = Bench::new(
        &FakeMediaFetcher::default().with("unsized", &[0; 2048], None),
        &store,
        settings,
    );
    let (prepared, _) = bench.run(&[media_ref(MediaKind::File, "unsized", None)], "").await;
    assert_eq!(
        prepared.notes,
        ["(the user sent a file that was not fetched: larger than the 1 KB limit)"]
    );
    assert_eq!(store.puts(), 0);
}

#[tokio::test]
async fn failures_and_timeouts_become_lines_without_urls() {
    let refused = MediaError::Platform("404 at https://api.example/file/bot123:secret/x".to_owned());
    let fetcher = FakeMediaFetcher::default()
        .with("photo", PNG, None)
        .failing("broken", refused)
        .hanging("slow");
    let settings = MediaSettings {
        timeout: Duration::from_millis(50),
        ..MediaSettings::default()
    };
    let bench = Bench::new(&fetcher, &MemoryMediaStore::default(), settings);
    let media = [
        media_ref(MediaKind::Image, "broken", None),
        media_ref(MediaKind::Video, "slow", Some(3 * MB)),
        media_ref(MediaKind::Image, "photo", None),
    ];
    let (prepared, lines) = bench.run(&media, "hi").await;
    assert_eq!(prepared.attachments.len(), 1, "the good one still arrives");
    assert_eq!(
        prepared.notes,
        [
            "(the user sent an image that was not fetched: the platform refused the download: 404 at <url>)",
            "(the user sent a 3 MB video that was not fetched: could not be downloaded within 50 ms)",
        ]
    );
    assert_eq!(lines.len(), 3);
    assert!(
        lines.iter().all(|d| !d.contains("://") && !d.contains("secret")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_store_that_refuses_is_a_line_too() {
    let bench = Bench::new(
        &FakeMediaFetcher::default().with("photo", PNG, None),
        &MemoryMediaStore::refusing(),
        MediaSettings::default(),
    );
    let (prepared, _) = bench.run(&[media_ref(MediaKind::Image, "photo", None)], "").await;
    assert_eq!(
        prepared.notes,
        ["(the user sent a 67-byte image that was not fetched: could not be stored: disk full)"]
    );
}

#[tokio::test]
async fn without_a_store_media_are_described() {
    let media = [
        media_ref(MediaKind::Image, "photo", None),
        media_ref(MediaKind::File, "doc", Some(2 * MB)),
    ];
    let (prepared, lines) = run(None, &target("m1"), &media, "").await;
    assert!(prepared.attachments.is_empty());
    assert_eq!(
        prepared.input(""),
        "(the user sent an image that was not fetched: this gateway keeps no media)\n\
         (the user sent a 2 MB file that was not fetched: this gateway keeps no media)"
    );
    assert_eq!(lines.len(), 2);
}

#[tokio::test]
async fn a_transcribed_voice_note_is_not_fetched_and_not_a_failure() {
    let fetcher = FakeMediaFetcher::default();
    let bench = Bench::new(&fetcher, &MemoryMediaStore::default(), MediaSettings::default());
    let voice = [media_ref(MediaKind::Voice, "voice", Some(1000))];
    let (prepared, lines) = bench.run(&voice, "turn on the lights").await;
    assert_eq!(prepared, ForAgent::default());
    assert_eq!(prepared.input("turn on the lights"), "turn on the lights");
    assert!(fetcher.fetched().is_empty());
    assert_eq!(lines, ["voice message 1 of 1: the platform's transcript is the input"]);
    // Without a transcript the note itself is fetched (here: the platform has no such file).
    let (prepared, _) = bench.run(&voice, "").await;
    assert_eq!(
        prepared.notes,
        [
            "(the user sent a 1000-byte voice message that was not fetched: the platform refused the download: file not found)"
        ]
    );
}

#[tokio::test]
async fn a_redelivery_overwrites_what_the_first_delivery_kept() {
    let fetcher = FakeMediaFetcher::default()
        .with("a", PNG, None)
        .with("b", b"%PDF-1.4", None);
    let store = MemoryMediaStore::default();
    let mut bench = Bench::new(&fetcher, &store, MediaSettings::default());
    let media = [
        media_ref(MediaKind::Image, "a", None),
        media_ref(MediaKind::File, "b", None),
    ];
    let (first, _) = bench.run(&media, "").await;
    let (again, _) = bench.run(&media, "").await;
    let urls = |prepared: &ForAgent| prepared.attachments.iter().map(|a| a.url.clone()).collect::<Vec<_>>();
    assert_eq!(urls(&first), urls(&again), "the same names and links");
    assert_eq!((store.puts(), store.files().len()), (4, 2), "two files, kept once each");
    // Another event's files are kept apart.
    bench.target = target("m2");
    let (other, _) = bench.run(&media, "").await;
    assert_ne!(urls(&other), urls(&first));
    assert_eq!(store.files().len(), 4);
}

#[tokio::test]
async fn only_the_first_files_are_fetched() {
    let settings = MediaSettings {
        max_files: 1,
        ..MediaSettings::default()
    };
    let bench = Bench::new(
        &FakeMediaFetcher::default().with("a", PNG, None),
        &MemoryMediaStore::default(),
        settings,
    );
    let media = [
        media_ref(MediaKind::Image, "a", None),
        media_ref(MediaKind::Image, "a", None),
    ];
    let (prepared, _) = bench.run(&media, "").await;
    assert_eq!(prepared.attachments.len(), 1);
    assert_eq!(
        prepared.notes,
        ["(the user sent an image that was not fetched: only the first 1 files of a message are fetched)"]
    );
}

#[tokio::test]
async fn images_past_the_inline_budget_go_by_their_links() {
    let settings = MediaSettings {
        inline_budget: (PNG.len() * 2) as u64,
        ..MediaSettings::default()
    };
    let bench = Bench::new(
        &FakeMediaFetcher::default().with("a", PNG, None),
        &MemoryMediaStore::default(),
        settings,
    );
    let media: Vec<MediaRef> = (0..5).map(|_| media_ref(MediaKind::Image, "a", None)).collect();
    let (prepared, lines) = bench.run(&media, "").await;
    let inline: Vec<bool> = prepared.attachments.iter().map(|a| a.bytes.is_some()).collect();
    assert_eq!(inline, [true, true, false, false, false], "the first two fit, in order");
    assert!(
        prepared.attachments.iter().all(|a| a.url.starts_with("memory://")),
        "all kept"
    );
    assert!(prepared.notes.is_empty());
    assert!(lines[1].ends_with("works 24 h)"), "{lines:?}");
    assert!(
        lines[2].ends_with("by its link only, past the message's inline budget)"),
        "{lines:?}"
    );
}

#[test]
fn the_cap_reads_from_its_variable() {
    assert_eq!(parse_max_bytes(" 1048576 "), Ok(MB));
    for bad in ["0", "-1", "20MB", "", "2000000000"] {
        assert_eq!(parse_max_bytes(bad), Err(MaxBytesError), "{bad}");
    }
    assert!(MaxBytesError.to_string().contains(MAX_BYTES_VAR));
}
