// Where each credential is found in each platform's own console, in English and Chinese.
// The fields themselves (names, secret, required) come from the server (GET /platforms).

import { lang } from './i18n.js';

const HELP = {
  wecom: {
    token: ['The Token you set in the bot’s (or app’s) “Receive messages” settings.', '机器人（或应用）“接收消息”设置里填写的 Token。'],
    encoding_aes_key: ['The 43-character EncodingAESKey from the same settings.', '同一设置页里 43 位的 EncodingAESKey。'],
    corp_id: ['Self-built apps only: My Company → Company ID.', '仅自建应用：我的企业 → 企业 ID。'],
    corp_secret: ['Self-built apps only: the app’s Secret (App Management → your app).', '仅自建应用：应用的 Secret（应用管理 → 你的应用）。'],
    bot_id: ['The smart bot’s Bot ID (Smart Bot → API mode → long connection).', '智能机器人的 Bot ID（智能机器人 → API 模式 → 长连接）。'],
    secret: ['The smart bot’s Secret, next to its Bot ID.', '智能机器人的 Secret，在 Bot ID 旁边。'],
  },
  lark: {
    app_id: ['Developer console → your app → Credentials & Basic Info → App ID (cli_…).', '开发者后台 → 你的应用 → 凭证与基础信息 → App ID（cli_…）。'],
    app_secret: ['Same page: App Secret.', '同一页面：App Secret。'],
    verification_token: ['Events & Callbacks → Encryption Strategy → Verification Token.', '事件与回调 → 加密策略 → Verification Token。'],
    encrypt_key: ['Same place: Encrypt Key, if you turned encryption on.', '同一处：Encrypt Key（开启加密时）。'],
    domain: ['Feishu for open.feishu.cn apps, Lark for open.larksuite.com apps.', '国内飞书应用选飞书，国际版选 Lark。'],
  },
  dingtalk: {
    client_id: ['Developer console → your app → Credentials → Client ID (AppKey).', '开发者后台 → 你的应用 → 凭证与基础信息 → Client ID（AppKey）。'],
    client_secret: ['Same page: Client Secret (AppSecret).', '同一页面：Client Secret（AppSecret）。'],
    robot_code: ['App capabilities → Robot → RobotCode (often the same as the Client ID).', '应用能力 → 机器人 → RobotCode（通常与 Client ID 相同）。'],
    card_template_id: ['Optional: an AI card template id from the card platform, for streamed answers.', '可选：卡片平台的 AI 卡片模板 ID，用于流式回复。'],
  },
  telegram: {
    bot_token: ['The token @BotFather gave you (/mybots → API Token).', '@BotFather 给你的令牌（/mybots → API Token）。'],
    secret_token: ['Any 1–256 characters of A–Z, a–z, 0–9, _ and -: Telegram sends it back with each update.', '任意 1–256 个字母、数字、_ 或 -：Telegram 每次推送都会带上它。'],
  },
  discord: {
    application_id: ['Developer Portal → your application → General Information → Application ID.', '开发者门户 → 你的应用 → General Information → Application ID。'],
    public_key: ['Same page: Public Key (hex).', '同一页面：Public Key（十六进制）。'],
    bot_token: ['Bot → Reset Token (shown once).', 'Bot → Reset Token（只显示一次）。'],
  },
  weibo: {
    app_id: ['The AppId @微博龙虾助手 sent you in a private message.', '@微博龙虾助手 私信发给你的 AppId。'],
    app_secret: ['The AppSecret from the same message.', '同一条私信里的 AppSecret。'],
  },
  wechat: {
    bot_token: ['Filled in by the QR login; leave empty.', '扫码登录后自动填入，留空即可。'],
    base_url: ['Filled in by the QR login.', '扫码登录后自动填入。'],
    bot_id: ['Filled in by the QR login.', '扫码登录后自动填入。'],
    owner_user_id: ['Filled in by the QR login.', '扫码登录后自动填入。'],
  },
};

const GUIDE = {
  'wecom.webhook': ['In the WeCom admin console, open your smart bot (API mode) or self-built app → Receive messages, paste the callback URL, and fill in the same Token and EncodingAESKey. WeCom checks the URL when you save.', '在企业微信管理后台打开智能机器人（API 模式）或自建应用 → 接收消息，粘贴回调地址，并填写相同的 Token 和 EncodingAESKey。保存时企业微信会校验该地址。'],
  'wecom.long_connection': ['In the WeCom admin console, open your smart bot → API mode → long connection, and copy its Bot ID and Secret. No public URL is needed.', '在企业微信管理后台打开智能机器人 → API 模式 → 长连接，复制 Bot ID 和 Secret。不需要公网地址。'],
  'lark.webhook': ['In the developer console: Events & Callbacks → Event configuration → “Send events to developer server”, paste the callback URL, and add the event im.message.receive_v1.', '在开发者后台：事件与回调 → 事件配置 → “将事件发送至开发者服务器”，粘贴回调地址，并添加事件 im.message.receive_v1。'],
  'lark.long_connection': ['In the developer console: Events & Callbacks → “Receive events through persistent connection”, and add the event im.message.receive_v1. No public URL is needed.', '在开发者后台：事件与回调 → “使用长连接接收事件”，并添加事件 im.message.receive_v1。不需要公网地址。'],
  'dingtalk.webhook': ['In the developer console: your app → Robot → message receiving mode HTTP, and paste the callback URL.', '在开发者后台：你的应用 → 机器人 → 消息接收模式选 HTTP，粘贴回调地址。'],
  'dingtalk.long_connection': ['In the developer console: your app → Robot → message receiving mode Stream. No public URL is needed.', '在开发者后台：你的应用 → 机器人 → 消息接收模式选 Stream。不需要公网地址。'],
  'telegram.webhook': ['Nothing to paste: the gateway sets the webhook through the Bot API when the trigger is published.', '无需粘贴：发布触发器时网关会通过 Bot API 自动设置 webhook。'],
  'telegram.long_connection': ['The gateway polls Telegram for updates; no public URL is needed.', '网关主动向 Telegram 拉取消息，不需要公网地址。'],
  'discord.webhook': ['Developer Portal → General Information → Interactions Endpoint URL: paste the callback URL. Discord checks it when you save.', '开发者门户 → General Information → Interactions Endpoint URL：粘贴回调地址。保存时 Discord 会校验。'],
  'discord.long_connection': ['The gateway connects to Discord’s gateway; turn on the Message Content intent under Bot.', '网关连接 Discord 网关；请在 Bot 页打开 Message Content intent。'],
  'weibo.long_connection': ['Send a private message to @微博龙虾助手 to get an AppId and AppSecret.', '私信 @微博龙虾助手 获取 AppId 和 AppSecret。'],
  'wechat.long_connection': ['Create the integration, then scan the QR code on its page with the WeChat account the bot should use.', '创建接入后，在其页面用机器人要使用的微信账号扫码。'],
};

function pick(pair) {
  if (!pair) return '';
  return lang() === 'zh' ? pair[1] : pair[0];
}

/** Help for one credential field. */
export function fieldHelp(platform, mode, field) {
  return pick((HELP[platform] || {})[field]);
}

/** What to do in the platform's console for this mode. */
export function platformGuide(platform, mode) {
  return pick(GUIDE[`${platform}.${mode}`]);
}
