// One WebSocket to scopehub, kept open like the client library does
// (net/ws_client.hpp):
//
//   closed --open()--> connecting --onopen--> open --lost--> waiting
//                          ^                                   |
//                          +-------- backoff timer ------------+
//   any state --close()--> closed
//
// Reconnects with exponential backoff and full jitter (0.5 s doubling to
// 30 s); the attempt counter resets once a connection stayed open for
// STABLE_AFTER_MS. Sends a client heartbeat every heartbeat_interval_ms
// the server announced, so an idle page is not closed as stale.
'use strict';

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30000;
const STABLE_AFTER_MS = 10000;

/// Delay before reconnect attempt `attempt` (0-based): uniform in [0, e]
/// with e = min(cap, base * 2^attempt).
export function backoffDelay(attempt, base = BACKOFF_BASE_MS,
                             cap = BACKOFF_CAP_MS) {
  const step = Math.min(cap, base * 2 ** Math.min(attempt, 16));
  return Math.round(Math.random() * step);
}

/// The URL actually dialled: `url` plus `token` and `client_id` query
/// parameters (browsers cannot set an Authorization header on a
/// WebSocket).
export function dialUrl(url, token, clientId) {
  const u = new URL(url);
  // encodeURIComponent, not URLSearchParams: a space must travel as %20,
  // which every server decodes, not as '+'.
  const extra = [];
  if (token && !u.searchParams.has('token'))
    extra.push(`token=${encodeURIComponent(token)}`);
  if (clientId && !u.searchParams.has('client_id'))
    extra.push(`client_id=${encodeURIComponent(clientId)}`);
  if (extra.length)
    u.search = [u.search.replace(/^\?/, ''), ...extra].filter(Boolean).join('&');
  return u.toString();
}

export class Connection {
  /// `handlers`: onState(state, detail), onFrame(text), onOpen(),
  /// onClose(code, reason), onSent(text). All optional.
  constructor(handlers) {
    this.h = handlers;
    this.ws = null;
    this.state = 'closed';
    this.attempt = 0;
    this.reconnects = 0;
    this.timer = null;
    this.heartbeat = null;
    this.openedAt = 0;
    this.target = null; // {url, token, clientId}
  }

  /// Starts (or restarts) connecting to `url`; keeps reconnecting until
  /// close().
  open(url, token, clientId) {
    this.close();
    this.target = {url, token, clientId};
    this.attempt = 0;
    this.reconnects = 0;
    this.dial();
  }

  /// Closes for good (no reconnect).
  close() {
    this.target = null;
    clearTimeout(this.timer);
    this.timer = null;
    this.stopHeartbeat();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000, 'closed by user'); } catch (_) { /* not open */ }
    }
    this.setState('closed', '');
  }

  /// Sends a JS object as one text frame; false when not open.
  send(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    const text = JSON.stringify(obj);
    this.ws.send(text);
    this.h.onSent?.(text);
    return true;
  }

  get isOpen() { return this.state === 'open'; }

  /// Called on the first server heartbeat: client heartbeats follow the
  /// server's interval.
  startHeartbeat(intervalMs) {
    this.stopHeartbeat();
    if (!(intervalMs > 0)) return;
    let n = 0;
    this.heartbeat = setInterval(() => {
      this.send({id: `hb-${Date.now().toString(36)}-${++n}`,
                 type: 'heartbeat', timestamp: Date.now(), payload: {}});
    }, intervalMs);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  // -- internals

  setState(state, detail) {
    this.state = state;
    this.h.onState?.(state, detail);
  }

  dial() {
    const t = this.target;
    if (!t) return;
    let ws;
    try {
      ws = new WebSocket(dialUrl(t.url, t.token, t.clientId));
    } catch (e) { // a malformed URL: no point in retrying
      this.target = null;
      this.setState('closed', `bad URL: ${e.message}`);
      return;
    }
    this.ws = ws;
    this.setState('connecting', t.url);
    ws.onopen = () => {
      this.openedAt = Date.now();
      this.setState('open', t.url);
      this.h.onOpen?.();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') this.h.onFrame?.(ev.data);
    };
    ws.onerror = () => { /* always followed by onclose */ };
    ws.onclose = (ev) => this.lost(ev.code, ev.reason);
  }

  lost(code, reason) {
    this.ws = null;
    this.stopHeartbeat();
    if (this.openedAt && Date.now() - this.openedAt >= STABLE_AFTER_MS)
      this.attempt = 0;
    this.openedAt = 0;
    this.h.onClose?.(code, reason);
    if (!this.target) return;
    const delay = backoffDelay(this.attempt++);
    const why = `closed ${code}${reason ? ` (${reason})` : ''}`;
    this.setState('waiting', `${why}; retry in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reconnects += 1;
      this.dial();
    }, delay);
  }
}
