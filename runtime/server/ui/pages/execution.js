// One execution: its header (flow, revision, state, times, error, labels, inputs, trigger), the
// actions (kill, resume, restart, replay), gate summaries, a Gantt chart of the task runs, the
// logs, and the outputs. While the execution runs, `/follow` (task runs and the execution) and
// `/logs/follow` keep the page live; redraws are throttled to animation frames.
//
// Hooks for browser tests (stable; change them only with the tests). Rows and lines outside
// the view are not in the DOM: scroll their scroller (or filter) before looking for them.
//   #execution-state                 holds the header's state badge (`.state.state-<state>`)
//   #execution-error                 the execution's error, when it has one
//   .gantt-body                      the Gantt scroller (role=treegrid, aria-rowcount = rows)
//   .gantt-row[data-run="<run id>"]  a Gantt row (`build[2]` for a forEach iteration), with
//                                    data-state="<STATE>", role=row, aria-level (nesting),
//                                    aria-selected="true" when it filters the logs; click (or
//                                    Enter) filters the logs to it, again clears the filter;
//                                    its .caret[data-toggle] folds its nested runs
//   .bar[data-attempt="<n>"]         one attempt's bar in its row (1-based); waiting is
//                                    .bar.wait[data-segment=wait], a run without attempts
//                                    .bar.span[data-segment=span]; a bar's title = its tooltip
//   .log-body                        the log scroller; .log-count its "N lines" / "N of M lines"
//   .log-line[data-seq][data-task][data-run]   a log line (id="log-<seq>", .target when it is
//                                    the line of #log-<seq>); data-task = task id, data-run =
//                                    task run id (both absent on execution-level lines);
//                                    .log-task is the link that filters, .log-time the #link
//   .logs select[name=task]          the task filter: "", "task:<task id>" or "run:<run id>"
//   .logs select[name=level]         minimum level ("" or TRACE..ERROR); .logs input[type=search]
//                                    the text filter (matches in <mark>); all kept in the URL
//                                    as ?task= ?run= ?level= ?q=
//   button[data-action="kill|resume|restart|replay"]   the actions; replay's task is the
//                                    select[data-replay-from]; a pause with declared inputs
//                                    gets form.resume-form[data-run] (fields #resume-<input id>,
//                                    its submit button is the data-action=resume one)
//   .action-message                  the answer of the last action, or its problem (.error)
//   .gate-card[data-task][data-kind] a gate summary card (.gate-text its line, .gate-bad when
//                                    tests failed or errors/critical findings)
//   [data-outputs="<run id>|flow"]   a task's (or the flow's) outputs
//   #execution-topology              the flow's topology for the execution's revision (the
//                                    flow page's drawing, kept live, repainted at most every
//                                    250 ms): g.node[data-task] a task, g.group[data-task] a
//                                    control-flow task, each with data-state="<STATE>" of its
//                                    runs (absent while it has none; several runs, e.g. forEach
//                                    iterations: the most telling one, FAILED > KILLING >
//                                    KILLED > RUNNING > … > SUCCESS) and its text.node-state
//                                    line (`✓ SUCCESS`, `▶ RUNNING · 3/5 ✓`); click (or Enter)
//                                    filters the logs to the task (?task=), again clears it;
//                                    the chosen one has .selected and aria-pressed="true"

import {api, follow, get} from '../api.js';
import {h, fill, link, stateBadge, time, duration, errorBox, useStyle, TERMINAL} from '../dom.js';
import {gantt} from './execution/gantt.js';
import {logView} from './execution/logs.js';
import {executionReads} from '../reads.js';
import {gateCards, outputsSection, jsonTree, longText} from './execution/outputs.js';
import {actions} from './execution/actions.js';
import {flowTasks} from './execution/graph.js';
import {executionTopology} from './execution/topology.js';

export async function render(root, params, query) {
  useStyle(new URL('./flow.css', import.meta.url).pathname); // the topology's drawing, as on the flow page
  useStyle(new URL('./execution.css', import.meta.url).pathname);
  // The view is a polite live region; this page updates every second while the execution runs,
  // so only its own status messages (the action answers) speak.
  root.setAttribute('aria-live', 'off');
  const id = params.id;
  // The first page of logs is asked for at once, not after the document (one round trip less
  // before the first lines show); a failure here is left to the log view's own read.
  const reads = executionReads({id});
  const firstPage = get(reads.logs).catch(() => null);
  let execution = await get(reads.execution);
  const runs = new Map(execution.taskRuns.map((r) => [r.id, r]));

  const header = headerView();
  const gates = h('section.gates', {'aria-label': 'Gate summaries'});
  const outputs = h('div');
  const problem = h('div');
  const chart = gantt({onSelect: (run) => { logs.setRun(run ? run.id : null); graph.select(null); }});
  const logs = logView({executionId: id, query, firstPage, onRun: (runId) => { chart.select(runId); graph.select(logs.task); }});
  const graph = executionTopology({onTask: (task) => { logs.setTask(task); chart.select(null); }});
  let runsVersion = 0; // bumped when a run changes, so the topology repaints only then
  const buttons = actions({refresh: () => reload(true)});
  fill(root, header.el, buttons.el, problem, gates,
    h('section.runs', {'aria-labelledby': 'runs-title'}, h('h2', {id: 'runs-title'}, 'Task runs'), chart.el),
    graph.el, logs.el, outputs);

  let stopStates = null;
  let frame = 0;
  let timer = 0;
  let outputsAt = 0;
  let outputsTimer = 0;

  const draw = () => {
    frame = 0;
    chart.update(execution, runs, true); // first: it reads the layout, the others only write
    header.update(execution);
    buttons.update(execution, runs);
    graph.update(execution, runs, runsVersion);
    logs.setTasks([...runs.values()].map((r) => r.taskId));
  };
  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };
  let resultsKey = '';
  let gateTypes = new Map();
  // A failed gate has no outputs: the flow tells which tasks are gates (read only then).
  const readGates = () => {
    if ([...runs.values()].some((r) => r.state === 'FAILED' || r.state === 'WARNING')) {
      flowTasks(execution).then((tasks) => {
        gateTypes = new Map(tasks.filter((t) => t.type.startsWith('gate.')).map((t) => [t.id, t.type.replace(/@.*/, '')]));
        resultsKey = '';
        drawResults();
      }, () => {});
    }
  };
  const drawResults = () => {
    const key = JSON.stringify([execution.outputs, execution.flowOutputs, [...runs.values()].filter((r) => gateTypes.has(r.taskId)).map((r) => r.state)]);
    if (key === resultsKey) return;
    resultsKey = key;
    fill(gates, gateCards(execution.outputs, runs, gateTypes));
    // What was opened stays open when outputs arrive.
    const open = new Set([...outputs.querySelectorAll('details[data-outputs]')].filter((d) => d.open).map((d) => d.dataset.outputs));
    fill(outputs, outputsSection(execution));
    for (const d of outputs.querySelectorAll('details[data-outputs]')) if (open.has(d.dataset.outputs)) d.open = true;
  };

  /** Reads the whole document again (outputs are not in the live events). */
  async function reload(resume = false) {
    try {
      const doc = await get(api('executions', id));
      execution = doc;
      for (const r of doc.taskRuns) runs.set(r.id, r);
      runsVersion++;
      fill(problem);
      drawResults();
      if (TERMINAL.has(doc.state) && !gateTypes.size) readGates();
      schedule();
      if (resume) live();
    } catch (error) {
      fill(problem, errorBox(error));
    }
  }

  /**
   * Outputs while running: read again after a run succeeds, at most every 3 s, and less often
   * when the document is large (a read of 1,000 runs takes ~100 ms: then every 5 s or more).
   */
  let reloadCost = 0;
  const outputsSoon = () => {
    if (outputsTimer) return;
    const every = Math.max(3000, reloadCost * 50);
    outputsTimer = setTimeout(async () => {
      outputsTimer = 0;
      outputsAt = Date.now();
      const t = performance.now();
      await reload();
      reloadCost = performance.now() - t;
    }, Math.max(0, every - (Date.now() - outputsAt)));
  };

  function live() {
    if (TERMINAL.has(execution.state)) return;
    logs.start(false);
    if (!stopStates) {
      stopStates = follow(`${api('executions', id)}/follow`, {
        taskRun: (run) => {
          const before = runs.get(run.id);
          runs.set(run.id, run);
          runsVersion++;
          if (run.state === 'SUCCESS' && (!before || before.state !== 'SUCCESS')) outputsSoon();
          schedule();
        },
        execution: (doc) => {
          execution = {...execution, ...doc};
          schedule();
          if (TERMINAL.has(doc.state)) {
            // The stream ends with the execution; closing it keeps EventSource from reconnecting.
            stopStates();
            stopStates = null;
            reload();
          }
        },
      });
    }
    if (!timer) timer = setInterval(() => { if (!TERMINAL.has(execution.state)) schedule(); }, 1000);
  }

  drawResults();
  readGates();
  draw();
  if (logs.run) chart.select(logs.run); // a ?run= in the URL marks its row
  if (logs.task) graph.select(logs.task); // a ?task= its node
  if (TERMINAL.has(execution.state)) logs.start(true);
  else live();

  return () => {
    if (stopStates) stopStates();
    logs.destroy();
    chart.destroy();
    graph.destroy();
    clearInterval(timer);
    clearTimeout(outputsTimer);
    if (frame) cancelAnimationFrame(frame);
  };
}

function flowHref(e) {
  return `/flows/${encodeURIComponent(e.namespace)}/${encodeURIComponent(e.flowId)}`;
}

function executionLink(executionId, text) {
  return link(`/executions/${encodeURIComponent(executionId)}`, h('code', text || executionId));
}

function value(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** What started the execution, in words and with its details. */
function trigger(e) {
  const t = e.trigger || {type: e.parent ? 'subflow' : 'unknown'};
  const parts = [h('span.label', t.type)];
  switch (t.type) {
    case 'webhook':
      if (t.id) parts.push(' trigger ', h('code', t.id));
      parts.push(h('details.trigger-detail', h('summary', 'request body, headers and query'),
        h('h3', 'Body'), h('pre.json-pre', {dataset: {trigger: 'body'}}, JSON.stringify(t.body, null, 2) ?? 'none'),
        h('h3', 'Headers'), table(t.headers),
        t.query && Object.keys(t.query).length ? [h('h3', 'Query'), table(t.query)] : null));
      break;
    case 'schedule':
      parts.push(' ', t.id ? h('code', t.id) : null, ' for ', time(t.date), t.timezone ? h('span.muted', ` (${t.timezone})`) : null,
        t.recovered ? h('span.muted', ' — a missed run, recovered after a restart') : null);
      break;
    case 'flow':
      parts.push(' after ', t.executionId ? executionLink(t.executionId, `${t.namespace}.${t.flowId}`) : `${t.namespace}.${t.flowId}`,
        t.state ? [' ended ', stateBadge(t.state)] : null, t.id ? h('span.muted', ` (trigger ${t.id})`) : null);
      break;
    case 'subflow': {
      const parent = e.parent || t;
      parts.push(' of ', executionLink(parent.executionId, parent.executionId.slice(0, 13) + '…'),
        parent.taskRun ? [' task ', h('code', parent.taskRun)] : null);
      break;
    }
    case 'replay':
      parts.push(' of ', executionLink(t.executionId, t.executionId.slice(0, 13) + '…'), ' from task ', h('code', t.fromTask));
      break;
    case 'api':
      parts.push(h('span.muted', ' started through the API'), t.actor ? [' by ', h('code', t.actor)] : null);
      break;
    case 'cli':
      parts.push(h('span.muted', ' started by sluice run'));
      break;
    default:
      parts.push(' ', h('code', JSON.stringify(t)));
  }
  return parts;
}

function table(map) {
  const entries = Object.entries(map || {});
  if (!entries.length) return h('p.muted', 'none');
  return h('table.kv', h('tbody', entries.map(([k, v]) => h('tr', h('th', {scope: 'row'}, h('code', k)), h('td.mono', value(v))))));
}

/**
 * The header. What changes while the execution runs (times, error) is drawn on every update,
 * the title when the state changes, the rest (trigger, labels, inputs) once, so open details
 * stay open and a focused link keeps its focus.
 */
function headerView() {
  const el = h('header.exec-header');
  const title = h('h1');
  const meta = h('dl.exec-meta');
  const error = h('div');
  const inputsBox = h('div');
  const triggerBox = h('dd');
  const labelsRow = h('div.meta-row');
  let fixed = null;
  let titled = '';
  el.append(title, h('p.muted.exec-id'), meta, error, inputsBox);
  const times = {created: h('dd'), started: h('dd'), ended: h('dd'), duration: h('dd')};
  const row = (name, dd) => h('div.meta-row', h('dt', name), dd);
  meta.append(row('Created', times.created), row('Started', times.started), row('Ended', times.ended),
    row('Duration', times.duration), row('Trigger', triggerBox), labelsRow);
  return {
    el,
    update(e) {
      const key = `${e.namespace}|${e.flowId}|${e.revision}|${e.state}`;
      if (key !== titled) {
        titled = key;
        fill(title, link(flowHref(e), `${e.namespace}.${e.flowId}`), h('span.muted.rev', ` rev ${e.revision} `),
        h('span', {id: 'execution-state', 'aria-label': `state ${e.state}`}, stateBadge(e.state)));
      }
      const end = e.endedAt ? Date.parse(e.endedAt) : Date.now();
      fill(times.created, time(e.createdAt) || '—');
      fill(times.started, time(e.startedAt) || h('span.muted', 'not yet'));
      fill(times.ended, time(e.endedAt) || h('span.muted', TERMINAL.has(e.state) ? '—' : 'still running'));
      const queued = e.startedAt && e.createdAt ? Date.parse(e.startedAt) - Date.parse(e.createdAt) : 0;
      fill(times.duration, e.startedAt ? duration(end - Date.parse(e.startedAt)) : '—', !e.endedAt && e.startedAt ? h('span.muted', ' so far') : null,
        queued >= 1000 ? h('span.muted', ` (queued ${duration(queued)} before it started)`) : null);
      fill(error, e.error ? h('div.exec-error', {id: 'execution-error'}, h('strong', {'aria-hidden': 'true'}, '✗ '), h('strong', 'Error: '), e.error) : null);
      // The trigger, labels and inputs of an execution never change.
      if (e.executionId === fixed) return;
      fixed = e.executionId;
      fill(el.querySelector('.exec-id'), 'execution ', h('code', e.executionId));
      fill(triggerBox, trigger(e));
      const labels = Object.entries(e.labels || {});
      fill(labelsRow, labels.length ? [h('dt', 'Labels'), h('dd', labels.map(([k, v]) => h('span.label', `${k}:${v}`)))] : null);
      const inputs = Object.entries(e.inputs || {});
      fill(inputsBox, inputs.length
        ? h('details.exec-inputs', {open: inputs.length <= 8 ? true : null},
          h('summary', `Inputs (${inputs.length})`),
          h('table.kv', h('tbody', inputs.map(([k, v]) => h('tr', h('th', {scope: 'row'}, h('code', k)),
            h('td', v !== null && typeof v === 'object' ? jsonTree(v, null, 1)
              : typeof v === 'string' && v.length > 300 ? longText(v) : h('span.mono', value(v))))))))
        : null);
    },
  };
}
