//! `dependsOn`: each entry names a sibling (a task of the same list), and the waits of a list
//! form no cycle. In a sequential list a task without `dependsOn` waits for the one before it,
//! so those implicit waits count too.

use std::collections::{BTreeSet, HashMap};

use crate::diagnostic::Diagnostic;
use crate::model::{Flow, Task, TaskKind};
use crate::pointer;
use crate::suggest;

pub fn check(flow: &Flow, out: &mut Vec<Diagnostic>) {
    let all = flow.all_tasks();
    let mut lists: Vec<(&[Task], bool)> =
        vec![(&flow.tasks, true), (&flow.errors, true), (&flow.finally, true)];
    for task in &all {
        let sequential = !matches!(task.kind, TaskKind::Parallel { .. });
        lists.extend(task.children().into_iter().map(|list| (list, sequential)));
    }
    for (list, sequential) in lists {
        check_list(list, sequential, &all, out);
    }
}

/// Task `from` waits for task `to` (indices in the list), because of its `dependsOn` entry
/// `entry`, or implicitly (`None`) because it follows `to` in a sequential list.
#[derive(Debug, Clone, Copy)]
struct Wait {
    to: usize,
    entry: Option<usize>,
}

fn check_list(list: &[Task], sequential: bool, all: &[&Task], out: &mut Vec<Diagnostic>) {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, task) in list.iter().enumerate() {
        index.entry(task.id.as_str()).or_insert(i);
    }
    let mut waits: Vec<Vec<Wait>> = vec![Vec::new(); list.len()];
    for (i, task) in list.iter().enumerate() {
        if task.depends_on.is_empty() {
            if sequential && i > 0 {
                waits[i].push(Wait { to: i - 1, entry: None });
            }
            continue;
        }
        for (entry, target) in task.depends_on.iter().enumerate() {
            let at = pointer::index(&pointer::key(&task.pointer, "dependsOn"), entry);
            if *target == task.id {
                out.push(
                    Diagnostic::at(at, format!("task `{target}` depends on itself"))
                        .with_hint(format!("remove `{target}` from its `dependsOn`")),
                );
            } else if let Some(&to) = index.get(target.as_str()) {
                waits[i].push(Wait { to, entry: Some(entry) });
            } else {
                out.push(not_a_sibling(task, target, list, all, at));
            }
        }
    }
    for cycle in cycles(&waits) {
        out.push(cycle_diagnostic(list, &waits, &cycle));
    }
}

fn not_a_sibling(task: &Task, target: &str, list: &[Task], all: &[&Task], at: String) -> Diagnostic {
    let siblings: Vec<&str> = list.iter().map(|t| t.id.as_str()).filter(|id| *id != task.id).collect();
    let same_list = if siblings.is_empty() {
        "`dependsOn` names tasks of the same list, and this list has no other task".to_string()
    } else {
        format!("`dependsOn` names tasks of the same list: {}", suggest::list(siblings.iter().copied()))
    };
    if !all.iter().any(|t| t.id == target) {
        let diagnostic =
            Diagnostic::at(at, format!("unknown task `{target}` in `dependsOn` of task `{}`", task.id));
        return match suggest::did_you_mean(target, siblings.iter().copied()) {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic.with_hint(same_list),
        };
    }
    let diagnostic =
        Diagnostic::at(at, format!("task `{target}` is not in the same list as task `{}`", task.id));
    match list.iter().find(|sibling| sibling.id != task.id && contains(sibling, target)) {
        Some(group) => diagnostic.with_hint(format!(
            "`dependsOn` names tasks of the same list; depend on `{}`, which contains `{target}`",
            group.id
        )),
        None => diagnostic.with_hint(same_list),
    }
}

fn contains(task: &Task, id: &str) -> bool {
    task.children().iter().any(|list| list.iter().any(|t| t.id == id || contains(t, id)))
}

/// Each cycle once, as list indices starting at its smallest, each waiting for the next.
fn cycles(waits: &[Vec<Wait>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnPath,
        Done,
    }
    fn visit(
        at: usize,
        waits: &[Vec<Wait>],
        state: &mut [State],
        path: &mut Vec<usize>,
        found: &mut BTreeSet<Vec<usize>>,
    ) {
        state[at] = State::OnPath;
        path.push(at);
        for wait in &waits[at] {
            match state[wait.to] {
                State::OnPath => {
                    let start = path.iter().position(|&i| i == wait.to).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    let smallest = cycle.iter().enumerate().min_by_key(|(_, i)| **i).map_or(0, |(p, _)| p);
                    cycle.rotate_left(smallest);
                    found.insert(cycle);
                }
                State::New => visit(wait.to, waits, state, path, found),
                State::Done => {}
            }
        }
        path.pop();
        state[at] = State::Done;
    }
    let mut state = vec![State::New; waits.len()];
    let mut found = BTreeSet::new();
    for start in 0..waits.len() {
        if state[start] == State::New {
            visit(start, waits, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found.into_iter().collect()
}

/// At the first task's wait on the second, naming the whole cycle and any implicit waits in it.
fn cycle_diagnostic(list: &[Task], waits: &[Vec<Wait>], cycle: &[usize]) -> Diagnostic {
    let mut names: Vec<&str> = cycle.iter().map(|&i| list[i].id.as_str()).collect();
    names.push(&list[cycle[0]].id);
    let wait = |from: usize, to: usize| waits[from].iter().find(|w| w.to == to).copied();
    let mut hint = "each task waits for the next, so none of them can start".to_string();
    for (position, &from) in cycle.iter().enumerate() {
        let to = cycle[(position + 1) % cycle.len()];
        if wait(from, to).is_some_and(|w| w.entry.is_none()) {
            hint.push_str(&format!(
                "; `{}` has no `dependsOn`, so it waits for the task before it, `{}`",
                list[from].id, list[to].id
            ));
        }
    }
    let first = &list[cycle[0]];
    let at = match wait(cycle[0], cycle[1 % cycle.len()]).and_then(|w| w.entry) {
        Some(entry) => pointer::index(&pointer::key(&first.pointer, "dependsOn"), entry),
        None => pointer::key(&first.pointer, "id"),
    };
    Diagnostic::at(at, format!("dependency cycle: {}", names.join(" -> "))).with_hint(hint)
}
