//! Golden fixtures under `tests/fixtures/`, each run natively and inside the
//! WebAssembly component.
//!
//! A fixture directory holds:
//! - `input.yaml`: what the orchestrator writes to stdin;
//! - `function-config.yaml` (optional): a legacy-plugin config file; its
//!   presence selects the plain-stream framing;
//! - `context.yaml` (optional): what a host passes besides the input:
//!   `settings` and `pluginEnv` (ordered maps), `sourceRevision`, and
//!   `output: json-lines` (Argo CD's manifest stream);
//! - `expected-output.yaml`: the expected stdout, or `expected-error.txt`:
//!   the expected error when the function refuses the input;
//! - `README.md` (optional): what the case shows.
//!
//! For every fixture the test checks that the native core and the wasm guest
//! give byte-identical answers, that the answer matches the golden file, and
//! that running the output through again gives the same bytes. `BLESS=1`
//! rewrites the golden files.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use krm_promote_core as core;
use krm_promote_host::bindings::exports::krm_promote::function::krm;
use krm_promote_host::runtime::Limits;

use crate::support;

/// What one run gave, in a form both sides can be compared in.
#[derive(Debug, PartialEq)]
enum Answer {
    Output {
        document: String,
        has_errors: bool,
        diagnostics: Vec<String>,
    },
    Error(String),
}

struct Case {
    name: String,
    dir: PathBuf,
    input: String,
    function_config: Option<String>,
    context: HostContext,
}

/// The host-provided part of the context, from `context.yaml`.
#[derive(Debug, Clone, Default)]
struct HostContext {
    settings: Vec<(String, String)>,
    plugin_env: Vec<(String, String)>,
    source_revision: Option<String>,
    json_lines: bool,
}

fn host_context(dir: &Path) -> HostContext {
    let Ok(text) = std::fs::read_to_string(dir.join("context.yaml")) else {
        return HostContext::default();
    };
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
    HostContext {
        settings: pairs("settings"),
        plugin_env: pairs("pluginEnv"),
        source_revision: v["sourceRevision"].as_str().map(String::from),
        json_lines: v["output"].as_str() == Some("json-lines"),
    }
}

fn cases(root: &Path) -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.yaml").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| Case {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            input: std::fs::read_to_string(dir.join("input.yaml")).unwrap(),
            function_config: std::fs::read_to_string(dir.join("function-config.yaml")).ok(),
            context: host_context(&dir),
            dir,
        })
        .collect()
}

fn native(input: &str, function_config: Option<&str>, host: &HostContext) -> Answer {
    let ctx = core::Context {
        framing: if function_config.is_some() {
            core::Framing::Stream
        } else {
            core::Framing::ResourceList
        },
        output: if host.json_lines {
            core::OutputFormat::JsonLines
        } else {
            core::OutputFormat::SameAsInput
        },
        function_config: function_config.map(str::to_string),
        settings: host.settings.clone(),
        source_revision: host.source_revision.clone(),
        plugin_env: host.plugin_env.clone(),
        operator_settings: Vec::new(),
    };
    match core::process(input, &ctx) {
        Ok(out) => Answer::Output {
            document: out.document,
            has_errors: out.has_errors,
            diagnostics: out.results.iter().map(ToString::to_string).collect(),
        },
        Err(e) => Answer::Error(e.to_string()),
    }
}

fn wasm(input: &str, function_config: Option<&str>, host: &HostContext) -> Answer {
    let setting = |(key, value): &(String, String)| krm::Setting {
        key: key.clone(),
        value: value.clone(),
    };
    let ctx = krm::Context {
        framing: if function_config.is_some() {
            krm::Framing::YamlStream
        } else {
            krm::Framing::ResourceList
        },
        output_format: if host.json_lines {
            krm::OutputFormat::JsonLines
        } else {
            krm::OutputFormat::SameAsInput
        },
        function_config: function_config.map(str::to_string),
        settings: host.settings.iter().map(setting).collect(),
        source_revision: host.source_revision.clone(),
        plugin_env: host.plugin_env.iter().map(setting).collect(),
        operator_settings: Vec::new(),
    };
    match support::guest()
        .call(input, &ctx, &Limits::default())
        .expect("the guest runs")
    {
        Ok(out) => Answer::Output {
            document: out.document,
            has_errors: out.has_errors,
            diagnostics: out.diagnostics.into_iter().map(|d| d.message).collect(),
        },
        Err(krm::Error::InvalidInput(m)) => Answer::Error(core::Error::InvalidInput(m).to_string()),
        Err(krm::Error::InvalidConfig(m)) => Answer::Error(core::Error::InvalidConfig(m).to_string()),
    }
}

/// The document without its trailing `results` (block or JSON form).
fn without_results(doc: &str) -> &str {
    doc.rfind("\nresults:")
        .or_else(|| doc.rfind(", \"results\": ["))
        .map_or(doc, |i| &doc[..i])
}

/// Compares `actual` with the golden file `path`, or rewrites it under BLESS.
fn golden(path: &Path, actual: &str, failures: &mut Vec<String>, case: &str) {
    if support::bless() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{case}: {} differs (BLESS=1 rewrites it)\n--- expected ---\n{expected}\n--- actual ---\n{actual}",
            path.file_name().unwrap().to_string_lossy()
        )),
        Err(_) => failures.push(format!(
            "{case}: {} is missing (BLESS=1 writes it)\n--- actual ---\n{actual}",
            path.file_name().unwrap().to_string_lossy()
        )),
    }
}

fn check_case(case: &Case, failures: &mut Vec<String>) {
    let name = &case.name;
    let config = case.function_config.as_deref();
    let native_answer = native(&case.input, config, &case.context);
    let wasm_answer = wasm(&case.input, config, &case.context);
    if native_answer != wasm_answer {
        failures.push(format!(
            "{name}: native and wasm differ\nnative: {native_answer:#?}\nwasm: {wasm_answer:#?}"
        ));
        return;
    }
    match &native_answer {
        Answer::Output { document, .. } => {
            golden(&case.dir.join("expected-output.yaml"), document, failures, name);
            if case.dir.join("expected-error.txt").exists() {
                failures.push(format!("{name}: has expected-error.txt but the function succeeded"));
            }
            if case.context.json_lines {
                // Argo CD's stream: every line one JSON object with a kind.
                for line in document.lines() {
                    match serde_json::from_str::<serde_json::Value>(line) {
                        Ok(v) if v.get("kind").is_some_and(serde_json::Value::is_string) => {}
                        other => failures.push(format!("{name}: not a JSON object with a kind: {line} ({other:?})")),
                    }
                }
                return;
            }
            // Idempotency: the output, fed back in, comes out unchanged. Only
            // the results may differ (a second run has nothing to change, so
            // it reports no changes).
            match native(document, config, &case.context) {
                Answer::Output { document: again, .. } if without_results(&again) == without_results(document) => {}
                other => failures.push(format!("{name}: not idempotent; second run gave {other:#?}")),
            }
            // The output must be YAML that an independent parser accepts.
            for doc in serde_yaml::Deserializer::from_str(document) {
                if let Err(e) = serde_yaml::Value::deserialize(doc) {
                    failures.push(format!("{name}: output is not valid YAML for serde_yaml: {e}"));
                }
            }
        }
        Answer::Error(message) => {
            golden(
                &case.dir.join("expected-error.txt"),
                &format!("{message}\n"),
                failures,
                name,
            );
            if case.dir.join("expected-output.yaml").exists() {
                failures.push(format!("{name}: has expected-output.yaml but the function failed"));
            }
        }
    }
}

#[test]
fn golden_fixtures_native_and_wasm_agree() {
    let root = support::repo().join("tests/fixtures");
    let cases = cases(&root);
    assert!(
        cases.len() >= 10,
        "expected the fixture corpus under {}",
        root.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        check_case(case, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Items the function does not change keep their exact bytes: the output is
/// the input with only the `results` section added.
#[test]
fn round_trip_keeps_every_byte_of_the_input() {
    let root = support::repo().join("tests/fixtures");
    for name in [
        "round-trip-fidelity",
        "kpt-fn-source",
        "kustomize-transformer-krm-promote",
    ] {
        let input = std::fs::read_to_string(root.join(name).join("input.yaml")).unwrap();
        let Answer::Output {
            document,
            has_errors: false,
            ..
        } = wasm(&input, None, &HostContext::default())
        else {
            panic!("{name}: expected a successful run");
        };
        let (before, results) = document.split_at(document.rfind("results:\n").expect("results are appended"));
        assert_eq!(before, input, "{name}: the input part changed");
        assert!(results.starts_with("results:\n- message:"), "{name}: {results}");
        // And an independent YAML parser sees identical items.
        let parse = |text: &str| -> serde_yaml::Value { serde_yaml::from_str(text).unwrap() };
        assert_eq!(parse(&document)["items"], parse(&input)["items"], "{name}");
    }
}

/// Native and wasm agree byte for byte on generated inputs too: mutations
/// of the fixtures (most of them invalid), in both framings.
#[test]
fn native_and_wasm_agree_on_mutated_inputs() {
    let root = support::repo().join("tests/fixtures");
    let seeds: Vec<String> = cases(&root).into_iter().map(|c| c.input).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    let tokens = [
        "- ",
        ": ",
        "\n",
        "  ",
        "&a ",
        "*a",
        "[",
        "{",
        "'",
        "kind: Product\n",
        "---\n",
        "#",
        "~",
    ];
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {environment: staging}\n";
    for i in 0..300 {
        let seed = &seeds[next(seeds.len())];
        let mut text = seed.clone();
        let at = text.floor_char_boundary(next(text.len() + 1));
        match next(3) {
            0 => text.insert_str(at, tokens[next(tokens.len())]),
            1 => text.truncate(at),
            _ => {
                let end = text.floor_char_boundary((at + next(50)).min(text.len()));
                text.replace_range(at..end, "");
            }
        }
        for function_config in [None, Some(config)] {
            let host = HostContext::default();
            let (n, w) = (
                native(&text, function_config, &host),
                wasm(&text, function_config, &host),
            );
            assert_eq!(n, w, "iteration {i}: native and wasm differ on\n{text}");
        }
    }
}
