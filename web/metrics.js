// Message rate and command latency from GET /metrics (Prometheus text),
// drawn on a canvas. Missing series are tolerated: a value that cannot
// be computed is a gap in the chart and "-" in the legend.
'use strict';

const MAX_POINTS = 60; // 2 minutes at one scrape every 2 s

/// Sums every sample of each wanted metric name over all label sets:
/// {name: sum}; names that never appear are absent.
export function parseMetrics(text, names) {
  const want = new Set(names);
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    // name{labels} value [timestamp]; label values may hold spaces, so
    // split at the closing brace when there is one.
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    let name;
    let rest;
    if (brace !== -1 && (space === -1 || brace < space)) {
      name = line.slice(0, brace);
      rest = line.slice(line.lastIndexOf('}') + 1);
    } else {
      name = line.slice(0, space);
      rest = line.slice(space);
    }
    if (!want.has(name)) continue;
    const value = Number(rest.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) out[name] = (out[name] ?? 0) + value;
  }
  return out;
}

const IN_TOTAL = 'scopehub_messages_in_total';
const DUR_SUM = 'scopehub_command_duration_seconds_sum';
const DUR_COUNT = 'scopehub_command_duration_seconds_count';

/// Turns successive scrapes into points {t, rate, latencyMs}: the
/// message rate and the mean latency of the commands finished between
/// two scrapes (null when unknown or when no command finished).
export class MetricsSeries {
  constructor() {
    this.prev = null;
    this.points = [];
  }

  add(text, now = Date.now()) {
    const cur = {t: now, ...parseMetrics(text, [IN_TOTAL, DUR_SUM, DUR_COUNT])};
    const p = this.prev;
    this.prev = cur;
    if (!p) return null;
    const dt = (cur.t - p.t) / 1000;
    const diff = (k) => (cur[k] === undefined || p[k] === undefined
      ? null : cur[k] - p[k]);
    const dIn = diff(IN_TOTAL);
    // A counter that went down means the server restarted: no rate.
    const rate = dIn === null || dIn < 0 || dt <= 0 ? null : dIn / dt;
    const dSum = diff(DUR_SUM);
    const dCount = diff(DUR_COUNT);
    const latencyMs = dSum === null || !(dCount > 0) || dSum < 0
      ? null : (dSum / dCount) * 1000;
    const done = latencyMs === null ? 0 : dCount;
    const point = {t: now, rate, latencyMs, done,
                   seconds: latencyMs === null ? 0 : dSum};
    this.points.push(point);
    if (this.points.length > MAX_POINTS) this.points.shift();
    return point;
  }

  /// Mean latency in ms of every command finished within the points
  /// kept (the chart's window), or null when none finished.
  windowLatencyMs() {
    let done = 0;
    let seconds = 0;
    for (const p of this.points) {
      done += p.done;
      seconds += p.seconds;
    }
    return done > 0 ? (seconds / done) * 1000 : null;
  }

  /// A failed scrape: a gap, and the next rate starts afresh.
  gap(now = Date.now()) {
    this.prev = null;
    this.points.push({t: now, rate: null, latencyMs: null, done: 0,
                      seconds: 0});
    if (this.points.length > MAX_POINTS) this.points.shift();
  }
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

/// Draws both series: rate against the left axis, latency against the
/// right one; null values break the line.
export function drawChart(canvas, points) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(cssW * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  const css = getComputedStyle(canvas);
  const colors = {
    rate: css.getPropertyValue('--rate').trim() || '#2a7ae2',
    latency: css.getPropertyValue('--latency').trim() || '#d9822b',
    grid: css.getPropertyValue('--grid').trim() || '#ddd',
    text: css.getPropertyValue('--muted').trim() || '#777',
  };
  const pad = {l: 44, r: 52, t: 8, b: 18};
  const w = cssW - pad.l - pad.r;
  const h = cssH - pad.t - pad.b;
  const rateMax = niceMax(Math.max(0, ...points.map((p) => p.rate ?? 0)));
  const latMax = niceMax(Math.max(0, ...points.map((p) => p.latencyMs ?? 0)));

  g.font = '11px system-ui, sans-serif';
  g.strokeStyle = colors.grid;
  g.fillStyle = colors.text;
  g.lineWidth = 1;
  for (let i = 0; i <= 4; ++i) {
    const y = pad.t + h - (h * i) / 4;
    g.beginPath();
    g.moveTo(pad.l, y + 0.5);
    g.lineTo(pad.l + w, y + 0.5);
    g.stroke();
    g.textAlign = 'right';
    g.fillText(`${+(rateMax * i / 4).toPrecision(3)}`, pad.l - 4, y + 4);
    g.textAlign = 'left';
    g.fillText(`${+(latMax * i / 4).toPrecision(3)} ms`, pad.l + w + 4, y + 4);
  }
  g.textAlign = 'left';
  g.fillText(`${points.length ? Math.round((points.at(-1).t - points[0].t) / 1000) : 0} s`,
             pad.l, cssH - 4);

  // Newest point at the right edge, one slot per scrape.
  const first = MAX_POINTS - points.length;
  const x = (i) => pad.l + (w * (first + i)) / (MAX_POINTS - 1);
  const line = (key, max, color) => {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    let open = false;
    points.forEach((p, i) => {
      const v = p[key];
      if (v === null || v === undefined) { open = false; return; }
      const y = pad.t + h - (h * Math.min(v, max)) / max;
      if (open) g.lineTo(x(i), y);
      else g.moveTo(x(i), y);
      open = true;
    });
    g.stroke();
  };
  line('rate', rateMax, colors.rate);
  line('latencyMs', latMax, colors.latency);
}
