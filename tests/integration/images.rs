//! Image overrides compared with kustomize's own `images:` on the same
//! inputs (`kubectl kustomize`, kustomize v5.5.0). Both outputs go through
//! `kubectl kustomize` so that formatting and ordering are normalized; the
//! comparison is then byte for byte.

use std::path::Path;
use std::process::Command;

use crate::support::{self, describe, krm_promote, run_with_stdin};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn deployment(name: &str, containers: &str, init: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n{containers}{init}"
    )
}

fn containers(images: &[&str]) -> String {
    images
        .iter()
        .enumerate()
        .map(|(i, img)| format!("      - name: c{i}\n        image: {img}\n"))
        .collect()
}

/// (case, resources, kustomize `images:` entries as YAML flow mappings)
fn cases() -> Vec<(&'static str, String, Vec<String>)> {
    let d = |imgs: &[&str]| deployment("web", &containers(imgs), "");
    vec![
        ("tag only", d(&["nginx:1.20"]), vec!["{name: nginx, newTag: '1.25'}".into()]),
        ("name only", d(&["nginx:1.20"]), vec!["{name: nginx, newName: registry.example.com/mirror/nginx}".into()]),
        ("name and tag", d(&["nginx"]), vec!["{name: nginx, newName: ghcr.io/org/nginx, newTag: 1.25.3}".into()]),
        ("digest only", d(&["nginx:1.20"]), vec![format!("{{name: nginx, digest: '{D1}'}}")]),
        ("tag and digest", d(&["nginx:1.20"]), vec![format!("{{name: nginx, newTag: '1.21', digest: '{D2}'}}")]),
        ("registry with port", d(&["localhost:5000/team/app:1.0", "localhost:5000/team/other:1.0"]), vec!["{name: 'localhost:5000/team/app', newTag: '2.0'}".into()]),
        (
            "init containers",
            deployment("web", &containers(&["app:1"]), "      initContainers:\n      - name: init\n        image: busybox:1.36\n"),
            vec!["{name: busybox, newTag: '1.37'}".into(), "{name: app, newTag: '2'}".into()],
        ),
        (
            "cronjob",
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  schedule: '0 3 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: job\n            image: ghcr.io/org/batch:1.0\n".into(),
            vec!["{name: ghcr.io/org/batch, newTag: '1.1'}".into()],
        ),
        (
            "custom resource with pod templates",
            "apiVersion: example.com/v1\nkind: WorkerPool\nmetadata:\n  name: pool\nspec:\n  template:\n    spec:\n      containers:\n      - name: w\n        image: ghcr.io/org/worker:3\n  canary:\n    podTemplate:\n      spec:\n        initContainers:\n        - name: warm\n          image: ghcr.io/org/worker:3\n".into(),
            vec!["{name: ghcr.io/org/worker, newTag: '4'}".into()],
        ),
        (
            "image twice across kinds",
            format!(
                "{}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: debug\nspec:\n  containers:\n  - name: a\n    image: redis:7.0\n  - name: b\n    image: redis:7.0\n",
                d(&["redis:7.0", "nginx:1"])
            ),
            vec!["{name: redis, newTag: 7.2.4}".into()],
        ),
        ("no match", d(&["nginx:1.20"]), vec!["{name: httpd, newTag: '2.4'}".into(), "{name: ngin, newTag: '9'}".into()]),
        (
            "name with a tag matches that tag only",
            d(&["nginx:1.20", "nginx:1.20-alpine", &format!("nginx:1.20@{D1}"), "nginx:1.2"]),
            vec!["{name: 'nginx:1.20', newTag: '1.21'}".into()],
        ),
        ("digest input, new tag", d(&[&format!("app@{D1}")]), vec!["{name: app, newTag: '5'}".into()]),
        (
            "chained entries see earlier results",
            d(&["nginx:1.20"]),
            vec!["{name: nginx, newName: ghcr.io/mirror/nginx}".into(), "{name: ghcr.io/mirror/nginx, newTag: '1.27'}".into()],
        ),
        (
            "statefulset daemonset job",
            [
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  selector:\n    matchLabels: {app: db}\n  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n      - name: pg\n        image: postgres:15\n",
                "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {app: agent}\n  template:\n    metadata:\n      labels: {app: agent}\n    spec:\n      containers:\n      - name: a\n        image: postgres:15\n",
                "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: m\n        image: postgres:15\n",
            ]
            .join("---\n"),
            vec!["{name: postgres, newName: docker.io/library/postgres, newTag: '16.1'}".into()],
        ),
    ]
}

fn kustomize(kubectl: &Path, dir: &Path) -> String {
    let out = Command::new(kubectl).arg("kustomize").arg(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn overrides_match_kustomize_images() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let cases = cases();
    assert!(cases.len() >= 12);
    let tmp = tempfile::tempdir().unwrap();
    for (i, (name, resources, images)) in cases.iter().enumerate() {
        // kustomize's own `images:`.
        let expected_dir = tmp.path().join(format!("{i}-kustomize"));
        std::fs::create_dir_all(&expected_dir).unwrap();
        std::fs::write(expected_dir.join("resources.yaml"), resources).unwrap();
        let entries: String = images.iter().map(|e| format!("- {e}\n")).collect();
        std::fs::write(
            expected_dir.join("kustomization.yaml"),
            format!("resources:\n- resources.yaml\nimages:\n{entries}"),
        )
        .unwrap();
        let expected = kustomize(&kubectl, &expected_dir);

        // krm-promote with the same entries in its functionConfig.
        let mut list = String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
        for doc in resources.split("---\n") {
            for (j, line) in doc.lines().enumerate() {
                list.push_str(if j == 0 { "- " } else { "  " });
                list.push_str(line);
                list.push('\n');
            }
        }
        list.push_str("functionConfig:\n  apiVersion: fn.krm-promote.dev/v1alpha1\n  kind: KrmPromote\n  metadata:\n    name: images\n  spec:\n    images:\n");
        for e in images {
            list.push_str(&format!("    - {e}\n"));
        }
        let out = run_with_stdin(&mut krm_promote(), list.as_bytes());
        assert_eq!(out.status.code(), Some(0), "{name}: {}", describe(&out));
        let doc: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
        let stream: Vec<String> = doc["items"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|item| serde_yaml::to_string(item).unwrap())
            .collect();
        let actual_dir = tmp.path().join(format!("{i}-krm-promote"));
        std::fs::create_dir_all(&actual_dir).unwrap();
        std::fs::write(actual_dir.join("resources.yaml"), stream.join("---\n")).unwrap();
        std::fs::write(actual_dir.join("kustomization.yaml"), "resources:\n- resources.yaml\n").unwrap();
        let actual = kustomize(&kubectl, &actual_dir);
        assert_eq!(actual, expected, "case {name:?}: krm-promote and kustomize disagree");

        // Each case really exercises a change (or, for "no match", none),
        // and every change or unmatched override is reported.
        let plain_dir = tmp.path().join(format!("{i}-plain"));
        std::fs::create_dir_all(&plain_dir).unwrap();
        std::fs::write(plain_dir.join("resources.yaml"), resources).unwrap();
        std::fs::write(plain_dir.join("kustomization.yaml"), "resources:\n- resources.yaml\n").unwrap();
        let plain = kustomize(&kubectl, &plain_dir);
        let results = doc["results"].as_sequence().unwrap();
        let changes = results
            .iter()
            .filter(|r| r["severity"] == "info" && r["message"].as_str().unwrap().starts_with("image "))
            .count();
        let warnings = results.iter().filter(|r| r["severity"] == "warning").count();
        if *name == "no match" {
            assert_eq!(expected, plain, "{name}");
            assert_eq!(
                (changes, warnings),
                (0, 2),
                "{name}: one warning per unmatched override"
            );
        } else {
            assert_ne!(expected, plain, "{name}: the case changes nothing");
            assert!(
                changes > 0 && warnings == 0,
                "{name}: {changes} changes, {warnings} warnings"
            );
        }
    }
}
