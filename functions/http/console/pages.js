// imgate console pages. Each page is `async (main, args) => {}`: it fills `main` and may
// start refresh timers with every(); the shell stops them when the page is left.

import { t } from './i18n.js';
import { fieldHelp, platformGuide } from './platforms.js';
import { act, add, ago, api, apiStream, copy, dialog, every, go, h, put, session, toast } from './app.js';

const PLATFORMS = ['wecom', 'lark', 'dingtalk', 'telegram', 'discord', 'weibo', 'wechat'];
const CHIPS = ['connected', 'ready', 'connecting', 'retrying', 'error', 'stopped', 'disabled', 'not_bound'];
const AGENT_KINDS = {
  openai_compatible: [
    ['base_url', false, true], ['model', false, true], ['api_key', true, false],
    ['system_prompt', false, false], ['history_limit', false, false], ['timeout_seconds', false, false],
  ],
  http: [['url', false, true], ['bearer_token', true, false], ['timeout_seconds', false, false]],
  langgraph: [
    ['base_url', false, true], ['assistant_id', false, true], ['api_key', true, false], ['timeout_seconds', false, false],
  ],
  echo: [['prefix', false, false]],
};
const NUMBER_FIELDS = ['history_limit', 'timeout_seconds'];

let catalog = null;
async function platformCatalog() {
  if (!catalog) catalog = await api('GET', '/platforms');
  return catalog;
}

function title(text) {
  document.title = `${text} · imgate`;
  return h('h1', {}, text);
}

function chip(state, reason) {
  return h('span', { class: `chip chip-${state}`, title: reason ? t(`reason.${reason}`) : null },
    t(`chip.${state}`));
}

function platformName(p) {
  return t(`platform.${p}`);
}

function empty(text, action) {
  return h('div', { class: 'empty' }, h('p', {}, text), action || null);
}

// ---------------------------------------------------------------------------------------
// Integrations

async function integrationsPage(main, args) {
  if (args[0] === 'new') return newIntegrationPage(main);
  if (args[0]) return integrationPage(main, args[0]);
  const platform = h('select', { id: 'filter-platform' },
    h('option', { value: '' }, t('integrations.allPlatforms')),
    PLATFORMS.map((p) => h('option', { value: p }, platformName(p))));
  const state = h('select', { id: 'filter-state' },
    h('option', { value: '' }, t('integrations.allStates')),
    CHIPS.map((c) => h('option', { value: c }, t(`chip.${c}`))));
  const search = h('input', { id: 'filter-name', type: 'search', placeholder: t('integrations.search') });
  const tbody = h('tbody');
  const count = h('p', { class: 'muted', id: 'integration-count', 'aria-live': 'polite' });
  let rows = [];
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = rows.filter((r) => (!platform.value || r.platform === platform.value)
      && (!state.value || r.chip === state.value)
      && (!q || r.name.toLowerCase().includes(q) || (r.account || '').toLowerCase().includes(q)));
    const fragment = document.createDocumentFragment();
    for (const r of shown) fragment.append(integrationRow(r));
    put(tbody, fragment);
    count.textContent = t('integrations.count', { shown: shown.length, total: rows.length });
  };
  for (const el of [platform, state]) el.addEventListener('change', draw);
  search.addEventListener('input', draw);
  const load = async () => { rows = await api('GET', '/integrations/overview'); draw(); };
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'integrations' },
    h('thead', {}, h('tr', {}, ['name', 'platform', 'account', 'mode', 'status', 'agent', 'connectedSince',
      'lastMessage', 'lastError', 'owner'].map((c) => h('th', { scope: 'col' }, t(`integrations.col.${c}`))))),
    tbody));
  add(main, 
    h('div', { class: 'page-head' }, title(t('nav.integrations')),
      h('a', { class: 'button primary', href: '#/integrations/new', id: 'new-integration' }, t('integrations.new'))),
    h('div', { class: 'filters' },
      h('label', {}, t('integrations.platform'), platform),
      h('label', {}, t('integrations.state'), state),
      h('label', {}, t('integrations.find'), search)),
    count, table);
  await load();
  if (rows.length === 0) {
    table.replaceWith(empty(t('integrations.none'),
      h('a', { class: 'button primary', href: '#/integrations/new' }, t('integrations.new'))));
  }
  every(5000, load);
}

function integrationRow(r) {
  return h('tr', { dataset: { id: r.id, chip: r.chip } },
    h('td', { 'data-label': t('integrations.col.name') },
      h('a', { href: `#/integrations/${encodeURIComponent(r.id)}` }, r.name)),
    h('td', { 'data-label': t('integrations.col.platform') }, platformName(r.platform)),
    h('td', { 'data-label': t('integrations.col.account') }, r.account || h('span', { class: 'muted' }, '—'),
      r.connectionMethod === 'qr_login' ? h('span', { class: 'tag' }, t('integrations.qr')) : null),
    h('td', { 'data-label': t('integrations.col.mode') }, t(`mode.${r.mode}`)),
    h('td', { 'data-label': t('integrations.col.status') }, chip(r.chip, r.reason),
      r.reason && r.chip === 'error' ? h('div', { class: 'reason' }, t(`reason.${r.reason}`)) : null),
    h('td', { 'data-label': t('integrations.col.agent') },
      r.agent ? h('a', { href: `#/agents/${encodeURIComponent(r.agent.id)}` }, r.agent.name) : h('span', { class: 'muted' }, '—')),
    h('td', { 'data-label': t('integrations.col.connectedSince') }, ago(r.connectedSince)),
    h('td', { 'data-label': t('integrations.col.lastMessage') }, ago(r.lastMessageAt)),
    h('td', { 'data-label': t('integrations.col.lastError'), class: 'error-text' }, r.lastError || ''),
    h('td', { 'data-label': t('integrations.col.owner'), class: 'mono' }, r.owner || ''));
}

/** The credential inputs of one platform and mode, with help under each. */
function credentialFields(platform, mode, fields, values) {
  return fields.map((f) => {
    const id = `cred-${f.name}`;
    const help = fieldHelp(platform, mode, f.name);
    const input = f.name === 'domain'
      ? h('select', { id, name: f.name },
        ['feishu', 'lark'].map((d) => h('option', { value: d, selected: values && values[f.name] === d }, t(`lark.${d}`))))
      : h('input', {
        id,
        name: f.name,
        type: f.secret ? 'password' : 'text',
        autocomplete: 'off',
        spellcheck: 'false',
        required: f.required && !(values && f.secret),
        value: values && !f.secret ? values[f.name] || '' : '',
        placeholder: values && f.secret && values[f.name] ? '***' : '',
        'aria-describedby': `${id}-help`,
      });
    return h('div', { class: 'field' },
      h('label', { for: id }, f.name, f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null,
        f.secret ? h('span', { class: 'tag' }, t('form.secret')) : null),
      input,
      h('p', { class: 'hint', id: `${id}-help` }, help, f.secret && values ? ` ${t('form.keepSecret')}` : ''));
  });
}

function readCredentials(form, fields) {
  const out = {};
  for (const f of fields) {
    const el = form.querySelector(`[name="${f.name}"]`);
    if (el && el.value.trim() !== '') out[f.name] = el.value.trim();
  }
  return out;
}

async function newIntegrationPage(main) {
  const platforms = await platformCatalog();
  const name = h('input', { id: 'name', name: 'name', required: true, maxlength: 200 });
  const platform = h('select', { id: 'platform', name: 'platform' },
    platforms.map((p) => h('option', { value: p.platform }, platformName(p.platform))));
  const modeBox = h('fieldset', { class: 'modes' });
  const fieldsBox = h('div');
  const guide = h('div', { class: 'guide' });
  const error = h('p', { class: 'error', role: 'alert' });
  let current = null;
  const drawFields = () => {
    const p = platforms.find((x) => x.platform === platform.value);
    const checked = modeBox.querySelector('input:checked');
    const mode = (checked && p.modes.find((m) => m.mode === checked.value)) || p.modes[0];
    current = { platform: p, mode };
    put(fieldsBox, credentialFields(p.platform, mode.mode, mode.fields, null));
    put(guide, h('h2', {}, t('new.where')), h('p', {}, platformGuide(p.platform, mode.mode)));
  };
  const drawModes = () => {
    const p = platforms.find((x) => x.platform === platform.value);
    put(modeBox, h('legend', {}, t('new.mode')),
      p.modes.map((m, i) => h('label', { class: 'radio' },
        h('input', { type: 'radio', name: 'mode', value: m.mode, checked: i === 0, onchange: drawFields }),
        t(`mode.${m.mode}`), h('span', { class: 'hint' }, ` — ${t(`mode.${m.mode}.hint`)}`))));
    drawFields();
  };
  platform.addEventListener('change', drawModes);
  const form = h('form', { class: 'card form', id: 'new-integration-form', onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const created = await api('POST', '/integrations', {
        name: name.value,
        platform: current.platform.platform,
        mode: current.mode.mode,
        credentials: readCredentials(form, current.mode.fields),
      });
      toast(t('new.created'));
      go(`integrations/${encodeURIComponent(created.id)}`);
    } catch (err) {
      error.textContent = err.message;
    }
  } },
  h('div', { class: 'field' }, h('label', { for: 'name' }, t('form.name')), name),
  h('div', { class: 'field' }, h('label', { for: 'platform' }, t('integrations.platform')), platform),
  modeBox, fieldsBox, error,
  h('div', { class: 'actions' },
    h('a', { class: 'button', href: '#/integrations' }, t('common.cancel')),
    h('button', { type: 'submit', class: 'primary', id: 'create-integration' }, t('new.create'))));
  add(main, title(t('new.title')), h('div', { class: 'two-col' }, form, guide));
  drawModes();
  name.focus();
}

async function integrationPage(main, id) {
  const path = `/integrations/${encodeURIComponent(id)}`;
  const [integration, platforms] = await Promise.all([api('GET', path), platformCatalog()]);
  const modeSpec = platforms.find((p) => p.platform === integration.platform).modes
    .find((m) => m.mode === integration.mode);
  const heading = title(integration.name);
  const chipBox = h('span', { id: 'status-chip' });
  const summary = h('p', { class: 'summary', id: 'readiness' });
  const runtime = h('dl', { class: 'facts', id: 'runtime' });
  const log = h('ol', { class: 'log', id: 'event-log', 'aria-live': 'polite' });
  const chart = h('div', { class: 'chart', id: 'volume-chart' });
  const latency = h('p', { class: 'muted', id: 'latency' });
  const conversations = h('div', { id: 'conversations' });
  const paused = h('input', { type: 'checkbox', id: 'pause-log' });

  const refreshStatus = async () => {
    const [status, overview] = await Promise.all([api('GET', `${path}/status`), api('GET', '/integrations/overview')]);
    const row = overview.find((r) => r.id === id);
    if (row) put(chipBox, chip(row.chip, row.reason));
    summary.textContent = t(`readiness.${status.readiness}`);
    const r = status.runtime || {};
    put(runtime, 
      h('dt', {}, t('integrations.col.account')), h('dd', {}, (row && row.account) || '—'),
      h('dt', {}, t('integrations.col.agent')), h('dd', {}, status.trigger ? status.trigger.agent.name : '—'),
      h('dt', {}, t('integrations.col.connectedSince')), h('dd', {}, ago(r.connected_since)),
      h('dt', {}, t('integrations.col.lastMessage')), h('dd', {}, ago(r.last_event_at || (row && row.lastMessageAt))),
      h('dt', {}, t('integrations.col.lastError')), h('dd', { class: r.last_error ? 'error-text' : '' }, r.last_error || '—'),
      h('dt', {}, t('integrations.col.owner')), h('dd', { class: 'mono' }, r.owner || '—'));
    if (!paused.checked) {
      put(log, status.recentEvents.map((e) => h('li', { class: `log-${e.kind}` },
        ago(e.at), ' ', h('span', { class: 'kind' }, e.kind), ' ',
        e.event_id ? h('button', { type: 'button', class: 'link mono', title: t('detail.explainThis'),
          onclick: () => { explainInput.value = e.event_id; explain(); } }, e.event_id) : null,
        ' ', e.detail)));
      if (!status.recentEvents.length) put(log, h('li', { class: 'muted' }, t('detail.noEvents')));
    }
  };
  const refreshMetrics = async () => {
    const m = await api('GET', `${path}/metrics`);
    put(chart, volumeChart(m.hours));
    latency.textContent = m.repliesMeasured
      ? t('detail.latency', { p50: m.replyLatencyP50Ms, p95: m.replyLatencyP95Ms, n: m.repliesMeasured })
      : t('detail.noLatency');
  };
  const refreshConversations = async () => {
    const list = await api('GET', `${path}/conversations`);
    if (!list.length) {
      put(conversations, h('p', { class: 'muted' }, t('detail.noConversations')));
      return;
    }
    put(conversations, h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, ['conversation', 'sender', 'agent', 'started', 'active', ''].map((c) =>
        h('th', { scope: 'col' }, c ? t(`detail.conv.${c}`) : '')))),
      h('tbody', {}, list.map((c) => h('tr', {},
        h('td', { class: 'mono', 'data-label': t('detail.conv.conversation') }, c.conversation),
        h('td', { class: 'mono', 'data-label': t('detail.conv.sender') }, c.sender),
        h('td', { 'data-label': t('detail.conv.agent') }, c.agent.name),
        h('td', { 'data-label': t('detail.conv.started') }, ago(c.startedAt)),
        h('td', { 'data-label': t('detail.conv.active') }, ago(c.lastActiveAt)),
        h('td', {}, h('button', { type: 'button', class: 'small', onclick: async (e) => {
          await act(e.target, () => api('POST', `${path}/conversations/${encodeURIComponent(c.sessionId)}/reset`),
            t('detail.conversationReset'));
          refreshConversations();
        } }, t('detail.reset')))))))));
  };

  // Why no reply?
  const explainInput = h('input', { id: 'explain-event', placeholder: t('detail.eventIdPlaceholder') });
  const explainOut = h('div', { id: 'explain-result', 'aria-live': 'polite' });
  const explain = async () => {
    if (!explainInput.value.trim()) return;
    const r = await api('GET', `${path}/explain?eventId=${encodeURIComponent(explainInput.value.trim())}`);
    put(explainOut, h('p', { class: `verdict verdict-${r.outcome}` },
      h('strong', {}, t(`outcome.${r.outcome}`)), ' ', r.summary));
  };

  // Actions.
  const toggle = h('button', { type: 'button', id: 'toggle-enabled', onclick: async (e) => {
    const verb = integration.enabled ? 'disable' : 'enable';
    const updated = await act(e.target, () => api('POST', `${path}/${verb}`), t(`detail.${verb}d`));
    integration.enabled = updated.enabled;
    toggle.textContent = integration.enabled ? t('detail.disable') : t('detail.enable');
    refreshStatus();
  } }, integration.enabled ? t('detail.disable') : t('detail.enable'));
  const testOut = h('p', { id: 'test-result', 'aria-live': 'polite' });
  const testButton = h('button', { type: 'button', id: 'test-credentials', onclick: async (e) => {
    testOut.textContent = t('detail.testing');
    testOut.className = '';
    const r = await act(e.target, () => api('POST', `${path}/test`));
    testOut.className = r.ok ? 'ok' : 'error';
    testOut.textContent = r.ok
      ? `${t('detail.testOk')}${r.account ? ` ${t('detail.testAccount', { account: r.account })}` : ''} ${r.message}`
      : `${t(`probe.${r.failure}`)} ${r.message}`;
    refreshStatus();
  } }, t('detail.test'));
  const restart = integration.mode === 'long_connection'
    ? h('button', { type: 'button', id: 'restart', onclick: (e) =>
      act(e.target, () => api('POST', `${path}/restart`), t('detail.restarted')) }, t('detail.restart'))
    : null;
  const remove = h('button', { type: 'button', class: 'danger', id: 'delete-integration', onclick: async (e) => {
    const impact = await act(e.target, () => api('GET', `${path}/impact`));
    const items = [
      impact.trigger ? t('delete.trigger', { agent: impact.agent.name }) : t('delete.noTrigger'),
      t('delete.conversations', { n: impact.openConversations, more: impact.moreConversations ? '+' : '' }),
      t('delete.events'),
    ];
    const choice = await dialog(t('delete.title', { name: integration.name }),
      h('div', { id: 'impact' }, h('p', {}, t('delete.intro')), h('ul', {}, items.map((i) => h('li', {}, i)))),
      [{ label: t('common.cancel'), value: false }, { label: t('delete.confirm'), value: true, class: 'danger' }]);
    if (!choice) return;
    await act(null, () => api('DELETE', path), t('delete.done'));
    go('integrations');
  } }, t('detail.delete'));

  // Credentials form.
  const credError = h('p', { class: 'error', role: 'alert' });
  const credForm = h('form', { class: 'form', id: 'credentials-form', onsubmit: async (e) => {
    e.preventDefault();
    credError.textContent = '';
    try {
      await api('PATCH', path, { credentials: readCredentials(credForm, modeSpec.fields) });
      toast(t('detail.saved'));
    } catch (err) {
      credError.textContent = err.message;
    }
  } },
  credentialFields(integration.platform, integration.mode, modeSpec.fields, integration.credentials),
  credError,
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'save-credentials' }, t('detail.save'))));

  const callback = integration.callbackUrl ? h('section', { class: 'card', id: 'callback' },
    h('h2', {}, t('detail.callback')),
    h('div', { class: 'copy-row' }, h('code', { id: 'callback-url' }, integration.callbackUrl),
      h('button', { type: 'button', class: 'small', onclick: () => copy(integration.callbackUrl) }, t('common.copy'))),
    h('p', { class: 'hint' }, platformGuide(integration.platform, integration.mode))) : null;

  const login = integration.platform === 'wechat' ? qrLoginSection(path, refreshStatus) : null;

  add(main, 
    h('p', { class: 'crumbs' }, h('a', { href: '#/integrations' }, t('nav.integrations')), ' / '),
    h('div', { class: 'page-head' }, heading, chipBox),
    h('p', { class: 'muted' }, platformName(integration.platform), ' · ', t(`mode.${integration.mode}`), ' · ',
      h('span', { class: 'mono' }, integration.id)),
    h('div', { class: 'actions toolbar' }, toggle, restart, testButton, remove),
    testOut,
    summary,
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, t('detail.status')), runtime),
      h('section', { class: 'card' }, h('h2', {}, t('detail.volume')), chart, latency)),
    login, callback,
    h('section', { class: 'card' }, h('h2', {}, t('detail.credentials')), credForm),
    h('section', { class: 'card' }, h('h2', {}, t('detail.why')),
      h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); explain(); } },
        h('label', { for: 'explain-event' }, t('detail.eventId')), explainInput,
        h('button', { type: 'submit', id: 'explain' }, t('detail.explain'))),
      explainOut),
    h('section', { class: 'card' }, h('div', { class: 'section-head' }, h('h2', {}, t('detail.log')),
      h('label', { class: 'check' }, paused, t('detail.pause'))), log),
    h('section', { class: 'card' }, h('h2', {}, t('detail.conversations')), conversations));
  await Promise.all([refreshStatus(), refreshMetrics(), refreshConversations()]);
  every(3000, refreshStatus);
  every(5000, refreshMetrics);
  every(5000, refreshConversations);
}

/** 24 hourly bars of received (light) and replied (dark) messages, as SVG. */
function volumeChart(hours) {
  const max = Math.max(1, ...hours.map((b) => Math.max(b.received, b.replied)));
  const w = 24 * 12;
  const hgt = 80;
  const bars = hours.flatMap((b, i) => {
    const x = i * 12;
    const rh = Math.round((b.received / max) * hgt);
    const ph = Math.round((b.replied / max) * hgt);
    const label = t('detail.hourBar', { hour: new Date(b.start).getHours(), received: b.received, replied: b.replied, errors: b.errors });
    return [h('g', {}, h('title', {}, label),
      h('rect', { x, y: hgt - rh, width: 5, height: rh, class: 'bar-received' }),
      h('rect', { x: x + 5, y: hgt - ph, width: 5, height: ph, class: 'bar-replied' }),
      b.errors ? h('rect', { x, y: hgt + 2, width: 10, height: 3, class: 'bar-error' }) : null)];
  });
  const total = hours.reduce((s, b) => s + b.received, 0);
  return h('figure', {},
    h('svg', { viewBox: `0 0 ${w} ${hgt + 6}`, role: 'img', 'aria-label': t('detail.chartLabel', { n: total }),
      class: 'bars', preserveAspectRatio: 'none' }, bars),
    h('figcaption', {}, h('span', { class: 'key key-received' }), t('detail.received'), ' ',
      h('span', { class: 'key key-replied' }), t('detail.replied'), ' · ',
      h('span', { id: 'received-total' }, t('detail.total', { n: total }))));
}

/** WeChat's QR login: show the code, follow the scan until confirmed. */
function qrLoginSection(path, onConfirmed) {
  const box = h('div', { id: 'qr-login' });
  const statusLine = h('p', { 'aria-live': 'polite', id: 'qr-status' });
  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      for (let i = 0; i < 120; i += 1) {
        const s = await api('GET', `${path}/login`);
        statusLine.textContent = `${t(`qr.${s.status}`)} ${s.message}`;
        if (['confirmed', 'expired', 'failed', 'already_bound', 'verify_code_blocked'].includes(s.status)) {
          if (s.status === 'confirmed') { put(box); onConfirmed(); }
          break;
        }
        if (s.status === 'need_verifycode') { showCodeForm(); break; }
      }
    } finally {
      polling = false;
    }
  };
  const showCode = (r) => {
    put(box, r.qrcodeSvg
      ? h('img', { class: 'qr', alt: t('qr.alt'), src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(r.qrcodeSvg)}` })
      : null);
    statusLine.textContent = r.message;
  };
  const showCodeForm = () => {
    const code = h('input', { id: 'verify-code', inputmode: 'numeric', autocomplete: 'one-time-code' });
    add(box, h('form', { class: 'inline', onsubmit: async (e) => {
      e.preventDefault();
      const r = await act(null, () => api('POST', `${path}/login`, { verifyCode: code.value }));
      statusLine.textContent = r.message;
      poll();
    } }, h('label', { for: 'verify-code' }, t('qr.code')), code, h('button', { type: 'submit' }, t('qr.send'))));
  };
  return h('section', { class: 'card' }, h('h2', {}, t('qr.title')), h('p', { class: 'hint' }, t('qr.intro')),
    h('button', { type: 'button', class: 'primary', id: 'start-login', onclick: async (e) => {
      const r = await act(e.target, () => api('POST', `${path}/login`));
      showCode(r);
      poll();
    } }, t('qr.start')), box, statusLine);
}

// ---------------------------------------------------------------------------------------
// Agents

function agentFields(kind, values) {
  return AGENT_KINDS[kind].map(([name, secret, required]) => {
    const id = `agent-${name}`;
    const input = name === 'system_prompt'
      ? h('textarea', { id, name, rows: 3 }, (values && values[name]) || '')
      : h('input', {
        id, name, type: secret ? 'password' : (NUMBER_FIELDS.includes(name) ? 'number' : 'text'),
        autocomplete: 'off', spellcheck: 'false', required: required && !(values && secret),
        value: values && !secret && values[name] !== undefined ? values[name] : '',
        placeholder: values && secret && values[name] ? '***' : '',
      });
    return h('div', { class: 'field' },
      h('label', { for: id }, name, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null,
        secret ? h('span', { class: 'tag' }, t('form.secret')) : null),
      input, h('p', { class: 'hint' }, t(`agentField.${name}`), secret && values ? ` ${t('form.keepSecret')}` : ''));
  });
}

function readAgentConfig(form, kind) {
  const out = {};
  for (const [name] of AGENT_KINDS[kind]) {
    const el = form.querySelector(`[name="${name}"]`);
    const value = el ? el.value.trim() : '';
    if (value !== '') out[name] = NUMBER_FIELDS.includes(name) ? Number(value) : value;
  }
  return out;
}

async function agentsPage(main, args) {
  if (args[0] === 'new') return agentFormPage(main, null);
  if (args[0]) return agentFormPage(main, args[0]);
  const agents = await api('GET', '/agents');
  add(main, h('div', { class: 'page-head' }, title(t('nav.agents')),
    h('a', { class: 'button primary', href: '#/agents/new', id: 'new-agent' }, t('agents.new'))));
  if (!agents.length) {
    add(main, empty(t('agents.none')));
    return;
  }
  add(main, h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'agents' },
    h('thead', {}, h('tr', {}, ['name', 'kind', 'endpoint', 'updated'].map((c) => h('th', { scope: 'col' }, t(`agents.col.${c}`))))),
    h('tbody', {}, agents.map((a) => h('tr', {},
      h('td', { 'data-label': t('agents.col.name') }, h('a', { href: `#/agents/${encodeURIComponent(a.id)}` }, a.name)),
      h('td', { 'data-label': t('agents.col.kind') }, t(`kind.${a.kind}`)),
      h('td', { class: 'mono', 'data-label': t('agents.col.endpoint') }, a.config.base_url || a.config.url || ''),
      h('td', { 'data-label': t('agents.col.updated') }, ago(a.updatedAt))))))));
}

async function agentFormPage(main, id) {
  const agent = id ? await api('GET', `/agents/${encodeURIComponent(id)}`) : null;
  const name = h('input', { id: 'agent-name', required: true, maxlength: 200, value: agent ? agent.name : '' });
  const kind = h('select', { id: 'agent-kind', disabled: !!agent },
    Object.keys(AGENT_KINDS).map((k) => h('option', { value: k, selected: agent && agent.kind === k }, t(`kind.${k}`))));
  const fields = h('div');
  const drawFields = () => put(fields, agentFields(kind.value, agent && agent.config));
  kind.addEventListener('change', drawFields);
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card form', id: 'agent-form', onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const config = readAgentConfig(form, kind.value);
      if (agent) {
        await api('PATCH', `/agents/${encodeURIComponent(agent.id)}`, { name: name.value, config });
        toast(t('detail.saved'));
      } else {
        const created = await api('POST', '/agents', { name: name.value, kind: kind.value, config });
        toast(t('agents.created'));
        go(`agents/${encodeURIComponent(created.id)}`);
      }
    } catch (err) {
      error.textContent = err.message;
    }
  } },
  h('div', { class: 'field' }, h('label', { for: 'agent-name' }, t('form.name')), name),
  h('div', { class: 'field' }, h('label', { for: 'agent-kind' }, t('agents.col.kind')), kind),
  fields, error,
  h('div', { class: 'actions' },
    agent ? h('button', { type: 'button', class: 'danger', id: 'delete-agent', onclick: async (e) => {
      const ok = await dialog(t('agents.deleteTitle', { name: agent.name }), h('p', {}, t('agents.deleteIntro')),
        [{ label: t('common.cancel'), value: false }, { label: t('delete.confirm'), value: true, class: 'danger' }]);
      if (!ok) return;
      await act(e.target, () => api('DELETE', `/agents/${encodeURIComponent(agent.id)}`), t('delete.done'));
      go('agents');
    } }, t('detail.delete')) : null,
    h('button', { type: 'submit', class: 'primary', id: 'save-agent' }, agent ? t('detail.save') : t('agents.create'))));
  drawFields();
  add(main, h('p', { class: 'crumbs' }, h('a', { href: '#/agents' }, t('nav.agents')), ' / '),
    title(agent ? agent.name : t('agents.new')), form, agent ? tryAgent(agent) : null);
}

/** "Try it": one message, the answer streamed as it arrives. */
function tryAgent(agent) {
  const text = h('textarea', { id: 'try-text', rows: 2, required: true, maxlength: 4000 });
  const answer = h('div', { class: 'answer', id: 'try-answer', 'aria-live': 'polite' });
  const meta = h('p', { class: 'muted', id: 'try-meta' });
  const form = h('form', { class: 'form', onsubmit: async (e) => {
    e.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    answer.textContent = '';
    meta.textContent = t('try.waiting');
    const started = performance.now();
    let first = null;
    try {
      await apiStream(`/agents/${encodeURIComponent(agent.id)}/try`, { text: text.value }, (line) => {
        if (line.delta) {
          if (first === null) first = performance.now() - started;
          answer.textContent += line.delta;
        } else if (line.done) {
          if (!answer.textContent) answer.textContent = line.text;
          meta.textContent = t('try.done', { first: Math.round(first ?? performance.now() - started), total: Math.round(performance.now() - started) });
        } else if (line.error) {
          meta.textContent = '';
          add(answer, h('p', { class: 'error' }, t('try.failed'), ' ', line.error));
        }
      });
    } catch (err) {
      meta.textContent = '';
      add(answer, h('p', { class: 'error' }, err.message));
    } finally {
      button.disabled = false;
    }
  } },
  h('div', { class: 'field' }, h('label', { for: 'try-text' }, t('try.message')), text),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'try-send' }, t('try.send'))));
  return h('section', { class: 'card' }, h('h2', {}, t('try.title')), form, answer, meta);
}

// ---------------------------------------------------------------------------------------
// Triggers

async function triggersPage(main) {
  const [integrations, agents, triggers] = await Promise.all([
    api('GET', '/integrations'), api('GET', '/agents'), api('GET', '/triggers')]);
  add(main, title(t('nav.triggers')), h('p', { class: 'muted' }, t('triggers.intro')));
  if (!integrations.length) {
    add(main, empty(t('integrations.none')));
    return;
  }
  const byIntegration = Object.fromEntries(triggers.map((tr) => [tr.integrationId, tr]));
  add(main, h('div', { class: 'cards', id: 'triggers' }, integrations.map((i) => triggerCard(i, agents, byIntegration[i.id]))));
}

function triggerCard(integration, agents, trigger) {
  const key = integration.id;
  const agent = h('select', { id: `agent-${key}`, name: 'agent' },
    h('option', { value: '' }, t('triggers.pickAgent')),
    agents.map((a) => h('option', { value: a.id, selected: trigger && trigger.agent.id === a.id }, a.name)));
  const timeout = h('input', { type: 'number', min: 60, max: 604800, name: 'timeout', id: `timeout-${key}`,
    value: trigger ? trigger.sessionTimeoutSeconds : 3600 });
  const window_ = h('input', { type: 'number', min: 0, max: 900, name: 'window', id: `window-${key}`,
    value: trigger ? trigger.summaryWindowSeconds : 0 });
  const policy = h('select', { name: 'policy', id: `policy-${key}` }, ['mention_only', 'all_messages'].map((p) =>
    h('option', { value: p, selected: trigger && trigger.groupPolicy === p }, t(`policy.${p}`))));
  const busy = h('select', { name: 'busy', id: `busy-${key}` }, ['queue', 'interrupt', 'collect'].map((b) =>
    h('option', { value: b, selected: (trigger ? trigger.busyPolicy : 'queue') === b }, t(`busy.${b}`))));
  const access = (trigger && trigger.access) || { allowedUsers: [], allowedChats: [], refusal: 'reply_once' };
  const users = h('textarea', { id: `users-${key}`, name: 'users', rows: 2, spellcheck: 'false',
    placeholder: t('triggers.everyone') }, access.allowedUsers.join('\n'));
  const chats = h('textarea', { id: `chats-${key}`, name: 'chats', rows: 2, spellcheck: 'false',
    placeholder: t('triggers.everyGroup') }, access.allowedChats.join('\n'));
  const refusal = h('select', { id: `refusal-${key}`, name: 'refusal' }, ['reply_once', 'silent'].map((r) =>
    h('option', { value: r, selected: access.refusal === r }, t(`refusal.${r}`))));
  const lines = (el) => el.value.split('\n').map((l) => l.trim()).filter(Boolean);
  const switchable = new Set(((trigger && trigger.agents) || []).map((a) => a.id));
  const others = h('select', { id: `others-${key}`, name: 'others', multiple: true, size: Math.min(4, Math.max(2, agents.length)) },
    agents.map((a) => h('option', { value: a.id, selected: switchable.has(a.id) }, a.name)));
  const state = h('p', { class: 'muted' }, trigger
    ? t(trigger.enabled ? 'triggers.published' : 'triggers.paused', { agent: trigger.agent.name })
    : t('triggers.unpublished'));
  const publish = async (button, takeover) => {
    if (!agent.value) { toast(t('triggers.pickAgent'), 'error'); return; }
    const body = {
      agentId: agent.value,
      sessionTimeoutSeconds: Number(timeout.value),
      summaryWindowSeconds: Number(window_.value),
      groupPolicy: policy.value,
      busyPolicy: busy.value,
      allowedUsers: lines(users),
      allowedChats: lines(chats),
      refusal: refusal.value,
      agents: [...others.selectedOptions].map((o) => o.value).filter((id) => id !== agent.value),
      takeover,
    };
    try {
      const saved = await act(button, () => api('PUT', `/triggers/${encodeURIComponent(key)}`, body), t('triggers.done'));
      state.textContent = t('triggers.published', { agent: saved.agent.name });
    } catch (err) {
      if (err.status !== 409 || !err.currentAgent) return;
      const choice = await dialog(t('triggers.conflictTitle'),
        h('p', { id: 'conflict-text' }, t('triggers.conflict', { integration: integration.name, agent: err.currentAgent.name })),
        [{ label: t('common.cancel'), value: false }, { label: t('triggers.takeover'), value: true, class: 'primary' }]);
      if (choice) await publish(button, true);
    }
  };
  return h('section', { class: 'card trigger', dataset: { integration: key } },
    h('h2', {}, h('a', { href: `#/integrations/${encodeURIComponent(key)}` }, integration.name),
      h('span', { class: 'muted' }, ` · ${platformName(integration.platform)}`)),
    state,
    h('div', { class: 'grid-form' },
      h('label', { for: `agent-${key}` }, t('triggers.agent')), agent,
      h('label', { for: `timeout-${key}` }, t('triggers.timeout')), timeout,
      h('label', { for: `window-${key}` }, t('triggers.window')), window_,
      h('label', { for: `policy-${key}` }, t('triggers.policy')), policy,
      h('label', { for: `busy-${key}` }, t('triggers.busy')), busy,
      h('label', { for: `users-${key}` }, t('triggers.users')), users,
      h('label', { for: `chats-${key}` }, t('triggers.chats')), chats,
      h('label', { for: `refusal-${key}` }, t('triggers.refusal')), refusal,
      h('label', { for: `others-${key}` }, t('triggers.others')), others),
    h('div', { class: 'actions' },
      trigger ? h('button', { type: 'button', class: 'unpublish', onclick: async (e) => {
        await act(e.target, () => api('DELETE', `/triggers/${encodeURIComponent(key)}`), t('triggers.removed'));
        state.textContent = t('triggers.unpublished');
      } }, t('triggers.unpublish')) : null,
      h('button', { type: 'button', class: 'primary publish', onclick: (e) => publish(e.target, false) }, t('triggers.publish'))));
}

// ---------------------------------------------------------------------------------------
// Dead letters

async function deadLettersPage(main) {
  add(main, title(t('nav.deadLetters')), h('p', { class: 'muted' }, t('dead.intro')));
  const box = h('div', { id: 'dead-letters' });
  add(main, box);
  const load = async () => {
    const letters = await api('GET', '/dead-letters');
    if (!letters.length) {
      put(box, empty(t('dead.none')));
      return;
    }
    put(box, h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, ['integration', 'event', 'reason', 'attempts', 'failed', ''].map((c) =>
        h('th', { scope: 'col' }, c ? t(`dead.col.${c}`) : '')))),
      h('tbody', {}, letters.map((l) => h('tr', {},
        h('td', { 'data-label': t('dead.col.integration') },
          h('a', { href: `#/integrations/${encodeURIComponent(l.integrationId)}` }, l.integrationName || l.integrationId)),
        h('td', { class: 'mono', 'data-label': t('dead.col.event') }, l.eventId || t('dead.timer')),
        h('td', { 'data-label': t('dead.col.reason') }, l.reason),
        h('td', { 'data-label': t('dead.col.attempts') }, l.receiveCount),
        h('td', { 'data-label': t('dead.col.failed') }, ago(l.failedAt)),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'small', onclick: async (e) => {
            await act(e.target, () => api('POST', `/dead-letters/${encodeURIComponent(l.id)}/redrive`), t('dead.redriven'));
            load();
          } }, t('dead.redrive')),
          h('button', { type: 'button', class: 'small danger', onclick: async (e) => {
            await act(e.target, () => api('DELETE', `/dead-letters/${encodeURIComponent(l.id)}`), t('dead.discarded'));
            load();
          } }, t('dead.discard')))))))));
  };
  await load();
}

// ---------------------------------------------------------------------------------------
// API keys and organizations

function keysSection(orgId) {
  const box = h('div', { class: 'keys' });
  const load = async () => {
    const keys = await api('GET', `/organizations/${encodeURIComponent(orgId)}/api-keys`);
    put(box, h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, ['name', 'id', 'created', ''].map((c) => h('th', { scope: 'col' }, c ? t(`keys.col.${c}`) : '')))),
      h('tbody', {}, keys.map((k) => h('tr', {},
        h('td', { 'data-label': t('keys.col.name') }, k.name,
          session.current.keyId === k.id ? h('span', { class: 'tag' }, t('keys.current')) : null),
        h('td', { class: 'mono', 'data-label': t('keys.col.id') }, k.id),
        h('td', { 'data-label': t('keys.col.created') }, ago(k.createdAt)),
        h('td', {}, h('button', { type: 'button', class: 'small danger', onclick: async (e) => {
          const ok = await dialog(t('keys.revokeTitle', { name: k.name }), h('p', {}, t('keys.revokeIntro')),
            [{ label: t('common.cancel'), value: false }, { label: t('keys.revoke'), value: true, class: 'danger' }]);
          if (!ok) return;
          await act(e.target, () => api('DELETE', `/organizations/${encodeURIComponent(orgId)}/api-keys/${encodeURIComponent(k.id)}`), t('keys.revoked'));
          load();
        } }, t('keys.revoke')))))))));
  };
  const name = h('input', { required: true, maxlength: 200, id: `key-name-${orgId}`, placeholder: t('keys.namePlaceholder') });
  const form = h('form', { class: 'inline', onsubmit: async (e) => {
    e.preventDefault();
    const issued = await act(form.querySelector('button'), () => api('POST', `/organizations/${encodeURIComponent(orgId)}/api-keys`, { name: name.value }));
    name.value = '';
    showOnce(issued.token);
    load();
  } }, h('label', { for: `key-name-${orgId}` }, t('keys.name')), name, h('button', { type: 'submit', class: 'primary' }, t('keys.create')));
  load();
  return h('div', {}, form, box);
}

/** Shows a new key once, with a copy button (and, for a new organization, a way in). */
async function showOnce(token, offerSignIn) {
  const buttons = [{ label: t('keys.stored'), value: false, class: offerSignIn ? '' : 'primary' }];
  if (offerSignIn) buttons.push({ label: t('orgs.signInAs'), value: true, class: 'primary' });
  const signIn = await dialog(t('keys.onceTitle'), h('div', {}, h('p', {}, t('keys.once')),
    h('div', { class: 'copy-row' }, h('code', { id: 'new-key' }, token),
      h('button', { type: 'button', class: 'small', onclick: () => copy(token) }, t('common.copy')))),
  buttons);
  if (signIn) {
    // The key goes straight into a new session; it is not kept in the page.
    session.current = await api('POST', '/session', { key: token });
    go('integrations');
  }
}

async function keysPage(main) {
  add(main, title(t('nav.keys')), h('p', { class: 'muted' }, t('keys.intro')), h('section', { class: 'card' }, keysSection(session.current.orgId)));
}

async function organizationsPage(main) {
  const orgs = await api('GET', '/organizations');
  const name = h('input', { required: true, maxlength: 200, id: 'org-name' });
  const form = h('form', { class: 'inline card', onsubmit: async (e) => {
    e.preventDefault();
    const created = await act(form.querySelector('button'), () => api('POST', '/organizations', { name: name.value }));
    put(main);
    await organizationsPage(main);
    showOnce(created.apiKey.token, true);
  } }, h('label', { for: 'org-name' }, t('orgs.name')), name, h('button', { type: 'submit', class: 'primary', id: 'create-org' }, t('orgs.create')));
  add(main, title(t('nav.organizations')), h('p', { class: 'muted' }, t('orgs.intro')), form,
    orgs.map((o) => h('section', { class: 'card' }, h('h2', {}, o.name, h('span', { class: 'muted mono' }, ` ${o.id}`)),
      h('details', {}, h('summary', {}, t('nav.keys')), keysSection(o.id)))));
}

export const routes = {
  integrations: integrationsPage,
  agents: agentsPage,
  triggers: triggersPage,
  'dead-letters': deadLettersPage,
  keys: keysPage,
  organizations: organizationsPage,
};
