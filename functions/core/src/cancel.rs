//! `/cancel`: stopping an answer in progress, wherever it runs.
//!
//! A conversation's messages are delivered one at a time (the FIFO queue's group), so the
//! `/cancel` message itself waits until the answer it means to stop has ended. The request
//! therefore travels beside the queue, through the store: the ingress that accepts a
//! `/cancel` claims the conversation's cancel mark ([`cancel_key`]); the dispatcher streaming
//! an answer for that conversation looks for the mark every
//! [`crate::dispatch::DispatchSettings::cancel_poll`] (on any instance or Lambda) and stops;
//! when the `/cancel` message's own turn comes, it gives the mark back and says whether an
//! answer was stopped ([`stopped_key`]).

use std::time::Duration;

/// How long a cancel mark waits for an answer to stop (the `/cancel` message clears it sooner).
pub const CANCEL_TTL: Duration = Duration::from_secs(600);

/// The command that stops the answer in progress.
pub const COMMAND: &str = "cancel";

/// The cancel mark of the conversation whose queue group is `group`.
pub fn cancel_key(group: &str) -> String {
    format!("cancel:{group}")
}

/// The mark an answer leaves when `/cancel` stopped it, so the command can say so.
pub fn stopped_key(group: &str) -> String {
    format!("cancelled:{group}")
}

/// How long an answer under the `interrupt` busy policy holds its busy mark at most (an answer
/// that ends releases it at once; one whose handler died leaves it until then).
pub const BUSY_TTL: Duration = Duration::from_secs(900);

/// The mark an answer holds while it runs under the `interrupt` busy policy
/// ([`crate::trigger::BusyPolicy::Interrupt`]): the ingress that accepts a newer message of the
/// conversation finds it and asks the answer to stop, through [`cancel_key`] and
/// [`interrupt_key`].
pub fn busy_key(group: &str) -> String {
    format!("busy:{group}")
}

/// Left beside the cancel mark by a newer message that interrupts the running answer, so the
/// stopped answer knows its question is to be answered again together with the newer one
/// (a `/cancel` leaves only the cancel mark).
pub fn interrupt_key(group: &str) -> String {
    format!("interrupt:{group}")
}
