//! What the event log tells an operator: message volume and reply latency over the last day,
//! and a plain answer to "why did my bot not reply to this message?".
//!
//! Both read the integration's event log (kept 24 hours), so they cost no write on the
//! message path. The log is read up to [`INSIGHT_EVENTS`] lines; on a busier integration the
//! figures cover the most recent part of the day, and say so (`truncated`).

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::{Admin, AdminResult, Principal};
use crate::event_log::{EVENT_LOG_TTL, EventKind};
use crate::ports::EventLogEntry;
use crate::time::Timestamp;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The most event-log lines one insight reads.
pub const INSIGHT_EVENTS: usize = 5_000;

const HOUR: Duration = Duration::from_secs(3600);

/// Messages in one hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HourBucket {
    /// The hour's start.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    /// Events that arrived.
    pub received: u32,
    /// Answers delivered.
    pub replied: u32,
    /// Failures (agent, reply, enqueue).
    pub errors: u32,
}

/// `GET /integrations/{id}/metrics`: the last 24 hours, hour by hour.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetricsView {
    /// The integration.
    pub integration_id: String,
    /// 24 hours, oldest first; the last one is the current hour.
    pub hours: Vec<HourBucket>,
    /// Time from an event's arrival to its answer being delivered, over the answers in the
    /// window: median, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_latency_p50_ms: Option<u64>,
    /// The same, 95th percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_latency_p95_ms: Option<u64>,
    /// How many answers the latency figures cover.
    pub replies_measured: u32,
    /// True when the log held more lines than were read: the figures cover the latest part.
    pub truncated: bool,
}

/// `GET /integrations/{id}/explain?eventId=…`: what happened to one message.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExplainView {
    /// The platform event id asked about.
    pub event_id: String,
    /// `replied`, `in_progress`, `failed`, `dropped`, `rejected`, `duplicate`, or `unknown`.
    pub outcome: &'static str,
    /// A plain-language answer.
    pub summary: String,
    /// The log lines about this event, oldest first.
    pub events: Vec<EventLogEntry>,
}

impl Admin {
    /// Message volume and reply latency of the last 24 hours.
    ///
    /// # Errors
    /// 404 when the integration is absent or another organization's.
    pub async fn integration_metrics(&self, principal: &Principal, id: &str) -> AdminResult<MetricsView> {
        let record = self.owned_integration(principal, id).await?;
        let now = Timestamp::now();
        let events = self.deps.store.recent_events(&record.id, INSIGHT_EVENTS, now).await?;
        Ok(metrics(record.id.to_string(), &events, now))
    }

    /// Why the bot did (not) reply to the message with platform event id `event_id`.
    ///
    /// # Errors
    /// 404 when the integration is absent or another organization's.
    pub async fn explain_event(&self, principal: &Principal, id: &str, event_id: &str) -> AdminResult<ExplainView> {
        let record = self.owned_integration(principal, id).await?;
        let trigger = self.deps.store.get_trigger(&record.id).await?;
        let (readiness, summary) = super::overview::readiness(&record, trigger.as_ref());
        let events = self
            .deps
            .store
            .recent_events(&record.id, INSIGHT_EVENTS, Timestamp::now())
            .await?;
        Ok(explain(event_id, &events, summary, readiness))
    }
}

/// Buckets `events` (newest first, as the log returns them) into the 24 hours before `now`.
pub fn metrics(integration_id: String, events: &[EventLogEntry], now: Timestamp) -> MetricsView {
    let current_hour = Timestamp::from_millis(now.as_millis() - now.as_millis().rem_euclid(3_600_000));
    let first = current_hour.minus(HOUR * 23);
    let mut hours: Vec<HourBucket> = (0..24)
        .map(|i| HourBucket {
            start: first.plus(HOUR * i),
            received: 0,
            replied: 0,
            errors: 0,
        })
        .collect();
    let mut arrived: HashMap<&str, Timestamp> = HashMap::new();
    let mut latencies = Vec::new();
    for entry in events.iter().rev() {
        if entry.at < first {
            continue;
        }
        let index = usize::try_from((entry.at.as_millis() - first.as_millis()) / 3_600_000).unwrap_or(0);
        let Some(bucket) = hours.get_mut(index.min(23)) else {
            continue;
        };
        match EventKind::parse(&entry.kind) {
            Some(EventKind::Received) => {
                bucket.received += 1;
                if let Some(id) = &entry.event_id {
                    arrived.entry(id).or_insert(entry.at);
                }
            }
            Some(EventKind::Replied) => {
                bucket.replied += 1;
                let start = entry.event_id.as_deref().and_then(|id| arrived.get(id));
                if let Some(start) = start {
                    latencies.push(u64::try_from(entry.at.since(*start).as_millis()).unwrap_or(u64::MAX));
                }
            }
            Some(EventKind::Error) => bucket.errors += 1,
            _ => {}
        }
    }
    latencies.sort_unstable();
    MetricsView {
        integration_id,
        hours,
        reply_latency_p50_ms: percentile(&latencies, 50),
        reply_latency_p95_ms: percentile(&latencies, 95),
        replies_measured: u32::try_from(latencies.len()).unwrap_or(u32::MAX),
        truncated: events.len() >= INSIGHT_EVENTS,
    }
}

fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get((last * p).div_ceil(100)).copied()
}

/// The story of one event from its log lines, and the integration's readiness when nothing
/// about it was logged.
pub fn explain(
    event_id: &str,
    events: &[EventLogEntry],
    readiness_summary: &str,
    readiness: super::Readiness,
) -> ExplainView {
    let mut lines: Vec<EventLogEntry> = events
        .iter()
        .filter(|e| e.event_id.as_deref() == Some(event_id))
        .cloned()
        .collect();
    lines.sort_by_key(|e| e.at);
    let has = |kind: EventKind| lines.iter().any(|e| e.kind == kind.as_str());
    let last_detail = |kind: EventKind| {
        lines
            .iter()
            .rev()
            .find(|e| e.kind == kind.as_str())
            .map(|e| e.detail.clone())
            .unwrap_or_default()
    };
    let (outcome, summary) = if lines.is_empty() {
        let hours = EVENT_LOG_TTL.as_secs() / 3600;
        (
            "unknown",
            format!(
                "Nothing about this message reached the gateway in the last {hours} hours: the platform did not deliver it \
                 (check the callback URL or the connection), or the id is not the platform's message id. Right now: {readiness_summary}."
            ),
        )
    } else if has(EventKind::Replied) {
        (
            "replied",
            format!("It was answered: {}.", last_detail(EventKind::Replied)),
        )
    } else if has(EventKind::Rejected) {
        (
            "rejected",
            format!(
                "The callback was refused before it was read: {}. Check the token, key or secret of this integration.",
                last_detail(EventKind::Rejected)
            ),
        )
    } else if has(EventKind::Dropped) || has(EventKind::Ignored) {
        let detail = [last_detail(EventKind::Dropped), last_detail(EventKind::Ignored)]
            .into_iter()
            .find(|d| !d.is_empty())
            .unwrap_or_default();
        ("dropped", format!("It was not for the agent: {detail}."))
    } else if has(EventKind::Error) && !has(EventKind::Retrying) {
        (
            "failed",
            format!(
                "It failed: {}. See Dead letters if every attempt failed.",
                last_detail(EventKind::Error)
            ),
        )
    } else if has(EventKind::Retrying) || has(EventKind::Error) {
        (
            "in_progress",
            format!(
                "An attempt failed and it will be tried again: {}.",
                last_detail(EventKind::Error)
            ),
        )
    } else if has(EventKind::Duplicate) && !has(EventKind::Enqueued) {
        (
            "duplicate",
            "The platform sent it again; the repeat was ignored.".to_owned(),
        )
    } else if readiness != super::Readiness::Ready {
        ("in_progress", format!("It is queued, but {readiness_summary}."))
    } else {
        (
            "in_progress",
            "It arrived and is queued or being answered; if this lasts, check the agent.".to_owned(),
        )
    };
    ExplainView {
        event_id: event_id.to_owned(),
        outcome,
        summary,
        events: lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at: i64, kind: EventKind, event: &str) -> EventLogEntry {
        EventLogEntry {
            at: Timestamp::from_millis(at),
            kind: kind.as_str().into(),
            event_id: Some(event.into()),
            detail: format!("{kind} detail"),
        }
    }

    #[test]
    fn buckets_by_hour_and_measures_reply_latency() {
        let now = Timestamp::from_millis(100 * 3_600_000 + 1_000);
        let mut events = vec![
            line(100 * 3_600_000, EventKind::Received, "a"),
            line(100 * 3_600_000 + 800, EventKind::Replied, "a"),
            line(99 * 3_600_000, EventKind::Received, "b"),
            line(99 * 3_600_000 + 2_000, EventKind::Replied, "b"),
            line(98 * 3_600_000, EventKind::Error, "c"),
            line(10 * 3_600_000, EventKind::Received, "old"),
        ];
        events.reverse();
        let m = metrics("int".into(), &events, now);
        assert_eq!(m.hours.len(), 24);
        assert_eq!(m.hours[23].received, 1);
        assert_eq!(m.hours[23].replied, 1);
        assert_eq!(m.hours[22].received, 1);
        assert_eq!(m.hours[21].errors, 1);
        assert_eq!(
            m.hours.iter().map(|h| h.received).sum::<u32>(),
            2,
            "the old line is outside the day"
        );
        assert_eq!(m.replies_measured, 2);
        assert_eq!(m.reply_latency_p50_ms, Some(2_000));
        assert!(!m.truncated);
    }

    #[test]
    fn explains_each_outcome() {
        let ready = super::super::Readiness::Ready;
        let replied = [line(1, EventKind::Received, "e"), line(2, EventKind::Replied, "e")];
        assert_eq!(explain("e", &replied, "ok", ready).outcome, "replied");
        let failed = [line(1, EventKind::Received, "e"), line(2, EventKind::Error, "e")];
        assert_eq!(explain("e", &failed, "ok", ready).outcome, "failed");
        let retrying = [line(2, EventKind::Error, "e"), line(3, EventKind::Retrying, "e")];
        assert_eq!(explain("e", &retrying, "ok", ready).outcome, "in_progress");
        let unknown = explain("other", &replied, "no trigger binds this integration", ready);
        assert_eq!(unknown.outcome, "unknown");
        assert!(unknown.summary.contains("no trigger binds"));
        assert!(unknown.events.is_empty());
    }
}
