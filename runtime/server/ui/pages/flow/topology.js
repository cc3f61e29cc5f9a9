// The topology of a flow as an SVG, from `GET /api/v1/flows/{ns}/{id}/graph` (the server's
// parse): each task list laid out top to bottom in layers (a task sits below everything it
// waits for: its `dependsOn`, else the task before it in a sequential list), control-flow tasks
// drawn as groups holding their lists side by side (parallel tasks, then/else, switch cases,
// forEach bodies), `errors` and `finally` as groups of their own on the right.
//
// Hooks: `g.node[data-task][data-type]` (a task without children), `g.group[data-task][data-type]`
// (a control-flow task), `g.handlers[data-list=errors|finally]`, `path.edge[data-from][data-to]`.
// With `stateOf` (the execution page), each node and group has a line for its task's state,
// `text.node-state`, and `data-state` while the task has one; `paintStates` repaints them in place.

import {svg} from '../../dom.js';

const CHAR = 7.2; // width of a 12px monospace character
const LINE = 16;
const PAD = 10;
const GAP_X = 22;
const GAP_Y = 34;
const HEAD = 40;
const MIN_W = 150;
const MAX_W = 360;

/**
 * The SVG; `onSelect(task)` when a node or group is chosen, `onOpen(href)` for a subflow link
 * (`subflowLink(task)` may give `{href, label}` in place of the flow's page).
 * `stateOf(taskId)` (optional) gives `{state, label, title}` for a task's state line (`state`
 * null: the task has none yet); without it the drawing is the flow's alone.
 */
export function topology(graph, {onSelect, onOpen, subflowLink = null, stateOf = null}) {
  const ctx = {onSelect, onOpen, subflowLink, states: !!stateOf};
  const main = list(graph.tasks, false, ctx);
  const parts = [{box: main, label: null}];
  for (const name of ['errors', 'finally']) {
    if (graph[name] && graph[name].length) parts.push({box: list(graph[name], false, ctx), label: name});
  }
  const el = [];
  let x = PAD;
  let height = 0;
  for (const part of parts) {
    if (!part.label) {
      el.push(place(part.box.el, x, PAD));
      x += part.box.w + GAP_X * 2;
      height = Math.max(height, part.box.h);
      continue;
    }
    const w = part.box.w + 2 * PAD;
    const h = part.box.h + HEAD;
    const title = part.label === 'errors' ? 'errors: when the tasks fail' : 'finally: always, at the end';
    el.push(svg('g', {class: `handlers handlers-${part.label}`, 'data-list': part.label, transform: `translate(${x} ${PAD})`,
      role: 'group', 'aria-label': title},
    svg('rect', {class: 'handlers-box', width: w, height: h, rx: 8}),
    svg('text', {class: 'group-label', x: PAD, y: 22}, title),
    place(part.box.el, PAD, HEAD - 6)));
    x += w + GAP_X;
    height = Math.max(height, h);
  }
  const width = Math.max(x - GAP_X + PAD, 200);
  const total = height + 2 * PAD;
  const drawing = svg('svg', {class: 'topology', width, height: total, viewBox: `0 0 ${width} ${total}`, role: 'group',
    'aria-label': `Topology of ${graph.namespace}.${graph.id}: ${count(graph)} tasks`},
  svg('defs', {}, svg('marker', {id: 'topology-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
    svg('path', {d: 'M0,0 L10,5 L0,10 z', class: 'edge-head'}))),
  el);
  if (stateOf) paintStates(drawing, stateOf);
  return drawing;
}

/**
 * Repaints each node's and group's state line from `stateOf(taskId)`, in place: only what
 * changed is written, so it may be called on every update.
 */
export function paintStates(drawing, stateOf) {
  for (const g of drawing.querySelectorAll('g.node[data-task], g.group[data-task]')) {
    const {state = null, label = '', title = ''} = stateOf(g.dataset.task) || {};
    const key = `${state}|${label}|${title}`;
    if (g.paintedState === key) continue;
    g.paintedState = key;
    if (state) g.setAttribute('data-state', state); else g.removeAttribute('data-state');
    const mark = g.querySelector(':scope > text.node-state');
    if (mark) {
      mark.textContent = fit(label, mark.max);
      mark.setAttribute('class', `node-state${state ? ` s-${state.toLowerCase()}` : ''}`);
    }
    const tip = g.querySelector(':scope > title');
    tip.baseText ??= tip.textContent;
    tip.textContent = title ? `${tip.baseText}\n${title}` : tip.baseText;
    g.baseLabel ??= g.getAttribute('aria-label');
    g.setAttribute('aria-label', label ? `${g.baseLabel}; ${label}` : g.baseLabel);
  }
}

// What a state line reserves: `▶ RUNNING · 12/50 ✓ 1 ✗`.
const STATE_ROOM = 'x'.repeat(22);
function stateLine(ctx, x, y, max) {
  if (!ctx.states) return null;
  const el = svg('text', {class: 'node-state', x, y}, '');
  el.max = max;
  return el;
}

function count(graph) {
  let n = 0;
  const walk = (tasks) => { for (const t of tasks) { n++; for (const g of t.children || []) walk(g.tasks); } };
  walk(graph.tasks); walk(graph.errors || []); walk(graph.finally || []);
  return n;
}

const place = (el, x, y) => svg('g', {transform: `translate(${x} ${y})`}, el);

/** A task list in layers; returns {el, w, h}. */
function list(tasks, parallel, ctx) {
  if (!tasks.length) {
    return {el: svg('text', {class: 'empty', x: 4, y: 18}, '(no tasks)'), w: 90, h: 26};
  }
  const ids = new Set(tasks.map((t) => t.id));
  const preds = tasks.map((t, i) => {
    const named = (t.dependsOn || []).filter((d) => ids.has(d));
    if (named.length) return named;
    return !parallel && i > 0 ? [tasks[i - 1].id] : [];
  });
  const index = new Map(tasks.map((t, i) => [t.id, i]));
  const layer = new Array(tasks.length).fill(-1);
  const depth = (i, seen = new Set()) => {
    if (layer[i] >= 0) return layer[i];
    if (seen.has(i)) return 0; // a cycle (validation refuses them): drawn flat
    seen.add(i);
    layer[i] = preds[i].reduce((d, p) => Math.max(d, depth(index.get(p), seen) + 1), 0);
    return layer[i];
  };
  tasks.forEach((_, i) => depth(i));
  const boxes = tasks.map((t) => (t.children && t.children.length ? group(t, ctx) : node(t, ctx)));
  const rows = [];
  tasks.forEach((_, i) => { (rows[layer[i]] ||= []).push(i); });
  const width = Math.max(...rows.filter(Boolean).map((r) => r.reduce((w, i) => w + boxes[i].w, 0) + GAP_X * (r.length - 1)));
  const at = [];
  let y = 0;
  for (const row of rows.filter(Boolean)) {
    const rowW = row.reduce((w, i) => w + boxes[i].w, 0) + GAP_X * (row.length - 1);
    let x = (width - rowW) / 2;
    const rowH = Math.max(...row.map((i) => boxes[i].h));
    for (const i of row) {
      at[i] = {x, y, w: boxes[i].w, h: boxes[i].h};
      x += boxes[i].w + GAP_X;
    }
    y += rowH + GAP_Y;
  }
  const edges = [];
  tasks.forEach((t, i) => {
    for (const p of preds[i]) {
      const from = at[index.get(p)];
      const to = at[i];
      const x1 = from.x + from.w / 2;
      const y1 = from.y + from.h;
      const x2 = to.x + to.w / 2;
      const y2 = to.y - 2;
      const bend = Math.max(12, (y2 - y1) / 2);
      const implicit = !(t.dependsOn || []).includes(p);
      edges.push(svg('path', {class: implicit ? 'edge' : 'edge edge-depends', 'data-from': p, 'data-to': t.id,
        d: `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`, 'marker-end': 'url(#topology-arrow)'},
      svg('title', {}, `${t.id} waits for ${p}${implicit ? '' : ' (dependsOn)'}`)));
    }
  });
  const el = svg('g', {class: 'list'}, edges, boxes.map((b, i) => place(b.el, at[i].x, at[i].y)));
  return {el, w: width, h: y - GAP_Y};
}

/** What a task may touch, one line each: [class, text, full text]. */
function grants(task) {
  const out = [];
  const allow = task.allow || {};
  for (const n of allow.network || []) out.push(['grant-network', `net ${n}`]);
  for (const n of task.impliedNetwork || []) out.push(['grant-network grant-implied', `net ${n.field}: ${n.value}`]);
  if (allow.docker) out.push(['grant-docker', 'docker']);
  for (const s of allow.secrets || []) out.push(['grant-secret', `secret ${s}`]);
  for (const e of allow.env || []) out.push(['grant-env', `env ${e}`]);
  return out;
}

function flags(task) {
  const out = [];
  if (task.allowFailure) out.push('may fail');
  if (task.runIf) out.push('if …');
  if (task.disabled) out.push('disabled');
  return out;
}

const fit = (text, max) => (text.length > max ? text.slice(0, max - 1) + '…' : text);
const widthOf = (lines) => Math.min(MAX_W, Math.max(MIN_W, ...lines.map((l) => l.length * CHAR + 2 * PAD)));

function selectable(el, task, ctx, label) {
  el.setAttribute('tabindex', '0');
  el.setAttribute('role', 'button');
  el.setAttribute('aria-label', label);
  const choose = (event) => {
    if (event.target.closest && event.target.closest('a')) return;
    event.stopPropagation();
    ctx.onSelect(task);
  };
  el.addEventListener('click', choose);
  el.addEventListener('keydown', (event) => {
    if (event.target === el && (event.key === 'Enter' || event.key === ' ')) { event.preventDefault(); choose(event); }
  });
  return el;
}

/** A task without children. */
function node(task, ctx) {
  const head = [task.id, [task.type, ...flags(task)].join(' · ')];
  const lines = grants(task);
  const sub = task.subflow ? `→ ${task.subflow.namespace}.${task.subflow.id}${task.subflow.wait ? '' : ' (no wait)'}` : null;
  const all = [...head, ...lines.map((l) => l[1]), ...(sub ? [sub] : [])];
  const w = widthOf(ctx.states ? [...all, STATE_ROOM] : all);
  const max = Math.floor((w - 2 * PAD) / CHAR);
  const h = 2 * PAD + LINE * (all.length + (ctx.states ? 1 : 0)) + 4;
  const kinds = ['node', task.disabled ? 'node-disabled' : '', task.subflow ? 'node-subflow' : '', lines.length ? 'node-granted' : ''];
  const g = svg('g', {class: kinds.filter(Boolean).join(' '), 'data-task': task.id, 'data-type': task.type},
    svg('title', {}, [task.id, task.type, task.description, ...lines.map((l) => l[1]), task.runIf ? `runIf: ${task.runIf}` : null].filter(Boolean).join('\n')),
    svg('rect', {class: 'node-box', width: w, height: h, rx: 6}),
    svg('text', {class: 'node-id', x: PAD, y: PAD + 12}, fit(head[0], max)),
    svg('text', {class: 'node-type', x: PAD, y: PAD + 12 + LINE}, fit(head[1], max)),
    lines.map(([cls, text], i) => svg('text', {class: `grant ${cls}`, x: PAD, y: PAD + 16 + LINE * (i + 2)}, fit(text, max))),
    stateLine(ctx, PAD, PAD + 16 + LINE * all.length, max));
  if (sub) {
    const link = (ctx.subflowLink && ctx.subflowLink(task)) || {
      href: `/flows/${encodeURIComponent(task.subflow.namespace)}/${encodeURIComponent(task.subflow.id)}`,
      label: `open flow ${task.subflow.namespace}.${task.subflow.id}`,
    };
    const href = link.href;
    const a = svg('a', {href, class: 'subflow-link', 'aria-label': link.label},
      svg('text', {x: PAD, y: PAD + 16 + LINE * (lines.length + 2)}, fit(sub, max)));
    a.addEventListener('click', (event) => { event.preventDefault(); ctx.onOpen(href); });
    g.append(a);
  }
  const label = `${task.id}, ${task.type}${lines.length ? ', may touch ' + lines.map((l) => l[1]).join(', ') : ', no grants'}`;
  return {el: selectable(g, task, ctx, label), w, h};
}

/** A control-flow task: a header and its lists side by side. */
function group(task, ctx) {
  const detail = [task.type, ...flags(task)];
  if (task.concurrency !== undefined && task.concurrency !== null) detail.push(task.concurrency ? `${task.concurrency} at a time` : 'all at once');
  const extra = task.condition ? `if ${task.condition}` : task.value ? `on ${task.value}` : task.values !== undefined ? `for each of ${typeof task.values === 'string' ? task.values : JSON.stringify(task.values)}` : null;
  const parallel = task.type === 'flow.parallel';
  const lanes = task.children.map((c) => ({label: c.label, box: list(c.tasks, c.parallel ?? parallel, ctx)}));
  const labelled = lanes.length > 1 || task.type === 'flow.forEach';
  const laneTop = labelled ? 22 : 4;
  const lanesW = lanes.reduce((w, l) => w + l.box.w + 2 * PAD, 0) + GAP_X * (lanes.length - 1);
  const headLines = [task.id, detail.join(' · '), ...(extra ? [extra] : [])];
  const headH = PAD + LINE * (headLines.length + (ctx.states ? 1 : 0)) + 6;
  const w = Math.max(lanesW + 2 * PAD, widthOf(ctx.states ? [...headLines.slice(0, 2), STATE_ROOM] : headLines.slice(0, 2)));
  const max = Math.floor((w - 2 * PAD) / CHAR);
  const laneH = Math.max(...lanes.map((l) => l.box.h)) + laneTop + PAD;
  const h = headH + laneH + PAD;
  let x = (w - lanesW) / 2;
  const laneEls = lanes.map((l) => {
    const lw = l.box.w + 2 * PAD;
    const el = svg('g', {class: 'lane', 'data-label': l.label, transform: `translate(${x} ${headH})`},
      svg('rect', {class: 'lane-box', width: lw, height: laneH, rx: 5}),
      labelled ? svg('text', {class: 'lane-label', x: PAD, y: 15}, fit(l.label === 'tasks' ? 'each value' : l.label, Math.floor(lw / CHAR) - 2)) : null,
      place(l.box.el, PAD, laneTop));
    x += lw + GAP_X;
    return el;
  });
  const g = svg('g', {class: `group group-${task.type.replace('flow.', '').toLowerCase()}`, 'data-task': task.id, 'data-type': task.type},
    svg('title', {}, [task.id, task.type, task.description, extra].filter(Boolean).join('\n')),
    svg('rect', {class: 'group-box', width: w, height: h, rx: 8}),
    svg('text', {class: 'node-id', x: PAD, y: PAD + 12}, fit(headLines[0], max)),
    svg('text', {class: 'node-type', x: PAD, y: PAD + 12 + LINE}, fit(headLines[1], max)),
    extra ? svg('text', {class: 'node-type group-extra', x: PAD, y: PAD + 12 + 2 * LINE}, fit(extra, max)) : null,
    stateLine(ctx, PAD, PAD + 12 + LINE * headLines.length, max),
    laneEls);
  return {el: selectable(g, task, ctx, `${task.id}, ${task.type}, ${task.children.map((c) => `${c.label}: ${c.tasks.length} tasks`).join(', ')}`), w, h};
}
