//! Checks a kustomization tree before kustomize builds it: nothing remote,
//! nothing outside the repository.
//!
//! kustomize fetches whatever a kustomization names that is not a local
//! file or directory: `resources`/`components`/`bases` entries become
//! `git clone`s (with options taken from the reference: a ref such as
//! `?ref=--upload-pack=...` runs a command), and any file field may be an
//! `http(s)` URL it downloads. So before kustomize runs, every
//! kustomization it would load is read here, the way kustomize reads it
//! (YAML with merge keys, paths joined and cleaned, then links resolved),
//! and the build is refused when:
//!
//! - a reference looks remote (a URL of any scheme, `git@host:`, a `?ref=`),
//! - a `resources`/`components`/`bases` entry is neither a file nor a
//!   directory in the repository (kustomize would try to fetch it),
//! - anything named resolves outside the repository (`..` past the root,
//!   or a symbolic link out of it).
//!
//! The walk also yields every directory and file the build can read, which
//! is what `preview` compares to decide that a render cannot have changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::sandbox::{Repository, normalise};

/// The file names kustomize looks for in a directory, in its order.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Largest kustomization file read (kustomize's are a few KiB).
const MAX_FILE: u64 = 8 << 20;

/// The kustomization file of `dir`, if it has one.
pub fn find(dir: &Path) -> Option<PathBuf> {
    FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// What a kustomize build of a directory can read, relative to the
/// repository root.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// Directories whose whole tree the build may read (kustomize's load
    /// restrictor confines each kustomization to its own directory tree).
    pub dirs: BTreeSet<PathBuf>,
    /// Single files named from elsewhere.
    pub files: BTreeSet<PathBuf>,
}

/// Fields whose values are directory or file references that kustomize
/// fetches when they are not local.
const REFERENCES: [&str; 3] = ["resources", "components", "bases"];

/// Top-level fields holding lists of file names (or inline YAML documents).
const FILE_LISTS: [&str; 6] = [
    "crds",
    "configurations",
    "patchesStrategicMerge",
    "generators",
    "transformers",
    "validators",
];

/// Whether `s` names something remote, in any of the spellings kustomize
/// (and Git) accept.
fn looks_remote(s: &str) -> bool {
    let s = s.trim();
    let scp_like = s
        .split_once(':')
        .is_some_and(|(user_host, _)| user_host.contains('@') && !user_host.contains('/'));
    s.contains("://") || scp_like || s.contains("?ref=") || s.contains("?version=") || s.contains("?timeout=")
}

/// Walks the kustomization of `dir` and every kustomization it reaches.
///
/// # Errors
/// A message naming the kustomization file (relative to the repository),
/// the field and the entry.
pub fn check(repo: &Repository, dir: &Path) -> Result<Inputs, String> {
    let mut inputs = Inputs::default();
    let mut pending = vec![repo.resolve(dir)?];
    while let Some(dir) = pending.pop() {
        if !inputs.dirs.insert(repo.relative(&dir).to_path_buf()) {
            continue;
        }
        for name in FILE_NAMES {
            let path = dir.join(name);
            if std::fs::symlink_metadata(&path).is_err() {
                continue;
            }
            let real = repo.resolve(&path)?;
            let shown = repo.show(&path);
            let text = read(&real).map_err(|e| format!("{shown}: {e}"))?;
            for entry in references(&text).map_err(|e| format!("{shown}: {e}"))? {
                let what = format!("{shown}: {} {:?}", entry.at, entry.path);
                if entry.remote {
                    return Err(format!(
                        "{what} is a remote reference; krm-promote never fetches anything during a render \
                         (it could run commands or read other repositories): vendor it into the repository"
                    ));
                }
                let target = normalise(&dir.join(&entry.path));
                match std::fs::metadata(&target) {
                    Ok(meta) => {
                        let real = repo
                            .resolve(&target)
                            .map_err(|_| format!("{what} resolves to a path outside the repository"))?;
                        if meta.is_dir() && entry.directory {
                            pending.push(real);
                        } else if meta.is_file() {
                            inputs.files.insert(repo.relative(&real).to_path_buf());
                        }
                    }
                    // kustomize would try to fetch a reference it cannot
                    // find locally; a missing file it reports itself.
                    Err(_) if entry.directory => {
                        return Err(format!(
                            "{what} is neither a file nor a directory in the repository \
                             (kustomize would try to fetch it as a remote reference)"
                        ));
                    }
                    Err(_) => {}
                }
            }
        }
    }
    Ok(inputs)
}

fn read(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE {
        return Err(format!("larger than {} MiB", MAX_FILE >> 20));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

/// One path a kustomization names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Where: `resources[2]`, `patches[0].path`, ...
    pub at: String,
    /// The path as written (trimmed).
    pub path: String,
    /// A `resources`/`components`/`bases` entry: a file or a directory,
    /// fetched by kustomize when it is neither.
    pub directory: bool,
    /// It looks remote (a URL, `git@host:`, `?ref=`).
    pub remote: bool,
}

/// The paths a kustomization names, read as kustomize reads the file (YAML
/// with merge keys). A document that is not a mapping names nothing.
///
/// # Errors
/// When the text is not YAML.
pub fn references(text: &str) -> Result<Vec<Reference>, String> {
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| format!("not a readable kustomization: {e}"))?;
    value
        .apply_merge()
        .map_err(|e| format!("not a readable kustomization: {e}"))?;
    let Value::Mapping(map) = value else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (key, value) in &map {
        let Some(field) = key.as_str() else { continue };
        for (at, entry) in entries(field, value) {
            let path = entry.trim();
            if path.contains('\n') || path.is_empty() {
                continue; // inline YAML, not a path
            }
            out.push(Reference {
                at,
                path: path.to_string(),
                directory: REFERENCES.contains(&field),
                remote: looks_remote(path),
            });
        }
    }
    Ok(out)
}

/// The path-like strings of one kustomization field, with where they are
/// (`resources[2]`, `patches[0].path`, ...).
fn entries<'a>(field: &str, value: &'a Value) -> Vec<(String, &'a str)> {
    let mut out = Vec::new();
    let items = || value.as_sequence().into_iter().flatten().enumerate();
    let str_at = |v: &'a Value, key: &str| v.get(key).and_then(Value::as_str);
    match field {
        f if REFERENCES.contains(&f) || FILE_LISTS.contains(&f) => {
            for (i, item) in items() {
                if let Some(s) = item.as_str() {
                    out.push((format!("{f}[{i}]"), s));
                }
            }
        }
        "patches" | "patchesJson6902" | "replacements" => {
            for (i, item) in items() {
                if let Some(s) = str_at(item, "path") {
                    out.push((format!("{field}[{i}].path"), s));
                }
            }
        }
        "openapi" => {
            if let Some(s) = str_at(value, "path") {
                out.push(("openapi.path".into(), s));
            }
        }
        "configMapGenerator" | "secretGenerator" => {
            for (i, item) in items() {
                for key in ["files", "envs"] {
                    for (j, file) in item
                        .get(key)
                        .and_then(Value::as_sequence)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        if let Some(s) = file.as_str() {
                            // `files` entries may be `key=path`.
                            let path = s.split_once('=').map_or(s, |(_, p)| p);
                            out.push((format!("{field}[{i}].{key}[{j}]"), path));
                        }
                    }
                }
                if let Some(s) = str_at(item, "env") {
                    out.push((format!("{field}[{i}].env"), s));
                }
            }
        }
        "helmCharts" => {
            for (i, item) in items() {
                for key in ["repo", "valuesFile"] {
                    if let Some(s) = str_at(item, key).filter(|s| !s.is_empty()) {
                        out.push((format!("{field}[{i}].{key}"), s));
                    }
                }
                for (j, file) in item
                    .get("additionalValuesFiles")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if let Some(s) = file.as_str() {
                        out.push((format!("{field}[{i}].additionalValuesFiles[{j}]"), s));
                    }
                }
            }
        }
        "helmGlobals" => {
            for key in ["chartHome", "configHome"] {
                if let Some(s) = str_at(value, key) {
                    out.push((format!("helmGlobals.{key}"), s));
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn check_at(root: &Path, dir: &str) -> Result<Inputs, String> {
        check(&Repository::at(root).unwrap(), &root.join(dir))
    }

    #[test]
    fn local_bases_are_followed() {
        let t = tree(&[
            ("apps/a/base/kustomization.yaml", "resources:\n- deployment.yaml\n"),
            ("apps/a/base/deployment.yaml", "kind: Deployment\n"),
            (
                "env/prod/kustomization.yaml",
                "base: &b \"../../apps/a/base\"\nresources:\n- *b\n- ./extra.yaml\npatches:\n- path: p.yaml\n",
            ),
            ("env/prod/extra.yaml", "kind: ConfigMap\n"),
            ("env/prod/p.yaml", "kind: ConfigMap\n"),
        ]);
        let inputs = check_at(t.path(), "env/prod").unwrap();
        assert_eq!(
            inputs.dirs.into_iter().collect::<Vec<_>>(),
            ["apps/a/base", "env/prod"].map(PathBuf::from)
        );
        assert!(inputs.files.contains(Path::new("env/prod/extra.yaml")));
    }

    #[test]
    fn remote_and_outside_references_are_refused() {
        for (entry, expect) in [
            ("https://github.com/org/repo//deploy?ref=v1", "remote reference"),
            (
                "github.com/org/repo/deploy?ref=--upload-pack=touch%20/tmp/x",
                "remote reference",
            ),
            ("git@github.com:org/repo.git", "remote reference"),
            ("file:///srv/other-tenant/repo", "remote reference"),
            ("ssh://git@host/repo", "remote reference"),
            ("github.com/org/repo", "neither a file nor a directory"),
            ("../../../../../../etc", "outside the repository"),
            ("../../..", "outside the repository"),
        ] {
            let t = tree(&[("a/b/kustomization.yaml", &format!("resources:\n- {entry:?}\n"))]);
            let e = check_at(t.path(), "a/b").unwrap_err();
            assert!(e.contains(expect), "{entry}: {e}");
            assert!(e.starts_with("a/b/kustomization.yaml: resources[0]"), "{e}");
        }
        // A URL in a file field (kustomize downloads it).
        let t = tree(&[("k/kustomization.yaml", "patches:\n- path: https://example.com/p.yaml\n")]);
        assert!(check_at(t.path(), "k").unwrap_err().contains("patches[0].path"));
        let t = tree(&[(
            "k/kustomization.yaml",
            "configMapGenerator:\n- name: c\n  files:\n  - key=http://example.com/x\n",
        )]);
        assert!(check_at(t.path(), "k").unwrap_err().contains("remote reference"));
    }

    #[test]
    fn symlinks_out_of_the_repository_are_refused() {
        let t = tree(&[("k/kustomization.yaml", "resources:\n- linked\n")]);
        std::os::unix::fs::symlink("/etc", t.path().join("k/linked")).unwrap();
        assert!(check_at(t.path(), "k").unwrap_err().contains("outside the repository"));
        let t = tree(&[("real/kustomization.yaml", "resources: []\n")]);
        std::fs::create_dir(t.path().join("k")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", t.path().join("k/kustomization.yaml")).unwrap();
        let e = check_at(t.path(), "k").unwrap_err();
        assert!(
            e.contains("outside the repository")
                && !e.contains(&std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "\u{0}".into())),
            "{e}"
        );
    }

    #[test]
    fn remote_spellings() {
        for s in [
            "https://x/y",
            "git::https://x",
            "git@github.com:o/r",
            "org@host:repo",
            "x?ref=main",
        ] {
            assert!(looks_remote(s), "{s}");
        }
        for s in ["../base", "deployment.yaml", "a:b/c.yaml", "dir/with@at/file.yaml"] {
            assert!(!looks_remote(s), "{s}");
        }
    }
}
