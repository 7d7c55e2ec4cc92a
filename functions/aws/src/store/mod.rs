//! [`DynamoStore`]: every store port on one DynamoDB table (see [`crate::schema`]).
//!
//! This module holds the table access shared by all item types: consistent reads, conditional
//! writes that report the item that beat them, deletes that say whether anything was there, and
//! paginated listing queries. Each submodule maps one item type to and from attributes.

mod agents;
mod aggregation;
mod dead_letters;
mod dedupe;
mod events;
mod history;
mod integrations;
mod leases;
mod orgs;
mod sessions;
mod streams;
mod tokens;
mod triggers;
mod users;

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure};
use imgate_core::ports::{StoreError, StoreResult};
use imgate_core::time::Timestamp;

use crate::error::store_backend;
use crate::item::{Fields, Item, key_item};
use crate::schema::{EXPIRES_MS, GSI1, GSI1_PK, Key, Listing, PK, VERSION};

/// Items read per page of [`DynamoStore::recent`]; pages continue until `limit` live items are
/// found.
const MAX_PAGE: usize = 100;

/// Keys one `BatchGetItem` call takes (DynamoDB's limit).
const MAX_BATCH_GET: usize = 100;
/// Rounds of [`DynamoStore::batch_get`] in a row in which DynamoDB answers none of the keys
/// asked for (throttling) before it gives up.
const MAX_IDLE_BATCH_ROUNDS: u32 = 8;
/// The first wait before asking again for unprocessed keys; it doubles every idle round.
const BATCH_RETRY_BASE: Duration = Duration::from_millis(25);

/// The DynamoDB implementation of every store port.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// Which way an index query walks the index's sort key (every index's sort key starts with a
/// time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Oldest first (forward).
    OldestFirst,
    /// Newest first (backward).
    NewestFirst,
}

/// A condition expression with its placeholders.
#[derive(Debug, Default)]
pub(crate) struct Condition {
    expression: String,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static str, AttributeValue)>,
}

impl Condition {
    pub(crate) fn new(expression: impl Into<String>) -> Self {
        Self {
            expression: expression.into(),
            ..Self::default()
        }
    }

    /// `#placeholder` for an attribute name (avoids DynamoDB's reserved words).
    pub(crate) fn name(mut self, placeholder: &'static str, attribute: &'static str) -> Self {
        self.names.push((placeholder, attribute));
        self
    }

    /// `:placeholder` for a value.
    pub(crate) fn value(mut self, placeholder: &'static str, value: AttributeValue) -> Self {
        self.values.push((placeholder, value));
        self
    }

    /// The item must not exist yet.
    pub(crate) fn absent() -> Self {
        Self::new("attribute_not_exists(#pk)").name("#pk", PK)
    }

    /// The stored version must be `expected`.
    pub(crate) fn version(expected: u64) -> Self {
        Self::new("#version = :expected")
            .name("#version", VERSION)
            .value(":expected", AttributeValue::N(expected.to_string()))
    }
}

/// The outcome of a conditional write.
#[derive(Debug)]
pub(crate) enum Conditional {
    /// The condition held and the write happened.
    Written,
    /// The condition failed; the item as it was, when DynamoDB returned it.
    Failed(Option<Item>),
}

impl DynamoStore {
    /// A store on `table` (created with [`crate::schema::create_table`] or the SAM template).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Reads one item with a strongly consistent read.
    pub(crate) async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_backend("GetItem", e))?;
        Ok(out.item.filter(|item| !item.is_empty()))
    }

    /// Writes an item unconditionally (last writer wins).
    pub(crate) async fn put(&self, item: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_backend("PutItem", e))?;
        Ok(())
    }

    /// Writes an item if `condition` holds on the stored one.
    pub(crate) async fn put_if(&self, item: Item, condition: Condition) -> StoreResult<Conditional> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition.expression)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (placeholder, attribute) in condition.names {
            request = request.expression_attribute_names(placeholder, attribute);
        }
        for (placeholder, value) in condition.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match request.send().await {
            Ok(_) => Ok(Conditional::Written),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(lost)) => {
                    Ok(Conditional::Failed(lost.item().cloned()))
                }
                _ => Err(store_backend("PutItem", err)),
            },
        }
    }

    /// Creates an item that must not exist; [`StoreError::Conflict`] if it does.
    pub(crate) async fn put_new(&self, item: Item, what: &str) -> StoreResult<()> {
        match self.put_if(item, Condition::absent()).await? {
            Conditional::Written => Ok(()),
            Conditional::Failed(_) => Err(StoreError::Conflict(format!("{what} already exists"))),
        }
    }

    /// Replaces an item whose stored version is `version - 1`: [`StoreError::NotFound`] if it is
    /// gone, [`StoreError::Conflict`] if its version moved on.
    pub(crate) async fn put_versioned(&self, item: Item, key: &Key, version: u64, what: &str) -> StoreResult<()> {
        let expected = version.saturating_sub(1);
        match self.put_if(item, Condition::version(expected)).await? {
            Conditional::Written => Ok(()),
            Conditional::Failed(Some(_)) => Err(Self::version_conflict(what, expected)),
            // DynamoDB returns the old item on a failed condition; without one, read to tell
            // "gone" from "moved on".
            Conditional::Failed(None) => match self.get(key).await? {
                Some(_) => Err(Self::version_conflict(what, expected)),
                None => Err(StoreError::NotFound),
            },
        }
    }

    fn version_conflict(what: &str, expected: u64) -> StoreError {
        StoreError::Conflict(format!("{what} is no longer at version {expected}"))
    }

    /// Updates attributes of an item if `condition` holds; false if it did not.
    pub(crate) async fn update_if(&self, key: &Key, update: &str, condition: Condition) -> StoreResult<bool> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .update_expression(update)
            .condition_expression(condition.expression);
        for (placeholder, attribute) in condition.names {
            request = request.expression_attribute_names(placeholder, attribute);
        }
        for (placeholder, value) in condition.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(store_backend("UpdateItem", err)),
            },
        }
    }

    /// Deletes an item; true if it existed.
    pub(crate) async fn delete(&self, key: &Key) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_backend("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|old| !old.is_empty()))
    }

    /// Deletes an item if `condition` holds; false if it did not (or the item is absent).
    pub(crate) async fn delete_if(&self, key: &Key, condition: Condition) -> StoreResult<bool> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .condition_expression(condition.expression);
        for (placeholder, attribute) in condition.names {
            request = request.expression_attribute_names(placeholder, attribute);
        }
        for (placeholder, value) in condition.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(store_backend("DeleteItem", err)),
            },
        }
    }

    /// Every item of a listing, oldest first, following `LastEvaluatedKey` to the end.
    ///
    /// Global secondary indexes are eventually consistent: an item written a moment ago may be
    /// missing from the listing for a short while (moto is immediate).
    pub(crate) async fn list(&self, listing: Listing<'_>) -> StoreResult<Vec<Item>> {
        self.query_index(GSI1, GSI1_PK, listing.partition(), Order::OldestFirst)
            .await
    }

    /// Every item of partition `partition` (key attribute `pk_attribute`) of the global secondary
    /// index `index`, in `order` of the index's sort key, following `LastEvaluatedKey` to the end
    /// (eventually consistent, like [`Self::list`]).
    pub(crate) async fn query_index(
        &self,
        index: &'static str,
        pk_attribute: &'static str,
        partition: String,
        order: Order,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#gpk = :gpk")
                .expression_attribute_names("#gpk", pk_attribute)
                .expression_attribute_values(":gpk", AttributeValue::S(partition.clone()))
                .scan_index_forward(matches!(order, Order::OldestFirst))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_backend("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// Up to `limit` items of partition `pk` unexpired at `now`, newest first (the sort key must
    /// start with the time): one backward `Query` with `Limit` and a filter on `expires_ms`,
    /// paging on only while expired items were filtered out and fewer than `limit` were found.
    pub(crate) async fn recent(
        &self,
        pk: String,
        limit: usize,
        now: Timestamp,
        entity: &'static str,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        while items.len() < limit {
            let page = i32::try_from((limit - items.len()).min(MAX_PAGE)).unwrap_or(1);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .filter_expression("#exp > :now")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#exp", EXPIRES_MS)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":now", AttributeValue::N(now.as_millis().to_string()))
                .scan_index_forward(false)
                .limit(page)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_backend("Query", e))?;
            for item in out.items.unwrap_or_default() {
                // The filter already hid expired items; check again against the exact value.
                if Fields::new(&item, entity).expires()? > now && items.len() < limit {
                    items.push(item);
                }
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        Ok(items)
    }

    /// The items of `keys` that exist, in any order, with strongly consistent reads:
    /// `BatchGetItem` calls of up to [`MAX_BATCH_GET`] distinct keys each, asking again (with a
    /// growing wait) for the keys DynamoDB left unprocessed (throttling, or a response over
    /// 16 MB). [`StoreError::Backend`] after [`MAX_IDLE_BATCH_ROUNDS`] rounds in a row without
    /// progress.
    pub(crate) async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        // DynamoDB refuses a request that names a key twice.
        let mut seen = HashSet::with_capacity(keys.len());
        let distinct: Vec<&Key> = keys.iter().filter(|key| seen.insert(*key)).collect();
        let mut items = Vec::with_capacity(distinct.len());
        for chunk in distinct.chunks(MAX_BATCH_GET) {
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|key| key_item(key)).collect()))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Backend(Box::new(e)))?;
            let mut idle_rounds = 0;
            loop {
                let asked = pending.keys().len();
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| store_backend("BatchGetItem", e))?;
                let found = out
                    .responses
                    .and_then(|mut tables| tables.remove(&self.table))
                    .unwrap_or_default();
                items.extend(found.into_iter().filter(|item| !item.is_empty()));
                match out
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(&self.table))
                    .filter(|left| !left.keys().is_empty())
                {
                    None => break,
                    Some(left) => {
                        // Progress is any key answered, found or not.
                        idle_rounds = if left.keys().len() < asked { 0 } else { idle_rounds + 1 };
                        if idle_rounds >= MAX_IDLE_BATCH_ROUNDS {
                            return Err(StoreError::Backend(
                                format!("BatchGetItem left {} keys unprocessed", left.keys().len()).into(),
                            ));
                        }
                        tokio::time::sleep(BATCH_RETRY_BASE * 2u32.pow(idle_rounds.min(6))).await;
                        pending = left;
                    }
                }
            }
        }
        Ok(items)
    }

    /// The client, for the submodules' own queries.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }
}
