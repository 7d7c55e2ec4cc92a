//! What a user's photo takes on the fake Bot API: `getFile` (a known `file_id` → its
//! `file_size` and a `file_path`; 400 "file is too big" over 20 MB, "invalid file_id" for an
//! unknown one) and the file server, `GET /file/bot<token>/<file_path>`, serving
//! [`FakeTelegram::media`] and counting downloads there.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{FakeTelegram, ok, refuse};
use crate::fake_media::File;

/// What bots may download: 20 MB.
const MAX_DOWNLOAD: u64 = 20 * 1024 * 1024;

/// The routes, merged into the fake's.
pub(super) fn routes() -> Router<FakeTelegram> {
    Router::new()
        .route("/{bot}/getFile", post(get_file))
        .route("/file/{bot}/photos/{file_id}", get(file))
}

impl FakeTelegram {
    /// A user's photo message update (without its `update_id`) of the file `file_id`, which
    /// [`FakeTelegram::media`] serves (add it there first), with `caption`.
    pub fn photo_update(&self, chat_id: i64, user_id: i64, file_id: &str, caption: &str) -> Value {
        let stated = self.media.get(file_id).and_then(|f| f.stated);
        let mut update = self.text_update(chat_id, user_id, caption);
        let message = &mut update["message"];
        if let Some(fields) = message.as_object_mut() {
            fields.remove("text");
            fields.remove("entities");
        }
        if !caption.is_empty() {
            message["caption"] = json!(caption);
        }
        let mut photo = json!({"file_id": file_id, "file_unique_id": format!("u-{file_id}"), "width": 1, "height": 1});
        if let Some(size) = stated {
            photo["file_size"] = json!(size);
        }
        let thumb = json!({"file_id": format!("{file_id}-thumb"), "file_unique_id": "thumb", "width": 1, "height": 1});
        message["photo"] = json!([thumb, photo]);
        update
    }

    /// The photo served as `file_id`.
    pub fn add_photo(&self, file_id: &str, file: File) {
        self.media.add(file_id, file);
    }
}

async fn get_file(State(fake): State<FakeTelegram>, Path(bot): Path<String>, body: String) -> Response {
    if bot != format!("bot{}", fake.state().token) {
        return refuse(401, "Unauthorized");
    }
    let params: Value = serde_json::from_str(&body).unwrap_or_default();
    let file_id = params["file_id"].as_str().unwrap_or_default();
    let Some(file) = fake.media.get(file_id) else {
        return refuse(400, "Bad Request: invalid file_id");
    };
    if file.stated.is_some_and(|size| size > MAX_DOWNLOAD) {
        return refuse(400, "Bad Request: file is too big");
    }
    let mut result = json!({"file_id": file_id, "file_unique_id": format!("u-{file_id}"),
        "file_path": format!("photos/{file_id}")});
    if let Some(size) = file.stated {
        result["file_size"] = json!(size);
    }
    ok(result)
}

async fn file(State(fake): State<FakeTelegram>, Path((bot, file_id)): Path<(String, String)>) -> Response {
    if bot != format!("bot{}", fake.state().token) {
        return refuse(404, "Not Found");
    }
    fake.media.download(&file_id)
}
