//! The fences around a render of an untrusted repository.
//!
//! A render reads a repository that anyone who can open a pull request
//! writes. Three rules keep it from reaching anything else (see SECURITY.md):
//!
//! - **Every file a render reads is inside the repository** after resolving
//!   symbolic links ([`Repository::resolve`]).
//! - **Tools are found only in absolute `PATH` entries** ([`find_tool`]): a
//!   repository can ship `./kustomize`, and an empty or relative `PATH` entry
//!   means the current directory.
//! - **Tools run in a bare environment** ([`Sandbox`]): no inherited
//!   variables (credentials, `GIT_*`, `KUBECONFIG`, proxies), a `PATH` that
//!   holds nothing (so no `git`, `ssh` or credential helper can be found), and
//!   a private, empty `HOME`, `TMPDIR` and `XDG_*` directories that are
//!   removed afterwards.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// `O_NOFOLLOW` for [`std::os::unix::fs::OpenOptionsExt::custom_flags`]:
/// opening a symbolic link fails instead of opening its target.
pub const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;

/// Reads a file, refusing it before reading when it is larger than `max`.
pub fn read_capped(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() > max {
        return Err(std::io::Error::other(format!("larger than {} MiB", max >> 20)));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {} MiB", max >> 20)));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text; the error names the path.
pub fn read_text_capped(path: &Path, max: u64) -> Result<String, String> {
    let bytes = read_capped(path, max).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not valid UTF-8", path.display()))
}

/// A repository root (canonical: no symbolic links, absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    root: PathBuf,
}

/// Lexically normalises `path`: drops `.`, applies `..` to what precedes it
/// (never above the start). No filesystem access: the path may not exist.
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() && !path.is_absolute() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

impl Repository {
    /// The repository rooted at `root` (which must exist).
    pub fn at(root: &Path) -> Result<Repository, String> {
        let root = root
            .canonicalize()
            .map_err(|e| format!("repository root {}: {e}", root.display()))?;
        Ok(Repository { root })
    }

    /// The repository an Argo CD application directory belongs to: `dir`
    /// minus `source_path` (`ARGOCD_APP_SOURCE_PATH`, the application's
    /// `spec.source.path`), else the nearest ancestor holding `.git`, else
    /// `dir` itself.
    ///
    /// # Errors
    /// When `source_path` is given but `dir` is not that path below some
    /// root through real directories: a symbolic link on the way (such as
    /// `sub -> ..`) could otherwise make the root an ancestor of the
    /// repository.
    pub fn for_app(dir: &Path, source_path: Option<&str>) -> Result<Repository, String> {
        let app = dir
            .canonicalize()
            .map_err(|e| format!("application directory {}: {e}", dir.display()))?;
        let Some(source) = source_path else {
            let root = app
                .ancestors()
                .find(|a| std::fs::symlink_metadata(a.join(".git")).is_ok())
                .unwrap_or(&app)
                .to_path_buf();
            return Ok(Repository { root });
        };
        // argocd-cmp-server runs the plugin in Clean(Join(workDir, path)),
        // so the cleaned path's components end the directory.
        let parts: Vec<OsString> = normalise(Path::new(source.trim_start_matches('/')))
            .components()
            .map(|c| c.as_os_str().to_os_string())
            .collect();
        let mismatch = || {
            format!(
                "the application directory {} is not ARGOCD_APP_SOURCE_PATH {source:?} inside a repository \
                 through real directories (a symbolic link on the way is not followed)",
                dir.display()
            )
        };
        if parts.iter().any(|p| p == "..") || parts.len() >= app.components().count() {
            return Err(mismatch());
        }
        let mut root = app.clone();
        for part in parts.iter().rev() {
            if root.file_name() != Some(part.as_os_str()) {
                return Err(mismatch());
            }
            root.pop();
        }
        // Walk down again: every step must be a directory, not a link.
        let mut at = root.clone();
        for part in &parts {
            at.push(part);
            if !std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
                return Err(mismatch());
            }
        }
        Ok(Repository { root })
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` (absolute, or relative to the working directory) with every
    /// symbolic link resolved, if that is inside the repository. The error
    /// names the path relative to the repository and never shows the
    /// target's content.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, String> {
        let real = path.canonicalize().map_err(|e| format!("{}: {e}", self.show(path)))?;
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(format!(
                "{} resolves to a path outside the repository; a render reads only files inside it",
                self.show(path)
            ))
        }
    }

    /// `path` relative to the root if it is under it (lexically), for messages.
    pub fn show(&self, path: &Path) -> String {
        let abs = normalise(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
        match abs.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    /// `real` (a path [`Repository::resolve`] returned) relative to the root.
    pub fn relative<'a>(&self, real: &'a Path) -> &'a Path {
        real.strip_prefix(&self.root).unwrap_or(real)
    }
}

/// The absolute `PATH` entries of `path_var`: empty and relative entries
/// (which mean the current directory, i.e. the repository) are skipped.
fn absolute_entries(path_var: Option<OsString>) -> Vec<PathBuf> {
    path_var
        .map(|p| std::env::split_paths(&p).filter(|d| d.is_absolute()).collect())
        .unwrap_or_default()
}

/// Finds the executable `name` in the absolute entries of `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    find_tool_in(name, std::env::var_os("PATH"))
}

/// [`find_tool`] with an explicit `PATH` value.
pub fn find_tool_in(name: &str, path_var: Option<OsString>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    absolute_entries(path_var)
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// A new directory under the temporary directory, mode 0700, with an
/// unpredictable name (never an existing one); removed when dropped.
pub fn private_tempdir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

/// A private scratch directory and a bare environment for running a tool.
/// Removed when dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// Creates the private directory (mode 0700, unpredictable name).
    pub fn new() -> std::io::Result<Sandbox> {
        let dir = private_tempdir("krm-promote-tool-")?;
        for sub in ["home", "tmp", "bin"] {
            std::fs::create_dir(dir.path().join(sub))?;
        }
        Ok(Sandbox { dir })
    }

    /// A command for `program` (an absolute path from [`find_tool`]) with
    /// no inherited environment: `PATH` is an empty private directory, and
    /// `HOME`, `TMPDIR` and the `XDG_*` directories are private and empty.
    pub fn command(&self, program: &Path) -> Command {
        let base = self.dir.path();
        let home = base.join("home");
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", base.join("bin"))
            .env("HOME", &home)
            .env("TMPDIR", base.join("tmp"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C");
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_empty_path_entries_are_never_searched() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("kustomize");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cwd = std::env::current_dir().unwrap();
        // `.`, an empty entry and a relative entry are skipped.
        let rel = pathdiff(dir.path(), &cwd);
        let var = OsString::from(format!(".::{}", rel.display()));
        assert_eq!(find_tool_in("kustomize", Some(var)), None);
        let var = OsString::from(format!("/nonexistent:{}", dir.path().display()));
        assert_eq!(find_tool_in("kustomize", Some(var)), Some(tool.clone()));
        // Not executable: not a tool.
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find_tool_in("kustomize", Some(dir.path().as_os_str().to_owned())), None);
    }

    /// `to` relative to `from` (both absolute), through `..`.
    fn pathdiff(to: &Path, from: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for _ in from.components().skip(1) {
            out.push("..");
        }
        out.join(to.strip_prefix("/").unwrap())
    }

    #[test]
    fn the_root_comes_from_the_source_path() {
        let repo = tempfile::tempdir().unwrap();
        let app = repo.path().join("apps/books/staging");
        std::fs::create_dir_all(&app).unwrap();
        let root = repo.path().canonicalize().unwrap();
        assert_eq!(
            Repository::for_app(&app, Some("apps/books/staging")).unwrap().root(),
            root
        );
        assert_eq!(
            Repository::for_app(&app, Some("./apps/books/staging/")).unwrap().root(),
            root
        );
        // A source path that does not end the directory is refused.
        assert!(Repository::for_app(&app, Some("other/path")).is_err());
        assert!(Repository::for_app(&app, Some("../books/staging")).is_err());
        // Without one: .git, else the directory itself.
        assert_eq!(
            Repository::for_app(&app, None).unwrap().root(),
            app.canonicalize().unwrap()
        );
        std::fs::create_dir(repo.path().join(".git")).unwrap();
        assert_eq!(Repository::for_app(&app, None).unwrap().root(), root);
        assert_eq!(
            Repository::for_app(&app, Some(".")).unwrap().root(),
            app.canonicalize().unwrap()
        );
    }

    #[test]
    fn a_link_in_the_source_path_cannot_widen_the_root() {
        // repo/attack/repo -> .. : "attack/repo/web" would end
        // /tmp/x/repo/web and make /tmp/x the root.
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join("attack")).unwrap();
        std::fs::create_dir_all(repo.join("web")).unwrap();
        std::os::unix::fs::symlink("..", repo.join("attack/repo")).unwrap();
        let app = repo.join("attack/repo/web");
        assert!(Repository::for_app(&app, Some("attack/repo/web")).is_err());
        assert_eq!(
            Repository::for_app(&repo.join("web"), Some("web")).unwrap().root(),
            repo.canonicalize().unwrap()
        );
    }

    #[test]
    fn links_out_of_the_repository_are_refused() {
        let repo = tempfile::tempdir().unwrap();
        let r = Repository::at(repo.path()).unwrap();
        std::fs::write(repo.path().join("a.yaml"), "x").unwrap();
        std::os::unix::fs::symlink("a.yaml", repo.path().join("inside.yaml")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", repo.path().join("outside.yaml")).unwrap();
        assert!(r.resolve(&repo.path().join("inside.yaml")).is_ok());
        let e = r.resolve(&repo.path().join("outside.yaml")).unwrap_err();
        assert!(
            e.starts_with("outside.yaml resolves to a path outside the repository"),
            "{e}"
        );
    }

    #[test]
    fn the_sandbox_environment_is_bare() {
        let sandbox = Sandbox::new().unwrap();
        let out = sandbox.command(Path::new("/usr/bin/env")).output().unwrap();
        let env = String::from_utf8(out.stdout).unwrap();
        let mut names: Vec<&str> = env.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "GIT_CONFIG_NOSYSTEM",
                "GIT_TERMINAL_PROMPT",
                "HOME",
                "LC_ALL",
                "PATH",
                "TMPDIR",
                "XDG_CACHE_HOME",
                "XDG_CONFIG_HOME",
                "XDG_DATA_HOME"
            ]
        );
        let path = env.lines().find_map(|l| l.strip_prefix("PATH=")).unwrap();
        assert_eq!(std::fs::read_dir(path).unwrap().count(), 0);
    }
}
