// Just enough YAML to read a flow's tasks in the browser (the resume form needs the
// `onResume` inputs of a `flow.pause`): block mappings and sequences, flow `[..]` and `{..}` on
// one line, quoted and plain scalars, `|` and `>` block text, comments. Anchors, tags and
// multi-line flow collections are not read; a flow that uses them gets the JSON form instead.

function stripComment(text) {
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote && !(quote === '"' && text[i - 1] === '\\')) quote = null;
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s[{,:-]/.test(text[i - 1])) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) {
      return text.slice(0, i).trimEnd();
    }
  }
  return text.trimEnd();
}

/** The index of the `:` that ends a mapping key (outside quotes and brackets), or -1. */
function keyColon(text) {
  let quote = null;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) { if (c === quote) quote = null; continue; }
    if ((c === '"' || c === "'") && i === 0) quote = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ':' && depth === 0 && (i + 1 === text.length || text[i + 1] === ' ')) return i;
  }
  return -1;
}

function scalar(text) {
  const t = text.trim();
  if (t.startsWith('"')) { try { return JSON.parse(t); } catch { return t.slice(1, -1); } }
  if (t.startsWith("'")) return t.slice(1, -1).replace(/''/g, "'");
  if (t === '' || t === '~' || t === 'null') return null;
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (/^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return Number(t);
  return t;
}

/** A one-line flow collection or scalar. */
function flowValue(text) {
  let i = 0;
  const ws = () => { while (text[i] === ' ') i++; };
  const value = () => {
    ws();
    if (text[i] === '[') {
      i++;
      const out = [];
      for (ws(); text[i] !== ']' && i < text.length; ws()) {
        out.push(value());
        ws();
        if (text[i] === ',') i++;
      }
      i++;
      return out;
    }
    if (text[i] === '{') {
      i++;
      const out = {};
      for (ws(); text[i] !== '}' && i < text.length; ws()) {
        const key = plain(true);
        ws();
        if (text[i] === ':') i++;
        out[key] = value();
        ws();
        if (text[i] === ',') i++;
      }
      i++;
      return out;
    }
    return plain(false);
  };
  const plain = (isKey) => {
    ws();
    const start = i;
    if (text[i] === '"' || text[i] === "'") {
      const q = text[i++];
      while (i < text.length && !(text[i] === q && text[i - 1] !== '\\')) i++;
      i++;
      return scalar(text.slice(start, i));
    }
    while (i < text.length && !',]}'.includes(text[i]) && !(isKey && text[i] === ':')) i++;
    const raw = text.slice(start, i).trim();
    return isKey ? raw : scalar(raw);
  };
  return value();
}

/** Parses the YAML subset; throws on what it cannot read. */
export function parseYaml(source) {
  const lines = [];
  for (const raw of source.replace(/\t/g, '  ').split(/\r?\n/)) {
    const indent = raw.length - raw.trimStart().length;
    lines.push({indent, raw, text: stripComment(raw.trim())});
  }
  let at = 0;
  const skip = () => { while (at < lines.length && !lines[at].text) at++; };
  const blockText = (parent, folded) => {
    const out = [];
    let indent = null;
    while (at < lines.length && (!lines[at].raw.trim() || lines[at].indent > parent)) {
      const l = lines[at++];
      if (indent === null && l.raw.trim()) indent = l.indent;
      out.push(l.raw.slice(indent ?? 0));
    }
    return out.join(folded ? ' ' : '\n').trim() + '\n';
  };
  const valueAfter = (rest, indent) => {
    if (/^[|>][-+0-9]*$/.test(rest)) return blockText(indent, rest[0] === '>');
    if (rest) return flowValue(rest);
    skip();
    if (at < lines.length && (lines[at].indent > indent || (lines[at].indent === indent && lines[at].text.startsWith('-')))) {
      return block(lines[at].indent);
    }
    return null;
  };
  const block = (indent) => {
    skip();
    if (at >= lines.length) return null;
    const isSeq = lines[at].text === '-' || lines[at].text.startsWith('- ');
    if (isSeq) {
      const out = [];
      while ((skip(), at < lines.length) && lines[at].indent === indent && (lines[at].text === '-' || lines[at].text.startsWith('- '))) {
        const line = lines[at];
        const rest = line.text.slice(1).trim();
        if (rest && keyColon(rest) > 0 && !rest.startsWith('{') && !rest.startsWith('[')) {
          // `- key: value` opens a mapping whose keys sit under `key`.
          const inner = indent + (line.text.length - line.text.slice(1).trimStart().length);
          lines[at] = {indent: inner, raw: ' '.repeat(inner) + rest, text: rest};
          out.push(block(inner));
        } else {
          at++;
          out.push(valueAfter(rest, indent));
        }
      }
      return out;
    }
    const out = {};
    while ((skip(), at < lines.length) && lines[at].indent === indent) {
      const text = lines[at].text;
      const colon = keyColon(text);
      if (colon <= 0 || text.startsWith('- ')) throw new Error(`cannot read line ${at + 1}: ${text}`);
      at++;
      out[String(scalar(text.slice(0, colon)))] = valueAfter(text.slice(colon + 1).trim(), indent);
    }
    return out;
  };
  skip();
  return block(at < lines.length ? lines[at].indent : 0);
}

/** Every task of a parsed flow, nested ones included (tasks, then/else, cases, finally...). */
export function allTasks(node, out = []) {
  if (Array.isArray(node)) {
    for (const item of node) allTasks(item, out);
  } else if (node && typeof node === 'object') {
    if (typeof node.id === 'string' && typeof node.type === 'string') out.push(node);
    for (const [key, value] of Object.entries(node)) {
      if (['tasks', 'then', 'else', 'finally', 'errors', 'default'].includes(key)) allTasks(value, out);
      else if (key === 'cases' && value && typeof value === 'object') for (const v of Object.values(value)) allTasks(v, out);
    }
  }
  return out;
}
