//! One integration's status board: the [`IntegrationStatus`] a worker keeps, written to the
//! store on every state change together with an event-log line.
//!
//! Writes are serialized (the lock is held across the store call), so the last state is always
//! the one that lands, even when the connector and the worker report at the same moment.
//! Store failures are logged and never stop a connection: the status explains, it does not gate.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::backoff::Backoff;
use super::plan::StopCause;
use crate::event_log::{EventKind, record};
use crate::ids::IntegrationId;
use crate::integration::{ConnectionState, IntegrationStatus, StatusReason};
use crate::ports::Store;
use crate::time::Timestamp;

/// `last_event_at` is written at most this often while events stream in; the lease renewal
/// flushes what is pending.
const EVENT_WRITE_EVERY: Duration = Duration::from_secs(5);
/// Error texts are cut to this many characters.
const MAX_ERROR_CHARS: usize = 300;

/// The status of one integration as one worker sees it.
pub(super) struct Board {
    store: Arc<dyn Store>,
    id: IntegrationId,
    owner: String,
    state: Mutex<State>,
}

struct State {
    status: IntegrationStatus,
    /// The error the connector reported during the current attempt, if any.
    attempt_error: Option<String>,
    /// The `last_event_at` the store has.
    event_written: Option<Timestamp>,
    /// `last_event_at` moved since the last write.
    dirty: bool,
}

impl Board {
    /// A board for a new worker. The stored status's last event and last error are kept, so a
    /// restart does not erase what an operator may be looking for.
    pub(super) async fn load(store: Arc<dyn Store>, id: IntegrationId, owner: String) -> Self {
        let previous = match store.get_status(&id).await {
            Ok(previous) => previous,
            Err(error) => {
                tracing::warn!(integration_id = %id, %error, "reading the previous status failed");
                None
            }
        };
        let status = IntegrationStatus {
            integration_id: id.clone(),
            state: ConnectionState::Connecting,
            reason: None,
            connected_since: None,
            last_event_at: previous.as_ref().and_then(|s| s.last_event_at),
            last_error: previous.and_then(|s| s.last_error),
            reconnect_attempts: 0,
            owner: Some(owner.clone()),
            updated_at: Timestamp::now(),
        };
        Self {
            store,
            id,
            owner,
            state: Mutex::new(State {
                event_written: status.last_event_at,
                status,
                attempt_error: None,
                dirty: false,
            }),
        }
    }

    /// A connection attempt starts.
    pub(super) async fn connecting(&self) {
        let mut state = self.state.lock().await;
        state.attempt_error = None;
        let status = &mut state.status;
        status.state = ConnectionState::Connecting;
        status.reason = None;
        status.connected_since = None;
        let detail = match status.reconnect_attempts {
            0 => format!("connecting (relay {})", self.owner),
            n => format!("reconnecting (relay {}, attempt {n})", self.owner),
        };
        self.write(&mut state).await;
        self.log(EventKind::Connecting, &detail).await;
    }

    /// The connection is up: attempts reset, `connected_since` set.
    pub(super) async fn connected(&self) {
        let mut state = self.state.lock().await;
        let status = &mut state.status;
        status.state = ConnectionState::Connected;
        status.reason = None;
        status.connected_since = Some(Timestamp::now());
        status.reconnect_attempts = 0;
        self.write(&mut state).await;
        self.log(EventKind::Connected, &format!("connected (relay {})", self.owner))
            .await;
    }

    /// A platform event arrived; `last_event_at` is written when the stored one is older than a
    /// few seconds, otherwise with the next write or lease renewal.
    pub(super) async fn event_received(&self) {
        let mut state = self.state.lock().await;
        let now = Timestamp::now();
        state.status.last_event_at = Some(now);
        if state.event_written.is_none_or(|at| now.since(at) >= EVENT_WRITE_EVERY) {
            self.write(&mut state).await;
        } else {
            state.dirty = true;
        }
    }

    /// The connector reports a problem; the state does not change.
    pub(super) async fn error(&self, text: &str) {
        let text = clean(text);
        let mut state = self.state.lock().await;
        state.attempt_error = Some(text.clone());
        state.status.last_error = Some(text.clone());
        self.write(&mut state).await;
        self.log(EventKind::Error, &text).await;
    }

    /// The connection closed: counts the attempt, writes `Retrying` and returns the delay before
    /// the next attempt.
    pub(super) async fn retrying(&self, backoff: &Backoff) -> Duration {
        self.retry_after(|attempts| backoff.delay(attempts)).await
    }

    /// The connector itself waits `delay` before reconnecting (a platform that tells clients
    /// how to reconnect): the same `Retrying` state as [`Board::retrying`].
    pub(super) async fn reconnecting(&self, delay: Duration) {
        self.retry_after(|_| delay).await;
    }

    /// Counts the attempt, writes `Retrying` with the delay `delay_for(attempts)` and returns it.
    async fn retry_after(&self, delay_for: impl FnOnce(u32) -> Duration) -> Duration {
        let mut state = self.state.lock().await;
        let error = state
            .attempt_error
            .take()
            .unwrap_or_else(|| "connection closed".to_owned());
        let status = &mut state.status;
        status.reconnect_attempts = status.reconnect_attempts.saturating_add(1);
        let attempts = status.reconnect_attempts;
        let delay = delay_for(attempts);
        status.state = ConnectionState::Retrying;
        status.reason = Some(StatusReason::Network);
        status.connected_since = None;
        status.last_error = Some(error.clone());
        self.write(&mut state).await;
        let detail = format!(
            "{error}; reconnecting in {:.1} s (attempt {attempts})",
            delay.as_secs_f64()
        );
        self.log(EventKind::Retrying, &detail).await;
        delay
    }

    /// The platform rejected the credentials: `Error` + `AuthFailed`, no retry.
    pub(super) async fn auth_failed(&self, text: &str) {
        let text = clean(text);
        self.give_up(
            ConnectionState::Error,
            Some(StatusReason::AuthFailed),
            &text,
            EventKind::Error,
            &format!("credentials rejected: {text}; not reconnecting until the integration changes"),
        )
        .await;
    }

    /// The platform ended the login session: `Error` + `LoginExpired`, no retry until a new
    /// login changes the credentials.
    pub(super) async fn login_expired(&self, text: &str) {
        let text = clean(text);
        self.give_up(
            ConnectionState::Error,
            Some(StatusReason::LoginExpired),
            &text,
            EventKind::Error,
            &format!("login expired: {text}; waiting for a new login before polling again"),
        )
        .await;
    }

    /// Another connection took the bot over: `Stopped` + `KickedByOtherConnection`, not fought.
    pub(super) async fn kicked(&self) {
        self.give_up(
            ConnectionState::Stopped,
            Some(StatusReason::KickedByOtherConnection),
            "another connection took over this bot",
            EventKind::Stopped,
            "another connection took over this bot; not reconnecting until the integration changes",
        )
        .await;
    }

    /// The credentials cannot be opened (corrupt or of the wrong shape): `Error`, no retry.
    pub(super) async fn unusable(&self, text: &str) {
        let text = clean(text);
        self.give_up(
            ConnectionState::Error,
            None,
            &text,
            EventKind::Error,
            &format!("{text}; not connecting until the integration changes"),
        )
        .await;
    }

    /// The worker stops for `cause`. A deleted integration gets no status (it would outlive the
    /// integration) and a restart none either (the next worker writes `Connecting` at once).
    pub(super) async fn stopped(&self, cause: StopCause) {
        match cause {
            StopCause::Deleted => {
                tracing::info!(integration_id = %self.id, "connection stopped: the integration was deleted");
            }
            StopCause::Restart => self.log(EventKind::Stopped, cause.detail()).await,
            StopCause::Unbound | StopCause::Disabled | StopCause::ModeChanged | StopCause::Shutdown => {
                let mut state = self.state.lock().await;
                let status = &mut state.status;
                status.state = ConnectionState::Stopped;
                status.reason = cause.reason();
                status.connected_since = None;
                status.reconnect_attempts = 0;
                self.write(&mut state).await;
                self.log(EventKind::Stopped, cause.detail()).await;
            }
        }
    }

    /// The lease went to another relay: only an event-log line, the new owner writes the status.
    pub(super) async fn lease_lost(&self) {
        self.log(EventKind::Stopped, "connection stopped: another relay holds the lease")
            .await;
    }

    /// Writes a pending `last_event_at`.
    pub(super) async fn flush(&self) {
        // Never wait for the lock: the worker calls this between polls of the connector, and the
        // connector may be holding the lock across a store write of its own, which can only
        // finish once the connector is polled again. A busy lock means a write is under way.
        let Ok(mut state) = self.state.try_lock() else {
            return;
        };
        if state.dirty {
            self.write(&mut state).await;
        }
    }

    async fn give_up(
        &self,
        to: ConnectionState,
        reason: Option<StatusReason>,
        error: &str,
        kind: EventKind,
        detail: &str,
    ) {
        let mut state = self.state.lock().await;
        let status = &mut state.status;
        status.state = to;
        status.reason = reason;
        status.connected_since = None;
        status.last_error = Some(error.to_owned());
        self.write(&mut state).await;
        self.log(kind, detail).await;
    }

    async fn write(&self, state: &mut State) {
        let now = Timestamp::now();
        state.status.updated_at = now;
        state.status.owner = Some(self.owner.clone());
        state.event_written = state.status.last_event_at;
        state.dirty = false;
        if let Err(error) = self.store.put_status(&state.status).await {
            tracing::warn!(integration_id = %self.id, %error, "writing the connection status failed");
        }
    }

    async fn log(&self, kind: EventKind, detail: &str) {
        record(self.store.as_ref(), &self.id, kind, None, detail).await;
    }
}

/// A connector's error text made fit for the status: one line, at most [`MAX_ERROR_CHARS`].
fn clean(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_CHARS)
        .collect();
    match line.trim() {
        "" => "unknown error".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_short_line() {
        assert_eq!(clean(" bad\nthing\t "), "bad thing");
        assert_eq!(clean(""), "unknown error");
        assert_eq!(clean(&"x".repeat(1000)).chars().count(), MAX_ERROR_CHARS);
    }
}
