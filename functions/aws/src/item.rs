//! Building and reading DynamoDB items: typed attribute access with [`StoreError::Corrupt`] for
//! anything missing or of the wrong type, so each store module only lists its fields.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use imgate_core::ports::{StoreError, StoreResult};
use imgate_core::time::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use imgate_core::session::SessionKey;

use crate::schema::{
    self, ENTITY, EXPIRES_MS, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI3_PK, GSI3_SK, Key, LONG_CONNECTIONS, Listing, PK,
    SK, TTL,
};

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The key attributes of `key`, as `GetItem` / `DeleteItem` want them.
pub(crate) fn key_item(key: &Key) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Builds an item attribute by attribute.
#[derive(Debug)]
pub(crate) struct ItemBuilder(Item);

impl ItemBuilder {
    /// An item with its key and entity name.
    pub(crate) fn new(key: &Key, entity: &'static str) -> Self {
        let mut item = key_item(key);
        item.insert(ENTITY.to_owned(), AttributeValue::S(entity.to_owned()));
        Self(item)
    }

    /// Puts the item on a [`Listing`] of the `gsi1` index.
    pub(crate) fn listed(self, listing: Listing<'_>, created: Timestamp, id: &str) -> Self {
        self.s(GSI1_PK, listing.partition())
            .s(GSI1_SK, schema::listing_sort(created, id))
    }

    /// Puts the item on the sparse `gsi2` index of long-connection integrations when `listed`;
    /// otherwise leaves its key attributes out (a whole-item put then removes them).
    pub(crate) fn long_connection(self, listed: bool, created: Timestamp, id: &str) -> Self {
        if listed {
            self.s(GSI2_PK, LONG_CONNECTIONS)
                .s(GSI2_SK, schema::listing_sort(created, id))
        } else {
            self
        }
    }

    /// Puts a session on its integration's partition of the keys-only `gsi3` index, by start
    /// time: keys that stay the same while the session is rewritten.
    pub(crate) fn session_listed(self, key: &SessionKey, started: Timestamp) -> Self {
        self.s(GSI3_PK, schema::sessions_partition(&key.integration_id))
            .s(GSI3_SK, schema::session_sort(key, started))
    }

    /// Sets the exact expiry and the TTL attribute.
    pub(crate) fn expires(self, at: Timestamp) -> Self {
        self.n(EXPIRES_MS, at.as_millis()).n(TTL, schema::ttl_seconds(at))
    }

    pub(crate) fn s(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.to_owned(), AttributeValue::S(value.into()));
        self
    }

    pub(crate) fn opt_s(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.s(name, v),
            None => self,
        }
    }

    pub(crate) fn n(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.0.insert(name.to_owned(), AttributeValue::N(value.to_string()));
        self
    }

    pub(crate) fn time(self, name: &str, value: Timestamp) -> Self {
        self.n(name, value.as_millis())
    }

    pub(crate) fn opt_time(self, name: &str, value: Option<Timestamp>) -> Self {
        match value {
            Some(v) => self.time(name, v),
            None => self,
        }
    }

    pub(crate) fn bool(mut self, name: &str, value: bool) -> Self {
        self.0.insert(name.to_owned(), AttributeValue::Bool(value));
        self
    }

    /// A list of strings (`L` of `S`).
    pub(crate) fn strings(mut self, name: &str, values: impl IntoIterator<Item = String>) -> Self {
        let list = values.into_iter().map(AttributeValue::S).collect();
        self.0.insert(name.to_owned(), AttributeValue::L(list));
        self
    }

    /// A unit-variant enum stored as its serde name (`snake_case` text).
    pub(crate) fn enumeration<T: Serialize>(self, name: &str, value: &T) -> StoreResult<Self> {
        Ok(self.s(name, enum_text(value)?))
    }

    pub(crate) fn opt_enumeration<T: Serialize>(self, name: &str, value: Option<&T>) -> StoreResult<Self> {
        match value {
            Some(v) => self.enumeration(name, v),
            None => Ok(self),
        }
    }

    pub(crate) fn build(self) -> Item {
        self.0
    }
}

/// A value as JSON text, for attributes that hold a whole document.
pub(crate) fn json_text<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|_| StoreError::Corrupt(format!("cannot store {} as JSON", std::any::type_name::<T>())))
}

/// The serde name of a unit enum variant.
fn enum_text<T: Serialize>(value: &T) -> StoreResult<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        _ => Err(StoreError::Corrupt(format!(
            "cannot store {} as text",
            std::any::type_name::<T>()
        ))),
    }
}

/// Reads typed attributes of one item; errors name the entity and attribute, never the value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    item: &'a Item,
    entity: &'static str,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(item: &'a Item, entity: &'static str) -> Self {
        Self { item, entity }
    }

    fn corrupt(&self, name: &str, expected: &str) -> StoreError {
        StoreError::Corrupt(format!(
            "{} item: attribute `{name}` is missing or not {expected}",
            self.entity
        ))
    }

    pub(crate) fn opt_s(&self, name: &str) -> StoreResult<Option<&'a str>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(text)) => Ok(Some(text.as_str())),
            Some(_) => Err(self.corrupt(name, "a string")),
        }
    }

    pub(crate) fn s(&self, name: &str) -> StoreResult<&'a str> {
        self.opt_s(name)?.ok_or_else(|| self.corrupt(name, "a string"))
    }

    pub(crate) fn string(&self, name: &str) -> StoreResult<String> {
        self.s(name).map(str::to_owned)
    }

    pub(crate) fn opt_string(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self.opt_s(name)?.map(str::to_owned))
    }

    /// A string attribute parsed with [`FromStr`] (ids).
    pub(crate) fn parse<T: FromStr>(&self, name: &str) -> StoreResult<T> {
        self.s(name)?.parse().map_err(|_| self.corrupt(name, "a valid value"))
    }

    fn opt_number<T: FromStr>(&self, name: &str) -> StoreResult<Option<T>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(text)) => text
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(name, "a number in range")),
            Some(_) => Err(self.corrupt(name, "a number")),
        }
    }

    pub(crate) fn number<T: FromStr>(&self, name: &str) -> StoreResult<T> {
        self.opt_number(name)?.ok_or_else(|| self.corrupt(name, "a number"))
    }

    pub(crate) fn time(&self, name: &str) -> StoreResult<Timestamp> {
        self.number(name).map(Timestamp::from_millis)
    }

    pub(crate) fn opt_time(&self, name: &str) -> StoreResult<Option<Timestamp>> {
        Ok(self.opt_number(name)?.map(Timestamp::from_millis))
    }

    /// The exact expiry written by [`ItemBuilder::expires`].
    pub(crate) fn expires(&self) -> StoreResult<Timestamp> {
        self.time(EXPIRES_MS)
    }

    pub(crate) fn bool(&self, name: &str) -> StoreResult<bool> {
        match self.item.get(name) {
            Some(AttributeValue::Bool(value)) => Ok(*value),
            _ => Err(self.corrupt(name, "a boolean")),
        }
    }

    /// A list of strings (`L` of `S`).
    pub(crate) fn strings(&self, name: &str) -> StoreResult<Vec<&'a str>> {
        match self.item.get(name) {
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|value| match value {
                    AttributeValue::S(text) => Ok(text.as_str()),
                    _ => Err(self.corrupt(name, "a list of strings")),
                })
                .collect(),
            _ => Err(self.corrupt(name, "a list of strings")),
        }
    }

    /// An optional JSON document stored as text.
    pub(crate) fn opt_json<T: DeserializeOwned>(&self, name: &str) -> StoreResult<Option<T>> {
        match self.opt_s(name)? {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|_| self.corrupt(name, "valid JSON of the expected shape")),
        }
    }

    pub(crate) fn enumeration<T: DeserializeOwned>(&self, name: &str) -> StoreResult<T> {
        let text = self.string(name)?;
        serde_json::from_value(serde_json::Value::String(text)).map_err(|_| self.corrupt(name, "a known value"))
    }

    pub(crate) fn opt_enumeration<T: DeserializeOwned>(&self, name: &str) -> StoreResult<Option<T>> {
        match self.opt_string(name)? {
            None => Ok(None),
            Some(text) => serde_json::from_value(serde_json::Value::String(text))
                .map(Some)
                .map_err(|_| self.corrupt(name, "a known value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use imgate_core::integration::ConnectionState;

    use super::*;

    #[test]
    fn round_trips_typed_attributes() {
        let key = Key::lease(&imgate_core::IntegrationId::generate());
        let item = ItemBuilder::new(&key, "test")
            .s("name", "a")
            .n("count", 7u32)
            .time("at", Timestamp::from_millis(1_234))
            .bool("on", true)
            .enumeration("state", &ConnectionState::Retrying)
            .expect("enum")
            .opt_s("none", None::<String>)
            .expires(Timestamp::from_millis(2_500))
            .build();
        let fields = Fields::new(&item, "test");
        assert_eq!(fields.s("name").expect("name"), "a");
        assert_eq!(fields.number::<u32>("count").expect("count"), 7);
        assert_eq!(fields.time("at").expect("at"), Timestamp::from_millis(1_234));
        assert!(fields.bool("on").expect("on"));
        assert_eq!(
            fields.enumeration::<ConnectionState>("state").expect("state"),
            ConnectionState::Retrying
        );
        assert_eq!(item.get("state"), Some(&AttributeValue::S("retrying".into())));
        assert_eq!(fields.opt_string("none").expect("none"), None);
        assert_eq!(fields.expires().expect("expires"), Timestamp::from_millis(2_500));
        assert_eq!(item.get(TTL), Some(&AttributeValue::N("3".into())));
    }

    #[test]
    fn lists_and_json() {
        let key = Key::token("k");
        let item = ItemBuilder::new(&key, "test")
            .strings("list", ["{\"a\":1}".to_owned(), "2".to_owned()])
            .s("doc", json_text(&serde_json::json!({"b": [1, 2]})).expect("json"))
            .build();
        let fields = Fields::new(&item, "test");
        let list = fields.strings("list").expect("list");
        assert_eq!(list, vec!["{\"a\":1}", "2"]);
        assert_eq!(
            fields.opt_json::<serde_json::Value>("doc").expect("doc"),
            Some(serde_json::json!({"b": [1, 2]}))
        );
        assert_eq!(fields.opt_json::<serde_json::Value>("none").expect("none"), None);
        assert!(matches!(fields.strings("doc"), Err(StoreError::Corrupt(_))));
        assert!(matches!(fields.opt_json::<u32>("doc"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn wrong_types_are_corrupt() {
        let item = HashMap::from([
            ("n".to_owned(), AttributeValue::S("x".into())),
            ("s".to_owned(), AttributeValue::N("1".into())),
            ("big".to_owned(), AttributeValue::N("99999999999".into())),
            ("state".to_owned(), AttributeValue::S("bogus".into())),
        ]);
        let fields = Fields::new(&item, "test");
        assert!(matches!(fields.number::<i64>("n"), Err(StoreError::Corrupt(_))));
        assert!(matches!(fields.s("s"), Err(StoreError::Corrupt(_))));
        assert!(matches!(fields.s("missing"), Err(StoreError::Corrupt(_))));
        assert!(matches!(fields.number::<u32>("big"), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            fields.enumeration::<ConnectionState>("state"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            fields.parse::<imgate_core::OrgId>("state"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
