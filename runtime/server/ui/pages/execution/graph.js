// The flow revision an execution runs, as the server's parser reads it (`GET /flows/{ns}/{id}/
// graph?revision=`): read once per revision and shared by the topology, the resume forms (a
// pause's `onResume` inputs) and the gate cards (which tasks are gates).

import {api, get} from '../../api.js';

const read = new Map();

/** The graph of the execution's revision (one request per revision); rejects if unreadable. */
export function flowGraph(execution) {
  const key = `${execution.namespace}/${execution.flowId}/${execution.revision}`;
  if (!read.has(key)) {
    read.set(key, get(`${api('flows', execution.namespace, execution.flowId, 'graph')}?revision=${execution.revision}`));
    read.get(key).catch(() => read.delete(key));
  }
  return read.get(key);
}

/** Every task of a graph, at any depth (main tasks, `errors`, `finally`). */
export function allTasks(graph) {
  const out = [];
  const walk = (tasks) => {
    for (const task of tasks || []) {
      out.push(task);
      for (const group of task.children || []) walk(group.tasks);
    }
  };
  for (const list of [graph.tasks, graph.errors, graph.finally]) walk(list);
  return out;
}

/** Every task of the execution's flow revision. */
export async function flowTasks(execution) {
  return allTasks(await flowGraph(execution));
}
