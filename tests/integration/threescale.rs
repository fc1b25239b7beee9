//! The `examples/3scale-gitops` repository under the real orchestrators:
//! a backend change re-promotes exactly the products that use it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{self, describe, snapshot};

fn example_copy(dir: &Path) -> PathBuf {
    let repo = dir.join("3scale-gitops");
    support::copy_dir(&support::repo().join("examples/3scale-gitops"), &repo);
    repo
}

/// Promotion files written by `kpt fn render`: file name -> promotion name.
fn promotion_files(env_dir: &Path) -> BTreeMap<String, String> {
    snapshot(env_dir)
        .into_iter()
        .filter(|(name, _)| name.contains("proxyconfigpromote-"))
        .map(|(name, text)| {
            let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            (name, doc["metadata"]["name"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn kpt_render_promotes_and_repromotes_only_dependents() {
    let Some(kpt) = support::tool("kpt") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = example_copy(tmp.path());
    let staging = repo.join("environments/staging");
    let render = || {
        let out = Command::new(&kpt)
            .args(["fn", "render", "--allow-exec", "--truncate-output=false"])
            .arg(&staging)
            .env("PATH", support::path_with(support::bin().parent().unwrap()))
            .env("KRM_PROMOTE_CACHE_DIR", support::cache_dir())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    let stderr = render();
    assert!(
        stderr.contains("environment staging: 10 resources, 3 promotions"),
        "{stderr}"
    );
    let first = promotion_files(&staging);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        [
            "products/proxyconfigpromote-accounts-api.yaml",
            "products/proxyconfigpromote-orders-api.yaml",
            "products/proxyconfigpromote-payments-api.yaml"
        ]
    );

    // Rendering again changes nothing at all.
    let before = snapshot(&staging);
    render();
    assert_eq!(snapshot(&staging), before, "a second render changed the package");

    // The payments backend changes: payments-api and orders-api use it.
    let backend = staging.join("backends/payments.yaml");
    let text = std::fs::read_to_string(&backend).unwrap();
    std::fs::write(
        &backend,
        text.replace("payments.staging.svc", "payments-v2.staging.svc"),
    )
    .unwrap();
    render();
    let second = promotion_files(&staging);
    let changed: Vec<&str> = first
        .keys()
        .filter(|k| first[*k] != second[*k])
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        changed,
        [
            "products/proxyconfigpromote-orders-api.yaml",
            "products/proxyconfigpromote-payments-api.yaml"
        ]
    );
    // Nothing but the promotions and the edited backend changed.
    let after = snapshot(&staging);
    let touched: Vec<&str> = after
        .iter()
        .zip(&before)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.0.as_str())
        .collect();
    assert_eq!(
        touched,
        [
            "backends/payments.yaml",
            "products/proxyconfigpromote-orders-api.yaml",
            "products/proxyconfigpromote-payments-api.yaml"
        ]
    );
}

/// The environments' kustomizations, built by kustomize v5.5.0 with its KRM
/// function runtime (the container runtime with a stand-in `docker`, since
/// kubectl cannot run exec functions).
#[test]
fn kustomize_builds_each_environment_with_promotions() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = example_copy(tmp.path());
    let shim_dir = support::docker_shim(tmp.path());

    for (env, production) in [("staging", false), ("production", true)] {
        let dir = repo.join("environments").join(env);
        let config = dir.join("promote.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        let container = text.replace(
            "exec:\n        path: krm-promote",
            "container:\n        image: example.com/krm-promote:v1",
        );
        assert_ne!(container, text, "promote.yaml declares the exec function");
        std::fs::write(&config, container).unwrap();

        let out = Command::new(&kubectl)
            .args(["kustomize", "--enable-alpha-plugins"])
            .arg(&dir)
            .env("PATH", support::path_with(&shim_dir))
            .env("KRM_FN_EXEC", support::bin())
            .env("KRM_PROMOTE_CACHE_DIR", support::cache_dir())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{env}: {}", describe(&out));
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_slice(&out.stdout)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let promotions: Vec<&serde_yaml::Value> = docs.iter().filter(|d| d["kind"] == "ProxyConfigPromote").collect();
        assert_eq!(promotions.len(), 3, "{env}");
        for p in promotions {
            let name = p["metadata"]["name"].as_str().unwrap();
            assert!(name.contains(&format!("-{env}-")), "{name}");
            assert_eq!(p["spec"]["production"].as_bool(), Some(production));
            assert_eq!(
                p["metadata"]["namespace"].as_str(),
                Some(format!("threescale-{env}").as_str())
            );
        }
        // The functionConfig is local-config: kustomize drops it.
        assert!(docs.iter().all(|d| d["kind"] != "KrmPromote"));
        assert_eq!(docs.len(), 11, "{env}: 3 backends, 3 products, 2 secrets, 3 promotions");
    }
}
