//! Crash safety of `imgate serve`, proven on the real binary: a few hundred WeCom messages in
//! flight, `kill -9` at each crash point (`IMGATE_CRASH_AT`) and once at a random moment, a
//! restart on the same database, and WeCom's retries and stream refreshes across it. Every
//! message must be acknowledged, its user must see its answer exactly once, and the agent must
//! have completed one call for it (see `imgate_tests::crash::report` for the exact rules).
//!
//! The runs are serialized (one gateway at a time on a small machine) and each is bounded: the
//! load ends within [`LOAD_LIMIT`], the settling within the harness's limit.

#![allow(clippy::unwrap_used)]

use std::ops::Range;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use imgate_tests::crash::{Harness, Options, Pull, Report, Retry, random_between};

/// Messages per run, all distinct.
const MESSAGES: usize = 400;
/// Messages between their first send and their end at any moment.
const IN_FLIGHT: usize = 250;
/// Senders (FIFO conversations).
const USERS: usize = 200;
/// How long a crash point may take to be reached.
const CRASH_POINT_LIMIT: Duration = Duration::from_secs(30);
/// After a crash point that holds a message whose answer is recorded: longer than the record
/// window, so that asking the agent again for it is never excused.
const KILL_AFTER_ANSWER: Duration = Duration::from_secs(5);
/// How long the load may take, kill and restart included (each message ends within 35 s of
/// its first send; see [`options`]).
const LOAD_LIMIT: Duration = Duration::from_secs(60);

/// One run at a time: the machine has two cores, and the timings of a run should not depend on
/// what another run is doing.
static SERIAL: Mutex<()> = Mutex::new(());

/// When to kill.
enum Kill {
    /// When the `nth` task reaches `point`, `after` that.
    At {
        point: &'static str,
        nth: u64,
        after: Duration,
    },
    /// At a random moment in this range after the load started.
    Random(Range<Duration>),
}

/// The harness as WeCom would play it, with bounds that fit a CI run: callbacks are retried
/// for 20 s, and streams are pulled for 30 s after the first send instead of 6 minutes, so an
/// answer that has not arrived by then counts as lost (after a restart the gateway hands out the
/// messages of the dead process at once: answers take seconds, not the 30 s visibility); the
/// settling waits 2 s of quiet, at most 10 s. A run thus takes at most about 30 s for its
/// crash point, 35 s for its messages and 10 s to settle, however broken the gateway.
fn options() -> Options {
    Options {
        users: USERS,
        retry: Retry {
            give_up_after: Duration::from_secs(20),
            ..Retry::default()
        },
        pull: Pull {
            refresh_every: Duration::from_millis(500),
            window: Duration::from_secs(30),
            follow_up_wait: Duration::from_secs(3),
        },
        settle_limit: Duration::from_secs(10),
        ..Options::default()
    }
}

/// Runs one scenario on a runtime of its own, after any other run ended, and prints its report.
fn run(kill: Kill) -> Report {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(scenario(kill))
}

async fn scenario(kill: Kill) -> Report {
    let binary = Path::new(env!("CARGO_BIN_EXE_imgate"));
    let crash_at = match &kill {
        Kill::At { point, nth, .. } => Some(format!("{point}:{nth}")),
        Kill::Random(_) => None,
    };
    let harness = Harness::start(binary, options(), crash_at.as_deref()).await.unwrap();
    let load = tokio::spawn({
        let harness = harness.clone();
        async move { harness.load(0..MESSAGES, IN_FLIGHT).await }
    });
    let cause = match kill {
        Kill::At { point, nth, after } => {
            if matches!(point, "dispatch.answered" | "queue.before_ack") {
                assert!(
                    after > options().record_window,
                    "the held message's second agent call would be excused"
                );
            }
            let Some(line) = harness.wait_for_crash_point(CRASH_POINT_LIMIT).await else {
                load.abort();
                panic!(
                    "crash point {point}:{nth} not reached within {CRASH_POINT_LIMIT:?}\n{}",
                    harness.stderr_tail().await.join("\n")
                );
            };
            assert_eq!(line.point, point);
            tokio::time::sleep(after).await;
            format!("crash point {point}:{nth}, killed {} ms after it", after.as_millis())
        }
        Kill::Random(range) => {
            let at = random_between(range);
            tokio::time::sleep(at).await;
            format!("random moment, {} ms into the load", at.as_millis())
        }
    };
    harness.kill_and_restart(None, &cause).await.unwrap();
    tokio::time::timeout(LOAD_LIMIT, load)
        .await
        .expect("the load ends within its limit")
        .unwrap();
    harness.settle().await;
    let report = harness.report(None);
    println!("{report}");
    if !report.problems.is_empty() {
        println!(
            "last lines of the gateway's stderr:\n{}",
            harness.stderr_tail().await.join("\n")
        );
    }
    report
}

#[test]
fn crash_before_the_dedupe_check() {
    run(Kill::At {
        point: "ingress.before_claim",
        nth: 100,
        after: Duration::from_millis(500),
    })
    .assert_exactly_once();
}

#[test]
fn crash_after_the_dedupe_check_before_the_enqueue() {
    run(Kill::At {
        point: "ingress.claimed",
        nth: 100,
        after: Duration::from_millis(500),
    })
    .assert_exactly_once();
}

#[test]
fn crash_after_the_enqueue_before_the_claim() {
    run(Kill::At {
        point: "ingress.enqueued",
        nth: 100,
        after: Duration::from_millis(500),
    })
    .assert_exactly_once();
}

/// Killed at once, while the agent is still writing: its call is cut and asked again.
#[test]
fn crash_while_the_agent_streams() {
    run(Kill::At {
        point: "dispatch.agent_streaming",
        nth: 60,
        after: Duration::ZERO,
    })
    .assert_exactly_once();
}

/// Killed 5 s after the answer was recorded (longer than the record window), so that a second
/// agent call for the held message cannot be excused.
#[test]
fn crash_after_the_answer_was_recorded() {
    run(Kill::At {
        point: "dispatch.answered",
        nth: 60,
        after: KILL_AFTER_ANSWER,
    })
    .assert_exactly_once();
}

/// As above: the held message's answer was recorded and shown, and must not be asked again.
#[test]
fn crash_after_the_answer_was_shown_before_the_ack() {
    run(Kill::At {
        point: "queue.before_ack",
        nth: 60,
        after: KILL_AFTER_ANSWER,
    })
    .assert_exactly_once();
}

#[test]
fn crash_at_a_random_moment_under_load() {
    run(Kill::Random(Duration::from_millis(500)..Duration::from_secs(3))).assert_exactly_once();
}
