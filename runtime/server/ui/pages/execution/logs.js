// The logs of an execution: read once when it has ended, followed over SSE while it runs
// (every line comes once, in order; the browser reconnects with Last-Event-ID). Filtered by task
// run or task, by minimum level, and by a text search whose matches are marked with <mark>
// nodes (never markup from strings). Lines are a fixed height in a fixed-height scroller, and
// only those in view (plus a margin) exist in the DOM; arriving lines are applied once per
// animation frame, so 10,000 lines neither freeze the page nor the stream. `#log-<seq>` in the
// URL scrolls to a line and marks it. Keyboard: the lines are a list with one tab stop;
// ↑ ↓ Home End PageUp PageDown move, Enter filters to the line's task run.

import {api, follow, get} from '../../api.js';
import {h, fill, errorBox} from '../../dom.js';
import {FIRST_LOG_LINES} from '../../reads.js';

const LINE = 20;
const MARGIN = 30;
// Lines per read of the stored log: the first page small (`FIRST_LOG_LINES`), so it arrives
// within a frame or two.
const PAGE = 5000;
const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/** `build[2]` → `build`. */
export function taskOf(run) {
  return run ? run.replace(/(\[\d+\])+$/, '') : '';
}

function clock(iso) {
  const d = new Date(iso);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** The message as text nodes, each match of `needle` (lowercase) in a <mark>. */
function marked(text, needle) {
  if (!needle) return [text];
  const out = [];
  const lower = text.toLowerCase();
  let from = 0;
  for (let at = lower.indexOf(needle); at >= 0; at = lower.indexOf(needle, from)) {
    if (at > from) out.push(text.slice(from, at));
    out.push(h('mark', text.slice(at, at + needle.length)));
    from = at + needle.length;
  }
  if (from < text.length) out.push(text.slice(from));
  return out;
}

/**
 * `onRun(runId|null)` is told when the filter's task run changes here (so the Gantt chart marks
 * it). Returns `{el, setRun(id), setTask(id), setTasks(ids), run, task, start(terminal),
 * destroy()}`.
 */
export function logView({executionId, query, onRun, firstPage = null}) {
  const all = [];            // every line, in seq order
  let shown = [];            // indices into `all` that pass the filter
  let lastSeq = 0;
  let pending = [];
  let frame = 0;
  let stop = null;
  let reading = false;       // stored pages are being read
  let readSeq = 0;           // the last seq read from the store (follow continues after it)
  let destroyed = false;
  let firstShown = false;    // the first lines were shown (a performance mark)
  let stick = true;          // keep the newest line in view while following
  let active = -1;           // index into `shown` with the tab stop
  let target = null;         // seq from #log-<seq>
  const rendered = new Map(); // seq → element
  const filter = {task: query.get('task') || '', run: query.get('run') || '', level: (query.get('level') || '').toUpperCase(), q: query.get('q') || ''};
  const hashSeq = /^#log-(\d+)$/.exec(location.hash);
  if (hashSeq) target = Number(hashSeq[1]);

  const taskSelect = h('select', {'aria-label': 'Task', name: 'task'});
  const levelSelect = h('select', {'aria-label': 'Minimum level', name: 'level'},
    h('option', {value: ''}, 'every level'), LEVELS.map((l) => h('option', {value: l}, `${l} and above`)));
  levelSelect.value = LEVELS.includes(filter.level) ? filter.level : '';
  const search = h('input', {type: 'search', placeholder: 'search the logs', 'aria-label': 'Search the logs', value: filter.q});
  const stickBox = h('input', {type: 'checkbox', checked: true});
  const stickLabel = h('label.muted.log-stick', {hidden: true}, stickBox, ' follow the newest line');
  const status = h('span.muted.log-count');
  const problem = h('div');
  const spacer = h('div.log-spacer');
  const body = h('div.log-body', {role: 'list', 'aria-label': 'Log lines', 'aria-live': 'off', tabindex: '-1'}, spacer);
  const el = h('section.logs', {'aria-labelledby': 'logs-title'},
    h('h2', {id: 'logs-title'}, 'Logs'),
    h('div.toolbar', {role: 'search'}, taskSelect, levelSelect, search, status, stickLabel),
    problem, body,
    h('p.muted.hint', 'Keys: ↑ ↓ to move between lines, Enter to show only that line’s task run. A line’s time is its link.'));

  let tasks = [];
  function drawTaskSelect() {
    const options = [h('option', {value: ''}, 'every task')];
    for (const t of tasks) options.push(h('option', {value: `task:${t}`}, t));
    if (filter.run) options.push(h('option', {value: `run:${filter.run}`}, `run ${filter.run}`));
    else if (filter.task && !tasks.includes(filter.task)) options.push(h('option', {value: `task:${filter.task}`}, filter.task));
    fill(taskSelect, options);
    taskSelect.value = filter.run ? `run:${filter.run}` : filter.task ? `task:${filter.task}` : '';
  }

  const passes = (line) => {
    if (filter.run && line.taskRun !== filter.run) return false;
    if (filter.task && taskOf(line.taskRun) !== filter.task) return false;
    if (filter.level && LEVELS.indexOf(line.level) < LEVELS.indexOf(filter.level)) return false;
    if (filter.q && !line.lower.includes(filter.q.toLowerCase())) return false;
    return true;
  };

  function refilter() {
    shown = [];
    for (let i = 0; i < all.length; i++) if (passes(all[i])) shown.push(i);
    for (const el of rendered.values()) el.remove();
    rendered.clear();
    active = Math.min(active, shown.length - 1);
    const url = new URL(location.href);
    for (const [k, v] of Object.entries(filter)) {
      if (v) url.searchParams.set(k, v); else url.searchParams.delete(k);
    }
    history.replaceState(history.state, '', url);
    schedule();
  }

  function setFilter(change) {
    Object.assign(filter, change);
    drawTaskSelect();
    refilter();
  }

  taskSelect.addEventListener('change', () => {
    const [kind, ...rest] = taskSelect.value.split(':');
    const value = rest.join(':');
    setFilter({task: kind === 'task' ? value : '', run: kind === 'run' ? value : ''});
    onRun(filter.run || null);
  });
  levelSelect.addEventListener('change', () => setFilter({level: levelSelect.value}));
  let typing = 0;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => setFilter({q: search.value}), 120);
  });
  stickBox.addEventListener('change', () => { stick = stickBox.checked; if (stick) schedule(); });

  function schedule() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; flush(); draw(); });
  }

  /** Applies the lines that arrived since the last frame. */
  function flush() {
    if (!pending.length) return;
    const batch = pending;
    pending = [];
    for (const line of batch) {
      if (line.seq <= lastSeq) continue; // a reconnect or a second stream sent it again
      lastSeq = line.seq;
      line.lower = String(line.message).toLowerCase();
      all.push(line);
      if (passes(line)) shown.push(all.length - 1);
    }
  }

  function lineEl(line, i) {
    let el = rendered.get(line.seq);
    if (!el) {
      const run = line.taskRun;
      const message = String(line.message).replace(/\r?\n/g, ' ⏎ ');
      el = h('div.log-line', {
        role: 'listitem', id: `log-${line.seq}`, dataset: {seq: line.seq, ...(run ? {task: taskOf(run), run} : {})},
        'aria-label': `${line.level} ${run || 'execution'}: ${line.message}`,
      },
      h('a.log-time', {href: `#log-${line.seq}`, title: `${line.time} · line ${line.seq}${line.attempt ? ` · attempt ${line.attempt}` : ''}`, tabindex: '-1', dataset: {link: line.seq}}, clock(line.time)),
      h(`span.log-level.level-${String(line.level).toLowerCase()}`, line.level),
      run ? h('a.log-task', {href: `?run=${encodeURIComponent(run)}`, title: `show only ${run}`, tabindex: '-1', dataset: {filter: run}}, run) : h('span.log-task.muted', '—'),
      h('span.log-msg', marked(message, filter.q.toLowerCase())));
      rendered.set(line.seq, el);
    }
    el.style.top = `${i * LINE}px`;
    el.tabIndex = i === active ? 0 : -1;
    el.classList.toggle('target', line.seq === target);
    return el;
  }

  function draw() {
    const height = shown.length * LINE;
    spacer.style.height = `${height}px`;
    body.style.height = `${Math.max(3 * LINE, height) + 18}px`;
    if (target !== null) {
      const at = shown.findIndex((i) => all[i].seq === target);
      if (at >= 0 && !body.dataset.jumped) {
        body.dataset.jumped = 'true';
        active = at;
        stick = false;
        stickBox.checked = false;
        body.scrollTop = Math.max(0, at * LINE - body.clientHeight / 2);
      }
    }
    if (stick && stop) body.scrollTop = height;
    const first = Math.max(0, Math.floor(body.scrollTop / LINE) - MARGIN);
    const last = Math.min(shown.length, Math.ceil((body.scrollTop + body.clientHeight) / LINE) + MARGIN);
    const keep = new Set();
    const place = (i) => {
      const line = all[shown[i]];
      keep.add(line.seq);
      const el = lineEl(line, i);
      if (el.parentNode !== spacer) spacer.append(el);
    };
    for (let i = first; i < last; i++) place(i);
    if (last > first && !firstShown) { firstShown = true; performance.mark('sluice:logs'); } // the first lines shown
    if (active >= 0 && active < shown.length && (active < first || active >= last)) place(active);
    for (const [seq, el] of rendered) {
      if (keep.has(seq) || el.contains(document.activeElement)) continue;
      el.remove();
      rendered.delete(seq);
    }
    body.tabIndex = active >= 0 && shown.length ? -1 : 0;
    const count = all.length.toLocaleString();
    const more = reading ? ', reading more…' : '';
    fill(status, (shown.length === all.length ? `${count} lines` : `${shown.length.toLocaleString()} of ${count} lines`) + more);
    if (!all.length && !stop && !reading) spacer.replaceChildren(h('p.muted.log-empty', 'No log line.'));
    else spacer.querySelector('.log-empty')?.remove();
  }

  function focusLine(i) {
    if (!shown.length) return;
    active = Math.max(0, Math.min(shown.length - 1, i));
    const top = active * LINE;
    if (top < body.scrollTop) body.scrollTop = top;
    else if (top + LINE > body.scrollTop + body.clientHeight) body.scrollTop = top + LINE - body.clientHeight;
    stick = false;
    stickBox.checked = false;
    draw();
    rendered.get(all[shown[active]].seq)?.focus({preventScroll: true});
  }

  body.addEventListener('scroll', () => {
    const atBottom = body.scrollTop + body.clientHeight >= body.scrollHeight - LINE;
    if (stick !== atBottom && stop) { stick = atBottom; stickBox.checked = atBottom; }
    schedule();
  }, {passive: true});
  body.addEventListener('keydown', (event) => {
    const page = Math.max(1, Math.floor(body.clientHeight / LINE) - 1);
    if (active < 0) active = Math.max(0, Math.floor(body.scrollTop / LINE));
    switch (event.key) {
      case 'ArrowDown': focusLine(active + 1); break;
      case 'ArrowUp': focusLine(active - 1); break;
      case 'PageDown': focusLine(active + page); break;
      case 'PageUp': focusLine(active - page); break;
      case 'Home': focusLine(0); break;
      case 'End': focusLine(shown.length - 1); break;
      case 'Enter': {
        const line = all[shown[active]];
        if (line && line.taskRun) { setFilter({run: line.taskRun, task: ''}); onRun(line.taskRun); }
        break;
      }
      default: return;
    }
    event.preventDefault();
  });
  body.addEventListener('click', (event) => {
    const taskLink = event.target.closest('a[data-filter]');
    const timeLink = event.target.closest('a[data-link]');
    const lineEl = event.target.closest('.log-line');
    if (lineEl) active = shown.findIndex((i) => all[i].seq === Number(lineEl.dataset.seq));
    if (taskLink) {
      event.preventDefault();
      setFilter({run: taskLink.dataset.filter, task: ''});
      onRun(taskLink.dataset.filter);
    } else if (timeLink) {
      // The fragment changes without a navigation (the router would draw the page again).
      event.preventDefault();
      target = Number(timeLink.dataset.link);
      history.replaceState(history.state, '', `${location.pathname}${location.search}#log-${target}`);
      for (const [seq, el] of rendered) el.classList.toggle('target', seq === target);
    }
  });

  const add = (lines) => {
    for (const line of lines) pending.push(line);
    schedule();
  };

  drawTaskSelect();

  return {
    el,
    /** The run filter, from the Gantt chart (null: every task). */
    setRun(id) {
      setFilter({run: id || '', task: ''});
    },
    /** The task filter, from the topology (null: every task). */
    setTask(id) {
      setFilter({task: id || '', run: ''});
    },
    setTasks(ids) {
      const next = [...new Set(ids)].sort();
      if (next.join('\n') !== tasks.join('\n')) { tasks = next; drawTaskSelect(); }
    },
    get run() { return filter.run || null; },
    get task() { return filter.task || null; },
    /**
     * Reads the stored lines page by page (a small first page, so the first lines show at once
     * however long the log), then, while the execution runs, follows from the last one read.
     * Called again after a restart: lines already shown are not added twice.
     */
    async start(terminal) {
      if (stop || reading) return;
      reading = true;
      schedule();
      try {
        for (let size = FIRST_LOG_LINES; !destroyed; size = PAGE) {
          const query = new URLSearchParams({limit: String(size)});
          if (readSeq) query.set('afterSeq', String(readSeq));
          // The first page may have been asked for already, beside the execution's document.
          const early = !readSeq && firstPage ? await firstPage : null;
          firstPage = null;
          const page = early || await get(`${api('executions', executionId, 'logs')}?${query}`);
          add(page);
          if (page.length) readSeq = page[page.length - 1].seq;
          if (page.length < size) break;
        }
      } catch (error) {
        fill(problem, errorBox(error));
        return;
      } finally {
        reading = false;
        schedule();
      }
      if (terminal || destroyed) return;
      stickLabel.hidden = false;
      const from = readSeq ? `?afterSeq=${readSeq}` : '';
      stop = follow(`${api('executions', executionId, 'logs', 'follow')}${from}`, {
        log: (line) => add([line]),
        end: () => { if (stop) stop(); stop = null; stickLabel.hidden = true; schedule(); },
        error: () => fill(status, 'reconnecting…'),
      });
    },
    destroy() {
      destroyed = true;
      if (stop) stop();
      stop = null;
      if (frame) cancelAnimationFrame(frame);
      clearTimeout(typing);
    },
  };
}
