//! Records which build this is, for WebAdmin's About page and the JSON API:
//! `MAILNODE_BUILD` from the environment when a packager sets it, else the
//! git commit the sources were built from, else nothing (the crate version
//! stands in).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MAILNODE_BUILD");
    let build = std::env::var("MAILNODE_BUILD")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .or_else(git_commit);
    if let Some(build) = build {
        println!("cargo:rustc-env=MAILNODE_BUILD={}", build.trim());
    }
}

/// The short hash of `HEAD`, and a trigger to run again when it moves.
fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD", "--git-dir"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut lines = text.lines();
    let commit = lines.next()?.trim().to_string();
    let git_dir = PathBuf::from(lines.next()?.trim());
    watch(&git_dir);
    (!commit.is_empty()).then_some(commit)
}

/// Reruns this script when `HEAD` or the branch it names changes (a
/// commit, a checkout), not on every build.
fn watch(git_dir: &Path) {
    let head = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(branch) = text.trim().strip_prefix("ref: ")
    {
        let loose = git_dir.join(branch);
        if loose.exists() {
            println!("cargo:rerun-if-changed={}", loose.display());
        }
        // A missing file would rerun the script on every build.
        let packed = git_dir.join("packed-refs");
        if packed.exists() {
            println!("cargo:rerun-if-changed={}", packed.display());
        }
    }
}
