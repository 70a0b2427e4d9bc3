//! Accessible form fields: a label for each input, errors tied by aria-describedby.

use maud::{Markup, html};
use std::collections::BTreeMap;

pub type Errors = BTreeMap<&'static str, String>;

pub struct Field<'a> {
    pub name: &'static str,
    pub label: &'a str,
    pub value: &'a str,
    pub kind: &'static str,
    pub required: bool,
    pub hint: Option<&'a str>,
    pub autocomplete: &'static str,
    pub maxlength: Option<usize>,
}

impl<'a> Field<'a> {
    pub fn text(name: &'static str, label: &'a str, value: &'a str) -> Field<'a> {
        Field {
            name,
            label,
            value,
            kind: "text",
            required: false,
            hint: None,
            autocomplete: "off",
            maxlength: Some(100),
        }
    }
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }
    pub fn maxlength(mut self, n: usize) -> Self {
        self.maxlength = Some(n);
        self
    }
}

pub fn field(f: Field<'_>, errors: &Errors) -> Markup {
    let error = errors.get(f.name);
    let id = format!("f-{}", f.name);
    let hint_id = format!("{id}-aide");
    let err_id = format!("{id}-erreur");
    let mut described = Vec::new();
    if f.hint.is_some() {
        described.push(hint_id.clone());
    }
    if error.is_some() {
        described.push(err_id.clone());
    }
    let described = described.join(" ");
    html! {
        div.field.has-error[error.is_some()] {
            label for=(id) {
                (f.label)
                @if f.required { " " abbr title="obligatoire" { "*" } }
            }
            @if let Some(h) = f.hint { span.hint id=(hint_id) { (h) } }
            @if let Some(e) = error { span.error id=(err_id) { (e) } }
            input id=(id) name=(f.name) type=(f.kind) value=(f.value)
                required[f.required] autocomplete=(f.autocomplete)
                maxlength=[f.maxlength]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[(!described.is_empty()).then_some(described.as_str())];
        }
    }
}

pub fn select(
    name: &'static str,
    label: &str,
    options: &[(&str, &str)],
    selected: &str,
    errors: &Errors,
) -> Markup {
    let id = format!("f-{name}");
    let error = errors.get(name);
    html! {
        div.field.has-error[error.is_some()] {
            label for=(id) { (label) }
            @if let Some(e) = error { span.error id={(id) "-erreur"} { (e) } }
            select id=(id) name=(name) aria-invalid=[error.map(|_| "true")] {
                @for (value, text) in options {
                    option value=(value) selected[*value == selected] { (text) }
                }
            }
        }
    }
}

/// Summary at the top of a form that failed, linking to each field.
pub fn error_summary(errors: &Errors) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.error-summary role="alert" tabindex="-1" {
                h2 { "Le formulaire contient " (errors.len()) @if errors.len() > 1 { " erreurs" } @else { " erreur" } }
                p { "Rien n'a été enregistré ; ce que vous avez saisi est conservé ci-dessous." }
                ul {
                    @for (name, msg) in errors {
                        li { a href={ "#f-" (name) } { (msg) } }
                    }
                }
            }
        }
    }
}
