//! Where each node of a flow file is: JSON pointer -> line and column of the node's key and
//! value, from a marked event parse of the YAML text. Keeps the file name and text so that any
//! later stage (validation, the engine at run time) can render a diagnostic with its line.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, Span as MarkedSpan};

use crate::pointer;

/// A range of the text: 1-based `(line, column)` of the first character and of the character
/// just past the end; columns count characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: (usize, usize),
    pub end: (usize, usize),
}

impl Span {
    /// The one character at `position`.
    pub fn at(position: (usize, usize)) -> Span {
        Span { start: position, end: (position.0, position.1 + 1) }
    }

    fn of(marked: MarkedSpan) -> Span {
        Span {
            start: (marked.start.line(), marked.start.col() + 1),
            end: (marked.end.line(), marked.end.col() + 1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NodeSpans {
    /// The mapping key naming the node; `None` for list items and the document.
    key: Option<Span>,
    value: Span,
    /// Lists and mappings are marked at their start only.
    collection: bool,
}

/// A key written twice in one mapping (the YAML parser only says "duplicate entry").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DuplicateKey {
    pub pointer: String,
    pub key: String,
    pub first: Span,
}

#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    file_name: String,
    text: String,
    nodes: HashMap<String, NodeSpans>,
    pub(crate) duplicate_keys: Vec<DuplicateKey>,
    /// Where each document after the first starts (a flow file holds one).
    pub(crate) extra_documents: Vec<(usize, usize)>,
    /// Where the nesting first went past [`MAX_NESTING`] levels.
    pub(crate) too_deep: Option<(usize, usize)>,
}

/// Deeper nodes are not indexed; the YAML parser refuses such documents anyway.
const MAX_DEPTH: usize = 128;

/// Nesting past this is reported before the YAML parser sees the file: it refuses anything
/// deeper than 128 levels, but only after a scan whose cost grows with the square of the depth
/// of `[`/`{` nesting (a 1 MiB body of brackets took a core for minutes). This parse itself
/// stops at 255 levels of `[`/`{` (see `Indexer::next`).
pub(crate) const MAX_NESTING: usize = 200;

/// Nodes looked at and copied to index aliases and merges, over the whole file. Past it the
/// rest are not indexed (their diagnostics point at the alias): aliases of aliases grow
/// exponentially (a "billion laughs" file), and the YAML parser refuses those anyway.
const MAX_ALIAS_WORK: usize = 1_000_000;

impl SourceMap {
    /// Indexes `text`. Never fails: on a syntax error it keeps what it found before it.
    pub fn new(file_name: impl Into<String>, text: impl Into<String>) -> SourceMap {
        let mut map = SourceMap { file_name: file_name.into(), text: text.into(), ..SourceMap::default() };
        let text = std::mem::take(&mut map.text);
        Indexer {
            map: &mut map,
            parser: Parser::new_from_str(&text),
            anchors: HashMap::new(),
            alias_work: 0,
        }
        .run();
        map.text = text;
        map
    }

    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based `(line, column)` of the node's value.
    pub fn position(&self, pointer: &str) -> Option<(usize, usize)> {
        self.nodes.get(pointer).map(|n| n.value.start)
    }

    /// 1-based `(line, column)` of the mapping key naming the node.
    pub fn key_position(&self, pointer: &str) -> Option<(usize, usize)> {
        self.nodes.get(pointer).and_then(|n| n.key).map(|k| k.start)
    }

    /// The text range to underline for a node: its key (`at_key`, when it has one) or its value.
    /// Nodes that are not in the map (merged or aliased ones, or made up by a stage that points
    /// below what the file spells out) resolve to their nearest ancestor that is.
    pub fn locate(&self, pointer: &str, at_key: bool) -> Option<Span> {
        let mut current = pointer;
        loop {
            if let Some(node) = self.nodes.get(current) {
                if at_key && let Some(key) = node.key {
                    return Some(key);
                }
                if node.collection {
                    return Some(Span::at(node.value.start));
                }
                return Some(node.value);
            }
            current = pointer::parent(current)?;
        }
    }

    /// The text of 1-based line `number`, without its line break.
    pub fn line(&self, number: usize) -> Option<&str> {
        self.text.lines().nth(number.checked_sub(1)?)
    }
}

struct Indexer<'m, 't> {
    map: &'m mut SourceMap,
    parser: Parser<'t, saphyr_parser::StrInput<'t>>,
    /// Anchor id -> pointer of the anchored node, to index aliases like their anchor.
    anchors: HashMap<usize, String>,
    /// Counts toward [`MAX_ALIAS_WORK`].
    alias_work: usize,
}

impl<'t> Indexer<'_, 't> {
    fn next(&mut self) -> Option<(Event<'t>, MarkedSpan)> {
        match self.parser.next_event()? {
            Ok(event) => Some(event),
            Err(err) => {
                // This parse stops at 255 levels of `[`/`{`, where the YAML parser would spend
                // minutes before refusing the file for the same reason.
                if err.info().contains("recursion limit") && self.map.too_deep.is_none() {
                    let at = err.marker();
                    self.map.too_deep = Some((at.line(), at.col() + 1));
                }
                None
            }
        }
    }

    fn run(mut self) {
        let mut documents = 0;
        while let Some((event, span)) = self.next() {
            match event {
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        self.map.extra_documents.push(Span::of(span).start);
                        return;
                    }
                    let Some((event, span)) = self.next() else { return };
                    self.node(event, span, String::new(), None, 0);
                }
                Event::StreamEnd => return,
                _ => {}
            }
        }
    }

    fn record(&mut self, pointer: &str, key: Option<Span>, value: Span, collection: bool) {
        self.map.nodes.insert(pointer.to_string(), NodeSpans { key, value, collection });
    }

    /// Indexes the node that starts with `event`, consuming its events.
    fn node(&mut self, event: Event<'t>, span: MarkedSpan, at: String, key: Option<Span>, depth: usize) {
        match event {
            Event::Scalar(_, _, anchor, _) => {
                self.record(&at, key, Span::of(span), false);
                self.anchor(anchor, &at);
            }
            Event::Alias(anchor) => {
                self.record(&at, key, Span::of(span), false);
                if let Some(target) = self.anchors.get(&anchor).cloned() {
                    self.copy_subtree(&target, &at, false);
                }
            }
            Event::SequenceStart(anchor, _) => {
                self.record(&at, key, Span::of(span), true);
                let mut index = 0;
                while let Some((event, span)) = self.next() {
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let child = pointer::index(&at, index);
                    if depth < MAX_DEPTH {
                        self.node(event, span, child, None, depth + 1);
                    } else {
                        self.skip(event, span, depth + 1);
                    }
                    index += 1;
                }
                self.anchor(anchor, &at);
            }
            Event::MappingStart(anchor, _) => {
                self.record(&at, key, Span::of(span), true);
                self.mapping(&at, depth);
                self.anchor(anchor, &at);
            }
            _ => {}
        }
    }

    fn mapping(&mut self, at: &str, depth: usize) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        let mut merges = Vec::new();
        while let Some((event, span)) = self.next() {
            let key = match event {
                Event::MappingEnd => break,
                Event::Scalar(text, ..) => Some(text.into_owned()),
                other => {
                    // A list or mapping used as a key: not a flow; skip it and its value.
                    self.skip(other, span, depth + 1);
                    None
                }
            };
            let key_span = Span::of(span);
            let Some((event, span)) = self.next() else { return };
            let Some(key) = key else {
                self.skip(event, span, depth + 1);
                continue;
            };
            let child = pointer::key(at, &key);
            if key == "<<" {
                merges.push(child.clone());
            } else if let Some(first) = seen.get(&key) {
                self.map.duplicate_keys.push(DuplicateKey {
                    pointer: child.clone(),
                    key: key.clone(),
                    first: *first,
                });
            } else {
                seen.insert(key.clone(), key_span);
            }
            if depth < MAX_DEPTH {
                self.node(event, span, child, Some(key_span), depth + 1);
            } else {
                self.skip(event, span, depth + 1);
            }
        }
        // `<<: *base` (or a list of them) merges the base's keys into this mapping; point them at
        // the base's text, without overriding keys written here.
        for merge in merges {
            self.copy_subtree(&merge, at, true);
        }
    }

    fn anchor(&mut self, anchor: usize, at: &str) {
        if anchor != 0 {
            self.anchors.insert(anchor, at.to_string());
        }
    }

    /// Indexes the nodes below `from` again below `to`. A merge's `from` may be a list of
    /// mappings, whose items' keys all land directly below `to`; earlier items win, and keys
    /// written in the mapping itself win over all of them.
    fn copy_subtree(&mut self, from: &str, to: &str, merge: bool) {
        self.alias_work += self.map.nodes.len();
        if self.alias_work > MAX_ALIAS_WORK {
            return;
        }
        let prefix = format!("{from}/");
        let from_is_list = merge && self.map.nodes.contains_key(&pointer::index(from, 0));
        let mut copies = Vec::new();
        for (path, spans) in &self.map.nodes {
            let Some(mut rest) = path.strip_prefix(&prefix) else { continue };
            if from_is_list {
                let Some((_, tail)) = rest.split_once('/') else { continue };
                rest = tail;
            }
            copies.push((format!("{to}/{rest}"), *spans, path.clone()));
        }
        self.alias_work += copies.len();
        if self.alias_work > MAX_ALIAS_WORK {
            return;
        }
        copies.sort_by(|a, b| a.2.cmp(&b.2));
        let mut taken: HashSet<String> = HashSet::new();
        for (path, spans, _) in copies {
            if merge && (self.map.nodes.contains_key(&path) || !taken.insert(path.clone())) {
                continue;
            }
            self.map.nodes.insert(path, spans);
        }
    }

    /// Consumes the rest of the node that starts with `event`, `base` levels down, noting where
    /// the nesting first goes past [`MAX_NESTING`].
    fn skip(&mut self, event: Event<'t>, span: MarkedSpan, base: usize) {
        let mut depth = match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => 1,
            _ => 0,
        };
        let mut deepest = (base + depth, span);
        while depth > 0 {
            match self.next() {
                Some((Event::SequenceStart(..) | Event::MappingStart(..), span)) => {
                    depth += 1;
                    if base + depth > deepest.0 {
                        deepest = (base + depth, span);
                    }
                }
                Some((Event::SequenceEnd | Event::MappingEnd, _)) => depth -= 1,
                Some(_) => {}
                None => break,
            }
            if deepest.0 > MAX_NESTING && self.map.too_deep.is_none() {
                self.map.too_deep = Some(Span::of(deepest.1).start);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SourceMap;

    #[test]
    fn nesting_past_the_limit_is_noted_at_any_depth() {
        for n in [150usize, 210, 300, 5000] {
            let text = format!("id: deep\nnamespace: t\ntasks: {}{}\n", "[".repeat(n), "]".repeat(n));
            let map = SourceMap::new("f.yaml", text);
            match n {
                150 => assert_eq!(map.too_deep, None),
                210 => assert_eq!(map.too_deep, Some((3, 207))),
                _ => assert!(map.too_deep.is_some_and(|(line, _)| line == 3), "{n}: {:?}", map.too_deep),
            }
        }
        let block = (0..300).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect::<String>();
        assert!(SourceMap::new("f.yaml", block).too_deep.is_some(), "block nesting counts too");
    }
}
