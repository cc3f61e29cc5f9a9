// A flow: its topology, its YAML in an editor validated as you type, saving a new revision,
// the revisions with a diff between any two, its triggers and its recent executions.
//
// Hooks for browser tests:
//   #flow-editor                          the editor's textarea (the YAML)
//   .problem-mark[data-line][data-column] an underlined span in the highlighted layer, one per problem
//   .gutter-line.has-problem[data-line]   the gutter's marker of a line with problems
//   #flow-problems                        the list of problems; each `.problem[data-line][data-column]`
//                                         (a button: moves the caret there) holds `.problem-message`
//                                         and `.problem-hint`; a problem about the whole file has
//                                         empty data-line/data-column
//   #flow-problems-status                 "valid" / "N problems" / "checking…" (role=status)
//   [data-action=save]                    the save button (Ctrl/Cmd+S in the editor too)
//   #save-result                          "Saved revision N" (`data-revision`), or the problem
//   [data-action=open-run]                the link to the run form
//   g.node[data-task][data-type]          a topology node (a task without children)
//   g.group[data-task][data-type]         a control-flow task's box (its lists are `g.lane[data-label]`)
//   g.handlers[data-list=errors|finally]  the errors / finally groups
//   path.edge[data-from][data-to]         a "waits for" edge (`.edge-depends` when from dependsOn)
//   #flow-revisions                       the revisions table; radios `input[name=diff-a][value=N]`
//                                         and `input[name=diff-b][value=N]` choose the two sides
//   .diff                                 the diff of the chosen two: `.diff-line.diff-add`,
//                                         `.diff-line.diff-del`, `.diff-line.diff-ctx`
//   #flow-triggers tr[data-trigger]       a trigger; #flow-executions tr[data-execution]
//   [data-action=edit-revision]           a revision's "Edit from this" button (puts its YAML in the editor)
//
// Leaving the page (a page load, not a view change) with unsaved edits asks first (beforeunload).

import {api, get, post, put} from '../api.js';
import {navigate} from '../app.js';
import {h, fill, link, stateBadge, time, errorBox, useStyle} from '../dom.js';
import {flowReads} from '../reads.js';
import {createEditor} from './flow/editor.js';
import {renderDiff} from './flow/diff.js';
import {topology} from './flow/topology.js';

const DEBOUNCE_MS = 300;

export async function render(root, {namespace, id}) {
  useStyle(new URL('./flow.css', import.meta.url).pathname);
  const reads = flowReads({namespace, id});
  const flowPath = reads.flow;
  const [flow, graph, revisions, triggers, executions] = await Promise.all([
    get(flowPath),
    settle(get(reads.graph)),
    settle(get(reads.revisions)),
    settle(get(reads.triggers)),
    settle(get(reads.executions)),
  ]);
  const page = `/flows/${encodeURIComponent(namespace)}/${encodeURIComponent(id)}`;
  let saved = flow.source;
  const revisionText = h('span.muted', `revision ${flow.revision}`);

  // The editor and its problems.
  const status = h('span', {id: 'flow-problems-status', role: 'status'}, 'valid (the saved revision)');
  const problemsList = h('ul.problems', {id: 'flow-problems', 'aria-label': 'Problems'});
  const saveResult = h('div', {id: 'save-result', role: 'status'});
  const dirtyNote = h('span.muted.dirty', {hidden: true}, 'unsaved changes');
  const saveButton = h('button.primary', {type: 'button', 'data-action': 'save', disabled: true}, 'Save revision');
  let timer = null;
  let checking = 0;
  const editor = createEditor({
    text: flow.source,
    label: `YAML of flow ${namespace}.${id}`,
    onChange: () => {
      const dirty = editor.value !== saved;
      dirtyNote.hidden = !dirty;
      saveButton.disabled = !dirty;
      clearTimeout(timer);
      fill(status, 'checking…');
      timer = setTimeout(check, DEBOUNCE_MS);
    },
    onSave: () => save(),
  });
  const showProblems = (errors) => {
    editor.setProblems(errors);
    fill(problemsList, errors.map((e) => h('li',
      h('button.problem', {type: 'button', dataset: {line: e.line ?? '', column: e.column ?? ''},
        onclick: () => e.line && editor.goto(e.line, e.column || 1)},
      h('span.problem-at', e.line ? `${e.line}:${e.column}` : 'file'),
      h('span.problem-message', e.message),
      e.hint ? h('span.problem-hint', `hint: ${e.hint}`) : null))));
    fill(status, errors.length ? h('span.bad', `${errors.length} problem${errors.length === 1 ? '' : 's'}`) : h('span.ok', '✓ valid'));
  };
  const check = async () => {
    const mine = ++checking;
    const text = editor.value;
    try {
      await post(api('flows', 'validate'), text, 'application/yaml');
      if (mine === checking) showProblems([]);
    } catch (error) {
      if (mine !== checking) return;
      if (error.problem && Array.isArray(error.problem.errors)) showProblems(error.problem.errors);
      else { showProblems([]); fill(status, errorBox(error)); }
    }
  };
  const save = async () => {
    clearTimeout(timer);
    saveButton.disabled = true;
    fill(saveResult, 'Saving…');
    try {
      const answer = await put(flowPath, editor.value, 'application/yaml');
      saved = editor.value;
      dirtyNote.hidden = true;
      showProblems([]);
      saveResult.dataset.revision = answer.revision;
      fill(saveResult, h('span.ok', `Saved revision ${answer.revision}`));
      fill(revisionText, `revision ${answer.revision}`);
      await Promise.all([drawTopology(), drawRevisions()]);
    } catch (error) {
      saveButton.disabled = false;
      delete saveResult.dataset.revision;
      if (error.problem && Array.isArray(error.problem.errors)) showProblems(error.problem.errors);
      fill(saveResult, errorBox(error));
    }
  };
  saveButton.addEventListener('click', save);

  // The topology.
  const topologyBox = h('div.topology-box', {tabindex: '-1'});
  const drawTopology = async (given) => {
    const answer = given || await settle(get(`${flowPath}/graph`));
    if (answer.error) { fill(topologyBox, errorBox(answer.error)); return; }
    fill(topologyBox, topology(answer.value, {
      onSelect: (task) => task.line && editor.goto(task.line, 1),
      onOpen: (href) => navigate(href),
    }));
  };

  // The revisions and their diff.
  const revisionsBox = h('div');
  const diffBox = h('div');
  const drawRevisions = async (given) => {
    const answer = given || await settle(get(`${flowPath}/revisions`));
    if (answer.error) { fill(revisionsBox, errorBox(answer.error)); return; }
    const all = answer.value;
    const pick = {a: all.length > 1 ? all[all.length - 2].revision : all[0]?.revision, b: all[all.length - 1]?.revision};
    const showDiff = () => {
      const a = all.find((r) => r.revision === pick.a);
      const b = all.find((r) => r.revision === pick.b);
      if (all.length < 2) fill(diffBox, h('p.muted', 'One revision so far: each save adds one, and any two can be compared here.'));
      else fill(diffBox, a && b ? renderDiff(a.source, b.source, [`revision ${a.revision}`, `revision ${b.revision}`]) : '');
    };
    const radio = (side, r) => h('input', {type: 'radio', name: `diff-${side}`, value: r.revision, checked: pick[side] === r.revision,
      'aria-label': `${side === 'a' ? 'from' : 'to'} revision ${r.revision}`,
      onchange: () => { pick[side] = r.revision; showDiff(); }});
    fill(revisionsBox, h('table.revisions', {id: 'flow-revisions'},
      h('thead', h('tr', ['Revision', 'Saved', 'From', 'To', ''].map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', [...all].reverse().map((r) => h('tr', {dataset: {revision: r.revision}},
        h('td', `rev ${r.revision}`), h('td', time(r.createdAt)),
        h('td', radio('a', r)), h('td', radio('b', r)),
        h('td', h('button', {type: 'button', 'data-action': 'edit-revision',
          onclick: () => { editor.value = r.source; editor.goto(1, 1); }}, 'Edit from this')))))));
    showDiff();
  };

  const unsaved = (event) => { if (editor.value !== saved) { event.preventDefault(); event.returnValue = ''; } };
  window.addEventListener('beforeunload', unsaved);

  const labels = Object.entries(graph.value?.labels || {}).map(([k, v]) => h('span.label', `${k}:${v}`));
  fill(root,
    h('p.crumbs', link('/flows', 'Flows'), ' / ', link(`/flows?${new URLSearchParams({q: namespace})}`, namespace)),
    h('div.flow-head',
      h('h1', `${namespace}.${id} `, revisionText),
      h('a.button.primary', {href: `${page}/run`, 'data-nav': true, 'data-action': 'open-run'}, '▶ Run')),
    graph.value?.description ? h('p.description', graph.value.description) : null, labels,
    h('div.flow-summary',
      h('section', {'aria-labelledby': 'h-triggers'}, h('h2', {id: 'h-triggers'}, 'Triggers'), triggerList(triggers, executions.value || [])),
      h('section', {'aria-labelledby': 'h-executions'}, h('h2', {id: 'h-executions'}, 'Recent executions'),
        executionList(executions),
        h('p', link(`/executions?${new URLSearchParams({namespace, flowId: id})}`, 'All executions of this flow')))),
    h('section', {'aria-labelledby': 'h-topology'}, h('h2', {id: 'h-topology'}, 'Topology'),
      h('p.muted.legend', 'Each task with what it may touch: ', h('span.grant.grant-network', 'net'), ' network origins, ',
        h('span.grant.grant-docker', 'docker'), ' the Docker Engine, ', h('span.grant.grant-secret', 'secret'), ' secrets, ',
        h('span.grant.grant-env', 'env'), ' environment variables. Choose a task to see it in the editor.'),
      topologyBox),
    h('section', {'aria-labelledby': 'h-source'}, h('h2', {id: 'h-source'}, 'Source'),
      h('div.toolbar', saveButton, dirtyNote, status), saveResult,
      editor.element, problemsList),
    h('section', {'aria-labelledby': 'h-revisions'}, h('h2', {id: 'h-revisions'}, 'Revisions'), revisionsBox, diffBox));
  // Drawn from the answers already here; later calls fetch again.
  await Promise.all([drawTopology(graph), drawRevisions(revisions)]);
  return () => {
    clearTimeout(timer);
    window.removeEventListener('beforeunload', unsaved);
  };
}

/** {value} or {error}, so that one failed read leaves the rest of the page. */
async function settle(promise) {
  try { return {value: await promise}; } catch (error) { return {error}; }
}

function triggerList(answer, executions) {
  if (answer.error) return errorBox(answer.error);
  if (!answer.value.length) return h('p.muted', 'No triggers: it runs when started.');
  return h('table.triggers', {id: 'flow-triggers'},
    h('thead', h('tr', ['Trigger', 'When', 'Next', 'Last'].map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', answer.value.map((t) => h('tr', {dataset: {trigger: t.id}, class: t.disabled ? 'disabled' : null},
      h('td', h('strong', t.id), ' ', h('span.muted', t.type), t.disabled ? h('span.muted', ' (disabled)') : null),
      h('td', when(t)),
      h('td', {title: t.coveredUntil ? `fired for every date up to ${t.coveredUntil}` : null},
        t.type === 'schedule' ? (t.nextDate ? time(t.nextDate) : h('span.muted', 'never')) : h('span.muted', '—')),
      h('td', last(t, executions))))));
}

function when(t) {
  if (t.type === 'schedule') return [h('code', t.cron), ' ', h('span.muted', t.timezone)];
  if (t.type === 'webhook') return [h('code', t.path), t.signature ? h('span.muted', ` signed (${t.signature})`) : h('span.muted', ' unsigned')];
  if (t.type === 'flow') {
    return ['after ', link(`/flows/${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.flowId)}`, `${t.namespace}.${t.flowId}`),
      ' ends ', (t.states || []).join(', ') || 'in any final state'];
  }
  return '';
}

/** The newest execution this trigger started (among the flow's last 50), and a schedule's state. */
function last(t, executions) {
  const parts = [];
  const started = executions.find((e) => e.trigger && e.trigger.type === t.type && e.trigger.id === t.id);
  if (started) parts.push(link(`/executions/${started.executionId}`, stateBadge(started.state)), ' ', time(started.createdAt));
  else if (t.executionId) parts.push(link(`/executions/${t.executionId}`, h('code', t.executionId.slice(0, 13) + '…')));
  if (t.skipped) parts.push(h('span.warn', ` ${t.skipped} skipped`));
  return parts.length ? parts : h('span.muted', t.type === 'schedule' ? 'not fired yet' : 'nothing started lately');
}

function executionList(answer) {
  if (answer.error) return errorBox(answer.error);
  if (!answer.value.length) return h('p.muted', 'Never run.');
  return h('table.executions', {id: 'flow-executions'},
    h('tbody', answer.value.slice(0, 5).map((e) => h('tr', {dataset: {execution: e.executionId}},
      h('td', stateBadge(e.state)),
      h('td', link(`/executions/${e.executionId}`, h('code', e.executionId.slice(0, 13) + '…'))),
      h('td.muted', `rev ${e.revision}`),
      h('td.muted', e.trigger ? e.trigger.type : ''),
      h('td', time(e.createdAt))))));
}
