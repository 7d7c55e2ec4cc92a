//! A message's way to the agent: group policy, commands, aggregation, session, streamed answer.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{DispatchError, Dispatcher, Done, answers, texts};
use crate::agent::AgentConfig;
use crate::cancel::{CANCEL_TTL, cancel_key, stopped_key};
use crate::crash;
use crate::envelope::Envelope;
use crate::event::{ConversationKind, InboundEvent, InboundKind, Message};
use crate::event_log::{EventKind, EventLines, record};
use crate::ids::{SessionId, UserId};
use crate::media;
use crate::ports::{AgentError, AgentRequest, Claim, HistoryEntry, ReplyTarget, Role};
use crate::session::Session;
use crate::task::AbortOnDrop;
use crate::time::Timestamp;
use crate::trigger::{GroupPolicy, Refusal, Trigger};

/// The agent a conversation talks to: the one its live session switched to while the trigger
/// still allows it, else the trigger's default.
fn conversation_agent(trigger: &Trigger, stored: Option<&Session>, now: Timestamp) -> crate::ids::AgentId {
    stored
        .filter(|s| s.is_live(now) && trigger.allows_agent(&s.agent_id))
        .map_or(&trigger.agent_id, |s| &s.agent_id)
        .clone()
}

/// How often a refused conversation is told so.
const REFUSAL_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Extra life of an aggregation buffer beyond its window (covers a late flush).
const AGGREGATION_GRACE: Duration = Duration::from_secs(900);

impl Dispatcher {
    /// `/switch`: lists the agents the trigger allows, or moves the conversation to one of them
    /// (by name or number) in a new session. Returns the answer and the line that ends it.
    async fn switch(
        &self,
        event: &InboundEvent,
        trigger: &Trigger,
        wanted: &str,
    ) -> Result<(String, Done), DispatchError> {
        let now = Timestamp::now();
        let stored = self.store.get_session(&event.session_key(), now).await?;
        let current = conversation_agent(trigger, stored.as_ref(), now);
        let mut choices = Vec::new();
        for id in trigger.all_agents() {
            if let Some(agent) = self.store.get_agent(&id).await? {
                choices.push((id, agent.name));
            }
        }
        let listed = |note: &str| texts::switch_list(note, &choices, &current);
        if wanted.is_empty() || choices.len() < 2 {
            return Ok((listed(""), Done::new(EventKind::Replied, "/switch listed the agents")));
        }
        let by_number = wanted
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| choices.get(i));
        let by_name = choices.iter().find(|(_, name)| name.eq_ignore_ascii_case(wanted));
        let Some((chosen, name)) = by_number.or(by_name).cloned() else {
            let note = format!("No agent is called “{}”.", wanted.chars().take(80).collect::<String>());
            return Ok((
                listed(&note),
                Done::new(EventKind::Replied, "/switch named no allowed agent"),
            ));
        };
        let session = self.new_session(event, trigger, &chosen, now).await?;
        self.store.put_session(&session).await?;
        let detail = format!("switched to agent {chosen} (/switch); new session");
        Ok((texts::switched(&name), Done::new(EventKind::Session, detail)))
    }

    /// Tells a sender outside the trigger's allowlists that the agent is not theirs to use,
    /// at most once per conversation per day (or never, when the trigger says silent), and
    /// logs who was refused and why.
    async fn refuse(&self, target: ReplyTarget, trigger: &Trigger, why: &str) -> Result<Done, DispatchError> {
        let event = &target.event;
        let who = format!(
            "refused sender {} in chat {}: {why}",
            event.sender.id.chars().take(128).collect::<String>(),
            event.conversation.id.chars().take(128).collect::<String>()
        );
        if trigger.access.refusal == Refusal::Silent {
            return Ok(Done::new(EventKind::Dropped, who));
        }
        let key = format!("refused:{}", event.session_key().queue_group());
        if self.store.claim(&key, Timestamp::now(), REFUSAL_EVERY).await? == Claim::Duplicate {
            return Ok(Done::new(EventKind::Dropped, format!("{who} (told earlier today)")));
        }
        if let Err(error) = self.reply_text(target, texts::NOT_ALLOWED).await {
            // Not told: give the claim back so the retry tells them.
            self.store.release(&key).await?;
            return Err(error);
        }
        Ok(Done::new(EventKind::Dropped, format!("{who} (told once)")))
    }

    /// Handles a chat message; returns how it ended when it was answered (the line that marks
    /// it, so a redelivery is skipped), or `None` when it waits for an aggregation window.
    pub(super) async fn handle_message(
        &self,
        target: ReplyTarget,
        trigger: &Trigger,
        receive_count: u32,
        aggregated: bool,
    ) -> Result<Option<Done>, DispatchError> {
        let event = &target.event;
        let InboundKind::Message(message) = &event.kind else {
            return Ok(None);
        };
        let integration = &target.integration.id;
        if event.conversation.kind == ConversationKind::Group
            && trigger.group_policy == GroupPolicy::MentionOnly
            && !message.mentions_bot
        {
            return Ok(Some(Done::new(EventKind::Dropped, "group message without a mention")));
        }
        let in_group = event.conversation.kind == ConversationKind::Group;
        if let Some(why) = trigger
            .access
            .refuses(&event.sender.id, &event.conversation.id, in_group)
        {
            return self.refuse(target, trigger, why).await.map(Some);
        }
        let mut text = message.text.clone();
        if let Some(command) = &message.command {
            match command.name.as_str() {
                "new" => {
                    self.store.delete_session(&event.session_key()).await?;
                    if command.args.is_empty() {
                        self.reply_text(target, texts::NEW_SESSION).await?;
                        return Ok(Some(Done::new(EventKind::Session, "new conversation (/new)")));
                    }
                    record(
                        self.store.as_ref(),
                        integration,
                        EventKind::Session,
                        Some(&event.event_id),
                        "new conversation (/new)",
                    )
                    .await;
                    text.clone_from(&command.args);
                }
                "help" => {
                    self.reply_text(target, &texts::help(!trigger.agents.is_empty()))
                        .await?;
                    return Ok(Some(Done::new(EventKind::Replied, "/help answered")));
                }
                crate::cancel::COMMAND => {
                    let group = event.session_key().queue_group();
                    let stopped = self.store.is_claimed(&stopped_key(&group), Timestamp::now()).await?;
                    self.store.release(&cancel_key(&group)).await?;
                    self.store.release(&stopped_key(&group)).await?;
                    self.reply_text(target, texts::cancelled(stopped)).await?;
                    let detail = if stopped {
                        "/cancel stopped the answer in progress"
                    } else {
                        "/cancel found nothing to stop"
                    };
                    return Ok(Some(Done::new(EventKind::Replied, detail)));
                }
                "switch" => {
                    let (answer, done) = self.switch(event, trigger, command.args.trim()).await?;
                    self.reply_text(target, &answer).await?;
                    return Ok(Some(done));
                }
                "status" => {
                    let status = self.status_text(event, trigger).await?;
                    self.reply_text(target, &status).await?;
                    return Ok(Some(Done::new(EventKind::Replied, "/status answered")));
                }
                _ => {}
            }
        }
        if trigger.summary_window_seconds > 0 && message.command.is_none() && !aggregated {
            return self.aggregate(event, trigger).await.map(|()| None);
        }
        if message.command.is_none() && !aggregated && self.arrived_while_busy(event, trigger).await? {
            return self.collect(event).await.map(|()| None);
        }
        self.converse_interruptibly(target, trigger, text, receive_count).await
    }

    /// Adds the message to the conversation's aggregation buffer and schedules its flush.
    async fn aggregate(&self, event: &InboundEvent, trigger: &Trigger) -> Result<(), DispatchError> {
        let window = Duration::from_secs(u64::from(trigger.summary_window_seconds));
        let (key, version) = self
            .pend(event, window + AGGREGATION_GRACE, "waiting for more messages")
            .await?;
        self.queue
            .enqueue_delayed(&Envelope::flush(key, version, Timestamp::now()).to_body(), window)
            .await?;
        Ok(())
    }

    /// Adds `event` to its conversation's pending buffer (kept for `ttl`) and says why in the
    /// event log; returns the buffer's key and new version, for the flush that takes it.
    pub(super) async fn pend(
        &self,
        event: &InboundEvent,
        ttl: Duration,
        why: &str,
    ) -> Result<(String, u64), DispatchError> {
        let key = event.session_key().queue_group();
        let version = self.store.append_pending(&key, event, Timestamp::now(), ttl).await?;
        record(
            self.store.as_ref(),
            &event.integration_id,
            EventKind::Aggregating,
            Some(&event.event_id),
            why,
        )
        .await;
        Ok((key, version))
    }

    /// Ends an aggregation window: the buffered messages become one event on the queue.
    pub(super) async fn flush(&self, key: &str, version: u64, _receive_count: u32) -> Result<(), DispatchError> {
        let Some(events) = self.store.take_pending(key, version).await? else {
            return Ok(());
        };
        let mut seen = std::collections::HashSet::new();
        let events: Vec<InboundEvent> = events.into_iter().filter(|e| seen.insert(e.event_id.clone())).collect();
        let Some(merged) = merge(&events) else { return Ok(()) };
        // Earlier messages' replies are closed without text; the merged answer goes to the last
        // one. A message answered already (an answer a newer message interrupted) keeps its reply.
        for earlier in &events[..events.len() - 1] {
            if self.answered(earlier).await? {
                continue;
            }
            if let Err(error) = self.close_reply(earlier).await {
                tracing::warn!(integration_id = %earlier.integration_id, %error, "closing an aggregated reply failed");
            }
        }
        let message = crate::ports::OutgoingMessage {
            group: merged.session_key().queue_group(),
            dedupe_id: format!("flush-{}", crate::apikey::hash(&format!("{key}:{version}"))),
            body: Envelope::aggregated(merged, Timestamp::now()).to_body(),
        };
        if let Err(error) = self.queue.enqueue(&message).await {
            // Put the messages back so the retried flush finds them.
            for event in &events {
                self.store
                    .append_pending(key, event, Timestamp::now(), AGGREGATION_GRACE)
                    .await?;
            }
            return Err(error.into());
        }
        Ok(())
    }

    async fn close_reply(&self, event: &InboundEvent) -> Result<(), DispatchError> {
        let Some(integration) = self.store.get_integration(&event.integration_id).await? else {
            return Ok(());
        };
        let credentials = integration.open_credentials(self.keyring.as_ref()).await?;
        let replier = self.repliers.get(integration.platform)?.clone();
        let mut stream = replier
            .open(ReplyTarget {
                integration,
                credentials,
                event: event.clone(),
            })
            .await?;
        stream.finish("").await?;
        Ok(())
    }

    async fn status_text(&self, event: &InboundEvent, trigger: &Trigger) -> Result<String, DispatchError> {
        let now = Timestamp::now();
        let session = self.store.get_session(&event.session_key(), now).await?;
        let agent_id = conversation_agent(trigger, session.as_ref(), now);
        let session = session.filter(|s| s.is_live(now) && s.agent_id == agent_id);
        let agent_name = self
            .store
            .get_agent(&agent_id)
            .await?
            .map_or_else(|| "(deleted)".to_owned(), |a| a.name);
        Ok(texts::status(
            &agent_name,
            session.map(|s| (now.since(s.started_at), now.since(s.last_active_at))),
        ))
    }

    /// The session this message continues, with its activity noted, or a new one (idle
    /// timeout passed, `/new`, or the binding moved) with the event-log line that says so.
    /// Neither is written here: the session is written once, with the agent's answer, and the
    /// line with the event's last line (a failed agent call keeps nothing, and its retry
    /// starts the session afresh).
    async fn session_for(
        &self,
        event: &InboundEvent,
        trigger: &Trigger,
        stored: Option<Session>,
        now: Timestamp,
    ) -> Result<(Session, EventLines), DispatchError> {
        let timeout = Duration::from_secs(u64::from(trigger.session_timeout_seconds));
        if let Some(session) = stored.filter(|s| s.is_live(now) && trigger.allows_agent(&s.agent_id)) {
            let session = Session {
                last_active_at: now,
                expires_at: now.plus(timeout),
                ..session
            };
            return Ok((session, EventLines::default()));
        }
        let session = self.new_session(event, trigger, &trigger.agent_id, now).await?;
        let mut lines = EventLines::default();
        lines.push(
            &event.integration_id,
            EventKind::Session,
            Some(&event.event_id),
            "new session",
        );
        Ok((session, lines))
    }

    /// A new session of `event`'s conversation with `agent`, for the sender's stable user (not
    /// written here).
    async fn new_session(
        &self,
        event: &InboundEvent,
        trigger: &Trigger,
        agent: &crate::ids::AgentId,
        now: Timestamp,
    ) -> Result<Session, DispatchError> {
        let identity = format!("{}:{}:{}", trigger.org_id, event.platform, event.sender.id);
        let user_id = self.store.resolve_user(&identity, &UserId::generate(), now).await?;
        let timeout = Duration::from_secs(u64::from(trigger.session_timeout_seconds));
        Ok(Session {
            key: event.session_key(),
            id: SessionId::generate(),
            agent_id: agent.clone(),
            user_id,
            started_at: now,
            last_active_at: now,
            expires_at: now.plus(timeout),
            answer: None,
        })
    }

    /// Calls the agent and streams its answer to the platform; or, when an earlier delivery of
    /// this event already has the agent's answer recorded, delivers that answer without asking
    /// the agent again.
    pub(super) async fn converse(
        &self,
        target: ReplyTarget,
        trigger: &Trigger,
        text: String,
        receive_count: u32,
    ) -> Result<Option<Done>, DispatchError> {
        let now = Timestamp::now();
        let event = target.event.clone();
        let stored = self.store.get_session(&event.session_key(), now).await?;
        let agent_id = conversation_agent(trigger, stored.as_ref(), now);
        let Some(agent) = self.store.get_agent(&agent_id).await? else {
            self.reply_text(target, texts::AGENT_MISSING).await?;
            let told = "the trigger's agent no longer exists; the sender was told";
            return Ok(Some(Done::new(EventKind::Error, told)));
        };
        let config = agent.open_config(self.keyring.as_ref()).await?;
        let history_limit = match &config {
            AgentConfig::OpenaiCompatible(c) => c.history_limit as usize,
            _ => 0,
        };
        let recorded = self.recorded_answer(&event, stored.as_ref(), receive_count).await?;
        let replier = self.repliers.get(target.integration.platform)?.clone();
        if let Some(answer) = recorded {
            record(
                self.store.as_ref(),
                &event.integration_id,
                EventKind::Resumed,
                Some(&event.event_id),
                "the agent had answered before the gateway stopped; delivering that answer",
            )
            .await;
            // The session that holds the answer, whether or not its conversation went on
            // (an answer recorded by an earlier version has none yet: start it).
            let (session, new_session) = match stored {
                Some(session) => (session, EventLines::default()),
                None => {
                    let (session, lines) = self.session_for(&event, trigger, None, now).await?;
                    self.store.put_session(&session).await?;
                    (session, lines)
                }
            };
            let history = self.history(&session, history_limit, now).await?;
            let mut reply = replier.open(target).await?;
            reply.finish(&answer).await?;
            let turn = Turn {
                history_limit,
                history: &history,
                question: text,
                answer,
            };
            return Ok(self
                .keep_turn(&session, turn)
                .await?
                .map(|done| done.after(new_session)));
        }
        // The lines of the session's start and of the media, stored with the event's last line.
        let (session, mut lines) = self.session_for(&event, trigger, stored, now).await?;
        // A session that starts now has no history.
        let history = if lines.is_empty() {
            self.history(&session, history_limit, now).await?
        } else {
            Vec::new()
        };
        let media = match &event.kind {
            InboundKind::Message(m) => m.media.as_slice(),
            _ => &[],
        };
        // With media the platform is told the agent is at work before they are fetched (which
        // can take a while); without, the agent starts first and the platform is told after.
        let started = !media.is_empty();
        let (mut reply, prepared) = if started {
            let mut reply = replier.open(target.clone()).await?;
            reply.start().await?;
            let prepared = media::prepare(self.media.as_ref(), &target, media, &text, &mut lines).await;
            (reply, prepared)
        } else {
            (replier.open(target).await?, media::ForAgent::default())
        };
        let text = prepared.input(&text);
        let request = AgentRequest {
            config,
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
            text: text.clone(),
            attachments: prepared.attachments,
            platform: event.platform,
            conversation_id: event.conversation.id.clone(),
            sender_name: event.sender.name.clone(),
            history: history.clone(),
        };
        let (tx, mut rx) = mpsc::channel::<String>(64);
        let agents = self.agents.clone();
        // Aborted if the reply fails midway, instead of being left running.
        let run = AbortOnDrop::spawn(async move { agents.run(&request, &tx).await });
        // The agent is already working while the platform is told it is.
        if !started {
            reply.start().await?;
        }
        let mut so_far = String::new();
        // The platform shows a "thinking" placeholder until the first update, so an answer that
        // completes within one update interval goes out once, as the finished reply.
        let mut last_update = Instant::now();
        // A `/cancel` of this conversation is looked for once per poll while the answer runs
        // (an answer shorter than one poll costs no read).
        let group = event.session_key().queue_group();
        let mut poll = tokio::time::interval_at(
            tokio::time::Instant::now() + self.settings.cancel_poll,
            self.settings.cancel_poll,
        );
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                delta = rx.recv() => {
                    let Some(delta) = delta else { break };
                    if so_far.is_empty() {
                        crash::point("dispatch.agent_streaming").await;
                    }
                    so_far.push_str(&delta);
                    if last_update.elapsed() >= self.settings.update_interval {
                        reply.update(&so_far).await?;
                        last_update = Instant::now();
                    }
                }
                _ = poll.tick() => {
                    if self.store.is_claimed(&cancel_key(&group), Timestamp::now()).await? {
                        // Dropping the run aborts the agent call; nothing more is sent.
                        drop(run);
                        let shown = texts::stopped(&so_far);
                        let session = answers::with_answer(session, &event, &shown);
                        self.store.put_session(&session).await?;
                        if self.interrupted(&event, trigger).await? {
                            reply.finish(&shown).await?;
                            let why = "the answer was stopped by a newer message; both are answered together";
                            return Ok(Some(Done::new(EventKind::Replied, why).after(lines)));
                        }
                        reply.finish(&shown).await?;
                        self.store.claim(&stopped_key(&group), Timestamp::now(), CANCEL_TTL).await?;
                        let turn = Turn {
                            history_limit,
                            history: &history,
                            question: text,
                            answer: shown,
                        };
                        self.keep_turn(&session, turn).await?;
                        let done = Done::new(EventKind::Replied, "the answer was stopped by /cancel");
                        return Ok(Some(done.after(lines)));
                    }
                }
            }
        }
        let result = match run.await {
            Ok(result) => result,
            Err(join) => Err(AgentError::Protocol(format!("agent task failed: {join}"))),
        };
        let integration = &event.integration_id;
        match result {
            Ok(answer) => {
                let answer = if answer.is_empty() { so_far } else { answer };
                // Recorded (with the session's activity, one write) before anything else
                // happens, so that from here on a redelivery delivers this answer instead of
                // asking the agent again.
                let session = answers::with_answer(session, &event, &answer);
                self.store.put_session(&session).await?;
                crash::point("dispatch.answered").await;
                reply.finish(&answer).await?;
                let turn = Turn {
                    history_limit,
                    history: &history,
                    question: text,
                    answer,
                };
                Ok(self.keep_turn(&session, turn).await?.map(|done| done.after(lines)))
            }
            Err(error) => {
                let last_attempt = !error.is_retryable() || receive_count >= self.settings.max_receives;
                if last_attempt {
                    let failed_key = format!("failed:{}", event.dedupe_key());
                    if !self.already(&failed_key).await? {
                        reply.fail(&texts::agent_failed(&error)).await?;
                        self.mark(&failed_key).await?;
                    }
                    let why = format!("agent failed: {error}");
                    lines.push(integration, EventKind::Error, Some(&event.event_id), &why);
                } else {
                    let why = format!("agent failed (attempt {receive_count}): {error}");
                    lines.push(integration, EventKind::Retrying, Some(&event.event_id), &why);
                }
                lines.write(self.store.as_ref(), integration).await;
                Err(error.into())
            }
        }
    }

    /// The last `limit` turns of `session` (none when the agent is sent none).
    async fn history(
        &self,
        session: &Session,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<HistoryEntry>, DispatchError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        Ok(self.store.recent_history(&session.id, limit, now).await?)
    }

    /// After the answer was shown: the turn joins the session's history (for agents that are
    /// sent it; not twice when a redelivery finishes an answer whose turn was kept already).
    /// Returns the line that says the agent answered.
    async fn keep_turn(&self, session: &Session, turn: Turn<'_>) -> Result<Option<Done>, DispatchError> {
        let kept_already = turn
            .history
            .last()
            .is_some_and(|last| last.role == Role::Assistant && last.content == turn.answer);
        if turn.history_limit > 0 && !kept_already {
            let done = Timestamp::now();
            for (role, content) in [(Role::User, turn.question), (Role::Assistant, turn.answer)] {
                let entry = HistoryEntry {
                    role,
                    content,
                    at: done,
                };
                self.store
                    .append_history(&session.id, &entry, self.settings.history_ttl)
                    .await?;
            }
        }
        Ok(Some(Done::new(EventKind::Replied, "the agent answered")))
    }
}

/// One question and its answer, with what the session's history held before it.
struct Turn<'a> {
    /// How many turns the agent is sent (0: none are kept).
    history_limit: usize,
    /// The history as read before the agent was called.
    history: &'a [HistoryEntry],
    question: String,
    answer: String,
}

/// Joins several aggregated messages into one event (the last one's reply context).
fn merge(events: &[InboundEvent]) -> Option<InboundEvent> {
    let last = events.last()?;
    let mut text = Vec::new();
    let mut media = Vec::new();
    let mut mentions_bot = false;
    for event in events {
        if let InboundKind::Message(m) = &event.kind {
            if !m.text.trim().is_empty() {
                text.push(m.text.clone());
            }
            media.extend(m.media.iter().cloned());
            mentions_bot |= m.mentions_bot;
        }
    }
    let base = match &last.kind {
        InboundKind::Message(m) => m.clone(),
        _ => Message::default(),
    };
    let message = Message {
        text: text.join("\n"),
        media,
        mentions_bot,
        command: None,
        ..base
    };
    Some(InboundEvent {
        event_id: format!("merged:{}", last.event_id),
        kind: InboundKind::Message(message),
        ..last.clone()
    })
}
