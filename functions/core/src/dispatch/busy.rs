//! Busy policies: what a message does when it arrives while its conversation's answer is still
//! running ([`BusyPolicy`]).
//!
//! A conversation's messages are delivered one at a time (the queue's message group), so by the
//! time a message reaches the dispatcher the answer it arrived during has ended. Whether it
//! arrived during one is read from the conversation's session: the last answer was recorded
//! after the message was received.
//!
//! - `queue`: nothing special; the message is answered on its own.
//! - `collect`: such messages join the conversation's pending buffer (the one the aggregation
//!   window uses) and a flush is queued behind them in the same group; the flush that finds the
//!   buffer still at its version answers all of them in one agent call. Messages that arrived
//!   during that call are collected again.
//! - `interrupt`: as `collect`, and in addition the running answer is stopped as soon as a newer
//!   message is accepted: while it runs the answer holds [`busy_key`]; the ingress that accepts
//!   a newer message finds it and leaves [`interrupt_key`] and the cancel mark; the answer sees
//!   the cancel mark (see [`crate::cancel`]), finishes what was shown with the "stopped" mark,
//!   and puts its own message in the pending buffer, so the newer message is answered together
//!   with the one it interrupted.

use std::time::Duration;

use super::{DispatchError, Dispatcher, Done};
use crate::cancel::{BUSY_TTL, busy_key, cancel_key, interrupt_key};
use crate::envelope::Envelope;
use crate::event::InboundEvent;
use crate::ports::{OutgoingMessage, ReplyTarget};
use crate::time::Timestamp;
use crate::trigger::{BusyPolicy, Trigger};

/// How long collected messages wait for their flush (it is queued right behind them).
const COLLECT_TTL: Duration = Duration::from_secs(3600);

impl Dispatcher {
    /// True when `event` arrived while its conversation's previous answer was running (and the
    /// trigger's busy policy gathers such messages).
    pub(super) async fn arrived_while_busy(
        &self,
        event: &InboundEvent,
        trigger: &Trigger,
    ) -> Result<bool, DispatchError> {
        if trigger.busy == BusyPolicy::Queue {
            return Ok(false);
        }
        let session = self.store.get_session(&event.session_key(), Timestamp::now()).await?;
        let key = event.dedupe_key();
        Ok(session
            .and_then(|s| s.answer)
            .is_some_and(|answer| answer.event_key != key && answer.at > event.received_at))
    }

    /// Puts `event` in its conversation's pending buffer and queues the flush that answers the
    /// buffer, behind every message already waiting in the conversation.
    pub(super) async fn collect(&self, event: &InboundEvent) -> Result<(), DispatchError> {
        let why = "arrived while an answer was running; answered together with the others";
        let (group, version) = self.pend(event, COLLECT_TTL, why).await?;
        self.queue
            .enqueue(&OutgoingMessage {
                group: group.clone(),
                dedupe_id: format!("collect-{}", crate::apikey::hash(&format!("{group}:{version}"))),
                body: Envelope::flush(group, version, Timestamp::now()).to_body(),
            })
            .await?;
        Ok(())
    }

    /// Runs [`Dispatcher::converse`] holding the conversation's busy mark when the trigger
    /// lets newer messages interrupt the answer. Marks a newer message left for an answer that
    /// had already ended are cleared first, so they do not stop this one.
    pub(super) async fn converse_interruptibly(
        &self,
        target: ReplyTarget,
        trigger: &Trigger,
        text: String,
        receive_count: u32,
    ) -> Result<Option<Done>, DispatchError> {
        if trigger.busy != BusyPolicy::Interrupt {
            return self.converse(target, trigger, text, receive_count).await;
        }
        let group = target.event.session_key().queue_group();
        let now = Timestamp::now();
        if self.store.is_claimed(&interrupt_key(&group), now).await? {
            self.store.release(&interrupt_key(&group)).await?;
            self.store.release(&cancel_key(&group)).await?;
        }
        self.store.claim(&busy_key(&group), now, BUSY_TTL).await?;
        let outcome = self.converse(target, trigger, text, receive_count).await;
        if let Err(error) = self.store.release(&busy_key(&group)).await {
            tracing::warn!(%error, "releasing the busy mark failed; it expires on its own");
        }
        outcome
    }

    /// Whether the cancel mark the running answer of `event` found was left by a newer message
    /// (under the `interrupt` policy) rather than by `/cancel`. Consumes the marks when it was.
    pub(super) async fn interrupted(&self, event: &InboundEvent, trigger: &Trigger) -> Result<bool, DispatchError> {
        if trigger.busy != BusyPolicy::Interrupt {
            return Ok(false);
        }
        let group = event.session_key().queue_group();
        if !self.store.is_claimed(&interrupt_key(&group), Timestamp::now()).await? {
            return Ok(false);
        }
        // The interrupted question is answered again with the newer message: it waits in the
        // pending buffer, which the newer message's flush takes.
        self.store
            .append_pending(&group, event, Timestamp::now(), COLLECT_TTL)
            .await?;
        self.store.release(&interrupt_key(&group)).await?;
        self.store.release(&cancel_key(&group)).await?;
        Ok(true)
    }
}
