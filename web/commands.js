// Commands the page sent (control_command, subscribe, unsubscribe, raw
// frames), each shown with its command_progress notices and its final
// command_response or error, matched by the message id:
//
//   sent --progress accepted--> accepted --progress working--> working
//     \________________________________________________________\__--> ok | failed
'use strict';

const MAX_COMMANDS = 100;
const FINAL = new Set(['ok', 'failed']);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class CommandList {
  /// `list`: the <ol> (newest first); a <datalist id="pending-ids"> of
  /// the unanswered control commands is kept for the cancel form.
  constructor(list) {
    this.list = list;
    this.byId = new Map();
    this.pendingIds = document.createElement('datalist');
    this.pendingIds.id = 'pending-ids';
    document.body.append(this.pendingIds);
  }

  /// Starts tracking `frame` (already carrying its id); kind is the
  /// message type or 'raw'.
  track(frame, kind, action) {
    const c = {id: frame.id, kind, action,
               telescope: frame.telescope_id ?? null, frame,
               sentAt: Date.now(), rtt: null, state: 'sent', progress: [],
               response: null, error: null, view: null};
    this.byId.set(c.id, c);
    // Past the cap, forget the oldest finished ones.
    for (const [id, old] of this.byId) {
      if (this.byId.size <= MAX_COMMANDS) break;
      if (FINAL.has(old.state)) {
        old.view?.remove();
        this.byId.delete(id);
      }
    }
    this.changed(c);
    return c;
  }

  /// Control commands still waiting for their response (to send again
  /// after a reconnect).
  unanswered() {
    return [...this.byId.values()].filter((c) =>
      c.kind === 'control_command' && !FINAL.has(c.state));
  }

  progress(p) {
    const c = this.byId.get(p.command_id);
    if (!c) return;
    c.progress.push(p);
    if (!FINAL.has(c.state))
      c.state = p.state === 'accepted' ? 'accepted' : 'working';
    this.render(c);
  }

  /// A command_response frame; returns the command it settled.
  response(frame) {
    const p = frame.payload;
    let c = this.byId.get(p.command_id);
    if (!c) { // e.g. sent by this tab before a reload (same client_id)
      c = this.track({id: p.command_id, telescope_id: frame.telescope_id},
                     'unknown', '?');
    }
    c.response = p;
    this.settle(c, p.success ? 'ok' : 'failed');
    return c;
  }

  /// An error frame whose ref_id is one of ours (the frame was refused).
  error(p) {
    const c = p.ref_id ? this.byId.get(p.ref_id) : null;
    if (!c || FINAL.has(c.state)) return;
    c.error = p;
    // Subscribing to an unknown telescope keeps the subscription.
    this.settle(c, p.subscription_kept ? 'ok' : 'failed');
  }

  clearFinished() {
    for (const [id, c] of this.byId) {
      if (FINAL.has(c.state)) {
        c.view?.remove();
        this.byId.delete(id);
      }
    }
  }

  // -- internals

  settle(c, state) {
    c.state = state;
    c.rtt = Date.now() - c.sentAt;
    this.changed(c);
  }

  changed(c) {
    this.render(c);
    this.pendingIds.replaceChildren(...this.unanswered()
      .map((u) => new Option(u.action, u.id)));
  }

  render(c) {
    if (!c.view) {
      c.view = el('li');
      c.view.dataset.testid = `cmd-${c.id}`;
      c.view.dataset.commandId = c.id;
      this.list.prepend(c.view);
    }
    const v = c.view;
    v.className = `command ${c.state}`;
    v.dataset.state = c.state;
    const head = el('div', 'row wrap');
    const badge = el('span', 'badge', c.state);
    badge.dataset.state = c.state;
    badge.dataset.testid = `cmd-state-${c.id}`;
    head.append(badge, el('b', null, c.action),
                el('span', 'muted small', `${c.telescope ?? ''} id ${c.id}`));
    const lines = [head];
    if (c.progress.length) {
      const last = c.progress.at(-1);
      const p = el('div', 'small progress',
                   `progress x${c.progress.length}: ${last.state}` +
                   (last.detail ? ` ${JSON.stringify(last.detail)}` : ''));
      p.dataset.testid = `cmd-progress-${c.id}`;
      lines.push(p);
    }
    if (c.response || c.error) {
      const r = el('div', 'small result', resultText(c));
      r.dataset.testid = `cmd-result-${c.id}`;
      lines.push(r);
    }
    v.replaceChildren(...lines);
  }
}

function resultText(c) {
  if (c.error) return `error ${c.error.error_code}: ${c.error.message ?? ''}`;
  const p = c.response;
  const took = p.duration_ms !== undefined ? `${p.duration_ms} ms server, ` : '';
  const rtt = `${c.rtt} ms round trip`;
  const dup = p.duplicate ? ' (duplicate)' : '';
  if (p.success)
    return `ok${dup} (${took}${rtt}) ${JSON.stringify(p.result ?? null)}`;
  return `failed${dup} ${p.error_code}: ${p.error ?? ''} (${took}${rtt})` +
    (p.result ? ` ${JSON.stringify(p.result)}` : '');
}
