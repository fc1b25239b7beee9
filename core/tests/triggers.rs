//! Promotion triggers on the `examples/3scale-gitops` environments: which
//! changes re-trigger which products, and which change nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use krm_promote_core::{Context, process};
use serde_json::Value;

fn env_dir(env: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/3scale-gitops/environments")
        .join(env)
}

/// The environment's resource files: relative path -> text.
fn files(env: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for sub in ["backends", "products"] {
        for entry in std::fs::read_dir(env_dir(env).join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".yaml") && name != "kustomization.yaml" && !name.starts_with("proxyconfigpromote-") {
                out.insert(format!("{sub}/{name}"), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// A ResourceList holding every document of `files` (in map order).
fn resource_list(files: &BTreeMap<String, String>, config: &str) -> String {
    let mut text = String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
    for body in files.values() {
        for doc in body.split("\n---\n") {
            let mut lines = doc.lines().filter(|l| !l.starts_with('#'));
            text.push_str(&format!("- {}\n", lines.next().unwrap()));
            for line in lines {
                text.push_str(&format!("  {line}\n"));
            }
        }
    }
    text.push_str(&format!(
        "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: function-input\n  data:\n{config}"
    ));
    text
}

/// Product name -> generated ProxyConfigPromote, read back with serde_yaml.
fn promotions(files: &BTreeMap<String, String>, env: &str) -> BTreeMap<String, Value> {
    promotions_with(files, &format!("    environment: {env}\n"))
}

/// The same with `config` as the ConfigMap's `data` lines.
fn promotions_with(files: &BTreeMap<String, String>, config: &str) -> BTreeMap<String, Value> {
    let input = resource_list(files, config);
    let out = process(&input, &Context::resource_list()).unwrap();
    assert!(!out.has_errors, "{:#?}", out.results);
    let doc: Value = serde_yaml::from_str(&out.document).unwrap();
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "ProxyConfigPromote")
        .map(|i| (i["spec"]["productCRName"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

fn names(p: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    p.iter()
        .map(|(k, v)| (k.clone(), v["metadata"]["name"].as_str().unwrap().to_string()))
        .collect()
}

/// The products whose promotion name differs between two renders.
fn retriggered(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let (a, b) = (
        names(&promotions(before, "staging")),
        names(&promotions(after, "staging")),
    );
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    a.keys().filter(|k| a[*k] != b[*k]).cloned().collect()
}

fn edit(files: &BTreeMap<String, String>, file: &str, from: &str, to: &str) -> BTreeMap<String, String> {
    let mut changed = files.clone();
    let text = changed.get_mut(file).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    *text = text.replacen(from, to, 1);
    changed
}

#[test]
fn every_product_gets_one_content_addressed_promotion() {
    let p = promotions(&files("staging"), "staging");
    assert_eq!(
        p.keys().collect::<Vec<_>>(),
        ["accounts-api", "orders-api", "payments-api"]
    );
    for (product, pcp) in &p {
        let name = pcp["metadata"]["name"].as_str().unwrap();
        let digest = pcp["metadata"]["annotations"]["krm-promote.dev/digest"]
            .as_str()
            .unwrap();
        assert_eq!(name, format!("{product}-staging-{}", &digest["sha256:".len()..][..10]));
        assert_eq!(pcp["metadata"]["namespace"], "threescale-staging");
        assert_eq!(
            pcp["spec"],
            serde_json::json!({"productCRName": product, "production": false, "deleteCR": false})
        );
        assert_eq!(pcp["metadata"]["labels"]["app.kubernetes.io/managed-by"], "krm-promote");
        assert_eq!(pcp["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"], "10");
    }
    let inputs = p["orders-api"]["metadata"]["annotations"]["krm-promote.dev/inputs"]
        .as_str()
        .unwrap();
    let kinds: Vec<&str> = inputs.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Product/orders-api",
            "Backend/catalog-backend",
            "Backend/payments-backend",
            "Secret/orders-api-rate-limit"
        ]
    );
    assert!(inputs.contains("Secret/orders-api-rate-limit (content hashed, not shown)"));
}

#[test]
fn a_backend_change_retriggers_exactly_the_products_that_use_it() {
    let base = files("staging");
    let cases = [
        (
            "backends/payments.yaml",
            "payments.staging.svc",
            "payments-v2.staging.svc",
            vec!["orders-api", "payments-api"],
        ),
        (
            "backends/accounts.yaml",
            "pattern: /accounts/{id}$",
            "pattern: /accounts/{id}/profile$",
            vec!["accounts-api", "payments-api"],
        ),
        ("backends/catalog.yaml", "last: true", "last: false", vec!["orders-api"]),
    ];
    for (file, from, to, expected) in cases {
        assert_eq!(
            retriggered(&base, &edit(&base, file, from, to)),
            expected,
            "{file}: {from} -> {to}"
        );
    }
}

#[test]
fn product_and_secret_changes_retrigger_only_their_product() {
    let base = files("staging");
    let product = edit(
        &base,
        "products/payments-api.yaml",
        "allow_origin: \"*\"",
        "allow_origin: https://example.com",
    );
    assert_eq!(retriggered(&base, &product), ["payments-api"]);
    let usage = edit(&base, "products/orders-api.yaml", "path: /catalog", "path: /catalog/v2");
    assert_eq!(retriggered(&base, &usage), ["orders-api"]);
    let secret = edit(&base, "products/secrets.yaml", "\"rate\": 20", "\"rate\": 40");
    assert_eq!(retriggered(&base, &secret), ["orders-api"]);
    let oidc = edit(
        &base,
        "products/secrets.yaml",
        "sso.staging.example.com",
        "sso2.staging.example.com",
    );
    assert_eq!(retriggered(&base, &oidc), ["accounts-api"]);
}

#[test]
fn application_plan_changes_trigger_nothing() {
    let base = files("staging");
    let plans = edit(&base, "products/payments-api.yaml", "value: 100", "value: 500");
    assert!(retriggered(&base, &plans).is_empty());
    let price = edit(
        &base,
        "products/orders-api.yaml",
        "costMonth: \"10.00\"",
        "costMonth: \"12.00\"",
    );
    assert!(retriggered(&base, &price).is_empty());
}

/// Key order, resource order, YAML style, comments and orchestrator
/// annotations never change a digest.
#[test]
fn formatting_and_order_change_nothing() {
    let base = files("staging");
    let before = names(&promotions(&base, "staging"));

    // Resource order: reverse every file's position by renaming.
    let reordered: BTreeMap<String, String> = base
        .iter()
        .enumerate()
        .map(|(i, (_, v))| (format!("{:02}", 99 - i), v.clone()))
        .collect();
    assert_eq!(names(&promotions(&reordered, "staging")), before);

    // Key order and style: each resource rewritten as JSON with keys reversed.
    fn reverse_keys(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(m.iter().rev().map(|(k, v)| (k.clone(), reverse_keys(v))).collect()),
            Value::Array(a) => Value::Array(a.iter().map(reverse_keys).collect()),
            other => other.clone(),
        }
    }
    let restyled: BTreeMap<String, String> = base
        .iter()
        .map(|(k, text)| {
            let docs: Vec<String> = text
                .split("\n---\n")
                .map(|d| {
                    let v: Value = serde_yaml::from_str(d).unwrap();
                    serde_json::to_string(&reverse_keys(&v)).unwrap()
                })
                .collect();
            (k.clone(), docs.join("\n---\n"))
        })
        .collect();
    assert_ne!(restyled, base);
    assert_eq!(names(&promotions(&restyled, "staging")), before);

    // Orchestrator annotations (kpt adds path/index/id annotations).
    let annotated: BTreeMap<String, String> = base
        .iter()
        .map(|(k, text)| {
            let text = text.replace(
                "metadata:\n",
                "metadata:\n  annotations:\n    config.kubernetes.io/index: '0'\n    internal.config.kubernetes.io/id: '7'\n",
            );
            (k.clone(), text)
        })
        .collect();
    assert_eq!(names(&promotions(&annotated, "staging")), before);
}

#[test]
fn production_promotes_to_the_production_gateway() {
    let p = promotions(&files("production"), "production");
    assert_eq!(p.len(), 3);
    for (product, pcp) in &p {
        assert!(
            pcp["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{product}-production-"))
        );
        assert_eq!(pcp["spec"]["production"], true);
        assert_eq!(pcp["metadata"]["namespace"], "threescale-production");
    }
    // The same manifests rendered for staging promote to the staging gateway.
    let staging = promotions(&files("production"), "staging");
    assert!(staging.values().all(|pcp| pcp["spec"]["production"] == false));
}

#[test]
fn output_is_idempotent_with_promotions_in_the_input() {
    let input = resource_list(&files("staging"), "    environment: staging\n");
    let first = process(&input, &Context::resource_list()).unwrap();
    let second = process(&first.document, &Context::resource_list()).unwrap();
    assert_eq!(first.document, second.document);
}

/// The field sets are configurable: with policies left out of a product's
/// fields, a policy change no longer re-promotes it.
#[test]
fn digest_fields_can_be_overridden() {
    let base = files("staging");
    let changed = edit(
        &base,
        "products/payments-api.yaml",
        "allow_origin: \"*\"",
        "allow_origin: https://example.com",
    );
    let run = |files: &BTreeMap<String, String>| {
        names(&promotions_with(
            files,
            "    environment: staging\n    product-fields: spec.mappingRules, spec.backendUsages\n",
        ))
    };
    assert_eq!(run(&base), run(&changed));
    assert_ne!(
        names(&promotions(&base, "staging")),
        names(&promotions(&changed, "staging"))
    );
}

/// Property: any order of resources and of mapping keys gives the same
/// promotions (checked over many random permutations).
#[test]
fn random_reorderings_never_change_promotions() {
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }
    fn shuffle_keys(v: &Value, rng: &mut Rng) -> Value {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(String, Value)> =
                    m.iter().map(|(k, v)| (k.clone(), shuffle_keys(v, rng))).collect();
                for i in (1..entries.len()).rev() {
                    entries.swap(i, rng.below(i + 1));
                }
                Value::Object(entries.into_iter().collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| shuffle_keys(x, rng)).collect()),
            other => other.clone(),
        }
    }
    let base = files("staging");
    let expected = names(&promotions(&base, "staging"));
    let docs: Vec<Value> = base
        .values()
        .flat_map(|text| {
            text.split("\n---\n")
                .map(|d| serde_yaml::from_str::<Value>(d).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..25 {
        let mut shuffled: Vec<Value> = docs.iter().map(|d| shuffle_keys(d, &mut rng)).collect();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i + 1));
        }
        // Alternate block YAML and JSON text for the items.
        let files: BTreeMap<String, String> = shuffled
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let text = if round % 2 == 0 {
                    serde_yaml::to_string(d).unwrap()
                } else {
                    serde_json::to_string(d).unwrap()
                };
                (format!("{i:03}"), text)
            })
            .collect();
        assert_eq!(names(&promotions(&files, "staging")), expected, "round {round}");
    }
}
