//! The supervisor: the relay's control loop and its handle for operators.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::MissedTickBehavior;

use super::connector::Connector;
use super::fleet::{Context, Fleet};
use super::{RelayError, RelaySettings};
use crate::ids::IntegrationId;
use crate::ingress::Ingress;
use crate::keyring::Keyring;
use crate::platform::Platform;
use crate::ports::Store;

/// Runs the long connections of every enabled, bound long-connection integration whose lease
/// this relay holds, and keeps their status.
///
/// Cheap to clone: clones share the same control loop, so one task can [`Supervisor::run`] while
/// another calls [`Supervisor::restart`].
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Arc<Context>,
    commands: mpsc::UnboundedSender<Command>,
    /// The command receiver while [`Supervisor::run`] is not running; taken while it is.
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
}

/// An operator's request, handled by the control loop between passes.
enum Command {
    Restart {
        id: IntegrationId,
        reply: oneshot::Sender<Result<(), RelayError>>,
    },
}

impl Command {
    fn refuse(self) {
        match self {
            Self::Restart { reply, .. } => {
                let _ = reply.send(Err(RelayError::NotRunning));
            }
        }
    }
}

impl Supervisor {
    /// A supervisor connecting the platforms in `connectors`; integrations of other platforms are
    /// left to relays that have a connector for them.
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Arc<dyn Keyring>,
        ingress: Ingress,
        connectors: HashMap<Platform, Arc<dyn Connector>>,
        settings: RelaySettings,
    ) -> Self {
        if settings.renew_every >= settings.lease_ttl {
            tracing::warn!(
                renew_every_ms = settings.renew_every.as_millis(),
                lease_ttl_ms = settings.lease_ttl.as_millis(),
                "lease renewal is not more frequent than the lease lasts; connections will flap"
            );
        }
        let (commands, inbox) = mpsc::unbounded_channel();
        Self {
            inner: Arc::new(Inner {
                ctx: Arc::new(Context {
                    store,
                    keyring,
                    ingress,
                    connectors,
                    settings: Arc::new(settings),
                }),
                commands,
                inbox: Mutex::new(Some(inbox)),
            }),
        }
    }

    /// This relay's lease owner name.
    pub fn owner(&self) -> &str {
        &self.inner.ctx.settings.owner
    }

    /// Reconciles every [`RelaySettings::reconcile_every`] (the first pass at once) until
    /// `shutdown` turns true or its sender is dropped; then stops every connection, waits for
    /// them (bounded by the stop timeout), writes `Stopped` and releases the leases.
    ///
    /// Dropping the returned future instead (aborting its task) drops every connection at once
    /// without releasing anything, as a crash would: the leases lapse and other relays take over.
    ///
    /// # Errors
    /// [`RelayError::AlreadyRunning`] if another task is running this supervisor.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), RelayError> {
        let mut inbox = Inbox::take(&self.inner.inbox)?;
        let settings = self.inner.ctx.settings.clone();
        let mut fleet = Fleet::new(self.inner.ctx.clone());
        let mut tick = tokio::time::interval(settings.reconcile_every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tracing::info!(owner = %settings.owner, "relay supervisor started");
        loop {
            if *shutdown.borrow_and_update() {
                break;
            }
            tokio::select! {
                biased;
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                Some(command) = inbox.recv() => match command {
                    Command::Restart { id, reply } => {
                        let _ = reply.send(fleet.restart(&id).await);
                    }
                },
                _ = tick.tick() => fleet.reconcile().await,
            }
        }
        tracing::info!(owner = %settings.owner, "relay supervisor stopping");
        fleet.shutdown().await;
        tracing::info!(owner = %settings.owner, "relay supervisor stopped");
        Ok(())
    }

    /// Stops the connection of `id` and starts it again at once, also when it was held back after
    /// rejected credentials or a takeover (an operator's "try again"). Waits until done.
    ///
    /// # Errors
    /// [`RelayError::NotHere`] when this relay neither runs nor holds back that integration,
    /// [`RelayError::NotRunning`] when [`Supervisor::run`] is not running.
    pub async fn restart(&self, id: &IntegrationId) -> Result<(), RelayError> {
        let (reply, answer) = oneshot::channel();
        {
            // Sent under the inbox lock, so a loop that is just ending refuses it (see `Inbox`)
            // instead of leaving it unanswered.
            let inbox = lock(&self.inner.inbox);
            if inbox.is_some() {
                return Err(RelayError::NotRunning);
            }
            self.inner
                .commands
                .send(Command::Restart { id: id.clone(), reply })
                .map_err(|_| RelayError::NotRunning)?;
        }
        answer.await.map_err(|_| RelayError::NotRunning)?
    }
}

/// The command receiver, taken for the duration of [`Supervisor::run`] and put back (with any
/// unanswered command refused) when it ends, however it ends.
struct Inbox<'a> {
    slot: &'a Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
    receiver: Option<mpsc::UnboundedReceiver<Command>>,
}

impl<'a> Inbox<'a> {
    fn take(slot: &'a Mutex<Option<mpsc::UnboundedReceiver<Command>>>) -> Result<Self, RelayError> {
        let receiver = lock(slot).take().ok_or(RelayError::AlreadyRunning)?;
        Ok(Self {
            slot,
            receiver: Some(receiver),
        })
    }

    async fn recv(&mut self) -> Option<Command> {
        match &mut self.receiver {
            Some(receiver) => receiver.recv().await,
            None => None,
        }
    }
}

impl Drop for Inbox<'_> {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            let mut slot = lock(self.slot);
            while let Ok(command) = receiver.try_recv() {
                command.refuse();
            }
            *slot = Some(receiver);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data is a plain Option that no panic can leave half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
