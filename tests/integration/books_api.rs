//! `examples/books-api`: the new tag reaches the rendered Deployment from
//! the Argo CD Application (plugin parameter or plugin env), and production's
//! policy rejects `:latest`. Rendered by kustomize v5.5.0's KRM function
//! runtime (container runtime with a stand-in `docker`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{self, describe};

struct Setup {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    shim: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("books-api");
    support::copy_dir(&support::repo().join("examples/books-api"), &repo);
    for env in ["staging", "production"] {
        let config = repo.join("overlays").join(env).join("promote.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        let container = text.replace(
            "exec:\n        path: krm-promote",
            "container:\n        image: example.com/krm-promote:v1",
        );
        assert_ne!(container, text);
        std::fs::write(&config, container).unwrap();
    }
    let shim = tmp.path().join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(shim.join("docker"), "#!/bin/sh\nexec \"$KRM_FN_EXEC\"\n").unwrap();
    std::fs::set_permissions(shim.join("docker"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Setup { _tmp: tmp, repo, shim }
}

fn render(kubectl: &Path, s: &Setup, env: &str, argo: &[(&str, &str)]) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(s.shim.clone()).chain(std::env::split_paths(&path))).unwrap();
    let mut cmd = Command::new(kubectl);
    cmd.args(["kustomize", "--enable-alpha-plugins"])
        .arg(s.repo.join("overlays").join(env))
        .env("PATH", path)
        .env("KRM_FN_EXEC", support::bin())
        .env("KRM_PROMOTE_CACHE_DIR", support::cache_dir());
    for (k, v) in argo {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn images(out: &Output) -> Vec<String> {
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_slice(&out.stdout)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").expect("a Deployment");
    let spec = &deployment["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| {
            spec[*k]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|c| c["image"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn staging_takes_the_tag_image_updater_wrote_into_the_plugin_env() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let s = setup();
    let out = render(&kubectl, &s, "staging", &[("ARGOCD_ENV_BOOKS_API_IMAGE_TAG", "2.0.1")]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        images(&out),
        ["ghcr.io/parraletz/books-api:2.0.1", "ghcr.io/parraletz/books-api:2.0.1"]
    );
    // Without the env var, the base's tag stays.
    let out = render(&kubectl, &s, "staging", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        images(&out),
        ["ghcr.io/parraletz/books-api:1.9.0", "ghcr.io/parraletz/books-api:1.9.0"]
    );
}

#[test]
fn production_takes_the_tag_from_the_images_parameter() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let s = setup();
    let params = r#"[{"array":["ghcr.io/parraletz/books-api:2.0.0"],"name":"images"}]"#;
    let out = render(&kubectl, &s, "production", &[("ARGOCD_APP_PARAMETERS", params)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        images(&out),
        ["ghcr.io/parraletz/books-api:2.0.0", "ghcr.io/parraletz/books-api:2.0.0"]
    );
}

#[test]
fn production_rejects_latest() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let s = setup();
    let params = r#"[{"array":["ghcr.io/parraletz/books-api:latest"],"name":"images"}]"#;
    let out = render(&kubectl, &s, "production", &[("ARGOCD_APP_PARAMETERS", params)]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "a failed render prints no manifests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for path in [
        "spec.template.spec.containers[0].image",
        "spec.template.spec.initContainers[0].image",
    ] {
        let line = format!(
            "[error] apps/v1/Deployment/books-production/books-api {path}: image ghcr.io/parraletz/books-api:latest has tag \"latest\", which is mutable; production requires a fixed tag or a digest"
        );
        assert!(stderr.contains(&line), "missing {line:?} in\n{stderr}");
    }
}
