//! [`SqliteQueue`]: a durable FIFO queue with SQS FIFO semantics, in SQLite.
//!
//! - **Order per group.** A group is delivered only while none of its messages is in flight
//!   (received and not yet visible again), and then from its oldest message on; one receive may
//!   return several consecutive messages of a group, in order (when several groups are ready,
//!   each gets an equal share of the receive).
//! - **De-duplication.** A dedupe id seen in the last 5 minutes is accepted and dropped, even if
//!   the first message was already processed (like SQS's de-duplication interval).
//! - **Visibility.** A received message is hidden until `now + visibility`; `retry_later` sets
//!   when it shows again. Each receive issues a new receipt, so a receipt from an earlier
//!   delivery no longer acks or delays anything.
//! - **Dead letters.** A message already received `max_receives` times moves to the dead-letter
//!   table when it would next be delivered; that table is read with the same rules.
//! - **Timers.** [`Queue::enqueue_delayed`] stores a message with the empty group id (which
//!   `enqueue` refuses) and `visible_at` set to its due time. Such a message belongs to no FIFO
//!   group: it neither waits for nor blocks any other message, and is delivered (with
//!   `group == ""`) once due, with the same visibility, receipts and dead-lettering as the rest.
//!
//! Visibility uses the real clock ([`Timestamp::now`]). Every receive is one transaction.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};

use imgate_core::Timestamp;
use imgate_core::ports::{Delivery, MAX_QUEUE_DELAY, OutgoingMessage, Queue, QueueError};

use crate::db::{CachedExecute, Db, OpenError, queue_err, write_tx};

mod receive;
use receive::receive_blocking;

/// How long a dedupe id suppresses copies (SQS's de-duplication interval).
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// The largest body accepted, in bytes (SQS's limit).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The longest group or dedupe id accepted, in characters (SQS's limit).
pub const MAX_ID_CHARS: usize = 128;

/// Queue settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// Receives after which a message goes to the dead-letter table instead of being
    /// delivered again (SQS's `maxReceiveCount`).
    pub max_receives: u32,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self { max_receives: 5 }
    }
}

/// The queue. Cheap to share behind an `Arc`; writes run on the database's writer thread.
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    db: Db,
    options: QueueOptions,
    /// Signalled by every enqueue, so a waiting worker receives at once instead of at its
    /// next poll.
    arrived: std::sync::Arc<tokio::sync::Notify>,
}

/// The two tables receives read from.
#[derive(Debug, Clone, Copy)]
enum Table {
    Main,
    DeadLetters,
}

impl Table {
    const fn name(self) -> &'static str {
        match self {
            Self::Main => "queue_messages",
            Self::DeadLetters => "queue_dead_letters",
        }
    }
}

impl SqliteQueue {
    /// A queue on `db` (shared with the store by [`crate::LocalBackend`]).
    pub(crate) fn on(db: Db, options: QueueOptions) -> Self {
        Self {
            db,
            options,
            arrived: std::sync::Arc::default(),
        }
    }

    /// Opens the queue in the database file at `path` (creating and migrating it if needed).
    /// It may be the store's file: the queue has its own tables.
    ///
    /// # Errors
    /// [`OpenError`] if the file cannot be opened or has a newer schema.
    pub async fn open(path: &std::path::Path, options: QueueOptions) -> Result<Self, OpenError> {
        Ok(Self::on(Db::open(path).await?, options))
    }

    /// A queue on a private in-memory database, for tests.
    ///
    /// # Errors
    /// [`OpenError`] if SQLite cannot create the database.
    pub fn open_in_memory(options: QueueOptions) -> Result<Self, OpenError> {
        Ok(Self::on(Db::open_in_memory()?, options))
    }

    /// Makes every message that a receiver holds (received, not yet acknowledged, hidden) in
    /// the main table visible now, and returns how many. `imgate serve` calls it on start: the
    /// only receiver of its database is itself, so what is held then was held by a process that
    /// died, and its conversations need not wait for the visibility to run out. Their receive
    /// counts stay, so a message that kills the process every time still ends as a dead letter.
    ///
    /// # Errors
    /// [`QueueError::Backend`] when the database fails.
    pub async fn release_in_flight(&self) -> Result<usize, QueueError> {
        let now = Timestamp::now().as_millis();
        self.db
            .write(move |conn| {
                conn.exec(
                    "UPDATE queue_messages SET visible_at = ?1 WHERE receipt IS NOT NULL AND visible_at > ?1",
                    [now],
                )
                .map_err(queue_err)
            })
            .await
    }

    /// The settings this queue runs with.
    pub fn options(&self) -> QueueOptions {
        self.options
    }

    async fn receive_from(&self, table: Table, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let max_receives = match table {
            Table::Main => Some(self.options.max_receives),
            Table::DeadLetters => None,
        };
        let now = Timestamp::now();
        let (deliveries, dead) = self
            .db
            .write(move |conn| receive_blocking(conn, table, max, now, visibility, max_receives))
            .await?;
        if !deliveries.is_empty() || dead > 0 {
            tracing::debug!(
                table = table.name(),
                delivered = deliveries.len(),
                dead_lettered = dead,
                "queue receive"
            );
        }
        Ok(deliveries)
    }

    /// Applies `op` to the message holding `receipt`, in the main table or else in the
    /// dead-letter table; [`QueueError::UnknownReceipt`] if neither has it.
    async fn by_receipt(&self, receipt: &str, op: ReceiptOp) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let changed = self
            .db
            .write(move |conn| {
                for table in [Table::Main, Table::DeadLetters] {
                    let name = table.name();
                    let n = match op {
                        ReceiptOp::Ack => conn.exec(&format!("DELETE FROM {name} WHERE receipt = ?1"), [&receipt]),
                        ReceiptOp::ShowAt(at) => conn.exec(
                            &format!("UPDATE {name} SET visible_at = ?2 WHERE receipt = ?1"),
                            params![receipt, at.as_millis()],
                        ),
                    }
                    .map_err(queue_err)?;
                    if n > 0 {
                        return Ok(true);
                    }
                }
                Ok::<_, QueueError>(false)
            })
            .await?;
        if changed {
            Ok(())
        } else {
            Err(QueueError::UnknownReceipt)
        }
    }
}

/// What to do with a received message.
#[derive(Debug, Clone, Copy)]
enum ReceiptOp {
    /// Delete it (processed).
    Ack,
    /// Make it visible again at this instant.
    ShowAt(Timestamp),
}

/// The group id of timer messages, outside every FIFO group.
pub(crate) const TIMER_GROUP: &str = "";

/// Refuses bodies SQS would refuse.
fn validate_body(body: &str) -> Result<(), QueueError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(QueueError::Rejected(format!(
            "body of {} bytes exceeds {MAX_BODY_BYTES}",
            body.len()
        )));
    }
    Ok(())
}

/// Refuses messages SQS would refuse, so both backends accept the same input. The empty group
/// id, which SQS refuses too, is what keeps [`TIMER_GROUP`] free for timers.
fn validate(message: &OutgoingMessage) -> Result<(), QueueError> {
    let id_ok = |s: &str| !s.is_empty() && s.chars().count() <= MAX_ID_CHARS;
    if !id_ok(&message.group) {
        return Err(QueueError::Rejected(format!(
            "group id must have 1 to {MAX_ID_CHARS} characters"
        )));
    }
    if !id_ok(&message.dedupe_id) {
        return Err(QueueError::Rejected(format!(
            "dedupe id must have 1 to {MAX_ID_CHARS} characters"
        )));
    }
    validate_body(&message.body)
}

/// Stores `message` unless its dedupe id was seen within the window; true if stored.
fn enqueue_blocking(conn: &mut Connection, message: &OutgoingMessage, now: Timestamp) -> Result<bool, QueueError> {
    let tx = write_tx(conn).map_err(queue_err)?;
    tx.exec("DELETE FROM queue_dedupe WHERE expires_at <= ?1", [now.as_millis()])
        .map_err(queue_err)?;
    let fresh = tx
        .exec(
            "INSERT INTO queue_dedupe (dedupe_id, expires_at) VALUES (?1, ?2) \
             ON CONFLICT (dedupe_id) DO NOTHING",
            params![message.dedupe_id, now.plus(DEDUPE_WINDOW).as_millis()],
        )
        .map_err(queue_err)?
        == 1;
    if fresh {
        tx.exec(
            "INSERT INTO queue_messages \
             (group_id, dedupe_id, body, enqueued_at, visible_at, receive_count, receipt) \
             VALUES (?1, ?2, ?3, ?4, 0, 0, NULL)",
            params![message.group, message.dedupe_id, message.body, now.as_millis()],
        )
        .map_err(queue_err)?;
    }
    tx.commit().map_err(queue_err)?;
    Ok(fresh)
}

/// Stores a timer message due at `visible_at`. Timers have no dedupe id (SQS standard delays do
/// not de-duplicate either; handlers tolerate duplicates).
fn enqueue_timer_blocking(
    conn: &mut Connection,
    body: &str,
    now: Timestamp,
    visible_at: Timestamp,
) -> Result<(), QueueError> {
    conn.exec(
        "INSERT INTO queue_messages \
         (group_id, dedupe_id, body, enqueued_at, visible_at, receive_count, receipt) \
         VALUES (?1, '', ?2, ?3, ?4, 0, NULL)",
        params![TIMER_GROUP, body, now.as_millis(), visible_at.as_millis()],
    )
    .map(drop)
    .map_err(queue_err)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn enqueue(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        validate(message)?;
        let m = message.clone();
        let fresh = self
            .db
            .write(move |conn| enqueue_blocking(conn, &m, Timestamp::now()))
            .await?;
        tracing::debug!(
            group = %message.group,
            dedupe_id = %message.dedupe_id,
            duplicate = !fresh,
            "queue enqueue"
        );
        self.arrived.notify_one();
        Ok(())
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receive_from(Table::Main, max, visibility).await
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.by_receipt(receipt, ReceiptOp::Ack).await
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let at = Timestamp::now().plus(delay);
        self.by_receipt(receipt, ReceiptOp::ShowAt(at)).await
    }

    async fn extend_visibility(&self, receipts: &[String], visibility: Duration) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let receipts = receipts.to_vec();
        let until = Timestamp::now().plus(visibility);
        self.db
            .write(move |conn| {
                for receipt in &receipts {
                    conn.exec(
                        "UPDATE queue_messages SET visible_at = ?2 WHERE receipt = ?1",
                        params![receipt, until.as_millis()],
                    )
                    .map_err(queue_err)?;
                }
                Ok::<_, QueueError>(())
            })
            .await
    }

    async fn enqueue_delayed(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        if delay > MAX_QUEUE_DELAY {
            return Err(QueueError::Rejected(format!(
                "delay of {delay:?} exceeds {MAX_QUEUE_DELAY:?}"
            )));
        }
        validate_body(body)?;
        let body = body.to_owned();
        let now = Timestamp::now();
        let due = now.plus(delay);
        self.db
            .write(move |conn| enqueue_timer_blocking(conn, &body, now, due))
            .await?;
        tracing::debug!(delay_ms = delay.as_millis(), "queue enqueue delayed");
        if delay.is_zero() {
            self.arrived.notify_one();
        }
        Ok(())
    }

    /// Returns as soon as a message is enqueued here (or one was since the last wait), else
    /// after `timeout`.
    async fn wait_for_messages(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.arrived.notified()).await;
    }

    async fn receive_dead_letters(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receive_from(Table::DeadLetters, max, visibility).await
    }
}

#[cfg(test)]
mod tests;
