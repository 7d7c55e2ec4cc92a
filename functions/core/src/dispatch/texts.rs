//! What the gateway itself says to users (bilingual: the platforms are used in Chinese and English).

use crate::ports::AgentError;

/// The integration has no enabled trigger.
pub(super) const NOT_BOUND: &str = "This integration is not bound to a trigger, so no agent can answer yet. \
Ask your administrator to publish one.\n该机器人尚未绑定智能体（触发器），暂时无法回答，请联系管理员。";

/// The sender (or the group chat) is not on the trigger's allowlist.
pub(super) const NOT_ALLOWED: &str = "Sorry, this assistant is limited to certain people and chats, and you are not \
on its list. Ask your administrator if you need it.\n抱歉，该助手仅对特定人员和群聊开放，你不在名单中。如需使用请联系管理员。";

/// A new session was started.
pub(super) const NEW_SESSION: &str = "Started a new conversation.\n已开始新的对话。";

/// The bound agent was deleted.
pub(super) const AGENT_MISSING: &str = "The agent this bot is bound to no longer exists. \
Ask your administrator to publish a trigger.\n该机器人绑定的智能体已被删除，请联系管理员。";

/// `/help`: exactly the commands that work here (`/switch` only when the trigger allows more
/// than one agent).
pub(super) fn help(with_switch: bool) -> String {
    let switch_en = if with_switch {
        "/switch — list the agents you can talk to (/switch <name or number> moves to one)\n"
    } else {
        ""
    };
    let switch_zh = if with_switch {
        "，/切换（/switch）切换智能体"
    } else {
        ""
    };
    format!(
        "Commands:\n\
         /new — start a new conversation (/new <text> starts one with that message)\n\
         /status — show the current conversation\n\
         /cancel — stop the answer in progress\n\
         {switch_en}\
         /help — show this help\n\
         命令：/新对话（/new）开始新对话（/新对话 <内容> 以该内容开始），/状态（/status）当前对话状态，\
         /取消（/cancel）停止当前回答{switch_zh}，/帮助（/help）帮助。"
    )
}

/// What was shown of an answer `/cancel` stopped, finished with the stop mark.
pub(super) fn stopped(so_far: &str) -> String {
    if so_far.trim().is_empty() {
        "(stopped / 已停止)".to_owned()
    } else {
        format!("{so_far}\n\n(stopped / 已停止)")
    }
}

/// The answer to `/cancel`.
pub(super) fn cancelled(stopped: bool) -> &'static str {
    if stopped {
        "Stopped. Ask again when you like; the conversation goes on.\n已停止。对话继续，可以接着提问。"
    } else {
        "Nothing was being answered.\n当前没有正在进行的回答。"
    }
}

/// `/switch` without a choice (or a wrong one): the agents, the current one marked.
pub(super) fn switch_list(
    note: &str,
    agents: &[(crate::ids::AgentId, String)],
    current: &crate::ids::AgentId,
) -> String {
    let mut out = String::new();
    if !note.is_empty() {
        out.push_str(note);
        out.push('\n');
    }
    if agents.len() < 2 {
        let only = agents.first().map_or("(none)", |(_, name)| name.as_str());
        out.push_str(&format!(
            "This bot has one agent: {only}.\n该机器人只有一个智能体：{only}。"
        ));
        return out;
    }
    out.push_str("Agents you can talk to (/switch <name or number>):\n");
    for (i, (id, name)) in agents.iter().enumerate() {
        let mark = if id == current { " ← current / 当前" } else { "" };
        out.push_str(&format!("{}. {name}{mark}\n", i + 1));
    }
    out.push_str("可切换的智能体见上，发送 /切换 <名称或序号>（/switch）切换。");
    out
}

/// `/switch <agent>` done.
pub(super) fn switched(name: &str) -> String {
    format!("Now talking to {name}; a new conversation started.\n已切换到 {name}，并开始新的对话。")
}

/// `/status`.
pub(super) fn status(agent_name: &str, session: Option<(std::time::Duration, std::time::Duration)>) -> String {
    match session {
        Some((age, idle)) => format!(
            "Agent: {agent_name}\nConversation started {} ago, last message {} ago.\n智能体：{agent_name}；当前对话已持续 {}。",
            human(age),
            human(idle),
            human(age)
        ),
        None => format!(
            "Agent: {agent_name}\nNo conversation yet; your next message starts one.\n智能体：{agent_name}；暂无对话。"
        ),
    }
}

/// The honest failure message shown after the last attempt.
pub(super) fn agent_failed(error: &AgentError) -> String {
    let why = match error {
        AgentError::Timeout(_) => "it did not answer in time",
        AgentError::Unreachable(_) => "it could not be reached",
        AgentError::Status { status } if *status == 401 || *status == 403 => "it refused the gateway's credentials",
        AgentError::Status { status } if *status == 429 => "it is rate limited",
        AgentError::Status { .. } => "it answered with an error",
        AgentError::Protocol(_) => "its answer could not be read",
        AgentError::Unsupported(_) => "this kind of agent is not supported",
    };
    format!(
        "Sorry — the agent failed ({why}). Please try again later, or start a new conversation.\n\
         抱歉，智能体暂时无法回答，请稍后重试或开始新的对话。"
    )
}

fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_and_failures() {
        assert_eq!(human(std::time::Duration::from_secs(59)), "59s");
        assert_eq!(human(std::time::Duration::from_secs(3700)), "1h1m");
        assert!(agent_failed(&AgentError::Status { status: 401 }).contains("credentials"));
        assert!(status("echo", None).contains("No conversation"));
    }
}
