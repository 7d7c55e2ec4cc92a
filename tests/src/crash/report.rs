//! Judging a run by what each user saw, and the run's figures.
//!
//! A message's user saw its answer **once** when the answer occurs exactly once in everything
//! WeCom showed for it: the stream bubble as last pulled (WeCom shows the final content of a
//! stream, not its history) and every message POSTed to its `response_url`. A stream finished
//! with the first part of a long answer (ending in `…`) and the rest in the `response_url`
//! message together count as one sighting. Zero sightings of an acknowledged message is a lost
//! answer, two or more a doubled one, and so is a bubble or follow-up that starts the answer
//! twice (a rewritten stream that kept its old text); an answer to another user's question
//! anywhere in a message's bubble or follow-up is a wrong one.
//!
//! The agent must have **completed one call** per message. A call counts as completed when it
//! wrote its whole answer with no kill between its start and its end (an end written after the
//! kill went to a dead process). A second completed call is excused only when a `kill -9` came
//! at most the record window after the first one ended and before that answer was delivered:
//! the gateway had the whole answer for a moment but not yet durably (it cannot record an
//! answer before it has arrived), so that window is inherent. An answer delivered (a finished
//! stream holding it, or a `response_url` message) was recorded, as the gateway records before
//! it finishes, so asking again after that is never excused; the text streamed while the agent
//! writes may show the whole answer before it is recorded, so that does not count. Calls started and cut by a kill are reported, not judged: an answer cut by a crash
//! has to be asked for again.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use super::agent::Calls;
use super::wecom::{Outcome, Post};

/// How the stream marks an answer that continues through `response_url`.
const CONTINUED: &str = "\n\n…";
/// The part every answer of the fake agent starts with, followed by the question.
const ANSWER_HEAD: &str = "answer to question ";

/// A `kill -9` of the gateway.
#[derive(Debug, Clone)]
pub struct KillRecord {
    /// When the signal was sent.
    pub at: Instant,
    /// Seconds into the run.
    pub offset: Duration,
    /// Why: a crash point, or a random moment.
    pub cause: String,
    /// From the kill until the gateway listened again (None: the restart failed).
    pub restart_took: Option<Duration>,
}

/// The gateway's memory and write-ahead log at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds into the run.
    pub offset: Duration,
    /// `VmRSS` of the running process, KiB (None while it is down).
    pub rss_kib: Option<u64>,
    /// Bytes in the database's `-wal` file(s).
    pub wal_bytes: u64,
}

/// The verdict on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// WeCom is still following it.
    Pending,
    /// No callback attempt was acknowledged: lost before it reached the queue.
    Unacknowledged,
    /// Acknowledged, but its user never saw the answer.
    Missing,
    /// Seen exactly once.
    Once,
    /// Seen more than once.
    Doubled,
}

/// What the run's data say about one message.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The message's index.
    pub index: usize,
    /// Seen once, lost, doubled or pending.
    pub verdict: Verdict,
    /// Another question's answer was shown to this user.
    pub wrong: bool,
    /// Agent calls started for it.
    pub started: usize,
    /// Agent calls that wrote their whole answer to a live gateway.
    pub completed: usize,
    /// Agent calls cut by a kill.
    pub cut: usize,
    /// More than one completed call, each earlier one finished within the record window before a
    /// kill.
    pub reasked_after_kill: bool,
    /// For those: the longest time from an earlier call's end to the kill.
    pub reask_gap: Option<Duration>,
    /// More than one completed call otherwise: the agent ran twice for a message it had
    /// answered.
    pub reasked: bool,
    /// From the first send to the whole answer being visible.
    pub delay: Option<Duration>,
    /// When the whole answer became visible.
    pub answered_at: Option<Instant>,
    /// Why it is not a clean "once", for the report.
    pub detail: Option<String>,
}

impl Judged {
    /// Fails any of the checks.
    pub fn is_problem(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Unacknowledged | Verdict::Missing | Verdict::Doubled
        ) || self.wrong
            || self.reasked
            || (self.verdict == Verdict::Once && self.completed == 0)
    }
}

/// Judges one message.
pub fn judge(
    outcome: &Outcome,
    posts: &[Post],
    calls: Option<&Calls>,
    kills: &[KillRecord],
    record_window: Duration,
) -> Judged {
    let answer = &outcome.message.answer;
    let stream = outcome.stream_content.as_deref().unwrap_or_default();
    let mut seen = stream.matches(answer.as_str()).count();
    let mut answered_at = outcome.answer_in_stream_at;
    // When the gateway had certainly recorded the answer: it finished the stream with it, or
    // sent it through response_url.
    let mut delivered_at = outcome.answer_finished_at;
    let earliest = |at: Option<Instant>, post: Instant| Some(at.map_or(post, |a| a.min(post)));
    for post in posts {
        let n = post.content.matches(answer.as_str()).count();
        seen += n;
        if n > 0 {
            answered_at = earliest(answered_at, post.at);
            delivered_at = earliest(delivered_at, post.at);
        }
    }
    // A long answer: its first part in the finished stream, the rest through response_url.
    if let Some(head) = stream.strip_suffix(CONTINUED)
        && !stream.contains(answer.as_str())
    {
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        for post in posts.iter().filter(|p| !p.content.contains(answer.as_str())) {
            if squeeze(&format!("{head}{}", post.content)).contains(&squeeze(answer)) {
                seen += 1;
                answered_at = earliest(answered_at, post.at);
                delivered_at = earliest(delivered_at, post.at);
            }
        }
    }
    let own = &outcome.message.text;
    let own_head = format!("{ANSWER_HEAD}{}", own.trim_start_matches("question "));
    let texts = || std::iter::once(stream).chain(posts.iter().map(|p| p.content.as_str()));
    let wrong = texts().any(|text| shows_another_answer(text, own));
    let restarted_twice = texts().any(|text| text.matches(own_head.as_str()).count() > 1);

    let verdict = if seen >= 2 || restarted_twice {
        Verdict::Doubled
    } else if seen == 1 {
        Verdict::Once
    } else if !outcome.done {
        Verdict::Pending
    } else if outcome.acked_at.is_none() {
        Verdict::Unacknowledged
    } else {
        Verdict::Missing
    };

    let empty = Calls::default();
    let calls = calls.unwrap_or(&empty);
    // A call with a kill between its start and its end wrote its end to a dead process.
    let mut completed: Vec<Instant> = calls
        .0
        .iter()
        .filter_map(|call| {
            let done = call.completed?;
            (!kills.iter().any(|k| k.at >= call.started && k.at <= done)).then_some(done)
        })
        .collect();
    completed.sort();
    let started = calls.0.len();
    let (mut reasked_after_kill, mut reasked, mut reask_gap) = (false, false, None::<Duration>);
    for pair in completed.windows(2) {
        let (earlier, later) = (pair[0], pair[1]);
        let killed_before_recorded = kills
            .iter()
            .find(|k| k.at >= earlier && k.at <= earlier + record_window && k.at < later)
            .filter(|k| delivered_at.is_none_or(|delivered| delivered > k.at));
        if let Some(kill) = killed_before_recorded {
            reasked_after_kill = true;
            let gap = kill.at - earlier;
            reask_gap = Some(reask_gap.map_or(gap, |g| g.max(gap)));
        } else {
            reasked = true;
        }
    }

    let mut detail = Vec::new();
    match verdict {
        Verdict::Unacknowledged => detail.push(format!(
            "never acknowledged in {} attempts ({:?})",
            outcome.attempts, outcome.failures
        )),
        Verdict::Missing => detail.push(format!(
            "acknowledged but no answer seen: stream {:?} {} after {} refreshes{}, {} response_url post(s)",
            stream,
            if outcome.stream_finished {
                "finished"
            } else {
                "unfinished"
            },
            outcome.refreshes,
            if outcome.stream_abandoned {
                " (pull window over)"
            } else {
                ""
            },
            posts.len()
        )),
        Verdict::Doubled => detail.push(format!(
            "answer seen {seen} times{}: stream {stream:?}, response_url {:?}",
            if restarted_twice {
                " (started twice in one text)"
            } else {
                ""
            },
            posts.iter().map(|p| p.content.as_str()).collect::<Vec<_>>()
        )),
        Verdict::Once | Verdict::Pending => {}
    }
    if wrong {
        detail.push(format!(
            "another question's answer shown: stream {stream:?}, response_url {:?}",
            posts.iter().map(|p| p.content.as_str()).collect::<Vec<_>>()
        ));
    }
    if reasked {
        let to_kill = completed
            .iter()
            .map(|done| {
                kills.iter().find(|k| k.at >= *done).map_or_else(
                    || "no kill after it".to_owned(),
                    |k| format!("{} ms before a kill", (k.at - *done).as_millis()),
                )
            })
            .collect::<Vec<_>>();
        detail.push(format!(
            "the agent completed {} calls (started {started}; completions {}); the earlier ones were not followed by a kill within {record_window:?} before their answer was delivered",
            completed.len(),
            to_kill.join(", ")
        ));
    }
    if verdict == Verdict::Once && completed.is_empty() {
        detail.push("answered without a completed agent call".to_owned());
    }
    Judged {
        index: outcome.message.index,
        verdict,
        wrong,
        started,
        completed: completed.len(),
        cut: started - completed.len(),
        reasked_after_kill,
        reask_gap,
        reasked,
        delay: answered_at.map(|a| a.saturating_duration_since(outcome.first_sent)),
        answered_at,
        detail: (!detail.is_empty()).then(|| {
            format!(
                "{} ({}): {}",
                outcome.message.msgid,
                outcome.message.text,
                detail.join("; ")
            )
        }),
    }
}

/// Whether `text` holds an answer of the fake agent to a question other than `own`.
fn shows_another_answer(text: &str, own: &str) -> bool {
    text.match_indices(ANSWER_HEAD).any(|(at, _)| {
        let question: String = text[at + ANSWER_HEAD.len()..].chars().take(6).collect();
        format!("question {question}") != own
    })
}

/// Everything a run produced, for [`Report::build`].
pub struct Inputs<'a> {
    /// Every message's outcome.
    pub outcomes: &'a [Outcome],
    /// `response_url` posts per message index.
    pub posts: &'a HashMap<usize, Vec<Post>>,
    /// Agent calls per question.
    pub calls: &'a HashMap<String, Calls>,
    /// The kills so far.
    pub kills: &'a [KillRecord],
    /// The gateway's memory and WAL over time.
    pub samples: &'a [Sample],
    /// See [`judge`].
    pub record_window: Duration,
    /// When the run started.
    pub started: Instant,
}

/// A run's figures.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Messages sent.
    pub messages: usize,
    /// Acknowledged (200 with a stream frame) at least once.
    pub acknowledged: usize,
    /// Acknowledged after at least one failed attempt.
    pub retried: usize,
    /// The most attempts one message needed.
    pub max_attempts: u32,
    /// Answer seen exactly once.
    pub answered: usize,
    /// Never acknowledged.
    pub unacknowledged: usize,
    /// Acknowledged, answer never seen.
    pub missing: usize,
    /// Answer seen twice or more.
    pub doubled: usize,
    /// Another question's answer shown.
    pub wrong: usize,
    /// Still followed.
    pub pending: usize,
    /// Messages per number of completed agent calls.
    pub completed_calls: BTreeMap<usize, usize>,
    /// Messages per number of started agent calls.
    pub started_calls: BTreeMap<usize, usize>,
    /// Agent calls cut by a kill, in all.
    pub cut_calls: usize,
    /// Messages asked again because a kill came within the record window of their answer.
    pub reasked_after_kill: usize,
    /// For those: the longest time from the answer's end to the kill.
    pub reask_gap_max: Option<Duration>,
    /// Messages the agent answered more than once otherwise.
    pub reasked: usize,
    /// Messages answered without any completed agent call.
    pub answered_without_call: usize,
    /// Delay from first send to the whole answer visible: median.
    pub delay_p50: Option<Duration>,
    /// 99th percentile.
    pub delay_p99: Option<Duration>,
    /// Longest.
    pub delay_max: Option<Duration>,
    /// The kills.
    pub kills: Vec<KillRecord>,
    /// Memory and WAL over time.
    pub samples: Vec<Sample>,
    /// One line per message that failed a check.
    pub problems: Vec<String>,
    /// Every message's verdict, by index.
    pub judged: Vec<Judged>,
}

impl Report {
    /// Judges every message; delays only of answers visible after `answered_since`, if given.
    pub fn build(inputs: &Inputs<'_>, answered_since: Option<Instant>) -> Self {
        let mut report = Self {
            elapsed: inputs.started.elapsed(),
            messages: inputs.outcomes.len(),
            kills: inputs.kills.to_vec(),
            samples: inputs.samples.to_vec(),
            ..Self::default()
        };
        let no_posts = Vec::new();
        let mut delays = Vec::new();
        for outcome in inputs.outcomes {
            let posts = inputs.posts.get(&outcome.message.index).unwrap_or(&no_posts);
            let calls = inputs.calls.get(&outcome.message.text);
            let judged = judge(outcome, posts, calls, inputs.kills, inputs.record_window);
            if outcome.acked_at.is_some() {
                report.acknowledged += 1;
                if outcome.attempts > 1 {
                    report.retried += 1;
                }
            }
            report.max_attempts = report.max_attempts.max(outcome.attempts);
            match judged.verdict {
                Verdict::Pending => report.pending += 1,
                Verdict::Unacknowledged => report.unacknowledged += 1,
                Verdict::Missing => report.missing += 1,
                Verdict::Once => report.answered += 1,
                Verdict::Doubled => report.doubled += 1,
            }
            report.wrong += usize::from(judged.wrong);
            if judged.reasked_after_kill && !judged.reasked {
                report.reasked_after_kill += 1;
                report.reask_gap_max = report.reask_gap_max.max(judged.reask_gap);
            }
            report.reasked += usize::from(judged.reasked);
            if judged.verdict == Verdict::Once && judged.completed == 0 {
                report.answered_without_call += 1;
            }
            if judged.verdict != Verdict::Pending {
                *report.completed_calls.entry(judged.completed).or_default() += 1;
                *report.started_calls.entry(judged.started).or_default() += 1;
            }
            report.cut_calls += judged.cut;
            if let (Some(delay), Some(at)) = (judged.delay, judged.answered_at)
                && answered_since.is_none_or(|since| at >= since)
            {
                delays.push(delay);
            }
            if judged.is_problem()
                && let Some(detail) = &judged.detail
            {
                report.problems.push(detail.clone());
            }
            report.judged.push(judged);
        }
        delays.sort();
        report.delay_p50 = percentile(&delays, 50);
        report.delay_p99 = percentile(&delays, 99);
        report.delay_max = delays.last().copied();
        report
    }

    /// Lost: never acknowledged, or acknowledged and never answered.
    pub fn lost(&self) -> usize {
        self.unacknowledged + self.missing
    }

    /// Completed agent calls per judged message (mean).
    pub fn calls_per_message(&self) -> f64 {
        mean_calls(&self.completed_calls)
    }

    /// Started agent calls per judged message (mean).
    pub fn started_per_message(&self) -> f64 {
        mean_calls(&self.started_calls)
    }

    /// The largest RSS sampled, MiB.
    pub fn rss_max_mib(&self) -> Option<f64> {
        self.samples.iter().filter_map(|s| s.rss_kib).max().map(mib)
    }

    /// The largest WAL sampled, MiB.
    pub fn wal_max_mib(&self) -> f64 {
        self.samples
            .iter()
            .map(|s| s.wal_bytes)
            .max()
            .map_or(0.0, |b| b as f64 / 1_048_576.0)
    }

    /// Panics with the report unless every message was acknowledged, its user saw its answer
    /// exactly once and no other, and the agent completed one call for it (see the module).
    ///
    /// # Panics
    /// When any check fails.
    pub fn assert_exactly_once(&self) {
        let mut failed = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                failed.push(what);
            }
        };
        check(self.messages > 0, "no message was sent".into());
        check(
            self.unacknowledged == 0,
            format!("{} never acknowledged (lost before the queue)", self.unacknowledged),
        );
        check(
            self.missing == 0,
            format!("{} acknowledged but never answered (lost)", self.missing),
        );
        check(self.doubled == 0, format!("{} answered twice or more", self.doubled));
        check(
            self.wrong == 0,
            format!("{} shown another question's answer", self.wrong),
        );
        check(self.pending == 0, format!("{} still pending", self.pending));
        check(
            self.reasked == 0,
            format!("{} answered by the agent more than once", self.reasked),
        );
        check(
            self.answered_without_call == 0,
            format!("{} answered without an agent call", self.answered_without_call),
        );
        check(
            self.answered == self.messages,
            format!("{} of {} answered exactly once", self.answered, self.messages),
        );
        check(
            self.kills.iter().all(|k| k.restart_took.is_some()),
            "a restart failed".into(),
        );
        assert!(failed.is_empty(), "{}\nfailed: {}", self, failed.join("; "));
    }

    /// One line: the figures a soak prints every minute.
    pub fn row(&self) -> String {
        format!(
            "{:>7.0} {:>7} {:>8} {:>6} {:>7} {:>7} {:>6.3} {:>6.3} {:>5} {:>8} {:>8} {:>8}",
            self.elapsed.as_secs_f64(),
            self.messages,
            self.answered,
            self.lost(),
            self.doubled,
            self.pending,
            self.calls_per_message(),
            self.started_per_message(),
            self.kills.len(),
            secs(self.delay_p99),
            self.samples
                .last()
                .and_then(|s| s.rss_kib)
                .map_or_else(|| "-".to_owned(), |k| format!("{:.1}", mib(k))),
            self.samples.last().map_or_else(
                || "-".to_owned(),
                |s| format!("{:.2}", s.wal_bytes as f64 / 1_048_576.0)
            ),
        )
    }

    /// The header of [`Report::row`].
    pub fn row_header() -> String {
        format!(
            "{:>7} {:>7} {:>8} {:>6} {:>7} {:>7} {:>6} {:>6} {:>5} {:>8} {:>8} {:>8}",
            "t(s)",
            "sent",
            "answered",
            "lost",
            "doubled",
            "pending",
            "calls",
            "starts",
            "kills",
            "p99(s)",
            "RSS(MiB)",
            "WAL(MiB)"
        )
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1) - 1;
    sorted.get(rank.min(sorted.len() - 1)).copied()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| format!("{:.2}", d.as_secs_f64()))
}

fn histogram(h: &BTreeMap<usize, usize>) -> String {
    h.iter()
        .map(|(calls, n)| format!("{calls} call(s): {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// At most `n` samples spread over the series, as `t: value` pairs.
fn series(samples: &[Sample], n: usize, value: impl Fn(&Sample) -> String) -> String {
    if samples.is_empty() {
        return "-".to_owned();
    }
    let step = samples.len().div_ceil(n).max(1);
    samples
        .iter()
        .step_by(step)
        .chain(samples.last())
        .map(|s| format!("{:.0}s {}", s.offset.as_secs_f64(), value(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "crash run: {} messages, {} kill(s), {:.1} s",
            self.messages,
            self.kills.len(),
            self.elapsed.as_secs_f64()
        )?;
        for (i, kill) in self.kills.iter().enumerate() {
            writeln!(
                f,
                "  kill #{} at {:.2} s: {} (restart {})",
                i + 1,
                kill.offset.as_secs_f64(),
                kill.cause,
                kill.restart_took
                    .map_or_else(|| "FAILED".to_owned(), |d| format!("took {:.2} s", d.as_secs_f64()))
            )?;
        }
        writeln!(f, "  messages sent             {}", self.messages)?;
        writeln!(
            f,
            "  acknowledged              {} ({} after retries, at most {} attempts)",
            self.acknowledged, self.retried, self.max_attempts
        )?;
        writeln!(f, "  answered exactly once     {}", self.answered)?;
        writeln!(
            f,
            "  lost                      {} (never acknowledged {}, acknowledged but no answer {})",
            self.lost(),
            self.unacknowledged,
            self.missing
        )?;
        writeln!(f, "  doubled                   {}", self.doubled)?;
        writeln!(f, "  another's answer shown    {}", self.wrong)?;
        writeln!(f, "  pending                   {}", self.pending)?;
        writeln!(
            f,
            "  agent calls completed     {:.3}/message [{}]; re-asked after a kill that came before the answer could be recorded: {} (at most {} ms after it); re-asked otherwise: {}",
            self.calls_per_message(),
            histogram(&self.completed_calls),
            self.reasked_after_kill,
            self.reask_gap_max.map_or(0, |g| g.as_millis()),
            self.reasked
        )?;
        writeln!(
            f,
            "  agent calls started       {:.3}/message [{}]; cut by a kill: {}",
            self.started_per_message(),
            histogram(&self.started_calls),
            self.cut_calls
        )?;
        writeln!(
            f,
            "  delay to the answer       p50 {} s, p99 {} s, max {} s",
            secs(self.delay_p50),
            secs(self.delay_p99),
            secs(self.delay_max)
        )?;
        writeln!(
            f,
            "  gateway RSS (MiB)         max {}; {}",
            self.rss_max_mib().map_or_else(|| "-".to_owned(), |m| format!("{m:.1}")),
            series(&self.samples, 12, |s| s
                .rss_kib
                .map_or_else(|| "down".to_owned(), |k| format!("{:.1}", mib(k))))
        )?;
        writeln!(
            f,
            "  WAL (MiB)                 max {:.2}; {}",
            self.wal_max_mib(),
            series(&self.samples, 12, |s| format!(
                "{:.2}",
                s.wal_bytes as f64 / 1_048_576.0
            ))
        )?;
        if !self.problems.is_empty() {
            let mut lines = String::new();
            for p in self.problems.iter().take(20) {
                let _ = writeln!(lines, "    {p}");
            }
            write!(
                f,
                "  problems ({} message(s), first {}):\n{lines}",
                self.problems.len(),
                self.problems.len().min(20)
            )?;
        }
        Ok(())
    }
}

/// The mean of a histogram of calls per message (calls → messages with that many), 0 when empty.
fn mean_calls(histogram: &BTreeMap<usize, usize>) -> f64 {
    let (messages, calls) = histogram
        .iter()
        .fold((0, 0), |(m, c), (calls, n)| (m + n, c + calls * n));
    if messages == 0 {
        0.0
    } else {
        calls as f64 / messages as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::agent::Call;
    use crate::crash::wecom::Message;

    fn outcome(stream: &str, finished: bool) -> Outcome {
        let message = Message::new(7, 3, "http://sink");
        let mut o = Outcome {
            message,
            first_sent: Instant::now(),
            attempts: 1,
            failures: Vec::new(),
            acked_at: Some(Instant::now()),
            stream_id: Some("s".into()),
            stream_content: Some(stream.to_owned()),
            stream_finished: finished,
            refreshes: 3,
            answer_in_stream_at: None,
            answer_finished_at: None,
            stream_abandoned: false,
            done: true,
        };
        if stream.contains(&o.message.answer) {
            o.answer_in_stream_at = Some(Instant::now());
            o.answer_finished_at = finished.then(Instant::now);
        }
        o
    }

    fn post(content: &str) -> Post {
        Post {
            at: Instant::now(),
            content: content.to_owned(),
        }
    }

    fn calls(completed: usize) -> Calls {
        let now = Instant::now();
        Calls(vec![
            Call {
                started: now,
                completed: Some(now),
            };
            completed
        ])
    }

    #[test]
    fn seen_once_in_the_stream_or_through_response_url() {
        let o = outcome("", true);
        let answer = o.message.answer.clone();
        let o = outcome(&answer, true);
        let j = judge(&o, &[], Some(&calls(1)), &[], Duration::ZERO);
        assert_eq!(j.verdict, Verdict::Once);
        assert!(!j.is_problem());
        // The stream closed late showing part of it; the whole answer came afterwards.
        let o = outcome("answer to question 000007: the quick", true);
        let j = judge(&o, &[post(&answer)], Some(&calls(1)), &[], Duration::ZERO);
        assert_eq!(j.verdict, Verdict::Once);
        // Split in two: the stream's first part and the rest.
        let (head, tail) = answer.split_at(20);
        let o = outcome(&format!("{head}{CONTINUED}"), true);
        let j = judge(&o, &[post(tail.trim_start())], Some(&calls(1)), &[], Duration::ZERO);
        assert_eq!(j.verdict, Verdict::Once);
    }

    #[test]
    fn doubled_missing_and_wrong_answers_are_problems() {
        let answer = outcome("", true).message.answer;
        let j = judge(
            &outcome(&answer, true),
            &[post(&answer)],
            Some(&calls(1)),
            &[],
            Duration::ZERO,
        );
        assert_eq!(j.verdict, Verdict::Doubled);
        let j = judge(
            &outcome(&format!("{answer}{answer}"), true),
            &[],
            Some(&calls(1)),
            &[],
            Duration::ZERO,
        );
        assert_eq!(j.verdict, Verdict::Doubled);
        let j = judge(
            &outcome("思考中… Thinking…", true),
            &[],
            Some(&calls(1)),
            &[],
            Duration::ZERO,
        );
        assert_eq!(j.verdict, Verdict::Missing);
        assert!(j.is_problem());
        let restarted = format!("answer to question 000007: the qu{answer}");
        let j = judge(&outcome(&restarted, true), &[], Some(&calls(1)), &[], Duration::ZERO);
        assert_eq!(j.verdict, Verdict::Doubled);
        let other = format!("{answer} answer to question 000008: x");
        let j = judge(&outcome(&other, true), &[], Some(&calls(1)), &[], Duration::ZERO);
        assert!(j.wrong && j.is_problem());
        let mut unacked = outcome("", false);
        unacked.acked_at = None;
        assert_eq!(
            judge(&unacked, &[], None, &[], Duration::ZERO).verdict,
            Verdict::Unacknowledged
        );
        let mut pending = outcome("", false);
        pending.done = false;
        assert_eq!(
            judge(&pending, &[], None, &[], Duration::ZERO).verdict,
            Verdict::Pending
        );
    }

    #[test]
    fn a_second_completed_call_is_excused_only_by_a_kill_right_after_the_first() {
        let answer = outcome("", true).message.answer;
        let mut o = outcome(&answer, true);
        // Seen after the kill.
        o.answer_in_stream_at = None;
        o.answer_finished_at = None;
        let first = Instant::now();
        let kill_at = first + Duration::from_millis(100);
        let second = first + Duration::from_secs(2);
        let call = |at| Call {
            started: at - Duration::from_millis(300),
            completed: Some(at),
        };
        let two = Calls(vec![call(first), call(second)]);
        let kill = |at| KillRecord {
            at,
            offset: Duration::ZERO,
            cause: "test".into(),
            restart_took: Some(Duration::ZERO),
        };
        let j = judge(&o, &[], Some(&two), &[kill(kill_at)], Duration::from_millis(500));
        assert!(j.reasked_after_kill && !j.reasked && !j.is_problem());
        let late_kill = first + Duration::from_secs(1);
        let j = judge(&o, &[], Some(&two), &[kill(late_kill)], Duration::from_millis(500));
        assert!(j.reasked && j.is_problem());
        let j = judge(&o, &[], Some(&two), &[], Duration::from_millis(500));
        assert!(j.reasked);
        // Streamed whole before the kill, not yet finished: it may not have been recorded.
        let mut streamed = o.clone();
        streamed.answer_in_stream_at = Some(first + Duration::from_millis(50));
        let j = judge(&streamed, &[], Some(&two), &[kill(kill_at)], Duration::from_millis(500));
        assert!(j.reasked_after_kill && !j.reasked);
        // Finished with it before the kill: it was recorded, asking again is a bug.
        let mut delivered = streamed.clone();
        delivered.answer_finished_at = Some(first + Duration::from_millis(50));
        let j = judge(
            &delivered,
            &[],
            Some(&two),
            &[kill(kill_at)],
            Duration::from_millis(500),
        );
        assert!(j.reasked && j.is_problem());
        // A call that ended after a kill during it wrote its end to a dead process: cut.
        let j = judge(
            &o,
            &[],
            Some(&two),
            &[kill(second - Duration::from_millis(100))],
            Duration::ZERO,
        );
        assert!(!j.reasked && j.completed == 1 && j.cut == 1);
    }

    #[test]
    fn percentiles() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&d, 99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&d[..1], 99), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50), None);
    }
}
