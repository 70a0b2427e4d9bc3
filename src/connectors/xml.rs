//! A tiny namespace-aware XML tree built with quick-xml, shared by the INSi
//! response parser (which matches on local names only, to be lenient) and
//! the INSi sandbox (which checks namespaces strictly, like the real service).

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// One element: resolved namespace, local name, attributes (local names,
/// `xmlns` declarations left out), child elements and direct text content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub namespace: Option<String>,
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// First child with this local name (any namespace).
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == local)
    }

    /// Every child with this local name (any namespace), in document order.
    pub fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == local)
    }

    /// First descendant (depth first, self excluded) with this local name.
    pub fn find(&self, local: &str) -> Option<&Element> {
        for c in &self.children {
            if c.name == local {
                return Some(c);
            }
            if let Some(found) = c.find(local) {
                return Some(found);
            }
        }
        None
    }

    /// Attribute value by local name.
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == local)
            .map(|(_, v)| v.as_str())
    }

    /// Text content with surrounding whitespace removed.
    pub fn trimmed_text(&self) -> &str {
        self.text.trim()
    }

    /// Text of the first child with this local name, trimmed.
    pub fn child_text(&self, local: &str) -> Option<String> {
        self.child(local).map(|c| c.trimmed_text().to_owned())
    }

    /// True when the element is in namespace `ns` with local name `local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.name == local && self.namespace.as_deref() == Some(ns)
    }
}

/// Elements nested deeper than this are refused: a SOAP answer is a dozen
/// levels deep, and the tree is walked (and dropped) recursively.
pub const MAX_DEPTH: usize = 64;

/// Parses a whole document into its root element. The error is a short
/// description (in French) of what is wrong with the XML.
pub fn parse(xml: &str) -> Result<Element, String> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let position = reader.buffer_position();
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("XML mal formé (après l'octet {position}) : {e}"))?;
        let namespace = match ns {
            ResolveResult::Bound(n) => Some(n.0.to_owned()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => {
                return Err(format!("préfixe d'espace de noms non déclaré : {p}"));
            }
        };
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "XML trop profond (plus de {MAX_DEPTH} niveaux d'éléments)"
                    ));
                }
                stack.push(open(namespace, &start)?)
            }
            Event::Empty(start) => {
                let element = open(namespace, &start)?;
                close(element, &mut stack, &mut root)?;
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| "balise fermante sans balise ouvrante".to_owned())?;
                close(element, &mut stack, &mut root)?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                } else if !t.xml10_content().trim().is_empty() {
                    return Err("texte hors de l'élément racine".to_owned());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = resolve_reference(&r)?;
                if let Some(top) = stack.last_mut() {
                    top.text.push(resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err("DOCTYPE refusé".to_owned()),
        }
    }
    if !stack.is_empty() {
        return Err("document XML tronqué (balises non fermées)".to_owned());
    }
    root.ok_or_else(|| "document XML vide".to_owned())
}

fn open(namespace: Option<String>, start: &BytesStart<'_>) -> Result<Element, String> {
    let name = start.local_name().into_inner().to_owned();
    let mut attributes = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("attribut mal formé dans <{name}> : {e}"))?;
        let key = attr.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let local = key.local_name().into_inner().to_owned();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("valeur d'attribut mal formée dans <{name}> : {e}"))?
            .into_owned();
        attributes.push((local, value));
    }
    Ok(Element {
        namespace,
        name,
        attributes,
        children: Vec::new(),
        text: String::new(),
    })
}

fn close(
    element: Element,
    stack: &mut [Element],
    root: &mut Option<Element>,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err("plusieurs éléments racine".to_owned()),
    }
    Ok(())
}

pub(crate) fn resolve_reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, String> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Ok(c);
    }
    match &**r {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(format!("entité inconnue : &{other};")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_namespaces_entities_and_empty_elements() {
        let doc = r#"<?xml version="1.0"?>
<a:root xmlns:a="urn:a" xmlns="urn:d"><child k="v&amp;w">x &amp; y&#233;</child><a:empty/></a:root>"#;
        let root = parse(doc).unwrap();
        assert!(root.is("urn:a", "root"));
        let child = root.child("child").unwrap();
        assert_eq!(child.namespace.as_deref(), Some("urn:d"));
        assert_eq!(child.text, "x & yé");
        assert_eq!(child.attribute("k"), Some("v&w"));
        assert!(root.child("empty").unwrap().is("urn:a", "empty"));
    }

    #[test]
    fn refuses_documents_nested_too_deep() {
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        let e = parse(&deep).unwrap_err();
        assert!(e.contains("trop profond"), "{e}");
        let fine = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn rejects_unbalanced_or_undeclared_prefixes() {
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<x:a/>").is_err());
        assert!(parse("").is_err());
    }
}
