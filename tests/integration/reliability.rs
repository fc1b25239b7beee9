//! The bad-input corpus, run through the real binary in every mode: the KRM
//! function (`fn`), the kustomize legacy plugin, and Argo CD's `generate`.
//!
//! For every case and mode the test checks the documented protocol: the
//! exit code; on failure one stderr line saying what and where, and nothing
//! on stdout; on exit 1 in `fn` mode a complete ResourceList on stdout; on
//! success, complete output. The observed table is written to
//! `RELIABILITY.md` (`BLESS=1` regenerates it; otherwise it must match).

use std::path::Path;
use std::process::Output;

use crate::support::{self, describe, krm_promote, run_with_stdin};

const FN_CONFIG: &str = "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: function-input\n  data:\n    environment: staging\n";
const KRM_CONFIG: &str = "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: promote\nspec:\n  environment: staging\n";

/// One bad input, as each mode receives it.
struct Case {
    name: &'static str,
    /// stdin for `fn` (a ResourceList).
    function: Option<Vec<u8>>,
    /// (config file, stdin) for the legacy plugin.
    legacy: Option<(String, Vec<u8>)>,
    /// Files of the application directory for `generate`.
    generate: Option<Vec<(&'static str, Vec<u8>)>>,
    /// Expected exit code, and a fragment of stderr.
    expect: (u8, &'static str),
}

/// A ResourceList with `items` (block YAML items, `- ...` lines) and a config.
fn resource_list(items: &str, config: &str) -> Vec<u8> {
    format!("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{items}{config}").into_bytes()
}

/// The same resources as a stream (strip the `- ` / `  ` indentation).
fn stream(items: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in items.lines() {
        if let Some(rest) = line.strip_prefix("- ") {
            if !out.is_empty() {
                out.push_str("---\n");
            }
            out.push_str(rest);
        } else {
            out.push_str(line.strip_prefix("  ").unwrap_or(line));
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// A case whose resources are the same in every mode.
fn uniform(name: &'static str, items: &str, config_map: &str, krm: &str, expect: (u8, &'static str)) -> Case {
    Case {
        name,
        function: Some(resource_list(items, config_map)),
        legacy: Some((krm.to_string(), stream(items))),
        generate: Some(vec![
            ("manifests.yaml", stream(items)),
            ("krm-promote.yaml", krm.as_bytes().to_vec()),
        ]),
        expect,
    }
}

const PRODUCT: &str = "- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Product\n  metadata:\n    name: api\n    namespace: apis\n  spec:\n    name: API\n    backendUsages:\n      payments:\n        path: /v1\n";
const BACKEND: &str = "- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Backend\n  metadata:\n    name: payments\n    namespace: apis\n  spec:\n    name: payments\n    privateBaseURL: https://payments.internal\n";
const DEPLOYMENT: &str = "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: web\n  spec:\n    template:\n      spec:\n        containers:\n        - name: app\n          image: nginx:1.25\n";

/// An attack through a kustomization (`generate` only), next to a valid
/// ConfigMap.
fn attack(name: &'static str, kustomization: &str, expect: &'static str) -> Case {
    Case {
        name,
        function: None,
        legacy: None,
        generate: Some(vec![
            ("kustomization.yaml", kustomization.as_bytes().to_vec()),
            (
                "cm.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n".to_vec(),
            ),
        ]),
        expect: (2, expect),
    }
}

fn cases() -> Vec<Case> {
    let alias_bomb = {
        let mut spec = String::from("    lol0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            spec.push_str(&format!(
                "    lol{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n",
                p = i - 1
            ));
        }
        format!(
            "- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Product\n  metadata:\n    name: bomb\n  spec:\n    name: bomb\n{spec}"
        )
    };
    let deep = format!(
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: deep\n  data:\n    x: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let huge = {
        let mut items = String::with_capacity(210 << 20);
        let pad = "x".repeat(1000);
        let mut i = 0;
        while items.len() < 200 << 20 {
            items.push_str(&format!(
                "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm-{i}\n  data:\n    key: {pad}\n"
            ));
            i += 1;
        }
        items
    };
    let with_bom = |v: Vec<u8>| [b"\xEF\xBB\xBF".to_vec(), v].concat();
    vec![
        uniform("truncated YAML", "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: \"trunc\n", FN_CONFIG, KRM_CONFIG, (2, "invalid YAML at")),
        uniform("malformed YAML", "- apiVersion: v1\n  kind: [ConfigMap\n  metadata: {name: x}\n", FN_CONFIG, KRM_CONFIG, (2, "invalid YAML at")),
        Case {
            name: "not a ResourceList",
            function: Some(b"apiVersion: v1\nkind: List\nitems: []\n".to_vec()),
            legacy: None,
            generate: None,
            expect: (2, "expected kind ResourceList, got kind \"List\""),
        },
        Case {
            name: "items is not a list",
            function: Some(b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: {a: b}\n".to_vec()),
            legacy: None,
            generate: None,
            expect: (2, "ResourceList.items at line 3 is not a list"),
        },
        uniform("an item without kind", "- apiVersion: v1\n  metadata:\n    name: no-kind\n", FN_CONFIG, KRM_CONFIG, (2, "has no kind")),
        uniform("an item without metadata", "- apiVersion: v1\n  kind: ConfigMap\n", FN_CONFIG, KRM_CONFIG, (2, "has no metadata mapping")),
        uniform(
            "wrong types in the functionConfig",
            DEPLOYMENT,
            "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n  data:\n    environment: [a, b]\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  environment: [a, b]\n",
            (1, "must be"),
        ),
        uniform(
            "a float image tag next to newName in a typed functionConfig",
            DEPLOYMENT,
            "functionConfig:\n  apiVersion: fn.krm-promote.dev/v1alpha1\n  kind: KrmPromote\n  metadata:\n    name: p\n  spec:\n    images:\n    - {name: nginx, newName: reg/nginx, newTag: 1.10}\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  images:\n  - {name: nginx, newName: reg/nginx, newTag: 1.10}\n",
            (1, "spec.images[0].newTag: must be a string, but YAML reads 1.10 as a number: write newTag: \"1.10\""),
        ),
        uniform(
            "a boolean where an image policy wants a list",
            DEPLOYMENT,
            "functionConfig:\n  apiVersion: fn.krm-promote.dev/v1alpha1\n  kind: KrmPromote\n  metadata:\n    name: p\n  spec:\n    imagePolicies:\n      '*': {allowedRegistries: true}\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  imagePolicies:\n    '*': {allowedRegistries: true}\n",
            (1, "spec.imagePolicies.*.allowedRegistries: must be a list, not a boolean"),
        ),
        uniform(
            "a `kustomize edit set image` entry with no name before `=`",
            DEPLOYMENT,
            "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n  data:\n    images: =nginx:1.26\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  images: ['=nginx:1.26']\n",
            (1, "images[0]: \"=nginx:1.26\" has no image name before `=`"),
        ),
        uniform(
            "a `kustomize edit set image` entry with an invalid tag",
            DEPLOYMENT,
            "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n  data:\n    images: nginx=mirror/nginx:1.26+build\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  images: [nginx=mirror/nginx:1.26+build]\n",
            (1, "images[0]: newTag \"1.26+build\" is not a valid tag"),
        ),
        uniform(
            "a `kustomize edit set image` entry that names an image and sets nothing",
            DEPLOYMENT,
            "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n  data:\n    images: nginx\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  images: [nginx]\n",
            (1, "images[0]: \"nginx\" names an image but sets nothing"),
        ),
        uniform(
            "a `kustomize edit set image` entry that only keeps parts (`*`), with nothing to keep from",
            DEPLOYMENT,
            "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n  data:\n    images: nginx=*:*\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  images: ['nginx=*:*']\n",
            (1, "images[0] only keeps parts (`*`) of an earlier override of its image, and there is none"),
        ),
        uniform(
            "an unknown functionConfig key",
            DEPLOYMENT,
            "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n  data:\n    enviroment: staging\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  enviroment: staging\n",
            (1, "enviroment: unknown key (did you mean \"environment\"?)"),
        ),
        uniform("duplicate mapping keys", "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: dup\n  data:\n    a: '1'\n    a: '2'\n", FN_CONFIG, KRM_CONFIG, (2, "duplicate mapping key \"a\"")),
        uniform("a YAML alias bomb", &alias_bomb, FN_CONFIG, KRM_CONFIG, (2, "expand to too many nodes")),
        uniform("100,000 levels of nesting", &deep, FN_CONFIG, KRM_CONFIG, (2, "recursion limit exceeded")),
        uniform("a 200 MB input", &huge, FN_CONFIG, KRM_CONFIG, (0, "")),
        {
            let bad = |v: Vec<u8>| [v, b"# \xff\n".to_vec()].concat();
            Case {
                name: "invalid UTF-8",
                function: Some(bad(resource_list(DEPLOYMENT, FN_CONFIG))),
                legacy: Some((KRM_CONFIG.into(), bad(stream(DEPLOYMENT)))),
                generate: Some(vec![("manifests.yaml", bad(stream(DEPLOYMENT))), ("krm-promote.yaml", KRM_CONFIG.into())]),
                expect: (2, "UTF-8"),
            }
        },
        uniform("a NUL byte", "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\u{0}b\n", FN_CONFIG, KRM_CONFIG, (2, "found unprintable character")),
        Case {
            name: "a byte order mark",
            function: Some(with_bom(resource_list(DEPLOYMENT, FN_CONFIG))),
            legacy: Some((KRM_CONFIG.into(), with_bom(stream(DEPLOYMENT)))),
            generate: Some(vec![("manifests.yaml", with_bom(stream(DEPLOYMENT))), ("krm-promote.yaml", KRM_CONFIG.into())]),
            expect: (0, ""),
        },
        uniform(
            "conflicting image overrides",
            DEPLOYMENT,
            "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n  data:\n    images: |\n      nginx:1.26\n      nginx:1.27\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  images: [nginx:1.26, nginx:1.27]\n",
            (1, "conflicting overrides for image \"nginx\""),
        ),
        uniform("a dangling backend reference", PRODUCT, FN_CONFIG, KRM_CONFIG, (1, "backend usage \"payments\" matches no Backend")),
        uniform("a valid render (control)", &format!("{PRODUCT}{BACKEND}{DEPLOYMENT}"), FN_CONFIG, KRM_CONFIG, (0, "")),
        Case {
            name: "a kustomization naming a missing resource",
            function: None,
            legacy: None,
            generate: Some(vec![("kustomization.yaml", b"resources:\n- missing.yaml\n".to_vec())]),
            expect: (2, "neither a file nor a directory in the repository"),
        },
        Case {
            name: "a kustomization that fails to build",
            function: None,
            legacy: None,
            generate: Some(vec![
                ("kustomization.yaml", b"resources:\n- cm.yaml\npatches:\n- path: missing.yaml\n".to_vec()),
                ("cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n".to_vec()),
            ]),
            expect: (2, "kustomize build failed"),
        },
        attack(
            "attack: a Git reference that runs a command",
            "resources:\n- github.com/org/repo//deploy?ref=--upload-pack=touch%20/tmp/krm-promote-evil-ran\n",
            "is a remote reference",
        ),
        attack(
            "attack: another repository through file://",
            "resources:\n- file:///srv/other-tenant/repo\n",
            "is a remote reference",
        ),
        attack(
            "attack: a patch downloaded over HTTP",
            "resources:\n- cm.yaml\npatches:\n- path: https://example.com/patch.yaml\n",
            "is a remote reference",
        ),
        attack(
            "attack: a base outside the repository",
            "resources:\n- ../../../../../../etc\n",
            "outside the repository",
        ),
        attack(
            "attack: a resource spelt with YAML escapes",
            "resources:\n- \"\\x2e\\x2e/\\x2e\\x2e/\\x2e\\x2e/etc\"\n",
            "outside the repository",
        ),
        Case {
            name: "a kustomization asking for an exec function",
            function: None,
            legacy: None,
            generate: Some(vec![
                ("kustomization.yaml", b"resources:\n- cm.yaml\ntransformers:\n- fn.yaml\n".to_vec()),
                ("cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n".to_vec()),
                ("fn.yaml", b"apiVersion: example.com/v1\nkind: Evil\nmetadata:\n  name: x\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./evil.sh\n".to_vec()),
                ("evil.sh", b"#!/bin/sh\ntouch /tmp/krm-promote-evil-ran\n".to_vec()),
            ]),
            expect: (2, "never runs code from the repository"),
        },
        Case {
            name: "a kustomization asking for a legacy plugin",
            function: None,
            legacy: None,
            generate: Some(vec![
                ("kustomization.yaml", b"resources:\n- cm.yaml\ntransformers:\n- plugin.yaml\n".to_vec()),
                ("cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n".to_vec()),
                ("plugin.yaml", b"apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: x\n".to_vec()),
            ]),
            expect: (2, "never runs code from the repository"),
        },
        Case {
            name: "a kustomization asking for a Helm chart",
            function: None,
            legacy: None,
            generate: Some(vec![(
                "kustomization.yaml",
                b"helmCharts:\n- name: minecraft\n  version: 3.1.3\n  releaseName: moria\n".to_vec(),
            )]),
            expect: (2, "helmCharts, which needs helm"),
        },
        attack(
            "attack: a Helm chart pulled from a repository",
            "helmCharts:\n- name: minecraft\n  repo: https://itzg.github.io/minecraft-server-charts\n  version: 3.1.3\n",
            "is a remote reference",
        ),
        uniform(
            "attack: an image behind a YAML merge key",
            "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: web\n  x-app: &app {name: app, image: evil.example/miner:latest}\n  spec:\n    template:\n      spec:\n        containers:\n        - <<: *app\n",
            "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n  data:\n    environment: staging\n    forbid-mutable-tags: 'true'\n",
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  environment: staging\n  forbidMutableTags: true\n",
            (1, "which is mutable"),
        ),
        Case {
            name: "an empty List",
            function: None,
            legacy: None,
            generate: Some(vec![("list.yaml", b"apiVersion: v1\nkind: List\nitems: []\n".to_vec())]),
            expect: (2, "refusing to print an empty render"),
        },
        Case {
            name: "empty input",
            function: Some(Vec::new()),
            legacy: None,
            generate: Some(vec![("README.md", b"no manifests here\n".to_vec())]),
            expect: (2, ""),
        },
    ]
}

fn run_mode(case: &Case, mode: &str, tmp: &Path) -> Option<Output> {
    match mode {
        "fn" => case
            .function
            .as_ref()
            .map(|input| run_with_stdin(krm_promote().arg("fn"), input)),
        "legacy plugin" => case.legacy.as_ref().map(|(config, input)| {
            let file = tmp.join("plugin-config.yaml");
            std::fs::write(&file, config).unwrap();
            run_with_stdin(krm_promote().arg(&file), input)
        }),
        _ => case.generate.as_ref().map(|files| {
            let dir = tmp.join("app");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, content) in files {
                std::fs::write(dir.join(name), content).unwrap();
            }
            krm_promote().arg("generate").current_dir(&dir).output().unwrap()
        }),
    }
}

/// Checks one run against the protocol; returns the table's message cell.
fn check(case: &Case, mode: &str, out: &Output, failures: &mut Vec<String>) -> String {
    let code = out.status.code();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let label = format!("{} / {mode}", case.name);
    let (want_code, want_text) = case.expect;
    // The empty input is valid for a legacy plugin's stream (nothing to do).
    let want_code = if case.name == "empty input" && mode == "legacy plugin" {
        0
    } else {
        want_code
    };
    if code != Some(i32::from(want_code)) {
        failures.push(format!("{label}: expected exit {want_code}\n{}", describe(out)));
    }
    if !stderr.contains(want_text) {
        failures.push(format!("{label}: stderr lacks {want_text:?}\n{}", describe(out)));
    }
    match code {
        Some(0) => {
            if out.stdout.is_empty() && !(mode == "legacy plugin" && case.name == "empty input") {
                failures.push(format!("{label}: exit 0 with empty stdout"));
            }
            if mode == "fn" {
                let text = String::from_utf8_lossy(&out.stdout);
                if !text.contains("\nresults:\n") {
                    failures.push(format!("{label}: output is not a complete ResourceList"));
                }
            }
        }
        Some(1) if mode == "fn" => {
            // Error results: the complete ResourceList, with the results.
            match serde_yaml::from_slice::<serde_yaml::Value>(&out.stdout) {
                Ok(v) if v["kind"] == "ResourceList" && v["results"].is_sequence() => {}
                _ => failures.push(format!("{label}: exit 1 without a complete ResourceList on stdout")),
            }
        }
        _ => {
            if !out.stdout.is_empty() {
                failures.push(format!("{label}: non-zero exit with output on stdout"));
            }
            let error_lines = stderr.lines().filter(|l| l.starts_with("krm-promote: error:")).count();
            if code != Some(1) && error_lines != 1 {
                failures.push(format!("{label}: expected one `krm-promote: error:` line\n{stderr}"));
            }
        }
    }
    let first = stderr
        .lines()
        .find(|l| l.starts_with("krm-promote: error:") || l.starts_with("[error]"))
        .unwrap_or("")
        .trim_start_matches("krm-promote: error: ");
    let first = if first.len() > 160 {
        format!("{}...", &first[..first.floor_char_boundary(160)])
    } else {
        first.to_string()
    };
    first.replace('|', "\\|")
}

#[test]
fn bad_input_corpus_in_every_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let _ = std::fs::remove_file("/tmp/krm-promote-evil-ran");
    let has_kubectl = support::tool("kubectl").is_some();
    let mut failures = Vec::new();
    let mut table = String::from(
        "# Reliability: what krm-promote does with bad input\n\n\
         Generated by `tests/integration/reliability.rs` from real runs of the binary \
         (`BLESS=1 cargo test --workspace` regenerates it). Exit codes: 0 success, 1 error results, \
         2 unreadable input or usage, 3 the function crashed or hit a limit. On a non-zero exit stdout \
         is empty, except exit 1 of `fn`, which prints the complete ResourceList with its results.\n\n\
         | input | mode | exit | message |\n|---|---|---|---|\n",
    );
    for case in cases() {
        for mode in ["fn", "legacy plugin", "generate"] {
            if mode == "generate"
                && !has_kubectl
                && case
                    .generate
                    .as_ref()
                    .is_some_and(|f| f.iter().any(|(n, _)| *n == "kustomization.yaml"))
            {
                continue;
            }
            let Some(out) = run_mode(&case, mode, tmp.path()) else {
                continue;
            };
            let message = check(&case, mode, &out, &mut failures);
            table.push_str(&format!(
                "| {} | {mode} | {} | {message} |\n",
                case.name,
                out.status.code().map_or("signal".into(), |c| c.to_string())
            ));
        }
    }
    assert!(
        !Path::new("/tmp/krm-promote-evil-ran").exists(),
        "a repository script ran"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    let path = support::repo().join("RELIABILITY.md");
    if support::bless() {
        std::fs::write(&path, &table).unwrap();
    } else if has_kubectl {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed, table,
            "RELIABILITY.md is stale: BLESS=1 cargo test --workspace rewrites it"
        );
    }
}

/// Values of Secrets, policy configurations and env never appear in
/// results, messages or generated resources, in any mode.
#[test]
fn secrets_never_reach_messages() {
    const TOKEN: &str = "s3cr3t-token-7f9a";
    const SECRET_VALUE: &str = "issuer-password-c0ffee";
    const ENV_VALUE: &str = "env-secret-0bad";
    let items = format!(
        "- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: oidc\n    namespace: apis\n  stringData:\n    issuerEndpoint: https://client:{SECRET_VALUE}@sso.example.com/realms/x\n\
         - apiVersion: capabilities.3scale.net/v1beta1\n  kind: Product\n  metadata:\n    name: api\n    namespace: apis\n  spec:\n    name: API\n    \
         deployment:\n      apicastHosted:\n        authentication:\n          userkey:\n            security:\n              secretToken: {TOKEN}\n          \
         oidc:\n            issuerType: keycloak\n            issuerEndpointRef:\n              name: oidc\n    backendUsages:\n      missing:\n        path: /\n\
         {DEPLOYMENT}"
    );
    let config = "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n  data:\n    environment: production\n    forbid-mutable-tags: 'true'\n    images: nginx:latest\n";
    let out = run_with_stdin(
        krm_promote().env("ARGOCD_ENV_DB_PASSWORD", ENV_VALUE),
        &resource_list(&items, config),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let results = &stdout[stdout.rfind("\nresults:\n").unwrap()..];
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        results.contains("severity: error") && stderr.contains("[error]"),
        "the run reports errors: {results}"
    );
    for secret in [TOKEN, SECRET_VALUE, ENV_VALUE] {
        assert!(!results.contains(secret), "{secret} in results: {results}");
        assert!(!stderr.contains(secret), "{secret} on stderr: {stderr}");
    }

    // And a successful render: the generated promotion lists the Secret as
    // an input without its content or digest.
    let fixed = items
        .replace("      missing:\n        path: /\n", "      {}\n")
        .replace("backendUsages:\n      {}", "backendUsages: {}");
    let out = run_with_stdin(&mut krm_promote(), &resource_list(&fixed, FN_CONFIG));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let generated = &stdout[stdout.find("kind: ProxyConfigPromote").expect("a promotion")..];
    assert!(
        generated.contains("Secret/oidc (content hashed, not shown)"),
        "{generated}"
    );
    for secret in [TOKEN, SECRET_VALUE] {
        assert!(!generated.contains(secret), "{secret} in generated output");
    }
}
