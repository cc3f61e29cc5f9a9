//! The flow indexed once per execution: every task becomes a [`Node`], every task list a
//! [`ListDef`] whose `dependsOn` edges are resolved to positions, so scheduling never searches
//! the flow by name.

use std::collections::HashMap;
use std::time::Duration;

use sluice_flow::{Flow, Input, Retry, Task, TaskKind};

/// The three top-level task lists, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Region {
    Main,
    Errors,
    Finally,
}

impl Region {
    pub(crate) const ALL: [Region; 3] = [Region::Main, Region::Errors, Region::Finally];

    pub(crate) fn index(self) -> usize {
        match self {
            Region::Main => 0,
            Region::Errors => 1,
            Region::Finally => 2,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Node {
    pub id: String,
    pub kind: NodeKind,
    /// The control-flow task whose children include this one.
    pub parent: Option<usize>,
    /// The list this task is a member of, and its position there.
    pub list: usize,
    pub pos: usize,
    pub region: Region,
    /// The innermost `flow.forEach` whose body holds this task.
    pub loop_parent: Option<usize>,
    pub loop_depth: usize,
    /// An enclosing task has `allowFailure`: a failure here stays inside it.
    pub contained: bool,
    pub allow_failure: bool,
    pub disabled: bool,
    pub has_run_if: bool,
    /// The task's own retry policy, else the flow's.
    pub retry: Option<Retry>,
    /// A native task's deadline, counted from when it started (plugin tasks bound each attempt
    /// in the sandbox instead, and a pause has its own timeout).
    pub timeout: Option<Duration>,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Plugin,
    Sequential { list: usize },
    Parallel { list: usize },
    If { then: usize, otherwise: usize },
    Switch { cases: Vec<(String, usize)>, default: usize },
    ForEach { body: usize, concurrency: u32 },
    Subflow { wait: bool },
    Pause { timeout: Option<Duration>, on_resume: Vec<Input> },
    Sleep,
    Fail,
}

/// One task list: its members and the edges between them.
#[derive(Debug)]
pub(crate) struct ListDef {
    pub members: Vec<usize>,
    /// Positions each member waits for.
    pub preds: Vec<Vec<usize>>,
    /// Positions that wait for each member.
    pub succs: Vec<Vec<usize>>,
    /// Members running at once; 0 = unbounded.
    pub concurrency: u32,
}

#[derive(Debug)]
pub(crate) struct Plan {
    pub nodes: Vec<Node>,
    pub lists: Vec<ListDef>,
    pub by_id: HashMap<String, usize>,
    /// The root list of each region, by [`Region::index`].
    pub roots: [usize; 3],
}

#[derive(Clone, Copy)]
struct Context {
    parent: Option<usize>,
    region: Region,
    loop_parent: Option<usize>,
    loop_depth: usize,
    contained: bool,
}

impl Plan {
    pub(crate) fn build(flow: &Flow) -> Plan {
        let mut plan = Plan { nodes: Vec::new(), lists: Vec::new(), by_id: HashMap::new(), roots: [0; 3] };
        for (region, tasks) in
            [(Region::Main, &flow.tasks), (Region::Errors, &flow.errors), (Region::Finally, &flow.finally)]
        {
            let context =
                Context { parent: None, region, loop_parent: None, loop_depth: 0, contained: false };
            plan.roots[region.index()] = plan.add_list(flow, tasks, true, 0, context);
        }
        plan
    }

    /// The enclosing `flow.forEach` nodes of `node`, outermost first.
    pub(crate) fn loops_around(&self, node: usize) -> Vec<usize> {
        let mut chain = Vec::with_capacity(self.nodes[node].loop_depth);
        let mut at = self.nodes[node].loop_parent;
        while let Some(l) = at {
            chain.push(l);
            at = self.nodes[l].loop_parent;
        }
        chain.reverse();
        chain
    }

    fn add_list(
        &mut self,
        flow: &Flow,
        tasks: &[Task],
        sequential: bool,
        concurrency: u32,
        cx: Context,
    ) -> usize {
        let list = self.lists.len();
        self.lists.push(ListDef { members: Vec::new(), preds: Vec::new(), succs: Vec::new(), concurrency });
        let positions: HashMap<&str, usize> =
            tasks.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
        let mut preds = Vec::with_capacity(tasks.len());
        for (pos, task) in tasks.iter().enumerate() {
            let mut waits: Vec<usize> = if task.depends_on.is_empty() {
                if sequential && pos > 0 { vec![pos - 1] } else { Vec::new() }
            } else {
                // Validation rejects unknown ids; here they are ignored rather than blocking forever.
                task.depends_on.iter().filter_map(|id| positions.get(id.as_str()).copied()).collect()
            };
            waits.retain(|&p| p != pos);
            waits.sort_unstable();
            waits.dedup();
            preds.push(waits);
        }
        let mut succs = vec![Vec::new(); tasks.len()];
        for (pos, waits) in preds.iter().enumerate() {
            for &p in waits {
                succs[p].push(pos);
            }
        }
        let members =
            tasks.iter().enumerate().map(|(pos, task)| self.add_node(flow, task, list, pos, cx)).collect();
        let def = &mut self.lists[list];
        def.members = members;
        def.preds = preds;
        def.succs = succs;
        list
    }

    fn add_node(&mut self, flow: &Flow, task: &Task, list: usize, pos: usize, cx: Context) -> usize {
        let node = self.nodes.len();
        self.nodes.push(Node {
            id: task.id.clone(),
            kind: NodeKind::Plugin,
            parent: cx.parent,
            list,
            pos,
            region: cx.region,
            loop_parent: cx.loop_parent,
            loop_depth: cx.loop_depth,
            contained: cx.contained,
            allow_failure: task.allow_failure,
            disabled: task.disabled,
            has_run_if: task.run_if.is_some(),
            retry: task.retry.clone().or_else(|| flow.retry.clone()),
            timeout: match task.kind {
                TaskKind::Plugin { .. } | TaskKind::Pause { .. } => None,
                _ => task.timeout,
            },
        });
        self.by_id.insert(task.id.clone(), node);
        let inner = Context { parent: Some(node), contained: cx.contained || task.allow_failure, ..cx };
        let kind = match &task.kind {
            TaskKind::Plugin { .. } => NodeKind::Plugin,
            TaskKind::Sequential { tasks } => {
                NodeKind::Sequential { list: self.add_list(flow, tasks, true, 0, inner) }
            }
            TaskKind::Parallel { tasks, concurrency } => {
                NodeKind::Parallel { list: self.add_list(flow, tasks, false, *concurrency, inner) }
            }
            TaskKind::If { then, otherwise, .. } => NodeKind::If {
                then: self.add_list(flow, then, true, 0, inner),
                otherwise: self.add_list(flow, otherwise, true, 0, inner),
            },
            TaskKind::Switch { cases, default, .. } => NodeKind::Switch {
                cases: cases
                    .iter()
                    .map(|(value, tasks)| (value.clone(), self.add_list(flow, tasks, true, 0, inner)))
                    .collect(),
                default: self.add_list(flow, default, true, 0, inner),
            },
            TaskKind::ForEach { tasks, concurrency, .. } => {
                let body = Context { loop_parent: Some(node), loop_depth: cx.loop_depth + 1, ..inner };
                NodeKind::ForEach {
                    body: self.add_list(flow, tasks, true, 0, body),
                    concurrency: *concurrency,
                }
            }
            TaskKind::Subflow { wait, .. } => NodeKind::Subflow { wait: *wait },
            TaskKind::Pause { timeout, on_resume } => {
                NodeKind::Pause { timeout: *timeout, on_resume: on_resume.clone() }
            }
            TaskKind::Sleep { .. } => NodeKind::Sleep,
            TaskKind::Fail { .. } => NodeKind::Fail,
        };
        self.nodes[node].kind = kind;
        node
    }
}
