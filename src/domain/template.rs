//! Document templates (issue 13), kept as text files in `templates/` at the
//! top of the project and built into the binary: a header (`type:` the
//! CI-SIS type code, `titre:` the default title), a `---` line, then the
//! text with its fields in double braces. The professional's own text goes
//! in `{{texte}}`.

use std::collections::HashMap;
use std::sync::OnceLock;

use thiserror::Error;

use super::document::{DocumentType, document_type};

/// The fields a template may use.
pub const FIELDS: [&str; 6] = [
    "structure",
    "date",
    "usager",
    "date_naissance",
    "texte",
    "auteur",
];

/// One template: its file name (without `.txt`), type, default title, text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub id: &'static str,
    pub doc_type: &'static DocumentType,
    pub title: String,
    pub body: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error("modèle {0} : en-tête « type: » et « titre: » puis une ligne « --- » attendus")]
    Header(&'static str),
    #[error("modèle {0} : type de document inconnu « {1} »")]
    Type(&'static str, String),
    #[error("modèle {0} : champ inconnu « {{{{{1}}}}} »")]
    Field(&'static str, String),
    #[error("modèle {0} : pas de champ {{{{texte}}}} où écrire")]
    NoText(&'static str),
}

/// The files of `templates/`, in the order they are offered.
const FILES: [(&str, &str); 6] = [
    ("courrier", include_str!("../../templates/courrier.txt")),
    (
        "lettre-liaison-entree",
        include_str!("../../templates/lettre-liaison-entree.txt"),
    ),
    (
        "lettre-liaison-sortie",
        include_str!("../../templates/lettre-liaison-sortie.txt"),
    ),
    (
        "compte-rendu-consultation",
        include_str!("../../templates/compte-rendu-consultation.txt"),
    ),
    (
        "projet-personnalise",
        include_str!("../../templates/projet-personnalise.txt"),
    ),
    (
        "ordonnance-tso",
        include_str!("../../templates/ordonnance-tso.txt"),
    ),
];

/// Every template (a malformed one is a build mistake, caught by the tests).
pub fn templates() -> &'static [Template] {
    static ALL: OnceLock<Vec<Template>> = OnceLock::new();
    ALL.get_or_init(|| {
        FILES
            .iter()
            .map(|(id, text)| parse(id, text).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    })
}

pub fn template(id: &str) -> Option<&'static Template> {
    templates().iter().find(|t| t.id == id)
}

fn parse(id: &'static str, text: &'static str) -> Result<Template, TemplateError> {
    let (head, body) = text
        .split_once("\n---\n")
        .ok_or(TemplateError::Header(id))?;
    let header: HashMap<&str, &str> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let (Some(code), Some(title)) = (header.get("type"), header.get("titre")) else {
        return Err(TemplateError::Header(id));
    };
    let doc_type = document_type(code).ok_or_else(|| TemplateError::Type(id, code.to_string()))?;
    let mut has_text = false;
    for field in fields_of(body) {
        if !FIELDS.contains(&field) {
            return Err(TemplateError::Field(id, field.to_string()));
        }
        has_text |= field == "texte";
    }
    if !has_text {
        return Err(TemplateError::NoText(id));
    }
    Ok(Template {
        id,
        doc_type,
        title: title.to_string(),
        body,
    })
}

/// The names between `{{` and `}}`, in order.
fn fields_of(body: &str) -> impl Iterator<Item = &str> {
    body.split("{{")
        .skip(1)
        .filter_map(|part| part.split_once("}}").map(|(name, _)| name.trim()))
}

impl Template {
    /// The text with its fields filled, in one pass over the template: what
    /// a value holds (braces included) is never read as a field.
    pub fn fill(&self, values: &HashMap<&str, String>) -> String {
        let mut out = String::with_capacity(self.body.len() + 256);
        let mut rest = self.body;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            match after.find("}}") {
                Some(close) => {
                    let name = after[..close].trim();
                    out.push_str(values.get(name).map(String::as_str).unwrap_or(""));
                    rest = &after[close + 2..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_well_formed_and_typed() {
        let all = templates();
        assert_eq!(all.len(), 6);
        let codes: Vec<&str> = all.iter().map(|t| t.doc_type.code.as_str()).collect();
        for code in [
            "28653-4", "88348-8", "83981-1", "11488-4", "80788-3", "57833-6",
        ] {
            assert!(codes.contains(&code), "{code}");
        }
        assert_eq!(template("ordonnance-tso").unwrap().doc_type.code, "57833-6");
        assert!(template("inconnu").is_none());
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert_eq!(parse("x", "pas d'en-tête"), Err(TemplateError::Header("x")));
        assert_eq!(
            parse("x", "type: 99999-9\ntitre: T\n---\n{{texte}}"),
            Err(TemplateError::Type("x", "99999-9".into()))
        );
        assert_eq!(
            parse("x", "type: 28653-4\ntitre: T\n---\n{{texte}} {{adresse}}"),
            Err(TemplateError::Field("x", "adresse".into()))
        );
        assert_eq!(
            parse("x", "type: 28653-4\ntitre: T\n---\nrien"),
            Err(TemplateError::NoText("x"))
        );
    }

    #[test]
    fn values_are_not_read_as_fields() {
        let t = parse(
            "x",
            "type: 28653-4\ntitre: T\n---\nPour {{usager}} :\n\n{{texte}}\n\n{{auteur}} {{",
        )
        .unwrap();
        let values = HashMap::from([
            ("usager", "ADRUN Zoé".to_string()),
            ("texte", "voir {{auteur}} et <b>gras</b>".to_string()),
            ("auteur", "Dr Bernard".to_string()),
        ]);
        assert_eq!(
            t.fill(&values),
            "Pour ADRUN Zoé :\n\nvoir {{auteur}} et <b>gras</b>\n\nDr Bernard {{"
        );
    }
}
