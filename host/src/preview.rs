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
use crate::kustomization;
use crate::runtime::{Guest, Limits};
use crate::sandbox::{NOFOLLOW, Repository, find_tool, normalise};

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

/// Git, found in the absolute `PATH` entries only.
fn git_program() -> Result<PathBuf, String> {
    find_tool("git").ok_or_else(|| "preview needs git on PATH (only absolute PATH entries are searched)".to_string())
}

fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new(git_program()?)
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

/// A file name from Git (any bytes but NUL) as a relative path, if every
/// component is an ordinary name: no `..`, `.`, empty or absolute part that
/// could write outside the private copy.
fn tree_path(name: &[u8]) -> Result<PathBuf, String> {
    use std::os::unix::ffi::OsStrExt;
    let path = Path::new(std::ffi::OsStr::from_bytes(name));
    let ordinary = !name.is_empty()
        && name
            .split(|&b| b == b'/')
            .all(|part| !part.is_empty() && part != b"." && part != b"..")
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ordinary {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "refusing a tree entry named {:?}",
            String::from_utf8_lossy(name)
        ))
    }
}

/// What one entry of a tree is, and where its content comes from.
#[derive(Debug, Clone)]
enum Content {
    /// A Git blob.
    Blob(String),
    /// A file of the working tree.
    File(PathBuf),
    /// A symbolic link with this target.
    Link(PathBuf),
}

/// A tree to copy: a revision in Git's object store, or the working tree.
struct Tree {
    entries: std::collections::BTreeMap<PathBuf, Content>,
    /// The repository, for a revision.
    root: Option<PathBuf>,
    objects: Option<CatFile>,
}

/// `git cat-file --batch`, one object at a time.
struct CatFile {
    child: std::process::Child,
    /// Where requests go; `None` when they are all sent up front
    /// ([`CatFile::pipelined`]).
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl CatFile {
    /// A process answering one request at a time.
    fn start(root: &Path) -> Result<CatFile, String> {
        let mut child = Command::new(git_program()?)
            .arg("-C")
            .arg(root)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("running git cat-file: {e}"))?;
        let stdin = child.stdin.take().ok_or("git cat-file has no stdin")?;
        let stdout = std::io::BufReader::new(child.stdout.take().ok_or("git cat-file has no stdout")?);
        Ok(CatFile {
            child,
            stdin: Some(stdin),
            stdout,
        })
    }

    /// A process that is sent every object of `shas` at once (from a
    /// thread, so that neither side waits for the other); [`CatFile::copy`]
    /// must then be called for them in this order.
    fn pipelined(root: &Path, shas: Vec<String>) -> Result<CatFile, String> {
        let mut cat = CatFile::start(root)?;
        if let Some(mut stdin) = cat.stdin.take() {
            std::thread::spawn(move || {
                let requests: String = shas.iter().map(|s| format!("{s}\n")).collect();
                // A closed pipe means the reader stopped early: fine.
                let _ = stdin.write_all(requests.as_bytes());
            });
        }
        Ok(cat)
    }

    /// Streams object `sha` into `out`, refusing it (before reading) when
    /// it is larger than `max`.
    fn copy(&mut self, sha: &str, max: u64, out: &mut dyn std::io::Write) -> Result<(), String> {
        use std::io::{BufRead, Read};
        if let Some(stdin) = &mut self.stdin {
            writeln!(stdin, "{sha}")
                .and_then(|()| stdin.flush())
                .map_err(|e| format!("git cat-file: {e}"))?;
        }
        let mut header = String::new();
        self.stdout
            .read_line(&mut header)
            .map_err(|e| format!("git cat-file: {e}"))?;
        let size: u64 = header
            .trim_end()
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("git cat-file: unexpected answer {:?}", header.trim_end()))?;
        let mut body = (&mut self.stdout).take(size);
        if size > max {
            // Skip it without keeping it.
            std::io::copy(&mut body, &mut std::io::sink()).map_err(|e| format!("git cat-file: {e}"))?;
        } else {
            std::io::copy(&mut body, out).map_err(|e| format!("writing a copy of {sha}: {e}"))?;
        }
        let mut newline = [0u8; 1];
        self.stdout
            .read_exact(&mut newline)
            .map_err(|e| format!("git cat-file: {e}"))?;
        if size > max {
            return Err(format!("larger than {} MiB", max >> 20));
        }
        Ok(())
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Largest kustomization or link read while deciding what to copy.
const MAX_SMALL: u64 = 8 << 20;

/// A small file (a kustomization, a transformer config) as text.
fn read_small(path: &Path) -> Result<String, String> {
    crate::sandbox::read_text_capped(path, MAX_SMALL)
}

impl Tree {
    /// The tree of commit `rev`.
    fn revision(root: &Path, rev: &str) -> Result<Tree, String> {
        let listing = git(root, &["ls-tree", "-r", "-z", "--full-tree", rev])?;
        let mut tree = Tree {
            entries: Default::default(),
            root: Some(root.to_path_buf()),
            objects: Some(CatFile::start(root)?),
        };
        for entry in listing.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let tab = entry
                .iter()
                .position(|&b| b == b'\t')
                .ok_or("unexpected git ls-tree output")?;
            let meta = String::from_utf8_lossy(&entry[..tab]);
            let mut meta = meta.split(' ');
            let (mode, kind, sha) = (
                meta.next().unwrap_or(""),
                meta.next().unwrap_or(""),
                meta.next().unwrap_or("").to_string(),
            );
            if kind != "blob" {
                continue; // submodules
            }
            let path = tree_path(&entry[tab + 1..])?;
            let content = if mode == "120000" {
                let target = tree.read(&Content::Blob(sha))?;
                use std::os::unix::ffi::OsStrExt;
                Content::Link(PathBuf::from(std::ffi::OsStr::from_bytes(&target)))
            } else {
                Content::Blob(sha)
            };
            if tree.entries.insert(path.clone(), content).is_some() {
                return Err(format!("refusing a tree with two entries named {}", path.display()));
            }
        }
        Ok(tree)
    }

    /// The tracked and untracked (not ignored) files of the working tree.
    /// A path under a directory that is now a symbolic link is skipped (Git
    /// does not follow it either).
    fn worktree(root: &Path) -> Result<Tree, String> {
        let list = git(root, &["ls-files", "-z", "--cached", "--others", "--exclude-standard"])?;
        let mut tree = Tree {
            entries: Default::default(),
            root: None,
            objects: None,
        };
        for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let rel = tree_path(name)?;
            let under_link = rel
                .ancestors()
                .skip(1)
                .filter(|a| !a.as_os_str().is_empty())
                .any(|a| std::fs::symlink_metadata(root.join(a)).is_ok_and(|m| m.file_type().is_symlink()));
            if under_link {
                continue;
            }
            let src = root.join(&rel);
            let Ok(meta) = std::fs::symlink_metadata(&src) else {
                continue; // deleted but still in the index
            };
            let content = if meta.file_type().is_symlink() {
                Content::Link(std::fs::read_link(&src).map_err(|e| format!("{}: {e}", rel.display()))?)
            } else if meta.is_file() {
                Content::File(src)
            } else {
                continue; // a submodule's directory
            };
            tree.entries.insert(rel, content);
        }
        Ok(tree)
    }

    /// A small file's content (kustomizations, link targets).
    fn read(&mut self, content: &Content) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        match content {
            Content::Blob(sha) => self
                .objects
                .as_mut()
                .ok_or("no object store")?
                .copy(sha, MAX_SMALL, &mut out)?,
            Content::File(path) => {
                out = crate::sandbox::read_capped(path, MAX_SMALL).map_err(|e| e.to_string())?;
            }
            Content::Link(target) => {
                use std::os::unix::ffi::OsStrExt;
                out.extend_from_slice(target.as_os_str().as_bytes());
            }
        }
        Ok(out)
    }

    /// Whether some entry is `path` or under it.
    fn has(&self, path: &Path) -> bool {
        self.entries
            .range(path.to_path_buf()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(path))
    }

    /// The entries a render of the directories `roots` can read: their
    /// trees, and, transitively, what their kustomizations and symbolic
    /// links name inside the repository. Everything when that cannot be
    /// worked out (a name through a link, an unreadable kustomization):
    /// copying more is only slower.
    fn needed(&mut self, roots: &[PathBuf]) -> Vec<PathBuf> {
        let mut wanted = std::collections::BTreeSet::new();
        let mut done = std::collections::BTreeSet::new();
        let mut pending: Vec<PathBuf> = roots.to_vec();
        while let Some(prefix) = pending.pop() {
            if !done.insert(prefix.clone()) {
                continue;
            }
            let under: Vec<(PathBuf, Content)> = self
                .entries
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .map(|(p, c)| (p.clone(), c.clone()))
                .collect();
            for (path, content) in under {
                let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
                let named: Vec<PathBuf> = match &content {
                    Content::Link(target) => vec![target.clone()],
                    _ if kustomization::FILE_NAMES
                        .iter()
                        .any(|n| path.file_name() == Some(n.as_ref())) =>
                    {
                        let Ok(text) = self.read(&content).map(|b| String::from_utf8_lossy(&b).into_owned()) else {
                            return self.entries.keys().cloned().collect();
                        };
                        match kustomization::references(&text) {
                            Ok(refs) => refs
                                .into_iter()
                                .filter(|r| !r.remote)
                                .map(|r| PathBuf::from(r.path))
                                .collect(),
                            Err(_) => return self.entries.keys().cloned().collect(),
                        }
                    }
                    _ => Vec::new(),
                };
                for name in named {
                    if name.is_absolute() {
                        continue; // outside: refused when rendering
                    }
                    let target = normalise(&parent.join(name));
                    if target.starts_with("..") {
                        continue; // outside: refused when rendering
                    }
                    if !self.has(&target) {
                        // Perhaps named through a link: copy everything.
                        return self.entries.keys().cloned().collect();
                    }
                    pending.push(target);
                }
                wanted.insert(path);
            }
        }
        wanted.into_iter().collect()
    }

    /// Writes `paths` under `dest`, a new private directory: files as
    /// files, links as links. Directories are created here, and a path
    /// through an existing link or file is refused, so nothing is written
    /// outside `dest`.
    ///
    /// A file larger than `max` bytes is refused before it is read (a
    /// render is capped at that size anyway).
    fn write(&mut self, paths: &[PathBuf], dest: &Path, max: u64) -> Result<(), String> {
        let shas: Vec<String> = paths
            .iter()
            .filter_map(|p| match self.entries.get(p) {
                Some(Content::Blob(sha)) => Some(sha.clone()),
                _ => None,
            })
            .collect();
        let mut blobs = match &self.root {
            Some(root) if !shas.is_empty() => Some(CatFile::pipelined(root, shas)?),
            _ => None,
        };
        use std::os::unix::fs::OpenOptionsExt;
        for rel in paths {
            let content = self
                .entries
                .get(rel)
                .cloned()
                .ok_or("a copied path is not in the tree")?;
            let mut dir = dest.to_path_buf();
            let parents: Vec<_> = rel.parent().map(|p| p.components().collect()).unwrap_or_default();
            for part in parents {
                dir.push(part);
                match std::fs::symlink_metadata(&dir) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(format!("refusing {}: a parent is not a directory", rel.display())),
                    Err(_) => std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", rel.display()))?,
                }
            }
            let target = dest.join(rel);
            let fail = |e: std::io::Error| format!("copying {}: {e}", rel.display());
            if let Content::Link(to) = &content {
                std::os::unix::fs::symlink(to, &target).map_err(fail)?;
                continue;
            }
            // A new file: never one that exists, never through a link.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(NOFOLLOW)
                .open(&target)
                .map_err(fail)?;
            match &content {
                Content::Blob(sha) => blobs
                    .as_mut()
                    .ok_or("no object store")?
                    .copy(sha, max, &mut file)
                    .map_err(|e| format!("copying {}: {e}", rel.display()))?,
                Content::File(src) => {
                    let from = std::fs::OpenOptions::new()
                        .read(true)
                        .custom_flags(NOFOLLOW)
                        .open(src)
                        .map_err(fail)?;
                    if from.metadata().map_err(fail)?.len() > max {
                        return Err(format!("copying {}: larger than {} MiB", rel.display(), max >> 20));
                    }
                    std::io::copy(&mut std::io::Read::take(from, max), &mut file).map_err(fail)?;
                }
                Content::Link(_) => {}
            }
        }
        Ok(())
    }
}

/// Copies what a render of `rels` reads from `tree` into `dest`.
fn materialise(mut tree: Tree, rels: &[PathBuf], dest: &Path, max: usize) -> Result<(), String> {
    std::fs::create_dir(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let needed = tree.needed(rels);
    tree.write(&needed, dest, max as u64)
}

/// Renders one environment directory of a materialised tree: the YAML
/// stream after the function ran, or `None` if the directory is absent.
fn render_dir(
    guest: &Guest,
    tree: &Path,
    rel: &Path,
    limits: &Limits,
    max_input: usize,
) -> Result<Option<String>, String> {
    let dir = tree.join(rel);
    if !dir.is_dir() {
        return Ok(None);
    }
    let repo = Repository::at(tree)?;
    let mut function_config = generate::read_config(&repo, &dir).map_err(|(_, m)| m)?;
    if let Some(kustomization) = kustomization::find(&dir) {
        let real = repo.resolve(&kustomization)?;
        let text = read_small(&real)?;
        // The files `transformers:` names (krm-promote's own config is one
        // of them), read only inside the repository and up to a size.
        let mut files = Vec::new();
        for entry in kustomization::references(&text).map_err(|e| format!("{}: {e}", repo.show(&kustomization)))? {
            if !entry.at.starts_with("transformers[") {
                continue;
            }
            let path = dir.join(&entry.path);
            if !path.is_file() {
                continue;
            }
            let content = read_small(&repo.resolve(&path)?)?;
            files.push(krm::File {
                name: entry.path,
                content,
            });
        }
        let prepared = guest
            .prepare_kustomization(&text, &files, limits)
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e:?}", repo.show(&kustomization)))?;
        if let Some(config) = prepared.function_config {
            // A new file, never a write through a link.
            std::fs::remove_file(&kustomization)
                .and_then(|()| std::fs::write(&kustomization, prepared.kustomization))
                .map_err(|e| e.to_string())?;
            function_config = Some(config);
        }
    }
    let rendered = generate::render(&repo, &dir, max_input).map_err(|(_, m)| m)?;
    let context = krm::Context {
        framing: krm::Framing::YamlStream,
        output_format: krm::OutputFormat::SameAsInput,
        function_config: Some(function_config.unwrap_or_default()),
        settings: Vec::new(),
        source_revision: None,
        plugin_env: Vec::new(),
        operator_settings: Vec::new(),
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
/// The inputs are found the way the render finds them: for a kustomization,
/// [`kustomization::check`] reads each kustomization as kustomize does
/// (parsed YAML, joined and cleaned paths) and yields every directory tree
/// the build can read (kustomize's load restrictor confines each
/// kustomization to its own tree) and every file named from elsewhere; for
/// a plain directory, its tree. Anything that cannot be known this way
/// makes the answer "no" (render): a refused reference, a symbolic link, an
/// unreadable file.
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
    let dir = tree.join(rel);
    let mut files = std::collections::BTreeSet::new();
    if std::fs::symlink_metadata(&dir).is_err() {
        return Some(files); // absent on this side: the other side differs
    }
    let repo = Repository::at(tree).ok()?;
    let dirs = if kustomization::find(&dir).is_some() {
        let inputs = kustomization::check(&repo, &dir).ok()?;
        files.extend(inputs.files);
        inputs.dirs
    } else {
        std::iter::once(repo.relative(&repo.resolve(&dir).ok()?).to_path_buf()).collect()
    };
    for d in dirs {
        let mut here = Vec::new();
        if !walk_files(tree, &d, &mut here) {
            return None;
        }
        files.extend(here);
    }
    Some(files)
}

/// Adds the files under `tree/dir` (relative to `tree`); `false` on a
/// symbolic link or an unreadable directory.
fn walk_files(tree: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> bool {
    let Ok(entries) = std::fs::read_dir(tree.join(dir)) else {
        return false;
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
pub fn run(
    request: &Request,
    guest: &Guest,
    limits: &Limits,
    max_input: usize,
    stdout: &mut dyn std::io::Write,
) -> Result<u8, Failure> {
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
    if base.starts_with('-') {
        return Err(fail(format!("base revision {base:?} is not a revision")));
    }
    let commit = git_line(
        &root,
        &[
            "rev-parse",
            "--verify",
            "--end-of-options",
            &format!("{base}^{{commit}}"),
        ],
    )
    .map_err(|e| fail(format!("base revision {base:?}: {e}")))?;

    // Private (0700) and unpredictable; removed when dropped.
    let tmp = crate::sandbox::private_tempdir("krm-promote-preview-")
        .map_err(|e| fail(format!("creating a temporary directory: {e}")))?;
    (|| {
        let (base_tree, head_tree) = (tmp.path().join("base"), tmp.path().join("head"));
        let paths = if request.paths.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            request.paths.clone()
        };
        let mut rels = Vec::new();
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
            rels.push((path, rel));
        }
        let roots: Vec<PathBuf> = rels.iter().map(|(_, rel)| rel.clone()).collect();
        materialise(
            Tree::revision(&root, &commit).map_err(fail)?,
            &roots,
            &base_tree,
            max_input,
        )
        .map_err(fail)?;
        materialise(Tree::worktree(&root).map_err(fail)?, &roots, &head_tree, max_input).map_err(fail)?;
        let mut jobs = Vec::new();
        for (path, rel) in rels {
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
                    render_dir(guest, tree, rel, limits, max_input)
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
    })()
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
