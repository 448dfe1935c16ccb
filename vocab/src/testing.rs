//! Test material outside the repository (captures, ET Open, suricata-verify under
//! `../shared/data`), found the same way by every test and bench of the workspace.
//!
//! A test asks for its material with [`shared_data`] (or [`material`] for a path elsewhere)
//! and returns early on `None`. Where the material is absent:
//! - with the `CI` environment variable set (to anything but empty, `0` or `false`) the call
//!   panics with a message naming the missing path, so a CI run without the material fails
//!   instead of passing having checked nothing;
//! - otherwise it prints a note naming the path on stderr and returns `None`: the test passes
//!   without checking, as on a developer's machine without the material.
//!
//! `OSPREY_SHARED_DATA` overrides the material's root (default: `../shared/data` beside the
//! workspace).

use std::path::{Path, PathBuf};

/// Environment variable that replaces the default root of the shared material.
pub const ROOT_ENV: &str = "OSPREY_SHARED_DATA";

/// Root of the shared material: `$OSPREY_SHARED_DATA`, or `../shared/data` beside the
/// workspace.
pub fn shared_data_root() -> PathBuf {
    match std::env::var_os(ROOT_ENV) {
        Some(root) if !root.is_empty() => PathBuf::from(root),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    }
}

/// `rel` under [`shared_data_root`] when it exists; see the module doc for what happens when
/// it does not.
#[track_caller]
pub fn shared_data(rel: impl AsRef<Path>) -> Option<PathBuf> {
    material(shared_data_root().join(rel))
}

/// `path` when it exists; see the module doc for what happens when it does not.
#[track_caller]
pub fn material(path: impl Into<PathBuf>) -> Option<PathBuf> {
    match check(path.into(), in_ci()) {
        Ok(p) => Some(p),
        Err(Missing::Skip(note)) => {
            eprintln!("{note}");
            None
        }
        Err(Missing::Fail(msg)) => panic!("{msg}"),
    }
}

/// Whether the `CI` environment variable asks missing material to fail tests.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| ci_value(&v))
}

fn ci_value(v: &str) -> bool {
    !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
}

/// What to do about missing material.
#[derive(Debug, PartialEq, Eq)]
enum Missing {
    /// Not in CI: a note for stderr, and the test returns.
    Skip(String),
    /// In CI: the panic message.
    Fail(String),
}

fn check(path: PathBuf, ci: bool) -> Result<PathBuf, Missing> {
    if path.exists() {
        return Ok(path);
    }
    let p = path.display();
    Err(if ci {
        Missing::Fail(format!(
            "test material {p} is missing and CI is set: provide it (or point {ROOT_ENV} at \
             the shared data) instead of letting the test pass without checking"
        ))
    } else {
        Missing::Skip(format!(
            "note: test material {p} is absent; this test checked nothing (set CI=1 to make \
             that a failure)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_material_is_returned_in_and_out_of_ci() {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(check(here.clone(), true), Ok(here.clone()));
        assert_eq!(check(here.clone(), false), Ok(here));
    }

    #[test]
    fn missing_material_fails_in_ci_and_names_the_path() {
        let gone = PathBuf::from("/nonexistent/osprey-material/public_mix.pcap");
        match check(gone.clone(), true) {
            Err(Missing::Fail(msg)) => assert!(msg.contains(&*gone.to_string_lossy()), "{msg}"),
            other => panic!("expected a failure, got {other:?}"),
        }
        match check(gone.clone(), false) {
            Err(Missing::Skip(note)) => assert!(note.contains(&*gone.to_string_lossy())),
            other => panic!("expected a note, got {other:?}"),
        }
    }

    #[test]
    fn ci_values() {
        for v in ["true", "1", "yes", "TRUE"] {
            assert!(ci_value(v), "{v}");
        }
        for v in ["", "0", "false", "False"] {
            assert!(!ci_value(v), "{v}");
        }
    }
}
