//! CardKit (§5): card entities, their elements, and the rules the streaming calls must keep —
//! one strictly increasing `sequence` per card across all calls, text updates only while
//! `streaming_mode` is on, an entity sent once, at most 10 calls per card and second (recorded,
//! not refused).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::open_api::{Answer, card_content_error};
use super::{FakeLark, State};

/// Calls one card takes per [`RATE_WINDOW`] before a violation is recorded.
const RATE_LIMIT: usize = 10;
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Longest streamed text, in characters.
const CONTENT_LIMIT: usize = 100_000;

/// One element (anything with an `element_id`) of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementRecord {
    /// Its `tag` (`markdown`, `plain_text`, …).
    pub tag: String,
    /// Its current text (`content` of a `markdown` or `plain_text` element; `""` for others).
    pub content: String,
    /// Every text it had, the one it was created with first.
    pub history: Vec<String>,
}

/// One call on an existing card, accepted or not.
#[derive(Debug, Clone)]
pub struct CardOp {
    /// `content <element_id>`, `settings` or `update`.
    pub kind: String,
    /// The `sequence` it carried.
    pub sequence: Option<i64>,
    /// Its `uuid`.
    pub uuid: Option<String>,
    /// The `code` answered (0: accepted).
    pub code: i64,
    /// Whether it repeated an earlier call's uuid and body (answered 0, not applied again).
    pub replayed: bool,
    /// When it came.
    pub at: Instant,
}

/// A card entity as it stands.
#[derive(Debug, Clone)]
pub struct CardRecord {
    /// `card_<n>`.
    pub card_id: String,
    /// The card JSON, with the settings applied since.
    pub json: Value,
    /// `config.streaming_mode` now.
    pub streaming_mode: bool,
    /// `config.summary.content` now.
    pub summary: Option<String>,
    /// Elements by `element_id`.
    pub elements: BTreeMap<String, ElementRecord>,
    /// The accepted sequences, in order.
    pub sequences: Vec<i64>,
    /// Every call on the card after its creation.
    pub ops: Vec<CardOp>,
    /// The message that sent it.
    pub message_id: Option<String>,
}

impl CardRecord {
    /// The current text of element `element_id`.
    pub fn content(&self, element_id: &str) -> Option<&str> {
        self.elements.get(element_id).map(|e| e.content.as_str())
    }
}

/// More than [`RATE_LIMIT`] calls on one card within a second.
#[derive(Debug, Clone)]
pub struct CardRateViolation {
    /// The card.
    pub card_id: String,
    /// Calls within the second that ended with the offending one.
    pub calls_in_window: usize,
}

struct Card {
    record: CardRecord,
    /// Bodies by the uuid that first carried them.
    uuids: HashMap<String, Value>,
    /// Times of the calls of the last second.
    window: VecDeque<Instant>,
}

#[derive(Default)]
pub(super) struct Cards {
    cards: Vec<Card>,
    violations: Vec<CardRateViolation>,
}

impl Cards {
    /// Whether a message may send the entity: it must exist and not have been sent. Lark's
    /// sub-code for a second send is not in the notes; the fake answers 230099 with the reason.
    pub(super) fn check_sendable(&self, card_id: &str) -> Result<(), Answer> {
        match self.cards.iter().find(|c| c.record.card_id == card_id) {
            None => Err(card_content_error("ErrCode: 200740; the card entity does not exist")),
            Some(card) if card.record.message_id.is_some() => Err(card_content_error(
                "the card entity has already been sent; an entity can be sent only once",
            )),
            Some(_) => Ok(()),
        }
    }

    pub(super) fn mark_sent(&mut self, card_id: &str, message_id: &str) {
        if let Some(card) = self.cards.iter_mut().find(|c| c.record.card_id == card_id) {
            card.record.message_id = Some(message_id.to_owned());
        }
    }
}

/// The card JSON of a `{type:"card_json", data:"<json>"}` pair, which must be schema 2.0.
fn parse_card(kind: &Value, data: &Value) -> Result<Value, Answer> {
    if kind != "card_json" {
        return Err(Answer::rejected(10002, "type must be card_json"));
    }
    let Some(text) = data.as_str() else {
        return Err(Answer::rejected(10002, "data must be the card JSON as a string"));
    };
    if text.is_empty() {
        return Err(Answer::rejected(300307, "The card DSL is empty"));
    }
    let Ok(card) = serde_json::from_str::<Value>(text) else {
        return Err(Answer::rejected(200220, "Failed to generate card content"));
    };
    if card["schema"] != "2.0" {
        return Err(Answer::rejected(300303, "Only schema 2.0 is supported"));
    }
    Ok(card)
}

/// `element_id` rules (§5.2): 1–20 letters, digits or `_`, a letter first.
fn valid_element_id(id: &str) -> bool {
    id.len() <= 20
        && id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every element with an `element_id` in the card's body, at any depth.
fn collect_elements(card: &Value) -> Result<BTreeMap<String, ElementRecord>, Answer> {
    fn walk(value: &Value, found: &mut BTreeMap<String, ElementRecord>) -> Result<(), Answer> {
        match value {
            Value::Object(object) => {
                if let Some(id) = object.get("element_id") {
                    let id = id.as_str().filter(|id| valid_element_id(id)).ok_or_else(|| {
                        // The code for a malformed element_id is not in the notes: 10002 is the
                        // fake's choice.
                        Answer::rejected(10002, format!("invalid element_id {id}"))
                    })?;
                    let tag = object.get("tag").and_then(Value::as_str).unwrap_or_default();
                    let content = match tag {
                        "markdown" | "plain_text" => object.get("content").and_then(Value::as_str).unwrap_or_default(),
                        _ => "",
                    };
                    let element = ElementRecord {
                        tag: tag.to_owned(),
                        content: content.to_owned(),
                        history: vec![content.to_owned()],
                    };
                    if found.insert(id.to_owned(), element).is_some() {
                        return Err(Answer::rejected(300301, "Duplicate element_id in card component."));
                    }
                }
                object.values().try_for_each(|v| walk(v, found))
            }
            Value::Array(items) => items.iter().try_for_each(|v| walk(v, found)),
            _ => Ok(()),
        }
    }
    let mut found = BTreeMap::new();
    walk(&card["body"], &mut found)?;
    Ok(found)
}

fn streaming_mode(card: &Value) -> bool {
    card["config"]["streaming_mode"].as_bool().unwrap_or(false)
}

fn summary(card: &Value) -> Option<String> {
    card["config"]["summary"]["content"].as_str().map(str::to_owned)
}

/// Streams `content` into one text element.
fn stream_text(card: &mut CardRecord, element_id: &str, body: &Value) -> Result<(), Answer> {
    let content = body["content"]
        .as_str()
        .filter(|c| !c.is_empty() && c.chars().count() <= CONTENT_LIMIT)
        .ok_or_else(|| Answer::rejected(10002, "content must be 1 to 100000 characters"))?;
    let element = card.elements.get_mut(element_id).ok_or_else(|| {
        // The notes give no code for an unknown element; 300313 "Failed to update element
        // properties" is what clients meet for it in practice.
        Answer::rejected(
            300313,
            format!("Failed to update element properties: not find elementID {element_id}"),
        )
    })?;
    if !matches!(element.tag.as_str(), "markdown" | "plain_text") {
        return Err(Answer::rejected(300310, "Only update text"));
    }
    if !card.streaming_mode {
        return Err(Answer::rejected(300309, "Card streaming closed"));
    }
    element.content = content.to_owned();
    element.history.push(content.to_owned());
    Ok(())
}

/// Applies `settings` (a JSON string): its `config` and `card_link` are merged into the card;
/// other keys (a top-level `streaming_mode` included) change nothing, as §5.3 reads the docs.
fn apply_settings(card: &mut CardRecord, body: &Value) -> Result<(), Answer> {
    let settings = body["settings"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .filter(Value::is_object)
        .ok_or_else(|| Answer::rejected(10002, "settings must be a JSON object as a string"))?;
    for key in ["config", "card_link"] {
        if let Some(Value::Object(fields)) = settings.get(key) {
            if !card.json[key].is_object() {
                card.json[key] = json!({});
            }
            for (name, value) in fields {
                card.json[key][name] = value.clone();
            }
        }
    }
    card.streaming_mode = streaming_mode(&card.json);
    card.summary = summary(&card.json);
    Ok(())
}

/// Replaces the whole card; elements that stay keep their history.
fn replace_card(card: &mut CardRecord, body: &Value) -> Result<(), Answer> {
    let json = parse_card(&body["card"]["type"], &body["card"]["data"])?;
    let mut elements = collect_elements(&json)?;
    for (id, element) in &mut elements {
        if let Some(old) = card.elements.get(id) {
            let mut history = old.history.clone();
            if old.content != element.content {
                history.push(element.content.clone());
            }
            element.history = history;
        }
    }
    card.streaming_mode = streaming_mode(&json);
    card.summary = summary(&json);
    card.elements = elements;
    card.json = json;
    Ok(())
}

impl State {
    /// `POST /open-apis/cardkit/v1/cards`.
    pub(super) fn create_card(&mut self, body: &Value) -> Answer {
        if self.api.refuse_card_creation {
            return Answer::rejected(
                99991672,
                "Access denied. One of the following scopes is required: [cardkit:card:write].",
            );
        }
        let created = parse_card(&body["type"], &body["data"]).and_then(|json| Ok((collect_elements(&json)?, json)));
        let (elements, json) = match created {
            Ok(created) => created,
            Err(answer) => return answer,
        };
        let card_id = format!("card_{}", self.next_id());
        self.cards.cards.push(Card {
            record: CardRecord {
                card_id: card_id.clone(),
                streaming_mode: streaming_mode(&json),
                summary: summary(&json),
                json,
                elements,
                sequences: Vec::new(),
                ops: Vec::new(),
                message_id: None,
            },
            uuids: HashMap::new(),
            window: VecDeque::new(),
        });
        Answer::data(json!({"card_id": card_id}))
    }

    /// `PUT /open-apis/cardkit/v1/cards/{card_id}/elements/{element_id}/content`.
    pub(super) fn element_content(&mut self, card_id: &str, element_id: &str, body: &Value) -> Answer {
        self.card_op(card_id, format!("content {element_id}"), body, |card| {
            stream_text(card, element_id, body)
        })
    }

    /// `PATCH /open-apis/cardkit/v1/cards/{card_id}/settings`.
    pub(super) fn card_settings(&mut self, card_id: &str, body: &Value) -> Answer {
        self.card_op(card_id, "settings".to_owned(), body, |card| apply_settings(card, body))
    }

    /// `PUT /open-apis/cardkit/v1/cards/{card_id}`.
    pub(super) fn update_card(&mut self, card_id: &str, body: &Value) -> Answer {
        self.card_op(card_id, "update".to_owned(), body, |card| replace_card(card, body))
    }

    /// The checks every call on a card goes through — rate window, `sequence`, `uuid` — then
    /// `apply`; the call is recorded in the card's ops.
    fn card_op(
        &mut self,
        card_id: &str,
        kind: String,
        body: &Value,
        apply: impl FnOnce(&mut CardRecord) -> Result<(), Answer>,
    ) -> Answer {
        let Cards { cards, violations } = &mut self.cards;
        let Some(card) = cards.iter_mut().find(|c| c.record.card_id == card_id) else {
            return Answer::rejected(200740, "The card entity does not exist");
        };
        let now = Instant::now();
        card.window.push_back(now);
        while card
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
        {
            card.window.pop_front();
        }
        if card.window.len() > RATE_LIMIT {
            violations.push(CardRateViolation {
                card_id: card_id.to_owned(),
                calls_in_window: card.window.len(),
            });
        }
        let sequence = body["sequence"].as_i64();
        let uuid = body["uuid"].as_str().filter(|u| !u.is_empty()).map(str::to_owned);
        let mut replayed = false;
        let outcome = (|| {
            let sequence = sequence
                .filter(|s| (1..=i64::from(i32::MAX)).contains(s))
                .ok_or_else(|| Answer::rejected(10002, "sequence must be a positive int32"))?;
            if let Some(uuid) = &uuid
                && let Some(first) = card.uuids.get(uuid)
            {
                if first != body {
                    return Err(Answer::rejected(200770, "UUID conflict"));
                }
                replayed = true;
                return Ok(());
            }
            if card.record.sequences.last().is_some_and(|last| sequence <= *last) {
                return Err(Answer::rejected(
                    300317,
                    "The sequence number for operating on the card did not increment consecutively",
                ));
            }
            apply(&mut card.record)?;
            card.record.sequences.push(sequence);
            if let Some(uuid) = &uuid {
                card.uuids.insert(uuid.clone(), body.clone());
            }
            Ok(())
        })();
        let answer = outcome.map_or_else(|error| error, |()| Answer::data(json!({})));
        card.record.ops.push(CardOp {
            kind,
            sequence,
            uuid,
            code: answer.body["code"].as_i64().unwrap_or_default(),
            replayed,
            at: now,
        });
        answer
    }
}

impl FakeLark {
    /// Card entity `card_id` as it stands.
    pub fn card(&self, card_id: &str) -> Option<CardRecord> {
        let state = self.state();
        let card = state.cards.cards.iter().find(|c| c.record.card_id == card_id)?;
        Some(card.record.clone())
    }

    /// Every card entity, in creation order.
    pub fn cards(&self) -> Vec<CardRecord> {
        self.state().cards.cards.iter().map(|c| c.record.clone()).collect()
    }

    /// The card entity message `message_id` sent.
    pub fn card_of_message(&self, message_id: &str) -> Option<CardRecord> {
        self.cards()
            .into_iter()
            .find(|c| c.message_id.as_deref() == Some(message_id))
    }

    /// Calls beyond 10 per card within a second, one entry per such call (Lark's limit is
    /// 10 per second per card; the fake records instead of refusing).
    pub fn card_rate_violations(&self) -> Vec<CardRateViolation> {
        self.state().cards.violations.clone()
    }
}
