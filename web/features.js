// The feature flag panel (admin): GET /api/features lists the flags,
// ticking one sends PUT /api/features {"name", "enabled"}. Refusals
// (401 without a token, 403 for a non-admin, 404 on a server without
// flags) are shown, and the box goes back to the server's value.
'use strict';

/// fetch() that resolves to parsed JSON or throws an Error whose message
/// names the request, the HTTP status and the server's error_code.
export async function fetchJson(base, headers, method, path, body) {
  const init = {method, headers: {...headers}, cache: 'no-store'};
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(base + path, init);
  } catch (e) {
    throw new Error(`${method} ${path}: ${e.message}`);
  }
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const why = json?.error_code
      ? `${json.error_code}${json.message ? `: ${json.message}` : ''}`
      : text.slice(0, 200);
    const hint = {401: ' (set an admin token)', 403: ' (admin role needed)',
                  404: ' (not available on this server)'}[res.status] ?? '';
    throw new Error(`${method} ${path}: ${res.status} ${res.statusText}${hint}` +
                    (why ? ` \u2014 ${why}` : ''));
  }
  if (json === null) throw new Error(`${method} ${path}: answer is not JSON`);
  return json;
}

export class FeaturePanel {
  /// `request(method, path, body)`: fetchJson bound to the server and
  /// the current token; `onChanged(name, enabled)` after a change.
  constructor(list, error, request, onChanged) {
    this.list = list;
    this.error = error;
    this.request = request;
    this.onChanged = onChanged;
  }

  async load() {
    try {
      const json = await this.request('GET', '/api/features');
      this.render(json.features ?? {});
      this.error.textContent = '';
    } catch (e) {
      this.error.textContent = e.message;
    }
  }

  async put(name, enabled, box) {
    box.disabled = true;
    try {
      const json = await this.request('PUT', '/api/features', {name, enabled});
      this.onChanged?.(name, enabled);
      this.render(json.features ?? {});
      this.error.textContent = '';
    } catch (e) {
      box.checked = !enabled;
      box.disabled = false;
      this.error.textContent = e.message;
    }
  }

  render(features) {
    this.list.replaceChildren(...Object.entries(features).sort()
      .map(([name, on]) => {
        const li = document.createElement('li');
        const label = document.createElement('label');
        label.className = 'check';
        const box = document.createElement('input');
        box.type = 'checkbox';
        box.checked = Boolean(on);
        box.dataset.testid = `feature-${name}`;
        box.onchange = () => this.put(name, box.checked, box);
        label.append(box, ` ${name}`);
        li.append(label);
        return li;
      }));
  }
}
