//! Issue 13: every edit changes exactly what the results announce, as an
//! independent YAML reader sees it ([`oracle`]), on every fixture, every
//! example and the hand-written cases of each class of the issue.

mod oracle;

use std::path::{Path, PathBuf};

use krm_promote_core::{Context, Framing, Output, OutputFormat, Severity, process};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The context a fixture directory describes (as tests/integration/fixtures.rs
/// reads it).
fn fixture_context(dir: &Path) -> Context {
    let mut ctx = Context::resource_list();
    if let Ok(config) = std::fs::read_to_string(dir.join("function-config.yaml")) {
        ctx.framing = Framing::Stream;
        ctx.function_config = Some(config);
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("context.yaml")) {
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let pairs = |key: &str| -> Vec<(String, String)> {
            v[key]
                .as_mapping()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        ctx.settings = pairs("settings");
        ctx.plugin_env = pairs("pluginEnv");
        ctx.source_revision = v["sourceRevision"].as_str().map(String::from);
        if v["output"].as_str() == Some("json-lines") {
            ctx.output = OutputFormat::JsonLines;
        }
    }
    ctx
}

#[test]
fn every_fixture_and_example_changes_exactly_what_it_reports() {
    let mut inputs: Vec<(String, String, Context)> = Vec::new();
    for entry in std::fs::read_dir(root().join("tests/fixtures")).unwrap() {
        let dir = entry.unwrap().path();
        if let Ok(input) = std::fs::read_to_string(dir.join("input.yaml")) {
            let ctx = fixture_context(&dir);
            inputs.push((dir.display().to_string(), input, ctx));
        }
    }
    for file in [
        "examples/quickstart/resource-list.yaml",
        "examples/3scale-gitops/staging-resource-list.yaml",
    ] {
        let input = std::fs::read_to_string(root().join(file)).unwrap();
        inputs.push((file.to_string(), input, Context::resource_list()));
    }
    let mut checked = 0;
    for (name, input, ctx) in inputs {
        if ctx.output != OutputFormat::SameAsInput {
            continue;
        }
        let Ok(out) = process(&input, &ctx) else { continue };
        match oracle::check(&input, ctx.framing, &out) {
            Ok(true) => checked += 1,
            Ok(false) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert!(checked >= 40, "only {checked} inputs checked");
}

const HEAD: &str = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n";

fn run(items: &str, data: &str) -> (String, Output) {
    let input = format!(
        "{HEAD}{items}functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: cfg}}\n  data:\n{data}"
    );
    let out = process(&input, &Context::resource_list()).unwrap();
    (input, out)
}

fn errors(out: &Output) -> Vec<&str> {
    out.results
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .map(|r| r.message.as_str())
        .collect()
}

/// Runs and checks with the oracle; returns the output document.
fn exact(items: &str, data: &str) -> String {
    let (input, out) = run(items, data);
    assert_eq!(errors(&out), Vec::<&str>::new(), "{}", out.document);
    assert_eq!(
        oracle::check(&input, Framing::ResourceList, &out),
        Ok(true),
        "{}",
        out.document
    );
    out.document
}

const DEPLOYMENT: &str = "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: web\n";

#[test]
fn an_alias_target_is_edited_at_the_alias() {
    let items = format!(
        "{DEPLOYMENT}    annotations: {{pinned: &img nginx:1.0}}\n  spec:\n    template:\n      spec:\n        containers:\n        - name: a\n          image: *img\n"
    );
    let out = exact(&items, "    images: nginx:2.0\n");
    assert!(out.contains("{pinned: &img nginx:1.0}"), "{out}");
    assert!(out.contains("          image: nginx:2.0\n"), "{out}");
}

#[test]
fn an_anchored_image_keeps_its_aliases_values() {
    // In flow and block context, and as a sequence item.
    let items = format!(
        "{DEPLOYMENT}  spec:\n    template:\n      spec:\n        containers:\n        - name: a\n          image: &img nginx:1.0\n  x-copies:\n    block: *img\n    flow: [*img, {{k: *img}}]\n    list:\n    - *img\n"
    );
    let out = exact(&items, "    images: nginx=ghcr.io/acme/nginx:2.0\n");
    assert!(out.contains("image: &img ghcr.io/acme/nginx:2.0\n"), "{out}");
    assert!(
        out.contains("block: nginx:1.0\n    flow: [\"nginx:1.0\", {k: \"nginx:1.0\"}]\n    list:\n    - nginx:1.0\n"),
        "{out}"
    );
}

#[test]
fn merged_containers_get_an_explicit_image() {
    for (name, items) in [
        (
            "a merge list, CRLF line ends",
            format!(
                "{DEPLOYMENT}  x-a: &a {{name: app}}\n  x-b: &b {{image: nginx:1.0}}\n  spec:\n    template:\n      spec:\n        containers:\n        - <<: [*a, *b] # both\n          env: []\n"
            )
            .replace('\n', "\r\n"),
        ),
        (
            "a block base",
            format!(
                "{DEPLOYMENT}  x-base: &base\n    name: app\n    image: nginx:1.0\n  spec:\n    template:\n      spec:\n        containers:\n        - <<: *base\n"
            ),
        ),
    ] {
        let out = exact(&items, "    images: nginx:2.0\n");
        assert!(out.contains("image: nginx:2.0"), "{name}: {out}");
        assert!(out.contains("image: nginx:1.0"), "{name}: the shared base changed: {out}");
    }
}

#[test]
fn shared_places_that_cannot_be_untangled_are_refused_never_corrupted() {
    // An anchored container list that another place (not containers)
    // aliases: the copy would have to be written out there (not done yet).
    let items = format!(
        "{DEPLOYMENT}  spec:\n    template:\n      spec:\n        containers: &cs\n        - {{name: a, image: nginx:1.0}}\n  x-copy: *cs\n"
    );
    let (input, out) = run(&items, "    images: nginx:2.0\n");
    let errs = errors(&out);
    assert!(
        errs.len() == 1 && errs[0].contains("shared with other places"),
        "{errs:?}"
    );
    assert!(out.document.contains("{name: a, image: nginx:1.0}"), "{}", out.document);
    assert_eq!(oracle::check(&input, Framing::ResourceList, &out), Ok(true));
}

#[test]
fn a_shared_annotations_mapping_is_refused_for_the_trigger() {
    let items = "- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Backend\n  metadata: {name: b, namespace: n}\n  spec: {name: B, privateBaseURL: 'https://b:1'}\n- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Product\n  metadata: {name: p, namespace: n, annotations: &ann {team: a}}\n  spec: {name: P, backendUsages: {b: {backend: b, path: /}}}\n- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Promotion\n  metadata: {name: pr, namespace: n, annotations: *ann}\n  spec: {productCR: {name: p}}\n";
    let (_, out) = run(items, "    environment: staging\n");
    let errs = errors(&out);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("cannot set the trigger annotation: metadata.annotations is shared")),
        "{errs:?}"
    );
    assert!(out.document.contains("annotations: &ann {team: a}"), "{}", out.document);
}

#[test]
fn images_no_override_matches_never_change() {
    // Class 3: `nginx:` split and joined would be `nginx`; with an override
    // for another image it must stay as written, without a result.
    for image in [
        "\"nginx:\"",
        "nginx@",
        "'nginx:1.0 '",
        "\"nginx:1.0@sha256:\"",
        "\"nginx\"",
    ] {
        let items = format!(
            "{DEPLOYMENT}  spec:\n    template:\n      spec:\n        containers:\n        - name: a\n          image: {image}\n"
        );
        let (input, out) = run(&items, "    images: redis:7\n");
        assert!(
            out.document
                .starts_with(&input[..input.find("functionConfig").unwrap()]),
            "{}",
            out.document
        );
        assert!(
            out.results.iter().all(|r| !r.message.contains("nginx")),
            "{image}: {:#?}",
            out.results
        );
        // Matched by an override: a warning naming the field, no edit.
        let (input, out) = run(&items, "    images: nginx:2\n");
        assert!(
            out.document
                .starts_with(&input[..input.find("functionConfig").unwrap()])
                || image == "\"nginx\""
        );
        if image != "\"nginx\"" {
            assert!(
                out.results.iter().any(|r| r.severity == Severity::Warning
                    && r.field
                        .as_ref()
                        .is_some_and(|f| f.path == "spec.template.spec.containers[0].image")),
                "{image}: {:#?}",
                out.results
            );
        }
        assert_eq!(oracle::check(&input, Framing::ResourceList, &out), Ok(true));
    }
}
