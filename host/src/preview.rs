//! `krm-promote preview [PATH…] [--base REV]`: renders each environment
//! directory at a base Git revision and in the working tree, and reports
//! what the change will promote, and why.
//!
//! Both trees are materialised in a private temporary directory: the base
//! from Git's object store (`git ls-tree` + `git cat-file`, so the user's
//! working tree, index and worktrees are never touched), the working tree
//! from the files Git knows (tracked and untracked, minus ignored ones).
//! Rendering is `generate`'s (a kustomize build without plugin flags, or the
//! directory's manifests), except that a kustomization listing krm-promote
//! itself as a transformer has that entry removed in the private copy and
//! the function is run with its config.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use crate::bindings::exports::krm_promote::function::krm;
use crate::exit_code;
use crate::generate::{self, Failure};
use crate::runtime::{Guest, Limits};

/// What `preview` was asked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// Environment directories (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// The base revision (default: merge-base with the upstream, else HEAD).
    pub base: Option<String>,
    /// `human`, `markdown` or `json` (default: human, coloured on a terminal).
    pub format: Option<String>,
    /// Exit 1 when something would change.
    pub exit_code: bool,
}

fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

fn git_line(root: &Path, args: &[&str]) -> Result<String, String> {
    Ok(String::from_utf8_lossy(&git(root, args)?).trim().to_string())
}

/// Lexically normalises `path` (no filesystem access: it may not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Writes the tracked and untracked (not ignored) files of the working tree.
fn materialise_worktree(root: &Path, dest: &Path) -> Result<(), String> {
    let list = git(root, &["ls-files", "-z", "--cached", "--others", "--exclude-standard"])?;
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let rel = Path::new(std::str::from_utf8(name).map_err(|_| "a file name is not UTF-8".to_string())?);
        let src = root.join(rel);
        if !src.is_file() {
            continue; // deleted but still in the index
        }
        let target = dest.join(rel);
        std::fs::create_dir_all(target.parent().expect("a file has a parent")).map_err(|e| e.to_string())?;
        std::fs::copy(&src, &target).map_err(|e| format!("copying {}: {e}", rel.display()))?;
    }
    Ok(())
}

/// Writes the tree of `rev` from Git's object store.
fn materialise_revision(root: &Path, rev: &str, dest: &Path) -> Result<(), String> {
    let listing = git(root, &["ls-tree", "-r", "-z", "--full-tree", rev])?;
    let mut entries = Vec::new();
    for entry in listing.split(|&b| b == 0).filter(|e| !e.is_empty()) {
        let entry = std::str::from_utf8(entry).map_err(|_| "a file name is not UTF-8".to_string())?;
        let (meta, path) = entry.split_once('\t').ok_or("unexpected git ls-tree output")?;
        let mut meta = meta.split(' ');
        let (mode, kind, sha) = (
            meta.next().unwrap_or(""),
            meta.next().unwrap_or(""),
            meta.next().unwrap_or(""),
        );
        if kind == "blob" {
            entries.push((mode.to_string(), sha.to_string(), path.to_string()));
        }
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("running git cat-file: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let shas: String = entries.iter().map(|(_, sha, _)| format!("{sha}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(shas.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("git cat-file: {e}"))?;
    let _ = writer.join();
    let mut at = 0;
    for (mode, _, path) in &entries {
        let header_end = out.stdout[at..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("short git cat-file output")?
            + at;
        let header = String::from_utf8_lossy(&out.stdout[at..header_end]).to_string();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or("bad git cat-file header")?;
        let body = &out.stdout[header_end + 1..header_end + 1 + size];
        at = header_end + 1 + size + 1;
        let target = dest.join(path);
        std::fs::create_dir_all(target.parent().expect("a file has a parent")).map_err(|e| e.to_string())?;
        if mode == "120000" {
            let link = String::from_utf8_lossy(body).to_string();
            std::os::unix::fs::symlink(link, &target).map_err(|e| e.to_string())?;
        } else {
            std::fs::write(&target, body).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Renders one environment directory of a materialised tree: the YAML
/// stream after the function ran, or `None` if the directory is absent.
fn render_dir(guest: &Guest, dir: &Path, limits: &Limits) -> Result<Option<String>, String> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut function_config = std::fs::read_to_string(dir.join(generate::CONFIG_FILE)).ok();
    if let Some(kustomization) = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
    {
        let text = std::fs::read_to_string(&kustomization).map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
            let path = entry.map_err(|e| e.to_string())?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if path.is_file() && (name.ends_with(".yaml") || name.ends_with(".yml")) {
                let content = std::fs::read_to_string(&path).unwrap_or_default();
                files.push(krm::File { name, content });
            }
        }
        let prepared = guest
            .prepare_kustomization(&text, &files, limits)
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e:?}", kustomization.display()))?;
        if let Some(config) = prepared.function_config {
            std::fs::write(&kustomization, prepared.kustomization).map_err(|e| e.to_string())?;
            function_config = Some(config);
        }
    }
    let rendered = generate::render(dir).map_err(|(_, m)| m)?;
    let context = krm::Context {
        framing: krm::Framing::YamlStream,
        output_format: krm::OutputFormat::SameAsInput,
        function_config: Some(function_config.unwrap_or_default()),
        settings: Vec::new(),
        source_revision: None,
        plugin_env: Vec::new(),
    };
    let output = guest
        .call(&rendered.stream, &context, limits)
        .map_err(|e| e.to_string())?
        .map_err(|e| match e {
            krm::Error::InvalidInput(m) => rendered.locate(&format!("invalid manifests: {m}")),
            krm::Error::InvalidConfig(m) => format!("invalid functionConfig: {m}"),
        })?;
    if output.has_errors {
        let errors: Vec<String> = output
            .diagnostics
            .iter()
            .filter(|d| d.severity == krm::Severity::Error)
            .map(|d| d.message.clone())
            .collect();
        return Err(errors.join("; "));
    }
    Ok(Some(output.document))
}

/// Maps `f` over `items` on up to one thread per core; results keep the
/// order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().expect("no thread panics holding the lock")[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no thread panicked")
        .into_iter()
        .map(|r| r.expect("every item was mapped"))
        .collect()
}

/// Whether every file a render of `rel` can read is the same in both trees,
/// so that rendering it twice cannot show a difference.
///
/// kustomize (with its default load restrictor, which `generate` keeps)
/// reads files only inside a kustomization's own directory tree; it leaves
/// that tree only through directory references (`resources`, `components`),
/// which are then restricted to their own trees. The inputs of `rel` are
/// therefore the files under `rel` plus, recursively, the files under every
/// directory a kustomization in those trees names with a `..` path. Any
/// word in a kustomization that looks like such a path counts (a superset
/// is safe: it only means rendering more). Anything that cannot be known
/// this way makes the answer "no": a remote reference (a URL or `git@`), a
/// symbolic link, a path leaving the repository, an unreadable file.
fn inputs_unchanged(base_tree: &Path, head_tree: &Path, rel: &Path) -> bool {
    let (Some(base), Some(head)) = (render_inputs(base_tree, rel), render_inputs(head_tree, rel)) else {
        return false;
    };
    base == head
        && base.iter().all(
            |file| match (std::fs::read(base_tree.join(file)), std::fs::read(head_tree.join(file))) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            },
        )
}

/// The files (relative to `tree`) a render of `rel` can read; `None` when
/// that cannot be known (see [`inputs_unchanged`]).
fn render_inputs(tree: &Path, rel: &Path) -> Option<std::collections::BTreeSet<PathBuf>> {
    let mut files = std::collections::BTreeSet::new();
    let mut dirs_done = std::collections::BTreeSet::new();
    let mut pending = vec![rel.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if !dirs_done.insert(dir.clone()) {
            continue;
        }
        let mut here = Vec::new();
        if !walk_files(tree, &dir, &mut here) {
            return None;
        }
        for file in here {
            let name = file.file_name().unwrap_or_default();
            if name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization" {
                let text = std::fs::read_to_string(tree.join(&file)).ok()?;
                let from = file.parent().unwrap_or(Path::new(""));
                for word in text.split(|c: char| c.is_whitespace() || "\"',[]{}#".contains(c)) {
                    if word.contains("://") || word.starts_with("git@") {
                        return None;
                    }
                    if Path::new(word).components().any(|c| c == Component::ParentDir) {
                        let target = within(&from.join(word))?;
                        if tree.join(&target).is_dir() {
                            pending.push(target);
                        } else {
                            files.insert(target);
                        }
                    }
                }
            }
            files.insert(file);
        }
    }
    Some(files)
}

/// `path` normalised, or `None` if it leaves the tree it is relative to.
fn within(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Adds the files under `tree/dir` (relative to `tree`); `false` on a
/// symbolic link or an unreadable directory.
fn walk_files(tree: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> bool {
    let Ok(entries) = std::fs::read_dir(tree.join(dir)) else {
        // Absent on this side: the other side's files then differ.
        return !tree.join(dir).exists();
    };
    for entry in entries {
        let Ok(entry) = entry else { return false };
        let Ok(kind) = entry.file_type() else { return false };
        let rel = dir.join(entry.file_name());
        if kind.is_symlink() {
            return false;
        } else if kind.is_dir() {
            if !walk_files(tree, &rel, out) {
                return false;
            }
        } else {
            out.push(rel);
        }
    }
    true
}

/// Runs `preview`.
pub fn run(request: &Request, guest: &Guest, limits: &Limits, stdout: &mut dyn std::io::Write) -> Result<u8, Failure> {
    let fail = |m: String| (exit_code::INVALID_INPUT, m);
    let cwd = std::env::current_dir().map_err(|e| fail(format!("current directory: {e}")))?;
    let root = PathBuf::from(
        git_line(&cwd, &["rev-parse", "--show-toplevel"])
            .map_err(|e| fail(format!("preview needs a Git repository: {e}")))?,
    );
    let base = match &request.base {
        Some(rev) => rev.clone(),
        None => git_line(&root, &["merge-base", "HEAD", "@{upstream}"]).unwrap_or_else(|_| "HEAD".into()),
    };
    let commit = git_line(&root, &["rev-parse", "--verify", &format!("{base}^{{commit}}")])
        .map_err(|e| fail(format!("base revision {base:?}: {e}")))?;

    let tmp = std::env::temp_dir().join(format!("krm-promote-preview-{}-{}", std::process::id(), commit));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| {
        let (base_tree, head_tree) = (tmp.join("base"), tmp.join("head"));
        materialise_revision(&root, &commit, &base_tree).map_err(fail)?;
        materialise_worktree(&root, &head_tree).map_err(fail)?;

        let paths = if request.paths.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            request.paths.clone()
        };
        let mut jobs = Vec::new();
        for path in &paths {
            let absolute = normalise(&cwd.join(path));
            let rel = absolute
                .strip_prefix(&root)
                .map_err(|_| {
                    fail(format!(
                        "{} is outside the repository {}",
                        path.display(),
                        root.display()
                    ))
                })?
                .to_path_buf();
            if !base_tree.join(&rel).is_dir() && !head_tree.join(&rel).is_dir() {
                return Err(fail(format!(
                    "{} is not a directory at either revision",
                    path.display()
                )));
            }
            jobs.push((path, rel));
        }
        let base_label = format!("base {}", &commit[..12.min(commit.len())]);
        let render_job = |(path, rel): &(&PathBuf, PathBuf)| -> Result<krm::RenderedEnvironment, Failure> {
            let (base, head) = if inputs_unchanged(&base_tree, &head_tree, rel) {
                // Nothing the render reads differs: both sides render the
                // same, so there is nothing to compare.
                (Some(String::new()), Some(String::new()))
            } else {
                let side = |tree: &Path, which: &str| {
                    render_dir(guest, &tree.join(rel), limits)
                        .map_err(|e| fail(format!("{} at {which}: {e}", path.display())))
                };
                let head = side(&head_tree, "the working tree")?;
                (side(&base_tree, &base_label)?, head)
            };
            Ok(krm::RenderedEnvironment {
                path: path.display().to_string(),
                base,
                head,
            })
        };
        let environments = parallel_map(&jobs, render_job)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let format = match request.format.as_deref() {
            None | Some("human") => {
                use std::io::IsTerminal;
                if request.format.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                {
                    krm::ReportFormat::HumanColor
                } else {
                    krm::ReportFormat::Human
                }
            }
            Some("markdown") => krm::ReportFormat::Markdown,
            Some("json") => krm::ReportFormat::Json,
            Some(other) => return Err(fail(format!("--format must be human, markdown or json, got {other:?}"))),
        };
        let report = guest
            .preview(&environments, format, limits)
            .map_err(|e| (exit_code::FUNCTION_FAILED, e.to_string()))?
            .map_err(|e| fail(format!("{e:?}")))?;
        stdout
            .write_all(report.text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| fail(format!("writing stdout: {e}")))?;
        Ok(if request.exit_code && report.changed {
            exit_code::ERROR_RESULTS
        } else {
            exit_code::OK
        })
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    /// Two trees with an overlay that reaches its base through `..`.
    fn trees(overlay: &str) -> (tempfile::TempDir, tempfile::TempDir) {
        let files = [
            ("apps/a/base/kustomization.yaml", "resources:\n- deployment.yaml\n"),
            ("apps/a/base/deployment.yaml", "kind: Deployment\n"),
            ("apps/b/base/kustomization.yaml", "resources:\n- deployment.yaml\n"),
            ("apps/b/base/deployment.yaml", "kind: Deployment\n"),
            ("values/prod/a/kustomization.yaml", overlay),
            ("values/prod/a/krm-promote.yaml", "spec: {environment: prod}\n"),
        ];
        let (base, head) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(base.path(), &files);
        write(head.path(), &files);
        (base, head)
    }

    const OVERLAY: &str = "namespace: a-prod\nresources:\n  - \"../../../apps/a/base\"\n";

    #[test]
    fn unchanged_inputs_are_recognised() {
        let (base, head) = trees(OVERLAY);
        let rel = Path::new("values/prod/a");
        assert!(inputs_unchanged(base.path(), head.path(), rel));
        // A change elsewhere does not matter.
        write(
            head.path(),
            &[("apps/b/base/deployment.yaml", "kind: Deployment\nx: 1\n")],
        );
        assert!(inputs_unchanged(base.path(), head.path(), rel));
        assert_eq!(
            render_inputs(head.path(), rel).unwrap().into_iter().collect::<Vec<_>>(),
            [
                "apps/a/base/deployment.yaml",
                "apps/a/base/kustomization.yaml",
                "values/prod/a/krm-promote.yaml",
                "values/prod/a/kustomization.yaml"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn a_change_in_the_directory_or_what_it_references_is_seen() {
        let rel = Path::new("values/prod/a");
        for (name, text) in [
            ("apps/a/base/deployment.yaml", "kind: Deployment\nx: 1\n"),
            ("apps/a/base/new-file.yaml", "kind: ConfigMap\n"),
            ("values/prod/a/krm-promote.yaml", "spec: {environment: staging}\n"),
            ("values/prod/a/patches/replicas.yaml", "spec: {replicas: 3}\n"),
        ] {
            let (base, head) = trees(OVERLAY);
            write(head.path(), &[(name, text)]);
            assert!(!inputs_unchanged(base.path(), head.path(), rel), "{name}");
        }
        // A directory present on one side only.
        let (base, head) = trees(OVERLAY);
        std::fs::remove_dir_all(base.path().join("apps/a")).unwrap();
        assert!(!inputs_unchanged(base.path(), head.path(), rel));
    }

    #[test]
    fn what_cannot_be_known_is_rendered() {
        let rel = Path::new("values/prod/a");
        for overlay in [
            "resources:\n- https://github.com/example/repo//deploy?ref=v1\n",
            "resources:\n- git@github.com:example/repo.git\n",
            "resources:\n- ../../../../../outside\n",
        ] {
            let (base, head) = trees(overlay);
            assert!(!inputs_unchanged(base.path(), head.path(), rel), "{overlay}");
        }
        let (base, head) = trees(OVERLAY);
        for tree in [base.path(), head.path()] {
            std::os::unix::fs::symlink("/etc", tree.join("apps/a/base/link")).unwrap();
        }
        assert!(!inputs_unchanged(base.path(), head.path(), rel));
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<usize> = (0..100).collect();
        assert_eq!(
            parallel_map(&items, |i| i * 2),
            (0..100).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(parallel_map(&[] as &[usize], |i| *i).is_empty());
    }
}
