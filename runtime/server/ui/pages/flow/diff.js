// A line diff of two texts (Myers' O(ND) algorithm) and its rendering: changed lines with three
// lines of context, longer unchanged stretches folded. `.diff` holds `.diff-line` rows, each
// `.diff-add`, `.diff-del` or `.diff-ctx`, with the old and new line numbers.

import {h} from '../../dom.js';

/** [['=', a, b] | ['-', a, null] | ['+', null, b]] with a, b the 0-based line indexes. */
export function diffLines(before, after) {
  const a = lines(before);
  const b = lines(after);
  // Common ends apart: most revisions change a few lines in the middle.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const ops = [];
  for (let i = 0; i < head; i++) ops.push(['=', i, i]);
  for (const [op, i, j] of myers(x, y)) ops.push([op, i === null ? null : i + head, j === null ? null : j + head]);
  for (let k = tail; k > 0; k--) ops.push(['=', a.length - k, b.length - k]);
  return {ops, a, b};
}

function myers(a, b) {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace = [];
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[offset + k] = x;
      if (x >= n && y >= m) { found = true; break; }
    }
  }
  // Walk back through the saved frontiers.
  const ops = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d];
    const k = x - y;
    const prevK = k === -d || (k !== d && vd[offset + k - 1] < vd[offset + k + 1]) ? k + 1 : k - 1;
    const prevX = vd[offset + prevK];
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) { x--; y--; ops.push(['=', x, y]); }
    if (d > 0) {
      if (x === prevX) ops.push(['+', null, prevY]);
      else ops.push(['-', prevX, null]);
    }
    x = prevX;
    y = prevY;
  }
  return ops.reverse();
}

const CONTEXT = 3;

/** The diff as rows; `labels` name the two sides. */
export function renderDiff(before, after, labels) {
  const {ops, a, b} = diffLines(before, after);
  const changed = ops.map((o) => o[0] !== '=');
  const near = ops.map((_, i) => {
    for (let j = Math.max(0, i - CONTEXT); j <= Math.min(ops.length - 1, i + CONTEXT); j++) if (changed[j]) return true;
    return false;
  });
  const adds = ops.filter((o) => o[0] === '+').length;
  const dels = ops.filter((o) => o[0] === '-').length;
  const rows = [];
  let folded = 0;
  const fold = () => {
    if (folded) rows.push(h('div.diff-line.diff-fold', h('span.diff-no'), h('span.diff-no'), h('span.diff-text', `… ${folded} unchanged line${folded === 1 ? '' : 's'}`)));
    folded = 0;
  };
  ops.forEach(([op, i, j], index) => {
    if (!near[index]) { folded++; return; }
    fold();
    const text = op === '+' ? b[j] : a[i];
    const kind = op === '+' ? 'diff-add' : op === '-' ? 'diff-del' : 'diff-ctx';
    rows.push(h(`div.diff-line.${kind}`,
      h('span.diff-no', i === null ? '' : String(i + 1)),
      h('span.diff-no', j === null ? '' : String(j + 1)),
      h('span.diff-sign', {'aria-label': op === '+' ? 'added' : op === '-' ? 'removed' : null}, op === '=' ? ' ' : op),
      h('span.diff-text', text)));
  });
  fold();
  return h('div.diff', {role: 'region', 'aria-label': `Changes from ${labels[0]} to ${labels[1]}`},
    h('p.diff-summary', h('span.diff-count-add', `+${adds}`), ' ', h('span.diff-count-del', `−${dels}`),
      ` from ${labels[0]} to ${labels[1]}`),
    adds || dels ? h('div.diff-body', rows) : h('p.muted', 'The two revisions are the same.'));
}

/** The lines of a text; a final newline ends the last line rather than starting an empty one. */
function lines(text) {
  const all = text.split('\n');
  if (all.length > 1 && all[all.length - 1] === '') all.pop();
  return all;
}
