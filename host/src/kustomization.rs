//! Checks a kustomization tree before kustomize builds it: nothing remote,
//! nothing outside the repository.
//!
//! kustomize fetches whatever a kustomization names that is not a local
//! file or directory: `resources`/`components`/`bases`/`generators`/
//! `transformers`/`validators` entries become `git clone`s (with options
//! taken from the reference: a ref such as `?ref=--upload-pack=...` runs a
//! command), and file fields and the configs of its built-in generators
//! and transformers may be `http(s)` URLs it downloads. So before kustomize
//! runs, every kustomization it would load is read here and the build is
//! refused when:
//!
//! - a reference or any string of a generator/transformer config looks
//!   remote (a URL of any scheme, `git@host:`, `github.com/...`, `?ref=`),
//! - a reference is neither a file nor a directory in the repository
//!   (kustomize would try to fetch it),
//! - anything named resolves outside the repository (`..` past the root,
//!   or a symbolic link out of it),
//! - the file could be read differently by kustomize and by this walk: a
//!   YAML tag (`!!binary` is decoded by kustomize's reader and not by
//!   serde_yaml), a merge key (YAML libraries apply them in different
//!   orders), or a control character in a path.
//!
//! Field names are matched as kustomize's JSON decoding matches them:
//! ignoring case, with Unicode's simple folding (`ſ` is `s`, `K` is `k`).
//!
//! The walk also yields every directory and file the build can read, which
//! is what `preview` compares to decide that a render cannot have changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::sandbox::{Repository, normalise};

/// The file names kustomize looks for in a directory, in its order.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Largest kustomization or generator/transformer config read.
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

/// What kind of thing a kustomization field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A file or a directory (a kustomization), fetched by kustomize when
    /// it is neither: `resources`, `components`, `bases`.
    Resource,
    /// Like [`Kind::Resource`], and a file is a generator, transformer or
    /// validator config whose strings kustomize's built-ins may fetch.
    Plugin,
    /// A file kustomize reads (a URL is downloaded).
    File,
}

/// List fields of a kustomization, by their folded name.
const LISTS: [(&str, Kind); 9] = [
    ("resources", Kind::Resource),
    ("components", Kind::Resource),
    ("bases", Kind::Resource),
    ("generators", Kind::Plugin),
    ("transformers", Kind::Plugin),
    ("validators", Kind::Plugin),
    ("crds", Kind::File),
    ("configurations", Kind::File),
    ("patchesstrategicmerge", Kind::File),
];

/// `s` folded as Go's `strings.EqualFold` compares it against ASCII field
/// names: ASCII case, plus the two non-ASCII letters that fold to ASCII.
fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{212A}' => 'k', // KELVIN SIGN
            '\u{17F}' => 's',  // LATIN SMALL LETTER LONG S
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Every value of `map` whose key matches `name` the way kustomize's JSON
/// decoding matches it (see [`fold`]); all of them, since the decoder keeps
/// the last and a superset is safe.
fn fields<'a>(map: &'a Mapping, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    map.iter()
        .filter(move |(k, _)| k.as_str().is_some_and(|k| fold(k) == name))
        .map(|(_, v)| v)
}

/// The string items of `value` if it is a list, with their index.
fn strings(value: &Value) -> impl Iterator<Item = (usize, &str)> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, v)| v.as_str().map(|s| (i, s)))
}

/// Whether `s` names something remote, in any of the spellings kustomize
/// (and Git) accept. kustomize tries a few forge hosts as remote before
/// looking for a local directory of that name.
fn looks_remote(s: &str) -> bool {
    let s = s.trim();
    let scp_like = s
        .split_once(':')
        .is_some_and(|(user_host, _)| user_host.contains('@') && !user_host.contains('/'));
    let forge = ["github.com/", "gitlab.com/", "bitbucket.org/", "gh:", "git::"]
        .iter()
        .any(|p| s.to_ascii_lowercase().starts_with(p));
    let query = ["?ref=", "?version=", "?timeout=", "?submodules="]
        .iter()
        .any(|q| s.contains(q));
    s.contains("://") || scp_like || forge || query
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
                    return Err(remote(&what));
                }
                let target = normalise(&dir.join(&entry.path));
                match std::fs::metadata(&target) {
                    Ok(meta) => {
                        let real = repo
                            .resolve(&target)
                            .map_err(|_| format!("{what} resolves to a path outside the repository"))?;
                        if meta.is_dir() && entry.kind != Kind::File {
                            pending.push(real);
                        } else if meta.is_file() {
                            if entry.kind == Kind::Plugin {
                                let config = read(&real).map_err(|e| format!("{what}: {e}"))?;
                                plugin_configs(&config).map_err(|e| format!("{what}: {e}"))?;
                            }
                            inputs.files.insert(repo.relative(&real).to_path_buf());
                        }
                    }
                    // kustomize would try to fetch a reference it cannot
                    // find locally; a missing file it reports itself.
                    Err(_) if entry.kind != Kind::File => {
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

fn remote(what: &str) -> String {
    format!(
        "{what} is a remote reference; krm-promote never fetches anything during a render \
         (it could run commands or read other repositories): vendor it into the repository"
    )
}

fn read(path: &Path) -> Result<String, String> {
    let bytes = crate::sandbox::read_capped(path, MAX_FILE).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())
}

/// One path a kustomization names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Where: `resources[2]`, `patches[0].path`, ...
    pub at: String,
    /// The path as written (trimmed).
    pub path: String,
    /// What the field names.
    pub kind: Kind,
    /// It looks remote (a URL, `git@host:`, `?ref=`).
    pub remote: bool,
}

/// Parses `text` as kustomize would, refusing what kustomize and this walk
/// could read differently: YAML tags and merge keys.
fn parse(text: &str) -> Result<Vec<Value>, String> {
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| format!("not readable YAML: {}", e.info()))?;
        let tagged = match &event {
            saphyr_parser::Event::Scalar(_, _, _, tag)
            | saphyr_parser::Event::MappingStart(_, tag)
            | saphyr_parser::Event::SequenceStart(_, tag) => tag.is_some(),
            _ => false,
        };
        if tagged {
            return Err(format!(
                "line {}: a YAML tag (`!!binary`, `!foo`, ...); krm-promote refuses them here because \
                 kustomize and krm-promote could read them differently",
                span.start.line()
            ));
        }
    }
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = <Value as serde::Deserialize>::deserialize(doc).map_err(|e| format!("not readable YAML: {e}"))?;
        if has_merge_key(&value) {
            return Err(
                "a YAML merge key (`<<`); krm-promote refuses them here because YAML readers \
                        apply them differently"
                    .into(),
            );
        }
        docs.push(value);
    }
    Ok(docs)
}

fn has_merge_key(value: &Value) -> bool {
    match value {
        Value::Mapping(m) => m.iter().any(|(k, v)| k.as_str() == Some("<<") || has_merge_key(v)),
        Value::Sequence(items) => items.iter().any(has_merge_key),
        Value::Tagged(t) => has_merge_key(&t.value),
        _ => false,
    }
}

/// Refuses generator/transformer/validator configs (one YAML stream) in
/// which any string outside `metadata` looks remote: kustomize's built-ins
/// download `files`, `path`, `repo`, ... given as URLs.
fn plugin_configs(text: &str) -> Result<(), String> {
    fn scan(value: &Value, at: &str) -> Result<(), String> {
        match value {
            Value::String(s) if looks_remote(s) => Err(remote(&format!("{at} {s:?}"))),
            Value::Mapping(m) => m.iter().try_for_each(|(k, v)| {
                let key = k.as_str().unwrap_or("?");
                if at.is_empty() && fold(key) == "metadata" {
                    return Ok(());
                }
                if let Some(k) = k.as_str().filter(|k| looks_remote(k)) {
                    return Err(remote(&format!("key {k:?}")));
                }
                scan(
                    v,
                    &if at.is_empty() {
                        key.to_string()
                    } else {
                        format!("{at}.{key}")
                    },
                )
            }),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| scan(v, &format!("{at}[{i}]"))),
            Value::Tagged(t) => scan(&t.value, at),
            _ => Ok(()),
        }
    }
    parse(text)?.iter().try_for_each(|doc| scan(doc, ""))
}

/// The paths a kustomization names. A document that is not a mapping names
/// nothing. Inline generator/transformer configs are checked here.
///
/// # Errors
/// When the text is not YAML, holds a tag or a merge key, an inline config
/// fetches, or a path holds a control character.
pub fn references(text: &str) -> Result<Vec<Reference>, String> {
    let Some(Value::Mapping(map)) = parse(text)?.into_iter().next() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut push = |at: String, path: &str, kind: Kind| -> Result<(), String> {
        if kind == Kind::Plugin && path.contains('\n') {
            // An inline config: checked here, names no path.
            return plugin_configs(path).map_err(|e| format!("{at}: {e}"));
        }
        let trimmed = path.trim();
        if trimmed.chars().any(char::is_control) {
            return Err(format!("{at} {path:?} holds a control character"));
        }
        if !trimmed.is_empty() {
            out.push(Reference {
                at,
                path: trimmed.to_string(),
                kind,
                remote: looks_remote(trimmed),
            });
        }
        Ok(())
    };
    for (field, kind) in LISTS {
        for value in fields(&map, field) {
            for (i, s) in strings(value) {
                push(format!("{field}[{i}]"), s, kind)?;
            }
        }
    }
    // Lists of objects with file fields.
    let objects = |field: &'static str| {
        fields(&map, field)
            .flat_map(|v| v.as_sequence().into_iter().flatten().enumerate())
            .filter_map(|(i, v)| v.as_mapping().map(|m| (i, m)))
            .collect::<Vec<_>>()
    };
    for field in ["patches", "patchesjson6902", "replacements"] {
        for (i, item) in objects(field) {
            for s in fields(item, "path").filter_map(Value::as_str) {
                push(format!("{field}[{i}].path"), s, Kind::File)?;
            }
        }
    }
    for field in ["configmapgenerator", "secretgenerator"] {
        for (i, item) in objects(field) {
            for key in ["files", "envs"] {
                for value in fields(item, key) {
                    for (j, s) in strings(value) {
                        // `files` entries may be `key=path`.
                        let path = s.split_once('=').map_or(s, |(_, p)| p);
                        push(format!("{field}[{i}].{key}[{j}]"), path, Kind::File)?;
                    }
                }
            }
            for s in fields(item, "env").filter_map(Value::as_str) {
                push(format!("{field}[{i}].env"), s, Kind::File)?;
            }
        }
    }
    for (i, item) in objects("helmcharts") {
        for key in ["repo", "valuesfile"] {
            for s in fields(item, key).filter_map(Value::as_str) {
                push(format!("helmCharts[{i}].{key}"), s, Kind::File)?;
            }
        }
        for value in fields(item, "additionalvaluesfiles") {
            for (j, s) in strings(value) {
                push(format!("helmCharts[{i}].additionalValuesFiles[{j}]"), s, Kind::File)?;
            }
        }
    }
    for (field, keys) in [
        ("openapi", &["path"][..]),
        ("helmglobals", &["charthome", "confighome"][..]),
    ] {
        for value in fields(&map, field) {
            let Some(object) = value.as_mapping() else { continue };
            for key in keys {
                for s in fields(object, key).filter_map(Value::as_str) {
                    push(format!("{field}.{key}"), s, Kind::File)?;
                }
            }
        }
    }
    Ok(out)
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
            ("github.com/org/repo", "remote reference"),
            ("example.com/org/repo", "neither a file nor a directory"),
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
    fn kustomize_and_the_walk_read_the_same_thing() {
        for (kustomization, expect) in [
            // Field names match in any case, and through Unicode folding.
            ("Resources:\n- https://example.com/x.yaml\n", "remote reference"),
            ("RESOURCES:\n- ../../../../../etc\n", "outside the repository"),
            ("re\u{17F}ources:\n- ../../../../../etc\n", "outside the repository"),
            ("patches:\n- Path: https://example.com/p.yaml\n", "remote reference"),
            // What YAML readers read differently is refused.
            ("resources:\n- !!binary Li4vLi4vLi4v\n", "YAML tag"),
            ("resources: [cm.yaml]\n<<: {resources: [../../../etc]}\n", "merge key"),
            ("resources:\n- \"x\\n/../../../../../etc\"\n", "control character"),
            // Generator and transformer configs, inline and in files.
            (
                "generators:\n- |-\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata: {name: x}\n  files: [http://127.0.0.1/x]\n",
                "remote reference",
            ),
            ("transformers: [tr.yaml]\n", "remote reference"),
            ("transformers: [sub]\n", "outside the repository"),
            ("generators: [missing]\n", "neither a file nor a directory"),
            // Forges kustomize tries remotely before looking locally.
            ("resources:\n- github.com/org/repo\n", "remote reference"),
        ] {
            let t = tree(&[
                ("k/kustomization.yaml", kustomization),
                (
                    "k/tr.yaml",
                    "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\n  annotations: {docs: 'https://ok.example'}\npath: https://example.com/p\n",
                ),
                ("k/sub/kustomization.yaml", "resources:\n- ../../../../../../etc\n"),
                ("k/github.com/org/repo/kustomization.yaml", "resources: []\n"),
            ]);
            let e = check_at(t.path(), "k").unwrap_err();
            assert!(e.contains(expect), "{kustomization}: {e}");
        }
        // A URL in a config's metadata is not fetched, so it is fine.
        let t = tree(&[
            ("k/kustomization.yaml", "transformers: [tr.yaml]\n"),
            (
                "k/tr.yaml",
                "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: l\n  annotations: {docs: 'https://ok.example'}\nlabels: {a: b}\n",
            ),
        ]);
        let inputs = check_at(t.path(), "k").unwrap();
        assert!(inputs.files.contains(Path::new("k/tr.yaml")));
    }

    #[test]
    fn remote_spellings() {
        for s in [
            "https://x/y",
            "git::https://x",
            "git@github.com:o/r",
            "org@host:repo",
            "x?ref=main",
            "GitHub.com/org/repo",
            "gh:org/repo",
            "x?submodules=false",
        ] {
            assert!(looks_remote(s), "{s}");
        }
        for s in [
            "../base",
            "deployment.yaml",
            "a:b/c.yaml",
            "dir/with@at/file.yaml",
            "example.com/org/repo.git",
        ] {
            assert!(!looks_remote(s), "{s}");
        }
    }
}
