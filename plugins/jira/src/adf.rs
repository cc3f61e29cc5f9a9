//! Text to Atlassian Document Format, the JSON tree Jira's v3 API takes for descriptions and
//! comments. Two inputs: plain text (paragraphs at blank lines, line breaks kept) and a small
//! Markdown (headings `#`, lists `-`/`*`/`1.`, fenced code, `>` quotes; inline `**bold**`,
//! `*italic*`/`_italic_`, `` `code` `` and `[text](url)`). Anything else stays literal text.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// How a description or comment body is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Markdown-ish text, converted to headings, lists, code blocks, bold, italic, links.
    #[default]
    Markdown,
    /// Plain text: paragraphs at blank lines, line breaks kept, nothing interpreted.
    Text,
}

/// The ADF document of `text`.
pub fn document(text: &str, format: Format) -> Value {
    let content = match format {
        Format::Text => plain(text),
        Format::Markdown => markdown(text),
    };
    json!({"type": "doc", "version": 1, "content": content})
}

fn plain(text: &str) -> Vec<Value> {
    paragraphs(text).iter().map(|lines| paragraph(lines, |line| text_node(line, &[]))).collect()
}

/// Runs of non-blank lines.
fn paragraphs(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut current = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(line.trim_end());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A paragraph of `lines` joined by hard breaks, each line's nodes made by `nodes`.
fn paragraph<'a>(lines: &[&'a str], nodes: impl Fn(&'a str) -> Vec<Value>) -> Value {
    let mut content = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            content.push(json!({"type": "hardBreak"}));
        }
        content.extend(nodes(line));
    }
    json!({"type": "paragraph", "content": content})
}

#[derive(PartialEq)]
enum ListKind {
    Bullet,
    Ordered,
}

fn list_item(line: &str) -> Option<(ListKind, &str)> {
    let trimmed = line.trim_start();
    if let Some(rest) = trimmed.strip_prefix("- ").or_else(|| trimmed.strip_prefix("* ")) {
        return Some((ListKind::Bullet, rest));
    }
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    let rest = trimmed[digits..].strip_prefix(". ").or_else(|| trimmed[digits..].strip_prefix(") "))?;
    (digits > 0).then_some((ListKind::Ordered, rest))
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    let rest = line[level..].strip_prefix(' ')?;
    (1..=6).contains(&level).then_some((level, rest.trim()))
}

fn markdown(text: &str) -> Vec<Value> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.trim().is_empty() {
            i += 1;
        } else if let Some(fence) = line.trim_start().strip_prefix("```") {
            let language = fence.trim();
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                code.push(lines[i]);
                i += 1;
            }
            i += 1; // the closing fence (or the end)
            let mut block = json!({"type": "codeBlock", "content": text_node(&code.join("\n"), &[])});
            if !language.is_empty() {
                block["attrs"] = json!({"language": language});
            }
            blocks.push(block);
        } else if let Some((level, title)) = heading(line) {
            blocks.push(json!({"type": "heading", "attrs": {"level": level}, "content": inline(title, &[])}));
            i += 1;
        } else if let Some((kind, _)) = list_item(line) {
            let mut items = Vec::new();
            while let Some((item_kind, item)) = lines.get(i).and_then(|l| list_item(l)) {
                if item_kind != kind {
                    break;
                }
                items.push(json!({"type": "listItem", "content": [paragraph(&[item], |l| inline(l, &[]))]}));
                i += 1;
            }
            let kind = if kind == ListKind::Bullet { "bulletList" } else { "orderedList" };
            blocks.push(json!({"type": kind, "content": items}));
        } else if line.trim_start().starts_with('>') {
            let mut quoted = Vec::new();
            while let Some(rest) = lines.get(i).and_then(|l| l.trim_start().strip_prefix('>')) {
                quoted.push(rest.strip_prefix(' ').unwrap_or(rest));
                i += 1;
            }
            let content: Vec<Value> =
                paragraphs(&quoted.join("\n")).iter().map(|p| paragraph(p, |l| inline(l, &[]))).collect();
            blocks.push(json!({"type": "blockquote", "content": content}));
        } else {
            let mut run = Vec::new();
            while let Some(next) = lines.get(i).map(|l| l.trim_end()) {
                let starts_block = next.trim().is_empty()
                    || heading(next).is_some()
                    || list_item(next).is_some()
                    || next.trim_start().starts_with("```")
                    || next.trim_start().starts_with('>');
                if starts_block && !run.is_empty() {
                    break;
                }
                run.push(next);
                i += 1;
            }
            blocks.push(paragraph(&run, |l| inline(l, &[])));
        }
    }
    blocks
}

/// A text node (none for empty text: ADF refuses empty text nodes).
fn text_node(text: &str, marks: &[Value]) -> Vec<Value> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut node = json!({"type": "text", "text": text});
    if !marks.is_empty() {
        node["marks"] = Value::Array(marks.to_vec());
    }
    vec![node]
}

fn with(marks: &[Value], mark: Value) -> Vec<Value> {
    let mut marks = marks.to_vec();
    marks.push(mark);
    marks
}

/// Whether the byte before `at` (if any) is not a letter or digit: `_` opens emphasis only at a
/// word's start, so `customfield_10010` stays as it is.
fn word_start(text: &str, at: usize) -> bool {
    !text[..at].chars().next_back().is_some_and(char::is_alphanumeric)
}

fn word_end(text: &str, at: usize) -> bool {
    !text[at..].chars().next().is_some_and(char::is_alphanumeric)
}

/// The inline nodes of one line.
fn inline(text: &str, marks: &[Value]) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut literal_from = 0;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let parsed: Option<(usize, Vec<Value>)> = if let Some(inner) = rest.strip_prefix('`') {
            inner.find('`').filter(|end| *end > 0).map(|end| {
                // ADF allows only a link next to the code mark.
                let mut code_marks: Vec<Value> =
                    marks.iter().filter(|m| m["type"] == "link").cloned().collect();
                code_marks.push(json!({"type": "code"}));
                (end + 2, text_node(&inner[..end], &code_marks))
            })
        } else if let Some(inner) = rest.strip_prefix("**") {
            inner
                .find("**")
                .filter(|end| *end > 0)
                .map(|end| (end + 4, inline(&inner[..end], &with(marks, json!({"type": "strong"})))))
        } else if let Some(delimiter) = rest.chars().next().filter(|c| matches!(c, '*' | '_')) {
            let inner = &rest[1..];
            inner
                .find(delimiter)
                .filter(|end| *end > 0 && word_start(text, at) && word_end(text, at + end + 2))
                .filter(|end| !inner[..*end].starts_with(' '))
                .map(|end| (end + 2, inline(&inner[..end], &with(marks, json!({"type": "em"})))))
        } else if let Some(inner) = rest.strip_prefix('[') {
            inner.find("](").and_then(|label_end| {
                let after = &inner[label_end + 2..];
                let url_end = after.find(')')?;
                let href = &after[..url_end];
                let link = json!({"type": "link", "attrs": {"href": href}});
                Some((1 + label_end + 2 + url_end + 1, inline(&inner[..label_end], &with(marks, link))))
            })
        } else {
            None
        };
        match parsed {
            Some((length, parsed)) => {
                nodes.extend(text_node(&text[literal_from..at], marks));
                nodes.extend(parsed);
                at += length;
                literal_from = at;
            }
            None => at += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    nodes.extend(text_node(&text[literal_from..], marks));
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_keeps_its_lines_and_nothing_else() {
        assert_eq!(
            document("Deploy **failed**\nsee log\n\nnext", Format::Text),
            json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "Deploy **failed**"}, {"type": "hardBreak"}, {"type": "text", "text": "see log"}]},
                {"type": "paragraph", "content": [{"type": "text", "text": "next"}]}
            ]})
        );
    }

    #[test]
    fn markdown_blocks() {
        let doc = document(
            "## Release 1.2\n- one\n- two\n1. first\n\n```sh\nmake\n```\n> quoted\ntext",
            Format::Markdown,
        );
        assert_eq!(
            doc["content"],
            json!([
                {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Release 1.2"}]},
                {"type": "bulletList", "content": [
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "one"}]}]},
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "two"}]}]}]},
                {"type": "orderedList", "content": [
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "first"}]}]}]},
                {"type": "codeBlock", "attrs": {"language": "sh"}, "content": [{"type": "text", "text": "make"}]},
                {"type": "blockquote", "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "quoted"}]}]},
                {"type": "paragraph", "content": [{"type": "text", "text": "text"}]}
            ])
        );
    }

    #[test]
    fn inline_marks() {
        assert_eq!(
            inline("a **b _c_** `d` [e](https://x.example/1) customfield_10010 2*3*4", &[]),
            json!([
                {"type": "text", "text": "a "},
                {"type": "text", "text": "b ", "marks": [{"type": "strong"}]},
                {"type": "text", "text": "c", "marks": [{"type": "strong"}, {"type": "em"}]},
                {"type": "text", "text": " "},
                {"type": "text", "text": "d", "marks": [{"type": "code"}]},
                {"type": "text", "text": " "},
                {"type": "text", "text": "e", "marks": [{"type": "link", "attrs": {"href": "https://x.example/1"}}]},
                {"type": "text", "text": " customfield_10010 2*3*4"}
            ])
            .as_array()
            .cloned()
            .unwrap_or_default()
        );
        assert_eq!(
            inline("unclosed **bold and `code", &[]),
            vec![json!({"type": "text", "text": "unclosed **bold and `code"})]
        );
    }
}
