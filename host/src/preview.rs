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
        let mut environments = Vec::new();
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
            let side = |tree: &Path, which: &str| {
                render_dir(guest, &tree.join(&rel), limits)
                    .map_err(|e| fail(format!("{} at {which}: {e}", path.display())))
            };
            let head = side(&head_tree, "the working tree")?;
            let base = side(&base_tree, &format!("base {}", &commit[..12.min(commit.len())]))?;
            if head.is_none() && base.is_none() {
                return Err(fail(format!(
                    "{} is not a directory at either revision",
                    path.display()
                )));
            }
            environments.push(krm::RenderedEnvironment {
                path: path.display().to_string(),
                base,
                head,
            });
        }
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
