//! The reply queue: frames go out in the order they were queued, with at most one frame per
//! req_id waiting for its ack; the next frame of that req_id follows the ack or a 5-second
//! timeout (the official SDKs' behaviour, §3.7). No I/O.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::frame::Route;

/// How long a frame may wait for its ack before the next frame of its req_id goes out.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Most frames waiting for one req_id (Python SDK: 100).
pub const MAX_QUEUED_PER_REQ_ID: usize = 100;
/// Most frames waiting in all.
pub const MAX_QUEUED: usize = 1000;

/// Queued and in-flight outgoing frames.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    waiting: VecDeque<(Route, String)>,
    in_flight: HashMap<String, (Route, Instant)>,
}

impl Queue {
    /// Queues a frame; gives the route back when the queue is full.
    pub(crate) fn push(&mut self, route: Route, text: String) -> Result<(), Route> {
        let same = self.waiting.iter().filter(|(r, _)| r.req_id == route.req_id).count();
        if self.waiting.len() >= MAX_QUEUED || same >= MAX_QUEUED_PER_REQ_ID {
            return Err(route);
        }
        self.waiting.push_back((route, text));
        Ok(())
    }

    /// Takes the oldest frame whose req_id has nothing in flight.
    pub(crate) fn pop_ready(&mut self) -> Option<(Route, String)> {
        let index = self
            .waiting
            .iter()
            .position(|(route, _)| !self.in_flight.contains_key(&route.req_id))?;
        self.waiting.remove(index)
    }

    /// Records that a frame was written and now waits for its ack until `now + ACK_TIMEOUT`.
    pub(crate) fn sent(&mut self, route: Route, now: Instant) {
        self.in_flight.insert(route.req_id.clone(), (route, now + ACK_TIMEOUT));
    }

    /// The ack of `req_id` arrived: the in-flight frame it answers, if any.
    pub(crate) fn acked(&mut self, req_id: &str) -> Option<Route> {
        self.in_flight.remove(req_id).map(|(route, _)| route)
    }

    /// In-flight frames whose ack did not come in time; their req_ids are free again.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<Route> {
        let late: Vec<String> = self
            .in_flight
            .iter()
            .filter(|(_, (_, deadline))| now >= *deadline)
            .map(|(req_id, _)| req_id.clone())
            .collect();
        let mut routes: Vec<(Route, Instant)> = late.iter().filter_map(|id| self.in_flight.remove(id)).collect();
        routes.sort_by_key(|(_, deadline)| *deadline);
        routes.into_iter().map(|(route, _)| route).collect()
    }

    /// The earliest ack deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.in_flight.values().map(|(_, deadline)| *deadline).min()
    }

    /// Nothing waiting and nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.in_flight.is_empty()
    }

    /// Empties the queue: in-flight frames first, then waiting ones in order.
    pub(crate) fn drain(&mut self) -> Vec<Route> {
        let mut routes: Vec<(Route, Instant)> = self.in_flight.drain().map(|(_, v)| v).collect();
        routes.sort_by_key(|(_, deadline)| *deadline);
        let mut routes: Vec<Route> = routes.into_iter().map(|(route, _)| route).collect();
        routes.extend(self.waiting.drain(..).map(|(route, _)| route));
        routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(req_id: &str, n: u32) -> (Route, String) {
        (
            Route {
                cmd: "aibot_respond_msg".into(),
                req_id: req_id.into(),
                msgtype: Some("stream".into()),
            },
            format!("{req_id}#{n}"),
        )
    }

    fn push(queue: &mut Queue, req_id: &str, n: u32) {
        let (r, t) = route(req_id, n);
        queue.push(r, t).unwrap();
    }

    #[test]
    fn one_in_flight_per_req_id_in_queue_order() {
        let t0 = Instant::now();
        let mut queue = Queue::default();
        push(&mut queue, "A", 1);
        push(&mut queue, "A", 2);
        push(&mut queue, "B", 1);
        let (a1, text) = queue.pop_ready().unwrap();
        assert_eq!(text, "A#1");
        queue.sent(a1, t0);
        // A#2 waits for A#1's ack; B#1 may go.
        let (b1, text) = queue.pop_ready().unwrap();
        assert_eq!(text, "B#1");
        queue.sent(b1, t0);
        assert_eq!(queue.pop_ready(), None);
        assert_eq!(queue.acked("A").unwrap().req_id, "A");
        assert_eq!(queue.acked("A"), None, "a late duplicate ack matches nothing");
        assert_eq!(queue.pop_ready().unwrap().1, "A#2");
        assert!(!queue.is_idle());
    }

    #[test]
    fn ack_timeout_frees_the_req_id() {
        let t0 = Instant::now();
        let mut queue = Queue::default();
        push(&mut queue, "A", 1);
        push(&mut queue, "A", 2);
        let (a1, _) = queue.pop_ready().unwrap();
        queue.sent(a1, t0);
        assert_eq!(queue.next_deadline(), Some(t0 + ACK_TIMEOUT));
        assert!(queue.expired(t0 + ACK_TIMEOUT - Duration::from_millis(1)).is_empty());
        assert_eq!(queue.expired(t0 + ACK_TIMEOUT).len(), 1);
        assert_eq!(queue.pop_ready().unwrap().1, "A#2");
        assert_eq!(queue.next_deadline(), None);
        assert!(queue.is_idle());
    }

    #[test]
    fn caps_and_drain() {
        let t0 = Instant::now();
        let mut queue = Queue::default();
        for n in 0..u32::try_from(MAX_QUEUED_PER_REQ_ID).unwrap() {
            push(&mut queue, "A", n);
        }
        let (r, t) = route("A", 999);
        assert!(queue.push(r, t).is_err());
        push(&mut queue, "B", 0);
        let (a0, _) = queue.pop_ready().unwrap();
        queue.sent(a0, t0);
        let drained = queue.drain();
        assert_eq!(drained.len(), MAX_QUEUED_PER_REQ_ID + 1);
        assert_eq!(drained[0].req_id, "A");
        assert_eq!(drained.last().unwrap().req_id, "B");
        assert!(queue.is_idle());
    }
}
