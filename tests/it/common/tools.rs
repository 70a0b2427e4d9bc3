//! The shared reference files and the external tools the tests check
//! Escale's output with (xmllint, xmlsec1). Absent, a check says plainly
//! that it did not run; under `CI` their absence is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A file of `shared/`, or `None` (with a message) when it is absent.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/")).join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{} not found (required under CI)", p.display());
    }
    eprintln!("{} not found — this check did not run", p.display());
    None
}

/// `tool`, if it runs (`--version`), else `None` with the Debian package
/// to install.
pub fn tool(tool: &'static str, package: &str) -> Option<&'static str> {
    if Command::new(tool).arg("--version").output().is_ok() {
        return Some(tool);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{tool} not found (Debian package {package})");
    }
    eprintln!("{tool} not found (apt-get install {package}) — this check did not run");
    None
}

/// Asserts that `xml` is valid against the schema at `shared/<xsd>`
/// (`xmllint --schema`), when the schema and the tool are there.
pub fn assert_schema_valid(xsd: &str, name: &str, xml: &str) {
    let (Some(xsd), Some(xmllint)) = (shared(xsd), tool("xmllint", "libxml2-utils")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    let out = Command::new(xmllint)
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `xmlsec1 --verify` of `xml` trusting `ca_pem`, with these extra
/// arguments (ID attributes…): whether it verified, and what it said.
pub fn xmlsec1_verifies(xmlsec1: &str, xml: &str, ca_pem: &str, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signed.xml");
    std::fs::write(&file, xml).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let out = Command::new(xmlsec1)
        .arg("--verify")
        .args(args)
        .arg("--trusted-pem")
        .arg(&ca)
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
