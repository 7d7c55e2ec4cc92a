use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::long::session::Refusal;

struct Bench {
    store: Arc<dyn Store>,
    id: IntegrationId,
    pusher: Pusher,
    frames: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

async fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let (deps, _) = imgate_embedded::open(&dir.path().join("db"), &dir.path().join("key"), Default::default())
        .await
        .unwrap();
    let id = IntegrationId::generate();
    let (outbox, frames) = mpsc::channel(16);
    Bench {
        pusher: Pusher::new(deps.store.clone(), id.clone(), outbox, HashMap::new()),
        store: deps.store,
        id,
        frames,
        _dir: dir,
    }
}

impl Bench {
    async fn stream(&self, stream_id: &str, content: &str, version: u64, finished: bool) {
        let now = Timestamp::now();
        let state = StreamState {
            integration_id: self.id.clone(),
            id: stream_id.to_owned(),
            content: content.to_owned(),
            finished,
            card: None,
            version,
            created_at: now,
            expires_at: now.plus(Duration::from_secs(600)),
        };
        if version == 1 {
            assert!(self.store.create_stream(&state).await.unwrap());
        } else {
            assert!(self.store.update_stream(&state).await.unwrap());
        }
    }

    fn frame(&mut self) -> Option<Value> {
        self.frames.try_recv().ok().map(|t| serde_json::from_str(&t).unwrap())
    }

    fn delivered(&mut self, req_id: &str, status: DeliveryStatus) {
        self.pusher.delivered(Delivery {
            req_id: req_id.to_owned(),
            cmd: cmd::RESPOND_MSG.to_owned(),
            status,
            body: None,
        });
    }

    async fn open(&mut self, req_id: &str, stream_id: &str) {
        let command = Command::Open {
            req_id: req_id.into(),
            stream_id: stream_id.into(),
            chatid: "u1".into(),
        };
        self.pusher.on_command(command).await;
    }
}

#[tokio::test]
async fn frames_go_out_in_order_one_in_flight_and_the_answer_closes_on_the_acked_finish() {
    let mut b = bench().await;
    b.stream("S1", "thinking", 1, false).await;
    b.open("R1", "S1").await;
    let first = b.frame().unwrap();
    assert_eq!(first["cmd"], "aibot_respond_msg");
    assert_eq!(first["headers"]["req_id"], "R1");
    assert_eq!(first["body"]["stream"]["content"], "thinking");

    // News while the first frame waits for its ack: nothing more goes out yet.
    b.stream("S1", "Hel", 2, false).await;
    b.stream("S1", "Hello", 3, false).await;
    b.pusher.poll().await;
    assert_eq!(b.frame(), None, "one frame in flight per answer");
    b.delivered("R1", DeliveryStatus::Acked);
    b.pusher.poll().await;
    let second = b.frame().unwrap();
    assert_eq!(
        second["body"]["stream"]["content"], "Hello",
        "intermediate versions coalesce"
    );
    b.delivered("R1", DeliveryStatus::Acked);
    b.pusher.poll().await;
    assert_eq!(b.frame(), None, "no frame without news");

    b.stream("S1", "Hello there", 4, true).await;
    b.pusher.poll().await;
    let last = b.frame().unwrap();
    assert_eq!(last["body"]["stream"]["finish"], true);
    assert_eq!(b.pusher.open_answers(), 1);
    b.delivered("R1", DeliveryStatus::TimedOut);
    assert_eq!(b.pusher.open_answers(), 0, "done once the final frame went out");
    b.pusher.poll().await;
    assert_eq!(b.frame(), None);
}

#[tokio::test]
async fn a_stream_refused_by_wecom_finishes_as_one_proactive_message() {
    let mut b = bench().await;
    b.stream("S1", "thinking", 1, false).await;
    b.open("R1", "S1").await;
    b.frame().unwrap();
    b.delivered(
        "R1",
        DeliveryStatus::Rejected {
            errcode: frame::errcode::STREAM_EXPIRED,
            errmsg: "stream message update expired".into(),
        },
    );
    b.stream("S1", "still working", 2, false).await;
    b.pusher.poll().await;
    assert_eq!(b.frame(), None, "nothing until the answer is complete");
    b.stream("S1", "the whole answer", 3, true).await;
    b.pusher.poll().await;
    let push = b.frame().unwrap();
    assert_eq!(push["cmd"], "aibot_send_msg");
    assert_eq!(push["body"]["chatid"], "u1");
    assert_eq!(push["body"]["markdown"]["content"], "the whole answer");
    let req_id = push["headers"]["req_id"].as_str().unwrap().to_owned();
    b.pusher.delivered(Delivery {
        req_id,
        cmd: cmd::SEND_MSG.into(),
        status: DeliveryStatus::Acked,
        body: None,
    });
    assert_eq!(b.pusher.open_answers(), 0);
}

#[tokio::test]
async fn open_answers_carry_over_and_a_redelivered_callback_continues_the_stream() {
    let mut b = bench().await;
    b.stream("S1", "thinking", 1, false).await;
    b.stream("S2", "thinking", 1, false).await;
    b.open("R1", "S1").await;
    b.open("R2", "S2").await;
    b.frame().unwrap();
    b.frame().unwrap();
    b.delivered("R1", DeliveryStatus::Acked);
    // S2's final frame is written but not acked when the connection drops: it may have been
    // shown, so it is not sent again.
    b.delivered("R2", DeliveryStatus::Acked);
    b.stream("S2", "done", 2, true).await;
    b.pusher.poll().await;
    assert_eq!(b.frame().unwrap()["body"]["stream"]["finish"], true);
    let carried = std::mem::replace(
        &mut b.pusher,
        Pusher::new(b.store.clone(), b.id.clone(), mpsc::channel(1).0, HashMap::new()),
    )
    .into_carry();
    assert_eq!(carried.keys().collect::<Vec<_>>(), vec!["S1"]);
    assert_eq!(carried["S1"].route, Route::push_all());

    let (outbox, frames) = mpsc::channel(16);
    b.frames = frames;
    b.pusher = Pusher::new(b.store.clone(), b.id.clone(), outbox, carried);
    b.stream("S1", "partial", 2, false).await;
    b.pusher.poll().await;
    assert_eq!(b.frame(), None, "a carried answer waits for its end");
    let again = Command::Again {
        req_id: "R9".into(),
        stream_id: "S1".into(),
        chatid: "u1".into(),
    };
    b.pusher.on_command(again).await;
    let frame = b.frame().unwrap();
    assert_eq!(frame["headers"]["req_id"], "R9", "continued on the new req_id");
    assert_eq!(frame["body"]["stream"]["content"], "partial");
    assert_eq!(frame["body"]["stream"]["id"], "S1");

    // A redelivery of an answer that already finished shows nothing.
    let finished = Command::Again {
        req_id: "R10".into(),
        stream_id: "S2".into(),
        chatid: "u1".into(),
    };
    b.pusher.on_command(finished).await;
    assert_eq!(b.frame(), None);
    assert_eq!(b.pusher.open_answers(), 1);
}

#[tokio::test]
async fn a_refused_or_cancelled_frame_is_tried_again_and_an_expired_buffer_is_dropped() {
    let mut b = bench().await;
    b.stream("S1", "thinking", 1, false).await;
    b.open("R1", "S1").await;
    b.frame().unwrap();
    b.delivered("R1", DeliveryStatus::Cancelled);
    b.stream("S1", "more", 2, false).await;
    b.pusher.poll().await;
    assert_eq!(b.frame().unwrap()["body"]["stream"]["content"], "more");
    b.delivered("R1", DeliveryStatus::Refused(Refusal::UnknownReqId));
    assert_eq!(b.pusher.answers["S1"].route, Route::push_all());

    b.open("R2", "gone").await;
    assert_eq!(b.frame(), None);
    assert!(!b.pusher.answers.contains_key("gone"), "no buffer, no answer");
}

#[tokio::test]
async fn an_answer_past_the_bubble_finishes_the_stream_and_follows_in_proactive_parts_in_order() {
    let mut b = bench().await;
    let paragraph = format!("{}\n\n", "word ".repeat(999).trim_end());
    let answer = paragraph.repeat(9); // ~45 KB: one bubble and two more messages
    b.stream("S1", "thinking", 1, false).await;
    b.open("R1", "S1").await;
    b.frame().unwrap();
    b.delivered("R1", DeliveryStatus::Acked);

    b.stream("S1", &answer[..25_000], 2, false).await;
    b.pusher.poll().await;
    let closing = b.frame().unwrap();
    let shown = closing["body"]["stream"]["content"].as_str().unwrap().to_owned();
    assert_eq!(closing["body"]["stream"]["finish"], true, "the full bubble is finished");
    assert!(shown.len() <= MAX_CONTENT_BYTES && shown.ends_with(CONTINUED));
    b.delivered("R1", DeliveryStatus::Acked);
    b.pusher.poll().await;
    assert_eq!(b.frame(), None, "the rest waits for the whole answer");

    b.stream("S1", &answer, 3, true).await;
    let mut parts = Vec::new();
    for _ in 0..5 {
        b.pusher.poll().await;
        let Some(push) = b.frame() else { break };
        assert_eq!(push["cmd"], "aibot_send_msg");
        assert_eq!(push["body"]["chatid"], "u1");
        b.pusher.poll().await;
        assert_eq!(b.frame(), None, "one part in flight at a time");
        let req_id = push["headers"]["req_id"].as_str().unwrap().to_owned();
        parts.push(push["body"]["markdown"]["content"].as_str().unwrap().to_owned());
        b.pusher.delivered(Delivery {
            req_id,
            cmd: cmd::SEND_MSG.into(),
            status: DeliveryStatus::Acked,
            body: None,
        });
    }
    assert_eq!(parts.len(), 2, "the rest in two messages");
    assert!(parts.iter().all(|p| p.len() <= MAX_CONTENT_BYTES));
    let seen = format!("{}{}", shown.strip_suffix(CONTINUED).unwrap(), parts.concat());
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(squash(&seen), squash(&answer), "the answer arrives whole, in order");
    assert_eq!(b.pusher.open_answers(), 0);
}

impl Bench {
    /// Finishes `stream_id` with `content` and one stored image of two records.
    async fn finish_with_image(&self, stream_id: &str, content: &str, version: u64) {
        let now = Timestamp::now();
        for (n, data) in ["AAAA", "BBBB"].iter().enumerate() {
            let record = StreamState {
                integration_id: self.id.clone(),
                id: crate::reply::images::chunk_id(stream_id, "md5hex", n),
                content: (*data).to_owned(),
                finished: true,
                card: None,
                version: 1,
                created_at: now,
                expires_at: now.plus(Duration::from_secs(600)),
            };
            assert!(self.store.create_stream(&record).await.unwrap());
        }
        let mut state = self.store.get_stream(&self.id, stream_id, now).await.unwrap().unwrap();
        state.content = content.to_owned();
        state.finished = true;
        state.version = version;
        state.card = Some(serde_json::json!({ crate::reply::images::MANIFEST: [
            {"md5": "md5hex", "chunks": 2, "size": 6, "name": "image-1.png", "link": "[chart](https://x/c.png)"}
        ]}));
        assert!(self.store.update_stream(&state).await.unwrap());
    }

    /// Acks the frame `frame` with `body`.
    fn ack(&mut self, frame: &Value, body: Option<Value>) {
        self.pusher.delivered(Delivery {
            req_id: frame["headers"]["req_id"].as_str().unwrap().to_owned(),
            cmd: frame["cmd"].as_str().unwrap().to_owned(),
            status: DeliveryStatus::Acked,
            body,
        });
    }

    /// The next frame, after a poll.
    async fn next(&mut self) -> Value {
        self.pusher.poll().await;
        self.frame().expect("a frame")
    }
}

/// An answer with one image streamed and finished, its final text frame acked: the bench and
/// the first frame of the images.
async fn past_the_text() -> (Bench, Value) {
    let mut b = bench().await;
    b.stream("S1", "thinking", 1, false).await;
    b.open("R1", "S1").await;
    b.frame().unwrap();
    b.delivered("R1", DeliveryStatus::Acked);
    b.finish_with_image("S1", "Here:", 2).await;
    let last = b.next().await;
    assert_eq!(last["body"]["stream"]["finish"], true);
    assert_eq!(last["body"]["stream"]["content"], "Here:");
    assert!(last["body"].get("template_card").is_none(), "the image list is no card");
    b.pusher.poll().await;
    assert_eq!(b.frame(), None, "the images wait for the text's ack");
    b.delivered("R1", DeliveryStatus::Acked);
    let init = b.next().await;
    (b, init)
}

#[tokio::test]
async fn images_are_uploaded_over_the_socket_and_sent_after_the_text() {
    let (mut b, init) = past_the_text().await;
    assert_eq!(init["cmd"], "aibot_upload_media_init");
    assert_eq!(
        init["body"],
        serde_json::json!({"type": "image", "filename": "image-1.png", "total_size": 6, "total_chunks": 2, "md5": "md5hex"})
    );
    b.pusher.poll().await;
    assert_eq!(b.frame(), None, "one frame in flight");
    b.ack(&init, Some(serde_json::json!({"upload_id": "U1"})));
    for (index, data) in ["AAAA", "BBBB"].iter().enumerate() {
        let chunk = b.next().await;
        assert_eq!(chunk["cmd"], "aibot_upload_media_chunk");
        assert_eq!(
            chunk["body"],
            serde_json::json!({"upload_id": "U1", "chunk_index": index, "base64_data": data})
        );
        b.ack(&chunk, None);
    }
    let finish = b.next().await;
    assert_eq!(finish["cmd"], "aibot_upload_media_finish");
    b.ack(&finish, Some(serde_json::json!({"type": "image", "media_id": "M1"})));
    let send = b.next().await;
    assert_eq!(send["cmd"], "aibot_send_msg");
    assert_eq!(
        send["body"],
        serde_json::json!({"chatid": "u1", "msgtype": "image", "image": {"media_id": "M1"}})
    );
    b.ack(&send, None);
    assert_eq!(b.pusher.open_answers(), 0, "the answer is done");
}

#[tokio::test]
async fn an_image_whose_upload_is_refused_goes_as_its_link() {
    let (mut b, init) = past_the_text().await;
    b.pusher.delivered(Delivery {
        req_id: init["headers"]["req_id"].as_str().unwrap().to_owned(),
        cmd: cmd::UPLOAD_INIT.to_owned(),
        status: DeliveryStatus::Rejected {
            errcode: 40_058,
            errmsg: "invalid".into(),
        },
        body: None,
    });
    let link = b.next().await;
    assert_eq!(link["cmd"], "aibot_send_msg");
    assert_eq!(link["body"]["markdown"]["content"], "[chart](https://x/c.png)");
    b.ack(&link, None);
    assert_eq!(b.pusher.open_answers(), 0);
}
