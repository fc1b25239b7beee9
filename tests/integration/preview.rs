//! `krm-promote preview` on a Git history built from the examples.

use std::path::Path;

use serde_json::Value;

use crate::support::{self, describe, git};

/// A repository holding the examples, with one commit on `main`.
fn repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    support::copy_dir(&support::repo().join("examples"), &tmp.path().join("examples"));
    git(tmp.path(), &["init", "-q"]);
    git(tmp.path(), &["add", "-A"]);
    git(tmp.path(), &["commit", "-qm", "base"]);
    tmp
}

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn preview(root: &Path, args: &[&str]) -> std::process::Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    support::krm_promote()
        .arg("preview")
        .args(args)
        .current_dir(root)
        .env("PATH", path)
        .output()
        .unwrap()
}

fn json_preview(root: &Path, paths: &[&str]) -> Value {
    let mut args = vec!["--format", "json"];
    args.extend(paths);
    let out = preview(root, &args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn created(env: &Value) -> Vec<(String, Vec<String>)> {
    env["promotions_created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let reasons = p["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            (p["product"].as_str().unwrap().to_string(), reasons)
        })
        .collect()
}

fn pruned(env: &Value) -> Vec<String> {
    env["promotions_pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_backend_change_previews_exactly_its_dependent_products() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let repo = repo();
    let root = repo.path();
    for env in ["staging", "production"] {
        edit(
            root,
            &format!("examples/3scale-gitops/environments/{env}/backends/payments.yaml"),
            "pattern: /transactions$",
            "pattern: /transactions/{id}$",
        );
    }
    let status_before = git(root, &["status", "--porcelain"]);
    let report = json_preview(
        root,
        &[
            "examples/3scale-gitops/environments/staging",
            "examples/3scale-gitops/environments/production",
        ],
    );
    assert_eq!(report["changed"], true);
    let envs = report["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 2);
    for env in envs {
        let because = vec!["Backend/payments-backend changed: spec.mappingRules".to_string()];
        assert_eq!(
            created(env),
            [
                ("orders-api".to_string(), because.clone()),
                ("payments-api".to_string(), because)
            ],
            "{}",
            env["path"]
        );
        assert_eq!(pruned(env), ["orders-api", "payments-api"]);
        assert!(env["images"].as_array().unwrap().is_empty());
        let statuses: Vec<&str> = env["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["changed", "replaced", "replaced"]);
    }
    let production = &envs[1];
    assert!(
        production["promotions_created"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["production"] == true)
    );

    // Reading the base revision touched neither the working tree nor the
    // index, and left no worktree behind.
    assert_eq!(git(root, &["status", "--porcelain"]), status_before);
    assert_eq!(git(root, &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn an_application_plan_change_promotes_nothing() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let repo = repo();
    let root = repo.path();
    edit(
        root,
        "examples/3scale-gitops/environments/staging/products/payments-api.yaml",
        "value: 100",
        "value: 250",
    );
    let report = json_preview(root, &["examples/3scale-gitops/environments/staging"]);
    let env = &report["environments"][0];
    assert!(created(env).is_empty() && pruned(env).is_empty(), "{env}");
    let changes: Vec<&str> = env["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["Product/threescale-staging/payments-api"]);
}

#[test]
fn an_image_tag_change_shows_only_image_changes() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let repo = repo();
    let root = repo.path();
    edit(
        root,
        "examples/books-api/base/deployment.yaml",
        "image: ghcr.io/parraletz/books-api:1.9.0",
        "image: ghcr.io/parraletz/books-api:1.9.1",
    );
    let report = json_preview(
        root,
        &[
            "examples/books-api/overlays/staging",
            "examples/books-api/overlays/production",
        ],
    );
    for env in report["environments"].as_array().unwrap() {
        assert!(created(env).is_empty() && pruned(env).is_empty());
        let images: Vec<(String, String, String)> = env["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["field"].as_str().unwrap().into(),
                    i["from"].as_str().unwrap().into(),
                    i["to"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            images,
            [(
                "spec.template.spec.initContainers[migrate].image".to_string(),
                "ghcr.io/parraletz/books-api:1.9.0".to_string(),
                "ghcr.io/parraletz/books-api:1.9.1".to_string()
            )],
            "{}: only the migration init container changed (edited first; the API container keeps 1.9.0)",
            env["path"]
        );
    }
}

#[test]
fn exit_code_and_formats() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let repo = repo();
    let root = repo.path();
    let env = "examples/3scale-gitops/environments/staging";

    // Nothing changed: exit 0 even with --exit-code.
    let out = preview(root, &["--exit-code", env]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("0 promotions to create, 0 promotions to prune, 0 image changes, 0 resources changed")
    );

    edit(
        root,
        &format!("{env}/backends/catalog.yaml"),
        "catalog.staging.svc",
        "catalog-v2.staging.svc",
    );
    let out = preview(root, &["--exit-code", env]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let human = String::from_utf8(out.stdout).unwrap();
    assert!(
        human.contains("promote orders-api to the staging gateway as ProxyConfigPromote orders-api-staging-"),
        "{human}"
    );
    assert!(
        human.contains("because Backend/catalog-backend changed: spec.privateBaseURL"),
        "{human}"
    );
    assert!(!human.contains('\x1b'), "no colour when stdout is not a terminal");

    let out = preview(root, &["--format", "markdown", env]);
    assert_eq!(out.status.code(), Some(0));
    let markdown = String::from_utf8(out.stdout).unwrap();
    assert!(markdown.starts_with("## krm-promote preview\n"), "{markdown}");
    assert!(
        markdown.contains("| promote | `orders-api` (staging gateway) |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("```diff\n--- base/Backend/threescale-staging/catalog-backend"),
        "{markdown}"
    );

    let out = preview(root, &["--format", "yaml", env]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format must be human, markdown or json"));
}

/// Without `--base`, a branch is compared with its merge-base with the
/// upstream branch, so commits on the branch are part of the preview.
#[test]
fn default_base_is_the_merge_base_with_the_upstream() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let repo = repo();
    let root = repo.path();
    git(root, &["checkout", "-qb", "feature"]);
    git(root, &["branch", "-q", "--set-upstream-to", "main"]);
    edit(
        root,
        "examples/3scale-gitops/environments/staging/backends/accounts.yaml",
        "last: false",
        "last: true",
    );
    git(root, &["commit", "-qam", "accounts: stop after the first match"]);
    let report = json_preview(root, &["examples/3scale-gitops/environments/staging"]);
    let products: Vec<String> = created(&report["environments"][0])
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(products, ["accounts-api", "payments-api"]);
    // Against HEAD explicitly, the committed change is not a change.
    let report = {
        let out = preview(
            root,
            &[
                "--format",
                "json",
                "--base",
                "HEAD",
                "examples/3scale-gitops/environments/staging",
            ],
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(report["changed"], false);
}

/// Preview builds krm-promote's own transformer entry itself, but refuses
/// any other function a kustomization asks for: no code from the repository.
#[test]
fn preview_refuses_foreign_functions() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let repo = repo();
    let root = repo.path();
    let env = root.join("examples/3scale-gitops/environments/staging");
    std::fs::write(
        env.join("evil.yaml"),
        "apiVersion: example.com/v1\nkind: Evil\nmetadata:\n  name: x\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./evil.sh\n",
    )
    .unwrap();
    std::fs::write(env.join("evil.sh"), "#!/bin/sh\ntouch \"$(dirname \"$0\")/ran\"\n").unwrap();
    edit(
        root,
        "examples/3scale-gitops/environments/staging/kustomization.yaml",
        "  - promote.yaml\n",
        "  - promote.yaml\n  - evil.yaml\n",
    );
    let out = preview(root, &["examples/3scale-gitops/environments/staging"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("never runs code from the repository"),
        "{}",
        describe(&out)
    );
    assert!(!env.join("ran").exists());
}
