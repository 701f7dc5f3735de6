// The command actions of protocol.md ("Actions") and a form per action.
// Ranges are shown as hints but not enforced here: the page is for
// testing the server, so out-of-range values go out and come back as
// INVALID_PARAMETERS.
'use strict';

export const CATEGORIES = ['position', 'focus', 'imaging', 'system'];

const DIRECTIONS = ['up', 'down', 'left', 'right', 'north', 'south', 'east',
                    'west', 'stop'];

// Parameter kinds: number, integer, text, select, bool, categories
// (checkboxes -> list), json (any JSON value), object (the JSON object
// *is* the parameters).
export const ACTIONS = {
  goto: {doc: 'slew to RA/Dec (long operation)', params: [
    {name: 'ra', kind: 'number', hint: 'hours [0,24)', required: true},
    {name: 'dec', kind: 'number', hint: 'deg [-90,90]', required: true},
    {name: 'target_name', kind: 'text', hint: 'optional'}]},
  move: {doc: 'move the mount (long operation)', params: [
    {name: 'direction', kind: 'select', options: DIRECTIONS, required: true},
    {name: 'duration', kind: 'integer', hint: 'ms [1,10000], default 1000'},
    {name: 'speed', kind: 'integer', hint: 'percent [1,100], default 100'}]},
  stop: {doc: 'stop any motion at once', params: []},
  park: {doc: 'park the arm (long operation)', params: []},
  focus: {doc: 'absolute focuser position (long operation)', params: [
    {name: 'position', kind: 'integer', hint: 'steps [0,2600]', required: true}]},
  focus_increment: {doc: 'relative focuser move (long operation)', params: [
    {name: 'increment', kind: 'integer', hint: 'steps [-1000,1000]',
     required: true}]},
  start_imaging: {doc: 'start stacking (long operation)', params: [
    {name: 'target_name', kind: 'text', hint: 'optional'},
    {name: 'exposure_ms', kind: 'integer', hint: 'optional'}]},
  stop_imaging: {doc: 'stop imaging', params: []},
  set_gain: {doc: 'camera gain', params: [
    {name: 'gain', kind: 'integer', hint: '[0,200]', required: true}]},
  set_exposure: {doc: 'exposure time', params: [
    {name: 'exposure_ms', kind: 'integer', hint: 'ms [1,600000]',
     required: true}]},
  scenery: {doc: 'scenery / sun / moon view', params: [
    {name: 'mode', kind: 'select', options: ['scenery', 'sun', 'moon']}]},
  set_image_enhancement: {doc: 'object of known keys, values bool or number',
    params: [{name: 'parameters', kind: 'object',
              hint: '{"denoise": true, "stretch": 0.5}', required: true}]},
  get_image_enhancement: {doc: 'read the image enhancement settings',
                          params: []},
  get_status: {doc: 'full snapshot in result', params: [
    {name: 'categories', kind: 'categories', hint: 'none ticked: all'}]},
  cancel: {doc: 'stop a queued or running command of this client', params: [
    {name: 'command_id', kind: 'text', required: true, list: 'pending-ids'}]},
  acquire_control: {doc: "take the telescope's control lease", params: [
    {name: 'ttl_ms', kind: 'integer', hint: 'default 300000'},
    {name: 'force', kind: 'bool', hint: 'admin: take a held lease'}]},
  release_control: {doc: 'release the control lease', params: []},
  batch: {doc: 'up to 32 steps, run in order, stop at the first failure',
    params: [{name: 'commands', kind: 'json', required: true,
              hint: '[{"action":"set_gain","parameters":{"gain":80}}]'}]},
  reboot: {doc: 'admin only', params: []},
};

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  e.append(...children);
  return e;
}

const fieldId = (name) => `param-${name}`;

/// Fills `box` with the inputs of `action` (ids param-<name>).
export function renderParams(box, action) {
  box.replaceChildren();
  for (const p of ACTIONS[action]?.params ?? []) {
    const id = fieldId(p.name);
    const label = el('label', {class: p.kind === 'bool' ? 'check' : null});
    const caption = `${p.name}${p.required ? ' *' : ''}`;
    let input;
    switch (p.kind) {
      case 'select':
        input = el('select', {id, 'data-testid': id},
                   el('option', {value: '', text: p.required ? '' : '(default)'}),
                   ...p.options.map((o) => el('option', {value: o, text: o})));
        break;
      case 'bool':
        input = el('input', {id, 'data-testid': id, type: 'checkbox'});
        break;
      case 'categories':
        input = el('span', {id, class: 'row'},
                   ...CATEGORIES.map((c) => el('label', {class: 'check'},
                     el('input', {type: 'checkbox', value: c,
                                  'data-testid': `${id}-${c}`}), c)));
        break;
      case 'json':
      case 'object':
        input = el('textarea', {id, 'data-testid': id, rows: 3,
                                spellcheck: 'false', placeholder: p.hint});
        break;
      default:
        input = el('input', {id, 'data-testid': id,
                             type: p.kind === 'text' ? 'text' : 'number',
                             step: p.kind === 'number' ? 'any' : '1',
                             list: p.list, placeholder: p.hint ?? ''});
    }
    if (p.kind === 'bool') label.append(input, ` ${caption}`);
    else label.append(caption, input);
    if (p.hint && p.kind !== 'text' && p.kind !== 'number' &&
        p.kind !== 'integer' && p.kind !== 'json' && p.kind !== 'object')
      label.append(el('span', {class: 'muted small', text: ` ${p.hint}`}));
    box.append(label);
  }
  if (!box.children.length)
    box.append(el('p', {class: 'muted small', text: 'no parameters'}));
}

/// The `parameters` object of the form, or throws Error with a message
/// naming the field. Empty optional fields are left out.
export function readParams(box, action) {
  const out = {};
  for (const p of ACTIONS[action]?.params ?? []) {
    const input = box.querySelector(`#${fieldId(p.name)}`);
    if (!input) continue;
    if (p.kind === 'bool') {
      if (input.checked) out[p.name] = true;
      continue;
    }
    if (p.kind === 'categories') {
      const ticked = [...input.querySelectorAll('input:checked')]
        .map((c) => c.value);
      if (ticked.length) out[p.name] = ticked;
      continue;
    }
    const raw = input.value.trim();
    if (raw === '') {
      if (p.required) throw new Error(`${p.name} is required`);
      continue;
    }
    switch (p.kind) {
      case 'number':
      case 'integer': {
        const n = Number(raw);
        if (!Number.isFinite(n)) throw new Error(`${p.name}: not a number`);
        out[p.name] = n;
        break;
      }
      case 'json':
      case 'object': {
        let v;
        try { v = JSON.parse(raw); } catch (e) {
          throw new Error(`${p.name}: ${e.message}`);
        }
        if (p.kind === 'object') {
          if (typeof v !== 'object' || v === null || Array.isArray(v))
            throw new Error(`${p.name}: must be a JSON object`);
          Object.assign(out, v);
        } else {
          out[p.name] = v;
        }
        break;
      }
      default:
        out[p.name] = raw;
    }
  }
  return out;
}
