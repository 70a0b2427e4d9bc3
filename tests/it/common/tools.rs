//! The shared reference files and the external tools the tests check
//! Escale's output with (xmllint, xmlsec1, Saxon-HE for the CI-SIS
//! schematron). Absent, a check says plainly that it did not run; under `CI`
//! their absence is a failure.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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

/// Saxon-HE as Debian's `libsaxonhe-java` installs it (XSLT 2.0, which the
/// CI-SIS schematrons need: `queryBinding="xslt2"`).
const SAXON_JAR: &str = "/usr/share/java/Saxon-HE.jar";

/// `java … net.sf.saxon.Transform`, or `None` (with the Debian packages to
/// install) when Java or the Saxon-HE jar is missing.
fn saxon() -> Option<Command> {
    let java = tool("java", "default-jre-headless")?;
    if !Path::new(SAXON_JAR).is_file() {
        if std::env::var_os("CI").is_some() {
            panic!("{SAXON_JAR} not found (Debian package libsaxonhe-java)");
        }
        eprintln!(
            "{SAXON_JAR} not found (apt-get install libsaxonhe-java) — this check did not run"
        );
        return None;
    }
    let mut c = Command::new(java);
    // Short runs: the C1 compiler alone and the serial collector halve the
    // time Saxon takes to compile the schematron's 10 MB stylesheet.
    c.args([
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-cp",
        SAXON_JAR,
    ])
    .arg("net.sf.saxon.Transform");
    Some(c)
}

/// Runs Saxon with these arguments in `dir`; panics with what it said when
/// it fails.
fn run_saxon(mut saxon: Command, dir: &Path, args: &[String]) {
    let out = saxon.current_dir(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "Saxon {args:?} in {}: {}\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CI-SIS schematrons of `shared/` and the ISO skeleton that compiles them.
const SCHEMATRON_DIR: &str = "spec/dmp-mss/cda/schematron";
/// The structuration minimale schematron, in `SCHEMATRON_DIR`.
const STRUCT_MIN_DIR: &str = "structurationMinimale";
const STRUCT_MIN_SCH: &str = "ASIP-STRUCT-MIN-StrucMin.sch";
/// The compiled validator, next to the schematron (its `doc('include/…')`
/// value sets resolve from there).
const STRUCT_MIN_XSL: &str = "escale-validator.xsl";

/// The CI-SIS « structuration minimale » schematron compiled to XSLT by the
/// ISO skeleton (include, abstract expansion, SVRL for XSLT 2), or `None`
/// (with a message) when the files or Saxon are missing.
///
/// Compiled once per test process at most: `shared/` is read-only, so the
/// compilation runs in a copy under the target directory
/// (CARGO_TARGET_TMPDIR), aside then renamed, and that copy is kept between
/// runs under a name that hashes the sources.
fn struct_min_validator() -> Option<&'static Path> {
    static VALIDATOR: OnceLock<Option<PathBuf>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let sources = shared(SCHEMATRON_DIR)?;
            saxon()?;
            let key = tree_hash(&sources);
            let cache =
                Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("structmin-{key:016x}"));
            let validator = |dir: &Path| dir.join(STRUCT_MIN_DIR).join(STRUCT_MIN_XSL);
            if !validator(&cache).is_file() {
                let partial = cache.with_extension(format!("partial-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&partial);
                copy_tree(&sources, &partial);
                let dir = partial.join(STRUCT_MIN_DIR);
                let steps = [
                    (
                        STRUCT_MIN_SCH,
                        "iso_dsdl_include.xsl",
                        "escale-1-included.sch",
                    ),
                    (
                        "escale-1-included.sch",
                        "iso_abstract_expand.xsl",
                        "escale-2-expanded.sch",
                    ),
                    (
                        "escale-2-expanded.sch",
                        "iso_svrl_for_xslt2.xsl",
                        STRUCT_MIN_XSL,
                    ),
                ];
                for (source, xsl, out) in steps {
                    run_saxon(
                        saxon()?,
                        &dir,
                        &[
                            format!("-s:{source}"),
                            format!("-xsl:../skeleton/{xsl}"),
                            format!("-o:{out}"),
                        ],
                    );
                }
                // Another test process may have finished first: either copy will do.
                if std::fs::rename(&partial, &cache).is_err() {
                    let _ = std::fs::remove_dir_all(&partial);
                }
            }
            Some(validator(&cache))
        })
        .as_deref()
}

/// A hash of the files under `dir` (relative paths and contents).
fn tree_hash(dir: &Path) -> u64 {
    fn walk(root: &Path, dir: &Path, h: &mut DefaultHasher) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            h.write(p.strip_prefix(root).unwrap().as_os_str().as_encoded_bytes());
            if p.is_dir() {
                walk(root, &p, h);
            } else {
                h.write(&std::fs::read(&p).unwrap());
            }
        }
    }
    let mut h = DefaultHasher::new();
    walk(dir, dir, &mut h);
    h.finish()
}

/// Copies the tree `from` into a new directory `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// One `svrl:failed-assert` of a schematron report.
#[derive(Debug, Clone)]
pub struct FailedAssert {
    /// The assert's message (`svrl:text`).
    pub text: String,
    /// Where, as an XPath into the document.
    pub location: String,
}

const SVRL: &str = "http://purl.oclc.org/dsdl/svrl";

/// The failed asserts of the CI-SIS structuration minimale schematron over
/// each of `documents` (name, XML), in the same order; `None` (with a
/// message) when the schematron or Saxon is missing. One Saxon run for all
/// of them: most of its time goes into compiling the validator.
pub fn struct_min_failed_asserts(documents: &[(&str, &str)]) -> Option<Vec<Vec<FailedAssert>>> {
    let validator = struct_min_validator()?;
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir(&input).unwrap();
    std::fs::create_dir(&output).unwrap();
    for (i, (_, xml)) in documents.iter().enumerate() {
        std::fs::write(input.join(format!("{i}.xml")), xml).unwrap();
    }
    run_saxon(
        saxon()?,
        dir.path(),
        &[
            format!("-s:{}", input.display()),
            format!("-xsl:{}", validator.display()),
            format!("-o:{}", output.display()),
        ],
    );
    let reports = documents
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let svrl = std::fs::read_to_string(output.join(format!("{i}.xml")))
                .unwrap_or_else(|e| panic!("{name}: no schematron report ({e})"));
            let root = escale::connectors::xml::parse(&svrl)
                .unwrap_or_else(|e| panic!("{name}: schematron report: {e}\n{svrl}"));
            assert!(root.is(SVRL, "schematron-output"), "{name}: {svrl}");
            // Not vacuous: the rules on the CDA root did run.
            assert!(
                root.children.iter().any(|c| c.is(SVRL, "fired-rule")
                    && c.attribute("context")
                        .is_some_and(|x| x.contains("hl7:ClinicalDocument"))),
                "{name}: no schematron rule fired on hl7:ClinicalDocument\n{svrl}"
            );
            root.children
                .iter()
                .filter(|c| c.is(SVRL, "failed-assert"))
                .map(|c| FailedAssert {
                    text: c.child_text("text").unwrap_or_default(),
                    location: c.attribute("location").unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .collect();
    Some(reports)
}

/// Asserts that the CI-SIS structuration minimale schematron finds no failed
/// assert in any of `documents` (name, XML), when it can run; the failure
/// lists each failed assert with its location.
pub fn assert_schematron_clean(documents: &[(&str, &str)]) {
    let Some(reports) = struct_min_failed_asserts(documents) else {
        return;
    };
    let mut failures = String::new();
    for ((name, xml), failed) in documents.iter().zip(&reports) {
        if failed.is_empty() {
            continue;
        }
        let _ = writeln!(
            failures,
            "{name}: {} failed assert(s) of the structuration minimale schematron:",
            failed.len()
        );
        for f in failed {
            let _ = writeln!(failures, "  - {}\n    at {}", f.text, f.location);
        }
        let _ = writeln!(failures, "{xml}");
    }
    assert!(failures.is_empty(), "{failures}");
}
