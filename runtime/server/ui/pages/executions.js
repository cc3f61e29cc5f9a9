// Executions: newest first, filtered by namespace, flow, state, label and time (kept in the
// URL, so a filtered view can be shared), refreshed every two seconds while it is shown.

import {api, get} from '../api.js';
import {h, fill, link, stateBadge, time, duration, errorBox} from '../dom.js';

const STATES = ['CREATED', 'QUEUED', 'RUNNING', 'PAUSED', 'KILLING', 'SUCCESS', 'WARNING', 'FAILED', 'KILLED', 'CANCELLED'];
const FIELDS = ['namespace', 'flowId', 'state', 'label', 'after', 'before'];

export async function render(root, _params, query) {
  const inputs = {
    namespace: h('input', {name: 'namespace', placeholder: 'namespace', 'aria-label': 'Namespace'}),
    flowId: h('input', {name: 'flowId', placeholder: 'flow id', 'aria-label': 'Flow id'}),
    state: h('select', {name: 'state', 'aria-label': 'State'}, h('option', {value: ''}, 'any state'), STATES.map((s) => h('option', {value: s}, s))),
    label: h('input', {name: 'label', placeholder: 'key:value', 'aria-label': 'Label'}),
    after: h('input', {name: 'after', type: 'datetime-local', 'aria-label': 'Created after'}),
    before: h('input', {name: 'before', type: 'datetime-local', 'aria-label': 'Created before'}),
  };
  for (const name of FIELDS) inputs[name].value = query.get(name) || '';
  const table = h('div');
  const status = h('p.muted', {role: 'status'});
  const load = async () => {
    const params = new URLSearchParams({limit: '200'});
    const shown = new URLSearchParams();
    for (const name of FIELDS) {
      const value = inputs[name].value.trim();
      if (!value) continue;
      shown.set(name, value);
      params.set(name, name === 'after' || name === 'before' ? new Date(value).toISOString() : value);
    }
    history.replaceState(null, '', `${location.pathname}${shown.size ? '?' + shown : ''}`);
    try {
      const executions = await get(`${api('executions')}?${params}`);
      fill(table, executions.length ? list(executions) : h('p.muted', 'No execution matches.'));
      fill(status, `${executions.length} shown, updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      fill(table, errorBox(error));
    }
  };
  const form = h('form.toolbar', {role: 'search', onsubmit: (e) => { e.preventDefault(); load(); }},
    Object.values(inputs), h('button', {type: 'submit'}, 'Filter'));
  form.addEventListener('change', load);
  fill(root, h('h1', 'Executions'), form, status, table);
  await load();
  const timer = setInterval(load, 2000);
  return () => clearInterval(timer);
}

function list(executions) {
  return h('table.executions',
    h('thead', h('tr', ['State', 'Flow', 'Execution', 'Trigger', 'Created', 'Duration'].map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', executions.map((e) => h('tr', {dataset: {execution: e.executionId}},
      h('td', stateBadge(e.state)),
      h('td', link(`/flows/${encodeURIComponent(e.namespace)}/${encodeURIComponent(e.flowId)}`, `${e.namespace}.${e.flowId}`), h('span.muted', ` rev ${e.revision}`)),
      h('td', link(`/executions/${e.executionId}`, h('code', e.executionId.slice(0, 13) + '…'))),
      h('td', e.trigger ? e.trigger.type : ''),
      h('td', time(e.createdAt)),
      h('td', e.startedAt ? duration((e.endedAt ? new Date(e.endedAt) : new Date()) - new Date(e.startedAt)) : '')))));
}
