//! One receive: the SQL that picks deliverable groups, hands out receipts and moves
//! over-received messages to the dead-letter table, all in one transaction.

use std::time::Duration;

use rusqlite::{Connection, params};

use imgate_core::Timestamp;
use imgate_core::ports::{Delivery, QueueError};

use super::Table;
use crate::db::{queue_err, write_tx};

/// One receive, in one transaction: picks the groups with nothing in flight (oldest head
/// first), and delivers each one's messages in order, moving over-received ones to the
/// dead-letter table. Returns the deliveries and how many messages were dead-lettered.
pub(super) fn receive_blocking(
    conn: &mut Connection,
    table: Table,
    max: usize,
    now: Timestamp,
    visibility: Duration,
    max_receives: Option<u32>,
) -> Result<(Vec<Delivery>, usize), QueueError> {
    let name = table.name();
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    let visible_until = now.plus(visibility).as_millis();
    let tx = write_tx(conn).map_err(queue_err)?;
    let groups: Vec<String> = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT group_id FROM {name} GROUP BY group_id \
                 HAVING MAX(visible_at) <= ?1 ORDER BY MIN(seq) LIMIT ?2"
            ))
            .map_err(queue_err)?;
        stmt.query_map(params![now.as_millis(), limit], |row| row.get(0))
            .and_then(|rows| rows.collect::<Result<_, _>>())
            .map_err(queue_err)?
    };
    let mut out = Vec::new();
    let mut dead = 0;
    for group in groups {
        let room = i64::try_from(max - out.len()).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String, u32)> = {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "SELECT seq, body, receive_count FROM {name} \
                     WHERE group_id = ?1 ORDER BY seq LIMIT ?2"
                ))
                .map_err(queue_err)?;
            stmt.query_map(params![group, room], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(queue_err)?
        };
        for (seq, body, receive_count) in rows {
            if max_receives.is_some_and(|m| receive_count >= m) {
                move_to_dead_letters(&tx, seq, now)?;
                tracing::warn!(
                    group = %group,
                    seq,
                    receive_count,
                    "message received too often; moved to the dead-letter queue"
                );
                dead += 1;
                continue;
            }
            let receipt = format!("{:032x}", rand::random::<u128>());
            tx.execute(
                &format!(
                    "UPDATE {name} SET receive_count = receive_count + 1, visible_at = ?2, \
                     receipt = ?3 WHERE seq = ?1"
                ),
                params![seq, visible_until, receipt],
            )
            .map_err(queue_err)?;
            out.push(Delivery {
                receipt,
                group: group.clone(),
                body,
                receive_count: receive_count.saturating_add(1),
            });
        }
        if out.len() >= max {
            break;
        }
    }
    tx.commit().map_err(queue_err)?;
    Ok((out, dead))
}

/// Moves message `seq` from the main table to the dead-letter table, visible at once.
fn move_to_dead_letters(tx: &rusqlite::Transaction<'_>, seq: i64, now: Timestamp) -> Result<(), QueueError> {
    tx.execute(
        "INSERT INTO queue_dead_letters \
         (group_id, dedupe_id, body, enqueued_at, visible_at, receive_count, receipt, dead_at) \
         SELECT group_id, dedupe_id, body, enqueued_at, 0, receive_count, NULL, ?2 \
         FROM queue_messages WHERE seq = ?1",
        params![seq, now.as_millis()],
    )
    .map_err(queue_err)?;
    tx.execute("DELETE FROM queue_messages WHERE seq = ?1", [seq])
        .map_err(queue_err)?;
    Ok(())
}
