//! AI cards (§4.4): an interactive card whose `msgContent` variable is streamed while the agent
//! writes, for apps whose credentials name a card template.
//!
//! The calls follow the official Python SDK (`card_replier.py`, `AICardReplier`): create the
//! instance (`POST /v1.0/card/instances`), deliver it to a group or a single chat
//! (`POST /v1.0/card/instances/deliver`), update its data by key (`PUT /v1.0/card/instances`)
//! and stream one variable (`PUT /v1.0/card/streaming`). The lifecycle is `flowStatus` 1
//! (processing) at creation, 2 (inputting) before the first streamed frame, 3 (finished) or
//! 5 (failed) at the end; a card that never gets 3 or 5 keeps its spinner, so callers always
//! end it. All `cardParamMap` values are strings (the generated OpenAPI SDK types the map as
//! `Dict[str, str]`).
//!
//! Errors are mapped as for every api.dingtalk.com call (see [`super`]); a 2xx answer with
//! `"success": false` is a [`ReplyError::Platform`].

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::RobotApi;
use imgate_core::credentials::Dingtalk;
use imgate_core::ports::ReplyError;

/// The template variable holding the streamed Markdown answer.
pub const CONTENT_KEY: &str = "msgContent";

/// The template variable holding the card's state.
pub const STATUS_KEY: &str = "flowStatus";

/// `flowStatus` values of AI cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStatus {
    /// Created, nothing written yet (shows a spinner).
    Processing,
    /// Text is being streamed.
    Inputting,
    /// Complete.
    Finished,
    /// Failed.
    Failed,
}

impl FlowStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "1",
            Self::Inputting => "2",
            Self::Finished => "3",
            Self::Failed => "5",
        }
    }
}

/// Where a card is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardSpace<'a> {
    /// A group, by its open conversation id (a robot message's `conversationId`).
    Group(&'a str),
    /// The single chat of the robot with this user (staff id).
    Single(&'a str),
}

impl RobotApi {
    /// Creates a card instance `out_track_id` of `template_id` with `params` as its initial data.
    ///
    /// # Errors
    /// As for [`RobotApi::send_to_user`].
    pub async fn create_card(
        &self,
        app: &Dingtalk,
        template_id: &str,
        out_track_id: &str,
        params: &Map<String, Value>,
    ) -> Result<(), ReplyError> {
        let body = json!({
            "cardTemplateId": template_id,
            "outTrackId": out_track_id,
            "cardData": { "cardParamMap": params },
            "callbackType": "STREAM",
            "imGroupOpenSpaceModel": { "supportForward": true },
            "imRobotOpenSpaceModel": { "supportForward": true },
        });
        self.card_call(app, Method::POST, "/v1.0/card/instances", &body).await
    }

    /// Delivers the card `out_track_id` into `space`, sent by the app's robot.
    ///
    /// # Errors
    /// As for [`RobotApi::send_to_user`].
    pub async fn deliver_card(
        &self,
        app: &Dingtalk,
        out_track_id: &str,
        space: CardSpace<'_>,
    ) -> Result<(), ReplyError> {
        let body = deliver_body(app, out_track_id, space);
        self.card_call(app, Method::POST, "/v1.0/card/instances/deliver", &body)
            .await
    }

    /// Updates the given variables of the card `out_track_id`, leaving the others as they are.
    ///
    /// # Errors
    /// As for [`RobotApi::send_to_user`].
    pub async fn update_card(
        &self,
        app: &Dingtalk,
        out_track_id: &str,
        params: &Map<String, Value>,
    ) -> Result<(), ReplyError> {
        let body = json!({
            "outTrackId": out_track_id,
            "cardData": { "cardParamMap": params },
            "cardUpdateOptions": { "updateCardDataByKey": true },
        });
        self.card_call(app, Method::PUT, "/v1.0/card/instances", &body).await
    }

    /// Streams `content` (the whole value so far, `isFull`) into the variable `key` of the card
    /// `out_track_id`; `finalize` ends streaming of that variable. Every call carries a fresh
    /// `guid` (DingTalk's idempotency key), so a retried frame is never taken for a duplicate.
    ///
    /// # Errors
    /// As for [`RobotApi::send_to_user`].
    pub async fn stream_card(
        &self,
        app: &Dingtalk,
        out_track_id: &str,
        key: &str,
        content: &str,
        finalize: bool,
    ) -> Result<(), ReplyError> {
        let body = json!({
            "outTrackId": out_track_id,
            "guid": guid(),
            "key": key,
            "content": content,
            "isFull": true,
            "isFinalize": finalize,
            "isError": false,
        });
        self.card_call(app, Method::PUT, "/v1.0/card/streaming", &body).await
    }

    async fn card_call(&self, app: &Dingtalk, method: Method, path: &str, body: &Value) -> Result<(), ReplyError> {
        let answer = self.call(app, method, path, body).await?;
        if answer.get("success").and_then(Value::as_bool) == Some(false) {
            return Err(ReplyError::Platform {
                code: 200,
                message: format!("{path} answered success=false"),
            });
        }
        tracing::debug!(platform = "dingtalk", client_id = %app.client_id, path, "card call done");
        Ok(())
    }
}

/// The deliver request (§4.4 step 2): `openSpaceId` `dtv1.card//IM_GROUP.<conversationId>` with
/// the robot code for groups, `dtv1.card//IM_ROBOT.<staffId>` for single chats.
fn deliver_body(app: &Dingtalk, out_track_id: &str, space: CardSpace<'_>) -> Value {
    match space {
        CardSpace::Group(conversation_id) => json!({
            "outTrackId": out_track_id,
            "userIdType": 1,
            "openSpaceId": format!("dtv1.card//IM_GROUP.{conversation_id}"),
            "imGroupOpenDeliverModel": { "robotCode": app.robot_code },
        }),
        CardSpace::Single(staff_id) => json!({
            "outTrackId": out_track_id,
            "userIdType": 1,
            "openSpaceId": format!("dtv1.card//IM_ROBOT.{staff_id}"),
            "imRobotOpenDeliverModel": { "spaceType": "IM_ROBOT", "robotCode": app.robot_code },
        }),
    }
}

/// A random request id (32 hex digits).
fn guid() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// `cardParamMap` entries from `(key, value)` pairs.
pub fn params<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgate_core::secret::Secret;

    fn app() -> Dingtalk {
        Dingtalk {
            client_id: "dingid".into(),
            client_secret: Secret::new("s"),
            robot_code: "dingrobot".into(),
            card_template_id: Some("tpl.schema".into()),
        }
    }

    #[test]
    fn deliver_bodies_name_the_space() {
        let group = deliver_body(&app(), "t1", CardSpace::Group("cid123"));
        assert_eq!(group["openSpaceId"], "dtv1.card//IM_GROUP.cid123");
        assert_eq!(group["imGroupOpenDeliverModel"]["robotCode"], "dingrobot");
        assert!(group.get("imRobotOpenDeliverModel").is_none());
        let single = deliver_body(&app(), "t1", CardSpace::Single("042297"));
        assert_eq!(single["openSpaceId"], "dtv1.card//IM_ROBOT.042297");
        assert_eq!(single["imRobotOpenDeliverModel"]["spaceType"], "IM_ROBOT");
        assert_eq!(single["userIdType"], 1);
    }

    #[test]
    fn guids_are_fresh_and_params_are_strings() {
        assert_ne!(guid(), guid());
        assert_eq!(guid().len(), 32);
        let p = params([(STATUS_KEY, FlowStatus::Inputting.as_str()), (CONTENT_KEY, "x")]);
        assert_eq!(Value::Object(p), json!({"flowStatus": "2", "msgContent": "x"}));
        assert_eq!(FlowStatus::Failed.as_str(), "5");
    }
}
