// The YAML editor: a textarea (`#flow-editor`, transparent text, visible caret) over a
// highlighted <pre> with the same font and metrics, and a gutter of line numbers, kept in sync
// on every input and scroll. Problems are underlined at their exact span in the highlighted
// layer (`.problem-mark[data-line][data-column]`) and marked in the gutter.
//
// Keys: Tab indents by two spaces and Shift+Tab removes them (Escape, then Tab, leaves the
// editor as usual); Enter keeps the indentation; Ctrl/Cmd+S calls `onSave`.

import {h} from '../../dom.js';
import {tokenize} from './yaml.js';

export function createEditor({text, onChange, onSave, label}) {
  const hint = h('p.muted.editor-keys', {id: 'flow-editor-keys'},
    'Tab indents, Shift+Tab dedents, Escape then Tab leaves the editor, Ctrl+S saves.');
  const area = h('textarea', {id: 'flow-editor', 
    spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', wrap: 'off',
    'aria-label': label, 'aria-describedby': 'flow-editor-keys flow-problems-status', 'aria-multiline': 'true',
  });
  area.value = text;
  const code = h('code');
  const pre = h('pre.editor-highlight', {'aria-hidden': 'true'}, code);
  const gutter = h('div.editor-gutter', {'aria-hidden': 'true'});
  const wrap = h('div.editor', gutter, h('div.editor-body', pre, area));
  let problems = [];
  let escaped = false;

  const draw = () => {
    const lines = tokenize(area.value);
    const marks = new Map();
    for (const p of problems) {
      if (!p.line) continue;
      if (!marks.has(p.line)) marks.set(p.line, []);
      marks.get(p.line).push(p);
    }
    const rows = lines.map((tokens, i) => line(tokens, marks.get(i + 1) || []));
    // A last empty line still takes its height, so the two layers scroll alike.
    code.replaceChildren(...rows.flatMap((r, i) => (i ? ['\n', r] : [r])), '\n ');
    gutter.replaceChildren(...lines.map((_, i) => {
      const here = marks.get(i + 1);
      return h(here ? 'div.gutter-line.has-problem' : 'div.gutter-line',
        here ? {title: here.map((p) => p.message).join('\n'), dataset: {line: i + 1}} : null,
        here ? h('span.gutter-mark', '●') : null, String(i + 1));
    }));
    sync();
  };
  const sync = () => {
    pre.style.transform = `translate(${-area.scrollLeft}px, ${-area.scrollTop}px)`;
    gutter.style.transform = `translateY(${-area.scrollTop}px)`;
  };

  area.addEventListener('input', () => { draw(); onChange(area.value); });
  area.addEventListener('scroll', sync);
  area.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 's') {
      event.preventDefault();
      onSave();
      return;
    }
    if (event.key === 'Escape') { escaped = true; return; }
    if (event.key === 'Tab' && !escaped && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      if (event.shiftKey) dedent(); else insert('  ');
      return;
    }
    if (event.key === 'Enter' && !event.shiftKey && !event.ctrlKey && !event.metaKey && !event.altKey) {
      const before = area.value.slice(0, area.selectionStart);
      const current = before.slice(before.lastIndexOf('\n') + 1);
      const indent = current.match(/^ */)[0] + (/:\s*$|^\s*-\s*$/.test(current) ? '  ' : '');
      event.preventDefault();
      insert('\n' + indent);
      return;
    }
    escaped = false;
  });

  // Through the editing commands when the browser has them, so that undo still works.
  const insert = (s) => {
    if (!document.execCommand || !document.execCommand('insertText', false, s)) {
      area.setRangeText(s, area.selectionStart, area.selectionEnd, 'end');
      area.dispatchEvent(new Event('input'));
    }
  };
  const dedent = () => {
    const start = area.value.lastIndexOf('\n', area.selectionStart - 1) + 1;
    const spaces = area.value.slice(start, start + 2).match(/^ {0,2}/)[0].length;
    if (!spaces) return;
    const caret = area.selectionStart;
    area.setSelectionRange(start, start + spaces);
    insert('');
    area.setSelectionRange(Math.max(start, caret - spaces), Math.max(start, caret - spaces));
  };

  draw();
  return {
    element: h('div', wrap, hint),
    get value() { return area.value; },
    set value(text) { area.value = text; draw(); onChange(text); },
    /** Underlines these problems ({line, column, endColumn, message}). */
    setProblems(list) { problems = list; draw(); },
    /** Puts the caret at a 1-based line and column and shows it. */
    goto(line, column = 1) {
      const lines = area.value.split('\n');
      let offset = 0;
      for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
      const text = lines[line - 1] || '';
      offset += [...text].slice(0, Math.max(0, column - 1)).join('').length;
      area.focus({preventScroll: true});
      area.setSelectionRange(offset, offset);
      const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 18;
      const top = (line - 1) * lineHeight;
      if (top < area.scrollTop || top > area.scrollTop + area.clientHeight - 2 * lineHeight) {
        area.scrollTop = Math.max(0, top - area.clientHeight / 3);
      }
      wrap.scrollIntoView({block: 'nearest'});
      sync();
    },
  };
}

/** One highlighted line, with each problem's span [column, endColumn) wrapped in a mark. */
function line(tokens, marks) {
  const row = document.createDocumentFragment();
  if (!marks.length) {
    for (const [cls, s] of tokens) row.append(cls ? h(`span.${cls}`, s) : document.createTextNode(s));
    return row;
  }
  // Columns count characters (code points), as the server's do.
  const chars = [];
  for (const [cls, s] of tokens) for (const c of s) chars.push([cls, c]);
  const length = chars.length;
  const spans = marks.map((m) => {
    const start = Math.max(0, (m.column || 1) - 1);
    const end = Math.max(start + 1, (m.endColumn || m.column + 1 || 2) - 1);
    return {m, start: Math.min(start, length), end};
  });
  // A span past the end of the line underlines the space after it.
  const total = Math.max(length, ...spans.map((s) => s.end));
  while (chars.length < total) chars.push(['', ' ']);
  let mark = null;
  let markOf = null;
  let run = null;
  for (let i = 0; i < chars.length; i++) {
    const [cls, c] = chars[i];
    const covering = spans.find((s) => i >= s.start && i < s.end) || null;
    if (covering !== markOf) {
      markOf = covering;
      mark = covering ? h('span.problem-mark', {
        dataset: {line: covering.m.line, column: covering.m.column},
        title: covering.m.message + (covering.m.hint ? `\nhint: ${covering.m.hint}` : ''),
      }) : null;
      if (mark) row.append(mark);
      run = null;
    }
    if (!run || run.cls !== cls) {
      run = {cls, el: cls ? h(`span.${cls}`) : document.createTextNode('')};
      (mark || row).append(run.el);
    }
    run.el.textContent += c;
  }
  return row;
}
