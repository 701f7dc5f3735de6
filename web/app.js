// scopehub debug page: wires the connection, the telescopes, commands,
// the frame log, feature flags and the metrics chart to the DOM.
// Settings (URL, token, subscriptions, filter, last action) live in
// localStorage under SETTINGS_KEY.
'use strict';

import {ACTIONS, CATEGORIES, readParams, renderParams} from './actions.js';
import {CommandList} from './commands.js';
import {Connection} from './connection.js';
import {FeaturePanel, fetchJson} from './features.js';
import {FrameLog} from './log.js';
import {MetricsSeries, drawChart} from './metrics.js';
import {Fleet} from './telescopes.js';

const SETTINGS_KEY = 'scopehub.debug.v1';
const METRICS_EVERY_MS = 2000;

const $ = (id) => document.getElementById(id);

// -- settings ------------------------------------------------------------------

function defaultUrl() {
  if (location.protocol !== 'http:' && location.protocol !== 'https:')
    return 'ws://127.0.0.1:8000/api/ws';
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws`;
}

function loadSettings() {
  let stored = {};
  try {
    stored = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') ?? {};
  } catch (_) { /* corrupt: start afresh */ }
  return {url: defaultUrl(), token: '', filter: '', subscriptions: {},
          action: 'get_status', telescope: '', ...stored};
}

const settings = loadSettings();

function saveSettings() {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
  } catch (_) { /* storage full or disabled: settings stay per page */ }
}

// One client_id per browser tab: the server's idempotency key across
// reconnects when there is no token (protocol.md, control_command).
const clientId = (() => {
  const key = 'scopehub.debug.client_id';
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = `debug-${Math.random().toString(36).slice(2, 10)}`;
    sessionStorage.setItem(key, id);
  }
  return id;
})();

const idPrefix = `w${Date.now().toString(36)}`;
let idCounter = 0;
const nextId = () => `${idPrefix}-${++idCounter}`;

// -- frame log -------------------------------------------------------------------

const log = new FrameLog($('log'), $('log-count'));

// -- telescopes ------------------------------------------------------------------

const fleet = new Fleet($('telescopes'), {
  subscribe: (id, cats) => subscribe(id, cats, false),
  unsubscribe: (id, cats) => subscribe(id, cats, true),
  changed: () => telescopesChanged(),
});

function telescopesChanged() {
  const ids = fleet.ids();
  $('telescope-count').textContent = String(ids.length);
  const select = $('cmd-telescope');
  const current = select.value || settings.telescope;
  select.replaceChildren(...ids.map((id) => new Option(id, id)));
  if (ids.includes(current)) select.value = current;
}

// -- commands --------------------------------------------------------------------

const commands = new CommandList($('commands'));

// -- connection ------------------------------------------------------------------

let sessionInfo = null;

const conn = new Connection({
  onState: (state, detail) => {
    const badge = $('conn-state');
    badge.dataset.state = state;
    badge.textContent = {closed: 'disconnected', connecting: 'connecting',
                         open: 'connected', waiting: 'reconnecting'}[state];
    $('reconnects').textContent = String(conn.reconnects);
    $('conn-detail').textContent = detail ?? '';
    $('connect').disabled = state !== 'closed';
    $('disconnect').disabled = state === 'closed';
    if (state !== 'open') $('session-info').textContent = '';
  },
  onOpen: () => {
    log.add('sys', `connected to ${settings.url}`);
    sessionInfo = null;
    resume();
    features.load();
  },
  onClose: (code, reason) => {
    log.add('sys', `closed ${code}${reason ? ` ${reason}` : ''}`);
  },
  onSent: (text) => log.add('out', text),
  onFrame: (text) => onFrame(text),
});

function onFrame(text) {
  log.add('in', text);
  let f;
  try {
    f = JSON.parse(text);
  } catch (_) {
    return;
  }
  const p = f.payload ?? {};
  switch (f.type) {
    case 'heartbeat':
      if (p.session_id && !sessionInfo) {
        sessionInfo = p;
        $('session-info').textContent =
          `session ${p.session_id} \u00b7 role ${p.role ?? '?'} \u00b7 ${p.server ?? ''}`;
        conn.startHeartbeat(p.heartbeat_interval_ms);
      }
      break;
    case 'telescope_discovered':
      if (p.telescope?.id) fleet.discovered(p.telescope);
      break;
    case 'telescope_lost':
      if (f.telescope_id) fleet.lost(f.telescope_id, p.reason);
      break;
    case 'status_update':
      if (f.telescope_id && fleet.applyStatus(f.telescope_id, p) === 'resync')
        resync(f.telescope_id, p.category);
      break;
    case 'command_progress':
      commands.progress(p);
      break;
    case 'command_response': {
      const c = commands.response(f);
      if (c.kind === 'subscribe' || c.kind === 'unsubscribe')
        fleet.setSubscriptions(p.result?.subscriptions);
      break;
    }
    case 'error':
      commands.error(p);
      break;
    default:
      break;
  }
}

/// After (re)connecting: the wanted subscriptions with resume_from, then
/// every unanswered command again with its id (the server answers a
/// repeated id once: protocol.md, idempotency).
function resume() {
  for (const [id, cats] of Object.entries(settings.subscriptions)) {
    if (!cats.length) continue;
    const payload = {subscription_types: cats};
    const from = fleet.resumeFrom(id, cats);
    if (Object.keys(from).length) payload.resume_from = from;
    send({id: nextId(), type: 'subscribe', telescope_id: id, payload},
         'subscribe', 'resubscribe');
  }
  for (const c of commands.unanswered()) {
    c.sentAt = Date.now();
    conn.send(c.frame);
  }
}

/// A gap or a new epoch in a topic: ask for a fresh snapshot.
function resync(id, category) {
  log.add('sys', `resync ${id}/${category}: gap or new epoch`);
  const payload = {subscription_types: [category]};
  send({id: nextId(), type: 'unsubscribe', telescope_id: id, payload},
       'unsubscribe', 'resync');
  send({id: nextId(), type: 'subscribe', telescope_id: id, payload},
       'subscribe', 'resync');
}

function send(frame, kind, action) {
  if (!conn.isOpen) throw new Error('not connected');
  frame.timestamp = Date.now();
  commands.track(frame, kind, action);
  conn.send(frame);
}

function subscribe(id, cats, unsubscribe) {
  if (!cats.length) return;
  const want = new Set(settings.subscriptions[id] ?? []);
  for (const c of cats) unsubscribe ? want.delete(c) : want.add(c);
  settings.subscriptions[id] = CATEGORIES.filter((c) => want.has(c));
  if (!settings.subscriptions[id].length) delete settings.subscriptions[id];
  saveSettings();
  const type = unsubscribe ? 'unsubscribe' : 'subscribe';
  try {
    send({id: nextId(), type, telescope_id: id,
          payload: {subscription_types: cats}}, type, type);
  } catch (e) {
    log.add('sys', `${type} ${id}: ${e.message}`);
  }
}

// -- HTTP: feature flags and metrics ----------------------------------------------

/// http(s)://host of the WebSocket URL in the form: the same server.
function httpBase() {
  try {
    const u = new URL($('ws-url').value.trim() || settings.url);
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
    return u.origin;
  } catch (_) {
    return location.origin;
  }
}

function authHeaders() {
  const token = $('token').value;
  return token ? {Authorization: `Bearer ${token}`} : {};
}

const features = new FeaturePanel(
  $('features'), $('features-error'),
  (method, path, body) => fetchJson(httpBase(), authHeaders(), method, path, body),
  (name, enabled) => log.add('sys', `feature ${name} = ${enabled}`));

const series = new MetricsSeries();
let scraping = false;

async function pollMetrics() {
  if (scraping) return; // a slow scrape: skip this tick
  scraping = true;
  const err = $('metrics-error');
  try {
    const res = await fetch(`${httpBase()}/metrics`,
                            {headers: authHeaders(), cache: 'no-store'});
    if (!res.ok) throw new Error(`GET /metrics: ${res.status} ${res.statusText}`);
    const point = series.add(await res.text());
    if (point) {
      $('metric-rate').textContent =
        point.rate === null ? '-' : point.rate.toFixed(1);
      const latency = series.windowLatencyMs();
      $('metric-latency').textContent =
        latency === null ? '-' : `${latency.toFixed(1)} ms`;
    }
    err.textContent = '';
  } catch (e) {
    series.gap();
    err.textContent = e.message.startsWith('GET') ? e.message
      : `GET /metrics: ${e.message}`;
  } finally {
    scraping = false;
  }
  drawChart($('chart'), series.points);
}

// -- command form -----------------------------------------------------------------

function fillActions() {
  const select = $('cmd-action');
  select.replaceChildren(...Object.keys(ACTIONS).map((a) => new Option(a, a)));
  select.value = ACTIONS[settings.action] ? settings.action : 'get_status';
  showAction();
}

function showAction() {
  const action = $('cmd-action').value;
  $('cmd-doc').textContent = ACTIONS[action]?.doc ?? '';
  renderParams($('cmd-params'), action);
}

function sendCommand(ev) {
  ev.preventDefault();
  const err = $('cmd-error');
  err.textContent = '';
  const action = $('cmd-action').value;
  const telescope = $('cmd-telescope').value;
  try {
    if (!telescope) throw new Error('no telescope selected');
    const payload = {action, parameters: readParams($('cmd-params'), action)};
    const timeout = $('cmd-timeout').value.trim();
    if (timeout) payload.timeout_ms = Number(timeout);
    if (!$('cmd-response-expected').checked) payload.response_expected = false;
    send({id: nextId(), type: 'control_command', telescope_id: telescope,
          payload}, 'control_command', action);
    settings.action = action;
    settings.telescope = telescope;
    saveSettings();
  } catch (e) {
    err.textContent = e.message;
  }
}

function sendRaw() {
  const err = $('raw-error');
  err.textContent = '';
  try {
    const frame = JSON.parse($('raw-json').value);
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame))
      throw new Error('a frame is a JSON object');
    if (!frame.id) frame.id = nextId();
    const kind = frame.type === 'control_command' || frame.type === 'subscribe'
      || frame.type === 'unsubscribe' ? frame.type : 'raw';
    if (frame.type === 'heartbeat') {
      if (!conn.send(frame)) throw new Error('not connected');
      return;
    }
    send(frame, kind, frame.payload?.action ?? frame.type ?? 'raw');
  } catch (e) {
    err.textContent = e.message;
  }
}

// -- start ---------------------------------------------------------------------------

function connect(ev) {
  ev?.preventDefault();
  settings.url = $('ws-url').value.trim() || defaultUrl();
  settings.token = $('token').value;
  saveSettings();
  conn.open(settings.url, settings.token, clientId);
}

function start() {
  $('ws-url').value = settings.url;
  $('token').value = settings.token;
  $('log-filter').value = settings.filter;
  log.setFilter(settings.filter);
  fillActions();

  $('connect-form').addEventListener('submit', connect);
  $('url-default').onclick = () => { $('ws-url').value = defaultUrl(); };
  $('disconnect').onclick = () => {
    conn.close();
    log.add('sys', 'disconnected by user');
  };
  $('cmd-action').onchange = showAction;
  $('command-form').addEventListener('submit', sendCommand);
  $('raw-send').onclick = sendRaw;
  $('commands-clear').onclick = () => commands.clearFinished();
  $('log-filter').oninput = () => {
    settings.filter = $('log-filter').value;
    saveSettings();
    log.setFilter(settings.filter);
  };
  $('log-pause').onclick = () => {
    const paused = !log.paused;
    log.setPaused(paused);
    $('log-pause').textContent = paused ? 'Resume' : 'Pause';
    $('log-pause').setAttribute('aria-pressed', String(paused));
  };
  $('log-clear').onclick = () => log.clear();
  $('features-reload').onclick = () => features.load();

  features.load();
  pollMetrics();
  setInterval(pollMetrics, METRICS_EVERY_MS);
  window.addEventListener('resize', () => drawChart($('chart'), series.points));
  document.body.dataset.ready = 'true';
}

start();
