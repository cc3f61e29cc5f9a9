// The Gantt chart of an execution's task runs: one row per run (nested runs indented under
// their parent, collapsible), one bar per attempt, waiting drawn apart from running, and a time
// axis. Rows are positioned divs in a fixed-height scroller and only the rows in view (plus a
// margin) exist in the DOM, so 1,000 runs cost what 40 do. Keyboard: the rows are a treegrid
// with one tab stop; ↑ ↓ Home End PageUp PageDown move, → ← expand and collapse, Enter or
// Space selects (filters the logs to the run).

import {h, fill, stateBadge, duration, TERMINAL} from '../../dom.js';

const ROW = 26;
const MARGIN = 12;
const MAX_HEIGHT = 520;

const RUN_DONE = new Set([...TERMINAL, 'SKIPPED']);

/** `build[2]` → [2]; `a[1][3]` → [1, 3]; `deploy` → []. */
function iterations(id) {
  return [...id.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));
}

function ms(iso) {
  return iso ? Date.parse(iso) : null;
}

/** The exact time of a tooltip: the RFC 3339 value, to the millisecond, local and UTC. */
function exact(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)} (${iso})`;
}

/**
 * The segments of a run's bar, in time order: `wait` (created or queued until started, and
 * the backoff between retries), `attempt` (one per attempt) and `span` (a control-flow or
 * native task without attempts: from its start to its end).
 */
export function segments(run, fallbackStart, now) {
  const out = [];
  const attempts = run.attemptHistory || [];
  const started = ms(run.startedAt) ?? (attempts.length ? ms(attempts[0].startedAt) : null);
  const created = ms(run.createdAt);
  if (started === null) {
    if (!RUN_DONE.has(run.state)) {
      out.push({kind: 'wait', start: created ?? fallbackStart, end: now, label: 'waiting to start', open: true});
    }
    return out;
  }
  if (created !== null && created < started) out.push({kind: 'wait', start: created, end: started, label: 'waiting to start'});
  if (!attempts.length) {
    const end = ms(run.endedAt);
    out.push({kind: 'span', start: started, end: end ?? now, open: end === null, state: run.state, error: run.error,
      startedAt: run.startedAt, endedAt: run.endedAt});
    return out;
  }
  attempts.forEach((a, i) => {
    const start = ms(a.startedAt);
    if (i > 0) {
      const before = ms(attempts[i - 1].endedAt);
      if (before !== null && before < start) out.push({kind: 'wait', start: before, end: start, label: `waiting before attempt ${a.number} (retry backoff)`});
    }
    const end = ms(a.endedAt);
    out.push({kind: 'attempt', number: a.number, start, end: end ?? now, open: end === null, state: a.state, error: a.error,
      startedAt: a.startedAt, endedAt: a.endedAt});
  });
  // A run that waits for its next attempt (RETRYING) after its last one ended.
  const last = attempts[attempts.length - 1];
  if (last.endedAt && !RUN_DONE.has(run.state) && run.state !== 'RUNNING') {
    out.push({kind: 'wait', start: ms(last.endedAt), end: now, open: true, label: `waiting before attempt ${last.number + 1} (retry backoff)`});
  }
  return out;
}

function tooltip(run, seg) {
  const lines = [];
  if (seg.kind === 'wait') {
    lines.push(`${run.id}: ${seg.label}`, `from ${new Date(seg.start).toISOString()}`,
      seg.open ? 'still waiting' : `until ${new Date(seg.end).toISOString()}`, `waited ${duration(seg.end - seg.start)}`);
    return lines.join('\n');
  }
  lines.push(seg.kind === 'attempt' ? `${run.id}: attempt ${seg.number} · ${seg.state}` : `${run.id}: ${seg.state}`);
  lines.push(`started ${exact(seg.startedAt)}`);
  lines.push(seg.endedAt ? `ended ${exact(seg.endedAt)}` : 'still running');
  lines.push(`${seg.open ? 'running for' : 'took'} ${duration(seg.end - seg.start)}`);
  if (seg.error) lines.push(`error: ${seg.error}`);
  return lines.join('\n');
}

/** Tick spacing: the 1-2-5 step that gives about one label per 90 px. */
function step(span, width) {
  const target = span / Math.max(1, width / 90);
  const base = 10 ** Math.floor(Math.log10(Math.max(target, 1)));
  for (const m of [1, 2, 5, 10]) if (base * m >= target) return base * m;
  return base * 10;
}

function axisLabel(t) {
  if (t === 0) return '0';
  if (t < 1000) return `${t} ms`;
  if (t < 60000) return `${+(t / 1000).toFixed(2)} s`;
  const m = Math.floor(t / 60000);
  const s = Math.round((t % 60000) / 1000);
  return s ? `${m} min ${s} s` : `${m} min`;
}

/**
 * `onSelect(run)` is called when a row is clicked or chosen with the keyboard.
 * Returns `{el, update(execution, runs), select(id), destroy()}`; `update` is cheap (it draws
 * on the next animation frame) and may be called on every event.
 */
export function gantt({onSelect}) {
  let execution = null;
  let runs = new Map();
  let order = [];           // every run id in tree order, with depth
  let visible = [];         // the rows shown (collapsed subtrees left out)
  let orderKey = '';
  const collapsed = new Set();
  let active = 0;           // the row with the tab stop
  let selected = null;      // the run whose logs are shown
  let frame = 0;
  let firstShown = false; // the first rows were shown (a performance mark)
  const rendered = new Map(); // run id → row element in the DOM
  let scale = null;
  const keys = new Map();    // run id → its iteration indices, for the row order
  let version = 0;
  let drawnVersion = -1;
  let drawnWidth = 0;

  const axis = h('div.gantt-axis', {'aria-hidden': 'true'});
  const nowLine = h('span.now', {title: 'now'});
  const spacer = h('div.gantt-spacer');
  const body = h('div.gantt-body', {role: 'treegrid', 'aria-label': 'Task runs over time', 'aria-readonly': 'true'}, spacer);
  const legend = h('div.gantt-legend', {'aria-hidden': 'true'},
    h('span', h('i.bar.s-success'), ' succeeded'), h('span', h('i.bar.s-failed'), ' failed'),
    h('span', h('i.bar.s-running'), ' running'), h('span', h('i.bar.wait'), ' waiting (queued, retry backoff)'),
    h('span', h('i.bar.span.s-success'), ' no attempts (control flow, sleep, pause)'));
  const el = h('div.gantt', axis, body, legend);

  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); });
  };

  function layout() {
    const children = new Map();
    const roots = [];
    const index = new Map();
    [...runs.keys()].forEach((id, i) => index.set(id, i));
    for (const run of runs.values()) {
      if (run.parent && runs.has(run.parent)) {
        if (!children.has(run.parent)) children.set(run.parent, []);
        children.get(run.parent).push(run);
      } else {
        roots.push(run);
      }
    }
    const sort = (list) => list.sort((a, b) => {
      const ia = keys.get(a.id) ?? keys.set(a.id, iterations(a.id)).get(a.id);
      const ib = keys.get(b.id) ?? keys.set(b.id, iterations(b.id)).get(b.id);
      for (let i = 0; i < Math.min(ia.length, ib.length); i++) if (ia[i] !== ib[i]) return ia[i] - ib[i];
      return index.get(a.id) - index.get(b.id);
    });
    order = [];
    const walk = (list, depth) => {
      for (const run of sort(list)) {
        const kids = children.get(run.id);
        order.push({id: run.id, depth, parent: kids ? kids.length : 0});
        if (kids) walk(kids, depth + 1);
      }
    };
    walk(roots, 0);
  }

  function filterVisible() {
    visible = [];
    let skipBelow = Infinity;
    for (const row of order) {
      if (row.depth > skipBelow) continue;
      skipBelow = Infinity;
      visible.push(row);
      if (row.parent && collapsed.has(row.id)) skipBelow = row.depth;
    }
    active = Math.min(active, Math.max(0, visible.length - 1));
  }

  function range() {
    const now = Date.now();
    // From the start (a queued execution's wait is in the header, not in front of every bar).
    let start = ms(execution.startedAt) ?? ms(execution.createdAt);
    let end = ms(execution.endedAt);
    for (const run of runs.values()) {
      const s = ms(run.startedAt);
      if (s !== null && (start === null || s < start)) start = s;
      const e = ms(run.endedAt);
      if (e !== null && (end === null || e > end)) end = e;
    }
    if (start === null) start = now;
    if (!execution.endedAt) {
      // While it runs the end moves by steps (a 40th of the span, at least 250 ms), so the
      // bars' scale changes a few times a second at most, not on every frame.
      end = Math.max(end ?? now, now);
      const step = Math.max(250, (end - start) / 40);
      end = start + Math.ceil((end - start + 1) / step) * step;
    }
    return {start, end: Math.max(end, start + 1), now};
  }

  function drawAxis(scale, width) {
    const span = scale.end - scale.start;
    const every = step(span, width);
    const ticks = [];
    for (let t = 0; t <= span * 0.94; t += every) {
      ticks.push(h('span.tick', {style: {left: `${(t / span) * 100}%`}}, axisLabel(t)));
    }
    fill(axis, h('div.gantt-axis-label', 'task run'), h('div.gantt-ticks', ticks, execution.endedAt ? null : nowLine), h('div.gantt-axis-dur', 'duration'));
  }

  function row(entry, i, scale) {
    const run = runs.get(entry.id);
    let el = rendered.get(entry.id);
    if (!el) {
      el = h('div.gantt-row', {role: 'row', dataset: {run: run.id}});
      rendered.set(entry.id, el);
    }
    // Drawn again only when something it shows changed (a scroll alone just places rows).
    const done = RUN_DONE.has(run.state) && (run.endedAt || !run.startedAt);
    const key = `${run.state}|${run.endedAt}|${run.attemptHistory ? run.attemptHistory.length : 0}|${run.attemptHistory?.at(-1)?.endedAt}|${scale.start}|${done ? '' : scale.now}|${selected === run.id}|${collapsed.has(run.id)}|${i === active}|${i}|${entry.parent}`;
    if (el.drawn === key) return el;
    el.drawn = key;
    const span = scale.end - scale.start;
    const trackPx = Math.max(100, drawnWidth - 420);
    const parentRun = run.parent && runs.get(run.parent);
    const fallback = ms(parentRun && parentRun.startedAt) ?? ms(execution.startedAt) ?? scale.start;
    const bars = segments(run, fallback, scale.now).map((seg) => {
      const offset = seg.start - scale.start;
      const length = Math.max(0, seg.end - seg.start);
      const width = (length / span) * 100;
      const cls = seg.kind === 'wait' ? 'bar.wait' : `bar.${seg.kind}.s-${(seg.state || 'unknown').toLowerCase()}`;
      return h(`span.${cls}${seg.open ? '.open' : ''}`, {
        style: {left: `calc(var(--pct) * ${offset})`, width: `max(3px, calc(var(--pct) * ${length}))`},
        title: tooltip(run, seg),
        dataset: seg.kind === 'attempt' ? {attempt: seg.number} : {segment: seg.kind},
      }, seg.kind === 'attempt' && run.attemptHistory.length > 1 && (width / 100) * trackPx >= 22 ? `#${seg.number}` : null);
    });
    const took = run.durationMs ?? (run.startedAt && !run.endedAt ? scale.now - ms(run.startedAt) : null);
    const attempts = run.attemptHistory ? run.attemptHistory.length : 0;
    el.dataset.state = run.state;
    el.style.top = `${i * ROW}px`;
    el.setAttribute('aria-rowindex', String(i + 1));
    el.setAttribute('aria-level', String(entry.depth + 1));
    el.setAttribute('aria-selected', String(selected === run.id));
    const tries = attempts > 1 ? `, attempts: ${run.attemptHistory.map((a) => `${a.number} ${a.state}${a.endedAt ? ` ${duration(ms(a.endedAt) - ms(a.startedAt))}` : ''}`).join('; ')}` : '';
    el.setAttribute('aria-label', `${run.id}, ${run.state}${took !== null ? `, ${duration(took)}` : ''}${tries}${run.error ? `, error: ${run.error}` : ''}`);
    if (entry.parent) el.setAttribute('aria-expanded', String(!collapsed.has(run.id)));
    else el.removeAttribute('aria-expanded');
    el.tabIndex = i === active ? 0 : -1;
    el.classList.toggle('selected', selected === run.id);
    fill(el,
      h('span.gantt-name', {role: 'gridcell', style: {paddingLeft: `${6 + entry.depth * 16}px`}},
        entry.parent
          ? h('span.caret', {'aria-hidden': 'true', dataset: {toggle: run.id}, title: collapsed.has(run.id) ? `show ${entry.parent} runs` : 'hide nested runs'}, collapsed.has(run.id) ? '▸' : '▾')
          : h('span.caret'),
        stateBadge(run.state),
        h('span.run-id', {title: run.id}, run.id),
        run.value !== null && run.value !== undefined ? h('span.run-value', {title: `value ${JSON.stringify(run.value)}`}, JSON.stringify(run.value).slice(0, 40)) : null,
        attempts > 1 ? h('span.attempts', {title: `${attempts} attempts`}, `×${attempts}`) : null),
      h('span.gantt-track', {role: 'gridcell'}, bars),
      h('span.gantt-dur', {role: 'gridcell'}, took !== null ? duration(took) : ''));
    return el;
  }

  function draw() {
    if (!execution) return;
    const key = `${runs.size}`;
    if (key !== orderKey) {
      orderKey = key;
      layout();
      filterVisible();
    }
    // Layout is read before anything is written, so a frame never forces a second layout.
    const width = body.clientWidth;
    const scrollTop = body.scrollTop;
    // The scale moves with the clock only while the execution runs. Bars are placed in units
    // of --pct (the track's percent per millisecond): a new scale is one property, and only
    // the rows of unfinished runs are drawn again.
    if (!scale || version !== drawnVersion || !execution.endedAt || width !== drawnWidth) {
      const next = range();
      if (!scale || next.start !== scale.start || next.end !== scale.end || width !== drawnWidth) {
        drawAxis(next, width - 420 > 100 ? width - 420 : 600);
        body.style.setProperty('--pct', `${100 / (next.end - next.start)}%`);
      }
      scale = next;
      drawnVersion = version;
      drawnWidth = width;
      if (!execution.endedAt) nowLine.style.left = `${((scale.now - scale.start) / (scale.end - scale.start)) * 100}%`;
    }
    const height = visible.length * ROW;
    spacer.style.height = `${height}px`;
    body.style.height = `${Math.min(MAX_HEIGHT, Math.max(height, ROW)) + 2}px`;
    body.setAttribute('aria-rowcount', String(visible.length));
    const first = Math.max(0, Math.floor(scrollTop / ROW) - MARGIN);
    const last = Math.min(visible.length, Math.ceil((scrollTop + MAX_HEIGHT) / ROW) + MARGIN);
    const keep = new Set();
    const place = (i) => {
      const entry = visible[i];
      keep.add(entry.id);
      const el = row(entry, i, scale);
      if (el.parentNode !== spacer) spacer.append(el);
    };
    for (let i = first; i < last; i++) place(i);
    if (last > first && !firstShown) { firstShown = true; performance.mark('sluice:gantt'); } // the first rows shown
    if (visible.length && (active < first || active >= last)) place(active); // the tab stop stays reachable
    for (const [id, el] of rendered) {
      if (!keep.has(id)) {
        if (el.contains(document.activeElement)) continue; // never drop the focused row
        el.remove();
        rendered.delete(id);
      }
    }
    if (!visible.length) fill(spacer, h('p.muted.gantt-empty', 'No task run yet.'));
    else spacer.querySelector('.gantt-empty')?.remove();
  }

  function focusRow(i) {
    if (!visible.length) return;
    active = Math.max(0, Math.min(visible.length - 1, i));
    const top = active * ROW;
    if (top < body.scrollTop) body.scrollTop = top;
    else if (top + ROW > body.scrollTop + body.clientHeight) body.scrollTop = top + ROW - body.clientHeight;
    draw();
    rendered.get(visible[active].id)?.focus({preventScroll: true});
  }

  function toggle(id, open) {
    if (open === undefined) open = collapsed.has(id);
    if (open) collapsed.delete(id); else collapsed.add(id);
    const activeId = visible[active] && visible[active].id;
    filterVisible();
    const at = visible.findIndex((r) => r.id === activeId);
    if (at >= 0) active = at;
    draw();
  }

  function choose(id) {
    selected = selected === id ? null : id;
    draw();
    onSelect(selected ? runs.get(selected) : null);
  }

  body.addEventListener('scroll', schedule, {passive: true});
  body.addEventListener('click', (event) => {
    const caret = event.target.closest('[data-toggle]');
    if (caret) { toggle(caret.dataset.toggle); return; }
    const rowEl = event.target.closest('.gantt-row');
    if (!rowEl) return;
    const i = visible.findIndex((r) => r.id === rowEl.dataset.run);
    if (i >= 0) active = i;
    choose(rowEl.dataset.run);
  });
  body.addEventListener('keydown', (event) => {
    if (!visible.length) return;
    const page = Math.max(1, Math.floor(body.clientHeight / ROW) - 1);
    const entry = visible[active];
    switch (event.key) {
      case 'ArrowDown': focusRow(active + 1); break;
      case 'ArrowUp': focusRow(active - 1); break;
      case 'PageDown': focusRow(active + page); break;
      case 'PageUp': focusRow(active - page); break;
      case 'Home': focusRow(0); break;
      case 'End': focusRow(visible.length - 1); break;
      case 'ArrowRight':
        if (entry.parent && collapsed.has(entry.id)) toggle(entry.id, true); else focusRow(active + 1);
        break;
      case 'ArrowLeft': {
        if (entry.parent && !collapsed.has(entry.id)) { toggle(entry.id, false); break; }
        const parent = runs.get(entry.id).parent;
        const at = visible.findIndex((r) => r.id === parent);
        if (at >= 0) focusRow(at);
        break;
      }
      case 'Enter': case ' ': choose(entry.id); break;
      default: return;
    }
    event.preventDefault();
  });
  const resize = new ResizeObserver(schedule);
  resize.observe(body);

  return {
    el,
    /** `now`: draw at once (the caller is in an animation frame and has not written yet). */
    update(exec, all, now = false) {
      execution = exec;
      runs = all;
      version++;
      if (!now) { schedule(); return; }
      if (frame) { cancelAnimationFrame(frame); frame = 0; }
      draw();
    },
    /** Marks `id` as the selected run (the logs filter), or none. */
    select(id) {
      selected = id && runs.has(id) ? id : null;
      schedule();
    },
    destroy() {
      resize.disconnect();
      if (frame) cancelAnimationFrame(frame);
    },
  };
}
