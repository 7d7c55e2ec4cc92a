//! One receive: the SQL that picks deliverable groups and due timers, hands out receipts and
//! moves over-received messages to the dead-letter table, all in one transaction.

use std::collections::HashSet;
use std::time::Duration;

use rusqlite::{Connection, params};

use imgate_core::Timestamp;
use imgate_core::ports::{Delivery, QueueError};

use super::{TIMER_GROUP, Table};
use crate::db::{CachedExecute, queue_err, write_tx};

/// What one receive may deliver from: a FIFO group with nothing in flight, or one due timer.
enum Candidate {
    /// A group whose messages are all visible; delivered from its oldest message on.
    Group(String),
    /// A timer message (group [`TIMER_GROUP`]), by `seq`.
    Timer(i64),
}

/// Rows a receive looks at, at most, to find deliverable groups. Only messages queued behind
/// in-flight ones are passed over, so this bounds the work when a few busy groups hold many
/// messages; their messages are found once the groups are idle again.
const MAX_SCANNED: usize = 2_000;

/// The next `limit` things to deliver, oldest first: due timers, and each FIFO group with
/// nothing in flight (by its oldest message). In-flight messages are found through the
/// `visible_at` index, then queued messages are read in order, skipping their groups.
fn candidates(conn: &Connection, name: &str, limit: usize, now: Timestamp) -> Result<Vec<Candidate>, QueueError> {
    let now = now.as_millis();
    let busy: HashSet<String> = {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT DISTINCT group_id FROM {name} WHERE visible_at > ?1 AND group_id <> ?2"
            ))
            .map_err(queue_err)?;
        stmt.query_map(params![now, TIMER_GROUP], |row| row.get(0))
            .and_then(|rows| rows.collect::<Result<_, _>>())
            .map_err(queue_err)?
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT seq, group_id FROM {name} WHERE visible_at <= ?1 ORDER BY seq LIMIT ?2"
        ))
        .map_err(queue_err)?;
    let scan = i64::try_from(MAX_SCANNED).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![now, scan]).map_err(queue_err)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(row) = rows.next().map_err(queue_err)? else {
            break;
        };
        let seq: i64 = row.get(0).map_err(queue_err)?;
        let group: String = row.get(1).map_err(queue_err)?;
        if group == TIMER_GROUP {
            out.push(Candidate::Timer(seq));
        } else if !busy.contains(&group) && seen.insert(group.clone()) {
            out.push(Candidate::Group(group));
        }
    }
    Ok(out)
}

/// One receive, in one transaction: picks the groups with nothing in flight and the due timer
/// messages (oldest first, a group by its head), and delivers each group's messages in order
/// (at most an equal share of `max` per group),
/// moving over-received ones to the dead-letter table. Returns the deliveries and how many
/// messages were dead-lettered.
pub(super) fn receive_blocking(
    conn: &mut Connection,
    table: Table,
    max: usize,
    now: Timestamp,
    visibility: Duration,
    max_receives: Option<u32>,
) -> Result<(Vec<Delivery>, usize), QueueError> {
    let name = table.name();
    let tx = write_tx(conn).map_err(queue_err)?;
    let candidates = candidates(&tx, name, max, now)?;
    let mut batch = Batch {
        tx: &tx,
        name,
        now,
        visible_until: now.plus(visibility).as_millis(),
        max_receives,
        out: Vec::new(),
        dead: 0,
    };
    // Room is shared between the groups found, so one long group does not take a whole
    // receive while others wait: the consumer can then work on more conversations at once.
    let share = max.div_ceil(candidates.len().max(1));
    for candidate in candidates {
        let room = i64::try_from(share.min(max - batch.out.len())).unwrap_or(i64::MAX);
        let (group, rows): (&str, Vec<(i64, String, u32)>) = match &candidate {
            Candidate::Group(group) => {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT seq, body, receive_count FROM {name} \
                         WHERE group_id = ?1 ORDER BY seq LIMIT ?2"
                    ))
                    .map_err(queue_err)?;
                let rows = stmt
                    .query_map(params![group, room], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                    .and_then(|rows| rows.collect::<Result<_, _>>())
                    .map_err(queue_err)?;
                (group, rows)
            }
            Candidate::Timer(seq) => {
                let mut stmt = tx
                    .prepare_cached(&format!("SELECT seq, body, receive_count FROM {name} WHERE seq = ?1"))
                    .map_err(queue_err)?;
                let rows = stmt
                    .query_map([seq], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                    .and_then(|rows| rows.collect::<Result<_, _>>())
                    .map_err(queue_err)?;
                (TIMER_GROUP, rows)
            }
        };
        for (seq, body, receive_count) in rows {
            batch.deliver(group, seq, body, receive_count)?;
        }
        if batch.out.len() >= max {
            break;
        }
    }
    let (out, dead) = (batch.out, batch.dead);
    tx.commit().map_err(queue_err)?;
    Ok((out, dead))
}

/// The deliveries of one receive so far, and what each needs to hand out a message.
struct Batch<'a> {
    tx: &'a rusqlite::Savepoint<'a>,
    name: &'static str,
    now: Timestamp,
    visible_until: i64,
    max_receives: Option<u32>,
    out: Vec<Delivery>,
    dead: usize,
}

impl Batch<'_> {
    /// Delivers message `seq` of `group` with a new receipt, or moves it to the dead-letter
    /// table if it was received too often already.
    fn deliver(&mut self, group: &str, seq: i64, body: String, receive_count: u32) -> Result<(), QueueError> {
        if self.max_receives.is_some_and(|m| receive_count >= m) {
            move_to_dead_letters(self.tx, seq, self.now)?;
            tracing::warn!(
                group = %group,
                seq,
                receive_count,
                "message received too often; moved to the dead-letter queue"
            );
            self.dead += 1;
            return Ok(());
        }
        // The sequence number first: receipts then grow, so the receipt index is appended to at
        // its end instead of having a random page rewritten for every delivery.
        let receipt = format!("{seq:016x}{:032x}", rand::random::<u128>());
        self.tx
            .exec(
                &format!(
                    "UPDATE {} SET receive_count = receive_count + 1, visible_at = ?2, \
                     receipt = ?3 WHERE seq = ?1",
                    self.name
                ),
                params![seq, self.visible_until, receipt],
            )
            .map_err(queue_err)?;
        self.out.push(Delivery {
            receipt,
            group: group.to_owned(),
            body,
            receive_count: receive_count.saturating_add(1),
        });
        Ok(())
    }
}

/// Moves message `seq` from the main table to the dead-letter table, visible at once.
fn move_to_dead_letters(tx: &rusqlite::Savepoint<'_>, seq: i64, now: Timestamp) -> Result<(), QueueError> {
    tx.exec(
        "INSERT INTO queue_dead_letters \
         (group_id, dedupe_id, body, enqueued_at, visible_at, receive_count, receipt, dead_at) \
         SELECT group_id, dedupe_id, body, enqueued_at, 0, receive_count, NULL, ?2 \
         FROM queue_messages WHERE seq = ?1",
        params![seq, now.as_millis()],
    )
    .map_err(queue_err)?;
    tx.exec("DELETE FROM queue_messages WHERE seq = ?1", [seq])
        .map_err(queue_err)?;
    Ok(())
}
