//! The director's Markdown (procedure text) rendered through maud: every
//! piece of text is escaped, raw HTML in the source is shown as text, links
//! keep only http(s) and mailto targets.

use maud::{Markup, html};
use pulldown_cmark::{Event, HeadingLevel, Parser, Tag};

enum Node {
    Element(Tag<'static>, Vec<Node>),
    Text(String),
    Code(String),
    Break,
    Rule,
}

/// Deeper nesting is flattened, so rendering (recursive) stays shallow
/// whatever the text holds (`>>>>…` thousands deep).
const MAX_DEPTH: usize = 24;

fn tree(source: &str) -> Vec<Node> {
    let mut stack: Vec<(Option<Tag<'static>>, Vec<Node>)> = vec![(None, Vec::new())];
    for event in Parser::new(source) {
        match event {
            Event::Start(_) if stack.len() > MAX_DEPTH => stack.push((None, Vec::new())),
            Event::Start(tag) => stack.push((Some(tag.into_static()), Vec::new())),
            Event::End(_) => {
                let (tag, children) = stack.pop().expect("balanced events");
                if let Some(parent) = stack.last_mut() {
                    match tag {
                        Some(tag) => parent.1.push(Node::Element(tag, children)),
                        None => parent.1.extend(children),
                    }
                }
            }
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => stack
                .last_mut()
                .expect("root")
                .1
                .push(Node::Text(t.into_string())),
            Event::Code(c) => stack
                .last_mut()
                .expect("root")
                .1
                .push(Node::Code(c.into_string())),
            Event::SoftBreak => stack
                .last_mut()
                .expect("root")
                .1
                .push(Node::Text(" ".into())),
            Event::HardBreak => stack.last_mut().expect("root").1.push(Node::Break),
            Event::Rule => stack.last_mut().expect("root").1.push(Node::Rule),
            _ => {}
        }
    }
    stack.pop().map(|(_, c)| c).unwrap_or_default()
}

fn safe_href(url: &str) -> Option<&str> {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:"))
        .then_some(url)
}

fn nodes(list: &[Node]) -> Markup {
    html! { @for n in list { (node(n)) } }
}

fn node(n: &Node) -> Markup {
    match n {
        Node::Text(t) => html! { (t) },
        Node::Code(c) => html! { code { (c) } },
        Node::Break => html! { br; },
        Node::Rule => html! { hr; },
        Node::Element(tag, children) => {
            let inner = nodes(children);
            match tag {
                Tag::Paragraph => html! { p { (inner) } },
                // The page already has h1/h2: the procedure's headings start at h3.
                Tag::Heading { level, .. } => match level {
                    HeadingLevel::H1 => html! { h3 { (inner) } },
                    HeadingLevel::H2 => html! { h4 { (inner) } },
                    _ => html! { h5 { (inner) } },
                },
                Tag::BlockQuote(_) => html! { blockquote { (inner) } },
                Tag::CodeBlock(_) => html! { pre { (inner) } },
                Tag::List(Some(_)) => html! { ol { (inner) } },
                Tag::List(None) => html! { ul { (inner) } },
                Tag::Item => html! { li { (inner) } },
                Tag::Emphasis => html! { em { (inner) } },
                Tag::Strong => html! { strong { (inner) } },
                Tag::Strikethrough => html! { s { (inner) } },
                Tag::Link { dest_url, .. } => match safe_href(dest_url) {
                    Some(href) => html! { a href=(href) rel="noopener noreferrer" { (inner) } },
                    None => inner,
                },
                _ => inner,
            }
        }
    }
}

pub fn render(source: &str) -> Markup {
    nodes(&tree(source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_flattened() {
        let deep = format!("{}texte", ">".repeat(20_000));
        let html = render(&deep).into_string();
        assert!(html.contains("texte"));
        assert!(html.matches("<blockquote>").count() <= MAX_DEPTH);
    }

    #[test]
    fn renders_structure_and_escapes_everything() {
        let html = render("# Titre\n\nTexte **gras** et *it*.\n\n- un\n- deux\n\n<script>alert(1)</script>\n\n[lien](javascript:alert(1)) [ans](https://esante.gouv.fr)").into_string();
        assert!(html.contains("<h3>Titre</h3>"), "{html}");
        assert!(html.contains("<strong>gras</strong>"));
        assert!(html.contains("<ul><li>un</li><li>deux</li></ul>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(!html.contains("javascript:"));
        assert!(html.contains(r#"<a href="https://esante.gouv.fr""#));
    }
}
