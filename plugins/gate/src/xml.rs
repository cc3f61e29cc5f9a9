//! A small element tree over quick-xml's pull parser, each element keeping where it starts, so
//! the report parsers can walk JUnit, Cobertura and JaCoCo documents and name the line and
//! column of anything they refuse. Comments, processing instructions and the DOCTYPE (JaCoCo
//! writes one) are skipped; entities are the five predefined ones and character references.

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use sluice_plugin::TaskError;

use crate::position::{Position, malformed};

/// One element: its name (without a namespace prefix), attributes, children and text.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// The text directly inside, CDATA included, entities resolved.
    pub text: String,
    /// Byte offset of its `<`.
    pub offset: usize,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The children named `name`.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// A parsed document: its root and the text it came from, for positions in errors.
pub struct Document<'a> {
    pub root: Element,
    pub text: &'a str,
    pub file: &'a str,
}

impl Document<'_> {
    /// An error about `element`, at its position.
    pub fn error(&self, element: &Element, what: impl std::fmt::Display) -> TaskError {
        malformed(self.file, Position::at(self.text, element.offset), what)
    }

    /// The attribute `name` of `element` as a number, if present; an error if it is not one.
    pub fn number(&self, element: &Element, name: &str) -> Result<Option<f64>, TaskError> {
        match element.attr(name) {
            None => Ok(None),
            Some(value) if value.trim().is_empty() => Ok(None),
            Some(value) => value.trim().replace(',', "").parse::<f64>().map(Some).map_err(|_| {
                self.error(element, format!("<{}> {name}=\"{value}\" is not a number", element.name))
            }),
        }
    }

    /// The attribute `name` of `element` as a count (a non-negative integer), 0 if absent.
    pub fn count(&self, element: &Element, name: &str) -> Result<u64, TaskError> {
        match element.attr(name) {
            None => Ok(0),
            Some(value) => value.trim().parse::<u64>().map_err(|_| {
                self.error(element, format!("<{}> {name}=\"{value}\" is not a count", element.name))
            }),
        }
    }
}

/// Parses `text` (the contents of `file`) into its root element.
pub fn parse<'a>(text: &'a str, file: &'a str) -> Result<Document<'a>, TaskError> {
    // Without its byte order mark: quick-xml's error offsets do not count it, and no editor
    // shows it, so positions are relative to what follows.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = quick_xml::Reader::from_str(text);
    let error_at = |offset: u64, what: String| malformed(file, Position::at(text, offset as usize), what);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|err| error_at(reader.error_position(), format!("not well-formed XML: {err}")))?;
        // The event starts after any whitespace the reader consumed before it.
        let offset = before + text[before..].len() - text[before..].trim_start().len();
        match event {
            Event::Start(start) => {
                let element = element(&start, offset, text, file)?;
                check_single_root(&stack, &root, offset, text, file)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let element = element(&start, offset, text, file)?;
                check_single_root(&stack, &root, offset, text, file)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                // quick-xml has checked that the name matches the open element.
                let Some(done) = stack.pop() else {
                    return Err(error_at(offset as u64, "a closing tag with no element open".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                push_text(&mut stack, &t.xml_content(XmlVersion::Implicit1_0), offset, text, file)?
            }
            Event::CData(t) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&t.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match resolve_predefined_entity(&r) {
                        Some(s) => s.to_string(),
                        None => return Err(error_at(offset as u64, format!("unknown entity `&{};`", &*r))),
                    },
                    Err(err) => {
                        return Err(error_at(offset as u64, format!("bad character reference: {err}")));
                    }
                };
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        let at = Position::at(text, open.offset);
        return Err(malformed(
            file,
            Position::at(text, text.len()),
            format!("the document ends inside <{}> (opened at {}:{})", open.name, at.line, at.column),
        ));
    }
    match root {
        Some(root) => Ok(Document { root, text, file }),
        None => Err(malformed(file, Position::at(text, text.len()), "no XML element in the file")),
    }
}

fn check_single_root(
    stack: &[Element],
    root: &Option<Element>,
    offset: usize,
    text: &str,
    file: &str,
) -> Result<(), TaskError> {
    if stack.is_empty() && root.is_some() {
        return Err(malformed(file, Position::at(text, offset), "a second root element"));
    }
    Ok(())
}

fn push_text(
    stack: &mut [Element],
    content: &str,
    offset: usize,
    text: &str,
    file: &str,
) -> Result<(), TaskError> {
    match stack.last_mut() {
        Some(open) => open.text.push_str(content),
        None if content.trim().is_empty() => {}
        None => return Err(malformed(file, Position::at(text, offset), "text outside the root element")),
    }
    Ok(())
}

fn element(start: &BytesStart<'_>, offset: usize, text: &str, file: &str) -> Result<Element, TaskError> {
    let name = start.local_name().as_ref().to_string();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|err| {
            malformed(file, Position::at(text, offset), format!("<{name}> has a bad attribute: {err}"))
        })?;
        let value = attribute.normalized_value(XmlVersion::Implicit1_0).map_err(|err| {
            malformed(file, Position::at(text, offset), format!("<{name}> has a bad attribute value: {err}"))
        })?;
        let key = attribute.key.local_name().as_ref().to_string();
        attributes.push((key, value.into_owned()));
    }
    Ok(Element { name, attributes, children: Vec::new(), text: String::new(), offset })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_with_attributes_text_entities_and_cdata() {
        let text = "<?xml version=\"1.0\"?>\n<!-- c -->\n<a x=\"1 &amp; 2\">\n  <b>one &lt;two&gt; &#65;</b>\n  <c><![CDATA[<raw>]]></c>\n  <ns:d/>\n</a>\n";
        let doc = parse(text, "r.xml").unwrap();
        assert_eq!(doc.root.name, "a");
        assert_eq!(doc.root.attr("x"), Some("1 & 2"));
        let names: Vec<&str> = doc.root.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "d"]);
        assert_eq!(doc.root.children[0].text, "one <two> A");
        assert_eq!(doc.root.children[1].text, "<raw>");
        assert_eq!(Position::at(text, doc.root.children[0].offset), Position { line: 4, column: 3 });
    }

    #[test]
    fn a_byte_order_mark_and_crlf_lines_keep_positions_right() {
        let text = "\u{feff}<?xml version=\"1.0\"?>\r\n<a>\r\n  <b/>\r\n</a>\r\n";
        let doc = parse(text, "r.xml").unwrap();
        assert_eq!(Position::at(doc.text, doc.root.children[0].offset), Position { line: 3, column: 3 });
        let err = parse("\u{feff}<a>\r\n  <b>\r\n</a>\r\n", "r.xml").err().unwrap();
        assert!(err.message().starts_with("r.xml:3:1: malformed report"), "{}", err.message());
    }

    #[test]
    fn a_mismatched_closing_tag_is_named_with_its_line_and_column() {
        let err = parse("<a>\n  <b>\n  </c>\n</a>\n", "r.xml").err().unwrap();
        assert!(
            err.message().starts_with("r.xml:3:3: malformed report: not well-formed XML"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_truncated_document_says_which_element_is_left_open() {
        let err = parse("<a>\n  <b>x</b>\n", "r.xml").err().unwrap();
        assert_eq!(
            err.message(),
            "r.xml:3:1: malformed report: the document ends inside <a> (opened at 1:1)"
        );
    }

    #[test]
    fn an_empty_file_and_a_number_that_is_not_one() {
        let err = parse("  \n", "r.xml").err().unwrap();
        assert_eq!(err.message(), "r.xml:2:1: malformed report: no XML element in the file");
        let doc = parse("<a>\n <b n=\"x1\"/></a>", "r.xml").unwrap();
        let err = doc.number(&doc.root.children[0], "n").err().unwrap();
        assert_eq!(err.message(), "r.xml:2:2: malformed report: <b> n=\"x1\" is not a number");
    }
}
