// The live frame log: newest at the bottom, at most CAP entries kept,
// a case-insensitive text filter and a pause that freezes the view
// (frames are still recorded meanwhile and shown on resume).
'use strict';

export const CAP = 500;

function clock(t) {
  const d = new Date(t);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}` +
    `.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export class FrameLog {
  /// `list`: the <ol>; `count`: an element for "n of m shown".
  constructor(list, count) {
    this.list = list;
    this.count = count;
    this.entries = [];
    this.filter = '';
    this.paused = false;
    this.unseen = 0;
  }

  /// dir: 'in', 'out' or 'sys'.
  add(dir, text) {
    const entry = {t: Date.now(), dir, text, lower: text.toLowerCase()};
    this.entries.push(entry);
    let dropped = false;
    if (this.entries.length > CAP) {
      this.entries.shift();
      dropped = true;
    }
    if (this.paused) {
      this.unseen += 1;
      this.updateCount();
      return;
    }
    if (dropped && this.list.firstChild && !this.filter) {
      this.list.firstChild.remove();
    } else if (dropped) {
      this.render(); // the dropped entry may or may not be shown
      return;
    }
    if (this.matches(entry)) this.append(entry);
    this.updateCount();
  }

  setFilter(text) {
    this.filter = text.trim().toLowerCase();
    this.render();
  }

  setPaused(paused) {
    this.paused = paused;
    if (!paused) {
      this.unseen = 0;
      this.render();
    } else {
      this.updateCount();
    }
  }

  clear() {
    this.entries = [];
    this.unseen = 0;
    this.render();
  }

  // -- internals

  matches(entry) {
    return !this.filter || entry.lower.includes(this.filter);
  }

  append(entry) {
    const stick = this.list.scrollHeight - this.list.scrollTop -
      this.list.clientHeight < 24;
    const li = document.createElement('li');
    li.className = `frame ${entry.dir}`;
    li.dataset.dir = entry.dir;
    const time = document.createElement('time');
    time.textContent = clock(entry.t);
    const arrow = document.createElement('span');
    arrow.className = 'dir';
    arrow.textContent = {in: '\u2190', out: '\u2192', sys: '\u2022'}[entry.dir];
    const body = document.createElement('code');
    body.textContent = entry.text;
    li.append(time, arrow, body);
    this.list.append(li);
    if (stick) this.list.scrollTop = this.list.scrollHeight;
  }

  render() {
    this.list.replaceChildren();
    for (const e of this.entries) if (this.matches(e)) this.append(e);
    this.list.scrollTop = this.list.scrollHeight;
    this.updateCount();
  }

  updateCount() {
    const shown = this.list.childElementCount;
    let text = `${shown} of ${this.entries.length} shown (last ${CAP} kept)`;
    if (this.paused) text += ` \u2014 paused, ${this.unseen} new`;
    this.count.textContent = text;
  }
}
