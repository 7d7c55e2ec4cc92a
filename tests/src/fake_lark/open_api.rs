//! The Open API side: routing and recording of every HTTP call, the tenant token (§4.1), the bot
//! identity (§2.9) and message send and reply (§4.2–4.4).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{APP_NAME, FakeLark, State};

/// Requests carrying the same `uuid` within this window are one message.
const UUID_WINDOW: Duration = Duration::from_secs(3600);
/// Largest `content` of a text message, in bytes.
const TEXT_LIMIT: usize = 150 * 1024;
/// Largest `content` of a post or card message, in bytes.
const CARD_LIMIT: usize = 30 * 1024;
/// The tenant every record of this fake belongs to.
pub(super) const TENANT_KEY: &str = "tk_fake";

/// One HTTP call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, `""` without one.
    pub query: String,
    /// The request headers (names lower case) except `authorization`.
    pub headers: Vec<(String, String)>,
    /// The JSON body; `Null` when empty, a string holding the raw text when it is not JSON.
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The `code` answered.
    pub code: Option<i64>,
}

impl Call {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A message the fake accepted from a send or reply call.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// The id it was given, `om_<n>`.
    pub message_id: String,
    /// The message replied to (reply calls).
    pub reply_to: Option<String>,
    /// `reply_in_thread` of a reply.
    pub reply_in_thread: bool,
    /// `receive_id_type` of a send call.
    pub receive_id_type: Option<String>,
    /// `receive_id` of a send call.
    pub receive_id: Option<String>,
    /// The chat it went to, when the fake knows it (sends, and replies to messages it saw).
    pub chat_id: Option<String>,
    /// `text`, `post` or `interactive`.
    pub msg_type: String,
    /// `content`, parsed.
    pub content: Value,
    /// The idempotency key.
    pub uuid: Option<String>,
}

impl SentMessage {
    /// The text a reader sees: `text` of a text message, the `text` and `md` elements of a post
    /// (elements joined, paragraphs on separate lines); `None` for cards.
    pub fn text(&self) -> Option<String> {
        match self.msg_type.as_str() {
            "text" => self.content["text"].as_str().map(str::to_owned),
            "post" => {
                let locale = self.content.as_object()?.values().next()?;
                let paragraphs = locale["content"].as_array()?.iter().map(|paragraph| {
                    let items = paragraph.as_array().map(Vec::as_slice).unwrap_or_default();
                    items
                        .iter()
                        .filter_map(|item| item["text"].as_str())
                        .collect::<String>()
                });
                Some(paragraphs.collect::<Vec<_>>().join("\n"))
            }
            _ => None,
        }
    }

    /// The CardKit entity an interactive message refers to.
    pub fn card_id(&self) -> Option<&str> {
        (self.msg_type == "interactive" && self.content["type"] == "card")
            .then(|| self.content["data"]["card_id"].as_str())
            .flatten()
    }
}

/// Tokens, messages and the message-side fault switches.
pub(super) struct Api {
    token_expire: u64,
    /// Issued tokens and when each expires.
    tokens: HashMap<String, Instant>,
    token_issues: usize,
    rate_limit_next: usize,
    pub(super) refuse_card_creation: bool,
    refuse_interactive: bool,
    recalled: HashSet<String>,
    /// The chat of every message the fake knows (sent ones and noted ones).
    chats: HashMap<String, String>,
    sent: Vec<SentMessage>,
    /// Idempotency keys: when first used and the `data` answered then.
    uuids: HashMap<String, (Instant, Value)>,
}

impl Default for Api {
    fn default() -> Self {
        Self {
            token_expire: 7200,
            tokens: HashMap::new(),
            token_issues: 0,
            rate_limit_next: 0,
            refuse_card_creation: false,
            refuse_interactive: false,
            recalled: HashSet::new(),
            chats: HashMap::new(),
            sent: Vec::new(),
            uuids: HashMap::new(),
        }
    }
}

/// What a handler answers: status, extra headers and the JSON body.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    headers: Vec<(&'static str, String)>,
    pub(super) body: Value,
}

impl Answer {
    pub(super) fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            headers: Vec::new(),
            body,
        }
    }

    /// `{"code":0,"msg":"success","data":…}`.
    pub(super) fn data(data: Value) -> Self {
        Self::ok(json!({"code": 0, "msg": "success", "data": data}))
    }

    pub(super) fn error(status: StatusCode, code: i64, msg: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: json!({"code": code, "msg": msg.into()}),
        }
    }

    /// HTTP 400 with `code`, the way Lark answers request errors.
    pub(super) fn rejected(code: i64, msg: impl Into<String>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, code, msg)
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = value.parse() {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// The authenticated routes.
enum Route<'a> {
    BotInfo,
    Send,
    Reply(&'a str),
    CreateCard,
    ElementContent(&'a str, &'a str),
    CardSettings(&'a str),
    UpdateCard(&'a str),
}

impl Route<'_> {
    /// Whether the messaging and card rate limit applies.
    fn limited(&self) -> bool {
        !matches!(self, Route::BotInfo)
    }
}

/// The one handler of the HTTP listener: routes, answers and records the call.
pub(super) async fn dispatch(
    extract::State(fake): extract::State<FakeLark>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = if body.is_empty() {
        Some(Value::Null)
    } else {
        serde_json::from_slice(&body).ok()
    };
    let mut state = fake.state();
    let answer = state.route(&method, &uri, &headers, json.as_ref());
    let recorded = headers
        .iter()
        .filter(|(name, _)| *name != header::AUTHORIZATION)
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    state.calls.push(Call {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: recorded,
        body: json.unwrap_or_else(|| Value::String(String::from_utf8_lossy(&body).into_owned())),
        status: answer.status.as_u16(),
        code: answer.body["code"].as_i64(),
    });
    drop(state);
    answer.into_response()
}

/// A query parameter, as is (the values this fake reads need no decoding).
pub(super) fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn bad_param(why: impl std::fmt::Display) -> Answer {
    Answer::rejected(
        230001,
        format!("Your request contains an invalid request parameter. {why}"),
    )
}

/// Where a message goes.
struct Target {
    reply_to: Option<String>,
    reply_in_thread: bool,
    receive_id_type: Option<String>,
    receive_id: Option<String>,
    chat_id: Option<String>,
}

impl State {
    fn route(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: Option<&Value>) -> Answer {
        let Some(body) = body else {
            // Lark's gateway answer to a body that is not JSON is not in the notes; 9499 "Bad
            // Request" is this fake's choice.
            return Answer::rejected(9499, "Bad Request: the body is not JSON");
        };
        let path: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        let route = match (method.as_str(), path.as_slice()) {
            ("POST", ["open-apis", "auth", "v3", "tenant_access_token", "internal"]) => {
                return self.tenant_token(body);
            }
            ("POST", ["callback", "ws", "endpoint"]) => return self.ws_endpoint(body),
            ("GET", ["open-apis", "bot", "v3", "info"]) => Route::BotInfo,
            ("POST", ["open-apis", "im", "v1", "messages"]) => Route::Send,
            ("POST", ["open-apis", "im", "v1", "messages", id, "reply"]) => Route::Reply(id),
            ("POST", ["open-apis", "cardkit", "v1", "cards"]) => Route::CreateCard,
            ("PUT", ["open-apis", "cardkit", "v1", "cards", c, "elements", e, "content"]) => {
                Route::ElementContent(c, e)
            }
            ("PATCH", ["open-apis", "cardkit", "v1", "cards", card, "settings"]) => Route::CardSettings(card),
            ("PUT", ["open-apis", "cardkit", "v1", "cards", card]) => Route::UpdateCard(card),
            _ => return Answer::error(StatusCode::NOT_FOUND, 404, "404 page not found"),
        };
        if !self.authorized(headers) {
            return Answer::rejected(
                99991663,
                "Invalid access token for authorization. Please make a request with token attached.",
            );
        }
        if route.limited() && self.api.rate_limit_next > 0 {
            self.api.rate_limit_next -= 1;
            let mut answer = Answer::error(
                StatusCode::TOO_MANY_REQUESTS,
                99991400,
                "request trigger frequency limit",
            );
            answer.headers = vec![
                ("x-ogw-ratelimit-limit", "50".to_owned()),
                ("x-ogw-ratelimit-reset", "1".to_owned()),
            ];
            return answer;
        }
        match route {
            Route::BotInfo => Answer::ok(json!({"code": 0, "msg": "ok", "bot": {
                "activate_status": 2, "app_name": APP_NAME, "avatar_url": "", "ip_white_list": [],
                "open_id": self.bot_open_id()}})),
            Route::Send => self.send(uri.query().unwrap_or_default(), body),
            Route::Reply(id) => self.reply(id, body),
            Route::CreateCard => self.create_card(body),
            Route::ElementContent(card, element) => self.element_content(card, element, body),
            Route::CardSettings(card) => self.card_settings(card, body),
            Route::UpdateCard(card) => self.update_card(card, body),
        }
    }

    pub(super) fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|token| self.api.tokens.get(token))
            .is_some_and(|expires| Instant::now() < *expires)
    }

    /// `POST /open-apis/auth/v3/tenant_access_token/internal`: a new `t-<n>` on every call (the
    /// real one hands out the same token until 30 min before it expires; the fake issues a fresh
    /// one so a refresh is visible in [`FakeLark::token_issues`]).
    fn tenant_token(&mut self, body: &Value) -> Answer {
        if body["app_id"] != self.app_id.as_str() || body["app_secret"] != self.app_secret.as_str() {
            return Answer::rejected(10014, "app secret invalid");
        }
        self.api.token_issues += 1;
        let token = format!("t-{}", self.next_id());
        let expire = self.api.token_expire;
        self.api
            .tokens
            .insert(token.clone(), Instant::now() + Duration::from_secs(expire));
        Answer::ok(json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": expire}))
    }

    /// `POST /open-apis/im/v1/messages?receive_id_type=…`.
    fn send(&mut self, query: &str, body: &Value) -> Answer {
        let id_type = query_param(query, "receive_id_type").unwrap_or_default();
        if !matches!(id_type, "chat_id" | "open_id" | "union_id" | "user_id" | "email") {
            return bad_param(format!("receive_id_type {id_type:?}"));
        }
        let Some(receive_id) = body["receive_id"].as_str().filter(|id| !id.is_empty()) else {
            return bad_param("receive_id is required");
        };
        let chat_id = if id_type == "chat_id" {
            receive_id.to_owned()
        } else {
            format!("oc_p2p_{receive_id}")
        };
        let target = Target {
            reply_to: None,
            reply_in_thread: false,
            receive_id_type: Some(id_type.to_owned()),
            receive_id: Some(receive_id.to_owned()),
            chat_id: Some(chat_id),
        };
        self.deliver(target, body)
    }

    /// `POST /open-apis/im/v1/messages/{message_id}/reply`; replying to a message the fake never
    /// saw is accepted (its chat is then unknown), to a recalled one refused with 230011.
    fn reply(&mut self, message_id: &str, body: &Value) -> Answer {
        if self.api.recalled.contains(message_id) {
            return Answer::rejected(230011, "The message is recalled.");
        }
        let target = Target {
            reply_to: Some(message_id.to_owned()),
            reply_in_thread: body["reply_in_thread"].as_bool().unwrap_or(false),
            receive_id_type: None,
            receive_id: None,
            chat_id: self.api.chats.get(message_id).cloned(),
        };
        self.deliver(target, body)
    }

    fn deliver(&mut self, target: Target, body: &Value) -> Answer {
        let uuid = body["uuid"].as_str().filter(|u| !u.is_empty()).map(str::to_owned);
        if let Some(uuid) = &uuid {
            if uuid.chars().count() > 50 {
                return bad_param("uuid is longer than 50 characters");
            }
            if let Some((at, data)) = self.api.uuids.get(uuid)
                && at.elapsed() < UUID_WINDOW
            {
                return Answer::data(data.clone());
            }
        }
        let (Some(msg_type), Some(content)) = (body["msg_type"].as_str(), body["content"].as_str()) else {
            return bad_param("msg_type and content (a JSON string) are required");
        };
        let limit = match msg_type {
            "text" => TEXT_LIMIT,
            "post" | "interactive" => CARD_LIMIT,
            other => return bad_param(format!("msg_type {other:?} is not one of text, post, interactive")),
        };
        if content.len() > limit {
            return Answer::rejected(230025, "The length of the message content reaches its limit.");
        }
        let Ok(parsed) = serde_json::from_str::<Value>(content) else {
            return bad_param("content is not JSON");
        };
        let card_id = match msg_type {
            "text" => validate_text(&parsed).map_err(bad_param).map(|()| None),
            "post" => validate_post(&parsed).map_err(bad_param).map(|()| None),
            _ if self.api.refuse_interactive => Err(Answer::rejected(230027, "Lack of necessary permissions.")),
            _ => card_reference(&parsed).map_err(|why| card_content_error(&why)),
        };
        let card_id = match card_id {
            Ok(card_id) => card_id,
            Err(answer) => return answer,
        };
        if let Some(card_id) = &card_id
            && let Err(answer) = self.cards.check_sendable(card_id)
        {
            return answer;
        }
        let message_id = format!("om_{}", self.next_id());
        if let Some(card_id) = &card_id {
            self.cards.mark_sent(card_id, &message_id);
        }
        if let Some(chat) = &target.chat_id {
            self.api.chats.insert(message_id.clone(), chat.clone());
        }
        let now = imgate_core::Timestamp::now().as_millis().to_string();
        let data = json!({
            "message_id": message_id, "root_id": target.reply_to.clone().unwrap_or_default(),
            "parent_id": target.reply_to.clone().unwrap_or_default(),
            "chat_id": target.chat_id.clone().unwrap_or_default(), "msg_type": msg_type,
            "create_time": now, "update_time": now, "deleted": false, "updated": false,
            "sender": {"id": self.app_id, "id_type": "app_id", "sender_type": "app", "tenant_key": TENANT_KEY},
            "body": {"content": content},
        });
        self.api.sent.push(SentMessage {
            message_id,
            reply_to: target.reply_to,
            reply_in_thread: target.reply_in_thread,
            receive_id_type: target.receive_id_type,
            receive_id: target.receive_id,
            chat_id: target.chat_id,
            msg_type: msg_type.to_owned(),
            content: parsed,
            uuid: uuid.clone(),
        });
        if let Some(uuid) = uuid {
            self.api.uuids.insert(uuid, (Instant::now(), data.clone()));
        }
        Answer::data(data)
    }
}

/// 230099 with the reason in `msg`, as Lark reports card content it cannot build.
pub(super) fn card_content_error(why: &str) -> Answer {
    Answer::rejected(230099, format!("Failed to create card content, ext=ErrMsg: {why}"))
}

/// `{"text":"…"}` with some text (an empty text is refused: the fake's choice, it would show
/// nothing).
fn validate_text(content: &Value) -> Result<(), String> {
    match content["text"].as_str() {
        Some(text) if !text.is_empty() => Ok(()),
        Some(_) => Err("the text is empty".to_owned()),
        None => Err("a text message needs content.text".to_owned()),
    }
}

/// `{"<locale>":{"title":"…","content":[[{"tag":…},…],…]},…}` with the fields each tag needs.
fn validate_post(content: &Value) -> Result<(), String> {
    let locales = content
        .as_object()
        .filter(|o| !o.is_empty())
        .ok_or("a post needs at least one language")?;
    for (locale, post) in locales {
        if post.get("title").is_some_and(|t| !t.is_string()) {
            return Err(format!("{locale}.title is not a string"));
        }
        let paragraphs = post["content"]
            .as_array()
            .ok_or_else(|| format!("{locale}.content is not a list of paragraphs"))?;
        for paragraph in paragraphs {
            let items = paragraph
                .as_array()
                .ok_or_else(|| format!("a paragraph of {locale} is not a list"))?;
            for item in items {
                let needs = match item["tag"].as_str() {
                    Some("text" | "md") => "text",
                    Some("a") => "href",
                    Some("at") => "user_id",
                    Some("img" | "media" | "emotion" | "code_block" | "hr") => continue,
                    Some(tag) => return Err(format!("unknown post tag {tag:?}")),
                    None => return Err("a post element without tag".to_owned()),
                };
                if !item[needs].is_string() {
                    return Err(format!("a {} element needs {needs}", item["tag"]));
                }
            }
        }
    }
    Ok(())
}

/// A card message's content: a reference to a CardKit entity (its id returned), a template, or a
/// full card (JSON 2.0 with `body.elements`, or 1.0 with `elements`, `i18n_elements` or `header`).
fn card_reference(card: &Value) -> Result<Option<String>, String> {
    if !card.is_object() {
        return Err("the card is not a JSON object".to_owned());
    }
    match card.get("type").map(|t| t.as_str().unwrap_or_default()) {
        Some("card") => card["data"]["card_id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(|id| Some(id.to_owned()))
            .ok_or_else(|| "a card reference needs data.card_id".to_owned()),
        Some("template") if card["data"]["template_id"].is_string() => Ok(None),
        Some("template") => Err("a template reference needs data.template_id".to_owned()),
        Some(kind) => Err(format!("unknown card type {kind:?}")),
        None if card["schema"] == "2.0" && !card["body"]["elements"].is_array() => {
            Err("a schema 2.0 card needs body.elements".to_owned())
        }
        None if card["schema"] == "2.0" => Ok(None),
        None if card["elements"].is_array() || card["i18n_elements"].is_object() || card["header"].is_object() => {
            Ok(None)
        }
        None => Err("neither a card nor a card reference".to_owned()),
    }
}

impl FakeLark {
    /// Lifetime of the tokens issued from now on, in seconds (default 7200; 0 makes them
    /// unusable at once).
    pub fn set_token_expire(&self, seconds: u64) {
        self.state().api.token_expire = seconds;
    }

    /// Invalidates every issued token: their next use is answered 99991663.
    pub fn invalidate_tokens(&self) {
        self.state().api.tokens.clear();
    }

    /// Tenant tokens issued.
    pub fn token_issues(&self) -> usize {
        self.state().api.token_issues
    }

    /// Answers the next `calls` message or card calls with HTTP 429, `x-ogw-ratelimit-reset: 1`
    /// and code 99991400.
    pub fn rate_limit_next(&self, calls: usize) {
        self.state().api.rate_limit_next = calls;
    }

    /// Refuses (or again accepts) CardKit card creation, with HTTP 400 code 99991672, the
    /// answer to an app without the `cardkit:card:write` scope.
    pub fn refuse_card_creation(&self, refuse: bool) {
        self.state().api.refuse_card_creation = refuse;
    }

    /// Refuses (or again accepts) `interactive` messages, with 230027 "Lack of necessary
    /// permissions."
    pub fn refuse_interactive_messages(&self, refuse: bool) {
        self.state().api.refuse_interactive = refuse;
    }

    /// Marks a message recalled: replies to it are answered 230011.
    pub fn recall(&self, message_id: &str) {
        self.state().api.recalled.insert(message_id.to_owned());
    }

    /// Tells the fake which chat a message is in, so replies to it are recorded with that chat
    /// ([`FakeLark::message_event`] does this for the events it builds).
    pub fn note_message(&self, message_id: &str, chat_id: &str) {
        self.state().api.chats.insert(message_id.to_owned(), chat_id.to_owned());
    }

    /// Messages accepted by send and reply calls, in order (a uuid retry is not repeated).
    pub fn sent(&self) -> Vec<SentMessage> {
        self.state().api.sent.clone()
    }
}
