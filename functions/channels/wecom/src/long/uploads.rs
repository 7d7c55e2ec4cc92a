//! The images of a long-connection answer, sent after its text by the pusher (§3.7, §3.8).
//!
//! `aibot_respond_msg` is documented without `msg_item` on the long connection, so each image
//! the dispatcher kept in the store ([`crate::reply::images`]) is uploaded as temporary media
//! over the socket — `aibot_upload_media_init` (its ack carries `upload_id`), one
//! `aibot_upload_media_chunk` per stored record (240 KB, under the 512 KB chunk limit, indices
//! from 0 as the official SDK sends them), `aibot_upload_media_finish` (its ack carries
//! `media_id`) — and sent to the chat as an `aibot_send_msg` `image` message. One frame is in
//! flight at a time; an image whose upload WeCom refuses, or whose records expired, is sent as
//! its link instead, so the answer never loses it.

use imgate_core::IntegrationId;
use imgate_core::ports::Store;
use serde_json::Value;

use super::frame::{self, Outgoing, cmd};
use crate::reply::images::{self, Kept};

/// Where the current image stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Its upload is to be started.
    Init,
    /// Chunk `index` of upload `upload_id` is next.
    Chunk { upload_id: String, index: usize },
    /// Upload `upload_id` is to be finished.
    Finish { upload_id: String },
    /// The `image` message of `media_id` is next.
    Send { media_id: String },
    /// It could not be uploaded: its link is next.
    Link,
}

/// What to send next.
#[derive(Debug)]
pub enum Next {
    /// This frame.
    Frame(Outgoing),
    /// The current image's records are gone (expired): [`Uploads::failed`], then ask again.
    Missing,
    /// The store could not be read: ask again on the next poll.
    Wait,
    /// Every image is done.
    Done,
}

/// The images of one answer on their way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploads {
    images: Vec<Kept>,
    next: usize,
    step: Step,
}

impl Uploads {
    /// The images to send; `None` when there are none.
    pub fn new(images: Vec<Kept>) -> Option<Self> {
        (!images.is_empty()).then_some(Self {
            images,
            next: 0,
            step: Step::Init,
        })
    }

    /// The next frame for the answer of `stream_id` to `chatid`.
    pub async fn frame(
        &self,
        store: &dyn Store,
        integration_id: &IntegrationId,
        stream_id: &str,
        chatid: &str,
    ) -> Next {
        let Some(image) = self.images.get(self.next) else {
            return Next::Done;
        };
        let frame = match &self.step {
            Step::Init => frame::upload_init(
                &frame::new_req_id(cmd::UPLOAD_INIT),
                &image.name,
                image.size,
                image.chunks,
                &image.md5,
            ),
            Step::Chunk { upload_id, index } => {
                match images::chunk(store, integration_id, stream_id, &image.md5, *index).await {
                    Ok(Some(data)) => {
                        frame::upload_chunk(&frame::new_req_id(cmd::UPLOAD_CHUNK), upload_id, *index, &data)
                    }
                    Ok(None) => return Next::Missing,
                    Err(error) => {
                        tracing::warn!(platform = "wecom", %error, "reading an image failed; tried again on the next poll");
                        return Next::Wait;
                    }
                }
            }
            Step::Finish { upload_id } => frame::upload_finish(&frame::new_req_id(cmd::UPLOAD_FINISH), upload_id),
            Step::Send { media_id } => frame::send_image(&frame::new_req_id(cmd::SEND_MSG), chatid, media_id),
            Step::Link => frame::send_markdown(&frame::new_req_id(cmd::SEND_MSG), chatid, &image.link),
        };
        Next::Frame(frame)
    }

    /// Whether every image is done.
    pub fn done(&self) -> bool {
        self.next >= self.images.len()
    }

    /// WeCom acked the frame in flight, with `body`.
    pub fn acked(&mut self, body: Option<&Value>) {
        let field = |name: &str| {
            body.and_then(|b| b.get(name))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let chunks = self.images.get(self.next).map_or(0, |image| image.chunks);
        self.step = match std::mem::replace(&mut self.step, Step::Init) {
            Step::Init => match field("upload_id") {
                Some(upload_id) => Step::Chunk { upload_id, index: 0 },
                None => Step::Link,
            },
            Step::Chunk { upload_id, index } if index + 1 < chunks => Step::Chunk {
                upload_id,
                index: index + 1,
            },
            Step::Chunk { upload_id, .. } => Step::Finish { upload_id },
            Step::Finish { .. } => match field("media_id") {
                Some(media_id) => Step::Send { media_id },
                None => Step::Link,
            },
            Step::Send { .. } | Step::Link => {
                self.next += 1;
                Step::Init
            }
        };
    }

    /// The frame in flight was not acked in time: a message counts as shown (as every frame
    /// does), an upload step as failed.
    pub fn timed_out(&mut self) {
        if matches!(self.step, Step::Send { .. } | Step::Link) {
            self.acked(None);
        } else {
            self.failed();
        }
    }

    /// WeCom refused the frame in flight (or the image's records are gone): the image goes as
    /// its link; a refused link is given up.
    pub fn failed(&mut self) {
        if self.step == Step::Link {
            self.next += 1;
            self.step = Step::Init;
        } else {
            self.step = Step::Link;
        }
    }

    /// The connection ended: an upload under way starts again on the next one.
    pub fn restart(&mut self) {
        if matches!(self.step, Step::Chunk { .. } | Step::Finish { .. }) {
            self.step = Step::Init;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kept(chunks: usize) -> Kept {
        Kept {
            md5: "m".into(),
            chunks,
            size: 10,
            name: "image-1.png".into(),
            link: "[chart](https://x/c.png)".into(),
        }
    }

    #[test]
    fn an_image_goes_through_init_chunks_finish_and_send() {
        let mut uploads = Uploads::new(vec![kept(2)]).unwrap();
        uploads.acked(Some(&json!({"upload_id": "u1"})));
        assert_eq!(
            uploads.step,
            Step::Chunk {
                upload_id: "u1".into(),
                index: 0
            }
        );
        uploads.acked(None);
        assert_eq!(
            uploads.step,
            Step::Chunk {
                upload_id: "u1".into(),
                index: 1
            }
        );
        uploads.acked(None);
        assert_eq!(uploads.step, Step::Finish { upload_id: "u1".into() });
        uploads.acked(Some(&json!({"type": "image", "media_id": "M1"})));
        assert_eq!(uploads.step, Step::Send { media_id: "M1".into() });
        uploads.acked(None);
        assert_eq!(uploads.next, 1, "done");
    }

    #[test]
    fn a_refused_upload_sends_the_link_once() {
        let mut uploads = Uploads::new(vec![kept(1), kept(1)]).unwrap();
        uploads.acked(None); // init acked without an upload_id
        assert_eq!(uploads.step, Step::Link);
        uploads.failed();
        assert_eq!(
            (uploads.next, &uploads.step),
            (1, &Step::Init),
            "a refused link is given up"
        );
        uploads.timed_out();
        assert_eq!(uploads.step, Step::Link, "an upload without its ack fails");
        uploads.timed_out();
        assert_eq!(uploads.next, 2, "a message without its ack counts as shown");
        assert!(Uploads::new(Vec::new()).is_none());
    }
}
