//! XML that Escale signs, written directly in its exclusive canonical form
//! (W3C Exclusive XML Canonicalization 1.0, without comments): what is sent
//! is byte for byte what the digest covers, so no canonicaliser runs on a
//! parsed tree. The rules this writer follows (and the tests check against
//! `xmlsec1`):
//! - a namespace is declared on each element that visibly uses it (its own
//!   prefix, or an attribute's) unless the nearest output ancestor already
//!   declared it with the same URI; declarations first, the default one
//!   first, then by prefix;
//! - attributes after them, those without a namespace first, then by
//!   namespace URI and local name;
//! - no XML declaration, no whitespace between elements, empty elements as a
//!   start and an end tag; text escapes `&`, `<`, `>` and CR; attribute
//!   values `&`, `<`, `"`, TAB, LF and CR.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// An element with its namespaces resolved (prefix → URI, from a fixed
/// table given to [`Element::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// `prefix:local` or `local` (default namespace).
    name: String,
    /// Every namespace an element of this tree may use: prefix ("" for the
    /// default) → URI.
    namespaces: BTreeMap<String, String>,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    /// An element of a tree whose prefixes are `namespaces`.
    pub fn new(name: &str, namespaces: &[(&str, &str)]) -> Element {
        Element {
            name: name.to_string(),
            namespaces: namespaces
                .iter()
                .map(|(p, u)| (p.to_string(), u.to_string()))
                .collect(),
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    /// A child element using the same namespace table.
    pub fn child(&self, name: &str) -> Element {
        Element {
            name: name.to_string(),
            namespaces: self.namespaces.clone(),
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn attr(mut self, name: &str, value: &str) -> Element {
        self.attributes.push((name.to_string(), value.to_string()));
        self
    }

    pub fn text(mut self, text: &str) -> Element {
        self.children.push(Node::Text(text.to_string()));
        self
    }

    pub fn push(mut self, child: Element) -> Element {
        self.children.push(Node::Element(child));
        self
    }

    /// Inserts a child at a position (a signature after the issuer).
    pub fn insert(&mut self, index: usize, child: Element) {
        self.children.insert(index, Node::Element(child));
    }

    /// The value of an attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The canonical form of this element as the root of what is
    /// canonicalised (no namespace is in scope above it).
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, &BTreeMap::new());
        out
    }

    /// The qualified name (`prefix:local` or `local`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local name.
    pub fn local_name(&self) -> &str {
        self.name.split_once(':').map_or(&self.name, |(_, l)| l)
    }

    /// The namespace URI of the element.
    pub fn namespace(&self) -> &str {
        let p = Self::prefix_of(&self.name);
        self.namespaces.get(p).map(String::as_str).unwrap_or("")
    }

    /// The child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// First child element with this namespace and local name.
    pub fn element(&self, ns: &str, local: &str) -> Option<&Element> {
        self.elements()
            .find(|e| e.local_name() == local && e.namespace() == ns)
    }

    /// First descendant (depth first, self included) with this namespace and local name.
    pub fn descendant(&self, ns: &str, local: &str) -> Option<&Element> {
        if self.local_name() == local && self.namespace() == ns {
            return Some(self);
        }
        self.elements().find_map(|e| e.descendant(ns, local))
    }

    /// First descendant (self included) whose attribute `name` is `value`
    /// (a same-document reference `#value`).
    pub fn with_attribute(&self, name: &str, value: &str) -> Option<&Element> {
        if self.attribute(name) == Some(value) {
            return Some(self);
        }
        self.elements().find_map(|e| e.with_attribute(name, value))
    }

    /// The text of the element and its descendants.
    pub fn text_content(&self) -> String {
        let mut out = String::new();
        for c in &self.children {
            match c {
                Node::Element(e) => out.push_str(&e.text_content()),
                Node::Text(t) => out.push_str(t),
            }
        }
        out
    }

    /// A copy without the first child element matching (the enveloped
    /// signature transform); `None` when there is none.
    pub fn without(&self, ns: &str, local: &str) -> Option<Element> {
        let index = self.children.iter().position(
            |c| matches!(c, Node::Element(e) if e.local_name() == local && e.namespace() == ns),
        )?;
        let mut copy = self.clone();
        copy.children.remove(index);
        Some(copy)
    }

    /// Reads a document into a tree whose `canonical()` is its exclusive
    /// canonical form: prefixes kept, each element with the namespaces in
    /// scope where it stands, entities resolved, comments and processing
    /// instructions dropped (c14n without comments). What a verifier of
    /// signatures needs; at most 256 levels deep.
    pub fn parse(xml: &str) -> Result<Element, String> {
        let mut reader = Reader::from_str(xml);
        let mut stack: Vec<Element> = Vec::new();
        let mut root = None;
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("XML illisible : {e}"))?;
            match event {
                Event::Start(start) => {
                    if stack.len() >= 256 {
                        return Err("XML trop profond".into());
                    }
                    let parent = stack.last().map(|e| &e.namespaces);
                    stack.push(Self::from_start(&start, parent)?);
                }
                Event::Empty(start) => {
                    let parent = stack.last().map(|e| &e.namespaces);
                    let element = Self::from_start(&start, parent)?;
                    match stack.last_mut() {
                        Some(p) => p.children.push(Node::Element(element)),
                        None => root = Some(element),
                    }
                }
                Event::End(_) => {
                    let element = stack.pop().ok_or("XML mal formé")?;
                    match stack.last_mut() {
                        Some(p) => p.children.push(Node::Element(element)),
                        None => root = Some(element),
                    }
                }
                Event::Text(t) => {
                    if let Some(p) = stack.last_mut() {
                        p.children.push(Node::Text(t.xml10_content().into_owned()));
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(p) = stack.last_mut() {
                        let c = crate::connectors::xml::resolve_reference(&r)?;
                        p.children.push(Node::Text(c.to_string()));
                    }
                }
                Event::CData(c) => {
                    if let Some(p) = stack.last_mut() {
                        p.children.push(Node::Text(c.xml10_content().into_owned()));
                    }
                }
                Event::Eof => break,
                Event::DocType(_) => return Err("DOCTYPE refusé".into()),
                _ => {}
            }
        }
        root.ok_or_else(|| "document XML vide".into())
    }

    fn from_start(
        start: &BytesStart<'_>,
        parent: Option<&BTreeMap<String, String>>,
    ) -> Result<Element, String> {
        let bad = |e: &dyn std::fmt::Display| format!("XML illisible : {e}");
        let name = start.name().into_inner().to_owned();
        let mut namespaces = parent.cloned().unwrap_or_default();
        let mut attributes = Vec::new();
        for a in start.attributes() {
            let a = a.map_err(|e| bad(&e))?;
            let key = a.key.into_inner().to_owned();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| bad(&e))?
                .into_owned();
            if key == "xmlns" {
                namespaces.insert(String::new(), value);
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                namespaces.insert(p.to_string(), value);
            } else {
                attributes.push((key, value));
            }
        }
        let element = Element {
            name,
            namespaces,
            attributes,
            children: Vec::new(),
        };
        // Every prefix used must be declared (a well-formed namespace document).
        for p in std::iter::once(Self::prefix_of(&element.name)).chain(
            element
                .attributes
                .iter()
                .filter_map(|(n, _)| n.split_once(':').map(|(p, _)| p)),
        ) {
            if !p.is_empty() && p != "xml" && !element.namespaces.contains_key(p) {
                return Err(format!("préfixe « {p} » non déclaré"));
            }
        }
        Ok(element)
    }

    fn prefix_of(qname: &str) -> &str {
        qname.split_once(':').map_or("", |(p, _)| p)
    }

    fn uri(&self, prefix: &str) -> &str {
        if prefix == "xml" {
            return XML_NS;
        }
        self.namespaces
            .get(prefix)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("namespace prefix « {prefix} » undeclared in {}", self.name))
    }

    fn write(&self, out: &mut String, rendered: &BTreeMap<String, String>) {
        // The prefixes this element visibly uses: its own, and its
        // attributes' (an unprefixed attribute has no namespace).
        let mut used: Vec<&str> = vec![Self::prefix_of(&self.name)];
        for (name, _) in &self.attributes {
            if let Some((p, _)) = name.split_once(':') {
                used.push(p);
            }
        }
        used.sort();
        used.dedup();
        let mut scope = rendered.clone();
        let mut declarations = Vec::new();
        for p in used {
            let uri = self.uri(p);
            // The xml prefix is never declared. An element without a
            // namespace undeclares an output ancestor's default one
            // (`xmlns=""`); otherwise "" maps to "" at the root.
            let shown = rendered.get(p).map(String::as_str).unwrap_or("");
            let differs = if p.is_empty() {
                shown != uri
            } else {
                rendered.get(p).map(String::as_str) != Some(uri)
            };
            if p != "xml" && differs {
                declarations.push((p, uri));
                scope.insert(p.to_string(), uri.to_string());
            }
        }
        out.push('<');
        out.push_str(&self.name);
        for (p, uri) in declarations {
            if p.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(p);
                out.push_str("=\"");
            }
            escape_attribute(out, uri);
            out.push('"');
        }
        let mut attributes: Vec<(&str, &str, &str)> = self
            .attributes
            .iter()
            .map(|(name, _)| match name.split_once(':') {
                Some((p, local)) => (self.uri(p), local, name.as_str()),
                None => ("", name.as_str(), name.as_str()),
            })
            .collect();
        attributes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, name) in attributes {
            let value = self.attribute(name).unwrap_or_default();
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_attribute(out, value);
            out.push('"');
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write(out, &scope),
                Node::Text(t) => escape_text(out, t),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attribute(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: [(&str, &str); 4] = [
        ("a", "urn:a"),
        ("b", "urn:b"),
        ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("", "urn:default"),
    ];

    #[test]
    fn namespaces_where_used_attributes_sorted_text_escaped() {
        let root = Element::new("a:root", &NS);
        let inner = root
            .child("b:x")
            .attr("z", "1")
            .attr("xsi:type", "t")
            .attr("a:k", "<\"&\t\n>")
            .attr("b", "2");
        let plain = root.child("Role").attr("code", "10");
        let doc = root
            .clone()
            .attr("Version", "2.0")
            .attr("ID", "_1")
            .push(inner)
            .push(plain.clone().push(plain))
            .push(root.child("a:t").text("a & b < c > d\r"));
        assert_eq!(
            doc.canonical(),
            concat!(
                r#"<a:root xmlns:a="urn:a" ID="_1" Version="2.0">"#,
                r#"<b:x xmlns:b="urn:b" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" b="2" z="1" xsi:type="t" a:k="&lt;&quot;&amp;&#x9;&#xA;>"></b:x>"#,
                r#"<Role xmlns="urn:default" code="10"><Role code="10"></Role></Role>"#,
                r#"<a:t>a &amp; b &lt; c &gt; d&#xD;</a:t>"#,
                r#"</a:root>"#
            )
        );
    }
}
