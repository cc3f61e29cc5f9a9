// Flows: by namespace (a tree, collapsible), searched by id or `key:value` label, each with the
// state of its last execution.

import {get} from '../api.js';
import {h, fill, link, stateBadge, time} from '../dom.js';
import {flowsReads} from '../reads.js';

export async function render(root, _params, query) {
  const reads = flowsReads();
  const [flows, recent] = await Promise.all([get(reads.flows), get(reads.recent)]);
  const last = new Map();
  for (const e of recent) {
    const key = `${e.namespace}/${e.flowId}`;
    if (!last.has(key)) last.set(key, e);
  }
  const search = h('input', {type: 'search', placeholder: 'id or key:value label', 'aria-label': 'Search flows',
    value: query.get('q') || ''});
  const tree = h('div.tree');
  const draw = () => {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = flows.filter((f) => words.every((w) => matches(f, w)));
    fill(tree, shown.length ? namespaces(shown, last) : h('p.muted', flows.length ? 'No flow matches.' : 'No flows yet: POST one to /api/v1/flows.'));
    const url = new URL(location.href);
    if (search.value) url.searchParams.set('q', search.value); else url.searchParams.delete('q');
    history.replaceState(null, '', url);
  };
  search.addEventListener('input', draw);
  fill(root, h('h1', 'Flows'), h('div.toolbar', search), tree);
  draw();
}

function matches(flow, word) {
  const [key, value] = word.includes(':') ? word.split(/:(.*)/s) : [null, null];
  if (key !== null) return Object.entries(flow.labels || {}).some(([k, v]) => k.toLowerCase() === key && String(v).toLowerCase().includes(value));
  return flow.id.toLowerCase().includes(word) || flow.namespace.toLowerCase().includes(word);
}

/** Nested namespaces (`acme.shop` under `acme`), each a disclosure with its flows. */
function namespaces(flows, last) {
  const root = {children: new Map(), flows: []};
  for (const flow of flows) {
    let node = root;
    for (const part of flow.namespace.split('.')) {
      if (!node.children.has(part)) node.children.set(part, {children: new Map(), flows: []});
      node = node.children.get(part);
    }
    node.flows.push(flow);
  }
  const draw = (node, prefix) => [...node.children.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, child]) => {
    const full = prefix ? `${prefix}.${name}` : name;
    return h('details.namespace', {open: true},
      h('summary', h('span.ns', full), h('span.count', ` ${count(child)}`)),
      child.flows.length ? h('table.flows', h('tbody', child.flows.sort((a, b) => a.id.localeCompare(b.id)).map((f) => row(f, last)))) : null,
      draw(child, full));
  });
  return draw(root, '');
}

function count(node) {
  let n = node.flows.length;
  for (const child of node.children.values()) n += count(child);
  return n === 1 ? '1 flow' : `${n} flows`;
}

function row(flow, last) {
  const execution = last.get(`${flow.namespace}/${flow.id}`);
  const labels = Object.entries(flow.labels || {}).map(([k, v]) => h('span.label', `${k}:${v}`));
  return h('tr', {dataset: {flow: `${flow.namespace}.${flow.id}`}},
    h('td', link(`/flows/${encodeURIComponent(flow.namespace)}/${encodeURIComponent(flow.id)}`, flow.id)),
    h('td', labels),
    h('td.rev', `rev ${flow.revision}`),
    h('td', execution ? link(`/executions/${execution.executionId}`, stateBadge(execution.state)) : h('span.muted', 'never run')),
    h('td.muted', execution ? time(execution.createdAt) : ''));
}
