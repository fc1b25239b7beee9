//! `krm-promote generate` over a plain directory reads the manifests as
//! kubectl does (issue 12, classes 7, 8 and 9), end to end through the
//! binary: YAML 1.1 scalars, `List` documents, images behind merge keys,
//! and no plugin env value in any message.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{krm_promote, tool};

/// A plain application directory with `files`.
fn app(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    dir
}

fn generate(dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = krm_promote();
    cmd.arg("generate").current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// JSON equality with numbers compared as kubectl shows them.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: reader
  labels: {tier: web, public: 'no'}
spec:
  containers:
  - name: app
    image: ghcr.io/acme/app:1.0
    tty: yes
    stdin: off
    ports: [{containerPort: 0x1F90}]
  volumes:
  - name: creds
    secret: {secretName: creds, defaultMode: 0400}
  - name: conf
    configMap: {name: conf, defaultMode: 0o644, items: [{key: a, path: a, mode: 0_755}]}
";

const LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: first}
  data: {mode: '0400', on: 'yes'}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: second}
  data: {b: !!binary aGVsbG8=, n: !!str 0400}
---
apiVersion: v1
kind: ConfigMapList
items: []
";

#[test]
fn generate_reads_a_plain_directory_like_kubectl() {
    let Some(kubectl) = tool("kubectl") else { return };
    let dir = app(&[("pod.yaml", POD), ("list.yaml", LIST)]);
    let ours = json_lines(&generate(dir.path(), &[]));

    // kubectl's own reading of the same files, without a cluster.
    let out = Command::new(kubectl)
        .args(["annotate", "--local", "-o", "json", "-f", "."])
        .arg("krm-promote.test/read=x")
        .current_dir(dir.path())
        .env("KUBECONFIG", dir.path().join("no-kubeconfig"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut theirs = Vec::new();
    for v in serde_json::Deserializer::from_slice(&out.stdout).into_iter::<Value>() {
        let v = v.unwrap();
        match v.get("items") {
            Some(Value::Array(items)) if v["kind"] == "List" => theirs.extend(items.iter().cloned()),
            _ => theirs.push(v),
        }
    }
    for o in &mut theirs {
        let meta = o["metadata"].as_object_mut().unwrap();
        let annotations = meta["annotations"].as_object_mut().unwrap();
        annotations.remove("krm-promote.test/read");
        if annotations.is_empty() {
            meta.remove("annotations");
        }
    }
    let name = |v: &Value| v["metadata"]["name"].as_str().unwrap().to_string();
    theirs.sort_by_key(name);
    let mut ours_sorted = ours.clone();
    ours_sorted.sort_by_key(name);
    assert_eq!(ours_sorted.len(), 3, "{ours:#?}");
    for (o, t) in ours_sorted.iter().zip(&theirs) {
        assert!(same(o, t), "krm-promote: {o}\nkubectl:     {t}");
    }
    let pod = ours.iter().find(|v| v["kind"] == "Pod").unwrap();
    assert_eq!(pod["spec"]["volumes"][0]["secret"]["defaultMode"], 256);
}

const BACKEND_AND_PRODUCT: &str = "apiVersion: v1
kind: List
items:
- apiVersion: capabilities.3scale.net/v1beta1
  kind: Backend
  metadata: {name: payments-backend, namespace: apis}
  spec: {name: Payments, systemName: payments, privateBaseURL: 'https://payments:8443'}
- apiVersion: capabilities.3scale.net/v1beta1
  kind: Product
  metadata: {name: payments-api, namespace: apis}
  spec:
    name: Payments API
    backendUsages: {payments: {path: /v1}}
";

const CONFIG: &str = "apiVersion: fn.krm-promote.dev/v1alpha1
kind: KrmPromote
metadata: {name: promote}
spec:
  environment: staging
  imageUpdater:
  - {image: ghcr.io/acme/app, tag: APP_TAG}
  imagePolicies:
    '*': {allowedRegistries: [ghcr.io/acme]}
";

#[test]
fn products_inside_a_list_are_promoted() {
    let dir = app(&[("list.yaml", BACKEND_AND_PRODUCT), ("krm-promote.yaml", CONFIG)]);
    let lines = json_lines(&generate(dir.path(), &[]));
    let kinds: Vec<&str> = lines.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Backend", "Product", "ProxyConfigPromote"]);
    assert_eq!(lines[2]["spec"]["productCRName"], "payments-api");
}

#[test]
fn an_empty_list_is_not_an_empty_success() {
    let dir = app(&[("list.yaml", "apiVersion: v1\nkind: List\nitems: []\n")]);
    let out = generate(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to print an empty render"));
}

#[test]
fn images_behind_merge_keys_meet_the_policy() {
    let deployment = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
x-app: &app {name: app, image: evil.example/miner:1.0}
spec:
  template:
    spec:
      containers:
      - <<: *app
";
    let dir = app(&[("deploy.yaml", deployment), ("krm-promote.yaml", CONFIG)]);
    let out = generate(dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("spec.template.spec.containers[0].image")
            && stderr.contains("evil.example/miner:1.0 is not from an allowed registry"),
        "{stderr}"
    );
}

#[test]
fn plugin_env_values_stay_out_of_messages() {
    let marker = "KRMSECRETMARKER7f3a";
    let deployment = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {spec: {containers: [{name: app, image: 'ghcr.io/acme/app:1.0'}]}}}
";
    let dir = app(&[("deploy.yaml", deployment), ("krm-promote.yaml", CONFIG)]);
    let value = format!("{marker}/not+a=tag");
    let out = generate(dir.path(), &[("ARGOCD_ENV_APP_TAG", value.as_str())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("Image Updater env APP_TAG"), "{stderr}");
    assert!(
        !stderr.contains(marker) && !String::from_utf8_lossy(&out.stdout).contains(marker),
        "{stderr}"
    );
}
