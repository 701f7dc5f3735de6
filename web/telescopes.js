// The telescopes the server announced and their merged status, one
// topic per (telescope, category) as in protocol.md: a full update
// replaces the category's fields, a delta is merged into them. `seq` and
// `epoch` are tracked per topic so a reconnect can resume, and a gap or a
// delta of an unknown epoch asks for a fresh snapshot.
'use strict';

import {CATEGORIES} from './actions.js';

const UNITS = {
  ra: 'h', dec: '\u00b0', alt: '\u00b0', az: '\u00b0', temp: '\u00b0C',
  battery_capacity: '%', free_storage_mb: 'MB', exposure_ms: 'ms',
  focus_position: 'steps',
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function show(key, value) {
  if (value === null || value === undefined) return '\u2014';
  if (typeof value === 'number') {
    const v = Number.isInteger(value) ? String(value)
      : String(+value.toFixed(4));
    return UNITS[key] ? `${v} ${UNITS[key]}` : v;
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export class Fleet {
  /// `root`: the container of the cards; `hooks.subscribe(id, cats)` and
  /// `hooks.unsubscribe(id, cats)` are called by the card buttons;
  /// `hooks.changed()` after the set of telescopes changed.
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    this.scopes = new Map();
    this.dirty = new Set();
    this.frame = 0;
  }

  ids() { return [...this.scopes.keys()].sort(); }

  // -- frames

  discovered(info) {
    const s = this.scope(info.id);
    s.info = info;
    s.state = info.state ?? 'online';
    this.touch(info.id);
    this.hooks.changed?.();
  }

  lost(id, reason) {
    const s = this.scope(id);
    s.state = 'lost';
    s.reason = reason ?? '';
    this.touch(id);
    this.hooks.changed?.();
  }

  /// Applies one status_update; returns 'ok', 'stale' (an old or repeated
  /// seq, ignored) or 'resync' (merged, but a snapshot is needed: a gap
  /// in seq or a delta of another epoch).
  applyStatus(id, p) {
    const s = this.scope(id);
    const cat = p.category;
    const t = s.topics[cat] ?? (s.topics[cat] = {status: {}, seq: 0,
                                                  epoch: null, changes: []});
    let verdict = 'ok';
    const epoch = p.epoch ?? t.epoch;
    if (p.full_update) {
      t.status = {...p.status};
      t.resyncing = false;
    } else {
      if (epoch === t.epoch && p.seq <= t.seq) return 'stale';
      const want = t.seq + Math.max(1, p.conflated ?? 1);
      if (!t.resyncing && (t.seq === 0 || epoch !== t.epoch || p.seq !== want))
        verdict = 'resync';
      Object.assign(t.status, p.status);
    }
    t.seq = p.seq;
    t.epoch = epoch;
    t.full = Boolean(p.full_update);
    t.changes = p.full_update ? [] : (p.changes ?? Object.keys(p.status ?? {}));
    t.conflated = p.conflated ?? 0;
    t.at = Date.now();
    if (verdict === 'resync') t.resyncing = true;
    this.touch(id);
    return verdict;
  }

  /// {category: seq} of the topics of `id` seen so far, for resume_from.
  resumeFrom(id, cats) {
    const s = this.scopes.get(id);
    const out = {};
    for (const c of cats) if (s?.topics[c]?.seq) out[c] = s.topics[c].seq;
    return out;
  }

  /// The session's subscriptions after a change (command_response
  /// result.subscriptions): [{telescope_id, categories}].
  setSubscriptions(list) {
    const now = new Map();
    for (const sub of list ?? []) {
      if (!sub.telescope_id) continue;
      let cats = sub.categories ?? [];
      if (cats.includes('all') || cats.includes('status')) cats = CATEGORIES;
      now.set(sub.telescope_id, new Set(cats));
    }
    for (const [id, s] of this.scopes) {
      const next = now.get(id) ?? new Set();
      if ([...next].join() !== [...s.subscribed].join()) {
        s.subscribed = next;
        this.touch(id);
      }
    }
  }

  // -- view

  scope(id) {
    let s = this.scopes.get(id);
    if (!s) {
      s = {id, info: {id}, state: 'unknown', reason: '', topics: {},
           subscribed: new Set(), view: null};
      this.scopes.set(id, s);
    }
    return s;
  }

  touch(id) {
    this.dirty.add(id);
    if (!this.frame)
      this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const empty = this.root.querySelector('.empty');
    if (empty && this.scopes.size) empty.remove();
    for (const id of this.dirty) this.render(this.scopes.get(id));
    this.dirty.clear();
  }

  render(s) {
    if (!s.view) s.view = this.build(s);
    const v = s.view;
    const i = s.info;
    v.root.dataset.state = s.state;
    v.name.textContent = [i.name, i.model].filter(Boolean).join(' \u00b7 ');
    v.state.textContent = s.state + (s.reason ? ` (${s.reason})` : '');
    v.state.dataset.state = s.state;
    v.where.textContent = [i.host && `${i.host}:${i.port}`, i.node && `node ${i.node}`]
      .filter(Boolean).join(' \u00b7 ');
    v.subscribed.textContent = s.subscribed.size
      ? `subscribed: ${[...s.subscribed].join(', ')}` : 'not subscribed';
    for (const cat of CATEGORIES) this.renderCard(v.cards[cat], s, cat);
  }

  renderCard(card, s, cat) {
    const t = s.topics[cat];
    card.root.classList.toggle('subscribed', s.subscribed.has(cat));
    card.root.dataset.seq = t ? String(t.seq) : '0';
    card.seq.textContent = t
      ? `#${t.seq}${t.full ? ' snapshot' : ''}${t.conflated ? ` +${t.conflated} merged` : ''}`
      : (s.subscribed.has(cat) ? 'waiting' : '');
    card.seq.title = t?.epoch ? `epoch ${t.epoch}` : '';
    const rows = [];
    for (const [k, value] of Object.entries(t?.status ?? {})) {
      const dt = el('dt', null, k);
      const dd = el('dd', null, show(k, value));
      dd.dataset.field = k;
      if (t.changes.includes(k)) {
        dt.classList.add('changed');
        dd.classList.add('changed');
      }
      rows.push(dt, dd);
    }
    card.fields.replaceChildren(...rows);
  }

  build(s) {
    const id = s.id;
    const root = el('article', 'scope');
    root.dataset.testid = `telescope-${id}`;
    root.dataset.telescopeId = id;
    const head = el('header', 'row wrap');
    const title = el('b', 'scope-id', id);
    const name = el('span', 'muted');
    const state = el('span', 'badge');
    state.dataset.testid = `telescope-state-${id}`;
    const where = el('span', 'muted small');
    head.append(title, state, name, where);

    const subs = el('div', 'row wrap subs');
    const boxes = CATEGORIES.map((cat) => {
      const label = el('label', 'check');
      const box = el('input');
      box.type = 'checkbox';
      box.value = cat;
      box.checked = true;
      box.dataset.testid = `sub-${id}-${cat}`;
      label.append(box, ` ${cat}`);
      subs.append(label);
      return box;
    });
    const ticked = () => boxes.filter((b) => b.checked).map((b) => b.value);
    const sub = el('button', null, 'Subscribe');
    sub.type = 'button';
    sub.dataset.testid = `subscribe-${id}`;
    sub.onclick = () => this.hooks.subscribe(id, ticked());
    const unsub = el('button', null, 'Unsubscribe');
    unsub.type = 'button';
    unsub.dataset.testid = `unsubscribe-${id}`;
    unsub.onclick = () => this.hooks.unsubscribe(id, ticked());
    const subscribed = el('span', 'muted small');
    subscribed.dataset.testid = `subscribed-${id}`;
    subs.append(sub, unsub, subscribed);

    const grid = el('div', 'cards');
    const cards = {};
    for (const cat of CATEGORIES) {
      const card = el('section', 'card');
      card.dataset.testid = `status-${id}-${cat}`;
      card.dataset.category = cat;
      const h = el('h3', null, cat);
      const seq = el('span', 'muted small seq');
      h.append(' ', seq);
      const fields = el('dl');
      card.append(h, fields);
      grid.append(card);
      cards[cat] = {root: card, seq, fields};
    }
    root.append(head, subs, grid);
    // Keep the cards sorted by id.
    const after = [...this.root.children].find((c) =>
      c.dataset.telescopeId && c.dataset.telescopeId > id);
    this.root.insertBefore(root, after ?? null);
    return {root, name, state, where, subscribed, cards};
  }
}
