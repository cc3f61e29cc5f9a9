// The execution's flow topology (its revision's graph, drawn by ../flow/topology.js) with each
// node and group marked by the state of its task's runs: the state's icon and word (dom.js's
// badge text, so no state reads by colour alone) and its colour. A task with several runs
// (forEach iterations) shows the most telling state of them and a count: `▶ RUNNING · 3/5 ✓`.
// Repainted in place (only the nodes whose line changed), at most every 250 ms while runs
// change. Choosing a node filters the logs to its task; choosing it again clears the filter.

import {api, get} from '../../api.js';
import {h, fill, stateBadge, errorBox, TERMINAL} from '../../dom.js';
import {navigate} from '../../app.js';
import {topology, paintStates} from '../flow/topology.js';
import {taskOf} from './logs.js';
import {flowGraph, allTasks} from './graph.js';

const EVERY = 250;

// For the aggregate of several runs: the first of these that one of them is in.
const RANK = ['FAILED', 'KILLING', 'KILLED', 'RUNNING', 'RETRYING', 'PAUSED', 'QUEUED', 'CREATED',
  'WARNING', 'CANCELLED', 'SUCCESS', 'SKIPPED'];
const rank = (state) => {
  const i = RANK.indexOf(state);
  return i < 0 ? RANK.length : i;
};

const words = new Map();
/** `✓ SUCCESS`: the badge's icon and word. */
function word(state) {
  if (!words.has(state)) words.set(state, stateBadge(state).textContent);
  return words.get(state);
}

/** Task id → {state, label, title} of its runs. */
export function summarize(runs) {
  const by = new Map();
  for (const run of runs.values()) {
    const task = run.taskId || taskOf(run.id);
    let s = by.get(task);
    if (!s) by.set(task, (s = {state: run.state, count: 0, success: 0, failed: 0, states: new Map()}));
    s.count++;
    if (run.state === 'SUCCESS') s.success++;
    if (run.state === 'FAILED') s.failed++;
    s.states.set(run.state, (s.states.get(run.state) || 0) + 1);
    if (rank(run.state) < rank(s.state)) s.state = run.state;
  }
  const out = new Map();
  for (const [task, s] of by) {
    let label = word(s.state);
    let title = `state: ${s.state}`;
    if (s.count > 1) {
      label += ` · ${s.success}/${s.count} ✓${s.failed ? ` ${s.failed} ✗` : ''}`;
      title = `${s.count} runs: ${[...s.states].map(([state, n]) => `${n} ${state}`).join(', ')}`;
    }
    out.set(task, {state: s.state, label, title});
  }
  return out;
}

/**
 * `onTask(taskId|null)` when a node is chosen (again: null). Returns `{el, update(execution,
 * runs, version), select(taskId|null), destroy()}`; `update` is cheap and may be called on every
 * redraw: it repaints only when `version` (of the runs) changed, and at most every 250 ms.
 */
export function executionTopology({onTask}) {
  const box = h('div.topology-box', {id: 'execution-topology', tabindex: '-1'}, h('p.muted', {role: 'status'}, 'Loading the topology…'));
  const el = h('section.exec-topology', {'aria-labelledby': 'topology-title'},
    h('h2', {id: 'topology-title'}, 'Topology'),
    h('p.muted.legend', 'Each task with the state of its runs (a task run several times: the most telling state and how many succeeded). Choose a task to see only its logs.'),
    box);
  let drawing = null;
  let key = '';
  let execution = null;
  let runs = new Map();
  let version = -1;
  let painted = -2;
  let paintedEnd = null;
  let at = 0;
  let timer = 0;
  let selected = null;
  let states = new Map();

  const stateOf = (task) => states.get(task) || {state: null, label: TERMINAL.has(execution.state) ? '– not run' : '– not yet', title: 'no run'};

  const paint = () => {
    timer = 0;
    if (!drawing) return;
    at = Date.now();
    painted = version;
    paintedEnd = execution.state;
    states = summarize(runs);
    paintStates(drawing, stateOf);
  };

  const mark = () => {
    if (!drawing) return;
    for (const g of drawing.querySelectorAll('g.node[data-task], g.group[data-task]')) {
      const on = g.dataset.task === selected;
      g.classList.toggle('selected', on);
      g.setAttribute('aria-pressed', on ? 'true' : 'false');
    }
  };

  async function load(e) {
    const want = `${e.namespace}/${e.flowId}/${e.revision}`;
    if (want === key) return;
    key = want;
    try {
      const graph = await flowGraph(e);
      // The executions its subflow tasks started (task id → the newest), for their links.
      const children = new Map();
      if (allTasks(graph).some((t) => t.subflow)) {
        const started = await get(`${api('executions')}?parent=${encodeURIComponent(e.executionId)}&limit=1000`);
        for (const child of [...started].reverse()) children.set(taskOf(child.parent.taskRun), child.executionId);
      }
      if (key !== want) return;
      states = summarize(runs);
      drawing = topology(graph, {
        onSelect: (task) => {
          selected = selected === task.id ? null : task.id;
          mark();
          onTask(selected);
        },
        onOpen: (href) => navigate(href),
        // A subflow's link goes to the execution it started, once there is one.
        subflowLink: (task) => {
          const running = execution.outputs && execution.outputs[task.id] && execution.outputs[task.id].executionId;
          const child = children.get(task.id) || running;
          return child ? {href: `/executions/${encodeURIComponent(child)}`, label: `open execution ${child} of ${task.subflow.namespace}.${task.subflow.id}`} : null;
        },
        stateOf,
      });
      painted = version;
      paintedEnd = execution.state;
      at = Date.now();
      fill(box, drawing);
      mark();
    } catch (error) {
      if (key === want) fill(box, errorBox(error));
    }
  }

  return {
    el,
    update(exec, all, v) {
      execution = exec;
      runs = all;
      version = v;
      if (exec.namespace && exec.flowId && exec.revision !== undefined) load(exec);
      if (!drawing || timer || (painted === version && paintedEnd === exec.state)) return;
      timer = setTimeout(paint, Math.max(0, EVERY - (Date.now() - at)));
    },
    /** Marks `taskId` as the logs' task filter (null: none). */
    select(taskId) {
      selected = taskId || null;
      mark();
    },
    destroy() {
      clearTimeout(timer);
      key = '\u0000destroyed';
    },
  };
}
