//! `examples/argocd`: the install manifests build and say the same thing.
//!
//! The kustomization layers the sidecar over Argo CD's own install
//! manifest (a URL). Tests do not fetch: they build it with a faithful
//! stand-in of that manifest's `argocd-repo-server` Deployment (no
//! namespace, the `var-files` and `plugins` emptyDirs the sidecar mounts,
//! as in Argo CD v3.2.0's `manifests/install.yaml`).

use std::path::Path;
use std::process::Command;

use serde_yaml::Value;

use crate::support::{self, describe};

const INSTALL_URL: &str = "https://raw.githubusercontent.com/argoproj/argo-cd/v3.2.0/manifests/install.yaml";

/// The repo-server Deployment as Argo CD's install manifest has it, cut
/// down to what the patch touches.
const STAND_IN: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app.kubernetes.io/component: repo-server
    app.kubernetes.io/name: argocd-repo-server
    app.kubernetes.io/part-of: argocd
  name: argocd-repo-server
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: argocd-repo-server
  template:
    metadata:
      labels:
        app.kubernetes.io/name: argocd-repo-server
    spec:
      containers:
      - name: argocd-repo-server
        image: quay.io/argoproj/argocd:v3.2.0
        volumeMounts:
        - {mountPath: /app/config/reposerver/tls, name: argocd-repo-server-tls}
        - {mountPath: /tmp, name: tmp}
        - {mountPath: /home/argocd/cmp-server/plugins, name: plugins}
      initContainers:
      - name: copyutil
        image: quay.io/argoproj/argocd:v3.2.0
        volumeMounts:
        - {mountPath: /var/run/argocd, name: var-files}
      volumes:
      - {name: argocd-repo-server-tls, secret: {secretName: argocd-repo-server-tls, optional: true}}
      - {emptyDir: {}, name: tmp}
      - {emptyDir: {}, name: var-files}
      - {emptyDir: {}, name: plugins}
";

fn read_yaml(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn names(list: &Value) -> Vec<String> {
    list.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(String::from))
        .collect()
}

#[test]
fn the_argocd_install_builds_with_kubectl_kustomize() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let example = support::repo().join("examples/argocd");
    let tmp = tempfile::tempdir().unwrap();
    support::copy_dir(&example, tmp.path());
    let kustomization = std::fs::read_to_string(tmp.path().join("kustomization.yaml")).unwrap();
    assert!(kustomization.contains(INSTALL_URL), "{kustomization}");
    std::fs::write(
        tmp.path().join("kustomization.yaml"),
        kustomization.replace(INSTALL_URL, "install-stand-in.yaml"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("install-stand-in.yaml"), STAND_IN).unwrap();
    let out = Command::new(kubectl).arg("kustomize").arg(tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));

    let docs: Vec<Value> = serde_yaml::Deserializer::from_slice(&out.stdout)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .collect();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind}/{name} in the build"))
    };
    let repo_server = find("Deployment", "argocd-repo-server");
    assert_eq!(repo_server["metadata"]["namespace"], "argocd");
    let pod = &repo_server["spec"]["template"]["spec"];
    let mut containers = names(&pod["containers"]);
    containers.sort();
    assert_eq!(containers, ["argocd-repo-server", "krm-promote"]);
    let sidecar = pod["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "krm-promote")
        .unwrap();
    assert_eq!(sidecar["command"][0], "/var/run/argocd/argocd-cmp-server");
    assert_eq!(sidecar["securityContext"]["runAsUser"], 999);
    // Every volume the sidecar mounts exists, and Argo CD's shared ones are
    // the install manifest's (not new ones of the same purpose).
    let volumes = names(&pod["volumes"]);
    let mounts = names(&sidecar["volumeMounts"]);
    for mount in &mounts {
        assert!(
            volumes.contains(mount),
            "the sidecar mounts {mount}, which is not a volume: {volumes:?}"
        );
    }
    for shared in ["var-files", "plugins"] {
        assert!(mounts.contains(&shared.to_string()), "{mounts:?}");
        assert_eq!(volumes.iter().filter(|v| *v == shared).count(), 1, "{volumes:?}");
    }
    let plugin_mount = sidecar["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/home/argocd/cmp-server/config/plugin.yaml")
        .expect("plugin.yaml is mounted where argocd-cmp-server reads it");
    let volume = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == plugin_mount["name"])
        .unwrap();
    let config_map = find("ConfigMap", volume["configMap"]["name"].as_str().unwrap());
    assert_eq!(config_map["metadata"]["namespace"], "argocd");
    assert!(config_map["data"][plugin_mount["subPath"].as_str().unwrap()].is_string());
}

#[test]
fn every_install_says_what_plugin_yaml_says() {
    let example = support::repo().join("examples/argocd");
    let plugin = read_yaml(&example.join("plugin.yaml"));
    // The ConfigMap kustomize installs.
    let config_map = read_yaml(&example.join("plugin-configmap.yaml"));
    let embedded: Value = serde_yaml::from_str(config_map["data"]["plugin.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(embedded, plugin, "plugin-configmap.yaml differs from plugin.yaml");
    // The Helm chart's values: the chart writes `configs.cmp.plugins.<name>`
    // as the ConfigManagementPlugin's spec.
    let values = read_yaml(&example.join("helm-values.yaml"));
    let name = plugin["metadata"]["name"].as_str().unwrap();
    assert_eq!(
        values["configs"]["cmp"]["plugins"][name], plugin["spec"],
        "helm-values.yaml's plugin differs from plugin.yaml"
    );
    // The sidecar: the same image, env and security context in both installs.
    let patch = read_yaml(&example.join("repo-server-patch.yaml"));
    let patched = &patch["spec"]["template"]["spec"]["containers"][0];
    let helm = &values["repoServer"]["extraContainers"][0];
    for key in ["name", "image", "command", "securityContext", "env"] {
        assert_eq!(
            patched[key], helm[key],
            "{key} differs between the kustomize and Helm installs"
        );
    }
}
