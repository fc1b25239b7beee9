//! krm-promote under the real `kpt` (1.0.0-beta.56 on the build machines).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{self, describe, snapshot};

fn example_copy(dir: &Path) -> std::path::PathBuf {
    let pkg = dir.join("quickstart");
    support::copy_dir(&support::repo().join("examples/quickstart/package"), &pkg);
    pkg
}

/// `kpt` with krm-promote on PATH (the Kptfile names it by bare name).
fn kpt(kpt: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(kpt);
    cmd.current_dir(cwd)
        .env("PATH", support::path_with(support::bin().parent().unwrap()))
        .env("KRM_PROMOTE_CACHE_DIR", support::cache_dir());
    cmd
}

#[test]
fn fn_render_in_place_twice_changes_nothing() {
    let Some(kpt_bin) = support::tool("kpt") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pkg = example_copy(tmp.path());
    let before = snapshot(&pkg);
    for run in 1..=2 {
        let out = kpt(&kpt_bin, tmp.path())
            .args(["fn", "render", "quickstart", "--allow-exec"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "run {run}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("[info]: environment staging: 4 resources, 0 promotions"),
            "{stderr}"
        );
        // Comments, key order, quoting and file layout survive: the package
        // is byte-for-byte what it was.
        assert_eq!(snapshot(&pkg), before, "run {run} changed the package");
    }
}

#[test]
fn fn_eval_exec_with_key_value_config() {
    let Some(kpt_bin) = support::tool("kpt") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pkg = example_copy(tmp.path());
    let before = snapshot(&pkg);
    let out = kpt(&kpt_bin, tmp.path())
        .args(["fn", "eval", "quickstart", "--exec"])
        .arg(support::bin())
        .args(["--", "environment=production"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[info]: environment production: 4 resources, 0 promotions"),
        "{}",
        describe(&out)
    );
    assert_eq!(snapshot(&pkg), before);
}

#[test]
fn fn_eval_fails_on_error_results_and_keeps_the_package() {
    let Some(kpt_bin) = support::tool("kpt") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pkg = example_copy(tmp.path());
    let before = snapshot(&pkg);
    let results = tmp.path().join("results");
    let out = kpt(&kpt_bin, tmp.path())
        .args(["fn", "eval", "quickstart", "--results-dir"])
        .arg(&results)
        .arg("--exec")
        .arg(support::bin())
        .args(["--", "enviroment=staging"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[error] data.enviroment: unknown key (did you mean \"environment\"?)"),
        "{stderr}"
    );
    assert_eq!(snapshot(&pkg), before, "a failed eval must not touch the package");
    let results = std::fs::read_to_string(results.join("results.yaml")).unwrap();
    assert!(
        results.contains("exitCode: 1") && results.contains("severity: error"),
        "{results}"
    );
}

#[test]
fn fn_source_pipe_sink() {
    let Some(kpt_bin) = support::tool("kpt") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pkg = example_copy(tmp.path());
    let source = kpt(&kpt_bin, tmp.path())
        .args(["fn", "source", "quickstart"])
        .output()
        .unwrap();
    assert_eq!(source.status.code(), Some(0), "{}", describe(&source));
    let function = support::run_with_stdin(&mut support::krm_promote(), &source.stdout);
    assert_eq!(function.status.code(), Some(0), "{}", describe(&function));
    let mut sink = kpt(&kpt_bin, tmp.path())
        .args(["fn", "sink", "out"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut sink.stdin.take().unwrap(), &function.stdout).unwrap();
    let sunk = sink.wait_with_output().unwrap();
    assert_eq!(sunk.status.code(), Some(0), "{}", describe(&sunk));
    let written = snapshot(&tmp.path().join("out"));
    let names: Vec<&str> = written.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Kptfile", "deployment.yaml", "promote.yaml", "service.yaml"]);
    for (name, text) in &written {
        assert_eq!(
            text,
            &std::fs::read_to_string(pkg.join(name)).unwrap(),
            "{name} changed through source | krm-promote | sink"
        );
    }
}

/// The ready-made ResourceLists used by the README's quick start are exactly
/// what `kpt fn source` produces from the example packages.
#[test]
fn example_resource_lists_match_kpt_fn_source() {
    let Some(kpt_bin) = support::tool("kpt") else {
        return;
    };
    let examples = support::repo().join("examples");
    for (file, package, config) in [
        (
            "quickstart/resource-list.yaml",
            "quickstart/package",
            "quickstart/package/promote.yaml",
        ),
        (
            "3scale-gitops/staging-resource-list.yaml",
            "3scale-gitops/environments/staging",
            "3scale-gitops/environments/staging/promote.yaml",
        ),
    ] {
        let out = kpt(&kpt_bin, &examples)
            .args(["fn", "source", package, "--fn-config", config])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let committed = std::fs::read_to_string(examples.join(file)).unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            committed,
            "{file} is stale: regenerate it with `kpt fn source {package} --fn-config {config} > {file}` (in examples/)"
        );
    }
}
