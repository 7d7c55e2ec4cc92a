// imgate console: the shell (sign-in, navigation, language, the admin API client) and small
// DOM helpers. Pages live in pages.js. No framework and no build step: the files are served
// as they are, under a Content-Security-Policy that allows only same-origin scripts, so
// nothing here uses inline handlers, inline styles or parses strings as HTML.

import { t, lang, setLang, LANGS } from './i18n.js';
import { routes } from './pages.js';

// The admin API, relative to this page so a path prefix (an API Gateway stage) is kept.
const API = new URL('../api/admin/v1', document.baseURI).pathname;

/** The signed-in session: { kind, orgId, orgName, keyId, csrfToken, expiresAt }, or null. */
export const session = { current: null };

/** An error answer of the admin API. */
export class ApiError extends Error {
  constructor(status, body) {
    const detail = (body && body.error) || {};
    super(detail.message || `HTTP ${status}`);
    this.status = status;
    this.code = detail.code || 'http';
    this.currentAgent = detail.currentAgent || null;
  }
}

/** Calls the admin API with the session cookie (and the CSRF token on changes). */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && session.current) headers['x-csrf-token'] = session.current.csrfToken;
  const response = await fetch(API + path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && path !== '/session') {
    session.current = null;
    render();
    throw new ApiError(401, null);
  }
  if (response.status === 204 || response.status === 202) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Streams an NDJSON answer: calls `onLine` with each parsed line. */
export async function apiStream(path, body, onLine) {
  const response = await fetch(API + path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-csrf-token': session.current ? session.current.csrfToken : '',
    },
    credentials: 'same-origin',
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) onLine(JSON.parse(line));
    }
  }
}

/**
 * Builds an element: h('button', { class: 'primary', onclick: fn }, 'text', child, …).
 * Text is always set as text, never parsed as HTML.
 */
export function h(tag, attrs, ...children) {
  const svg = ['svg', 'rect', 'line', 'text', 'g', 'title', 'path'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function nodes(children) {
  return children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
}

/** Appends children to `el`, flattening arrays and skipping null, undefined and false. */
export function add(el, ...children) {
  el.append(...nodes(children));
}

/** Replaces the children of `el`, as add() does. */
export function put(el, ...children) {
  el.replaceChildren(...nodes(children));
}

/** A time as "5 min ago" / "3 h ago", with the exact time as a tooltip. */
export function ago(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  let text;
  if (seconds < 60) text = t('time.seconds', { n: Math.floor(seconds) });
  else if (seconds < 3600) text = t('time.minutes', { n: Math.floor(seconds / 60) });
  else if (seconds < 86400) text = t('time.hours', { n: Math.floor(seconds / 3600) });
  else text = t('time.days', { n: Math.floor(seconds / 86400) });
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString(lang()) }, text);
}

/** Shows a short message at the bottom of the page. */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/**
 * A modal dialog (native <dialog>, so focus and Escape work): resolves with the value of the
 * button pressed, or null when closed.
 */
export function dialog(title, body, buttons) {
  return new Promise((resolve) => {
    const d = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' },
      h('h2', { id: 'dialog-title' }, title),
      h('div', { class: 'dialog-body' }, body),
      h('div', { class: 'actions' }, buttons.map((b) => h('button', {
        type: 'button',
        class: b.class || '',
        onclick: () => { d.close(); resolve(b.value); },
      }, b.label))));
    d.addEventListener('close', () => { d.remove(); resolve(null); });
    document.body.append(d);
    d.showModal();
  });
}

/** Copies text and says so. */
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('common.copied'));
  } catch {
    toast(t('common.copyFailed'), 'error');
  }
}

/** Runs an API action from a button: disables it meanwhile, shows errors as toasts. */
export async function act(button, action, done) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    if (done) toast(done);
    return result;
  } catch (error) {
    if (error.status !== 401) toast(error.message, 'error');
    throw error;
  } finally {
    if (button) button.disabled = false;
  }
}

// Timers a page starts (refresh, live tail) end when the page is left.
const timers = new Set();

/** Calls `fn` every `ms` while the current page is shown. */
export function every(ms, fn) {
  const id = setInterval(() => { if (!document.hidden) fn(); }, ms);
  timers.add(id);
}

function stopTimers() {
  for (const id of timers) clearInterval(id);
  timers.clear();
}

/** Goes to a console route, e.g. go('integrations/int_…'). */
export function go(route) {
  location.hash = `#/${route}`;
}

function navigation() {
  const s = session.current;
  const links = s.kind === 'bootstrap'
    ? [['organizations', t('nav.organizations')]]
    : [
      ['integrations', t('nav.integrations')],
      ['agents', t('nav.agents')],
      ['triggers', t('nav.triggers')],
      ['dead-letters', t('nav.deadLetters')],
      ['keys', t('nav.keys')],
    ];
  const current = location.hash.replace(/^#\//, '').split('/')[0];
  return h('nav', { 'aria-label': t('nav.label') },
    links.map(([route, label]) => h('a', {
      href: `#/${route}`,
      'aria-current': current === route ? 'page' : null,
    }, label)));
}

function languageSwitch() {
  return h('label', { class: 'lang' },
    h('span', { class: 'sr-only' }, t('nav.language')),
    h('select', {
      id: 'language',
      onchange: (e) => { setLang(e.target.value); render(); },
    }, LANGS.map(([code, name]) => h('option', { value: code, selected: lang() === code }, name))));
}

function header() {
  const s = session.current;
  return h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/' }, h('img', { src: 'icon.svg', alt: '' }), 'imgate'),
    navigation(),
    h('div', { class: 'who' },
      h('span', { class: 'org', title: s.orgId || '' }, s.kind === 'bootstrap' ? t('nav.bootstrap') : s.orgName),
      languageSwitch(),
      h('button', { type: 'button', id: 'sign-out', class: 'link', onclick: signOut }, t('nav.signOut'))));
}

async function signOut() {
  await api('DELETE', '/session').catch(() => null);
  session.current = null;
  go('');
  render();
}

function signInPage(main) {
  document.title = `${t('signin.title')} · imgate`;
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  const key = h('input', {
    id: 'key', name: 'key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false',
  });
  const form = h('form', { class: 'card signin', onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      session.current = await api('POST', '/session', { key: key.value });
      key.value = '';
      render();
    } catch (err) {
      error.textContent = err.status === 401 ? t('signin.wrongKey') : err.message;
    }
  } },
  h('h1', {}, h('img', { src: 'icon.svg', alt: '' }), 'imgate'),
  h('p', { class: 'muted' }, t('signin.intro')),
  h('label', { for: 'key' }, t('signin.key')),
  key,
  h('p', { class: 'hint' }, t('signin.keyHint')),
  error,
  h('button', { type: 'submit', class: 'primary', id: 'sign-in' }, t('signin.submit')),
  languageSwitch());
  main.append(form);
  key.focus();
}

/** Draws the current route. */
export async function render() {
  stopTimers();
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  const app = document.getElementById('app');
  const main = h('main', { id: 'main', tabindex: '-1' });
  if (!session.current) {
    app.replaceChildren(main);
    signInPage(main);
    return;
  }
  app.replaceChildren(header(), main);
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const fallback = session.current.kind === 'bootstrap' ? 'organizations' : 'integrations';
  const page = routes[parts[0]] || routes[fallback];
  try {
    await page(main, parts.slice(1));
  } catch (error) {
    if (error.status === 401) return;
    main.replaceChildren(h('div', { class: 'card error', role: 'alert' },
      h('h1', {}, t('common.failed')), h('p', {}, error.message)));
  }
}

async function start() {
  window.addEventListener('hashchange', render);
  try {
    session.current = await api('GET', '/session');
  } catch {
    session.current = null;
  }
  render();
}

start();
