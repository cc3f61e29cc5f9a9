// What can be done to an execution: kill (while it has not ended), resume (while PAUSED, with a
// form for the `onResume` inputs its pause declares), restart (FAILED or KILLED), replay from a
// chosen task (a new execution: the page goes to it). Every answer, or its problem document, is
// shown as a message.

import {api, get, post} from '../../api.js';
import {h, fill, errorBox, TERMINAL} from '../../dom.js';
import {navigate} from '../../app.js';
import {flowTasks} from './graph.js';

/** The `flow.pause` tasks of the execution's flow revision (id → task). */
async function pauseTasks(execution) {
  const tasks = await flowTasks(execution);
  return new Map(tasks.filter((t) => t.type === 'flow.pause').map((t) => [t.id, t]));
}

/** A form field for one declared input; `read()` gives its value, or undefined when left empty. */
function field(input) {
  const id = `resume-${input.id}`;
  const type = input.type || 'string';
  let control;
  let read;
  if (type === 'bool') {
    control = h('input', {type: 'checkbox', id, checked: input.default === true});
    read = () => control.checked;
  } else if (type === 'select' && Array.isArray(input.values)) {
    control = h('select', {id}, input.required === false || input.default != null ? h('option', {value: ''}, '—') : null,
      input.values.map((v) => h('option', {value: String(v)}, String(v))));
    if (input.default !== undefined && input.default !== null) control.value = String(input.default);
    read = () => control.value || undefined;
  } else if (type === 'int' || type === 'float') {
    control = h('input', {type: 'number', id, step: type === 'int' ? '1' : 'any', value: input.default ?? null,
      min: input.min ?? null, max: input.max ?? null});
    read = () => (control.value === '' ? undefined : Number(control.value));
  } else if (type === 'json' || type === 'array') {
    control = h('textarea.mono', {id, rows: '2', placeholder: type === 'array' ? '["a", "b"] or a, b' : 'JSON'});
    if (input.default !== undefined && input.default !== null) control.value = JSON.stringify(input.default);
    read = () => {
      const text = control.value.trim();
      if (!text) return undefined;
      try { return JSON.parse(text); } catch {
        if (type === 'array') return text.split(',').map((s) => s.trim()).filter(Boolean);
        throw new Error(`${input.id}: not JSON`);
      }
    };
  } else {
    control = h('input', {type: type === 'secret' ? 'password' : 'text', id, value: input.default ?? null,
      placeholder: type === 'datetime' ? '2026-01-31T12:00:00Z' : type === 'duration' ? '1h 30m' : null,
      autocomplete: 'off'});
    read = () => (control.value === '' ? undefined : control.value);
  }
  const required = input.required ?? (input.default == null);
  const row = h('div.resume-field',
    h('label', {for: id}, input.id, required ? h('span.required', {'aria-hidden': 'true'}, ' *') : null, h('span.muted', ` ${type}`)),
    control,
    input.description ? h('span.muted.hint', String(input.description)) : null);
  if (required && type !== 'bool') control.setAttribute('aria-required', 'true');
  return {row, read, id: input.id};
}

/**
 * `refresh()` reads the execution again and follows it; returns `{el, update(execution, runs)}`.
 */
export function actions({refresh}) {
  const message = h('div.action-message', {role: 'status', 'aria-live': 'polite'});
  const buttons = h('div.toolbar.actions', {role: 'toolbar', 'aria-label': 'Execution actions'});
  const resumeBox = h('div.resume');
  const el = h('section.exec-actions', buttons, resumeBox, message);
  let execution = null;
  let busy = false;
  let pausesFor = null;   // the revision whose pause tasks were read
  let pauses = null;
  let resumeKey = '';
  let lastRuns = null;
  let drawnKey = '';

  const show = (ok, doc) => fill(message, ok
    ? h('div.notice', h('strong', ok), ' ', h('code', JSON.stringify(doc)))
    : errorBox(doc));

  async function act(name, path, body, after) {
    if (busy) return;
    busy = true;
    draw();
    try {
      const answer = await post(path, body);
      show(`${name}:`, answer);
      if (after) await after(answer);
      else await refresh();
    } catch (error) {
      show(null, error);
    } finally {
      busy = false;
      draw();
    }
  }

  const replaySelect = h('select', {'aria-label': 'Replay from task', dataset: {replayFrom: ''}});
  let replayTasks = '';

  function draw(runs = lastRuns) {
    if (!execution) return;
    lastRuns = runs;
    // Drawn again only when what it shows changes, so a focused button keeps its focus.
    const taskIds = runs ? [...new Set([...runs.values()].map((r) => r.taskId))].join('\n') : '';
    const key = `${execution.executionId}|${execution.state}|${busy}|${resumeBox.childElementCount}|${taskIds}`;
    if (key === drawnKey) return;
    drawnKey = key;
    const state = execution.state;
    const id = execution.executionId;
    const list = [];
    if (!TERMINAL.has(state) && state !== 'KILLING') {
      list.push(h('button.danger', {type: 'button', dataset: {action: 'kill'}, disabled: busy, 'aria-label': 'Kill this execution',
        onclick: () => act('Kill', `${api('executions', id)}/kill`, {})}, '■ Kill'));
    }
    if (state === 'PAUSED' && !resumeBox.childElementCount) {
      list.push(h('button.primary', {type: 'button', dataset: {action: 'resume'}, disabled: busy, 'aria-label': 'Resume this execution',
        onclick: () => act('Resume', `${api('executions', id)}/resume`, {})}, '▶ Resume'));
    }
    if (state === 'FAILED' || state === 'KILLED') {
      list.push(h('button', {type: 'button', dataset: {action: 'restart'}, disabled: busy, 'aria-label': 'Restart the failed and killed tasks',
        onclick: () => act('Restart', `${api('executions', id)}/restart`, {})}, '↻ Restart failed tasks'));
    }
    if (TERMINAL.has(state) && runs) {
      const ids = [...new Set([...runs.values()].map((r) => r.taskId))];
      if (ids.join('\n') !== replayTasks) {
        replayTasks = ids.join('\n');
        fill(replaySelect, ids.map((t) => h('option', {value: t}, t)));
      }
      list.push(h('span.replay', h('label', 'Replay from ', replaySelect),
        h('button', {type: 'button', dataset: {action: 'replay'}, disabled: busy || !ids.length, 'aria-label': 'Replay from the chosen task as a new execution',
          onclick: () => act('Replay', `${api('executions', id)}/replay?fromTask=${encodeURIComponent(replaySelect.value)}`, {},
            (answer) => navigate(`/executions/${encodeURIComponent(answer.executionId)}`))}, '⟲ Replay')));
    }
    if (busy) list.push(h('span.muted', {role: 'status'}, 'working…'));
    fill(buttons, list);
  }

  /** While PAUSED: one form per waiting pause whose task declares `onResume` inputs. */
  async function drawResume(runs) {
    if (execution.state !== 'PAUSED') {
      resumeKey = '';
      fill(resumeBox);
      return;
    }
    if (pausesFor !== execution.revision) {
      pausesFor = execution.revision;
      try { pauses = await pauseTasks(execution); } catch { pauses = null; }
    }
    const waiting = [...runs.values()].filter((r) => r.state === 'RUNNING' && (!pauses || pauses.has(r.taskId)));
    const key = waiting.map((r) => r.id).join(',') + (pauses ? '' : '?');
    if (key === resumeKey) return;
    resumeKey = key;
    const forms = [];
    for (const run of waiting) {
      const declared = pauses ? pauses.get(run.taskId).onResume || [] : null;
      if (declared && !declared.length) continue;
      const fields = declared ? declared.map(field) : null;
      const raw = declared ? null : h('textarea.mono', {rows: '3', id: `resume-json-${run.id}`, placeholder: '{"approved": true}'});
      const form = h('form.resume-form', {'aria-label': `Resume ${run.id}`, dataset: {run: run.id},
        onsubmit: (event) => {
          event.preventDefault();
          let body = {};
          try {
            if (fields) for (const f of fields) { const v = f.read(); if (v !== undefined) body[f.id] = v; }
            else body = raw.value.trim() ? JSON.parse(raw.value) : {};
          } catch (error) {
            show(null, error);
            return;
          }
          resumeKey = '';
          act('Resume', `${api('executions', execution.executionId)}/resume?taskRun=${encodeURIComponent(run.id)}`, body);
        }},
      h('h3', `Resume `, h('code', run.id)),
      fields ? fields.map((f) => f.row) : h('div.resume-field', h('label', {for: raw.id}, 'inputs (JSON)'), raw),
      h('button.primary', {type: 'submit', dataset: {action: 'resume'}, 'aria-label': `Resume ${run.id} with these inputs`}, '▶ Resume'));
      forms.push(form);
    }
    fill(resumeBox, forms);
    draw(runs);
  }

  return {
    el,
    update(exec, runs) {
      execution = exec;
      draw(runs);
      drawResume(runs);
    },
  };
}
