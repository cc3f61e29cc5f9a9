// The results of an execution: a card per gate summary (`outputs.<task>.summary` of kind
// tests, coverage or sarif), the flow outputs, and each task run's outputs as a collapsible
// JSON tree (children are built when a node is first opened, so large outputs cost nothing
// until looked at). The API exposes no artifacts, so there is no artifact list.

import {h, fill} from '../../dom.js';

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const pct = (v) => (typeof v === 'number' ? `${+v.toFixed(2)}%` : '–');

/** The line of a gate card, or null for a summary of an unknown kind. */
export function gateText(summary) {
  if (!summary || typeof summary !== 'object') return null;
  switch (summary.kind) {
    case 'tests': {
      const parts = [`tests ${summary.tests ?? 0}`, `${summary.passed ?? 0} passed`];
      if (summary.failed) parts.push(`${summary.failed} failed`);
      if (summary.errors) parts.push(`${plural(summary.errors, 'error')}`);
      if (summary.skipped) parts.push(`${summary.skipped} skipped`);
      return parts.join(' · ');
    }
    case 'coverage': {
      const parts = [`line ${pct(summary.line)}`];
      if (summary.branch !== undefined && summary.branch !== null) parts.push(`branch ${pct(summary.branch)}`);
      if (summary.linesTotal !== undefined) parts.push(`${summary.linesCovered ?? 0}/${summary.linesTotal} lines`);
      if (summary.files !== undefined) parts.push(plural(summary.files, 'file'));
      return parts.join(' · ');
    }
    case 'sarif': {
      const levels = [];
      if (summary.errors) levels.push(plural(summary.errors, 'error'));
      if (summary.warnings) levels.push(plural(summary.warnings, 'warning'));
      if (summary.notes) levels.push(plural(summary.notes, 'note'));
      let text = plural(summary.findings ?? 0, 'finding');
      if (levels.length) text += `: ${levels.join(', ')}`;
      const extra = [];
      if (summary.critical) extra.push(`${summary.critical} critical`);
      if (summary.high) extra.push(`${summary.high} high`);
      if (summary.allowed) extra.push(`${summary.allowed} accepted`);
      return extra.length ? `${text} · ${extra.join(' · ')}` : text;
    }
    default:
      return null;
  }
}

/** Is this summary bad news (a card drawn as failing)? */
function failing(summary) {
  if (summary.kind === 'tests') return (summary.failed || 0) + (summary.errors || 0) > 0;
  if (summary.kind === 'sarif') return (summary.errors || 0) + (summary.critical || 0) > 0;
  return false;
}

const GATES = {'gate.tests': 'tests', 'gate.coverage': 'coverage', 'gate.sarif': 'sarif'};

/**
 * Gate cards for `outputs` (`{taskRunId: outputs}`), with the state of each run; `gates`
 * (task id → `gate.*` type, from the flow, may be empty) adds a card for each gate that failed,
 * which has no outputs: its error holds the numbers.
 */
export function gateCards(outputs, runs, gates = new Map()) {
  const cards = [];
  for (const run of runs.values()) {
    const kind = GATES[gates.get(run.taskId)];
    if (!kind || (outputs && outputs[run.id]) || !['FAILED', 'WARNING'].includes(run.state) || !run.error) continue;
    cards.push(h(`div.gate-card.gate-${kind}.gate-bad`, {dataset: {task: run.id, kind}, role: 'group', 'aria-label': `${kind} of ${run.id}`},
      h('div.gate-head', h('span.gate-kind', {'aria-hidden': 'true'}, '✗ ', kind), h('code.task', run.id)),
      h('div.gate-text.gate-error', run.error),
      h('div.muted', `task ended ${run.state}`)));
  }
  const order = [...runs.keys()];
  const entries = Object.entries(outputs || {}).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
  for (const [task, out] of entries) {
    const summary = out && out.summary;
    const text = gateText(summary);
    if (!text) continue;
    const run = runs.get(task);
    const bad = failing(summary);
    cards.push(h(`div.gate-card.gate-${summary.kind}${bad ? '.gate-bad' : ''}`, {dataset: {task, kind: summary.kind}, role: 'group', 'aria-label': `${summary.kind} of ${task}`},
      h('div.gate-head', h('span.gate-kind', {'aria-hidden': 'true'}, bad ? '✗ ' : '✓ ', summary.kind), h('code.task', task)),
      h('div.gate-text', text),
      summary.kind === 'coverage' && typeof summary.line === 'number'
        ? h('div.gate-meter', {role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(summary.line), 'aria-label': 'line coverage'},
          h('span', {style: {width: `${Math.max(0, Math.min(100, summary.line))}%`}}))
        : null,
      run && run.state !== 'SUCCESS' ? h('div.muted', `task ended ${run.state}`) : null));
  }
  return cards;
}

function preview(value) {
  if (Array.isArray(value)) return `[…] ${plural(value.length, 'item')}`;
  return `{…} ${plural(Object.keys(value).length, 'key')}`;
}

/** A long text: its start, and the whole in a scrolling box once opened. */
export function longText(text) {
  const lines = text.split('\n').length;
  const box = h('pre.long-text');
  const node = h('details.long', h('summary', h('span.mono', text.slice(0, 80).replace(/\n/g, ' ⏎ ')), h('span.muted', ` … ${text.length.toLocaleString()} characters, ${lines.toLocaleString()} lines`)), box);
  node.addEventListener('toggle', () => { if (!box.textContent) box.textContent = text; });
  return node;
}

/** A JSON value as a tree: objects and arrays are disclosures, opened to `open` levels. */
export function jsonTree(value, key = null, open = 1) {
  const label = key === null ? null : h('span.json-key', `${key}: `);
  if (value === null || typeof value !== 'object') {
    const type = value === null ? 'null' : typeof value;
    if (type === 'string' && value.length > 300) return h('div.json-leaf', label, longText(value));
    return h('div.json-leaf', label, h(`span.json-${type}`, type === 'string' ? JSON.stringify(value) : String(value)));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  if (!entries.length) return h('div.json-leaf', label, h('span.json-empty', Array.isArray(value) ? '[]' : '{}'));
  const kids = h('div.json-kids');
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    const shown = entries.slice(0, 500);
    fill(kids, shown.map(([k, v]) => jsonTree(v, k, open - 1)),
      entries.length > shown.length ? h('div.muted', `… ${entries.length - shown.length} more (see the API document)`) : null);
  };
  const node = h('details.json', h('summary', label, h('span.muted', preview(value))), kids);
  node.addEventListener('toggle', build);
  if (open > 0 && entries.length <= 20) { node.open = true; build(); }
  return node;
}

/** A value's members as tree nodes (the value itself is named by its caller). */
function members(value, open) {
  if (value === null || typeof value !== 'object') return jsonTree(value, null, open);
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  const shown = entries.slice(0, 500);
  return [shown.map(([k, v]) => jsonTree(v, k, open - 1)),
    entries.length > shown.length ? h('div.muted', `… ${entries.length - shown.length} more (see the API document)`) : null];
}

/**
 * The outputs section: flow outputs, then each run's outputs (runs whose outputs are empty are
 * named on one line). At most 200 runs are drawn until asked for more.
 */
export function outputsSection(execution) {
  const section = h('section.outputs', {'aria-labelledby': 'outputs-title'}, h('h2', {id: 'outputs-title'}, 'Outputs'));
  const flow = execution.flowOutputs;
  if (flow !== null && flow !== undefined) {
    section.append(h('h3', 'Flow outputs'), h('div.json-root', {dataset: {outputs: 'flow'}}, members(flow, 2)));
  }
  const entries = Object.entries(execution.outputs || {});
  const full = entries.filter(([, v]) => !(v && typeof v === 'object' && !Array.isArray(v) && !Object.keys(v).length));
  const empty = entries.filter((e) => !full.includes(e));
  if (!entries.length && (flow === null || flow === undefined)) {
    section.append(h('p.muted', 'No outputs (yet). Outputs appear as tasks succeed.'));
    return section;
  }
  if (full.length) {
    section.append(h('h3', 'Task outputs'));
    const list = h('div.task-outputs');
    const draw = (limit) => {
      fill(list, full.slice(0, limit).map(([task, out]) =>
        h('details.task-output', {dataset: {outputs: task}, open: full.length <= 5 ? true : null},
          h('summary', h('code.task', task), ' ', h('span.muted', out && typeof out === 'object' ? preview(out) : 'value')),
          h('div.json-root', members(out, 1)))),
      full.length > limit ? h('button', {type: 'button', onclick: () => draw(full.length)}, `show ${full.length - limit} more`) : null);
    };
    draw(200);
    section.append(list);
  }
  if (empty.length) {
    const names = empty.slice(0, 30).map(([t]) => t).join(', ');
    section.append(h('p.muted', `No outputs (\`{}\`): ${names}${empty.length > 30 ? ` and ${empty.length - 30} more` : ''}.`));
  }
  return section;
}
