// A small YAML tokenizer for highlighting flow files (plain block YAML: keys, list dashes,
// scalars, quoted strings, flow lists, comments, block scalars, `{{ templates }}`). It only
// colours text: the server's parser is the judge of what the file means.
//
// tokenize(text) → one array per line of [class, text] pairs whose texts join to the line.

const NUMBER = /^[-+]?(?:\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan)$/;
const CONSTANT = /^(?:true|false|yes|no|on|off|null|~|True|False|TRUE|FALSE|Null|NULL)$/;
const KEY = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"[\]{},&*!|>%@`][^#]*?|[^\s#'"[\]{},&*!|>%@`])(\s*)(:)(?=\s|$)/;
const TEMPLATE = /\{\{.*?\}\}|\{%.*?%\}/g;

export function tokenize(text) {
  const lines = text.split('\n');
  const out = [];
  let block = null; // the indent a block scalar's lines must exceed, while in one
  for (const line of lines) {
    const indent = line.match(/^ */)[0].length;
    if (block !== null) {
      if (line.trim() === '' || indent > block) {
        out.push(line ? [['y-str', line]] : []);
        continue;
      }
      block = null;
    }
    const tokens = [];
    const result = scanLine(line, tokens);
    if (result !== null) block = result;
    out.push(tokens);
  }
  return out;
}

/** Tokens of one line; returns the block-scalar indent when the line opens a block scalar. */
function scanLine(line, tokens) {
  let i = 0;
  const push = (cls, s) => { if (s) tokens.push([cls, s]); };
  const lead = line.match(/^ */)[0];
  push('', lead);
  i = lead.length;
  if (/^(---|\.\.\.)(\s|$)/.test(line.slice(i))) {
    push('y-doc', line.slice(i, i + 3));
    i += 3;
  }
  let keyIndent = i;
  // List dashes (`- - x`) and then a key, as often as they come (`- id: a`).
  for (;;) {
    const rest = line.slice(i);
    const dash = rest.match(/^-(\s+|$)/);
    if (dash) {
      push('y-punct', '-');
      push('', dash[1]);
      i += dash[0].length;
      keyIndent = i;
      continue;
    }
    const key = rest.match(KEY);
    if (key && !rest.startsWith('{{')) {
      push('y-key', key[1]);
      push('', key[2]);
      push('y-punct', ':');
      i += key[0].length;
      const space = line.slice(i).match(/^\s*/)[0];
      push('', space);
      i += space.length;
      break;
    }
    break;
  }
  return scanValue(line, i, tokens, keyIndent);
}

function scanValue(line, i, tokens, keyIndent) {
  const push = (cls, s) => { if (s) tokens.push([cls, s]); };
  let depth = 0; // inside [ ] or { }
  let opensBlock = null;
  const start = i;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ' || c === '\t') {
      const ws = line.slice(i).match(/^[ \t]+/)[0];
      push('', ws);
      i += ws.length;
      continue;
    }
    if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      push('y-comment', line.slice(i));
      break;
    }
    if (c === '"' || c === "'") {
      const end = closing(line, i, c);
      strings(tokens, 'y-str', line.slice(i, end));
      i = end;
      continue;
    }
    if ('[]{},'.includes(c) && !line.startsWith('{{', i)) {
      depth += c === '[' || c === '{' ? 1 : c === ']' || c === '}' ? -1 : 0;
      push('y-punct', c);
      i += 1;
      continue;
    }
    if ((c === '&' || c === '*' || c === '!') && i < line.length - 1 && line[i + 1] !== ' ') {
      const word = line.slice(i).match(/^\S+/)[0];
      push('y-anchor', word);
      i += word.length;
      continue;
    }
    if ((c === '|' || c === '>') && i === start) {
      const indicator = line.slice(i).match(/^[|>][-+0-9]*/)[0];
      push('y-punct', indicator);
      i += indicator.length;
      opensBlock = keyIndent;
      continue;
    }
    if (c === ':' && depth > 0) {
      push('y-punct', c);
      i += 1;
      continue;
    }
    // A plain scalar: up to a comment, or a flow indicator inside [ ] / { }.
    let end = i;
    while (end < line.length) {
      if (line[end] === '#' && /\s/.test(line[end - 1])) break;
      if (depth > 0 && ',[]{}'.includes(line[end]) && !line.startsWith('{{', end) && !inTemplate(line, i, end)) break;
      if (depth > 0 && line[end] === ':' && /\s/.test(line[end + 1] || ' ')) break;
      end += 1;
    }
    let word = line.slice(i, end);
    const trail = word.match(/\s*$/)[0];
    word = word.slice(0, word.length - trail.length);
    const trimmed = word.trim();
    strings(tokens, NUMBER.test(trimmed) ? 'y-num' : CONSTANT.test(trimmed) ? 'y-bool' : 'y-plain', word);
    push('', trail);
    i = end;
  }
  return opensBlock;
}

/** Whether `end` falls inside a `{{ ... }}` that starts at or after `from`. */
function inTemplate(line, from, end) {
  const open = line.lastIndexOf('{{', end);
  return open >= from && line.indexOf('}}', open) >= end;
}

function closing(line, i, quote) {
  let j = i + 1;
  while (j < line.length) {
    if (quote === '"' && line[j] === '\\') { j += 2; continue; }
    if (line[j] === quote) {
      if (quote === "'" && line[j + 1] === "'") { j += 2; continue; }
      return j + 1;
    }
    j += 1;
  }
  return line.length;
}

/** A scalar, with its `{{ templates }}` apart. */
function strings(tokens, cls, text) {
  let last = 0;
  for (const m of text.matchAll(TEMPLATE)) {
    if (m.index > last) tokens.push([cls, text.slice(last, m.index)]);
    tokens.push(['y-tpl', m[0]]);
    last = m.index + m[0].length;
  }
  if (last < text.length) tokens.push([cls, text.slice(last)]);
}
