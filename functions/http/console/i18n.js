// The console's texts in English and Chinese. The language is the browser's by default and can
// be switched; the choice is kept in localStorage (the only thing the console stores there).

export const LANGS = [['en', 'English'], ['zh', '中文']];

const en = {
  'nav.label': 'Main', 'nav.integrations': 'Integrations', 'nav.agents': 'Agents', 'nav.triggers': 'Triggers',
  'nav.deadLetters': 'Dead letters', 'nav.keys': 'API keys', 'nav.organizations': 'Organizations',
  'nav.language': 'Language', 'nav.signOut': 'Sign out', 'nav.bootstrap': 'Bootstrap key',

  'signin.title': 'Sign in', 'signin.intro': 'Manage your bots, agents and triggers.',
  'signin.key': 'API key', 'signin.keyHint': 'An organization API key, or the bootstrap key. It is exchanged for a session cookie and not kept in the browser.',
  'signin.submit': 'Sign in', 'signin.wrongKey': 'That key is not valid.',

  'common.cancel': 'Cancel', 'common.copy': 'Copy', 'common.copied': 'Copied.', 'common.copyFailed': 'Could not copy; select the text instead.',
  'common.failed': 'This page could not be loaded',

  'time.seconds': '{n} s ago', 'time.minutes': '{n} min ago', 'time.hours': '{n} h ago', 'time.days': '{n} d ago',

  'platform.wecom': 'WeCom', 'platform.lark': 'Lark / Feishu', 'platform.dingtalk': 'DingTalk', 'platform.telegram': 'Telegram',
  'platform.discord': 'Discord', 'platform.weibo': 'Weibo', 'platform.wechat': 'WeChat',
  'mode.webhook': 'Webhook', 'mode.long_connection': 'Long connection',
  'mode.webhook.hint': 'the platform calls this gateway’s public URL',
  'mode.long_connection.hint': 'the gateway keeps a connection open; no public URL needed',
  'lark.feishu': 'Feishu (open.feishu.cn)', 'lark.lark': 'Lark (open.larksuite.com)',

  'chip.connected': 'Connected', 'chip.ready': 'Ready', 'chip.connecting': 'Connecting', 'chip.retrying': 'Retrying',
  'chip.error': 'Error', 'chip.stopped': 'Stopped', 'chip.disabled': 'Disabled', 'chip.not_bound': 'Not bound',
  'reason.auth_failed': 'The platform rejected the credentials', 'reason.kicked_by_other_connection': 'Another connection took over this bot',
  'reason.unbound': 'No trigger binds it to an agent', 'reason.disabled': 'The integration is disabled',
  'reason.network': 'Network trouble', 'reason.login_expired': 'The login expired: scan a new QR code',
  'readiness.ready': 'Enabled and bound: messages are routed to the agent.',
  'readiness.disabled': 'Disabled: enable it to receive messages.',
  'readiness.unbound': 'No trigger binds this integration to an agent: publish one on the Triggers page.',
  'readiness.trigger_disabled': 'The trigger is paused: messages are not routed.',

  'integrations.new': 'New integration', 'integrations.allPlatforms': 'All platforms', 'integrations.allStates': 'All states',
  'integrations.search': 'Name or account', 'integrations.platform': 'Platform', 'integrations.state': 'State',
  'integrations.find': 'Find', 'integrations.count': '{shown} of {total} integrations',
  'integrations.none': 'No integrations yet. Connect your first bot.', 'integrations.qr': 'QR login',
  'integrations.col.name': 'Name', 'integrations.col.platform': 'Platform', 'integrations.col.account': 'Account',
  'integrations.col.mode': 'Mode', 'integrations.col.status': 'Status', 'integrations.col.agent': 'Agent',
  'integrations.col.connectedSince': 'Connected', 'integrations.col.lastMessage': 'Last message',
  'integrations.col.lastError': 'Last error', 'integrations.col.owner': 'Relay',

  'form.name': 'Name', 'form.secret': 'secret', 'form.keepSecret': 'Leave empty to keep the stored value.',
  'new.title': 'New integration', 'new.mode': 'Connection', 'new.create': 'Create', 'new.created': 'Integration created.',
  'new.where': 'Where to find these',

  'detail.enable': 'Enable', 'detail.disable': 'Disable', 'detail.enabled': 'Enabled.', 'detail.disabled': 'Disabled.',
  'detail.restart': 'Restart connection', 'detail.restarted': 'Restart requested; the relay reconnects within seconds.',
  'detail.test': 'Test credentials', 'detail.testing': 'Asking the platform…', 'detail.testOk': 'The platform accepted the credentials.',
  'detail.testAccount': 'Bot: {account}.', 'detail.delete': 'Delete', 'detail.status': 'Status',
  'detail.volume': 'Messages, last 24 hours', 'detail.received': 'received', 'detail.replied': 'answered',
  'detail.total': '{n} received', 'detail.chartLabel': '{n} messages received in the last 24 hours',
  'detail.hourBar': '{hour}:00 — {received} received, {replied} answered, {errors} errors',
  'detail.latency': 'Reply time: median {p50} ms, 95th percentile {p95} ms ({n} answers).',
  'detail.noLatency': 'No answers in the last 24 hours.',
  'detail.callback': 'Callback URL', 'detail.credentials': 'Credentials', 'detail.save': 'Save', 'detail.saved': 'Saved.',
  'detail.why': 'Why did my bot not reply?', 'detail.eventId': 'Message id', 'detail.eventIdPlaceholder': 'the platform’s message id',
  'detail.explain': 'Explain', 'detail.explainThis': 'Explain this message',
  'detail.log': 'Event log', 'detail.pause': 'Pause', 'detail.noEvents': 'Nothing in the last 24 hours.',
  'detail.conversations': 'Open conversations', 'detail.noConversations': 'No open conversations.',
  'detail.reset': 'Reset', 'detail.conversationReset': 'Conversation reset: the next message starts a new session.',
  'detail.conv.conversation': 'Chat', 'detail.conv.sender': 'Sender', 'detail.conv.agent': 'Agent',
  'detail.conv.started': 'Started', 'detail.conv.active': 'Last active',
  'outcome.replied': 'Answered.', 'outcome.in_progress': 'In progress.', 'outcome.failed': 'Failed.',
  'outcome.dropped': 'Not for the agent.', 'outcome.rejected': 'Refused.', 'outcome.duplicate': 'A repeat.',
  'outcome.unknown': 'Never arrived.',
  'probe.rejected': 'The platform refused the credentials.', 'probe.unreachable': 'The platform could not be reached.',
  'probe.unsupported': 'Cannot be tested here.',

  'delete.title': 'Delete “{name}”?', 'delete.intro': 'This cannot be undone. Deleting it also:',
  'delete.trigger': 'removes its trigger: agent “{agent}” stops answering through this bot (the agent is kept)',
  'delete.noTrigger': 'has no trigger to remove', 'delete.conversations': 'ends {n}{more} open conversations',
  'delete.events': 'stops its connection and discards its event log',
  'delete.confirm': 'Delete', 'delete.done': 'Deleted.',

  'qr.title': 'Log in with WeChat', 'qr.intro': 'Scan the code with the WeChat account the bot should use, then confirm on the phone.',
  'qr.start': 'Show QR code', 'qr.alt': 'QR code to scan with WeChat', 'qr.code': 'Number shown on the phone', 'qr.send': 'Send',
  'qr.wait': 'Waiting for the scan.', 'qr.scanned': 'Scanned: confirm on the phone.', 'qr.need_verifycode': 'Enter the number the phone shows.',
  'qr.verify_code_blocked': 'Too many wrong numbers.', 'qr.expired': 'The code expired: show a new one.',
  'qr.confirmed': 'Logged in.', 'qr.already_bound': 'This account is bound already.', 'qr.failed': 'The login failed.',

  'agents.new': 'New agent', 'agents.create': 'Create', 'agents.created': 'Agent created.', 'agents.none': 'No agents yet.',
  'agents.col.name': 'Name', 'agents.col.kind': 'Kind', 'agents.col.endpoint': 'Endpoint', 'agents.col.updated': 'Changed',
  'agents.deleteTitle': 'Delete agent “{name}”?', 'agents.deleteIntro': 'An agent a trigger still binds cannot be deleted; unpublish its triggers first.',
  'kind.openai_compatible': 'OpenAI-compatible', 'kind.http': 'HTTP', 'kind.langgraph': 'LangGraph', 'kind.echo': 'Echo (test)',
  'agentField.base_url': 'The API base, e.g. https://api.openai.com/v1.', 'agentField.model': 'The model name.',
  'agentField.api_key': 'Sent as a bearer token.', 'agentField.system_prompt': 'Optional instructions sent first.',
  'agentField.history_limit': 'Earlier turns sent along (default 20).', 'agentField.timeout_seconds': 'Give up after this many seconds.',
  'agentField.url': 'Where messages are POSTed.', 'agentField.bearer_token': 'Sent as Authorization: Bearer.',
  'agentField.assistant_id': 'The assistant (graph) to run.', 'agentField.prefix': 'Put before each echoed text.',
  'try.title': 'Try it', 'try.message': 'Message', 'try.send': 'Send', 'try.waiting': 'Waiting for the agent…',
  'try.done': 'First text after {first} ms, complete after {total} ms.', 'try.failed': 'The agent failed:',

  'triggers.intro': 'A trigger binds an integration to the agent that answers it.', 'triggers.agent': 'Agent',
  'triggers.pickAgent': 'Choose an agent', 'triggers.timeout': 'Session timeout (s)', 'triggers.window': 'Aggregation window (s)',
  'triggers.policy': 'In groups', 'triggers.publish': 'Publish', 'triggers.unpublish': 'Unpublish',
  'triggers.published': 'Published: answered by {agent}.', 'triggers.paused': 'Paused (agent {agent}).',
  'triggers.unpublished': 'Not published.', 'triggers.done': 'Published.', 'triggers.removed': 'Unpublished.',
  'triggers.conflictTitle': 'This bot is taken', 'triggers.conflict': '“{integration}” is bound to agent “{agent}”. Take it over? That agent stops answering through this bot.',
  'triggers.takeover': 'Take over',
  'policy.mention_only': 'Only when mentioned', 'policy.all_messages': 'Every message',
  'triggers.users': 'Allowed users', 'triggers.chats': 'Allowed group chats', 'triggers.refusal': 'Others',
  'triggers.everyone': 'everyone (one user id per line)', 'triggers.everyGroup': 'every group (one chat id per line)',
  'refusal.reply_once': 'Told once a day', 'refusal.silent': 'Ignored silently',
  'triggers.others': 'Also via /switch',
  'triggers.busy': 'While answering', 'busy.queue': 'New messages wait their turn',
  'busy.interrupt': 'A new message stops the answer; both are answered', 'busy.collect': 'New messages are answered together afterwards',

  'dead.intro': 'Messages that failed every delivery attempt. Redrive one once the cause is fixed.',
  'dead.none': 'No dead letters.', 'dead.timer': 'timer', 'dead.redrive': 'Redrive', 'dead.discard': 'Discard',
  'dead.redriven': 'Put back on the queue.', 'dead.discarded': 'Discarded.',
  'dead.col.integration': 'Integration', 'dead.col.event': 'Message', 'dead.col.reason': 'Reason',
  'dead.col.attempts': 'Attempts', 'dead.col.failed': 'Failed',

  'keys.intro': 'Keys for scripts and for signing in here. A key is shown once, when it is created.',
  'keys.name': 'Label', 'keys.namePlaceholder': 'e.g. deploy script', 'keys.create': 'Create key', 'keys.current': 'this session',
  'keys.col.name': 'Label', 'keys.col.id': 'Id', 'keys.col.created': 'Created',
  'keys.revoke': 'Revoke', 'keys.revokeTitle': 'Revoke “{name}”?', 'keys.revokeIntro': 'Scripts using it stop working, and console sessions opened with it end.',
  'keys.revoked': 'Revoked.', 'keys.onceTitle': 'Your new key', 'keys.once': 'Copy it now: it cannot be shown again.',
  'keys.stored': 'I have stored it',
  'orgs.intro': 'Each organization has its own integrations, agents, triggers and keys.', 'orgs.name': 'New organization',
  'orgs.create': 'Create', 'orgs.signInAs': 'Sign in with this key',
};

const zh = {
  'nav.label': '主导航', 'nav.integrations': '接入', 'nav.agents': '智能体', 'nav.triggers': '触发器',
  'nav.deadLetters': '死信', 'nav.keys': 'API 密钥', 'nav.organizations': '组织',
  'nav.language': '语言', 'nav.signOut': '退出', 'nav.bootstrap': '引导密钥',

  'signin.title': '登录', 'signin.intro': '管理你的机器人、智能体和触发器。',
  'signin.key': 'API 密钥', 'signin.keyHint': '组织的 API 密钥，或引导密钥。登录后换成会话 Cookie，浏览器里不保存密钥。',
  'signin.submit': '登录', 'signin.wrongKey': '密钥无效。',

  'common.cancel': '取消', 'common.copy': '复制', 'common.copied': '已复制。', 'common.copyFailed': '无法复制，请手动选中文本。',
  'common.failed': '页面加载失败',

  'time.seconds': '{n} 秒前', 'time.minutes': '{n} 分钟前', 'time.hours': '{n} 小时前', 'time.days': '{n} 天前',

  'platform.wecom': '企业微信', 'platform.lark': '飞书 / Lark', 'platform.dingtalk': '钉钉', 'platform.telegram': 'Telegram',
  'platform.discord': 'Discord', 'platform.weibo': '微博', 'platform.wechat': '微信',
  'mode.webhook': '回调', 'mode.long_connection': '长连接',
  'mode.webhook.hint': '平台调用本网关的公网地址',
  'mode.long_connection.hint': '网关主动保持连接，无需公网地址',
  'lark.feishu': '飞书（open.feishu.cn）', 'lark.lark': 'Lark（open.larksuite.com）',

  'chip.connected': '已连接', 'chip.ready': '就绪', 'chip.connecting': '连接中', 'chip.retrying': '重试中',
  'chip.error': '错误', 'chip.stopped': '已停止', 'chip.disabled': '已停用', 'chip.not_bound': '未绑定',
  'reason.auth_failed': '平台拒绝了凭据', 'reason.kicked_by_other_connection': '另一个连接接管了该机器人',
  'reason.unbound': '没有触发器把它绑定到智能体', 'reason.disabled': '接入已停用',
  'reason.network': '网络问题', 'reason.login_expired': '登录已过期：请重新扫码',
  'readiness.ready': '已启用且已绑定：消息会转给智能体。',
  'readiness.disabled': '已停用：启用后才会接收消息。',
  'readiness.unbound': '没有触发器绑定到智能体：请在“触发器”页发布一个。',
  'readiness.trigger_disabled': '触发器已暂停：消息不会转发。',

  'integrations.new': '新建接入', 'integrations.allPlatforms': '全部平台', 'integrations.allStates': '全部状态',
  'integrations.search': '名称或账号', 'integrations.platform': '平台', 'integrations.state': '状态',
  'integrations.find': '查找', 'integrations.count': '共 {total} 个接入，显示 {shown} 个',
  'integrations.none': '还没有接入。连接你的第一个机器人吧。', 'integrations.qr': '扫码登录',
  'integrations.col.name': '名称', 'integrations.col.platform': '平台', 'integrations.col.account': '账号',
  'integrations.col.mode': '方式', 'integrations.col.status': '状态', 'integrations.col.agent': '智能体',
  'integrations.col.connectedSince': '连接于', 'integrations.col.lastMessage': '最近消息',
  'integrations.col.lastError': '最近错误', 'integrations.col.owner': '中继',

  'form.name': '名称', 'form.secret': '保密', 'form.keepSecret': '留空则保留已保存的值。',
  'new.title': '新建接入', 'new.mode': '连接方式', 'new.create': '创建', 'new.created': '接入已创建。',
  'new.where': '在哪里找到这些值',

  'detail.enable': '启用', 'detail.disable': '停用', 'detail.enabled': '已启用。', 'detail.disabled': '已停用。',
  'detail.restart': '重启连接', 'detail.restarted': '已请求重启，中继会在几秒内重连。',
  'detail.test': '测试凭据', 'detail.testing': '正在询问平台…', 'detail.testOk': '平台接受了凭据。',
  'detail.testAccount': '机器人：{account}。', 'detail.delete': '删除', 'detail.status': '状态',
  'detail.volume': '近 24 小时消息', 'detail.received': '收到', 'detail.replied': '已回复',
  'detail.total': '收到 {n} 条', 'detail.chartLabel': '近 24 小时收到 {n} 条消息',
  'detail.hourBar': '{hour}:00 — 收到 {received}，回复 {replied}，错误 {errors}',
  'detail.latency': '回复耗时：中位数 {p50} 毫秒，95 分位 {p95} 毫秒（{n} 条回复）。',
  'detail.noLatency': '近 24 小时没有回复。',
  'detail.callback': '回调地址', 'detail.credentials': '凭据', 'detail.save': '保存', 'detail.saved': '已保存。',
  'detail.why': '机器人为什么没回复？', 'detail.eventId': '消息 ID', 'detail.eventIdPlaceholder': '平台的消息 ID',
  'detail.explain': '查看原因', 'detail.explainThis': '查看这条消息的原因',
  'detail.log': '事件日志', 'detail.pause': '暂停', 'detail.noEvents': '近 24 小时没有事件。',
  'detail.conversations': '进行中的会话', 'detail.noConversations': '没有进行中的会话。',
  'detail.reset': '重置', 'detail.conversationReset': '会话已重置：下一条消息开始新会话。',
  'detail.conv.conversation': '会话', 'detail.conv.sender': '发送者', 'detail.conv.agent': '智能体',
  'detail.conv.started': '开始于', 'detail.conv.active': '最近活动',
  'outcome.replied': '已回复。', 'outcome.in_progress': '处理中。', 'outcome.failed': '失败。',
  'outcome.dropped': '不需要智能体处理。', 'outcome.rejected': '被拒绝。', 'outcome.duplicate': '重复消息。',
  'outcome.unknown': '没有收到。',
  'probe.rejected': '平台拒绝了凭据。', 'probe.unreachable': '无法连接平台。', 'probe.unsupported': '此处无法测试。',

  'delete.title': '删除“{name}”？', 'delete.intro': '删除后无法恢复，同时会：',
  'delete.trigger': '移除它的触发器：智能体“{agent}”不再通过该机器人回复（智能体本身保留）',
  'delete.noTrigger': '没有需要移除的触发器', 'delete.conversations': '结束 {n}{more} 个进行中的会话',
  'delete.events': '断开连接并丢弃事件日志',
  'delete.confirm': '删除', 'delete.done': '已删除。',

  'qr.title': '微信扫码登录', 'qr.intro': '用机器人要使用的微信账号扫码，然后在手机上确认。',
  'qr.start': '显示二维码', 'qr.alt': '用微信扫描的二维码', 'qr.code': '手机上显示的数字', 'qr.send': '发送',
  'qr.wait': '等待扫码。', 'qr.scanned': '已扫码：请在手机上确认。', 'qr.need_verifycode': '请输入手机上显示的数字。',
  'qr.verify_code_blocked': '数字输错次数过多。', 'qr.expired': '二维码已过期：请重新显示。',
  'qr.confirmed': '已登录。', 'qr.already_bound': '该账号已绑定。', 'qr.failed': '登录失败。',

  'agents.new': '新建智能体', 'agents.create': '创建', 'agents.created': '智能体已创建。', 'agents.none': '还没有智能体。',
  'agents.col.name': '名称', 'agents.col.kind': '类型', 'agents.col.endpoint': '地址', 'agents.col.updated': '修改于',
  'agents.deleteTitle': '删除智能体“{name}”？', 'agents.deleteIntro': '仍被触发器绑定的智能体不能删除，请先取消发布其触发器。',
  'kind.openai_compatible': 'OpenAI 兼容', 'kind.http': 'HTTP', 'kind.langgraph': 'LangGraph', 'kind.echo': '回声（测试）',
  'agentField.base_url': 'API 根地址，例如 https://api.openai.com/v1。', 'agentField.model': '模型名称。',
  'agentField.api_key': '作为 Bearer 令牌发送。', 'agentField.system_prompt': '可选，先发送的系统指令。',
  'agentField.history_limit': '随消息发送的历史轮数（默认 20）。', 'agentField.timeout_seconds': '超过这么多秒后放弃。',
  'agentField.url': '消息 POST 到的地址。', 'agentField.bearer_token': '以 Authorization: Bearer 发送。',
  'agentField.assistant_id': '要运行的助手（图）。', 'agentField.prefix': '加在回声文本前面。',
  'try.title': '试一试', 'try.message': '消息', 'try.send': '发送', 'try.waiting': '等待智能体…',
  'try.done': '{first} 毫秒后出现首段文字，{total} 毫秒后完成。', 'try.failed': '智能体出错：',

  'triggers.intro': '触发器把一个接入绑定到回复它的智能体。', 'triggers.agent': '智能体',
  'triggers.pickAgent': '选择智能体', 'triggers.timeout': '会话超时（秒）', 'triggers.window': '聚合窗口（秒）',
  'triggers.policy': '群聊中', 'triggers.publish': '发布', 'triggers.unpublish': '取消发布',
  'triggers.published': '已发布：由 {agent} 回复。', 'triggers.paused': '已暂停（智能体 {agent}）。',
  'triggers.unpublished': '未发布。', 'triggers.done': '已发布。', 'triggers.removed': '已取消发布。',
  'triggers.conflictTitle': '该机器人已被占用', 'triggers.conflict': '“{integration}”已绑定到智能体“{agent}”。要接管吗？接管后该智能体不再通过这个机器人回复。',
  'triggers.takeover': '接管',
  'policy.mention_only': '仅在被 @ 时', 'policy.all_messages': '所有消息',
  'triggers.users': '允许的用户', 'triggers.chats': '允许的群聊', 'triggers.refusal': '其他人',
  'triggers.everyone': '所有人（每行一个用户 ID）', 'triggers.everyGroup': '所有群（每行一个群 ID）',
  'refusal.reply_once': '每天提示一次', 'refusal.silent': '静默忽略',
  'triggers.others': '可用 /switch 切换到',
  'triggers.busy': '回答进行中时', 'busy.queue': '新消息依次排队回答',
  'busy.interrupt': '新消息打断当前回答，两条一起回答', 'busy.collect': '新消息在当前回答后合并回答',

  'dead.intro': '所有投递尝试都失败的消息。排除原因后可以重新投递。',
  'dead.none': '没有死信。', 'dead.timer': '定时器', 'dead.redrive': '重新投递', 'dead.discard': '丢弃',
  'dead.redriven': '已放回队列。', 'dead.discarded': '已丢弃。',
  'dead.col.integration': '接入', 'dead.col.event': '消息', 'dead.col.reason': '原因',
  'dead.col.attempts': '尝试次数', 'dead.col.failed': '失败于',

  'keys.intro': '供脚本调用和登录控制台使用的密钥。密钥只在创建时显示一次。',
  'keys.name': '标签', 'keys.namePlaceholder': '例如：部署脚本', 'keys.create': '创建密钥', 'keys.current': '当前会话',
  'keys.col.name': '标签', 'keys.col.id': 'ID', 'keys.col.created': '创建于',
  'keys.revoke': '吊销', 'keys.revokeTitle': '吊销“{name}”？', 'keys.revokeIntro': '使用它的脚本将无法调用，用它登录的控制台会话也会结束。',
  'keys.revoked': '已吊销。', 'keys.onceTitle': '新密钥', 'keys.once': '请立即复制：之后无法再次显示。',
  'keys.stored': '我已保存',
  'orgs.intro': '每个组织有自己的接入、智能体、触发器和密钥。', 'orgs.name': '新组织',
  'orgs.create': '创建', 'orgs.signInAs': '用此密钥登录',
};

export const STRINGS = { en, zh };

function initial() {
  const saved = localStorage.getItem('imgate.lang');
  if (saved && STRINGS[saved]) return saved;
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let current = initial();

/** The current language: `en` or `zh`. */
export function lang() {
  return current;
}

/** Switches the language (kept for the next visit). */
export function setLang(code) {
  if (!STRINGS[code]) return;
  current = code;
  localStorage.setItem('imgate.lang', code);
}

/** The text for `key` with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return vars ? text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? '')) : text;
}
