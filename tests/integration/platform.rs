//! The platform-gitops example is what its generator writes: the committed
//! tree is compared with a fresh run, file by file.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support;

/// The generated trees of an example directory: path -> content.
fn files(root: &Path) -> BTreeMap<String, String> {
    support::snapshot(root)
        .into_iter()
        .filter(|(path, _)| ["apps/", "values/", "argocd/"].iter().any(|top| path.starts_with(top)))
        .collect()
}

/// Runs the example's `generate.sh` with `args` into `dest`.
fn generate(args: &[&str], dest: &Path) -> std::process::Output {
    Command::new("bash")
        .arg(support::repo().join("examples/platform-gitops/generate.sh"))
        .args(args)
        .arg(dest)
        .output()
        .unwrap()
}

/// `generate.sh` with its defaults reproduces the committed example.
#[test]
fn committed_example_is_the_generator_output() {
    let example = support::repo().join("examples/platform-gitops");
    let dest = tempfile::tempdir().unwrap();
    let out = generate(&[], dest.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated = files(dest.path());
    let committed = files(&example);
    let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&generated),
        "run examples/platform-gitops/generate.sh to refresh the example"
    );
    for (name, bytes) in &generated {
        assert!(
            committed[name] == *bytes,
            "{name} differs from the generator's output; run examples/platform-gitops/generate.sh"
        );
    }
}

/// Larger organisations: the generator scales and validates its argument.
#[test]
fn generator_writes_the_requested_number_of_applications() {
    let dest = tempfile::tempdir().unwrap();
    let out = generate(&["--apps", "40"], dest.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let count = |env: &str| {
        std::fs::read_dir(dest.path().join("values").join(env))
            .unwrap()
            .map(|team| std::fs::read_dir(team.unwrap().path()).unwrap().count())
            .sum::<usize>()
    };
    assert_eq!([count("dev"), count("staging"), count("prod")], [40, 40, 40]);
    let bad = generate(&["--apps", "many"], dest.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--apps needs a number"));
}
