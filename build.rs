//! Fetches htmx from its package registry (npm) at build time, so no copy is
//! committed by hand. Order: `ESCALE_HTMX_JS` (a path to htmx.min.js), then
//! `node_modules/htmx.org` in the project, then `npm install` into OUT_DIR.
//! When none works the app is built without it and says so once at start:
//! every page works with plain forms.

use std::path::{Path, PathBuf};
use std::process::Command;

const HTMX_VERSION: &str = "2.0.11";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ESCALE_HTMX_JS");
    println!("cargo:rerun-if-changed=migrations");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let dest = out.join("htmx.min.js");
    let found = from_env()
        .or_else(|| existing(Path::new("node_modules/htmx.org/dist/htmx.min.js")))
        .or_else(|| from_npm(&out));
    match found {
        Some(src) => {
            std::fs::copy(&src, &dest).expect("copy htmx");
        }
        None => {
            println!(
                "cargo:warning=htmx could not be fetched from npm: Escale is built without it (plain forms only)"
            );
            std::fs::write(&dest, b"").expect("write empty htmx");
        }
    }
    println!("cargo:rustc-env=BUNDLED_HTMX_VERSION={HTMX_VERSION}");
}

fn existing(p: &Path) -> Option<PathBuf> {
    p.is_file().then(|| p.to_path_buf())
}

fn from_env() -> Option<PathBuf> {
    std::env::var_os("ESCALE_HTMX_JS")
        .map(PathBuf::from)
        .and_then(|p| existing(&p))
}

fn from_npm(out: &Path) -> Option<PathBuf> {
    let prefix = out.join("npm");
    let target = prefix.join("node_modules/htmx.org/dist/htmx.min.js");
    if let Some(p) = existing(&target) {
        return Some(p);
    }
    std::fs::create_dir_all(&prefix).ok()?;
    let status = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--silent",
            "--no-save",
            "--prefix",
        ])
        .arg(&prefix)
        .arg(format!("htmx.org@{HTMX_VERSION}"))
        .status()
        .ok()?;
    if status.success() {
        existing(&target)
    } else {
        None
    }
}
