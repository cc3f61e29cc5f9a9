// Plugins: every installed plugin and its tasks; a plugin's page renders each task's config
// schema as a reference (names, types, defaults, descriptions) with its capabilities and digest.

import {get} from '../api.js';
import {h, fill, link} from '../dom.js';
import {pluginsReads} from '../reads.js';

export async function render(root, params) {
  if (params.name) return plugin(root, params.name);
  const plugins = await get(pluginsReads({}).plugins);
  fill(root, h('h1', 'Plugins'),
    h('table.plugins',
      h('thead', h('tr', ['Plugin', 'Version', 'Tasks', 'Source', 'Digest'].map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', plugins.map((p) => h('tr',
        h('td', link(`/plugins/${encodeURIComponent(p.name)}`, p.name), h('div.muted', p.description)),
        h('td', p.version),
        h('td', p.tasks.map((t) => h('code.task', t))),
        h('td', p.source),
        h('td', h('code.digest', {title: p.digest}, p.digest.slice(0, 19) + '…')))))));
}

async function plugin(root, name) {
  const doc = await get(pluginsReads({name}).plugins);
  fill(root,
    h('p', link('/plugins', '← Plugins')),
    h('h1', doc.name, ' ', h('span.muted', doc.version)),
    h('p', doc.description),
    h('p.muted', 'Digest ', h('code', doc.digest), ' · ', doc.source),
    doc.tasks.map((task) => h('section.task', {id: task.name},
      h('h2', h('code', `${doc.name}.${task.name}`)),
      h('p', task.description),
      capabilities(task.capabilities),
      h('h3', 'Config'),
      schemaTable(task.config_schema || task.configSchema || task.config),
      h('h3', 'Outputs'),
      schemaTable(task.output_schema || task.outputSchema || task.output))));
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

function capabilities(caps) {
  if (!caps || (Array.isArray(caps) && !caps.length)) return h('p.muted', 'Needs no capability.');
  const list = Array.isArray(caps) ? caps : Object.entries(caps).filter(([, v]) => v).map(([k, v]) => (v === true ? k : `${k}: ${JSON.stringify(v)}`));
  return h('p', 'Capabilities: ', list.map((c) => h('span.grant', typeof c === 'string' ? c : JSON.stringify(c))));
}

/** A JSON Schema object's properties as rows: name (required marked), type, default, description. */
function schemaTable(schema) {
  if (typeof schema === 'string') {
    try { schema = JSON.parse(schema); } catch { return h('pre', schema); }
  }
  const props = schema && schema.properties;
  if (!props || !Object.keys(props).length) return h('p.muted', 'None.');
  const required = new Set(schema.required || []);
  return h('table.schema',
    h('thead', h('tr', ['Key', 'Type', 'Default', 'Description'].map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', Object.entries(props).map(([key, prop]) => h('tr',
      h('td', h('code', key), required.has(key) ? h('span.required', {title: 'required'}, ' *') : ''),
      h('td', typeOf(prop, schema)),
      h('td', prop.default !== undefined ? h('code', JSON.stringify(prop.default)) : ''),
      h('td', prop.description || '')))));
}

function typeOf(prop, root) {
  if (prop.$ref) {
    const name = prop.$ref.split('/').pop();
    const target = (root.$defs || root.definitions || {})[name];
    return target && target !== prop ? typeOf(target, root) : name;
  }
  if (prop.enum) return prop.enum.map((v) => JSON.stringify(v)).join(' | ');
  const types = [prop.type].flat().filter(Boolean);
  if (prop.anyOf || prop.oneOf) return (prop.anyOf || prop.oneOf).map((p) => typeOf(p, root)).join(' | ');
  if (types.includes('array') && prop.items) return `[${typeOf(prop.items, root)}]`;
  return types.join(' | ') || 'any';
}
