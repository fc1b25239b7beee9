//! Shared helpers: the binary under test, external tools, temp packages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use krm_promote_host::cache::{CacheMode, Loader};
use krm_promote_host::runtime::Guest;

/// The `krm-promote` binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_krm-promote"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A compiled-component cache shared by all tests of this run.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("krm-promote-cache")
}

/// The guest, loaded once per test binary.
pub fn guest() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| {
        Guest::load(&Loader {
            precompiled: true,
            cache: CacheMode::Dir(cache_dir()),
        })
        .unwrap()
    })
}

/// A command for the binary under test, with the test cache.
pub fn krm_promote() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env("KRM_PROMOTE_CACHE_DIR", cache_dir());
    cmd
}

/// Runs `cmd` with `stdin`, returning its output.
pub fn run_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the command");
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The child may exit before reading everything (e.g. input too
        // large); a broken pipe is expected then.
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("waiting for the command");
    writer.join().unwrap();
    out
}

/// Finds an external tool on PATH. When it is missing, the test fails if
/// `KRM_PROMOTE_REQUIRE_TOOLS` is set (as in CI) and is skipped otherwise.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("KRM_PROMOTE_REQUIRE_TOOLS").is_some() {
            panic!("`{name}` is not on PATH, and KRM_PROMOTE_REQUIRE_TOOLS is set");
        }
        eprintln!("SKIPPED: `{name}` is not on PATH (set KRM_PROMOTE_REQUIRE_TOOLS=1 to make this a failure)");
    }
    found
}

/// Text of a command's stdout/stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// All files under `dir` with their contents, sorted by relative path.
pub fn snapshot(dir: &Path) -> Vec<(String, String)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Whether golden files should be rewritten (`BLESS=1`).
pub fn bless() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| v != "0")
}

/// `PATH` with `dir` first.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path))).unwrap()
}

/// Writes a stand-in `docker` into `dir/shim` and returns that directory.
/// kustomize's container runtime runs `docker run --rm -i ... <image>`; the
/// stand-in ignores docker's arguments and runs `$KRM_FN_EXEC` with the same
/// stdin, stdout and stderr (the build machines have no container engine).
pub fn docker_shim(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let shim = dir.join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(shim.join("docker"), "#!/bin/sh\nexec \"$KRM_FN_EXEC\"\n").unwrap();
    std::fs::set_permissions(shim.join("docker"), std::fs::Permissions::from_mode(0o755)).unwrap();
    shim
}

/// Runs `git` in `dir` with a fixed identity and branch name; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.email=ci@example.com",
            "-c",
            "user.name=CI",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}
