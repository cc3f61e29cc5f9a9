// What each page reads first, named once for the router and the page: the router asks for
// it as it matches the path, while the page's modules are still loading (on a large
// execution that wait was half the page's time), and the page's own `get` of the same path
// takes that answer.

import {api} from './api.js';

/** The first log lines an execution page shows before reading the rest. */
export const FIRST_LOG_LINES = 200;

export const flowsReads = () => ({flows: api('flows'), recent: `${api('executions')}?limit=500`});

export function flowReads({namespace, id}) {
  const flow = api('flows', namespace, id);
  return {
    flow,
    graph: `${flow}/graph`,
    revisions: `${flow}/revisions`,
    triggers: `${flow}/triggers`,
    executions: `${api('executions')}?${new URLSearchParams({namespace, flowId: id, limit: '50'})}`,
  };
}

export const executionReads = ({id}) => ({
  execution: api('executions', id),
  logs: `${api('executions', id, 'logs')}?limit=${FIRST_LOG_LINES}`,
});

export const pluginsReads = ({name}) => ({plugins: name ? api('plugins', name) : api('plugins')});
