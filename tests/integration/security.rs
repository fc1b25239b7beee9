//! The attack suite: a repository (and an Application's parameters and
//! plugin env) written by an attacker, run through the real binary.
//!
//! Each test is one class of attack from SECURITY.md. They assert what an
//! attacker would look for: that no marker file appears (no command ran),
//! that no content from outside the repository and no secret reaches any
//! output, and that the exit code and message are right. Every future
//! rendering feature adds its attacks here.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{self, describe, git, krm_promote};

/// A string that must never appear in any output.
const MARKER: &str = "ATTACKER-MARKER-5c1f";

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: b\n";

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn executable(path: &Path, script: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A workspace: `repo/` (the repository, application in `repo/apps/web`),
/// `outside/` (another tenant's files, holding the marker) and `marker`
/// (created by any command an attack manages to run).
struct Workspace {
    tmp: tempfile::TempDir,
}

impl Workspace {
    fn new(app: &[(&str, &str)]) -> Workspace {
        let ws = Workspace {
            tmp: tempfile::tempdir().unwrap(),
        };
        let files: Vec<(String, &str)> = app.iter().map(|(n, t)| (format!("repo/apps/web/{n}"), *t)).collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        write(ws.tmp.path(), &files);
        std::fs::create_dir_all(ws.app()).unwrap();
        let secret = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {MARKER}\n");
        write(
            ws.tmp.path(),
            &[
                ("outside/secret.yaml", &secret),
                ("outside/kustomization.yaml", "resources:\n- secret.yaml\n"),
            ],
        );
        ws
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    fn app(&self) -> PathBuf {
        self.root().join("apps/web")
    }

    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    fn marker(&self) -> PathBuf {
        self.tmp.path().join("marker")
    }

    /// `krm-promote generate` in the application directory, as Argo CD
    /// runs it.
    fn generate(&self, cmd: impl FnOnce(&mut Command)) -> Output {
        let mut command = krm_promote();
        command
            .arg("generate")
            .current_dir(self.app())
            .env("ARGOCD_APP_SOURCE_PATH", "apps/web")
            .env("ARGOCD_ENV_KRM_PROMOTE_ENVIRONMENT", "staging");
        cmd(&mut command);
        command.output().unwrap()
    }
}

/// The run failed with `code`, printed nothing, said `message`, and leaked
/// nothing.
fn refused(ws: &Workspace, out: &Output, code: i32, message: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    assert!(out.stdout.is_empty(), "{}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(message), "expected {message:?}: {}", describe(out));
    no_leak(ws, out);
}

fn no_leak(ws: &Workspace, out: &Output) {
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(MARKER),
            "the marker leaked: {}",
            describe(out)
        );
    }
    assert!(!ws.marker().exists(), "an attacker's command ran: {}", describe(out));
}

// Class 1: commands through kustomize remote references.

#[test]
fn remote_references_are_refused_before_kustomize_runs() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let probe = Workspace::new(&[]);
    let marker = probe.marker();
    for (field, entry) in [
        (
            "resources",
            format!(
                "github.com/org/repo//deploy?ref=--upload-pack=touch%20{}",
                marker.display()
            ),
        ),
        (
            "resources",
            format!(
                "https://github.com/org/repo//x?ref=--upload-pack=touch {}",
                marker.display()
            ),
        ),
        ("resources", "git@github.com:org/repo.git//deploy".to_string()),
        ("resources", format!("file://{}", probe.outside().display())),
        ("components", "ssh://git@example.com/org/repo".to_string()),
        ("resources", "github.com/org/repo/deploy".to_string()),
        ("resources", "example.com/org/repo/deploy".to_string()),
        ("Resources", "https://example.com/manifests.yaml".to_string()),
        ("re\u{17F}ources", "https://example.com/manifests.yaml".to_string()),
        ("resources", "!!binary aHR0cHM6Ly9leGFtcGxlLmNvbS94LnlhbWw=".to_string()),
        ("resources", "https://example.com/manifests.yaml".to_string()),
    ] {
        let kustomization = if entry.starts_with("!!") {
            format!("{field}:\n- {entry}\n")
        } else {
            format!("{field}:\n- {entry:?}\n")
        };
        let ws = Workspace {
            tmp: tempfile::tempdir().unwrap(),
        };
        write(
            ws.tmp.path(),
            &[
                ("repo/apps/web/kustomization.yaml", &kustomization),
                ("outside/secret.yaml", CONFIG_MAP),
            ],
        );
        // A `git` that records being run, first on PATH: it must not be
        // reachable even if a reference got through.
        let bin = ws.tmp.path().join("bin");
        executable(
            &bin.join("git"),
            &format!("#!/bin/sh\ntouch {}\n", ws.marker().display()),
        );
        let out = ws.generate(|c| {
            c.env("PATH", support::path_with(&bin));
        });
        let message = if entry.starts_with("example.com") {
            "neither a file nor a directory in the repository"
        } else if entry.starts_with("!!") {
            "YAML tag"
        } else {
            "is a remote reference"
        };
        refused(&ws, &out, 2, message);
        assert!(!marker.exists() && !ws.marker().exists(), "{entry}");
    }
}

#[test]
fn a_url_in_any_file_field_is_refused() {
    for kustomization in [
        "resources: [cm.yaml]\npatches:\n- path: https://example.com/p.yaml\n",
        "configMapGenerator:\n- name: c\n  files:\n  - key=http://example.com/x\n",
        "resources: [cm.yaml]\nopenapi:\n  path: https://example.com/schema.json\n",
        "resources: [cm.yaml]\ncrds:\n- https://example.com/crd.yaml\n",
        "resources: [cm.yaml]\ngenerators:\n- |-\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata: {name: leak}\n  files: [http://169.254.169.254/latest/meta-data]\n",
        "resources: [cm.yaml]\ntransformers: [tr.yaml]\n",
        "resources: [cm.yaml]\nPatches:\n- pAtH: https://example.com/p.yaml\n",
    ] {
        let transformer =
            "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: https://example.com/p.yaml\n";
        let ws = Workspace::new(&[
            ("kustomization.yaml", kustomization),
            ("cm.yaml", CONFIG_MAP),
            ("tr.yaml", transformer),
        ]);
        refused(&ws, &ws.generate(|_| {}), 2, "is a remote reference");
    }
}

#[test]
fn tools_are_never_found_in_relative_path_entries() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let ws = Workspace::new(&[
        ("kustomization.yaml", "resources: [cm.yaml]\n"),
        ("cm.yaml", CONFIG_MAP),
    ]);
    for name in ["kustomize", "kubectl", "git"] {
        executable(
            &ws.app().join(name),
            &format!("#!/bin/sh\ntouch {}\n", ws.marker().display()),
        );
    }
    let out = ws.generate(|c| {
        c.env("PATH", format!(".::apps/web:{}", kubectl.parent().unwrap().display()));
    });
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"name\":\"app\""));
    no_leak(&ws, &out);
}

#[test]
fn kustomize_runs_in_a_bare_private_environment() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let ws = Workspace::new(&[
        ("kustomization.yaml", "resources: [cm.yaml]\n"),
        ("cm.yaml", CONFIG_MAP),
    ]);
    // A stand-in kubectl that records its environment, then runs the real one.
    let bin = ws.tmp.path().join("bin");
    let record = ws.tmp.path().join("record");
    executable(
        &bin.join("kubectl"),
        &format!(
            "#!/bin/sh\n/usr/bin/env > {rec}.env\n/bin/ls -A \"$PATH\" > {rec}.path\n/usr/bin/stat -c %a \"$HOME\" \"$(/usr/bin/dirname \"$HOME\")\" > {rec}.modes\nexec {} \"$@\"\n",
            kubectl.display(),
            rec = record.display()
        ),
    );
    let out = ws.generate(|c| {
        c.env("PATH", support::path_with(&bin))
            .env("GITHUB_TOKEN", MARKER)
            .env("GIT_SSH_COMMAND", format!("touch {}", ws.marker().display()))
            .env("KUBECONFIG", ws.outside().join("kubeconfig"));
    });
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let env = std::fs::read_to_string(record.with_extension("env")).unwrap();
    assert!(
        !env.contains(MARKER) && !env.contains("GIT_SSH_COMMAND") && !env.contains("KUBECONFIG"),
        "{env}"
    );
    let home = env.lines().find_map(|l| l.strip_prefix("HOME=")).unwrap();
    assert!(
        !Path::new(home).exists(),
        "the private HOME {home} is removed afterwards"
    );
    assert_eq!(
        std::fs::read_to_string(record.with_extension("path")).unwrap(),
        "",
        "PATH holds no tools"
    );
    let modes = std::fs::read_to_string(record.with_extension("modes")).unwrap();
    assert_eq!(modes.lines().nth(1), Some("700"), "the sandbox is private: {modes}");
    no_leak(&ws, &out);
}

// Class 2: files outside the repository.

#[test]
fn generate_reads_no_file_outside_the_repository() {
    let ws = Workspace::new(&[("cm.yaml", CONFIG_MAP)]);
    let app = ws.app();
    let outside = ws.outside();
    type Attack<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let attacks: Vec<Attack> = vec![
        (
            "manifest link",
            Box::new(|| symlink(outside.join("secret.yaml"), app.join("leak.yaml")).unwrap()),
        ),
        (
            "relative manifest link",
            Box::new(|| symlink("../../../outside/secret.yaml", app.join("leak.yaml")).unwrap()),
        ),
        (
            "config link",
            Box::new(|| symlink(outside.join("secret.yaml"), app.join("krm-promote.yaml")).unwrap()),
        ),
        (
            "directory link",
            Box::new(|| symlink(&outside, app.join("sub")).unwrap()),
        ),
        (
            "environ link",
            Box::new(|| symlink("/proc/self/environ", app.join("env.yaml")).unwrap()),
        ),
    ];
    for (name, attack) in attacks {
        for entry in std::fs::read_dir(&app).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() != "cm.yaml" {
                std::fs::remove_file(path).unwrap();
            }
        }
        attack();
        let out = ws.generate(|c| {
            c.env("ATTACKER_SECRET", MARKER);
        });
        assert_eq!(out.status.code(), Some(2), "{name}: {}", describe(&out));
        refused(&ws, &out, 2, "outside the repository");
    }
    // A link inside the repository is fine.
    std::fs::remove_file(app.join("env.yaml")).unwrap();
    write(
        &ws.root(),
        &[("shared/cm2.yaml", &CONFIG_MAP.replace("name: app", "name: shared"))],
    );
    symlink("../../shared/cm2.yaml", app.join("shared.yaml")).unwrap();
    let out = ws.generate(|_| {});
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"name\":\"shared\""));
}

#[test]
fn kustomize_references_cannot_leave_the_repository() {
    if support::tool("kubectl").is_none() {
        return;
    }
    for (kustomization, link) in [
        ("resources:\n- ../../../outside\n", None),
        ("resources:\n- ../../../outside/secret.yaml\n", None),
        ("components:\n- ../../../outside\n", None),
        ("resources:\n- linked\n", Some("linked")),
        ("resources:\n- \"\\x2e\\x2e/\\x2e\\x2e/\\x2e\\x2e/outside\"\n", None),
        ("base: &b ../../../outside\nresources:\n- *b\n", None),
    ] {
        let ws = Workspace::new(&[("kustomization.yaml", kustomization)]);
        if let Some(link) = link {
            symlink(ws.outside(), ws.app().join(link)).unwrap();
        }
        refused(&ws, &ws.generate(|_| {}), 2, "outside the repository");
    }
    // A kustomization that is itself a link out of the repository.
    let ws = Workspace::new(&[]);
    symlink(
        ws.outside().join("kustomization.yaml"),
        ws.app().join("kustomization.yaml"),
    )
    .unwrap();
    refused(&ws, &ws.generate(|_| {}), 2, "outside the repository");
}

// Class 3: planted native code in the compiled-component cache.

/// Runs `fn` with the compiled-artifact cache in `dir` and the built-in
/// artifact off, so that the cache is what would be used.
fn run_with_cache(dir: &Path) -> Output {
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- {}",
        CONFIG_MAP.replace('\n', "\n  ")
    );
    let mut cmd = krm_promote();
    cmd.arg("fn")
        .env("KRM_PROMOTE_CACHE_DIR", dir)
        .env("KRM_PROMOTE_PRECOMPILED", "off");
    support::run_with_stdin(&mut cmd, input.as_bytes())
}

fn artifacts(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_cache_is_used_only_in_private_directories() {
    let tmp = tempfile::tempdir().unwrap();
    // Control: a private directory is used.
    let private = tmp.path().join("private");
    let out = run_with_cache(&private);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(artifacts(&private).len(), 1, "the control run writes an artifact");

    let set_mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let mut untrusted = Vec::new();
    // A world-writable directory.
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    set_mode(&open, 0o777);
    untrusted.push(open.clone());
    // A 0700 directory inside a world-writable, non-sticky parent.
    std::fs::create_dir(open.join("inner")).unwrap();
    set_mode(&open.join("inner"), 0o700);
    untrusted.push(open.join("inner"));
    // A link to a private directory.
    let target = tmp.path().join("target");
    std::fs::create_dir(&target).unwrap();
    set_mode(&target, 0o700);
    symlink(&target, tmp.path().join("link")).unwrap();
    untrusted.push(tmp.path().join("link"));
    // A directory owned by another user (needs root, as in CI).
    let is_root = rustix::process::geteuid().is_root();
    if is_root {
        let other = tmp.path().join("other-user");
        std::fs::create_dir(&other).unwrap();
        set_mode(&other, 0o700);
        std::os::unix::fs::chown(&other, Some(65534), Some(65534)).unwrap();
        untrusted.push(other);
    } else {
        eprintln!("not root: the other-owner case is covered by the unit tests of cache::trusted_dir only");
    }
    for dir in untrusted {
        // Plant the control run's artifact there: it must not be loaded
        // (unobservable) nor anything written next to it.
        let planted = artifacts(&private);
        for name in &planted {
            let _ = std::fs::copy(private.join(name), dir.join(format!("planted-{name}")));
        }
        let before = artifacts(&dir).len();
        let out = run_with_cache(&dir);
        assert_eq!(out.status.code(), Some(0), "{}: {}", dir.display(), describe(&out));
        assert_eq!(
            artifacts(&dir).len(),
            before,
            "{}: the cache was written",
            dir.display()
        );
    }
}

#[test]
fn without_a_home_there_is_no_shared_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let input = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n";
    let mut cmd = Command::new(support::bin());
    cmd.arg("fn")
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("KRM_PROMOTE_CACHE_DIR")
        .env("KRM_PROMOTE_PRECOMPILED", "off")
        .env("TMPDIR", tmp.path());
    let out = support::run_with_stdin(&mut cmd, input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing under TMPDIR"
    );
}

// Classes 4, 5, 6: preview's private copies.

/// A Git repository with one environment (`env/`, a kustomization over
/// `base/`), committed.
fn preview_repo() -> Workspace {
    let ws = Workspace::new(&[]);
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.25\n";
    write(
        &ws.root(),
        &[
            ("base/kustomization.yaml", "resources:\n- deployment.yaml\n"),
            ("base/deployment.yaml", deployment),
            ("env/kustomization.yaml", "resources:\n- ../base\n"),
            ("plain/cm.yaml", CONFIG_MAP),
        ],
    );
    git(&ws.root(), &["init", "-q"]);
    git(&ws.root(), &["add", "-A"]);
    git(&ws.root(), &["commit", "-qm", "base"]);
    ws
}

fn preview(ws: &Workspace, args: &[&str], cmd: impl FnOnce(&mut Command)) -> Output {
    let mut command = krm_promote();
    command.arg("preview").args(args).current_dir(ws.root());
    cmd(&mut command);
    command.output().unwrap()
}

#[test]
fn preview_copies_are_private_and_never_reused() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let ws = preview_repo();
    let bin = ws.tmp.path().join("bin");
    let record = ws.tmp.path().join("record");
    // Records the directory kustomize builds and the modes above it.
    executable(
        &bin.join("kubectl"),
        &format!(
            "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in /*) d=\"$a\";; esac; done\n\
             while [ \"$d\" != / ]; do case \"$(/usr/bin/basename \"$d\")\" in krm-promote-preview-*) \
             /usr/bin/stat -c '%n %a' \"$d\" >> {};; esac; d=$(/usr/bin/dirname \"$d\"); done\nexec {} \"$@\"\n",
            record.display(),
            kubectl.display()
        ),
    );
    std::fs::write(
        ws.root().join("base/deployment.yaml"),
        "# changed\n".to_string() + &std::fs::read_to_string(ws.root().join("base/deployment.yaml")).unwrap(),
    )
    .unwrap();
    for _ in 0..2 {
        let out = preview(&ws, &["env"], |c| {
            c.env("PATH", support::path_with(&bin));
        });
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    }
    let lines: Vec<String> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    let dirs: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert!(dirs.len() >= 2, "a new directory for every run: {lines:?}");
    for line in &lines {
        assert!(line.ends_with(" 700"), "private: {line}");
        let dir = line.split(' ').next().unwrap();
        assert!(!Path::new(dir).exists(), "removed afterwards: {dir}");
    }
}

#[test]
fn preview_never_follows_links_out_of_the_repository() {
    if support::tool("kubectl").is_none() {
        return;
    }
    // An untracked link in the working tree, and a committed one.
    for committed in [false, true] {
        let ws = preview_repo();
        symlink(ws.outside().join("secret.yaml"), ws.root().join("plain/leak.yaml")).unwrap();
        symlink("/proc/self/environ", ws.root().join("plain/environ.yaml")).unwrap();
        if committed {
            git(&ws.root(), &["add", "-A"]);
            git(&ws.root(), &["commit", "-qm", "links"]);
        }
        for format in ["human", "markdown", "json"] {
            let out = preview(&ws, &["plain", "--format", format], |c| {
                c.env("ATTACKER_SECRET", MARKER);
            });
            refused(&ws, &out, 2, "outside the repository");
        }
        // A kustomization reaching out through a link.
        symlink(ws.outside(), ws.root().join("env/outside")).unwrap();
        write(
            &ws.root(),
            &[("env/kustomization.yaml", "resources:\n- ../base\n- outside\n")],
        );
        let out = preview(&ws, &["env"], |_| {});
        refused(&ws, &out, 2, "outside the repository");
    }
}

/// A commit whose tree is built by hand: entries Git itself would never
/// write.
fn crafted_commit(root: &Path, entries: &[(&str, &str, &str)]) -> String {
    let mut tree = Vec::new();
    for (mode, name, content) in entries {
        let sha = if *mode == "40000" {
            content.to_string() // a tree id
        } else {
            let out = Command::new("git")
                .current_dir(root)
                .args(["hash-object", "-w", "--stdin"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(content.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        tree.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        tree.extend((0..20).map(|i| u8::from_str_radix(&sha[2 * i..2 * i + 2], 16).unwrap()));
    }
    let out = Command::new("git")
        .current_dir(root)
        .args(["hash-object", "-w", "-t", "tree", "--literally", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&tree)?;
            c.wait_with_output()
        })
        .unwrap();
    let tree = String::from_utf8(out.stdout).unwrap().trim().to_string();
    git(root, &["commit-tree", &tree, "-m", "crafted"]).trim().to_string()
}

#[test]
fn crafted_trees_cannot_write_outside_the_copy() {
    let ws = preview_repo();
    let root = ws.root();
    let target = ws.tmp.path().join("written");
    std::fs::create_dir(&target).unwrap();
    let inner = crafted_commit(&root, &[("100644", "x.yaml", CONFIG_MAP)]);
    let inner_tree = git(&root, &["rev-parse", &format!("{inner}^{{tree}}")])
        .trim()
        .to_string();
    let dotdot = crafted_commit(&root, &[("100644", "..", CONFIG_MAP), ("40000", "plain", &inner_tree)]);
    let nested = crafted_commit(&root, &[("40000", "..", &inner_tree), ("40000", "plain", &inner_tree)]);
    let link_then_dir = crafted_commit(
        &root,
        &[
            ("120000", "plain", target.to_str().unwrap()),
            ("40000", "plain", &inner_tree),
        ],
    );
    for (name, commit, message) in [
        ("a `..` file", dotdot, "refusing a tree entry named"),
        ("a `..` directory", nested, "refusing a tree entry named"),
        (
            "a link and a directory of one name",
            link_then_dir,
            "a parent is not a directory",
        ),
    ] {
        let out = preview(&ws, &["plain", "--base", &commit], |_| {});
        assert_eq!(out.status.code(), Some(2), "{name}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{name}: {}",
            describe(&out)
        );
        assert_eq!(
            std::fs::read_dir(&target).unwrap().count(),
            0,
            "{name}: wrote through the link"
        );
        assert!(
            !ws.tmp.path().join("x.yaml").exists() && !root.join("x.yaml").exists(),
            "{name}"
        );
    }
    // Option injection through --base.
    let out = preview(&ws, &["plain", "--base", "--output=/tmp/x"], |_| {});
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn changes_reached_through_any_spelling_are_rendered() {
    if support::tool("kubectl").is_none() {
        return;
    }
    for (kustomization, link) in [
        ("resources:\n- \"\\x2e\\x2e/base\"\n", false),
        ("resources:\n- ./../base\n", false),
        ("resources:\n- ../env/../base/\n", false),
        ("resources: [ '../base' ]\n", false),
        ("resources:\n- linked-base\n", true),
    ] {
        let ws = preview_repo();
        write(&ws.root(), &[("env/kustomization.yaml", kustomization)]);
        if link {
            symlink("../base", ws.root().join("env/linked-base")).unwrap();
        }
        git(&ws.root(), &["add", "-A"]);
        git(&ws.root(), &["commit", "-qm", "spelling"]);
        let path = ws.root().join("base/deployment.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("nginx:1.25", "nginx:1.26")).unwrap();
        let out = preview(&ws, &["env", "--format", "json"], |_| {});
        assert_eq!(out.status.code(), Some(0), "{kustomization}: {}", describe(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("nginx:1.26"),
            "{kustomization}: the change is shown: {stdout}"
        );
    }
}

// Class 10: sizes are checked before reading.

#[test]
fn huge_manifests_are_refused_before_they_are_read() {
    let ws = Workspace::new(&[("cm.yaml", CONFIG_MAP)]);
    // A sparse 3 GiB file: reading it would take seconds and gigabytes.
    let file = std::fs::File::create(ws.app().join("huge.yaml")).unwrap();
    file.set_len(3 << 30).unwrap();
    refused(&ws, &ws.generate(|_| {}), 2, "add up to more than 512 MiB");
}

// Class 12: the operator's policy is a floor.

#[test]
fn applications_cannot_loosen_the_operators_policy() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: evil.example.com/miner:latest\n";
    let config = "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  imagePolicies:\n    '*': {forbidMutableTags: false, allowedRegistries: [evil.example.com]}\n";
    let ws = Workspace::new(&[("deployment.yaml", deployment), ("krm-promote.yaml", config)]);
    let out = ws.generate(|c| {
        c.env("KRM_PROMOTE_FORBID_MUTABLE_TAGS", "true")
            .env("KRM_PROMOTE_ALLOWED_REGISTRIES", "ghcr.io/example")
            .env("ARGOCD_ENV_KRM_PROMOTE_FORBID_MUTABLE_TAGS", "false")
            .env("ARGOCD_ENV_KRM_PROMOTE_ALLOWED_REGISTRIES", "evil.example.com")
            .env(
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"forbid-mutable-tags","string":"false"},{"name":"allowed-registries","string":"evil.example.com"}]"#,
            );
    });
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("which is mutable") && stderr.contains("(operator policy)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("not from an allowed registry (ghcr.io/example) (operator policy)"),
        "{stderr}"
    );
    // An Application can still tighten it.
    let ws = Workspace::new(&[("deployment.yaml", &deployment.replace(":latest", ":1.0"))]);
    let out = ws.generate(|c| {
        c.env("KRM_PROMOTE_FORBID_MUTABLE_TAGS", "true")
            .env("ARGOCD_ENV_KRM_PROMOTE_REQUIRE_DIGEST", "true");
    });
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not pinned by digest"),
        "{}",
        describe(&out)
    );
}

// Class 13: malformed parameters and file names.

#[test]
fn malformed_parameters_are_usage_errors_not_crashes() {
    let ws = Workspace::new(&[("cm.yaml", CONFIG_MAP)]);
    for (params, message) in [
        (r#"[{"name":"no-such-setting","string":"x"}]"#, ""),
        (r#"[{"name":"","string":"x"}]"#, "non-empty name"),
        ("[{\"name\":\"a\\u0000b\",\"string\":\"x\"}]", "control characters"),
        (r#"[{"name":"environment","string":1}]"#, "must be a JSON string"),
        (r#"[{"name":"images","array":[{"x":1}]}]"#, "only strings"),
    ] {
        for command in ["generate", "parameters"] {
            let out = krm_promote()
                .arg(command)
                .current_dir(ws.app())
                .env("ARGOCD_APP_PARAMETERS", params)
                .output()
                .unwrap();
            let code = out.status.code();
            assert!(matches!(code, Some(0..=2)), "{command} {params}: {}", describe(&out));
            if message.is_empty() {
                if command == "generate" {
                    assert_eq!(code, Some(1), "unknown setting: {}", describe(&out));
                    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting"));
                }
            } else {
                assert_eq!(code, Some(2), "{command} {params}: {}", describe(&out));
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains(message),
                    "{}",
                    describe(&out)
                );
            }
        }
    }
}

#[test]
fn non_utf8_file_names_do_not_break_preview() {
    use std::os::unix::ffi::OsStrExt;
    let ws = preview_repo();
    let name = std::ffi::OsStr::from_bytes(b"plain/caf\xe9.yaml");
    std::fs::write(ws.root().join(name), CONFIG_MAP.replace("name: app", "name: cafe")).unwrap();
    let out = preview(&ws, &["plain", "--format", "json"], |_| {});
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cafe"),
        "{}",
        describe(&out)
    );
}

#[test]
fn preview_reads_only_the_blobs_a_render_needs() {
    let Some(time) = support::tool("time") else {
        return;
    };
    let ws = preview_repo();
    // 128 MiB in a directory no render reads, at both revisions.
    let big = ws.root().join("big/blob.yaml");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    std::fs::write(&big, vec![b'a'; 128 << 20]).unwrap();
    git(&ws.root(), &["add", "-A"]);
    git(&ws.root(), &["commit", "-qm", "big"]);
    write(&ws.root(), &[("plain/cm.yaml", &CONFIG_MAP.replace("a: b", "a: c"))]);
    let out = Command::new(time)
        .args(["-f", "maxrss=%M"])
        .arg(support::bin())
        .args(["preview", "plain", "--format", "json"])
        .env("KRM_PROMOTE_CACHE_DIR", support::cache_dir())
        .current_dir(ws.root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        kib < 100 << 10,
        "preview used {kib} KiB with a 128 MiB blob it does not need"
    );
}

#[test]
fn a_transformer_directory_change_is_previewed() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let ws = preview_repo();
    let tag = |t: &str| {
        format!(
            "apiVersion: builtin\nkind: ImageTagTransformer\nmetadata:\n  name: tag\nimageTag:\n  name: nginx\n  newTag: {t}\n"
        )
    };
    write(
        &ws.root(),
        &[
            (
                "env/kustomization.yaml",
                "resources:\n- ../base\ntransformers:\n- ../shared/tr\n",
            ),
            ("shared/tr/kustomization.yaml", "resources:\n- tag.yaml\n"),
            ("shared/tr/tag.yaml", &tag("1.0.0")),
        ],
    );
    git(&ws.root(), &["add", "-A"]);
    git(&ws.root(), &["commit", "-qm", "transformer"]);
    write(&ws.root(), &[("shared/tr/tag.yaml", &tag("9.9.9"))]);
    let out = preview(&ws, &["env", "--format", "json"], |_| {});
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nginx:9.9.9"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_link_in_the_source_path_cannot_widen_the_repository() {
    let ws = Workspace::new(&[]);
    // repo/attack/repo -> .. ; the Application's path is attack/repo/web,
    // which ends the directory repo/web, so stripping it would make the
    // workspace (with outside/) the repository.
    std::fs::create_dir_all(ws.root().join("attack")).unwrap();
    symlink("..", ws.root().join("attack/repo")).unwrap();
    write(
        &ws.root(),
        &[("web/kustomization.yaml", "resources:\n- ../../outside\n")],
    );
    let out = krm_promote()
        .arg("generate")
        .current_dir(ws.root().join("attack/repo/web"))
        .env("ARGOCD_APP_SOURCE_PATH", "attack/repo/web")
        .output()
        .unwrap();
    refused(&ws, &out, 2, "through real directories");
}

#[test]
fn messages_show_no_setting_value_and_no_terminal_escape() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: \"w\\e[31mRED\"\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: \"evil.example/x\\e]0;TITLE\\a:latest\"\n";
    let ws = Workspace::new(&[("deployment.yaml", deployment)]);
    let out = ws.generate(|c| {
        c.env("KRM_PROMOTE_FORBID_MUTABLE_TAGS", "true").env(
            "ARGOCD_APP_PARAMETERS",
            format!(r#"[{{"name":"sync-wave","string":"{MARKER}"}},{{"name":"environment","string":"{MARKER}"}}]"#),
        );
    });
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    no_leak(&ws, &out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("(the value, not shown)"),
        "{}",
        describe(&out)
    );
    // Valid settings: the policy error quotes the hostile name and image.
    let out = ws.generate(|c| {
        c.env("KRM_PROMOTE_FORBID_MUTABLE_TAGS", "true");
    });
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        !out.stderr.contains(&0x1b) && !out.stderr.contains(&0x07),
        "{}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\\u{1b}"),
        "{}",
        describe(&out)
    );
}

#[test]
fn preview_refuses_huge_files_before_reading_them() {
    let ws = preview_repo();
    // A sparse 3 GiB file next to the kustomization, named nowhere.
    std::fs::File::create(ws.root().join("env/huge.yaml"))
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    if support::tool("kubectl").is_none() {
        return;
    }
    let out = preview(&ws, &["env", "--format", "json"], |_| {});
    refused(&ws, &out, 2, "env/huge.yaml: larger than 512 MiB");
}
