// The run form of a flow, generated from its typed `inputs` (read from the server's parse,
// `GET /api/v1/flows/{ns}/{id}/graph`): one field per input with its default, description and
// constraints, required ones marked. Simple checks run here first, with the server's words; the
// server is the judge: the start is sent as multipart/form-data, one text part per input given
// (parsed by the server like `sluice run --input`) and one file part per `file` input, and on a
// 422 each `input `x`: ...` error is shown at its field. Success opens the execution.
// A `secret` input is a password field, never filled in (its default is not sent to the page).
//
// Hooks for browser tests:
//   form.run                          the form
//   [name="<input id>"]               the field of an input (bool: a checkbox when it has a
//                                     default, else a select of true/false)
//   .field[data-input="<input id>"]   its wrapper (`.invalid` while it has an error)
//   .field-error[data-input="<id>"]   the error text of that input
//   #run-error                        a problem not about one input (errorBox)
//   [data-action=run]                 the submit button

import {api, get, post} from '../api.js';
import {navigate} from '../app.js';
import {h, fill, link, errorBox, useStyle} from '../dom.js';

export async function render(root, {namespace, id}) {
  useStyle(new URL('./flow.css', import.meta.url).pathname);
  const flowPath = api('flows', namespace, id);
  const graph = await get(`${flowPath}/graph`);
  const page = `/flows/${encodeURIComponent(namespace)}/${encodeURIComponent(id)}`;
  const fields = graph.inputs.map(field);
  const problem = h('div', {id: 'run-error'});
  const button = h('button.primary', {type: 'submit', 'data-action': 'run'}, '▶ Run');
  const status = h('span.muted', {role: 'status'});
  const form = h('form.run', {novalidate: true, 'aria-label': `Inputs of ${namespace}.${id}`},
    fields.length ? fields.map((f) => f.element) : h('p.muted', 'This flow takes no inputs.'),
    problem,
    h('div.run-actions', button, link(page, 'Cancel'), status));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    fill(problem);
    for (const f of fields) f.show(null);
    const errors = fields.map((f) => [f, f.check()]).filter(([, e]) => e);
    for (const [f, e] of errors) f.show(e);
    if (errors.length) {
      errors[0][0].focus();
      fill(status, `${errors.length} input${errors.length === 1 ? ' needs' : 's need'} fixing`);
      return;
    }
    const body = new FormData();
    for (const f of fields) f.add(body);
    button.disabled = true;
    fill(status, 'Starting…');
    try {
      const started = await post(api('executions', namespace, id), body);
      navigate(`/executions/${encodeURIComponent(started.executionId)}`);
    } catch (error) {
      button.disabled = false;
      fill(status);
      showServerErrors(error, fields, problem);
    }
  });
  fill(root,
    h('p.crumbs', link('/flows', 'Flows'), ' / ', link(page, `${namespace}.${id}`)),
    h('h1', `Run ${namespace}.${id}`, h('span.muted', ` revision ${graph.revision}`)),
    graph.description ? h('p.description', graph.description) : null,
    form);
  (fields.find((f) => f.required) || fields[0])?.focus();
}

/** A 422 about inputs: each `input `x`: message` at its field, anything else above the button. */
function showServerErrors(error, fields, problem) {
  const lines = error.problem && error.status === 422 && Array.isArray(error.problem.errors) ? error.problem.errors : null;
  if (!lines) {
    fill(problem, errorBox(error));
    return;
  }
  const others = [];
  let first = null;
  for (const line of lines) {
    const m = typeof line === 'string' && line.match(/^input `([^`]+)`: ([\s\S]*)$/);
    const f = m && fields.find((x) => x.id === m[1]);
    if (f) {
      f.show(m[2], true);
      first ||= f;
    } else {
      others.push(typeof line === 'string' ? line : JSON.stringify(line));
    }
  }
  if (others.length) {
    fill(problem, h('div.error', {role: 'alert'}, h('strong', error.problem.title), ' ',
      others.length === 1 ? others[0] : h('ul', others.map((o) => h('li', o)))));
  }
  if (first) first.focus();
}

const TYPE_HELP = {
  int: 'a whole number', float: 'a number', json: 'JSON, e.g. {"key": [1, 2]}',
  datetime: 'a date and time in your time zone (sent as UTC)', duration: 'e.g. 30s, 5m, 1h30m or PT1H',
  file: 'uploaded with the start', secret: 'never shown or stored in clear',
};

/** One input's field: {id, element, check(), show(error), add(formData), focus()}. */
function field(input) {
  const domId = `input-${input.id}`;
  const errorId = `${domId}-error`;
  const helpId = `${domId}-help`;
  const common = {id: domId, name: input.id, 'aria-describedby': `${helpId} ${errorId}`, 'aria-required': input.required ? 'true' : null};
  const defaultText = input.default === null || input.default === undefined ? null
    : typeof input.default === 'string' ? input.default : JSON.stringify(input.default);
  let control;
  let value; // () => text to send, or null for "not given"
  switch (input.type) {
    case 'bool':
      if (input.default !== null && input.default !== undefined) {
        control = h('input', {...common, type: 'checkbox', checked: input.default === true});
        value = () => String(control.checked);
      } else {
        control = h('select', common, h('option', {value: ''}, input.required ? 'choose…' : 'not given'),
          h('option', {value: 'true'}, 'true'), h('option', {value: 'false'}, 'false'));
        value = () => control.value || null;
      }
      break;
    case 'select':
      control = h('select', common,
        !input.required || !input.hasDefault ? h('option', {value: ''}, input.required ? 'choose…' : 'not given') : null,
        input.values.map((v) => h('option', {value: v, selected: v === defaultText}, v)));
      value = () => control.value || null;
      break;
    case 'int':
    case 'float':
      control = h('input', {...common, type: 'number', inputmode: input.type === 'int' ? 'numeric' : 'decimal',
        step: input.type === 'int' ? '1' : 'any', min: input.min, max: input.max, value: defaultText});
      value = () => control.value.trim() || (control.validity.badInput ? control.value : null);
      break;
    case 'json':
    case 'array':
      control = h('textarea', {...common, rows: 3, placeholder: input.type === 'array' ? 'a JSON array, or comma-separated items' : null});
      control.value = defaultText ?? '';
      value = () => (control.value.trim() ? control.value : null);
      break;
    case 'secret':
      control = h('input', {...common, type: 'password', autocomplete: 'off', placeholder: input.hasDefault ? '(its default when left empty)' : null});
      value = () => (control.value ? control.value : null);
      break;
    case 'file':
      control = h('input', {...common, type: 'file'});
      value = () => (control.files.length ? control.files[0] : null);
      break;
    case 'datetime':
      control = h('input', {...common, type: 'datetime-local', step: '1', value: defaultText ? localValue(defaultText) : null});
      value = () => (control.value ? new Date(control.value).toISOString() : null);
      break;
    default: // string, duration
      control = h('input', {...common, type: 'text', spellcheck: 'false', value: defaultText,
        placeholder: input.type === 'duration' ? '30s, 5m, 1h30m, PT1H' : null});
      value = () => (control.value !== '' ? control.value : null);
  }
  const error = h('div.field-error', {id: errorId, dataset: {input: input.id}, 'aria-live': 'polite'});
  const help = [input.description, TYPE_HELP[input.type],
    input.type === 'array' ? `items: ${input.itemType || 'string'}` : null,
    input.pattern ? `must match ${input.pattern}` : null, bounds(input),
    defaultText !== null && input.type !== 'select' && input.type !== 'bool' ? `default: ${defaultText}` : null,
    input.type === 'secret' && input.hasDefault ? 'has a default' : null,
    !input.required ? 'optional' : null].filter(Boolean).join(' · ');
  const wrapper = h('div.field', {dataset: {input: input.id}},
    h('label', {for: domId}, input.id, input.required ? h('span.required', {title: 'required', 'aria-label': 'required'}, ' *') : null,
      h('span.type', input.type === 'array' ? `array of ${input.itemType || 'string'}` : input.type)),
    control,
    h('div.field-help', {id: helpId}, help),
    error);
  return {
    id: input.id,
    required: input.required,
    element: wrapper,
    focus: () => control.focus(),
    show(message) {
      fill(error, message || '');
      wrapper.classList.toggle('invalid', Boolean(message));
      if (message) control.setAttribute('aria-invalid', 'true'); else control.removeAttribute('aria-invalid');
    },
    add(body) {
      const v = value();
      if (v === null) return;
      if (v instanceof File) body.append(input.id, v, v.name);
      else body.append(input.id, v);
    },
    /** The server's own words for what is plainly wrong; the rest is left to it. */
    check() {
      const v = value();
      if (v === null) return input.required && !input.hasDefault ? `required, but not given (type ${input.type})` : null;
      if (v instanceof File) return null;
      const text = String(v);
      if (input.type === 'int' && !/^\s*[-+]?\d+\s*$/.test(text)) return `expected an integer, got \`${text}\``;
      if (input.type === 'float' && !Number.isFinite(Number(text))) return `expected a number, got \`${text}\``;
      if (input.type === 'json') {
        try { JSON.parse(text); } catch (e) { return `expected JSON, got \`${text}\` (${e.message})`; }
      }
      if (input.type === 'select' && !input.values.includes(text)) return `\`${text}\` is not one of the allowed values: ${input.values.join(', ')}`;
      if (input.pattern && (input.type === 'string' || input.type === 'secret')) {
        let re = null;
        try { re = new RegExp(`^(?:${input.pattern})$`, 'u'); } catch { /* a Rust-only syntax: the server checks */ }
        if (re && !re.test(text)) return `\`${input.type === 'secret' ? '******' : text}\` does not match the pattern \`${input.pattern}\``;
      }
      const n = input.type === 'int' || input.type === 'float' ? Number(text)
        : input.type === 'string' || input.type === 'secret' ? [...text].length : null;
      const what = input.type === 'int' || input.type === 'float' ? 'the value' : 'the length';
      if (n !== null && input.min !== null && input.min !== undefined && n < input.min) return `${what} is ${n}, below the minimum of ${input.min}`;
      if (n !== null && input.max !== null && input.max !== undefined && n > input.max) return `${what} is ${n}, above the maximum of ${input.max}`;
      return null;
    },
  };
}

function bounds(input) {
  const what = input.type === 'array' ? 'items' : input.type === 'string' || input.type === 'secret' ? 'characters' : '';
  if (input.min !== null && input.min !== undefined && input.max !== null && input.max !== undefined) return `${input.min} to ${input.max} ${what}`.trim();
  if (input.min !== null && input.min !== undefined) return `at least ${input.min} ${what}`.trim();
  if (input.max !== null && input.max !== undefined) return `at most ${input.max} ${what}`.trim();
  return null;
}

/** An RFC 3339 time as a datetime-local value in the browser's time zone. */
function localValue(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
