use super::*;

const TO: &str = "1234567890";
const ID: &str = "msg_1767225600000_ab12cd34";

fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        if n == 1 { ID.to_owned() } else { format!("msg_{n}") }
    }
}

/// Runs one step and returns the wire texts, advancing `progress` as a socket that took every
/// frame would.
fn step(progress: &mut Progress, content: &str, finished: bool, new_id: &mut impl FnMut() -> String) -> Vec<String> {
    let plan = plan(progress, TO, content, finished, new_id);
    *progress = plan.after;
    plan.frames.into_iter().map(|(frame, _)| frame.to_text()).collect()
}

/// §11: "Hello, 微博! This is a streamed reply." as two deltas and a done marker.
#[test]
fn the_streamed_reply_vector() {
    let mut progress = Progress::default();
    let mut new_id = ids();
    let mut sent = step(&mut progress, "Hello, 微博! ", false, &mut new_id);
    sent.extend(step(
        &mut progress,
        "Hello, 微博! This is a streamed reply.",
        false,
        &mut new_id,
    ));
    sent.extend(step(
        &mut progress,
        "Hello, 微博! This is a streamed reply.",
        true,
        &mut new_id,
    ));
    assert_eq!(
        sent,
        [
            r#"{"type":"send_message","payload":{"toUserId":"1234567890","text":"Hello, 微博! ","messageId":"msg_1767225600000_ab12cd34","chunkId":0,"done":false}}"#,
            r#"{"type":"send_message","payload":{"toUserId":"1234567890","text":"This is a streamed reply.","messageId":"msg_1767225600000_ab12cd34","chunkId":1,"done":false}}"#,
            r#"{"type":"send_message","payload":{"toUserId":"1234567890","text":"","messageId":"msg_1767225600000_ab12cd34","chunkId":2,"done":true}}"#,
        ]
    );
    assert!(progress.done);
    assert!(
        step(
            &mut progress,
            "Hello, 微博! This is a streamed reply. more",
            true,
            &mut new_id
        )
        .is_empty()
    );
}

/// §11: a 4,000-character delta goes out as 1,800 + 1,800 + 400, done only on the last.
#[test]
fn a_long_delta_is_split() {
    let text: String = "微".repeat(4000);
    for finished in [true, false] {
        let plan = plan(&Progress::default(), TO, &text, finished, ids());
        let frames: Vec<&SendMessage> = plan.frames.iter().map(|(f, _)| f).collect();
        let lengths: Vec<usize> = frames.iter().map(|f| f.text.chars().count()).collect();
        assert_eq!(lengths, [1800, 1800, 400]);
        assert_eq!(frames.iter().map(|f| f.chunk_id).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(frames.iter().all(|f| f.message_id == ID));
        assert_eq!(
            frames.iter().map(|f| f.done).collect::<Vec<_>>(),
            [false, false, finished]
        );
        assert_eq!(frames.iter().map(|f| f.text.as_str()).collect::<String>(), text);
    }
    assert_eq!(split_chars("", 3), Vec::<&str>::new());
    assert_eq!(split_chars("abcdefg", 3), ["abc", "def", "g"]);
}

#[test]
fn a_one_shot_reply_is_one_done_frame() {
    let plan = plan(&Progress::default(), TO, "pong!", true, ids());
    assert_eq!(plan.frames.len(), 1);
    let frame = &plan.frames[0].0;
    assert_eq!((frame.chunk_id, frame.done, frame.text.as_str()), (0, true, "pong!"));
    assert!(plan.after.done);
}

#[test]
fn no_empty_first_frame_and_no_frame_without_news() {
    let mut progress = Progress::default();
    let mut new_id = ids();
    assert!(step(&mut progress, "", false, &mut new_id).is_empty());
    assert_eq!(progress.message_id, None);
    assert_eq!(step(&mut progress, "a", false, &mut new_id).len(), 1);
    assert!(step(&mut progress, "a", false, &mut new_id).is_empty());
    // An answer that ends with no text at all sends nothing and is settled.
    let empty = plan(&Progress::default(), TO, "", true, ids());
    assert!(empty.frames.is_empty());
    assert!(empty.after.done);
}

#[test]
fn a_changed_answer_closes_the_reply_and_goes_out_anew() {
    let mut progress = Progress::default();
    let mut new_id = ids();
    step(&mut progress, "Hello world!", false, &mut new_id);
    let plan = plan(&progress, TO, "The agent failed: timeout", true, &mut new_id);
    let frames: Vec<&SendMessage> = plan.frames.iter().map(|(f, _)| f).collect();
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (
            frames[0].message_id.as_str(),
            frames[0].chunk_id,
            frames[0].done,
            frames[0].text.as_str()
        ),
        (ID, 1, true, "")
    );
    assert_eq!(
        (frames[1].message_id.as_str(), frames[1].chunk_id, frames[1].done),
        ("msg_2", 0, true)
    );
    assert_eq!(frames[1].text, "The agent failed: timeout");
}

#[test]
fn after_a_reconnect_the_open_reply_is_closed_and_the_rest_is_a_new_reply() {
    let mut progress = Progress::default();
    let mut new_id = ids();
    step(&mut progress, "Hello ", false, &mut new_id);
    let progress = progress.on_new_socket();
    let sent = plan(&progress, TO, "Hello world", true, &mut new_id);
    let frames: Vec<&SendMessage> = sent.frames.iter().map(|(f, _)| f).collect();
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (
            frames[0].message_id.as_str(),
            frames[0].chunk_id,
            frames[0].text.as_str(),
            frames[0].done
        ),
        (ID, 1, "", true)
    );
    assert_eq!(
        (
            frames[1].message_id.as_str(),
            frames[1].chunk_id,
            frames[1].text.as_str(),
            frames[1].done
        ),
        ("msg_2", 0, "world", true)
    );
    assert_eq!(sent.after.dangling, None);
    // Nothing new after a reconnect: only the closing marker.
    let mut idle = Progress::default();
    step(&mut idle, "Hello world", false, &mut ids());
    let none = plan(&idle.on_new_socket(), TO, "Hello world", true, ids());
    assert_eq!(none.frames.len(), 1);
    assert_eq!(
        (
            none.frames[0].0.chunk_id,
            none.frames[0].0.done,
            none.frames[0].0.text.as_str()
        ),
        (1, true, "")
    );
    assert!(none.after.done);
    // A socket that ended before anything was sent leaves nothing to close.
    assert_eq!(Progress::default().on_new_socket().dangling, None);
}

#[test]
fn a_socket_failing_midway_keeps_what_was_written() {
    let text = "x".repeat(4000);
    let plan = plan(&Progress::default(), TO, &text, true, ids());
    // Only the first frame was written: the next step goes on from chunk 1.
    let after_first = plan.frames[0].1.clone();
    assert_eq!(after_first.next_chunk, 1);
    assert_eq!(after_first.sent.len(), 1800);
    let rest = super::plan(&after_first, TO, &text, true, ids());
    assert_eq!(rest.frames.iter().map(|(f, _)| f.chunk_id).collect::<Vec<_>>(), [1, 2]);
    assert!(rest.frames.iter().all(|(f, _)| f.message_id == ID));
}
